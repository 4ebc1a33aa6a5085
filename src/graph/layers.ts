/**
 * The AutoencoderKL layers as ONNX subgraphs. Each traced op's output is recorded with the
 * diffusers module path of the layer that writes it, so the precision pass rounds exactly those
 * tensors and the instrumentation pass reports them by name.
 */
import type { Tensor32 } from '../architecture/vae-architecture.js';
import { type GraphBuilder, float, int, ints, str } from './builder.js';

export interface LayerContext {
  b: GraphBuilder;
  weights: ReadonlyMap<string, Tensor32>;
  groups: number;
  eps: number;
}

function param(ctx: LayerContext, key: string, dims?: number[]): string {
  const t = ctx.weights.get(key);
  if (!t) throw new Error(`internal: weight ${key} missing after validation`);
  return ctx.b.weight(key, dims ?? t.shape, t.data);
}

/** Conv with bias; `pads` as ONNX [top, left, bottom, right]. */
export function conv(ctx: LayerContext, path: string, x: string, opts: { stride?: number; pads?: number[]; linear?: boolean } = {}): string {
  const w = ctx.weights.get(`${path}.weight`)!;
  // attention projections are stored as Linear [C, C]; a 1x1 conv on NCHW computes the same thing
  const dims = opts.linear ? [w.shape[0], w.shape[1], 1, 1] : w.shape;
  const k = dims[2];
  const pad = (k - 1) / 2;
  const y = ctx.b.node('Conv', path, [x, param(ctx, `${path}.weight`, dims), param(ctx, `${path}.bias`)], {
    kernel_shape: ints([dims[2], dims[3]]),
    strides: ints([opts.stride ?? 1, opts.stride ?? 1]),
    pads: ints(opts.pads ?? [pad, pad, pad, pad]),
  });
  return ctx.b.trace(y, path);
}

/**
 * GroupNorm as Reshape -> InstanceNormalization -> Reshape -> Mul -> Add: statistics in float32,
 * only the affine output is a traced (rounded) tensor.
 */
export function groupNorm(ctx: LayerContext, path: string, x: string): string {
  const { b } = ctx;
  const gamma = ctx.weights.get(`${path}.weight`)!;
  const c = gamma.shape[0];
  const g = ctx.groups;
  const grouped = b.node('Reshape', `${path}/group`, [x, b.int64([0, g, -1])]);
  const normed = b.node('InstanceNormalization', `${path}/stats`, [grouped, b.float32(new Array(g).fill(1)), b.float32(new Array(g).fill(0))], {
    epsilon: float(ctx.eps),
  });
  const shape = b.node('Shape', `${path}/shape`, [x]);
  const back = b.node('Reshape', `${path}/ungroup`, [normed, shape]);
  const scaled = b.node('Mul', `${path}/scale`, [back, param(ctx, `${path}.weight`, [c, 1, 1])]);
  const y = b.node('Add', path, [scaled, param(ctx, `${path}.bias`, [c, 1, 1])]);
  return b.trace(y, path);
}

export function silu(ctx: LayerContext, path: string, x: string): string {
  const s = ctx.b.node('Sigmoid', `${path}/sigmoid`, [x]);
  return ctx.b.trace(ctx.b.node('Mul', path, [x, s]), path);
}

export function add(ctx: LayerContext, path: string, a: string, c: string): string {
  return ctx.b.trace(ctx.b.node('Add', path, [a, c]), path);
}

/** out = shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x)))))) */
export function resnet(ctx: LayerContext, p: string, x: string): string {
  let h = groupNorm(ctx, `${p}.norm1`, x);
  h = silu(ctx, `${p}.act1`, h);
  h = conv(ctx, `${p}.conv1`, h);
  h = groupNorm(ctx, `${p}.norm2`, h);
  h = silu(ctx, `${p}.act2`, h);
  h = conv(ctx, `${p}.conv2`, h);
  // diffusers applies the shortcut after conv2; the order matters for "first non-finite op"
  const shortcut = ctx.weights.has(`${p}.conv_shortcut.weight`) ? conv(ctx, `${p}.conv_shortcut`, x) : x;
  return add(ctx, `${p}.add`, shortcut, h);
}

const ATTENTION_CHUNKS = 4;

/** x + to_out(softmax(q k^T / sqrt(C)) v), one head of width C over H*W tokens. */
export function attention(ctx: LayerContext, p: string, x: string): string {
  const { b } = ctx;
  const c = ctx.weights.get(`${p}.to_q.weight`)!.shape[0];
  const hn = groupNorm(ctx, `${p}.group_norm`, x);
  const q = conv(ctx, `${p}.to_q`, hn, { linear: true });
  const k = conv(ctx, `${p}.to_k`, hn, { linear: true });
  const v = conv(ctx, `${p}.to_v`, hn, { linear: true });
  const flat = b.int64([0, c, -1]);
  const perm = { perm: ints([0, 2, 1]) };
  const qT = b.node('Transpose', `${p}/q_t`, [b.node('Reshape', `${p}/q_flat`, [q, flat])], perm);
  const qScaled = b.node('Mul', `${p}/q_scaled`, [qT, b.float32([1 / Math.sqrt(c)], [])]);
  const kFlat = b.node('Reshape', `${p}/k_flat`, [k, flat]);
  const vT = b.node('Transpose', `${p}/v_t`, [b.node('Reshape', `${p}/v_flat`, [v, flat])], perm);
  // the T x T score matrix is computed a quarter of the queries at a time: at 128x128 latents one
  // full matrix is 1 GiB in float32, and softmax needs a second; chunks cut the peak by ~1.5 GiB
  // chunk length ceil(T / 4), computed in the graph since T = H*W is dynamic; Slice clamps, so
  // small T gives empty trailing chunks rather than an error
  const tokens = b.node('Slice', `${p}/tokens`, [b.node('Shape', `${p}/q_shape`, [qScaled]), b.int64([1]), b.int64([2])]);
  const chunk = b.node('Div', `${p}/chunk_len`, [b.node('Add', `${p}/tokens_up`, [tokens, b.int64([ATTENTION_CHUNKS - 1])]), b.int64([ATTENTION_CHUNKS])]);
  const parts: string[] = [];
  for (let i = 0; i < ATTENTION_CHUNKS; i++) {
    const start = b.node('Mul', `${p}/chunk_start_${i}`, [chunk, b.int64([i])]);
    const end = b.node('Mul', `${p}/chunk_end_${i}`, [chunk, b.int64([i + 1])]);
    const q = b.node('Slice', `${p}/q_chunk_${i}`, [qScaled, start, end, b.int64([1])]);
    const scores = b.node('MatMul', `${p}/scores_${i}`, [q, kFlat]);
    const probs = b.node('Softmax', `${p}/softmax_${i}`, [scores], { axis: int(-1) });
    parts.push(b.node('MatMul', `${p}/core_${i}`, [probs, vT]));
  }
  const core = b.trace(b.node('Concat', `${p}.attn_core`, parts, { axis: int(1) }), `${p}.attn_core`);
  const coreT = b.node('Transpose', `${p}/core_t`, [core], perm);
  const core4 = b.node('Reshape', `${p}/core_4d`, [coreT, b.node('Shape', `${p}/shape`, [x])]);
  const out = conv(ctx, `${p}.to_out.0`, core4, { linear: true });
  return add(ctx, `${p}.add`, x, out);
}

/** Nearest 2x (asymmetric, floor: the same pixels as torch's nearest) then a 3x3 conv. */
export function upsample(ctx: LayerContext, p: string, x: string): string {
  const up = ctx.b.node('Resize', `${p}/nearest2x`, [x, '', ctx.b.float32([1, 1, 2, 2])], {
    mode: str('nearest'),
    coordinate_transformation_mode: str('asymmetric'),
    nearest_mode: str('floor'),
  });
  return conv(ctx, `${p}.conv`, up);
}

/** Zero pad right 1 and bottom 1, then a 3x3 stride-2 conv (the pad folded into Conv's pads). */
export function downsample(ctx: LayerContext, p: string, x: string): string {
  return conv(ctx, `${p}.conv`, x, { stride: 2, pads: [0, 0, 1, 1] });
}

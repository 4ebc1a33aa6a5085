/**
 * Independent float64 reference of the diffusers AutoencoderKL encoder and decoder (SDXL, SD 1.x/2.x,
 * and SD3 / FLUX.1 without quant convs and with any latent channel count).
 *
 * Tests use it to check the ONNX graphs that src/ builds, so it deliberately shares no code with
 * src/: every op is written out here with plain loops over Float64Array, in the order diffusers runs
 * them. Precision emulation follows ARCHITECTURE.md ("Half precision"): for 'fp16' / 'bf16' the weights and the input are
 * rounded to the type, every op is computed in float64 and the output of every traced op is rounded
 * to the type once (GroupNorm stats and the attention core's softmax stay in float64). Infinities and
 * NaNs are never special-cased: they flow through float64 arithmetic exactly as on a GPU.
 *
 * Layouts: images / feature maps are NCHW; attention token tensors are [N, T, C] with T = H * W.
 */

import { roundArray } from './round.js';
import { FP16_BORDER_BAND, type RefConfig, type RefPrecision, type RefTensor, type RefTrace, type RefWeights } from './types.js';

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

function tensor(shape: number[], data?: Float64Array): RefTensor {
  const size = shape.reduce((a, b) => a * b, 1);
  if (data && data.length !== size) {
    throw new Error(`tensor data length ${data.length} does not match shape [${shape.join(', ')}]`);
  }
  return { shape, data: data ?? new Float64Array(size) };
}

function dims4(x: RefTensor, what: string): [number, number, number, number] {
  if (x.shape.length !== 4) throw new Error(`${what}: expected a 4-d NCHW tensor, got [${x.shape.join(', ')}]`);
  return [x.shape[0], x.shape[1], x.shape[2], x.shape[3]];
}

/** Largest finite |x| (0 if none), NaN count and Inf count of a tensor. */
/** Counts the values whose |x| lies within FP16_BORDER_BAND (relative) of fp16's overflow threshold. */
function borderlineOf(data: Float64Array): number {
  const lo = 65520 * (1 - FP16_BORDER_BAND);
  const hi = 65520 * (1 + FP16_BORDER_BAND);
  let n = 0;
  for (let i = 0; i < data.length; i++) {
    const a = Math.abs(data[i]);
    if (a >= lo && a <= hi) n++;
  }
  return n;
}

export function traceOf(name: string, data: Float64Array, borderline = 0): RefTrace {
  let maxAbs = 0;
  let nan = 0;
  let inf = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v !== v) nan++;
    else if (v === Infinity || v === -Infinity) inf++;
    else {
      const a = v < 0 ? -v : v;
      if (a > maxAbs) maxAbs = a;
    }
  }
  return { name, maxAbs, nan, inf, borderline };
}

// ---------------------------------------------------------------------------------------------
// Ops (pure float64, no rounding: rounding is the caller's business, see Ctx.emit)
// ---------------------------------------------------------------------------------------------

/** Zero padding in pixels on each side of the spatial plane. */
export interface Pad {
  top: number;
  left: number;
  bottom: number;
  right: number;
}

const PAD0: Pad = { top: 0, left: 0, bottom: 0, right: 0 };
const PAD1: Pad = { top: 1, left: 1, bottom: 1, right: 1 };
/** The encoder downsampler pads only right and bottom (diffusers: F.pad(x, (0, 1, 0, 1))). */
const PAD_DOWN: Pad = { top: 0, left: 0, bottom: 1, right: 1 };

/**
 * 2-d convolution (cross-correlation, as PyTorch), weight [OC, IC, KH, KW], optional bias [OC].
 *
 * Written as im2col + dot products: for a chunk of output pixels, gather each pixel's receptive
 * field into a row of `cols` (zeros where it hits padding), laid out like a weight row
 * (ic, ky, kx), so that every output value is one long contiguous dot product (dotRows). This ran
 * about 3x faster than per-tap shifted-row accumulation on 4x4..32x32 planes, where rows are too
 * short to amortise loop overhead. Chunking the pixels bounds the scratch memory (8 MB). Summation order differs from a direct convolution
 * only by float64 rounding, far below anything the tests compare.
 */
export function conv2d(x: RefTensor, weight: RefTensor, bias: RefTensor | undefined, stride: number, pad: Pad): RefTensor {
  const [N, IC, H, W] = dims4(x, 'conv2d input');
  const [OC, WIC, KH, KW] = dims4(weight, 'conv2d weight');
  if (WIC !== IC) throw new Error(`conv2d: weight expects ${WIC} input channels, input has ${IC}`);
  if (bias && bias.data.length !== OC) throw new Error(`conv2d: bias has ${bias.data.length} values for ${OC} channels`);
  const Ho = Math.floor((H + pad.top + pad.bottom - KH) / stride) + 1;
  const Wo = Math.floor((W + pad.left + pad.right - KW) / stride) + 1;
  if (Ho <= 0 || Wo <= 0) throw new Error(`conv2d: input ${H}x${W} too small for a ${KH}x${KW} kernel`);
  const out = tensor([N, OC, Ho, Wo]);
  const xd = x.data;
  const wd = weight.data;
  const od = out.data;
  const K = IC * KH * KW;
  const P = Ho * Wo;
  const inPlane = H * W;
  const chunk = Math.max(2, Math.min(P, Math.floor(1_000_000 / K))); // pixels per im2col chunk
  const cols = new Float64Array(chunk * K);

  for (let n = 0; n < N; n++) {
    const xBase = n * IC * inPlane;
    const oBase = n * OC * P;
    for (let p0 = 0; p0 < P; p0 += chunk) {
      const pn = Math.min(chunk, P - p0);
      im2colRows(xd, xBase, IC, H, W, KH, KW, stride, pad, Wo, p0, pn, cols);
      dotRows(wd, bias, cols, od, OC, K, pn, oBase + p0, P);
    }
  }
  return out;
}

/**
 * od[oBase + oc * P + p] = bias[oc] + dot(W[oc, :], cols[p, :]) for p < pn, all oc.
 * Four output channels x two pixels per step (eight accumulators, six loads per eight multiplies):
 * measured fastest in V8 among 2x2, 4x2 and 4x4 blockings. Leftover channels go one at a time; an
 * odd last pixel is computed twice and stored once.
 */
function dotRows(
  wd: Float64Array,
  bias: RefTensor | undefined,
  cols: Float64Array,
  od: Float64Array,
  OC: number,
  K: number,
  pn: number,
  oBase: number,
  P: number,
): void {
  let oc = 0;
  for (; oc + 4 <= OC; oc += 4) {
    const w0 = oc * K;
    const w1 = w0 + K;
    const w2 = w1 + K;
    const w3 = w2 + K;
    const o = oBase + oc * P;
    const b0 = bias ? bias.data[oc] : 0;
    const b1 = bias ? bias.data[oc + 1] : 0;
    const b2 = bias ? bias.data[oc + 2] : 0;
    const b3 = bias ? bias.data[oc + 3] : 0;
    for (let p = 0; p < pn; p += 2) {
      const pair = p + 1 < pn;
      const c0 = p * K;
      const c1 = pair ? c0 + K : c0;
      let s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
      for (let k = 0; k < K; k++) {
        const v0 = cols[c0 + k];
        const v1 = cols[c1 + k];
        let a = wd[w0 + k];
        s00 += a * v0;
        s01 += a * v1;
        a = wd[w1 + k];
        s10 += a * v0;
        s11 += a * v1;
        a = wd[w2 + k];
        s20 += a * v0;
        s21 += a * v1;
        a = wd[w3 + k];
        s30 += a * v0;
        s31 += a * v1;
      }
      od[o + p] = b0 + s00;
      od[o + P + p] = b1 + s10;
      od[o + 2 * P + p] = b2 + s20;
      od[o + 3 * P + p] = b3 + s30;
      if (pair) {
        od[o + p + 1] = b0 + s01;
        od[o + P + p + 1] = b1 + s11;
        od[o + 2 * P + p + 1] = b2 + s21;
        od[o + 3 * P + p + 1] = b3 + s31;
      }
    }
  }
  for (; oc < OC; oc++) {
    const w0 = oc * K;
    const o = oBase + oc * P;
    const b = bias ? bias.data[oc] : 0;
    for (let p = 0; p < pn; p++) {
      const c0 = p * K;
      let s = 0;
      for (let k = 0; k < K; k++) s += wd[w0 + k] * cols[c0 + k];
      od[o + p] = b + s;
    }
  }
}

/** Fills rows 0..pn-1 of `cols` with the receptive fields of output pixels p0..p0+pn-1. */
function im2colRows(
  xd: Float64Array,
  xBase: number,
  IC: number,
  H: number,
  W: number,
  KH: number,
  KW: number,
  stride: number,
  pad: Pad,
  Wo: number,
  p0: number,
  pn: number,
  cols: Float64Array,
): void {
  const K = IC * KH * KW;
  const inPlane = H * W;
  for (let p = 0; p < pn; p++) {
    const oy = Math.floor((p0 + p) / Wo);
    const ox = p0 + p - oy * Wo;
    const y0 = oy * stride - pad.top;
    const x0 = ox * stride - pad.left;
    let r = p * K;
    for (let ic = 0; ic < IC; ic++) {
      const base = xBase + ic * inPlane;
      for (let ky = 0; ky < KH; ky++) {
        const iy = y0 + ky;
        const rowOk = iy >= 0 && iy < H;
        const row = base + iy * W;
        for (let kx = 0; kx < KW; kx++) {
          const ix = x0 + kx;
          cols[r++] = rowOk && ix >= 0 && ix < W ? xd[row + ix] : 0;
        }
      }
    }
  }
}

/**
 * GroupNorm over NCHW: mean and biased variance of each group's channels x H x W (two-pass, in
 * float64), then per-channel affine. A group holding Inf or NaN yields NaN, as the arithmetic does.
 */
export function groupNorm(x: RefTensor, gamma: RefTensor, beta: RefTensor, groups: number, eps: number): RefTensor {
  const [N, C, H, W] = dims4(x, 'groupNorm input');
  if (C % groups !== 0) throw new Error(`groupNorm: ${C} channels not divisible by ${groups} groups`);
  if (gamma.data.length !== C || beta.data.length !== C) throw new Error(`groupNorm: affine params do not have ${C} values`);
  const out = tensor([N, C, H, W]);
  const xd = x.data;
  const od = out.data;
  const cpg = C / groups;
  const plane = H * W;
  const count = cpg * plane;
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < groups; g++) {
      const start = (n * C + g * cpg) * plane;
      const end = start + count;
      let sum = 0;
      for (let i = start; i < end; i++) sum += xd[i];
      const mean = sum / count;
      let sq = 0;
      for (let i = start; i < end; i++) {
        const d = xd[i] - mean;
        sq += d * d;
      }
      const inv = 1 / Math.sqrt(sq / count + eps);
      for (let c = 0; c < cpg; c++) {
        const ch = g * cpg + c;
        const ga = gamma.data[ch];
        const be = beta.data[ch];
        const cs = start + c * plane;
        for (let i = cs; i < cs + plane; i++) od[i] = (xd[i] - mean) * inv * ga + be;
      }
    }
  }
  return out;
}

/** SiLU as the graph computes it: x * sigmoid(x) (so -Inf gives -Inf * 0 = NaN, like Sigmoid + Mul). */
export function silu(x: RefTensor): RefTensor {
  const out = tensor(x.shape.slice());
  const xd = x.data;
  const od = out.data;
  for (let i = 0; i < xd.length; i++) {
    const v = xd[i];
    od[i] = v * (1 / (1 + Math.exp(-v)));
  }
  return out;
}

/** Elementwise a + b (same shape). */
export function add(a: RefTensor, b: RefTensor): RefTensor {
  if (a.data.length !== b.data.length || a.shape.join() !== b.shape.join()) {
    throw new Error(`add: shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}] differ`);
  }
  const out = tensor(a.shape.slice());
  for (let i = 0; i < out.data.length; i++) out.data[i] = a.data[i] + b.data[i];
  return out;
}

/** Nearest-neighbour 2x upsampling of NCHW (a pure copy: never rounded, never traced). */
export function upsampleNearest2x(x: RefTensor): RefTensor {
  const [N, C, H, W] = dims4(x, 'upsample input');
  const W2 = 2 * W;
  const out = tensor([N, C, 2 * H, W2]);
  const xd = x.data;
  const od = out.data;
  for (let p = 0; p < N * C; p++) {
    const iBase = p * H * W;
    const oBase = p * 4 * H * W;
    for (let y = 0; y < H; y++) {
      const o0 = oBase + 2 * y * W2;
      const o1 = o0 + W2;
      const iRow = iBase + y * W;
      for (let xx = 0; xx < W; xx++) {
        const v = xd[iRow + xx];
        od[o0 + 2 * xx] = v;
        od[o0 + 2 * xx + 1] = v;
        od[o1 + 2 * xx] = v;
        od[o1 + 2 * xx + 1] = v;
      }
    }
  }
  return out;
}

/** NCHW -> tokens [N, H*W, C]. */
export function nchwToTokens(x: RefTensor): RefTensor {
  const [N, C, H, W] = dims4(x, 'nchwToTokens input');
  const T = H * W;
  const out = tensor([N, T, C]);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const iBase = (n * C + c) * T;
      for (let t = 0; t < T; t++) out.data[(n * T + t) * C + c] = x.data[iBase + t];
    }
  }
  return out;
}

/** Tokens [N, H*W, C] -> NCHW [N, C, H, W]. */
export function tokensToNchw(x: RefTensor, H: number, W: number): RefTensor {
  const [N, T, C] = x.shape;
  if (T !== H * W) throw new Error(`tokensToNchw: ${T} tokens do not make a ${H}x${W} plane`);
  const out = tensor([N, C, H, W]);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const oBase = (n * C + c) * T;
      for (let t = 0; t < T; t++) out.data[oBase + t] = x.data[(n * T + t) * C + c];
    }
  }
  return out;
}

/** PyTorch Linear over tokens: y[n, t, o] = sum_c x[n, t, c] * W[o, c] + b[o]; W is [OUT, IN]. */
export function linear(x: RefTensor, weight: RefTensor, bias: RefTensor | undefined): RefTensor {
  const [N, T, IN] = x.shape;
  const OUT = weight.shape[0];
  // Accept [OUT, IN] and the 1x1-conv form [OUT, IN, 1, 1]: the data layout is the same.
  if (weight.data.length !== OUT * IN) throw new Error(`linear: weight [${weight.shape.join(', ')}] does not take ${IN} inputs`);
  if (bias && bias.data.length !== OUT) throw new Error(`linear: bias has ${bias.data.length} values for ${OUT} outputs`);
  const out = tensor([N, T, OUT]);
  const xd = x.data;
  const wd = weight.data;
  const od = out.data;
  for (let r = 0; r < N * T; r++) {
    const xRow = r * IN;
    const oRow = r * OUT;
    for (let o = 0; o < OUT; o++) {
      const wRow = o * IN;
      let s = bias ? bias.data[o] : 0;
      for (let c = 0; c < IN; c++) s += xd[xRow + c] * wd[wRow + c];
      od[oRow + o] = s;
    }
  }
  return out;
}

/**
 * Single-head attention core on tokens [N, T, C]: softmax(q k^T / sqrt(C)) v, all in float64.
 * The softmax subtracts the row maximum (as every runtime does), so an Inf score gives NaN.
 */
export function attentionCore(q: RefTensor, k: RefTensor, v: RefTensor): RefTensor {
  const [N, T, C] = q.shape;
  if (k.shape.join() !== q.shape.join() || v.shape.join() !== q.shape.join()) {
    throw new Error('attentionCore: q, k and v must have the same shape');
  }
  const scale = 1 / Math.sqrt(C);
  const out = tensor([N, T, C]);
  const p = new Float64Array(T);
  const qd = q.data;
  const kd = k.data;
  const vd = v.data;
  const od = out.data;
  for (let n = 0; n < N; n++) {
    const base = n * T * C;
    for (let i = 0; i < T; i++) {
      const qRow = base + i * C;
      let max = -Infinity;
      for (let j = 0; j < T; j++) {
        const kRow = base + j * C;
        let s = 0;
        for (let c = 0; c < C; c++) s += qd[qRow + c] * kd[kRow + c];
        s *= scale;
        p[j] = s;
        // NaN scores must poison the row: a plain `>` would skip them, Math.max keeps them.
        max = Math.max(max, s);
      }
      let sum = 0;
      for (let j = 0; j < T; j++) {
        const e = Math.exp(p[j] - max);
        p[j] = e;
        sum += e;
      }
      const oRow = base + i * C;
      for (let c = 0; c < C; c++) od[oRow + c] = 0;
      for (let j = 0; j < T; j++) {
        const pj = p[j] / sum;
        const vRow = base + j * C;
        for (let c = 0; c < C; c++) od[oRow + c] += pj * vd[vRow + c];
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Execution context: weights (rounded on first use), rounding of op outputs, trace
// ---------------------------------------------------------------------------------------------

class Ctx {
  readonly trace: RefTrace[] = [];
  private readonly rounded = new Map<string, RefTensor>();

  constructor(
    private readonly weights: RefWeights,
    readonly cfg: RefConfig,
    readonly precision: RefPrecision,
  ) {}

  has(name: string): boolean {
    return this.weights.has(name);
  }

  /** A weight, rounded to the precision on a private copy (the caller's map is never mutated). */
  w(name: string): RefTensor {
    const cached = this.rounded.get(name);
    if (cached) return cached;
    const t = this.weights.get(name);
    if (!t) throw new Error(`reference VAE: missing weight ${name}`);
    const r = this.precision === 'fp32' ? t : { shape: t.shape.slice(), data: roundArray(new Float64Array(t.data), this.precision) };
    this.rounded.set(name, r);
    return r;
  }

  /** A copy of an input tensor, rounded to the precision. */
  input(t: RefTensor): RefTensor {
    return { shape: t.shape.slice(), data: roundArray(new Float64Array(t.data), this.precision) };
  }

  /** Rounds a freshly computed op output in place (the Cast pair of the graph) and traces it. */
  emit(name: string, t: RefTensor): RefTensor {
    const borderline = this.precision === 'fp16' ? borderlineOf(t.data) : 0;
    roundArray(t.data, this.precision);
    this.trace.push(traceOf(name, t.data, borderline));
    return t;
  }

  conv(name: string, x: RefTensor, stride = 1, pad?: Pad): RefTensor {
    const weight = this.w(`${name}.weight`);
    const k = weight.shape[2];
    const p = pad ?? (k === 1 ? PAD0 : PAD1);
    return this.emit(name, conv2d(x, weight, this.w(`${name}.bias`), stride, p));
  }

  norm(name: string, x: RefTensor): RefTensor {
    return this.emit(name, groupNorm(x, this.w(`${name}.weight`), this.w(`${name}.bias`), this.cfg.groups, this.cfg.eps));
  }

  act(name: string, x: RefTensor): RefTensor {
    return this.emit(name, silu(x));
  }
}

// ---------------------------------------------------------------------------------------------
// Blocks
// ---------------------------------------------------------------------------------------------

function expectChannels(x: RefTensor, c: number, where: string): void {
  if (x.shape[1] !== c) throw new Error(`reference VAE: ${where} has ${x.shape[1]} channels, config says ${c}`);
}

/** diffusers ResnetBlock2D: norm1, act, conv1, norm2, act, conv2, [conv_shortcut], add. */
function resnet(ctx: Ctx, p: string, x: RefTensor): RefTensor {
  let h = ctx.norm(`${p}.norm1`, x);
  h = ctx.act(`${p}.act1`, h);
  h = ctx.conv(`${p}.conv1`, h);
  h = ctx.norm(`${p}.norm2`, h);
  h = ctx.act(`${p}.act2`, h);
  h = ctx.conv(`${p}.conv2`, h);
  let skip = x;
  if (ctx.has(`${p}.conv_shortcut.weight`)) skip = ctx.conv(`${p}.conv_shortcut`, x);
  else if (x.shape[1] !== h.shape[1]) throw new Error(`reference VAE: ${p} changes channels but has no conv_shortcut`);
  return ctx.emit(`${p}.add`, add(skip, h));
}

/** diffusers Attention with one head of width C over the H*W tokens, residual added. */
function attention(ctx: Ctx, a: string, x: RefTensor): RefTensor {
  const [, , H, W] = dims4(x, a);
  const hn = ctx.norm(`${a}.group_norm`, x);
  const tokens = nchwToTokens(hn); // a relayout, not a new value: not traced
  const q = ctx.emit(`${a}.to_q`, linear(tokens, ctx.w(`${a}.to_q.weight`), ctx.w(`${a}.to_q.bias`)));
  const k = ctx.emit(`${a}.to_k`, linear(tokens, ctx.w(`${a}.to_k.weight`), ctx.w(`${a}.to_k.bias`)));
  const v = ctx.emit(`${a}.to_v`, linear(tokens, ctx.w(`${a}.to_v.weight`), ctx.w(`${a}.to_v.bias`)));
  const core = ctx.emit(`${a}.attn_core`, attentionCore(q, k, v));
  const o = ctx.emit(`${a}.to_out.0`, linear(core, ctx.w(`${a}.to_out.0.weight`), ctx.w(`${a}.to_out.0.bias`)));
  return ctx.emit(`${a}.add`, add(x, tokensToNchw(o, H, W)));
}

function midBlock(ctx: Ctx, m: string, x: RefTensor): RefTensor {
  let h = resnet(ctx, `${m}.resnets.0`, x);
  if (ctx.cfg.midAttention !== false) h = attention(ctx, `${m}.attentions.0`, h);
  return resnet(ctx, `${m}.resnets.1`, h);
}

function validate(cfg: RefConfig, x: RefTensor, channels: number, what: string): void {
  const [, C] = dims4(x, what);
  if (C !== channels) throw new Error(`${what}: expected ${channels} channels, got ${C}`);
  if (cfg.blockOutChannels.length < 1) throw new Error('reference VAE: blockOutChannels is empty');
}

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/**
 * Raw latents from diffusion-space ones, as diffusers pipelines compute them before decoding:
 * z / scalingFactor + shiftFactor (shift 0 for SD 1.x/2.x and SDXL).
 */
export function scaledToRaw(z: RefTensor, scalingFactor: number, shiftFactor = 0): RefTensor {
  return { shape: z.shape.slice(), data: z.data.map((v) => v / scalingFactor + shiftFactor) };
}

/**
 * Decodes RAW (unscaled) latents z [N, latentChannels, h, w] with post_quant_conv (when cfg has quant
 * convs) then the decoder.
 * Output [N, outChannels, h * 2^(n-1), w * 2^(n-1)] with n = blockOutChannels.length.
 */
export function referenceDecode(
  w: RefWeights,
  cfg: RefConfig,
  z: RefTensor,
  precision: RefPrecision = 'fp32',
): { output: RefTensor; trace: RefTrace[] } {
  validate(cfg, z, cfg.latentChannels, 'referenceDecode latents');
  const ctx = new Ctx(w, cfg, precision);
  const rev = cfg.blockOutChannels.slice().reverse();
  const n = rev.length;

  let h = ctx.input(z);
  if (cfg.quantConv !== false) h = ctx.conv('post_quant_conv', h);
  h = ctx.conv('decoder.conv_in', h);
  expectChannels(h, rev[0], 'decoder.conv_in');
  h = midBlock(ctx, 'decoder.mid_block', h);
  for (let k = 0; k < n; k++) {
    const up = `decoder.up_blocks.${k}`;
    for (let j = 0; j <= cfg.layersPerBlock; j++) h = resnet(ctx, `${up}.resnets.${j}`, h);
    expectChannels(h, rev[k], up);
    if (k < n - 1) h = ctx.conv(`${up}.upsamplers.0.conv`, upsampleNearest2x(h));
  }
  h = ctx.norm('decoder.conv_norm_out', h);
  h = ctx.act('decoder.conv_act', h);
  h = ctx.conv('decoder.conv_out', h);
  expectChannels(h, cfg.outChannels, 'decoder.conv_out');
  return { output: h, trace: ctx.trace };
}

/**
 * Encodes an image x [N, inChannels, H, W] in [-1, 1] with the encoder then quant_conv (when cfg has
 * quant convs). mean / logvar are the first / last latentChannels channels of the last conv's output.
 */
export function referenceEncode(
  w: RefWeights,
  cfg: RefConfig,
  x: RefTensor,
  precision: RefPrecision = 'fp32',
): { mean: RefTensor; logvar: RefTensor; trace: RefTrace[] } {
  validate(cfg, x, cfg.inChannels, 'referenceEncode image');
  const ctx = new Ctx(w, cfg, precision);
  const boc = cfg.blockOutChannels;
  const n = boc.length;

  let h = ctx.input(x);
  h = ctx.conv('encoder.conv_in', h);
  expectChannels(h, boc[0], 'encoder.conv_in');
  for (let i = 0; i < n; i++) {
    const down = `encoder.down_blocks.${i}`;
    for (let j = 0; j < cfg.layersPerBlock; j++) h = resnet(ctx, `${down}.resnets.${j}`, h);
    expectChannels(h, boc[i], down);
    // The asymmetric zero pad is a copy (not traced); the conv pads nothing else.
    if (i < n - 1) h = ctx.conv(`${down}.downsamplers.0.conv`, h, 2, PAD_DOWN);
  }
  h = midBlock(ctx, 'encoder.mid_block', h);
  h = ctx.norm('encoder.conv_norm_out', h);
  h = ctx.act('encoder.conv_act', h);
  h = ctx.conv('encoder.conv_out', h);
  if (cfg.quantConv !== false) h = ctx.conv('quant_conv', h);
  const L = cfg.latentChannels;
  expectChannels(h, 2 * L, 'encoder moments');
  return { mean: sliceChannels(h, 0, L), logvar: sliceChannels(h, L, 2 * L), trace: ctx.trace };
}

/** Channels [from, to) of an NCHW tensor, copied. */
function sliceChannels(x: RefTensor, from: number, to: number): RefTensor {
  const [N, C, H, W] = dims4(x, 'sliceChannels');
  const plane = H * W;
  const out = tensor([N, to - from, H, W]);
  for (let n = 0; n < N; n++) {
    out.data.set(x.data.subarray((n * C + from) * plane, (n * C + to) * plane), n * (to - from) * plane);
  }
  return out;
}

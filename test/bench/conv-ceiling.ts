/**
 * The practical ceiling a decode is measured against: the speed of single 3x3 convolutions of the
 * decoder's own shapes (one per resolution: the widest level's width at the latent size, then each up
 * level's width at its resolution; SDXL at 64x64 latents: 512->512 at 64² and 128², 256->256 at
 * 256², 128->128 at 512²), in each layout onnxruntime offers, with the decode's session options.
 *
 * The decode's ceiling is FLOP-weighted: each resolution's convolutions (and, at the latent size, the
 * attention) run at most at the best single-conv speed of that resolution, so the least time the
 * decode's FLOPs can take is sum(flops_r / speed_r), and the ceiling is total FLOPs over that time.
 */
import { GraphBuilder, ints } from '../../src/graph/builder.js';
import { Session, type SessionOptions } from '../../src/runtime/session.js';
import { randomNormal } from '../../src/tensors/random.js';
import type { VaeArchitecture } from '../../src/architecture/vae-architecture.js';

/** onnxruntime's layouts for a CPU conv: 'extended' keeps NCHW; 'all' adds the NCHWc blocked layout pass. */
export const LAYOUTS = { NCHW: 'extended', NCHWc: 'all' } as const;
export type Layout = keyof typeof LAYOUTS;

export interface ConvShape {
  channels: number;
  size: number;
}

/** The decoder's resolutions, from the latent size up, with the width of the level that works there. */
export function ceilingShapes(arch: VaeArchitecture, latent: number): ConvShape[] {
  const rev = [...arch.blockOutChannels].reverse();
  return rev.map((c, k) => ({ channels: c, size: latent * 2 ** k }));
}

/**
 * FLOPs of one decode (batch 1, square latent) per resolution, index k = latent * 2^k; the upsampler
 * conv of level k counts at the resolution it runs at (k + 1). Sums to decoderFlops().
 */
export function decoderFlopsByResolution(arch: VaeArchitecture, latent: number): number[] {
  const rev = [...arch.blockOutChannels].reverse();
  const n = rev.length;
  const flops = new Array<number>(n).fill(0);
  const conv = (k: number, cin: number, cout: number, ks: number) => {
    const s = latent * 2 ** k;
    flops[k] += 2 * cin * cout * ks * ks * s * s;
  };
  const resnet = (k: number, cin: number, cout: number) => {
    conv(k, cin, cout, 3);
    conv(k, cout, cout, 3);
    if (cin !== cout) conv(k, cin, cout, 1);
  };
  const L = arch.latentChannels;
  conv(0, L, L, 1);
  conv(0, L, rev[0], 3);
  resnet(0, rev[0], rev[0]);
  resnet(0, rev[0], rev[0]);
  if (arch.midAttention) {
    const t = latent * latent;
    flops[0] += 2 * (4 * rev[0] * rev[0] * t + 2 * t * t * rev[0]);
  }
  for (let k = 0; k < n; k++) {
    for (let j = 0; j <= arch.layersPerBlock; j++) resnet(k, j === 0 ? rev[Math.max(0, k - 1)] : rev[k], rev[k]);
    if (k < n - 1) conv(k + 1, rev[k], rev[k], 3);
  }
  conv(n - 1, rev[n - 1], arch.outChannels, 3);
  return flops;
}

export interface ConvTiming {
  shape: ConvShape;
  layout: Layout;
  flops: number;
  /** best wall seconds of the timed runs */
  bestS: number;
  /** CPU seconds (all threads) of the run with the least CPU time */
  bestCpuS: number;
}

const cpuS = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** A session holding one 3x3 pads-1 conv C->C, built with `opts` at `layout`. */
export async function convSession(shape: ConvShape, layout: Layout, opts: SessionOptions): Promise<{ session: Session; input: { shape: number[]; data: Float32Array } }> {
  const { channels: c, size } = shape;
  const b = new GraphBuilder('conv_ceiling');
  const x = b.input('x', [1, c, size, size]);
  const w = randomNormal(7, c * c * 9);
  for (let i = 0; i < w.length; i++) w[i] /= Math.sqrt(c * 9);
  const y = b.node('Conv', 'conv', [x, b.weight('conv.weight', [c, c, 3, 3], w), b.weight('conv.bias', [c], new Float32Array(c))], {
    kernel_shape: ints([3, 3]),
    pads: ints([1, 1, 1, 1]),
  });
  b.output(y, [1, c, size, size]);
  const session = await Session.create(b.build(), { ...opts, optimization: LAYOUTS[layout] });
  return { session, input: { shape: [1, c, size, size], data: randomNormal(3, c * size * size) } };
}

/** Times one conv shape in one layout: a warm-up run, then `runs` timed runs. */
export async function timeConv(shape: ConvShape, layout: Layout, opts: SessionOptions, runs = 3): Promise<ConvTiming> {
  const { session, input } = await convSession(shape, layout, opts);
  try {
    await session.run({ x: input });
    let bestS = Infinity;
    let bestCpuS = Infinity;
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      const c = cpuS();
      await session.run({ x: input });
      bestS = Math.min(bestS, (performance.now() - t) / 1000);
      bestCpuS = Math.min(bestCpuS, cpuS() - c);
    }
    const { channels: ch, size } = shape;
    return { shape, layout, flops: 2 * ch * ch * 9 * size * size, bestS, bestCpuS };
  } finally {
    await session.release();
  }
}

/** Keeps, per shape and layout, the best of several measurement rounds. */
export function bestOf(timings: ConvTiming[]): ConvTiming[] {
  const best = new Map<string, ConvTiming>();
  for (const t of timings) {
    const key = `${t.shape.channels}@${t.shape.size}/${t.layout}`;
    const b = best.get(key);
    best.set(key, b ? { ...b, bestS: Math.min(b.bestS, t.bestS), bestCpuS: Math.min(b.bestCpuS, t.bestCpuS) } : t);
  }
  return [...best.values()];
}

/**
 * The FLOP-weighted ceiling (FLOP/s) for a decode with `flopsByRes`, from the best layout of each
 * resolution; `perCpu` uses FLOP per CPU-second instead (less disturbed by other load).
 */
export function weightedCeiling(flopsByRes: number[], shapes: ConvShape[], timings: ConvTiming[], perCpu = false): number {
  let total = 0;
  let time = 0;
  flopsByRes.forEach((f, k) => {
    const rates = timings.filter((t) => t.shape.size === shapes[k].size && t.shape.channels === shapes[k].channels).map((t) => t.flops / (perCpu ? t.bestCpuS : t.bestS));
    if (!rates.length) throw new Error(`no ceiling timing for ${shapes[k].channels}@${shapes[k].size}`);
    total += f;
    time += f / Math.max(...rates);
  });
  return total / time;
}

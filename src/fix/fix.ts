/**
 * `vaecheck fix`: measure activations on calibration latents (fp32, instrumented), plan power-of-two
 * rescalings that keep every rescalable tensor at or below 65504 / headroom, apply them, and verify
 * on held-out latents: fp32 decode unchanged (max abs difference), fp16 decode finite (PSNR against
 * the original's fp32 decode), and the smallest headroom left. Pass or fail is judge()'s
 * (metrics/verdict.ts) with FIX_THRESHOLDS, plus the overflows the plan could not reach.
 */
import { MAX_FINITE } from '../dtype.js';
import { countNonFinite } from '../metrics/nonfinite.js';
import { maxAbsError } from '../metrics/errors.js';
import { itemMetrics } from '../metrics/cell-metrics.js';
import { type Thresholds, type Verdict, judge } from '../metrics/verdict.js';
import type { LayerStats } from '../precision/instrument.js';
import { VaeRunner } from '../vae-runner.js';
import type { LoadedVae } from '../weights/load.js';
import type { FixPlan, Part } from './plan.js';
import type { OnProgress } from '../progress.js';

/**
 * What a fixed VAE must meet on the held-out latents. Its fp32 output against the original's:
 * powers of two are exact, so only GroupNorm's epsilon can move it, and only by very little
 * (max |difference| <= 1e-5). Its fp16 output: no NaN or Inf at all.
 */
export const FIX_THRESHOLDS: { fp32: Thresholds; fp16: Thresholds } = {
  fp32: { maxNonFinite: 0, maxAbsError: 1e-5 },
  fp16: { maxNonFinite: 0 },
};
import type { Tensor } from '../tensor.js';

/** Per-op largest |x| over several inputs, at fp32. */
export async function measure(vae: LoadedVae, part: Part, inputs: readonly Tensor[], onProgress?: OnProgress): Promise<Map<string, LayerStats>> {
  const task = `measuring ${part}`;
  onProgress?.({ task, stage: 'building graph', done: 0, total: inputs.length });
  const runner = await VaeRunner.create(vae, part, { precision: 'fp32', instrument: true });
  const acc = new Map<string, LayerStats>();
  try {
    for (const [i, x] of inputs.entries()) {
      onProgress?.({ task, stage: 'fp32, instrumented', done: i, total: inputs.length });
      for (const l of (await runner.run(x)).layers!) {
        const a = acc.get(l.name);
        acc.set(l.name, a ? { name: l.name, maxAbs: Math.max(a.maxAbs, l.maxAbs), nan: a.nan + l.nan, inf: a.inf + l.inf } : { ...l });
      }
    }
  } finally {
    await runner.release();
  }
  return acc;
}

/**
 * The ops whose largest |x| the plan could not bring down and that overflow fp16 (beyond 65504):
 * the fix FAILS on these. (Unreachable ops between the target and 65504 only lose headroom.)
 */
export function overflowsOutOfReach(plan: FixPlan, stats: ReadonlyMap<string, LayerStats>): { op: string; maxAbs: number }[] {
  return plan.unreachable.map((op) => ({ op, maxAbs: stats.get(op)!.maxAbs })).filter((u) => u.maxAbs > MAX_FINITE.fp16);
}

export interface Verification {
  part: Part;
  /** fp32 output of the fixed VAE against the original's */
  fp32MaxAbsDiff: number;
  /** judge() of the fixed VAE's fp32 output against the original's, and of its fp16 output (FIX_THRESHOLDS) */
  fp32Verdict: Verdict;
  fp16Verdict: Verdict;
  /** fp16 output of the fixed VAE */
  fp16NonFinite: number;
  fp16Psnr: number;
  /** the original's fp16 output, for contrast */
  originalFp16NonFinite: number;
  firstNonFinite: string | null;
  /** the op with the least headroom in the fixed VAE's fp16 run, and that headroom (65504 / max |x|) */
  tightest: { name: string; maxAbs: number; headroom: number };
}

async function run(vae: LoadedVae, part: Part, precision: 'fp32' | 'fp16', inputs: readonly Tensor[], instrument = false) {
  const r = await VaeRunner.create(vae, part, { precision, instrument });
  try {
    const outs = [];
    for (const x of inputs) outs.push(await r.run(x));
    return outs;
  } finally {
    await r.release();
  }
}

export async function verify(original: LoadedVae, fixed: LoadedVae, part: Part, heldOut: readonly Tensor[], onProgress?: OnProgress): Promise<Verification> {
  const task = `verifying ${part}`;
  const step = (stage: string, done: number) => onProgress?.({ task, stage, done, total: 4 });
  step('original fp32', 0);
  const o32 = await run(original, part, 'fp32', heldOut);
  step('fixed fp32', 1);
  const f32 = await run(fixed, part, 'fp32', heldOut);
  step('fixed fp16', 2);
  const f16 = await run(fixed, part, 'fp16', heldOut, true);
  step('original fp16', 3);
  const o16 = await run(original, part, 'fp16', heldOut);
  let diff = 0;
  let nf = 0;
  let onf = 0;
  const f16Count = { nan: 0, inf: 0, total: 0 };
  const f32Count = { nan: 0, inf: 0, total: 0 };
  const psnrs: number[] = [];
  let first: string | null = null;
  let tightest = { name: '', maxAbs: 0, headroom: Infinity };
  for (let i = 0; i < heldOut.length; i++) {
    diff = Math.max(diff, maxAbsError(o32[i].output.data, f32[i].output.data));
    const c = countNonFinite(f16[i].output.data);
    nf += c.nan + c.inf;
    addCount(f16Count, c);
    addCount(f32Count, countNonFinite(f32[i].output.data));
    const oc = countNonFinite(o16[i].output.data);
    onf += oc.nan + oc.inf;
    if (part === 'decoder') {
      psnrs.push(itemMetrics(o32[i].output, f16[i].output).psnr);
    } else {
      // latents: PSNR over the latent tensor, peak = its range in the original
      const a = o32[i].output.data;
      const b = f16[i].output.data;
      let mse = 0;
      let lo = Infinity;
      let hi = -Infinity;
      for (let j = 0; j < a.length; j++) {
        mse += (a[j] - b[j]) ** 2;
        lo = Math.min(lo, a[j]);
        hi = Math.max(hi, a[j]);
      }
      psnrs.push(mse === 0 ? Infinity : 10 * Math.log10((hi - lo) ** 2 / (mse / a.length)));
    }
    for (const l of f16[i].layers!) {
      if (first === null && l.nan + l.inf > 0) first = l.name;
      const h = l.nan + l.inf > 0 ? 0 : l.maxAbs > 0 ? MAX_FINITE.fp16 / l.maxAbs : Infinity;
      if (h < tightest.headroom) tightest = { name: l.name, maxAbs: l.maxAbs, headroom: h };
    }
  }
  return {
    part,
    fp32MaxAbsDiff: diff,
    fp32Verdict: judge({ ...f32Count, maxAbsError: diff }, FIX_THRESHOLDS.fp32),
    fp16Verdict: judge(f16Count, FIX_THRESHOLDS.fp16),
    fp16NonFinite: nf,
    fp16Psnr: psnrs.reduce((a, b) => a + b, 0) / psnrs.length,
    originalFp16NonFinite: onf,
    firstNonFinite: first,
    tightest,
  };
}

function addCount(acc: { nan: number; inf: number; total: number }, c: { nan: number; inf: number; total: number }): void {
  acc.nan += c.nan;
  acc.inf += c.inf;
  acc.total += c.total;
}

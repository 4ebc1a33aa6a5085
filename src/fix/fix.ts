/**
 * `vaecheck fix`: measure activations on calibration latents (fp32, instrumented), plan power-of-two
 * rescalings that keep every rescalable tensor at or below 65504 / headroom, apply them, and verify
 * on held-out latents: fp32 decode unchanged (max abs difference), fp16 decode finite (PSNR against
 * the original's fp32 decode), and the smallest headroom left.
 */
import { MAX_FINITE } from './../dtype.js';
import { countNonFinite } from '../metrics/nonfinite.js';
import { maxAbsError } from '../metrics/errors.js';
import { itemMetrics } from '../compare/cell-metrics.js';
import type { LayerStats } from '../precision/instrument.js';
import type { FloatTensor } from '../runtime/session.js';
import { VaeRunner } from '../vae-runner.js';
import type { LoadedVae } from '../weights/load.js';
import { type FixPlan, type Part, planFix } from './plan.js';

/** Per-op largest |x| over several inputs, at fp32. */
export async function measure(vae: LoadedVae, part: Part, inputs: readonly FloatTensor[]): Promise<Map<string, LayerStats>> {
  const runner = await VaeRunner.create(vae, part, { precision: 'fp32', instrument: true });
  const acc = new Map<string, LayerStats>();
  try {
    for (const x of inputs) {
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

export function plan(vae: LoadedVae, parts: Part[], stats: Map<Part, Map<string, LayerStats>>, headroom: number): FixPlan[] {
  return parts.map((p) => planFix(vae.arch, p, stats.get(p)!, headroom));
}

export interface Verification {
  part: Part;
  /** fp32 output of the fixed VAE against the original's */
  fp32MaxAbsDiff: number;
  /** fp16 output of the fixed VAE */
  fp16NonFinite: number;
  fp16Psnr: number;
  /** the original's fp16 output, for contrast */
  originalFp16NonFinite: number;
  firstNonFinite: string | null;
  /** the op with the least headroom in the fixed VAE's fp16 run, and that headroom (65504 / max |x|) */
  tightest: { name: string; maxAbs: number; headroom: number };
}

async function run(vae: LoadedVae, part: Part, precision: 'fp32' | 'fp16', inputs: readonly FloatTensor[], instrument = false) {
  const r = await VaeRunner.create(vae, part, { precision, instrument });
  try {
    const outs = [];
    for (const x of inputs) outs.push(await r.run(x));
    return outs;
  } finally {
    await r.release();
  }
}

export async function verify(original: LoadedVae, fixed: LoadedVae, part: Part, heldOut: readonly FloatTensor[]): Promise<Verification> {
  const o32 = await run(original, part, 'fp32', heldOut);
  const f32 = await run(fixed, part, 'fp32', heldOut);
  const f16 = await run(fixed, part, 'fp16', heldOut, true);
  const o16 = await run(original, part, 'fp16', heldOut);
  let diff = 0;
  let nf = 0;
  let onf = 0;
  const psnrs: number[] = [];
  let first: string | null = null;
  let tightest = { name: '', maxAbs: 0, headroom: Infinity };
  for (let i = 0; i < heldOut.length; i++) {
    diff = Math.max(diff, maxAbsError(o32[i].output.data, f32[i].output.data));
    const c = countNonFinite(f16[i].output.data);
    nf += c.nan + c.inf;
    const oc = countNonFinite(o16[i].output.data);
    onf += oc.nan + oc.inf;
    if (part === 'decoder') {
      const [, ch, h, w] = o32[i].output.shape;
      psnrs.push(itemMetrics({ data: o32[i].output.data, c: ch, h, w }, { data: f16[i].output.data, c: ch, h, w }).psnr);
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
    fp16NonFinite: nf,
    fp16Psnr: psnrs.reduce((a, b) => a + b, 0) / psnrs.length,
    originalFp16NonFinite: onf,
    firstNonFinite: first,
    tightest,
  };
}

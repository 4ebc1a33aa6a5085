/**
 * nan-scan: decode (and/or encode) once per VAE at a precision with the instrumentation pass, and
 * report the first op whose output holds a non-finite value, the ops with the least headroom
 * below the precision's largest finite value, and the NaN/Inf fraction of the final output.
 */
import { MAX_FINITE, type Precision } from './dtype.js';
import { type NonFiniteCount, countNonFinite } from './metrics/nonfinite.js';
import type { LayerStats } from './precision/instrument.js';
import type { Device } from './runtime/session.js';

import type { LoadedVae } from './weights/load.js';
import { type Part, VaeRunner } from './vae-runner.js';
import { decodeToImages } from './decode.js';
import type { Tensor } from './tensor.js';
import type { OnProgress } from './progress.js';

export interface HeadroomRow extends LayerStats {
  /** limit / maxAbs: how many times larger the largest value could get before overflowing */
  headroom: number;
}

export interface PartScan {
  part: Part;
  finite: boolean;
  firstNonFinite: string | null;
  output: NonFiniteCount;
  /** ops ranked by least headroom (non-finite ops first) */
  leastHeadroom: HeadroomRow[];
  layers: LayerStats[];
}

export interface VaeScan {
  label: string;
  source: string;
  finite: boolean;
  /** first non-finite op over the scanned parts, in execution order (decoder, then encoder) */
  firstNonFinite: string | null;
  parts: PartScan[];
  /** all traced ops of the scanned parts, in execution order */
  layers: LayerStats[];
}

export interface NanScanOptions {
  precision: Precision;
  parts: Part[];
  device?: Device;
  /** how many least-headroom ops to rank */
  top?: number;
  onProgress?: OnProgress;
}

/** Ranks ops by headroom: non-finite first, then smallest limit / maxAbs. */
export function rankHeadroom(layers: readonly LayerStats[], precision: Precision, top: number): HeadroomRow[] {
  const limit = MAX_FINITE[precision];
  const rows = layers.map((l, i) => ({ ...l, headroom: l.nan + l.inf > 0 ? 0 : l.maxAbs > 0 ? limit / l.maxAbs : Infinity, i }));
  // non-finite ops (headroom 0) stay in execution order, so the first one leads
  rows.sort((a, b) => a.headroom - b.headroom || (a.headroom === 0 ? a.i - b.i : b.maxAbs - a.maxAbs));
  return rows.slice(0, top).map(({ i: _i, ...r }) => r);
}

async function scanPart(vae: LoadedVae, part: Part, input: Tensor, origin: string, opts: NanScanOptions): Promise<PartScan> {
  const task = `${vae.label} · ${part}`;
  opts.onProgress?.({ task, stage: 'building graph', done: 0, total: 2 });
  const runner = await VaeRunner.create(vae, part, { precision: opts.precision, device: opts.device, instrument: true });
  try {
    opts.onProgress?.({ task, stage: `running at ${opts.precision}`, done: 1, total: 2 });
    const r = await runner.run(input, origin);
    opts.onProgress?.({ task, stage: 'done', done: 2, total: 2 });
    const layers = r.layers!;
    const first = layers.find((l) => l.nan + l.inf > 0) ?? null;
    const output = countNonFinite(r.output.data);
    return {
      part,
      finite: first === null && output.nan + output.inf === 0,
      firstNonFinite: first?.name ?? null,
      output,
      leastHeadroom: rankHeadroom(layers, opts.precision, opts.top ?? 5),
      layers,
    };
  } finally {
    await runner.release();
  }
}

/**
 * Scans one VAE. The decoder takes `latents` (raw); the encoder takes `image` when given, otherwise
 * the VAE's own fp32 decode of the latents (clamped to [-1, 1]), an in-distribution picture.
 */
export async function nanScanVae(vae: LoadedVae, latents: { raw: Tensor; origin: string }, opts: NanScanOptions, image?: { tensor: Tensor; origin: string }): Promise<VaeScan> {
  const parts: PartScan[] = [];
  if (opts.parts.includes('decoder')) parts.push(await scanPart(vae, 'decoder', latents.raw, latents.origin, opts));
  if (opts.parts.includes('encoder')) {
    let input = image;
    if (!input) input = { tensor: (await decodeToImages(vae, [latents.raw], opts.device))[0], origin: `fp32 decode of ${latents.origin}` };
    parts.push(await scanPart(vae, 'encoder', input.tensor, input.origin, opts));
  }
  const layers = parts.flatMap((p) => p.layers);
  return {
    label: vae.label,
    source: vae.source,
    finite: parts.every((p) => p.finite),
    firstNonFinite: parts.find((p) => p.firstNonFinite)?.firstNonFinite ?? null,
    parts,
    layers,
  };
}

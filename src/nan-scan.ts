/**
 * nan-scan: decode (and/or encode) once per VAE at a precision with the instrumentation pass, and
 * report the first op whose output holds a non-finite value, the finite ops with the least headroom,
 * and the NaN/Inf fraction of the final output.
 *
 * Headroom is always measured against fp16's largest finite value, 65504, whatever the precision of
 * the run: the question is how close a VAE runs to the fp16 edge, and a scan at fp32 answers it
 * without the overflow turning everything after it into NaN (bf16 and fp32 reach ~3.4e38, a limit
 * no VAE comes near, so a headroom against it would say nothing).
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

/** What headroom is measured against: fp16's largest finite value, 65504. */
export const HEADROOM_LIMIT = MAX_FINITE.fp16;

export interface HeadroomRow extends LayerStats {
  /** 65504 / maxAbs: how many times larger the largest value could get before overflowing fp16 (< 1: beyond it) */
  headroom: number;
}

export interface PartScan {
  part: Part;
  finite: boolean;
  firstNonFinite: string | null;
  output: NonFiniteCount;
  /** how many traced ops hold NaN/Inf (their largest finite |x| says little, so they are not ranked) */
  nonFiniteOps: number;
  /** the finite ops ranked by least headroom against 65504 */
  leastHeadroom: HeadroomRow[];
  /** graph build and run of this part (absent in a merged scan) */
  seconds?: number;
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

/** The finite ops ranked by headroom against 65504, least first (ties: execution order). */
export function rankHeadroom(layers: readonly LayerStats[], top: number): HeadroomRow[] {
  const rows = layers
    .map((l, i) => ({ ...l, headroom: l.maxAbs > 0 ? HEADROOM_LIMIT / l.maxAbs : Infinity, i }))
    .filter((l) => l.nan + l.inf === 0);
  rows.sort((a, b) => a.headroom - b.headroom || a.i - b.i);
  return rows.slice(0, top).map(({ i: _i, ...r }) => r);
}

/** A headroom factor as people read it: x23.4, x1159, x0.19 (beyond 65504), xinf. */
export function formatHeadroom(h: number): string {
  if (!Number.isFinite(h)) return 'xinf';
  if (h >= 1000) return `x${h.toFixed(0)}`;
  if (h >= 10) return `x${h.toFixed(1)}`;
  return `x${h.toFixed(2)}`;
}

async function scanPart(vae: LoadedVae, part: Part, input: Tensor, origin: string, opts: NanScanOptions): Promise<PartScan> {
  const task = `${vae.label} · ${part}`;
  const t0 = performance.now();
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
      nonFiniteOps: layers.filter((l) => l.nan + l.inf > 0).length,
      leastHeadroom: rankHeadroom(layers, opts.top ?? 5),
      seconds: (performance.now() - t0) / 1000,
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

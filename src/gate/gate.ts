/**
 * The drift gate: decode the baseline's latents with a candidate VAE at a precision and compare each
 * decode with the baseline's (compare's metrics: itemMetrics). One case per latent; each PASSES or
 * FAILS by judge() (metrics/verdict.ts) with its reasons and a note on what to do.
 */
import type { Precision } from '../dtype.js';
import { BadInputError } from '../errors.js';
import { db, percent, ssimText } from '../format.js';
import { type ItemMetrics, itemMetrics } from '../metrics/cell-metrics.js';
import { type Thresholds, type Verdict, judge, reasons } from '../metrics/verdict.js';
import type { Device } from '../runtime/session.js';
import type { LoadedVae } from '../weights/load.js';
import { VaeRunner } from '../vae-runner.js';
import type { OnProgress } from '../progress.js';
import type { Tensor } from '../tensor.js';
import type { LoadedBaseline } from './baseline.js';
import type { GateThresholds } from './config.js';
import { logText } from '../ci-text.js';
import { sha256File } from '../io/sha256.js';
import { unitsOfShard } from '../shard/rendezvous.js';
import { InputsFingerprint, type ShardRecord, shardRecord } from '../shard/shard-record.js';
import type { ShardSpec } from '../shard/shard-spec.js';
import { nonFiniteWeightsNote } from '../weights/nonfinite-weights.js';

export interface GateCase extends ItemMetrics {
  /** `<latent>@<precision>` */
  name: string;
  latent: string;
  /** the baseline decode it was compared with */
  against: string;
  pass: boolean;
  reasons: string[];
  note?: string;
  /** this case's decode and comparison, in seconds (JUnit's per-case time; absent in gate.json from older versions) */
  seconds?: number;
}

export interface GateResult {
  candidate: string;
  /** sha256 of the candidate's weights file and of the baseline's VAE; `same` when they are one file */
  weights?: { candidate: string; baseline: string; same: boolean };
  precision: Precision;
  thresholds: GateThresholds;
  cases: GateCase[];
  pass: boolean;
  /** set for a sharded gate (--shard i/n): which shard, its latents and what identifies the run, for vaecheck merge */
  shard?: ShardRecord;
}

/** Options of a sharded gate: which shard, and the version that goes into its record. */
export interface GateShard {
  spec: ShardSpec;
  vaecheck: string;
}

/**
 * Each case compares with the baseline decode at the same precision when the baseline has one,
 * otherwise with its first recorded precision (normally fp32).
 */
export interface GateHooks {
  onProgress?: OnProgress;
  /** called for each failed case with the baseline's decode and the candidate's (for diff images) */
  onFailedCase?: (c: GateCase, baseline: Tensor, candidate: Tensor) => void | Promise<void>;
}

export async function runGate(baseline: LoadedBaseline, candidate: LoadedVae, precision: Precision, thresholds: GateThresholds, device?: Device, shard?: GateShard, hooks: GateHooks = {}): Promise<GateResult> {
  const onProgress = hooks.onProgress;
  const m = baseline.manifest;
  const refPrecision = m.precisions.includes(precision) ? precision : m.precisions[0];
  let latents = m.latents;
  let record: ShardRecord | undefined;
  if (shard) {
    // the baseline is identified by its manifest's file hashes (which cover every latent and decode)
    const fingerprint = new InputsFingerprint();
    for (const [path, sha] of Object.entries(m.files)) fingerprint.add(path, new TextEncoder().encode(sha));
    const allUnits = m.latents.map((l) => l.id);
    const mine = new Set(unitsOfShard(allUnits, shard.spec));
    latents = m.latents.filter((l) => mine.has(l.id));
    record = shardRecord(shard.spec, allUnits, fingerprint.digest(), { vaecheck: shard.vaecheck, candidateSha256: await sha256File(candidate.weightsFile), device: device ?? 'cpu' });
  }
  const badWeights = nonFiniteWeightsNote(candidate);
  const task = `gate ${candidate.label}@${precision}`;
  const progress = (stage: string, done: number) => onProgress?.({ task, stage, done, total: latents.length });
  progress('building graph', 0);
  const cases: GateCase[] = [];
  if (latents.length === 0) return { candidate: candidate.source, precision, thresholds, cases, pass: true, ...(record ? { shard: record } : {}) };
  const runner = await VaeRunner.create(candidate, 'decoder', { precision, device });
  try {
    for (const [i, l] of latents.entries()) {
      progress(`decoding ${l.id}`, i);
      const t0 = performance.now();
      const raw = baseline.latents.get(l.id)!;
      const out = (await runner.run(raw, `${baseline.dir}/${l.file}`)).output;
      const against = `${l.id}@${refPrecision}`;
      const ref = baseline.decoded.get(against)!;
      if (out.shape.join() !== ref.shape.join()) {
        throw new BadInputError(candidate.source, `decodes ${l.id} to [${out.shape}], the baseline's decode is [${ref.shape}]: not the architecture the baseline was recorded with`);
      }
      const metrics = itemMetrics(ref, out);
      const verdict = judge(metrics, verdictThresholds(thresholds));
      const note = verdict.pass ? undefined : noteFor(verdict, candidate.source, precision, badWeights);
      const gateCase: GateCase = { name: `${l.id}@${precision}`, latent: l.id, against, ...metrics, pass: verdict.pass, reasons: reasons(verdict, metrics, 'keyValue'), note, seconds: (performance.now() - t0) / 1000 };
      cases.push(gateCase);
      if (!gateCase.pass) await hooks.onFailedCase?.(gateCase, ref, out);
    }
    progress('done', latents.length);
  } finally {
    await runner.release();
  }
  const sha = await sha256File(candidate.weightsFile);
  const weights = { candidate: sha, baseline: m.vae?.sha256 ?? '', same: sha === m.vae?.sha256 };
  return { candidate: candidate.source, weights, precision, thresholds, cases, pass: cases.every((c) => c.pass), ...(record ? { shard: record } : {}) };
}

/** Says when the candidate is not the VAE the baseline was recorded with (undefined when it is). */
export function weightsNote(r: GateResult): string | undefined {
  if (!r.weights || r.weights.same) return undefined;
  return `the candidate's weights (sha256 ${r.weights.candidate.slice(0, 12)}…) differ from the baseline's VAE (sha256 ${r.weights.baseline.slice(0, 12)}…)`;
}

/** The gate's thresholds in judge()'s terms. */
export function verdictThresholds(t: GateThresholds): Thresholds {
  return { maxNonFinite: t.maxNan, minPsnr: t.minPsnr, minSsim: t.minSsim, maxMismatch: t.maxMismatch };
}

/** What to do about a failed case: the candidate's non-finite weights, the overflow to find, or the drift to look at. */
function noteFor(v: Verdict, source: string, precision: Precision, badWeights?: string): string {
  if (v.failures.some((f) => f.check === 'nonFinite')) {
    if (badWeights) return `the candidate's ${badWeights.replace(/^the /, '')}`;
    return `the candidate overflows at ${precision}: find the layer with vaecheck nan-scan --vae ${source} --precision ${precision}; decode it in ${precision === 'fp16' ? 'bf16 or fp32' : 'fp32'} or make it fp16-safe`;
  }
  return `the candidate's decode drifted from the baseline: look at the images with vaecheck compare; if the change is intended, record a new baseline with vaecheck baseline --force`;
}

/** The greppable line of a case: `PASSED | <case> | psnr=… ssim=… nan=0` or `FAILED | <case> | <reason>`. */
export function caseLine(c: GateCase): string {
  if (c.pass) return `PASSED | ${logText(c.name)} | psnr=${db(c.psnr)} ssim=${ssimText(c.ssim)} nan=${c.nan + c.inf} mismatch=${percent(c.mismatchedFraction)}%`;
  return `FAILED | ${logText(c.name)} | ${logText(c.reasons.join('; '))}`;
}

/**
 * The comparison matrix: every (VAE, precision) cell decodes the same latents; each decode is
 * measured against a reference cell (default: the first VAE at fp32) and, when the latents came
 * from images, against the images themselves. Weights are read once per VAE, each graph is built
 * once per cell, and images are encoded once.
 */
import { imagePaths } from '../images/image-paths.js';
import type { LayerStats } from '../precision/instrument.js';
import { basename } from 'node:path';
import type { Precision } from '../dtype.js';
import { BadInputError, UsageError, option } from '../errors.js';
import { type ItemMetrics, itemMetrics, rgb8 } from '../metrics/cell-metrics.js';
import { meanStd } from '../metrics/summary.js';
import { type Thresholds, judge, reasons } from '../metrics/verdict.js';
import type { Device } from '../runtime/session.js';
import { type LatentSource, latentIds, resolveLatents } from '../decode.js';
import { readImageBatch } from '../encode.js';
import { type LatentSpaceRequest, latentsNotInterchangeable } from '../architecture/family.js';
import { type TilingInfo, describeTiling } from '../tiled-decode.js';
import { isHubSpec, parseHubSpec, specLabel } from '../hub/spec.js';
import { type OpenedVae, openVae } from '../source/vae-source.js';
import { type Tensor, splitBatch } from '../tensor.js';
import { VaeRunner } from '../vae-runner.js';
import { readFileSync } from 'node:fs';
import { sha256File } from '../io/sha256.js';
import { unitsOfShard } from '../shard/rendezvous.js';
import { InputsFingerprint, type ShardRecord, shardRecord } from '../shard/shard-record.js';
import type { ShardSpec } from '../shard/shard-spec.js';
import { type CellStatistics, cellStatistics } from './cell-summary.js';

export interface CompareVae {
  label: string;
  /** a local path openVae reads (Hub specs are resolved to one before runCompare) */
  path: string;
  /** what the user named it by, shown as its source in reports (default: path) */
  source?: string;
}

export type CompareInput =
  | { kind: 'latents'; sources: LatentSource[] }
  | { kind: 'images'; files: string[]; size?: { height: number; width: number } };

export interface CompareProgress {
  cell: string;
  stage: 'weights' | 'graph' | 'decode' | 'done';
  done: number;
  total: number;
}

export interface CompareOptions {
  vaes: CompareVae[];
  precisions: Precision[];
  input: CompareInput;
  /** default: the first VAE at fp32 */
  reference?: { label: string; precision: Precision };
  /** a cell passes when each decode passes judge() (metrics/verdict.ts) with these thresholds */
  minPsnr: number;
  minSsim: number;
  device?: Device;
  /** weights variant of diffusers folders, e.g. 'fp16' */
  variant?: string;
  /** the family or latent factors the user states for every VAE */
  latentSpace?: LatentSpaceRequest;
  onProgress?: (e: CompareProgress) => void;
  /** run only this shard's latents (or images), chosen by rendezvous hashing of their ids */
  shard?: ShardSpec;
}

export interface ItemResult extends ItemMetrics {
  latent: string;
  /** reconstruction PSNR against the input image (image inputs only) */
  psnrVsImage?: number;
  pass: boolean;
  reasons: string[];
}

/** One (VAE, precision) cell: its per-latent figures and the statistics cellStatistics makes of them. */
export interface CellResult extends CellStatistics {
  vae: string;
  precision: Precision;
  key: string;
  isReference: boolean;
  items: ItemResult[];
  /** set when this cell's decodes were tiled (latents larger than 128x128): how */
  tiling?: TilingInfo;
  /** seconds: session creation, and all decodes of this cell */
  seconds: { graph: number; decode: number };
}

export interface LatentInfo {
  id: string;
  origin: string;
  shape: number[];
}

/**
 * Per-op largest |x| of one VAE's fp32 decode of the run's first latent (the activation figure): taken
 * from its fp32 cell, whose runner carries the instrumentation pass (about 1% more time), or from one
 * extra instrumented fp32 decode when fp32 is not a column.
 */
export interface VaeActivations {
  vae: string;
  latent: string;
  layers: LayerStats[];
}

export interface CompareResult {
  vaes: { label: string; source: string; weightsFile: string; sha256: string; naming: string; storageDtype: string }[];
  precisions: Precision[];
  reference: { vae: string; precision: Precision; key: string };
  latents: LatentInfo[];
  cells: CellResult[];
  thresholds: { minPsnr: number; minSsim: number };
  warnings: string[];
  /** decoded images per cell key, one [1, 3, H, W] tensor per latent, in `latents` order */
  outputs: Map<string, Tensor[]>;
  /** the input images, for image inputs */
  inputImages?: Tensor[];
  /** one per VAE, in `vaes` order (absent in a shard that does not hold the run's first latent) */
  activations?: VaeActivations[];
  seconds: { total: number; weights: number; encode: number };
  /** set for a sharded run: which shard, its units and what identifies the run (for vaecheck merge) */
  shard?: ShardRecord;
}

export const cellKey = (vae: string, precision: Precision) => `${vae}@${precision}`;

/** Parses `label=path` (label defaults to the file or folder name, or a Hub repo's name). */
export function parseVaeArg(arg: string): CompareVae {
  const m = arg.match(/^([^=/\\]+)=(.+)$/);
  if (m) return { label: m[1], path: m[2] };
  if (isHubSpec(arg)) return { label: specLabel(parseHubSpec(arg)!), path: arg };
  return { label: basename(arg.replace(/[/\\]+$/, '')).replace(/\.safetensors$/i, ''), path: arg };
}

/** The thresholds judge() gets for compare's cells: any NaN/Inf fails, then PSNR and SSIM. */
export const compareThresholds = (minPsnr: number, minSsim: number): Thresholds => ({ maxNonFinite: 0, minPsnr, minSsim });

/** Latents of every VAE (raw, one tensor per item) and what they are. */
interface PreparedInput {
  latents: LatentInfo[];
  perVae: Map<string, Tensor[]>;
  warnings: string[];
  inputImages?: Tensor[];
  /** sharded runs: every unit of the whole run and the fingerprint of all its inputs */
  shardInputs?: { allUnits: string[]; inputsSha256: string };
}

export async function runCompare(opts: CompareOptions): Promise<CompareResult> {
  const t0 = performance.now();
  const progress = opts.onProgress ?? (() => {});
  const ref = checkOptions(opts);
  const loaded = loadVaes(opts, progress);
  const tWeights = performance.now();
  const input = opts.input.kind === 'latents' ? latentInput(opts.vaes, loaded, opts.input.sources) : await imageInput(opts, loaded, opts.input.files, opts.input.size);
  const tEncode = performance.now();
  const ids = input.latents.map((l) => l.id);
  const dupId = ids.find((l, i) => ids.indexOf(l) !== i);
  if (dupId) throw new UsageError(`two latents are named ${JSON.stringify(dupId)}; give files distinct names`);
  if (opts.shard && opts.input.kind === 'latents') keepShardLatents(input, opts.vaes[0].label, opts.shard);

  const refKey = cellKey(ref.label, ref.precision);
  // the figures show the run's first latent: a shard makes them only when it holds that latent, so that
  // merging shards gives the unsharded figures
  const withActivations = input.latents.length > 0 && (!input.shardInputs || input.shardInputs.allUnits[0] === input.latents[0].id);
  const decoded = await decodeCells(opts, ref, loaded, input, progress, withActivations);
  if (withActivations) await addMissingActivations(opts, loaded, input, decoded.activations);
  const cells = judgeCells(opts, refKey, input, decoded);
  const firstTiled = [...decoded.tiling.values()][0];
  // tiling changes the output near tile seams: never silent
  if (firstTiled) input.warnings.push(`${[...decoded.tiling.keys()].join(', ')}: ${describeTiling(firstTiled)}`);
  // each VAE's weights sha256: in the report's metadata, and what identifies a sharded run
  const weights: Record<string, string> = {};
  for (const [label, vae] of loaded) weights[label] = await sha256File(vae.weightsFile);
  const shard = opts.shard ? shardOf(opts, weights, opts.shard, input.shardInputs!) : undefined;
  return {
    ...(shard ? { shard } : {}),
    vaes: opts.vaes.map((v) => {
      const l = loaded.get(v.label)!;
      return { label: v.label, source: l.source, weightsFile: l.weightsFile, sha256: weights[v.label], naming: l.naming, storageDtype: l.storageDtype };
    }),
    precisions: opts.precisions,
    reference: { vae: ref.label, precision: ref.precision, key: refKey },
    latents: input.latents,
    cells,
    thresholds: { minPsnr: opts.minPsnr, minSsim: opts.minSsim },
    warnings: input.warnings,
    outputs: decoded.outputs,
    inputImages: input.inputImages,
    ...(withActivations ? { activations: opts.vaes.map((v) => ({ vae: v.label, latent: input.latents[0].id, layers: decoded.activations.get(v.label)! })) } : {}),
    seconds: { total: (performance.now() - t0) / 1000, weights: (tWeights - t0) / 1000, encode: (tEncode - tWeights) / 1000 },
  };
}

/** Refuses options that cannot make a matrix; returns the reference cell. */
function checkOptions(opts: CompareOptions): { label: string; precision: Precision } {
  if (opts.vaes.length === 0) throw new UsageError(`compare needs at least one VAE (${option('vaes')})`);
  if (opts.precisions.length === 0) throw new UsageError(`${option('precisions')} needs at least one of fp32, bf16, fp16`);
  const labels = opts.vaes.map((v) => v.label);
  const dup = labels.find((l, i) => labels.indexOf(l) !== i);
  if (dup) throw new UsageError(`two VAEs are labelled ${JSON.stringify(dup)}; give each its own ${option('label')}`);
  const ref = opts.reference ?? { label: opts.vaes[0].label, precision: 'fp32' as Precision };
  if (!labels.includes(ref.label)) throw new UsageError(`${option('reference', `${ref.label}@${ref.precision}`)}: no VAE labelled ${JSON.stringify(ref.label)} (have ${labels.join(', ')})`);
  return ref;
}

/** Weights, read once per VAE; all must take the same latents. */
function loadVaes(opts: CompareOptions, progress: (e: CompareProgress) => void): Map<string, OpenedVae> {
  const loaded = new Map<string, OpenedVae>();
  for (const v of opts.vaes) {
    progress({ cell: v.label, stage: 'weights', done: 0, total: 1 });
    const vae = openVae(v.path, { variant: opts.variant, latentSpace: opts.latentSpace });
    if (v.source) vae.source = v.source;
    if (!vae.arch.hasDecoder) throw new BadInputError(vae.weightsFile, 'has no decoder weights');
    loaded.set(v.label, vae);
    progress({ cell: v.label, stage: 'weights', done: 1, total: 1 });
  }
  const firstLabel = opts.vaes[0].label;
  const first = loaded.get(firstLabel)!;
  for (const [label, vae] of loaded) {
    const why = latentsNotInterchangeable(vae.arch, first.arch);
    if (why) throw new BadInputError(vae.weightsFile, `${label} and ${firstLabel} cannot decode the same latents (${why}); compare VAEs of one family`);
  }
  return loaded;
}

/** Latent files or random latents: the same latents for every VAE (scaled ones divided by each VAE's own factor). */
function latentInput(vaes: CompareVae[], loaded: Map<string, OpenedVae>, sources: LatentSource[]): PreparedInput {
  const out: PreparedInput = { latents: [], perVae: new Map(), warnings: [] };
  for (const [label, vae] of loaded) {
    const items: Tensor[] = [];
    for (const src of sources) {
      const l = resolveLatents(vae, src);
      if (label === vaes[0].label) {
        out.warnings.push(...l.warnings);
        for (const id of latentIds(src, l.raw.shape[0])) out.latents.push({ id, origin: l.origin, shape: [1, ...l.raw.shape.slice(1)] });
      }
      items.push(...splitBatch(l.raw));
    }
    out.perVae.set(label, items);
  }
  return out;
}

/**
 * Images: encoded once, by the first VAE at fp32; the images are a second reference. A shard reads
 * and encodes only its own images, while every image's bytes go into the inputs fingerprint.
 */
async function imageInput(opts: CompareOptions, loaded: Map<string, OpenedVae>, allFiles: string[], size?: { height: number; width: number }): Promise<PreparedInput> {
  const firstLabel = opts.vaes[0].label;
  const first = loaded.get(firstLabel)!;
  if (!first.arch.hasEncoder) throw new BadInputError(first.weightsFile, `has no encoder: image input (${option('images')}) is encoded by the first VAE`);
  const imageId = (f: string) => basename(f).replace(/\.[^.]+$/, '');
  let files = imagePaths(allFiles);
  let shardInputs: PreparedInput['shardInputs'];
  if (opts.shard) {
    const fingerprint = new InputsFingerprint();
    fingerprint.add(`size=${size ? `${size.height}x${size.width}` : 'as is'}`, new Uint8Array(0));
    for (const f of files) fingerprint.add(imageId(f), readImageBytes(f));
    const allIds = files.map(imageId);
    const dup = allIds.find((l, i) => allIds.indexOf(l) !== i);
    if (dup) throw new UsageError(`two latents are named ${JSON.stringify(dup)}; give files distinct names`);
    shardInputs = { allUnits: allIds, inputsSha256: fingerprint.digest() };
    const mine = new Set(unitsOfShard(allIds, opts.shard));
    files = files.filter((f) => mine.has(imageId(f)));
  }
  if (files.length === 0) return { latents: [], perVae: new Map([...loaded.keys()].map((label) => [label, []])), warnings: [], inputImages: [], shardInputs };
  const batch = await readImageBatch(files, size);
  const enc = await VaeRunner.create(first, 'encoder', { precision: 'fp32', device: opts.device });
  try {
    const mean = (await enc.run(batch, files.join(', '))).output;
    const items = splitBatch(mean);
    return {
      latents: files.map((f) => ({ id: imageId(f), origin: `${f} encoded by ${firstLabel}@fp32`, shape: [1, ...mean.shape.slice(1)] })),
      perVae: new Map([...loaded.keys()].map((label) => [label, items])),
      warnings: [],
      inputImages: splitBatch(batch),
      shardInputs,
    };
  } finally {
    await enc.release();
  }
}

/**
 * Keeps only the shard's latents. Every latent was read (cheap), so the fingerprint covers the whole
 * run; only the shard's are decoded.
 */
function keepShardLatents(input: PreparedInput, firstLabel: string, shard: ShardSpec): void {
  const fingerprint = new InputsFingerprint();
  input.perVae.get(firstLabel)!.forEach((it, i) => fingerprint.add(input.latents[i].id, it.data));
  const ids = input.latents.map((l) => l.id);
  input.shardInputs = { allUnits: ids, inputsSha256: fingerprint.digest() };
  const mine = new Set(unitsOfShard(ids, shard));
  const keep = input.latents.map((l) => mine.has(l.id));
  for (const [label, items] of input.perVae) input.perVae.set(label, items.filter((_, i) => keep[i]));
  input.latents = input.latents.filter((_, i) => keep[i]);
}

/** The record vaecheck merge joins shards by: the shard, every unit, and what identifies the run. */
function shardOf(opts: CompareOptions, weights: Record<string, string>, spec: ShardSpec, inputs: NonNullable<PreparedInput['shardInputs']>): ShardRecord {
  return shardRecord(spec, inputs.allUnits, inputs.inputsSha256, { weightsSha256: weights, input: opts.input.kind, device: opts.device ?? 'cpu' });
}

function readImageBytes(file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new BadInputError(file, `cannot read image (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Decodes every cell (the reference too, even when its precision is not a column); one session per cell. */
async function decodeCells(opts: CompareOptions, ref: { label: string; precision: Precision }, loaded: Map<string, OpenedVae>, input: PreparedInput, progress: (e: CompareProgress) => void, withActivations: boolean) {
  const cellsToRun: { vae: string; precision: Precision }[] = [];
  for (const v of opts.vaes) for (const p of opts.precisions) cellsToRun.push({ vae: v.label, precision: p });
  const refKey = cellKey(ref.label, ref.precision);
  if (!cellsToRun.some((c) => cellKey(c.vae, c.precision) === refKey)) cellsToRun.unshift({ vae: ref.label, precision: ref.precision });
  const outputs = new Map<string, Tensor[]>();
  const seconds = new Map<string, { graph: number; decode: number }>();
  const tiling = new Map<string, TilingInfo>();
  const activations = new Map<string, LayerStats[]>();
  for (const c of cellsToRun) {
    const key = cellKey(c.vae, c.precision);
    const items = input.perVae.get(c.vae)!;
    if (items.length === 0) {
      // a shard without latents: nothing to decode, no graph to build
      seconds.set(key, { graph: 0, decode: 0 });
      outputs.set(key, []);
      continue;
    }
    progress({ cell: key, stage: 'graph', done: 0, total: items.length });
    const g0 = performance.now();
    // the fp32 cell's runner carries the instrumentation pass: its first decode gives the activation figure
    const instrument = withActivations && c.precision === 'fp32';
    const runner = await VaeRunner.create(loaded.get(c.vae)!, 'decoder', { precision: c.precision, device: opts.device, instrument });
    const g1 = performance.now();
    const decoded: Tensor[] = [];
    try {
      for (let i = 0; i < items.length; i++) {
        progress({ cell: key, stage: 'decode', done: i, total: items.length });
        const out = await runner.run(items[i], input.latents[i].origin);
        decoded.push(out.output);
        if (out.tiling) tiling.set(key, out.tiling);
        if (instrument && i === 0) activations.set(c.vae, out.layers!);
      }
    } finally {
      await runner.release();
    }
    seconds.set(key, { graph: (g1 - g0) / 1000, decode: (performance.now() - g1) / 1000 });
    outputs.set(key, decoded);
    progress({ cell: key, stage: 'done', done: items.length, total: items.length });
  }
  return { outputs, seconds, tiling, activations };
}

/** The activation figure of a VAE without an fp32 column: one instrumented fp32 decode of the first latent. */
async function addMissingActivations(opts: CompareOptions, loaded: Map<string, OpenedVae>, input: PreparedInput, activations: Map<string, LayerStats[]>): Promise<void> {
  for (const v of opts.vaes) {
    if (activations.has(v.label)) continue;
    const runner = await VaeRunner.create(loaded.get(v.label)!, 'decoder', { precision: 'fp32', device: opts.device, instrument: true });
    try {
      activations.set(v.label, (await runner.run(input.perVae.get(v.label)![0], input.latents[0].origin)).layers!);
    } finally {
      await runner.release();
    }
  }
}

/** Measures every decode against the reference cell's and judges it; a cell passes when all its decodes do. */
function judgeCells(opts: CompareOptions, refKey: string, input: PreparedInput, decoded: { outputs: Map<string, Tensor[]>; seconds: Map<string, { graph: number; decode: number }>; tiling: Map<string, TilingInfo> }): CellResult[] {
  const thresholds = compareThresholds(opts.minPsnr, opts.minSsim);
  const refOut = decoded.outputs.get(refKey)!;
  const refRgb = refOut.map(rgb8);
  const cells: CellResult[] = [];
  for (const v of opts.vaes) {
    for (const p of opts.precisions) {
      const key = cellKey(v.label, p);
      const items: ItemResult[] = decoded.outputs.get(key)!.map((img, i) => {
        const m = itemMetrics(refOut[i], img, refRgb[i]);
        const verdict = judge(m, thresholds);
        const r: ItemResult = { latent: input.latents[i].id, ...m, pass: verdict.pass, reasons: reasons(verdict, m, 'prose') };
        if (input.inputImages) r.psnrVsImage = itemMetrics(input.inputImages[i], img).psnr;
        return r;
      });
      const { psnr, ssim, psnrVsImage, nonFiniteFraction, pass, reasons: cellReasons } = cellStatistics(items);
      cells.push({
        vae: v.label,
        precision: p,
        key,
        isReference: key === refKey,
        items,
        psnr,
        ssim,
        ...(input.inputImages ? { psnrVsImage: psnrVsImage ?? meanStd([]) } : {}),
        nonFiniteFraction,
        pass,
        reasons: cellReasons,
        ...(decoded.tiling.has(key) ? { tiling: decoded.tiling.get(key) } : {}),
        seconds: decoded.seconds.get(key)!,
      });
    }
  }
  return cells;
}

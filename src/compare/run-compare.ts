/**
 * The comparison matrix: every (VAE, precision) cell decodes the same latents; each decode is
 * measured against a reference cell (default: the first VAE at fp32) and, when the latents came
 * from images, against the images themselves. Weights are read once per VAE, each graph is built
 * once per cell, and images are encoded once.
 */
import { basename } from 'node:path';
import type { Precision } from '../dtype.js';
import { BadInputError, UsageError } from '../errors.js';
import { tensorToRgb8 } from '../images/sharp-io.js';
import { type MeanStd, meanStd } from '../metrics/summary.js';
import type { Device } from '../runtime/session.js';
import { type LatentSource, resolveLatents, splitBatch } from '../decode.js';
import { readImageBatch } from '../encode.js';
import { type LoadedVae, loadVae } from '../weights/load.js';
import { type LatentSpaceRequest, latentsNotInterchangeable } from '../architecture/family.js';
import { VaeRunner } from '../vae-runner.js';
import { type TilingInfo, describeTiling } from '../tiled-decode.js';
import { isHubSpec, parseHubSpec, specLabel } from '../hub/spec.js';
import { type ImageItem, type ItemMetrics, itemMetrics } from './cell-metrics.js';
import { cellStatistics } from './cell-summary.js';
import { readFileSync } from 'node:fs';
import { sha256File } from '../io/sha256.js';
import { unitsOfShard } from '../shard/rendezvous.js';
import { InputsFingerprint, type ShardRecord, shardRecord } from '../shard/shard-record.js';
import type { ShardSpec } from '../shard/shard-spec.js';

export interface CompareVae {
  label: string;
  /** a local path loadVae reads (Hub specs are resolved to one before runCompare) */
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
  /** a cell passes when finite and PSNR >= minPsnr (dB) and SSIM >= minSsim */
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

export interface CellResult {
  vae: string;
  precision: Precision;
  key: string;
  isReference: boolean;
  items: ItemResult[];
  psnr: MeanStd;
  ssim: MeanStd;
  psnrVsImage?: MeanStd;
  nonFiniteFraction: number;
  pass: boolean;
  reasons: string[];
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

export interface CompareResult {
  vaes: { label: string; source: string; weightsFile: string; naming: string; storageDtype: string }[];
  precisions: Precision[];
  reference: { vae: string; precision: Precision; key: string };
  latents: LatentInfo[];
  cells: CellResult[];
  thresholds: { minPsnr: number; minSsim: number };
  warnings: string[];
  /** decoded images per cell key, one per latent, in `latents` order */
  outputs: Map<string, ImageItem[]>;
  /** the input images, for image inputs */
  inputImages?: ImageItem[];
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

function splitItems(t: { shape: number[]; data: Float32Array }): ImageItem[] {
  return splitBatch(t).map((x) => ({ data: x.data, c: x.shape[1], h: x.shape[2], w: x.shape[3] }));
}

export async function runCompare(opts: CompareOptions): Promise<CompareResult> {
  const t0 = performance.now();
  const progress = opts.onProgress ?? (() => {});
  if (opts.vaes.length === 0) throw new UsageError('compare needs at least one --vae');
  if (opts.precisions.length === 0) throw new UsageError('--precision needs at least one of fp32, bf16, fp16');
  const labels = opts.vaes.map((v) => v.label);
  const dup = labels.find((l, i) => labels.indexOf(l) !== i);
  if (dup) throw new UsageError(`two VAEs are labelled ${JSON.stringify(dup)}; name them with --vae label=path`);
  const ref = opts.reference ?? { label: opts.vaes[0].label, precision: 'fp32' as Precision };
  if (!labels.includes(ref.label)) throw new UsageError(`--reference ${ref.label}@${ref.precision}: no VAE labelled ${JSON.stringify(ref.label)} (have ${labels.join(', ')})`);

  // weights: read once per VAE
  const loaded = new Map<string, LoadedVae>();
  for (const v of opts.vaes) {
    progress({ cell: v.label, stage: 'weights', done: 0, total: 1 });
    const vae = loadVae(v.path, { variant: opts.variant, latentSpace: opts.latentSpace });
    if (v.source) vae.source = v.source;
    if (!vae.arch.hasDecoder) throw new BadInputError(vae.weightsFile, 'has no decoder weights');
    loaded.set(v.label, vae);
    progress({ cell: v.label, stage: 'weights', done: 1, total: 1 });
  }
  const tWeights = performance.now();
  const first = loaded.get(opts.vaes[0].label)!;
  for (const [label, vae] of loaded) {
    const why = latentsNotInterchangeable(vae.arch, first.arch);
    if (why) throw new BadInputError(vae.weightsFile, `${label} and ${opts.vaes[0].label} cannot decode the same latents (${why}); compare VAEs of one family`);
  }

  // latents: raw, per item; the same latents for every VAE (scaled files are divided by each VAE's own factor)
  const warnings: string[] = [];
  const latents: LatentInfo[] = [];
  const rawPerVae = new Map<string, ImageItem[]>();
  let inputImages: ImageItem[] | undefined;
  let shardInputs: { allUnits: string[]; inputsSha256: string } | undefined;
  if (opts.input.kind === 'latents') {
    for (const [label, vae] of loaded) {
      const items: ImageItem[] = [];
      for (const src of opts.input.sources) {
        const l = resolveLatents(vae, src);
        if (label === opts.vaes[0].label) {
          warnings.push(...l.warnings);
          const n = l.raw.shape[0];
          const name = src.file ? basename(src.file).replace(/\.(npy|safetensors)$/i, '') : `random-${src.random!.seed}`;
          for (let i = 0; i < n; i++) latents.push({ id: n === 1 ? name : `${name}-${i}`, origin: l.origin, shape: [1, ...l.raw.shape.slice(1)] });
        }
        items.push(...splitItems(l.raw));
      }
      rawPerVae.set(label, items);
    }
  } else {
    // images: encoded once, by the first VAE at fp32; the images are a second reference
    if (!first.arch.hasEncoder) throw new BadInputError(first.weightsFile, 'has no encoder: --image needs the first VAE to encode');
    const imageId = (f: string) => basename(f).replace(/\.[^.]+$/, '');
    let files = opts.input.files;
    if (opts.shard) {
      // a shard reads and encodes only its own images; every image's bytes go into the inputs fingerprint
      const fingerprint = new InputsFingerprint();
      fingerprint.add(`size=${opts.input.size ? `${opts.input.size.height}x${opts.input.size.width}` : 'as is'}`, new Uint8Array(0));
      for (const f of files) fingerprint.add(imageId(f), readImageBytes(f));
      const allIds = files.map(imageId);
      const dup = allIds.find((l, i) => allIds.indexOf(l) !== i);
      if (dup) throw new UsageError(`two latents are named ${JSON.stringify(dup)}; give files distinct names`);
      shardInputs = { allUnits: allIds, inputsSha256: fingerprint.digest() };
      const mine = new Set(unitsOfShard(allIds, opts.shard));
      files = files.filter((f) => mine.has(imageId(f)));
    }
    if (files.length > 0) {
      const batch = await readImageBatch(files, opts.input.size);
      inputImages = splitItems(batch);
      const enc = await VaeRunner.create(first, 'encoder', { precision: 'fp32', device: opts.device });
      try {
        const mean = (await enc.run(batch, files.join(', '))).output;
        const items = splitItems(mean);
        for (const label of loaded.keys()) rawPerVae.set(label, items);
        files.forEach((f) => latents.push({ id: imageId(f), origin: `${f} encoded by ${opts.vaes[0].label}@fp32`, shape: [1, ...mean.shape.slice(1)] }));
      } finally {
        await enc.release();
      }
    } else {
      inputImages = [];
      for (const label of loaded.keys()) rawPerVae.set(label, []);
    }
  }
  const tEncode = performance.now();
  const ids = latents.map((l) => l.id);
  const dupId = ids.find((l, i) => ids.indexOf(l) !== i);
  if (dupId) throw new UsageError(`two latents are named ${JSON.stringify(dupId)}; give files distinct names`);
  if (opts.shard && opts.input.kind === 'latents') {
    // every latent is read (cheap) so the fingerprint covers the whole run; only this shard's are decoded
    const fingerprint = new InputsFingerprint();
    rawPerVae.get(opts.vaes[0].label)!.forEach((it, i) => fingerprint.add(latents[i].id, it.data));
    shardInputs = { allUnits: ids, inputsSha256: fingerprint.digest() };
    const mine = new Set(unitsOfShard(ids, opts.shard));
    const keep = latents.map((l) => mine.has(l.id));
    for (const [label, items] of rawPerVae) rawPerVae.set(label, items.filter((_, i) => keep[i]));
    const kept = latents.filter((_, i) => keep[i]);
    latents.length = 0;
    latents.push(...kept);
  }

  // decode every cell (the reference too, even when its precision is not a column)
  const cellsToRun: { vae: string; precision: Precision }[] = [];
  for (const v of opts.vaes) for (const p of opts.precisions) cellsToRun.push({ vae: v.label, precision: p });
  const refKey = cellKey(ref.label, ref.precision);
  if (!cellsToRun.some((c) => cellKey(c.vae, c.precision) === refKey)) cellsToRun.unshift({ vae: ref.label, precision: ref.precision });
  const outputs = new Map<string, ImageItem[]>();
  const seconds = new Map<string, { graph: number; decode: number }>();
  const tiling = new Map<string, TilingInfo>();
  for (const c of cellsToRun) {
    const key = cellKey(c.vae, c.precision);
    const items = rawPerVae.get(c.vae)!;
    if (items.length === 0) {
      // a shard without latents: nothing to decode, no graph to build
      seconds.set(key, { graph: 0, decode: 0 });
      outputs.set(key, []);
      continue;
    }
    progress({ cell: key, stage: 'graph', done: 0, total: items.length });
    const g0 = performance.now();
    const runner = await VaeRunner.create(loaded.get(c.vae)!, 'decoder', { precision: c.precision, device: opts.device });
    const g1 = performance.now();
    const decoded: ImageItem[] = [];
    try {
      for (let i = 0; i < items.length; i++) {
        progress({ cell: key, stage: 'decode', done: i, total: items.length });
        const it = items[i];
        const out = await runner.run({ shape: [1, it.c, it.h, it.w], data: it.data }, latents[i].origin);
        decoded.push(splitItems(out.output)[0]);
        if (out.tiling) tiling.set(key, out.tiling);
      }
    } finally {
      await runner.release();
    }
    seconds.set(key, { graph: (g1 - g0) / 1000, decode: (performance.now() - g1) / 1000 });
    outputs.set(key, decoded);
    progress({ cell: key, stage: 'done', done: items.length, total: items.length });
  }

  const refOut = outputs.get(refKey)!;
  const refRgb = refOut.map((r) => tensorToRgb8(r.data, r.c, r.h, r.w));
  const cells: CellResult[] = [];
  for (const v of opts.vaes) {
    for (const p of opts.precisions) {
      const key = cellKey(v.label, p);
      const items: ItemResult[] = outputs.get(key)!.map((img, i) => {
        const m = itemMetrics(refOut[i], img, refRgb[i]);
        const reasons: string[] = [];
        if (m.nan + m.inf > 0) reasons.push(`${(100 * m.nonFiniteFraction).toFixed(2)}% NaN/Inf`);
        else if (!(m.psnr >= opts.minPsnr)) reasons.push(Number.isNaN(m.psnr) ? 'reference is not finite' : `PSNR ${m.psnr.toFixed(2)} dB < ${opts.minPsnr}`);
        if (m.nan + m.inf === 0 && !Number.isNaN(m.ssim) && m.ssim < opts.minSsim) reasons.push(`SSIM ${m.ssim.toFixed(4)} < ${opts.minSsim}`);
        const r: ItemResult = { latent: latents[i].id, ...m, pass: reasons.length === 0, reasons };
        if (inputImages) r.psnrVsImage = itemMetrics(inputImages[i], img).psnr;
        return r;
      });
      const { psnr, ssim, psnrVsImage, nonFiniteFraction, pass, reasons } = cellStatistics(items);
      cells.push({
        vae: v.label,
        precision: p,
        key,
        isReference: key === refKey,
        items,
        psnr,
        ssim,
        ...(inputImages ? { psnrVsImage: psnrVsImage ?? meanStd([]) } : {}),
        nonFiniteFraction,
        pass,
        reasons,
        ...(tiling.has(key) ? { tiling: tiling.get(key) } : {}),
        seconds: seconds.get(key)!,
      });
    }
  }
  const firstTiled = [...tiling.values()][0];
  if (firstTiled) warnings.push(`${[...tiling.keys()].join(', ')}: ${describeTiling(firstTiled)}`);
  let shard: ShardRecord | undefined;
  if (opts.shard) {
    const weights: Record<string, string> = {};
    for (const [label, vae] of loaded) weights[label] = await sha256File(vae.weightsFile);
    shard = shardRecord(opts.shard, shardInputs!.allUnits, shardInputs!.inputsSha256, { weightsSha256: weights, input: opts.input.kind, device: opts.device ?? 'cpu' });
  }
  return {
    ...(shard ? { shard } : {}),
    vaes: opts.vaes.map((v) => {
      const l = loaded.get(v.label)!;
      return { label: v.label, source: l.source, weightsFile: l.weightsFile, naming: l.naming, storageDtype: l.storageDtype };
    }),
    precisions: opts.precisions,
    reference: { vae: ref.label, precision: ref.precision, key: refKey },
    latents,
    cells,
    thresholds: { minPsnr: opts.minPsnr, minSsim: opts.minSsim },
    warnings,
    outputs,
    inputImages,
    seconds: { total: (performance.now() - t0) / 1000, weights: (tWeights - t0) / 1000, encode: (tEncode - tWeights) / 1000 },
  };
}

function readImageBytes(file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new BadInputError(file, `cannot read image (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/**
 * A baseline: reference decodes recorded losslessly (float32 .npy) with the latents that made them and a
 * manifest (`manifest.json`, schema `vaecheck.baseline/1`) holding the VAE's sha256, each file's sha256,
 * the precisions, the vaecheck and onnxruntime versions, and per-decode metrics. Reading checks every
 * file against the manifest, so an edited or truncated baseline is refused.
 */
import type { OnProgress } from '../progress.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PRECISIONS, type Precision } from '../dtype.js';
import { BadInputError } from '../errors.js';
import { countNonFinite } from '../metrics/nonfinite.js';
import { sha256Bytes, sha256File } from '../io/sha256.js';
import { jsonProblem, quotePath, readRegularFile, readRegularText, resolveInside } from '../io/safe-path.js';
import { recoverInterrupted } from '../io/output-files.js';
import { runtimeVersion } from '../runtime/session.js';

import { encodeNpy, parseNpy } from '../tensors/npy.js';
import { type LatentSource, latentIds, resolveLatents } from '../decode.js';
import type { LoadedVae } from '../weights/load.js';
import { VaeRunner } from '../vae-runner.js';
import { unitsOfShard } from '../shard/rendezvous.js';
import { InputsFingerprint, type ShardRecord, shardRecord } from '../shard/shard-record.js';
import type { ShardSpec } from '../shard/shard-spec.js';
import { type Tensor, splitBatch } from '../tensor.js';
import { toJson } from '../format.js';

export const BASELINE_SCHEMA = 'vaecheck.baseline/1';

export interface BaselineCase {
  /** `<latent>@<precision>` */
  id: string;
  latent: string;
  precision: Precision;
  file: string;
  shape: number[];
  nan: number;
  inf: number;
  maxAbs: number;
}

export interface BaselineManifest {
  schema: string;
  vaecheck: string;
  onnxruntime: string;
  createdAt: string;
  vae: { source: string; weightsFile: string; sha256: string; naming: string; storageDtype: string };
  /** latent id -> file (raw latents, float32 .npy) and origin */
  latents: { id: string; file: string; origin: string; shape: number[] }[];
  precisions: Precision[];
  cases: BaselineCase[];
  /** relative path -> sha256 of every file in the baseline */
  files: Record<string, string>;
  /** only in a shard's manifest (baseline --shard i/n): what vaecheck merge needs to join the shards */
  shard?: ShardRecord;
}

/** Decodes the latents at each precision and returns the baseline's files (relative path -> bytes). */
export async function makeBaseline(vae: LoadedVae, sources: LatentSource[], precisions: Precision[], vaecheckVersion: string, shard?: ShardSpec, onProgress?: OnProgress): Promise<{ files: Map<string, Uint8Array>; manifest: BaselineManifest; warnings: string[] }> {
  const files = new Map<string, Uint8Array>();
  const latents: BaselineManifest['latents'] = [];
  let items: { id: string; raw: Tensor }[] = [];
  const warnings: string[] = [];
  for (const src of sources) {
    const l = resolveLatents(vae, src);
    warnings.push(...l.warnings);
    const ids = latentIds(src, l.raw.shape[0]);
    for (const [i, raw] of splitBatch(l.raw).entries()) {
      const id = ids[i];
      if (items.some((x) => x.id === id)) throw new BadInputError(src.file ?? id, `two latents are named ${JSON.stringify(id)}`);
      const file = `latents/${id}.npy`;
      files.set(file, encodeNpy(raw.shape, raw.data));
      latents.push({ id, file, origin: l.origin, shape: raw.shape });
      items.push({ id, raw });
    }
  }
  let record: ShardRecord | undefined;
  if (shard) {
    // every latent is read (cheap) so the fingerprint covers the whole run; only this shard's are decoded and written
    const fingerprint = new InputsFingerprint();
    for (const it of items) fingerprint.add(it.id, it.raw.data);
    const allUnits = items.map((it) => it.id);
    const mine = new Set(unitsOfShard(allUnits, shard));
    items = items.filter((it) => mine.has(it.id));
    for (let i = latents.length - 1; i >= 0; i--) {
      if (!mine.has(latents[i].id)) {
        files.delete(latents[i].file);
        latents.splice(i, 1);
      }
    }
    record = shardRecord(shard, allUnits, fingerprint.digest(), {});
  }
  const cases: BaselineCase[] = [];
  const total = precisions.length * items.length;
  for (const [pi, precision] of precisions.entries()) {
    if (items.length === 0) break;
    const task = `baseline ${vae.label}@${precision}`;
    onProgress?.({ task, stage: 'building graph', done: pi * items.length, total });
    const runner = await VaeRunner.create(vae, 'decoder', { precision });
    try {
      for (const [i, it] of items.entries()) {
        onProgress?.({ task, stage: `decoding ${it.id}`, done: pi * items.length + i, total });
        const out = (await runner.run(it.raw, it.id)).output;
        const nf = countNonFinite(out.data);
        let maxAbs = 0;
        for (const x of out.data) if (Number.isFinite(x) && Math.abs(x) > maxAbs) maxAbs = Math.abs(x);
        const file = `decoded/${it.id}@${precision}.npy`;
        files.set(file, encodeNpy(out.shape, out.data));
        cases.push({ id: `${it.id}@${precision}`, latent: it.id, precision, file, shape: out.shape, nan: nf.nan, inf: nf.inf, maxAbs });
        if (nf.nan + nf.inf > 0) warnings.push(`the baseline decode ${it.id}@${precision} holds ${nf.nan} NaN and ${nf.inf} Inf values`);
      }
    } finally {
      await runner.release();
    }
  }
  const manifest: BaselineManifest = {
    schema: BASELINE_SCHEMA,
    vaecheck: vaecheckVersion,
    onnxruntime: runtimeVersion(),
    createdAt: new Date().toISOString(),
    vae: { source: vae.source, weightsFile: vae.weightsFile, sha256: await sha256File(vae.weightsFile), naming: vae.naming, storageDtype: vae.storageDtype },
    latents,
    precisions,
    cases,
    files: Object.fromEntries([...files].map(([p, b]) => [p, sha256Bytes(b)])),
    ...(record ? { shard: record } : {}),
  };
  files.set('manifest.json', new TextEncoder().encode(toJson(manifest) + '\n'));
  return { files, manifest, warnings };
}

export interface LoadedBaseline {
  dir: string;
  manifest: BaselineManifest;
  latents: Map<string, Tensor>;
  decoded: Map<string, Tensor>;
}

/**
 * The files an earlier baseline in `dir` consists of (its manifest and every file it lists), so that
 * `baseline --force` may replace them; undefined when `dir` holds no readable manifest.
 */
export function baselineFiles(dir: string): string[] | undefined {
  try {
    const m = JSON.parse(readRegularText(join(dir, 'manifest.json'))) as BaselineManifest;
    if (m?.schema !== BASELINE_SCHEMA || typeof m.files !== 'object' || m.files === null) return undefined;
    return ['manifest.json', ...Object.keys(m.files)];
  } catch {
    return undefined;
  }
}

/** Reads a baseline, verifying every file against the manifest. @throws BadInputError (exit 3) */
export function readBaseline(dir: string): LoadedBaseline {
  // a baseline --force killed mid-swap is put back (or finished) before it is read
  recoverInterrupted(dir);
  const mpath = join(dir, 'manifest.json');
  let manifest: BaselineManifest;
  let text: string;
  try {
    text = readRegularText(mpath);
  } catch (e) {
    if (e instanceof BadInputError && e.problem === 'file not found') throw new BadInputError(mpath, 'no baseline here (manifest.json not found); record one with vaecheck baseline');
    throw e;
  }
  try {
    manifest = JSON.parse(text);
  } catch (e) {
    throw new BadInputError(mpath, `manifest is ${jsonProblem(e).replace('invalid JSON', 'not valid JSON')}`);
  }
  if (manifest?.schema !== BASELINE_SCHEMA) throw new BadInputError(mpath, `not a vaecheck baseline manifest (schema ${quotePath(String(manifest?.schema))}, expected ${BASELINE_SCHEMA})`);
  if (manifest.shard) {
    const sh = manifest.shard as Partial<ShardRecord>;
    throw new BadInputError(mpath, `is shard ${sh.index}/${sh.total} of a baseline, not a whole one: join all shards with vaecheck merge <shard folders…> --out <baseline>`);
  }
  if (!Array.isArray(manifest.cases) || !Array.isArray(manifest.latents) || !Array.isArray(manifest.precisions) || typeof manifest.files !== 'object' || manifest.files === null) {
    throw new BadInputError(mpath, 'manifest lacks cases, latents, precisions or files');
  }
  checkManifest(mpath, manifest);
  const read = (rel: string): Tensor => {
    const want = Object.prototype.hasOwnProperty.call(manifest.files, rel) ? manifest.files[rel] : undefined;
    const path = join(dir, rel);
    if (typeof want !== 'string') throw new BadInputError(path, 'is not listed in the baseline manifest');
    if (!/^[0-9a-f]{64}$/.test(want)) throw new BadInputError(mpath, `the sha256 of ${quotePath(rel)} is not 64 hex digits`);
    // a path from the manifest: it must stay inside the baseline folder (no ../, no link out)
    const real = resolveInsideOrMissing(dir, rel, mpath, path);
    const bytes = readRegularFile(real, MAX_BASELINE_FILE);
    if (sha256Bytes(bytes) !== want) throw new BadInputError(path, 'does not match the baseline manifest (sha256 differs: edited or truncated); record the baseline again');
    const a = parseNpy(path, bytes);
    return { shape: a.shape, data: a.data };
  };
  const latents = new Map(manifest.latents.map((l) => [l.id, read(l.file)]));
  const decoded = new Map(manifest.cases.map((c) => [c.id, read(c.file)]));
  // the tensors must be what the manifest says they are (a decode of that latent, batch 1)
  for (const l of manifest.latents) {
    const t = latents.get(l.id)!;
    if (t.shape.length !== 4 || t.shape[0] !== 1) throw new BadInputError(join(dir, l.file), `holds a tensor of shape [${t.shape}], expected one latent [1, C, H, W]`);
  }
  for (const c of manifest.cases) {
    const t = decoded.get(c.id)!;
    if (t.shape.length !== 4 || t.shape[0] !== 1 || t.shape.join() !== c.shape.join()) {
      throw new BadInputError(join(dir, c.file), `holds a tensor of shape [${t.shape}], the manifest says [${c.shape}]`);
    }
  }
  return { dir, manifest, latents, decoded };
}

/** A baseline file larger than this is refused before it is read (a 1024x1024 decode is 12 MiB). */
const MAX_BASELINE_FILE = 1 << 30;

/** resolveInside, with a missing file reported as a missing baseline file. */
function resolveInsideOrMissing(dir: string, rel: string, mpath: string, path: string): string {
  try {
    return resolveInside(dir, rel, mpath, 'file entry');
  } catch (e) {
    if (e instanceof BadInputError && /: file not found$/.test(e.problem)) throw new BadInputError(path, 'baseline file is missing');
    throw e;
  }
}

/**
 * A manifest that parses but does not describe a usable baseline (hand-edited, or from another
 * version) is bad input, refused before anything is read: every latent needs a decode at every
 * listed precision, and every decode a listed latent and precision.
 */
function checkManifest(mpath: string, m: BaselineManifest): void {
  const bad = (what: string) => new BadInputError(mpath, `inconsistent baseline manifest: ${what}; record the baseline again`);
  const str = (x: unknown) => typeof x === 'string' && x.length > 0;
  if (m.precisions.length === 0) throw bad('no precisions');
  for (const p of m.precisions) if (!PRECISIONS.includes(p)) throw bad(`unknown precision ${JSON.stringify(p)}`);
  if (m.latents.length === 0) throw bad('no latents');
  const ids = new Set<string>();
  for (const l of m.latents) {
    if (!l || !str(l.id) || !str(l.file)) throw bad('a latent without id or file');
    if (ids.has(l.id)) throw bad(`latent ${JSON.stringify(l.id)} listed twice`);
    ids.add(l.id);
  }
  const cases = new Set<string>();
  for (const c of m.cases) {
    if (!c || !str(c.id) || !str(c.file) || !Array.isArray(c.shape) || c.shape.length !== 4 || !c.shape.every((d) => Number.isSafeInteger(d) && d > 0)) throw bad('a decode without id, file or a shape of 4 positive integers');
    if (!ids.has(c.latent) || !m.precisions.includes(c.precision) || c.id !== `${c.latent}@${c.precision}`) throw bad(`decode ${JSON.stringify(c.id)} does not match its latent and precision`);
    if (cases.has(c.id)) throw bad(`decode ${JSON.stringify(c.id)} listed twice`);
    cases.add(c.id);
  }
  for (const l of m.latents) for (const p of m.precisions) if (!cases.has(`${l.id}@${p}`)) throw bad(`no decode of ${JSON.stringify(l.id)} at ${p}`);
}

/**
 * A baseline: reference decodes recorded losslessly (float32 .npy) with the latents that made them and a
 * manifest (`manifest.json`, schema `vaecheck.baseline/1`) holding the VAE's sha256, each file's sha256,
 * the precisions, the vaecheck and onnxruntime versions, and per-decode metrics. Reading checks every
 * file against the manifest, so an edited or truncated baseline is refused.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Precision } from '../dtype.js';
import { BadInputError } from '../errors.js';
import { countNonFinite } from '../metrics/nonfinite.js';
import { sha256Bytes, sha256File } from '../io/sha256.js';
import type { FloatTensor } from '../runtime/session.js';
import { runtimeVersion } from '../runtime/session.js';
import { encodeNpy, parseNpy } from '../tensors/npy.js';
import { type LatentSource, resolveLatents } from '../decode.js';
import type { LoadedVae } from '../weights/load.js';
import { VaeRunner } from '../vae-runner.js';

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
}

/** Decodes the latents at each precision and returns the baseline's files (relative path -> bytes). */
export async function makeBaseline(vae: LoadedVae, sources: LatentSource[], precisions: Precision[], vaecheckVersion: string): Promise<{ files: Map<string, Uint8Array>; manifest: BaselineManifest; warnings: string[] }> {
  const files = new Map<string, Uint8Array>();
  const latents: BaselineManifest['latents'] = [];
  const items: { id: string; raw: FloatTensor }[] = [];
  const warnings: string[] = [];
  for (const src of sources) {
    const l = resolveLatents(vae, src);
    warnings.push(...l.warnings);
    const base = src.file ? src.file.replace(/^.*[/\\]/, '').replace(/\.(npy|safetensors)$/i, '') : `random-${src.random!.seed}`;
    const [n, c, h, w] = l.raw.shape;
    for (let i = 0; i < n; i++) {
      const id = n === 1 ? base : `${base}-${i}`;
      if (items.some((x) => x.id === id)) throw new BadInputError(src.file ?? id, `two latents are named ${JSON.stringify(id)}`);
      const raw = { shape: [1, c, h, w], data: l.raw.data.slice(i * c * h * w, (i + 1) * c * h * w) };
      const file = `latents/${id}.npy`;
      files.set(file, encodeNpy(raw.shape, raw.data));
      latents.push({ id, file, origin: l.origin, shape: raw.shape });
      items.push({ id, raw });
    }
  }
  const cases: BaselineCase[] = [];
  for (const precision of precisions) {
    const runner = await VaeRunner.create(vae, 'decoder', { precision });
    try {
      for (const it of items) {
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
  };
  files.set('manifest.json', new TextEncoder().encode(JSON.stringify(manifest, null, 2) + '\n'));
  return { files, manifest, warnings };
}

export interface LoadedBaseline {
  dir: string;
  manifest: BaselineManifest;
  latents: Map<string, FloatTensor>;
  decoded: Map<string, FloatTensor>;
}

/** Reads a baseline, verifying every file against the manifest. @throws BadInputError (exit 3) */
export function readBaseline(dir: string): LoadedBaseline {
  const mpath = join(dir, 'manifest.json');
  let manifest: BaselineManifest;
  try {
    manifest = JSON.parse(readFileSync(mpath, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BadInputError(mpath, code === 'ENOENT' ? 'no baseline here (manifest.json not found); record one with vaecheck baseline' : `manifest is not valid JSON (${(e as Error).message.slice(0, 80)})`);
  }
  if (manifest?.schema !== BASELINE_SCHEMA) throw new BadInputError(mpath, `not a vaecheck baseline manifest (schema ${JSON.stringify(manifest?.schema)}, expected ${BASELINE_SCHEMA})`);
  if (!Array.isArray(manifest.cases) || !Array.isArray(manifest.latents) || typeof manifest.files !== 'object' || manifest.files === null) {
    throw new BadInputError(mpath, 'manifest lacks cases, latents or files');
  }
  const read = (rel: string): FloatTensor => {
    const want = manifest.files[rel];
    const path = join(dir, rel);
    if (typeof want !== 'string') throw new BadInputError(path, 'is not listed in the baseline manifest');
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch {
      throw new BadInputError(path, 'baseline file is missing');
    }
    if (sha256Bytes(bytes) !== want) throw new BadInputError(path, 'does not match the baseline manifest (sha256 differs: edited or truncated); record the baseline again');
    const a = parseNpy(path, bytes);
    return { shape: a.shape, data: a.data };
  };
  const latents = new Map(manifest.latents.map((l) => [l.id, read(l.file)]));
  const decoded = new Map(manifest.cases.map((c) => [c.id, read(c.file)]));
  return { dir, manifest, latents, decoded };
}

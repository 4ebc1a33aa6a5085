/**
 * Joins the folders of `vaecheck baseline --shard i/n` runs into one baseline, as one unsharded run
 * records it: every latent and decode copied after checking its sha256 against its shard's manifest,
 * the manifest's latents, cases and files in the unsharded order (latents in run order; decodes by
 * precision, then latent), and no shard block.
 */
import { join } from 'node:path';
import { BASELINE_SCHEMA, type BaselineCase, type BaselineManifest } from '../gate/baseline.js';
import { BadInputError } from '../errors.js';
import { sha256Bytes } from '../io/sha256.js';
import { type ShardOutput, checkShardSet, readShardRecord } from '../shard/shard-record.js';
import { readInside, readJsonFile } from './shard-folder.js';

interface BaselineShard extends ShardOutput {
  dir: string;
  manifest: BaselineManifest;
}

function readBaselineShard(dir: string): BaselineShard {
  const file = join(dir, 'manifest.json');
  const manifest = readJsonFile(file) as unknown as BaselineManifest;
  if (manifest.schema !== BASELINE_SCHEMA) throw new BadInputError(file, `is not a baseline manifest (schema ${JSON.stringify(manifest.schema)}, expected ${BASELINE_SCHEMA})`);
  const record = readShardRecord(file, manifest.shard);
  if (!Array.isArray(manifest.latents) || !Array.isArray(manifest.cases) || !Array.isArray(manifest.precisions) || !manifest.files || typeof manifest.files !== 'object' || !manifest.vae) {
    throw new BadInputError(file, 'lacks vae, latents, precisions, cases or files');
  }
  return {
    dir,
    file,
    manifest,
    record,
    identity: {
      vaecheck: manifest.vaecheck,
      onnxruntime: manifest.onnxruntime,
      'vae sha256': manifest.vae.sha256,
      'vae naming': manifest.vae.naming,
      'vae storage dtype': manifest.vae.storageDtype,
      precisions: manifest.precisions,
    },
  };
}

/** A file of the shard, checked against the sha256 its manifest lists. */
function verifiedFile(s: BaselineShard, rel: string): Uint8Array {
  const want = s.manifest.files[rel];
  if (typeof want !== 'string') throw new BadInputError(join(s.dir, rel), `is not listed in ${s.file}`);
  const bytes = readInside(s.dir, rel, s.file);
  if (sha256Bytes(bytes) !== want) throw new BadInputError(join(s.dir, rel), `does not match ${s.file} (sha256 differs: edited or truncated); run the shard again`);
  return bytes;
}

export interface MergedBaseline {
  files: Map<string, Uint8Array>;
  manifest: BaselineManifest;
  shards: number;
}

/** @param dirs the shards' --out folders, in any order */
export function mergeBaseline(dirs: readonly string[]): MergedBaseline {
  const shards = checkShardSet(dirs.map(readBaselineShard)) as BaselineShard[];
  const first = shards[0].manifest;
  const allUnits = shards[0].record.allUnits;
  const latentOf = new Map<string, { shard: BaselineShard; latent: BaselineManifest['latents'][number] }>();
  const caseOf = new Map<string, { shard: BaselineShard; c: BaselineCase }>();
  for (const s of shards) {
    const ids = s.manifest.latents.map((l) => l?.id);
    if (JSON.stringify(ids) !== JSON.stringify(s.record.units)) throw new BadInputError(s.file, `its latents ${JSON.stringify(ids).slice(0, 60)} are not its shard's units`);
    for (const l of s.manifest.latents) latentOf.set(l.id, { shard: s, latent: l });
    for (const c of s.manifest.cases) {
      if (!c || !s.record.units.includes(c.latent) || !first.precisions.includes(c.precision) || c.id !== `${c.latent}@${c.precision}` || caseOf.has(c.id)) {
        throw new BadInputError(s.file, `decode ${JSON.stringify(c?.id)} is not one of its latents at one of its precisions, or is listed twice`);
      }
      caseOf.set(c.id, { shard: s, c });
    }
  }
  const files = new Map<string, Uint8Array>();
  const latents = allUnits.map((u) => {
    const { shard, latent } = latentOf.get(u)!;
    files.set(latent.file, verifiedFile(shard, latent.file));
    return latent;
  });
  const cases: BaselineCase[] = [];
  for (const p of first.precisions) {
    for (const u of allUnits) {
      const hit = caseOf.get(`${u}@${p}`);
      if (!hit) throw new BadInputError(latentOf.get(u)!.shard.file, `has no decode of ${JSON.stringify(u)} at ${p}`);
      files.set(hit.c.file, verifiedFile(hit.shard, hit.c.file));
      cases.push(hit.c);
    }
  }
  const manifest: BaselineManifest = {
    schema: BASELINE_SCHEMA,
    vaecheck: first.vaecheck,
    onnxruntime: first.onnxruntime,
    createdAt: new Date().toISOString(),
    vae: first.vae,
    latents,
    precisions: first.precisions,
    cases,
    files: Object.fromEntries([...files].map(([p, b]) => [p, sha256Bytes(b)])),
  };
  files.set('manifest.json', new TextEncoder().encode(JSON.stringify(manifest, null, 2) + '\n'));
  return { files, manifest, shards: shards.length };
}

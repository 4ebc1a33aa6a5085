/**
 * A Hub spec to a local path that loadVae reads, through the Hugging Face cache:
 *
 *  1. the cache first: when refs/<revision> (or the commit given) names a snapshot that already
 *     holds the VAE's files, they are used as they are, without any request (each blob is checked
 *     against its own name, the sha256 or git blob id, so a corrupted entry is reported, not used);
 *  2. with HF_HUB_OFFLINE set, nothing else: a VAE that is not cached is an error that says how to
 *     fetch it;
 *  3. otherwise the Hub: the revision's commit and file list, the VAE's files chosen from it (see
 *     vae-files.ts), each missing one downloaded into blobs/ and linked from snapshots/<commit>/,
 *     and refs/<revision> written last.
 *
 * A cached revision (e.g. `main`) is not re-checked against the Hub: pass `@<commit>` or delete
 * refs/<revision> in the cache to move to a newer commit.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { BadInputError } from '../errors.js';
import { checkBlob } from './blob-hash.js';
import { RepoCache } from './cache-layout.js';
import { type DownloadOptions, downloadBlob } from './download.js';
import { type Env, type HubEnv, hubEnv } from './env.js';
import { type HubContext, fileMetadata, repoRevision } from './hub-api.js';
import { HubCorruptBlobError, HubNotCachedError, downloadCommand } from './hub-errors.js';
import { type HubSpec, specDisplay } from './spec.js';
import { type VaeFiles, chooseVaeFiles } from './vae-files.js';

export interface ResolveHubOptions extends DownloadOptions {
  /** prefer `diffusion_pytorch_model.<variant>.safetensors` (e.g. 'fp16') */
  variant?: string;
  /** the environment to read HF_* variables from (default process.env) */
  env?: Env;
  /** the fetch to use (default: global fetch) */
  fetch?: typeof fetch;
}

export interface ResolvedHubVae {
  spec: HubSpec;
  /** what loadVae takes: the snapshot folder of a diffusers VAE, or the single weights file */
  path: string;
  /** the weights file inside the snapshot */
  weightsFile: string;
  commit: string;
  /** the repo files the VAE is made of */
  files: string[];
  /** repo files downloaded by this call (empty on a cache hit) */
  downloaded: string[];
}

type Chosen = Exclude<VaeFiles, { kind: 'none' }>;

function result(spec: HubSpec, cache: RepoCache, commit: string, choice: Chosen, downloaded: string[]): ResolvedHubVae {
  const snap = cache.snapshotDir(commit);
  const path = choice.kind === 'diffusers' ? (choice.dir ? join(snap, ...choice.dir.split('/')) : snap) : cache.pointerPath(commit, choice.weights);
  return { spec, path, weightsFile: cache.pointerPath(commit, choice.weights), commit, files: choice.files, downloaded };
}

/**
 * Checks a cached snapshot file: it must stay inside the cache (a symlink into this repo's blobs/, or
 * a plain file inside the snapshot) and be a regular file; a blob is checked against its own name.
 */
async function verifyCached(spec: HubSpec, cache: RepoCache, commit: string, file: string): Promise<void> {
  const { blob } = cache.checkedFile(commit, file);
  if (!blob) return; // a plain file (no symlinks where it was written): nothing to check it against
  const bad = await checkBlob(blob, basename(blob), statSync(blob).size);
  if (bad) throw new HubCorruptBlobError(blob, `${spec.repo}/${file}`, bad);
}

/** The VAE from the cache alone, or null when the cache does not hold it. */
async function fromCache(spec: HubSpec, cache: RepoCache, env: HubEnv, variant?: string): Promise<ResolvedHubVae | null> {
  const commit = cache.commitFor(spec.revision);
  if (!commit || !existsSync(cache.snapshotDir(commit))) return null;
  const choice = chooseVaeFiles(cache.snapshotFiles(commit), spec.subfolder, variant, spec.repo);
  // online, weights other than the variant asked for are not a hit: the Hub may have the right ones
  if (choice.kind === 'none' || (choice.fallback && !env.offline)) return null;
  for (const f of choice.files) await verifyCached(spec, cache, commit, f);
  return result(spec, cache, commit, choice, []);
}

/** Makes snapshots/<commit>/<file> present; true when it had to download the blob. */
async function ensureFile(ctx: HubContext, cache: RepoCache, commit: string, file: string, opts: DownloadOptions): Promise<boolean> {
  if (existsSync(cache.pointerPath(commit, file))) {
    await verifyCached(ctx.spec, cache, commit, file);
    return false;
  }
  const meta = await fileMetadata(ctx, commit, file);
  const blob = cache.blobPath(meta.etag);
  let downloaded = false;
  if (existsSync(blob)) {
    const bad = await checkBlob(blob, meta.etag, meta.size);
    if (bad) throw new HubCorruptBlobError(blob, `${ctx.spec.repo}/${file}`, bad);
  } else {
    await downloadBlob(ctx, file, meta, blob, opts);
    downloaded = true;
  }
  cache.link(commit, file, meta.etag);
  return downloaded;
}

export async function resolveHubVae(spec: HubSpec, opts: ResolveHubOptions = {}): Promise<ResolvedHubVae> {
  const env = hubEnv(opts.env);
  const cache = new RepoCache(env.cacheDir, spec.repo);
  const hit = await fromCache(spec, cache, env, opts.variant);
  if (hit) return hit;
  if (env.offline) throw new HubNotCachedError(spec, env.cacheDir, downloadCommand(spec, opts.variant));

  const ctx: HubContext = { spec, env, fetch: opts.fetch };
  const { commit, files } = await repoRevision(ctx);
  const choice = chooseVaeFiles(files, spec.subfolder, opts.variant, spec.repo);
  if (choice.kind === 'none') throw new BadInputError(specDisplay(spec), choice.reason);
  const downloaded: string[] = [];
  for (const f of choice.files) if (await ensureFile(ctx, cache, commit, f, opts)) downloaded.push(f);
  cache.writeRef(spec.revision, commit);
  return result(spec, cache, commit, choice, downloaded);
}

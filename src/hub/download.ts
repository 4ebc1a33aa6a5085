/**
 * Downloads one blob into the cache: into `blobs/<etag>.incomplete` (continued with a Range request
 * when a previous run or attempt was cut off), checked against the Hub's size and hash, and only
 * then renamed to `blobs/<etag>`. A blob under its final name is always whole and verified; a
 * mismatch deletes the part and caches nothing.
 */
import { existsSync, mkdirSync, renameSync, rmSync, statSync, truncateSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { VaecheckError, BadInputError } from '../errors.js';
import { BlobHasher, hashFileInto } from './blob-hash.js';
import { type FileMetadata, type HubContext, requestHeaders } from './hub-api.js';
import { hubHttpError } from './hub-errors.js';
import { specDisplay } from './spec.js';

export interface DownloadProgress {
  repo: string;
  /** the repo file being downloaded */
  file: string;
  /** bytes in the cache so far (a resumed download starts above 0) */
  done: number;
  total: number;
  state: 'start' | 'data' | 'done';
}

export interface DownloadOptions {
  onProgress?: (e: DownloadProgress) => void;
  /** attempts after a cut connection within this call, each resuming with Range (default 3) */
  retries?: number;
  /** abort an attempt that receives nothing for this long (default 60 s) */
  idleTimeoutMs?: number;
}

class Interrupted extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Downloads `meta` into `blob` (a path in blobs/) for `file` of the context's repo. */
export async function downloadBlob(ctx: HubContext, file: string, meta: FileMetadata, blob: string, opts: DownloadOptions = {}): Promise<void> {
  const { spec, env } = ctx;
  const { size, etag } = meta;
  const incomplete = `${blob}.incomplete`;
  const retries = opts.retries ?? 3;
  const idleMs = opts.idleTimeoutMs ?? 60_000;
  const emit = (done: number, state: DownloadProgress['state']) => opts.onProgress?.({ repo: spec.repo, file, done, total: size, state });
  mkdirSync(dirname(blob), { recursive: true });

  let have = existsSync(incomplete) ? statSync(incomplete).size : 0;
  if (have > size) {
    rmSync(incomplete, { force: true });
    have = 0;
  }
  let hasher = new BlobHasher(etag, size);
  if (have > 0) await hashFileInto(incomplete, hasher, have);
  const restart = () => {
    truncateSync(incomplete, 0);
    have = 0;
    hasher = new BlobHasher(etag, size);
  };
  emit(have, 'start');

  let failures = 0;
  let lastWhy = '';
  while (have < size || !existsSync(incomplete)) {
    const ac = new AbortController();
    let timer = setTimeout(() => ac.abort(), idleMs);
    const touch = () => {
      clearTimeout(timer);
      timer = setTimeout(() => ac.abort(), idleMs);
    };
    try {
      const extra: Record<string, string> = { 'Accept-Encoding': 'identity' };
      if (have > 0) extra.Range = `bytes=${have}-`;
      // plain fetch: a failed connection is retried like a cut one
      const res = await (ctx.fetch ?? fetch)(meta.location, { headers: requestHeaders(meta.location, env, extra), redirect: 'follow', signal: ac.signal });
      if (have > 0 && res.status === 200) {
        restart(); // the server ignored the Range: take the whole body
      } else if (have > 0 && res.status === 206) {
        const start = Number(/^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1]);
        if (start !== have) {
          await res.body?.cancel();
          restart();
          continue;
        }
      } else if (res.status === 416) {
        await res.body?.cancel();
        restart();
        continue;
      } else if (!res.ok) {
        throw hubHttpError(spec, { status: res.status, errorCode: res.headers.get('x-error-code') }, { endpoint: env.endpoint, token: env.token, file });
      }
      const fh = await open(incomplete, 'a');
      try {
        if (res.body) {
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            touch();
            if (have + chunk.length > size) {
              rmSync(incomplete, { force: true });
              throw new BadInputError(specDisplay(spec), `the download of ${file} is longer than the Hub's ${size} bytes: nothing was cached`);
            }
            await fh.write(chunk);
            hasher.update(chunk);
            have += chunk.length;
            emit(have, 'data');
          }
        }
      } finally {
        await fh.close();
      }
      if (have < size) throw new Interrupted(`the connection closed after ${have} of ${size} bytes`);
    } catch (e) {
      if (e instanceof VaecheckError) throw e;
      const err = e as { message?: string; cause?: { code?: string; message?: string } };
      lastWhy = ac.signal.aborted ? `nothing received for ${Math.round(idleMs / 1000)} s` : (err?.cause?.message ?? err?.cause?.code ?? err?.message ?? String(e));
      failures++;
      if (failures > retries) {
        throw new BadInputError(
          specDisplay(spec),
          `the download of ${file} was cut off at ${have} of ${size} bytes (${lastWhy}); the part is kept in ${incomplete} and the next run resumes it`,
        );
      }
      await sleep(Math.min(250 * failures, 2000));
    } finally {
      clearTimeout(timer);
    }
  }
  const got = hasher.digest();
  if (got !== null && got !== etag) {
    rmSync(incomplete, { force: true });
    throw new BadInputError(
      specDisplay(spec),
      `the download of ${file} does not match the Hub's ${hasher.kind === 'sha256' ? 'sha256' : 'git blob sha1'} (got ${got}, expected ${etag}): nothing was cached; run again`,
    );
  }
  renameSync(incomplete, blob);
  emit(size, 'done');
}

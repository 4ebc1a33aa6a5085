/**
 * Downloads one blob into the cache: into `blobs/<etag>.incomplete` (continued with a Range request
 * when a previous run or attempt was cut off), checked against the Hub's size and hash, and only
 * then renamed to `blobs/<etag>`. A blob under its final name is always whole and verified; a
 * mismatch deletes the part and caches nothing. Failures on the way are HubErrors (exit 5).
 */
import { existsSync, mkdirSync, renameSync, rmSync, statSync, truncateSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { HubError, VaecheckError } from '../errors.js';
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

/** A connection that ended before the whole blob arrived: the next attempt resumes. */
class Interrupted extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The `.incomplete` part of one blob: how much of it is there, and the hash of those bytes. */
class PartialBlob {
  have = 0;
  hasher: BlobHasher;
  readonly path: string;

  private constructor(path: string, private readonly meta: FileMetadata) {
    this.path = path;
    this.hasher = new BlobHasher(meta.etag, meta.size);
  }

  /** Opens the part a previous run left (dropped when longer than the blob can be), hashing what it holds. */
  static async resume(blob: string, meta: FileMetadata): Promise<PartialBlob> {
    const p = new PartialBlob(`${blob}.incomplete`, meta);
    p.have = existsSync(p.path) ? statSync(p.path).size : 0;
    if (p.have > meta.size) {
      rmSync(p.path, { force: true });
      p.have = 0;
    }
    if (p.have > 0) await hashFileInto(p.path, p.hasher, p.have);
    return p;
  }

  get complete(): boolean {
    return this.have >= this.meta.size && existsSync(this.path);
  }

  /** Starts over from byte 0 (the server ignored or could not honour the Range). */
  restart(): void {
    truncateSync(this.path, 0);
    this.have = 0;
    this.hasher = new BlobHasher(this.meta.etag, this.meta.size);
  }
}

/** Downloads `meta` into `blob` (a path in blobs/) for `file` of the context's repo. */
export async function downloadBlob(ctx: HubContext, file: string, meta: FileMetadata, blob: string, opts: DownloadOptions = {}): Promise<void> {
  const retries = opts.retries ?? 3;
  const idleMs = opts.idleTimeoutMs ?? 60_000;
  const emit = (done: number, state: DownloadProgress['state']) => opts.onProgress?.({ repo: ctx.spec.repo, file, done, total: meta.size, state });
  mkdirSync(dirname(blob), { recursive: true });
  const part = await PartialBlob.resume(blob, meta);
  emit(part.have, 'start');
  let failures = 0;
  while (!part.complete) {
    const ac = new AbortController();
    const idle = new IdleTimer(ac, idleMs);
    try {
      await attempt(ctx, file, meta, part, ac.signal, () => {
        idle.touch();
        emit(part.have, 'data');
      });
    } catch (e) {
      if (e instanceof VaecheckError) throw e;
      failures++;
      const why = ac.signal.aborted ? `nothing received for ${Math.round(idleMs / 1000)} s` : reasonOf(e);
      if (failures > retries) {
        throw new HubError(specDisplay(ctx.spec), `the download of ${file} was cut off at ${part.have} of ${meta.size} bytes (${why}); the part is kept in ${part.path} and the next run resumes it`);
      }
      await sleep(Math.min(250 * failures, 2000));
    } finally {
      idle.stop();
    }
  }
  verifyAndKeep(ctx, file, meta, part, blob);
  emit(meta.size, 'done');
}

/** Aborts an attempt that receives nothing for `ms`. */
class IdleTimer {
  private timer: ReturnType<typeof setTimeout>;
  constructor(private readonly ac: AbortController, private readonly ms: number) {
    this.timer = setTimeout(() => ac.abort(), ms);
  }
  touch(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.ac.abort(), this.ms);
  }
  stop(): void {
    clearTimeout(this.timer);
  }
}

/**
 * One request: asks for the rest of the blob (Range from what the part holds) and appends what
 * arrives. Returns when the body ends (whole, or restarted when the answer does not continue the
 * part); throws Interrupted when it ended early, a VaecheckError for an answer that is final.
 */
async function attempt(ctx: HubContext, file: string, meta: FileMetadata, part: PartialBlob, signal: AbortSignal, onData: () => void): Promise<void> {
  const { spec, env } = ctx;
  const extra: Record<string, string> = { 'Accept-Encoding': 'identity' };
  if (part.have > 0) extra.Range = `bytes=${part.have}-`;
  // plain fetch: a failed connection is retried like a cut one
  const res = await (ctx.fetch ?? fetch)(meta.location, { headers: requestHeaders(meta.location, env, extra), redirect: 'follow', signal });
  if (!(await continuesPart(res, part))) return;
  if (!res.ok) throw hubHttpError(spec, { status: res.status, errorCode: res.headers.get('x-error-code') }, { endpoint: env.endpoint, token: env.token, file });
  await appendBody(res, part, meta.size, onData, () => new HubError(specDisplay(spec), `the download of ${file} is longer than the Hub's ${meta.size} bytes: nothing was cached`));
  if (part.have < meta.size) throw new Interrupted(`the connection closed after ${part.have} of ${meta.size} bytes`);
}

/**
 * Whether the response's body continues the part. A 200 to a Range request (the server ignored it)
 * restarts the part and takes the whole body; a 206 that starts elsewhere, or a 416, restarts the
 * part and asks again (false).
 */
async function continuesPart(res: Response, part: PartialBlob): Promise<boolean> {
  if (part.have > 0 && res.status === 200) {
    part.restart();
    return true;
  }
  if (part.have > 0 && res.status === 206) {
    const start = Number(/^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1]);
    if (start === part.have) return true;
    await res.body?.cancel();
    part.restart();
    return false;
  }
  if (res.status === 416) {
    await res.body?.cancel();
    part.restart();
    return false;
  }
  return true;
}

/** Appends the body to the part, hashing as it goes; a body longer than the blob deletes the part. */
async function appendBody(res: Response, part: PartialBlob, size: number, onData: () => void, tooLong: () => Error): Promise<void> {
  const fh = await open(part.path, 'a');
  try {
    if (!res.body) return;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      if (part.have + chunk.length > size) {
        rmSync(part.path, { force: true });
        throw tooLong();
      }
      await fh.write(chunk);
      part.hasher.update(chunk);
      part.have += chunk.length;
      onData();
    }
  } finally {
    await fh.close();
  }
}

/** Checks the whole part against the Hub's hash and renames it to the blob's name; a mismatch deletes it. */
function verifyAndKeep(ctx: HubContext, file: string, meta: FileMetadata, part: PartialBlob, blob: string): void {
  const got = part.hasher.digest();
  if (got !== null && got !== meta.etag) {
    rmSync(part.path, { force: true });
    throw new HubError(
      specDisplay(ctx.spec),
      `the download of ${file} does not match the Hub's ${part.hasher.kind === 'sha256' ? 'sha256' : 'git blob sha1'} (got ${got}, expected ${meta.etag}): nothing was cached; run again`,
    );
  }
  renameSync(part.path, blob);
}

function reasonOf(e: unknown): string {
  const err = e as { message?: string; cause?: { code?: string; message?: string } };
  return err?.cause?.message ?? err?.cause?.code ?? err?.message ?? String(e);
}

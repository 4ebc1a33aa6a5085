/**
 * What a blob's etag promises about its bytes. The Hub's etag of an LFS file (X-Linked-Etag) is the
 * sha256 of its contents; that of a regular git file (config.json) is its git blob id:
 * sha1("blob <size>\0" + contents). The cache names blobs by etag, so a cached blob can be checked
 * against its own name without the network.
 */
import { type Hash, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export type EtagKind = 'sha256' | 'git-sha1' | 'opaque';

/** Python's _normalize_etag: drops a weak `W/` and the quotes. */
export function normalizeEtag(etag: string | null | undefined): string | undefined {
  if (!etag) return undefined;
  return etag.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
}

export function etagKind(etag: string): EtagKind {
  if (/^[0-9a-f]{64}$/.test(etag)) return 'sha256';
  if (/^[0-9a-f]{40}$/.test(etag)) return 'git-sha1';
  return 'opaque';
}

/** Hashes bytes as the etag's kind says (size: the file's full size, for the git header). */
export class BlobHasher {
  private readonly hash: Hash | null;
  readonly kind: EtagKind;

  constructor(etag: string, size: number) {
    this.kind = etagKind(etag);
    if (this.kind === 'sha256') this.hash = createHash('sha256');
    else if (this.kind === 'git-sha1') this.hash = createHash('sha1').update(`blob ${size}\0`);
    else this.hash = null;
  }

  update(chunk: Uint8Array): void {
    this.hash?.update(chunk);
  }

  /** The digest, or null when the etag is not a hash vaecheck knows. */
  digest(): string | null {
    return this.hash ? this.hash.digest('hex') : null;
  }
}

/** Feeds a file's bytes (or its first `limit` bytes) to a hasher. */
export async function hashFileInto(path: string, hasher: BlobHasher, limit?: number): Promise<number> {
  let n = 0;
  const stream = createReadStream(path, { highWaterMark: 4 << 20, ...(limit !== undefined ? { end: limit - 1 } : {}) });
  if (limit === 0) {
    stream.destroy();
    return 0;
  }
  for await (const chunk of stream) {
    hasher.update(chunk as Buffer);
    n += (chunk as Buffer).length;
  }
  return n;
}

/**
 * Checks a file against an etag (and a size, when known). Returns null when it matches (or the
 * etag is not a hash), else what is wrong.
 */
export async function checkBlob(path: string, etag: string, size: number): Promise<string | null> {
  const hasher = new BlobHasher(etag, size);
  if (hasher.kind === 'opaque') return null;
  const n = await hashFileInto(path, hasher);
  if (n !== size) return `it holds ${n} bytes, expected ${size}`;
  const got = hasher.digest();
  if (got !== etag) return `its ${hasher.kind === 'sha256' ? 'sha256' : 'git blob sha1'} is ${got}, expected ${etag}`;
  return null;
}

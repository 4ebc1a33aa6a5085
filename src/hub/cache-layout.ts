/**
 * The Hugging Face cache layout, as huggingface_hub documents it ("Understand caching"):
 *
 *   <cache>/models--<owner>--<name>/
 *     blobs/<etag>                    file contents; the etag is the sha256 for LFS files, the git
 *                                     blob sha1 for the others
 *     blobs/<etag>.incomplete         a download in progress (resumed from where it stopped)
 *     refs/<revision>                 the commit hash a branch or tag pointed to (no newline)
 *     snapshots/<commit>/<path>       a relative symlink to ../../blobs/<etag> (one more ../ per
 *                                     folder level of <path>)
 *
 * diffusers, transformers and the hf CLI write it; vaecheck reads what they left and writes the
 * same, so either side reuses the other's downloads.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { isCommitHash } from './spec.js';

/** `models--owner--name` */
export function repoFolderName(repo: string): string {
  return ['models', ...repo.split('/')].join('--');
}

export class RepoCache {
  readonly dir: string;
  constructor(
    readonly cacheDir: string,
    readonly repo: string,
  ) {
    this.dir = join(cacheDir, repoFolderName(repo));
  }

  blobPath(etag: string): string {
    return join(this.dir, 'blobs', etag);
  }

  snapshotDir(commit: string): string {
    return join(this.dir, 'snapshots', commit);
  }

  /** The snapshot path of a repo file (a symlink into blobs/ once cached). */
  pointerPath(commit: string, file: string): string {
    return join(this.snapshotDir(commit), ...file.split('/'));
  }

  /** The commit a revision resolves to in the cache: itself for a commit hash, else refs/<revision>. */
  commitFor(revision: string): string | undefined {
    if (isCommitHash(revision)) return revision;
    const ref = join(this.dir, 'refs', ...revision.split('/'));
    try {
      const c = readFileSync(ref, 'utf8').trim();
      return isCommitHash(c) ? c : undefined;
    } catch {
      return undefined;
    }
  }

  /** Writes refs/<revision> = commit (as huggingface_hub does: the hash, no newline). */
  writeRef(revision: string, commit: string): void {
    if (revision === commit) return;
    const ref = join(this.dir, 'refs', ...revision.split('/'));
    if (existsSync(ref) && readFileSync(ref, 'utf8').trim() === commit) return;
    mkdirSync(dirname(ref), { recursive: true });
    const tmp = `${ref}.tmp-${process.pid}`;
    writeFileSync(tmp, commit);
    renameSync(tmp, ref);
  }

  /**
   * Repo paths (with '/') present in a snapshot: files and symlinks whose target exists. A dangling
   * symlink (its blob deleted) counts as absent, so that the file is fetched again.
   */
  snapshotFiles(commit: string): string[] {
    const root = this.snapshotDir(commit);
    const out: string[] = [];
    const walk = (dir: string, rel: string) => {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        return;
      }
      for (const n of names) {
        const p = join(dir, n);
        const r = rel ? `${rel}/${n}` : n;
        let st;
        try {
          st = statSync(p);
        } catch {
          continue;
        }
        if (st.isDirectory()) walk(p, r);
        else if (st.isFile()) out.push(r);
      }
    };
    walk(root, '');
    return out.sort();
  }

  /**
   * The blob a snapshot file links to, when it is a symlink into this repo's blobs/ (null for a
   * plain file, e.g. on file systems without symlinks).
   */
  blobOf(commit: string, file: string): string | null {
    const p = this.pointerPath(commit, file);
    try {
      if (!lstatSync(p).isSymbolicLink()) return null;
      const target = resolve(dirname(p), readlinkSync(p));
      return dirname(target) === join(this.dir, 'blobs') ? target : null;
    } catch {
      return null;
    }
  }

  /**
   * Points snapshots/<commit>/<file> at blobs/<etag> with a relative symlink (replacing whatever was
   * there, atomically). Where symlinks cannot be made, the blob is copied (as huggingface_hub does).
   */
  link(commit: string, file: string, etag: string): string {
    const pointer = this.pointerPath(commit, file);
    const blob = this.blobPath(etag);
    mkdirSync(dirname(pointer), { recursive: true });
    const target = relative(dirname(pointer), blob).split(sep).join('/');
    const tmp = join(dirname(pointer), `.${basename(pointer)}.tmp-${process.pid}`);
    rmSync(tmp, { force: true });
    try {
      symlinkSync(target, tmp);
    } catch {
      copyFileSync(blob, tmp);
    }
    renameSync(tmp, pointer);
    return pointer;
  }
}

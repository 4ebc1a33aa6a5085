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
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { BadInputError } from '../errors.js';
import { assertRegularFile, isInside, openProblem, quotePath, readRegularText } from '../io/safe-path.js';
import { etagKind } from './blob-hash.js';
import { isCommitHash } from './spec.js';

/** A snapshot walk goes no deeper and visits no more entries than this (a repo's VAE is 2 levels down). */
const MAX_SNAPSHOT_DEPTH = 8;
const MAX_SNAPSHOT_ENTRIES = 10_000;

const realpathOr = (p: string) => {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
};

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
      const c = readRegularText(ref, 4096).trim();
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
   * Repo paths (with '/') present in a snapshot: regular files and symlinks to regular files. A
   * dangling symlink (its blob deleted) counts as absent, so that the file is fetched again. The walk
   * never follows a folder symlink (huggingface_hub makes none; a loop would never end) and is
   * bounded in depth and entries.
   */
  snapshotFiles(commit: string): string[] {
    const root = this.snapshotDir(commit);
    const out: string[] = [];
    let seen = 0;
    const walk = (dir: string, rel: string, depth: number) => {
      if (depth > MAX_SNAPSHOT_DEPTH) return;
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        return;
      }
      for (const n of names) {
        if (++seen > MAX_SNAPSHOT_ENTRIES) return;
        const p = join(dir, n);
        const r = rel ? `${rel}/${n}` : n;
        let st;
        try {
          st = lstatSync(p);
          if (st.isSymbolicLink()) st = statSync(p);
          else if (st.isDirectory()) {
            walk(p, r, depth + 1);
            continue;
          }
        } catch {
          continue;
        }
        if (st.isFile()) out.push(r);
      }
    };
    walk(root, '', 0);
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
   * Where a snapshot file's bytes really are, checked: a symlink must resolve (all links followed)
   * to a blob directly inside this repo's blobs/ (then `blob` is set, to be hash-checked against its
   * name); a plain file must really lie inside the snapshot. Either must be a regular file.
   * @throws BadInputError naming the snapshot file: a link out of the cache, a FIFO, a device, …
   */
  checkedFile(commit: string, file: string): { real: string; blob?: string } {
    const p = this.pointerPath(commit, file);
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st) throw new BadInputError(p, 'file not found in the Hugging Face cache snapshot');
    let real: string;
    try {
      real = realpathSync(p);
    } catch (e) {
      throw new BadInputError(p, `in the Hugging Face cache: ${openProblem(e)}`);
    }
    assertRegularFile(real);
    if (st.isSymbolicLink()) {
      const blobs = realpathOr(join(this.dir, 'blobs'));
      if (dirname(real) !== blobs) throw new BadInputError(p, `is a link that leaves the Hugging Face cache's blobs/ of ${this.repo} (to ${quotePath(real)}); it is not read. Delete the snapshot and download again`);
      if (etagKind(basename(real)) === 'opaque') throw new BadInputError(p, `links to blob ${quotePath(basename(real))}, which is not named by a sha256 or git blob id and cannot be verified`);
      return { real, blob: real };
    }
    if (!isInside(realpathOr(this.snapshotDir(commit)), real)) throw new BadInputError(p, `lies outside the Hugging Face cache snapshot (at ${quotePath(real)}); it is not read`);
    return { real };
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

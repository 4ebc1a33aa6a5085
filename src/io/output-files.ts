/**
 * Crash-safe outputs: every output of a run is one transaction that becomes visible whole or not
 * at all, as git publishes objects and then moves one ref.
 *
 * - Files (`new OutputSet(force)`; decode, encode, nan-scan --plot, gate --junit, fix of a file):
 *   each file is written to a hidden temporary beside its target (`.<name>.tmp-<pid>-<random>`) and
 *   renamed into place. A set of several files (a PNG batch) first writes a commit journal
 *   (`.vaecheck-commit-<pid>-<random>.json`): once it exists every temporary is complete, and a run
 *   killed during the renames is finished by the next one (roll forward).
 * - Folders (`OutputSet.folder(dir, …)`; baseline, compare, fix of a diffusers folder): the whole
 *   folder is written to a staging folder beside it (`.<name>.vaecheck-stage-<pid>-<random>`) and
 *   renamed into place. An earlier output is moved aside (`.<name>.vaecheck-old-<pid>-<random>`)
 *   for the instant between two renames and then deleted; a run killed in that instant is rolled
 *   back by the next run or reader (recoverInterrupted), so the old output comes back whole.
 *
 * Rules: a file that exists is replaced only with `force`, and a folder is replaced only when every
 * file in it was written by an earlier run of the same command (`owned`); nothing is written inside
 * the run's inputs, nor may an output replace an input; a device, FIFO or socket at the target is
 * never replaced. A lock file (`.<name>.vaecheck-lock`, made with O_EXCL, holding the pid) keeps two
 * runs from writing one output; a lock whose process is gone is stale and taken over. Leftovers of
 * interrupted runs (temporaries, staging folders, journals, locks whose pid is dead) are recognised
 * by name and removed by the next run that writes to (or reads from) the same folder. A failure
 * (a full disk included) or Ctrl-C removes the temporaries and any folder the run created.
 */
import { type Stats, closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, rmdirSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { BadInputError, UsageError, VaecheckError, option } from '../errors.js';
import { fileKind, isInside } from './safe-path.js';

// ---------------------------------------------------------------------------------------------
// what an interrupted run leaves, recognised by name

const TMP_FILE = /^\.(.+)\.tmp-(\d+)-[a-z0-9]{1,8}$/;
const STAGE_DIR = /^\.(.+)\.vaecheck-(stage|old)-(\d+)-[a-z0-9]{1,8}$/;
const JOURNAL = /^\.vaecheck-commit-(\d+)-[a-z0-9]{1,8}\.json$/;
const LOCK = /^\.(.+)\.vaecheck-lock$/;
/** a temporary this old is stale even if its pid is alive again (reused by another process) */
const STALE_AGE_MS = 24 * 3600 * 1000;

const random = () => Math.random().toString(36).slice(2, 8).padEnd(6, '0');

/** Whether process `pid` (on this host) still runs a node process; a reused pid of another program is dead. */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  try {
    return /node/i.test(readFileSync(`/proc/${pid}/comm`, 'utf8'));
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

function stale(pid: number, st: Stats | undefined): boolean {
  if (pid === process.pid) return false;
  return !processAlive(pid) || (st !== undefined && Date.now() - st.mtimeMs > STALE_AGE_MS);
}

const lstatOrUndefined = (p: string): Stats | undefined => {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
};

/**
 * Finishes or undoes what interrupted runs left in the folder holding `target` (and removes their
 * temporaries): a journal of a run killed while renaming is replayed, a folder moved aside for a
 * swap comes back when the new one never arrived, staging folders, temporaries and stale locks go.
 * Entries of live runs are left alone. Never throws: a leftover that cannot be removed stays.
 */
export function recoverInterrupted(target: string): void {
  const dir = dirname(resolve(target));
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = JOURNAL.exec(name);
    if (m && stale(Number(m[1]), lstatOrUndefined(join(dir, name)))) replayJournal(dir, name, Number(m[1]));
  }
  for (const name of names) {
    const p = join(dir, name);
    try {
      let m: RegExpExecArray | null;
      if ((m = TMP_FILE.exec(name))) {
        const st = lstatOrUndefined(p);
        if (st && !st.isDirectory() && stale(Number(m[2]), st)) rmSync(p, { force: true });
      } else if ((m = STAGE_DIR.exec(name))) {
        const st = lstatOrUndefined(p);
        if (!st?.isDirectory() || !stale(Number(m[3]), m[2] === 'old' ? undefined : st)) continue;
        if (m[2] === 'stage') rmSync(p, { recursive: true, force: true });
        else if (lstatOrUndefined(join(dir, m[1]))) rmSync(p, { recursive: true, force: true }); // the new output made it
        else renameSync(p, join(dir, m[1])); // killed between the two renames: the old output comes back
      } else if (LOCK.test(name)) {
        const owner = lockOwner(p);
        if (owner && owner.host === hostname() && owner.pid !== process.pid && !processAlive(owner.pid)) rmSync(p, { force: true });
      }
    } catch {
      // left for a later run
    }
  }
}

/**
 * Renames the temporaries a journal lists to their targets: only temporaries of the journal's pid,
 * each onto the name it was made for, both below the journal's folder (a crafted journal can move
 * nothing else).
 */
function replayJournal(dir: string, name: string, pid: number): void {
  try {
    const j = JSON.parse(readFileSync(join(dir, name), 'utf8')) as { files?: { tmp?: unknown; target?: unknown }[] };
    for (const f of Array.isArray(j.files) ? j.files : []) {
      if (typeof f?.tmp !== 'string' || typeof f.target !== 'string') continue;
      const m = TMP_FILE.exec(basename(f.tmp));
      const tmp = resolve(dir, f.tmp);
      const target = resolve(dir, f.target);
      if (!m || Number(m[2]) !== pid || m[1] !== basename(target) || !isInside(dir, tmp) || !isInside(dir, target) || target === dir) continue;
      if (lstatOrUndefined(tmp)?.isFile()) renameSync(tmp, target);
    }
    rmSync(join(dir, name), { force: true });
  } catch {
    // left for a later run
  }
}

// ---------------------------------------------------------------------------------------------
// what this process must remove on Ctrl-C or failure

/** temporaries and staging folders of writes in progress */
const pending = new Set<string>();
/** lock files held */
const held = new Set<string>();
/** folders this process created for outputs, removed (when empty) if the output never arrives */
const createdDirs: string[] = [];
let exitHookInstalled = false;

/** Removes temporaries, staging folders, locks and the empty folders made for them (call on SIGINT / SIGTERM). */
export function removePendingTemporaries(): void {
  for (const p of pending) rmSync(p, { recursive: true, force: true });
  pending.clear();
  for (const l of held) rmSync(l, { force: true });
  held.clear();
  removeCreatedDirs();
}

function removeCreatedDirs(): void {
  // only folders that are empty (another process may have written into one meanwhile)
  removeDirs([...createdDirs]);
}

/** Creates `dir` and its missing parents; returns the ones made (a failure removes them again). */
function makeDirs(dir: string): string[] {
  const missing: string[] = [];
  for (let d = resolve(dir); !lstatOrUndefined(d); d = dirname(d)) {
    missing.push(d);
    if (dirname(d) === d) break;
  }
  mkdirSync(dir, { recursive: true });
  createdDirs.push(...missing);
  return missing;
}

/** Removes folders made by makeDirs, deepest first, if they are still empty. */
function removeDirs(dirs: readonly string[]): void {
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) {
    const i = createdDirs.indexOf(d);
    if (i >= 0) createdDirs.splice(i, 1);
    try {
      rmdirSync(d);
    } catch {
      // not empty, or gone
    }
  }
}

/** The folders stay (they hold the output now): forget them. */
function keepDirs(dirs: readonly string[]): void {
  for (const d of dirs) {
    const i = createdDirs.indexOf(d);
    if (i >= 0) createdDirs.splice(i, 1);
  }
}

// ---------------------------------------------------------------------------------------------
// test hooks

/**
 * Test hooks, for the tests that kill a process mid-commit or fill the disk (test/io/output-files.test.ts,
 * test/commands/gate.test.ts). Unset (always, outside those tests) each costs one environment lookup.
 * - VAECHECK_TEST_PAUSE_BEFORE_COMMIT_MS: block that long once everything is staged, before the first rename;
 * - VAECHECK_TEST_PAUSE_MID_COMMIT_MS: block that long between the first and the second rename;
 * - VAECHECK_TEST_ENOSPC_AFTER_BYTES: writes fail with ENOSPC once this process wrote that many bytes.
 */
function pauseForTests(name: 'VAECHECK_TEST_PAUSE_BEFORE_COMMIT_MS' | 'VAECHECK_TEST_PAUSE_MID_COMMIT_MS'): void {
  const ms = Number(process.env[name]);
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

let bytesWritten = 0;

function writeAll(fd: number, bytes: Uint8Array): void {
  const limit = Number(process.env.VAECHECK_TEST_ENOSPC_AFTER_BYTES);
  let data = bytes;
  let full = false;
  if (limit >= 0 && process.env.VAECHECK_TEST_ENOSPC_AFTER_BYTES && bytesWritten + data.byteLength > limit) {
    data = data.subarray(0, Math.max(0, limit - bytesWritten));
    full = true;
  }
  let off = 0;
  while (off < data.byteLength) off += writeSync(fd, data, off, data.byteLength - off);
  bytesWritten += data.byteLength;
  if (full) throw Object.assign(new Error('ENOSPC: no space left on device, write (injected by VAECHECK_TEST_ENOSPC_AFTER_BYTES)'), { code: 'ENOSPC' });
}

/** Writes a new file (O_EXCL: never through a link someone put there) and flushes it to the disk. */
function writeNewFile(path: string, bytes: Uint8Array | string): void {
  const fd = openSync(path, 'wx');
  try {
    writeAll(fd, typeof bytes === 'string' ? Buffer.from(bytes) : bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // not every file system lets a folder be flushed
  }
}

function writeProblem(path: string, e: unknown): VaecheckError {
  if (e instanceof VaecheckError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new BadInputError(path, `cannot write: no space left on the device (${code}); nothing was written`);
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return new BadInputError(path, `cannot write: permission denied (${code})`);
  return new BadInputError(path, `cannot write (${code ?? (e as Error).message})`);
}

// ---------------------------------------------------------------------------------------------
// locks

function lockOwner(lock: string): { pid: number; host: string } | undefined {
  try {
    const [pid, host] = readFileSync(lock, 'utf8').split('\n');
    return { pid: Number(pid), host: host ?? '' };
  } catch {
    return undefined;
  }
}

/**
 * Where a run keeps its lock, temporaries and staging folder for `target`: the nearest folder that
 * exists on the way to it (its own folder, usually). Folders still missing are made only at commit,
 * so an interrupted run leaves none. `first` is the name below the anchor that the target lives under.
 */
function anchorOf(target: string): { anchor: string; first: string } {
  let first = basename(resolve(target));
  for (let d = dirname(resolve(target)); ; d = dirname(d)) {
    const st = lstatOrUndefined(d);
    if (st) {
      if (!statSync(d, { throwIfNoEntry: false })?.isDirectory()) throw new BadInputError(target, `cannot write: ${d} is not a folder`);
      return { anchor: d, first };
    }
    if (dirname(d) === d) return { anchor: d, first };
    first = basename(d);
  }
}

/** Takes `.<name>.vaecheck-lock` in the anchor of `target`. */
function acquireLock(target: string): string {
  const { anchor, first } = anchorOf(target);
  const lock = join(anchor, `.${first}.vaecheck-lock`);
  if (held.has(lock)) return lock;
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(lock, 'wx');
      try {
        writeSync(fd, `${process.pid}\n${hostname()}\n`);
      } finally {
        closeSync(fd);
      }
      held.add(lock);
      if (!exitHookInstalled) {
        exitHookInstalled = true;
        process.once('exit', () => {
          for (const l of held) rmSync(l, { force: true });
        });
      }
      return lock;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw writeProblem(target, e);
      const owner = lockOwner(lock);
      const gone = owner !== undefined && owner.host === hostname() && !processAlive(owner.pid);
      if (!gone || attempt > 0) {
        throw new UsageError(`${target} is being written by another vaecheck run${owner ? ` (pid ${owner.pid}${owner.host !== hostname() ? ` on ${owner.host}` : ''})` : ''}; wait for it to finish, or delete ${lock} if that run is gone`);
      }
      rmSync(lock, { force: true }); // stale: its process is gone
    }
  }
}

function releaseLock(lock: string | undefined): void {
  if (!lock) return;
  rmSync(lock, { force: true });
  held.delete(lock);
}

// ---------------------------------------------------------------------------------------------
// shared checks

/** The real path of `p`, also when it (or its tail) does not exist yet. */
function realPathOf(p: string): string {
  const abs = resolve(p);
  const tail: string[] = [];
  for (let d = abs; ; d = dirname(d)) {
    try {
      return join(realpathSync(d), ...tail.reverse());
    } catch {
      if (dirname(d) === d) return abs;
      tail.push(basename(d));
    }
  }
}

/** Refuses an output that is an input, holds one, or lies inside an input folder. */
function checkInputs(target: string, inputs: readonly string[], folder: boolean): void {
  const real = realPathOf(target);
  for (const input of inputs) {
    const st = lstatOrUndefined(input);
    if (!st) continue;
    const ri = realPathOf(input);
    if (ri === real) throw new UsageError(`${target} is an input of this run; write the output elsewhere`);
    if (folder && isInside(real, ri)) throw new UsageError(`${target} holds an input of this run (${input}); vaecheck replaces the whole folder, so choose another one`);
    if (statSync(input, { throwIfNoEntry: false })?.isDirectory() && isInside(ri, real)) throw new UsageError(`${target} is inside the input folder ${input}; vaecheck never writes inside its inputs`);
  }
}

/** A non-regular file at `path` (device, FIFO, socket) is never replaced, with or without --force. */
function refuseSpecial(path: string): void {
  let st: Stats | undefined;
  try {
    st = statSync(path);
  } catch {
    return; // absent, or a dangling link (replaced by the rename, its target untouched)
  }
  if (!st.isFile() && !st.isDirectory()) throw new BadInputError(path, `is ${fileKind(st)}; vaecheck writes only regular files and never replaces ${fileKind(st)}`);
}

export interface FolderOptions {
  /** replace an earlier output */
  force?: boolean;
  /**
   * The files (relative paths, '/'-separated) an earlier run of the same command wrote into the
   * folder, read from its own record (a baseline's manifest, compare's report.json); files not
   * listed make the folder someone else's, refused even with --force.
   */
  owned?: (dir: string) => Iterable<string> | undefined;
  /** files and folders the run reads: the output must not be, hold or lie inside one */
  inputs?: readonly string[];
  /** what the folder holds, for messages: 'baseline', 'compare output' */
  what?: string;
}

// ---------------------------------------------------------------------------------------------

export class OutputSet {
  private readonly staged: { tmp: string; target: string }[] = [];
  private readonly locks = new Map<string, string>();
  /** folders this set created (parents of its outputs) */
  private readonly madeDirs: string[] = [];
  /** the output folder as given (resolved), and as it really is (symlinks resolved) once claimed */
  private givenDir?: string;
  private folderDir?: string;
  private folderOpts: FolderOptions = {};
  private stage?: string;
  private folderClaimed = false;

  /** @param force overwrite existing files */
  constructor(
    private readonly force = false,
    private readonly inputs: readonly string[] = [],
  ) {}

  /** An output folder written as one transaction (see the module comment). */
  static folder(dir: string, opts: FolderOptions = {}): OutputSet {
    const out = new OutputSet(opts.force ?? false, opts.inputs ?? []);
    out.givenDir = resolve(dir);
    out.folderDir = out.givenDir;
    out.folderOpts = opts;
    return out;
  }

  /**
   * Checks that `path` may be written (absent, or force), creating its folder when `mkdir`, and
   * takes the output's lock. In folder mode `path` is a file the run will write into the folder.
   * @throws UsageError (exit 2) for an existing output without force or a locked one; BadInputError
   *   (exit 3) for a folder, device or FIFO where a file is to go, or a missing folder
   */
  check(path: string, mkdir = false): void {
    if (this.folderDir) {
      if (!this.force && lstatOrUndefined(path) && !lstatOrUndefined(path)!.isDirectory()) throw new UsageError(`${path} already exists; pass ${option('force')} to overwrite it`);
      this.claimFolder();
      return;
    }
    this.checkFile(path, mkdir);
  }

  private checkFile(path: string, mkdir: boolean): void {
    try {
      const st = lstatOrUndefined(path);
      if (st) {
        if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) throw new BadInputError(path, 'is a directory, expected a file path');
        refuseSpecial(path);
        if (!this.force) throw new UsageError(`${path} already exists; pass ${option('force')} to overwrite it`);
      }
      checkInputs(path, this.inputs, false);
      const dir = dirname(path);
      const dst = lstatOrUndefined(dir);
      // a missing folder is made at commit (mkdir), so that a failed or interrupted run leaves none
      if (!dst) {
        if (!mkdir) throw new BadInputError(path, `cannot write: folder ${dir} does not exist`);
      } else if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new BadInputError(path, `cannot write: ${dir} is not a folder`);
      if (!this.locks.has(resolve(path))) {
        this.locks.set(resolve(path), acquireLock(resolve(path)));
        const { anchor, first } = anchorOf(path);
        recoverInterrupted(join(anchor, first));
      }
    } catch (e) {
      this.abort();
      throw writeProblem(path, e);
    }
  }

  /** Folder mode: validates the folder once, takes its lock, cleans leftovers beside it. */
  private claimFolder(): void {
    if (this.folderClaimed) return;
    const dir = this.folderDir!;
    const what = this.folderOpts.what ?? 'output';
    try {
      const st = lstatOrUndefined(dir);
      if (st && !statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
        refuseSpecial(dir);
        throw new BadInputError(dir, `is a file, expected a folder for the ${what}`);
      }
      checkInputs(dir, this.inputs, true);
      // a folder given through a symlink is replaced where it really is
      const real = st ? realpathSync(dir) : dir;
      this.folderDir = real;
      this.locks.set(real, acquireLock(real));
      const { anchor, first } = anchorOf(real);
      recoverInterrupted(join(anchor, first));
      if (lstatOrUndefined(real)) {
        const entries = listFiles(real);
        if (entries.length > 0 && !this.force) {
          throw new UsageError(`${dir} is not empty (it holds ${entries[0]}); pass ${option('force')} to replace an earlier ${what}, or choose a new or empty folder`);
        }
        if (entries.length > 0) {
          const owned = new Set(this.folderOpts.owned?.(real) ?? []);
          const foreign = entries.find((rel) => !owned.has(rel) && !isLeftover(real, rel));
          if (foreign !== undefined) {
            throw new UsageError(`${dir} holds ${foreign}, which is not part of an earlier ${what}; vaecheck replaces the whole folder, so move it out or choose another ${option('out')}`);
          }
        }
      }
      this.folderClaimed = true;
    } catch (e) {
      this.abort();
      throw writeProblem(dir, e);
    }
  }

  /** Stages the bytes of one file (written to a temporary now, renamed into place on commit). */
  add(path: string, bytes: Uint8Array | string): void {
    if (this.folderDir) return this.addToFolder(path, bytes);
    const dir = dirname(path);
    try {
      // inside the try: a refused file drops the files staged before it
      this.checkFile(path, true);
      const tmp = join(lstatOrUndefined(dir) ? dir : anchorOf(path).anchor, `.${basename(path)}.tmp-${process.pid}-${random()}`);
      pending.add(tmp);
      writeNewFile(tmp, bytes);
      this.staged.push({ tmp, target: path });
    } catch (e) {
      this.abort();
      throw writeProblem(path, e);
    }
  }

  private addToFolder(path: string, bytes: Uint8Array | string): void {
    try {
      this.claimFolder();
      const rel = this.relInFolder(path);
      if (!this.stage) {
        const { anchor, first } = anchorOf(this.folderDir!);
        const stage = join(anchor, `.${first}.vaecheck-stage-${process.pid}-${random()}`);
        mkdirSync(stage);
        pending.add(stage);
        this.stage = stage;
      }
      const file = join(this.stage, rel);
      mkdirSync(dirname(file), { recursive: true });
      writeNewFile(file, bytes);
      this.staged.push({ tmp: file, target: join(this.folderDir!, rel) });
    } catch (e) {
      this.abort();
      throw writeProblem(path, e);
    }
  }

  /**
   * Where a staged file can be read before commit (e.g. to verify it): the temporary or the file in
   * the staging folder. @throws Error when `path` was not staged
   */
  stagedPath(path: string): string {
    const target = this.folderDir ? join(this.folderDir, this.relInFolder(path)) : path;
    const s = this.staged.find((x) => resolve(x.target) === resolve(target));
    if (!s) throw new Error(`${path} was not staged`);
    return s.tmp;
  }

  /** `path` (given under the folder's given name or its real one) relative to the output folder. */
  private relInFolder(path: string): string {
    const p = resolve(path);
    let rel = relative(this.givenDir!, p);
    if (rel.startsWith('..')) rel = relative(this.folderDir!, p);
    if (rel === '' || rel.startsWith('..') || rel.startsWith(sep)) throw new BadInputError(path, `is not inside the output folder ${this.givenDir}`);
    return rel;
  }

  /** Makes every staged file visible at once. @returns the targets */
  commit(): string[] {
    const done = this.staged.map((s) => s.target);
    try {
      if (this.folderDir) this.commitFolder();
      else this.commitFiles();
    } catch (e) {
      this.abort();
      throw writeProblem(this.folderDir ?? this.staged[0]?.target ?? '.', e);
    }
    this.staged.length = 0;
    this.release();
    keepDirs(this.madeDirs.splice(0));
    return done;
  }

  private commitFiles(): void {
    if (this.staged.length === 0) return;
    pauseForTests('VAECHECK_TEST_PAUSE_BEFORE_COMMIT_MS');
    const dirs = [...new Set(this.staged.map((s) => dirname(resolve(s.target))))];
    for (const d of dirs) this.madeDirs.push(...makeDirs(d));
    if (this.staged.length === 1) {
      renameSync(this.staged[0].tmp, this.staged[0].target);
    } else {
      // the journal makes the renames one step: once it exists, the next run finishes them. It lives
      // in the folder all targets share and lists paths relative to it.
      const base = dirs.reduce((a, d) => {
        while (!isInside(a, d)) a = dirname(a);
        return a;
      });
      const name = `.vaecheck-commit-${process.pid}-${random()}.json`;
      const journal = join(base, name);
      const tmp = join(base, `.${name}.tmp-${process.pid}-${random()}`);
      let journaled = true;
      try {
        pending.add(tmp);
        writeNewFile(tmp, JSON.stringify({ files: this.staged.map((s) => ({ tmp: relative(base, s.tmp), target: relative(base, s.target) })) }));
        renameSync(tmp, journal);
      } catch (e) {
        // a shared folder we may not write (e.g. /): the renames still run, without roll-forward
        if (!['EACCES', 'EPERM', 'EROFS'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
        journaled = false;
      } finally {
        pending.delete(tmp);
      }
      this.staged.forEach((s, i) => {
        renameSync(s.tmp, s.target);
        if (i === 0) pauseForTests('VAECHECK_TEST_PAUSE_MID_COMMIT_MS');
      });
      if (journaled) rmSync(journal, { force: true });
    }
    for (const s of this.staged) pending.delete(s.tmp);
    for (const d of dirs) fsyncDir(d);
  }

  private commitFolder(): void {
    const dir = this.folderDir!;
    if (!this.stage) {
      // nothing was added: an empty output is still an output
      const { anchor, first } = anchorOf(dir);
      this.stage = join(anchor, `.${first}.vaecheck-stage-${process.pid}-${random()}`);
      mkdirSync(this.stage);
      pending.add(this.stage);
    }
    pauseForTests('VAECHECK_TEST_PAUSE_BEFORE_COMMIT_MS');
    this.madeDirs.push(...makeDirs(dirname(dir)));
    const st = lstatOrUndefined(dir);
    if (st && readdirSync(dir).length > 0) {
      const old = join(dirname(dir), `.${basename(dir)}.vaecheck-old-${process.pid}-${random()}`);
      renameSync(dir, old);
      try {
        pauseForTests('VAECHECK_TEST_PAUSE_MID_COMMIT_MS');
        renameSync(this.stage, dir);
      } catch (e) {
        renameSync(old, dir);
        throw e;
      }
      pending.delete(this.stage);
      rmSync(old, { recursive: true, force: true });
    } else {
      // absent or empty: one rename (it replaces an empty folder atomically)
      renameSync(this.stage, dir);
      pending.delete(this.stage);
    }
    this.stage = undefined;
    fsyncDir(dirname(dir));
  }

  /** Drops every staged file, the staging folder, the lock and the folders made for them. */
  abort(): void {
    for (const { tmp } of this.staged) {
      rmSync(tmp, { force: true });
      pending.delete(tmp);
    }
    this.staged.length = 0;
    if (this.stage) {
      rmSync(this.stage, { recursive: true, force: true });
      pending.delete(this.stage);
      this.stage = undefined;
    }
    this.release();
    removeDirs(this.madeDirs.splice(0));
  }

  private release(): void {
    for (const l of this.locks.values()) releaseLock(l);
    this.locks.clear();
    this.folderClaimed = false;
  }
}

/** Files (not folders) under `dir`, '/'-separated relative paths; symlinks are listed, not followed. */
function listFiles(dir: string, limit = 100_000): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string, depth: number) => {
    if (depth > 32 || out.length >= limit) return;
    for (const name of readdirSync(d)) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(d, name));
      if (st.isDirectory()) walk(join(d, name), r, depth + 1);
      else out.push(r);
    }
  };
  walk(dir, '', 0);
  return out.sort();
}

/** An old-style temporary (`.<name>.tmp-<pid>-<random>`) of a run that is gone. */
function isLeftover(dir: string, rel: string): boolean {
  const m = TMP_FILE.exec(basename(rel));
  return m !== null && stale(Number(m[2]), lstatOrUndefined(join(dir, rel)));
}

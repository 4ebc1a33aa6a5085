/**
 * All-or-nothing output: every file of a result is first written to a temporary file beside its
 * target, and only renamed into place once all of them are written. Existing files are refused
 * unless `force` is set, before anything is written. A failure or an interrupt (see
 * removePendingTemporaries) leaves no partial output behind.
 */
import { existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { BadInputError, UsageError } from '../errors.js';

const pending = new Set<string>();

/** Removes temporary files of writes in progress (call from a SIGINT / SIGTERM handler). */
export function removePendingTemporaries(): void {
  for (const p of pending) rmSync(p, { force: true });
  pending.clear();
}

/**
 * Test hook, for the tests that kill a process mid-write (test/commands/gate.test.ts): when the
 * environment variable VAECHECK_TEST_PAUSE_BEFORE_COMMIT_MS is set to a positive number, commit()
 * blocks that many milliseconds after every temporary file is written and before the first rename.
 * Unset (always, outside those tests) it costs one environment lookup.
 */
function pauseForTests(): void {
  const ms = Number(process.env.VAECHECK_TEST_PAUSE_BEFORE_COMMIT_MS);
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export class OutputSet {
  private readonly staged: { tmp: string; target: string }[] = [];

  /** @param force overwrite existing files */
  constructor(private readonly force = false) {}

  /** Checks that `path` may be written (absent, or force), creating its folder when `mkdir`. */
  check(path: string, mkdir = false): void {
    if (existsSync(path)) {
      if (statSync(path).isDirectory()) throw new BadInputError(path, 'is a directory, expected a file path');
      if (!this.force) throw new UsageError(`${path} already exists; pass --force to overwrite it`);
    }
    const dir = dirname(path);
    if (!existsSync(dir)) {
      if (!mkdir) throw new BadInputError(path, `cannot write: folder ${dir} does not exist`);
    } else if (!statSync(dir).isDirectory()) throw new BadInputError(path, `cannot write: ${dir} is not a folder`);
  }

  /** Stages the bytes of one file (written to a temporary file now, renamed on commit). */
  add(path: string, bytes: Uint8Array | string): void {
    const dir = dirname(path);
    try {
      // inside the try: a refused file drops the files staged before it
      this.check(path, true);
      mkdirSync(dir, { recursive: true });
      const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
      pending.add(tmp);
      writeFileSync(tmp, bytes);
      this.staged.push({ tmp, target: path });
    } catch (e) {
      this.abort();
      if (e instanceof BadInputError || e instanceof UsageError) throw e;
      throw new BadInputError(path, `cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }

  /** Renames every staged file into place. */
  commit(): string[] {
    if (this.staged.length) pauseForTests();
    const done: string[] = [];
    for (const { tmp, target } of this.staged) {
      renameSync(tmp, target);
      pending.delete(tmp);
      done.push(target);
    }
    this.staged.length = 0;
    return done;
  }

  /** Drops every staged file. */
  abort(): void {
    for (const { tmp } of this.staged) {
      rmSync(tmp, { force: true });
      pending.delete(tmp);
    }
    this.staged.length = 0;
  }
}

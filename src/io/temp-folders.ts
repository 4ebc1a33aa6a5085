/**
 * Private temporary folders in the system temp directory (onnxruntime reads a model and its weights
 * from files). Each is named `vaecheck-session-<pid>-<random>`, so a run killed before it removed its
 * folder is recognised: removeStaleTempFolders (run at every command start) deletes those whose
 * process is gone, and the `vaecheck-<random>` folders of versions before the pid was in the name
 * once they are an hour old and hold only a model (model.onnx, weights.bin). Nothing else is touched.
 */
import { lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processAlive } from './output-files.js';

const PREFIX = 'vaecheck-session-';
const OURS = /^vaecheck-session-(\d+)-[A-Za-z0-9]{6}$/;
const LEGACY = /^vaecheck-[A-Za-z0-9]{6}$/;
const LEGACY_CONTENT = new Set(['model.onnx', 'weights.bin']);
const LEGACY_AGE_MS = 3600 * 1000;

/** this process's temporary folders not yet removed (Ctrl-C's handler removes them) */
const own = new Set<string>();

/** Creates a private temporary folder named after this process. */
export function makeTempFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid}-`));
  own.add(dir);
  return dir;
}

/** Removes a folder made by makeTempFolder. */
export function removeTempFolder(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  own.delete(dir);
}

/** Removes every temporary folder this process still has (on SIGINT / SIGTERM). Never throws. */
export function removeOwnTempFolders(): void {
  for (const dir of own) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // nothing more to do on the way out
    }
  }
  own.clear();
}

/** Removes temporary folders left by killed runs (see the module comment). Never throws. */
export function removeStaleTempFolders(dir = tmpdir()): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    try {
      const p = join(dir, name);
      const m = OURS.exec(name);
      if (m) {
        if (!processAlive(Number(m[1])) && lstatSync(p).isDirectory()) rmSync(p, { recursive: true, force: true });
      } else if (LEGACY.test(name)) {
        const st = lstatSync(p);
        if (!st.isDirectory() || Date.now() - st.mtimeMs < LEGACY_AGE_MS) continue;
        if (readdirSync(p).every((n) => LEGACY_CONTENT.has(n))) rmSync(p, { recursive: true, force: true });
      }
    } catch {
      // another process's, or gone
    }
  }
}

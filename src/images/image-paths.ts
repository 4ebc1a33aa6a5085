/**
 * --image arguments as image files: a file stays itself; a folder stands for the images directly in
 * it (not its subfolders), sorted by name, so `--image photos/` and a shell glob give the same batch.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BadInputError } from '../errors.js';

/** The file extensions taken from a folder: what sharp reads. */
export const IMAGE_EXTENSIONS = ['png', 'jpg', 'jpeg', 'webp', 'tif', 'tiff', 'gif', 'avif'];
const IMAGE_FILE = new RegExp(`\\.(${IMAGE_EXTENSIONS.join('|')})$`, 'i');

export function imagePaths(args: readonly string[]): string[] {
  const out: string[] = [];
  for (const arg of args) {
    let isDir = false;
    try {
      isDir = statSync(arg).isDirectory();
    } catch {
      // a missing file is reported by whatever reads it, naming it
    }
    if (!isDir) {
      out.push(arg);
      continue;
    }
    const names = readdirSync(arg, { withFileTypes: true })
      .filter((e) => IMAGE_FILE.test(e.name) && (e.isFile() || (e.isSymbolicLink() && statSync(join(arg, e.name)).isFile())))
      .map((e) => e.name)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    if (names.length === 0) throw new BadInputError(arg, `is a folder without images (${IMAGE_EXTENSIONS.map((e) => `.${e}`).join(', ')})`);
    out.push(...names.map((n) => join(arg, n)));
  }
  return out;
}

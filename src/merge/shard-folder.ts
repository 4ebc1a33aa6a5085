/**
 * Reading a shard's output folder for vaecheck merge: its JSON (non-finite numbers written as the
 * strings "inf", "-inf", "nan" read back as numbers where a number is expected), and the files it
 * names, which must stay inside the folder.
 */
import { realpathSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { BadInputError } from '../errors.js';
import { readRegularFile, readRegularText } from '../io/safe-path.js';

/** Parses a JSON file. @throws BadInputError naming the file */
export function readJsonFile(path: string): Record<string, unknown> {
  // a regular file only: a FIFO or device in a shard folder is refused, never read
  const text = readRegularText(path);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new BadInputError(path, `is not valid JSON (${(e as Error).message.slice(0, 80)})`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new BadInputError(path, 'is not a JSON object');
  return value as Record<string, unknown>;
}

/** A number written by JSON.stringify with non-finite values as strings. @throws BadInputError */
export function jsonNumber(file: string, what: string, v: unknown): number {
  if (typeof v === 'number') return v;
  if (v === 'inf') return Infinity;
  if (v === '-inf') return -Infinity;
  if (v === 'nan') return NaN;
  throw new BadInputError(file, `${what} is not a number (${JSON.stringify(v)?.slice(0, 40)})`);
}

/**
 * The bytes of `rel` inside `dir`: an absolute path, a `..` step or a link that leads out of the
 * folder is refused (a shard's JSON must not make merge read or copy files from elsewhere).
 * @param file the JSON that named it, for the error
 */
export function readInside(dir: string, rel: unknown, file: string): Uint8Array {
  if (typeof rel !== 'string' || rel.length === 0 || isAbsolute(rel) || rel.includes('\\') || rel.split('/').some((p) => p === '..' || p === '.' || p === '')) {
    throw new BadInputError(file, `names the file ${JSON.stringify(rel)}, which is not a plain relative path inside its folder`);
  }
  const path = join(dir, rel);
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    throw new BadInputError(path, `is missing (named by ${file})`);
  }
  const root = realpathSync(resolve(dir));
  const r = relative(root, real);
  if (r.startsWith(`..${sep}`) || r === '..' || isAbsolute(r)) throw new BadInputError(path, 'leads outside its shard folder (a link); refused');
  // a FIFO or device planted in a shard is refused, never read (it could block or never end)
  return readRegularFile(real);
}

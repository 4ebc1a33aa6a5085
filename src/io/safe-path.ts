/**
 * Opening files that vaecheck did not choose: paths read from inside other files (an ONNX model's
 * external-data `location`, a baseline manifest's file entries, a Hugging Face cache snapshot's
 * symlinks) and the files a user names (weights, latents, manifests, configs).
 *
 * Two rules, as git's object store and safetensors' loader apply them:
 *  - containment: a path read from a file is resolved (symlinks included, by realpath) and must stay
 *    inside its root, e.g. the model's folder; `../`, absolute paths and links out are refused;
 *  - regular files only: a FIFO, device, socket or directory is refused with a one-line error before a
 *    single byte is read. Files are opened with O_NONBLOCK, so opening a FIFO never waits for a
 *    writer (a blocked open would also keep Ctrl-C from being handled), then checked with fstat on
 *    the open descriptor, so the file checked is the file read.
 * Every refusal is a BadInputError (exit 3) naming the file.
 */
import { type Stats, closeSync, constants, fstatSync, openSync, readSync, realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep, win32 } from 'node:path';
import { BadInputError } from '../errors.js';

/** What a non-regular file is, for messages: "a FIFO (named pipe)", "a directory", … */
export function fileKind(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** The one-line problem for an errno from opening or resolving `path`. */
export function openProblem(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'file not found';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied (cannot read it)';
    case 'EISDIR':
      return 'is a directory, expected a file';
    case 'ELOOP':
      return 'symbolic link loop';
    case 'ENOTDIR':
      return 'file not found (a folder on its path is a file)';
    case 'ENAMETOOLONG':
      return 'path too long';
    default:
      return `cannot be read (${code ?? (e as Error).message})`;
  }
}

/** True when `path` is `root` itself or lies below it (both already absolute and normalised). */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * Resolves `rel`, a path read from an untrusted file, against `root` and checks that it stays inside,
 * following symlinks (of the root too). Returns the real path.
 * @param origin the file the path was read from (named in errors)
 * @param what what the path is, e.g. `external data of tensor "w"` (named in errors)
 * @throws BadInputError when the path is empty, absolute, leaves the root, or does not exist
 */
export function resolveInside(root: string, rel: string, origin: string, what: string): string {
  const bad = (problem: string) => new BadInputError(origin, `${what}: ${problem}`);
  if (typeof rel !== 'string' || rel.length === 0) throw bad('empty path');
  if (rel.includes('\0')) throw bad('path holds a NUL character');
  if (isAbsolute(rel) || win32.isAbsolute(rel)) throw bad(`path ${quotePath(rel)} is absolute; only paths inside ${root} are read`);
  const lexical = resolve(root, rel);
  if (!isInside(resolve(root), lexical)) throw bad(`path ${quotePath(rel)} leaves ${root}; only paths inside it are read`);
  let realRoot: string;
  let real: string;
  try {
    realRoot = realpathSync(root);
    real = realpathSync(lexical);
  } catch (e) {
    throw bad(`${quotePath(rel)}: ${openProblem(e)}`);
  }
  if (!isInside(realRoot, real)) throw bad(`path ${quotePath(rel)} is a link that leaves ${root}; only files inside it are read`);
  return real;
}

/**
 * Opens a file for reading only if it is a regular file (never blocks on a FIFO).
 * @returns the descriptor and its fstat; close it with closeSync.
 * @throws BadInputError naming `path`
 */
export function openRegularFile(path: string): { fd: number; stat: Stats } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | (constants.O_NOCTTY ?? 0));
  } catch (e) {
    throw new BadInputError(path, openProblem(e));
  }
  let stat: Stats;
  try {
    stat = fstatSync(fd);
  } catch (e) {
    closeSync(fd);
    throw new BadInputError(path, openProblem(e));
  }
  if (!stat.isFile()) {
    closeSync(fd);
    throw new BadInputError(path, `is ${fileKind(stat)}, expected a regular file`);
  }
  return { fd, stat };
}

/** Reads exactly `length` bytes at `position` of an open file; a short file is bad input. */
export function readAt(fd: number, path: string, position: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    let n: number;
    try {
      n = readSync(fd, buf, done, length - done, position + done);
    } catch (e) {
      throw new BadInputError(path, openProblem(e));
    }
    if (n === 0) throw new BadInputError(path, `file truncated: ${length} bytes expected at offset ${position}, ${done} read`);
    done += n;
  }
  return buf;
}

/**
 * Reads a whole regular file (FIFOs, devices and folders refused before reading).
 * @param maxBytes refuse larger files before allocating anything (default: no limit)
 */
export function readRegularFile(path: string, maxBytes = Number.MAX_SAFE_INTEGER): Buffer {
  const { fd, stat } = openRegularFile(path);
  try {
    if (stat.size > maxBytes) throw new BadInputError(path, `is ${stat.size} bytes, more than the ${maxBytes} accepted for this kind of file`);
    return readAt(fd, path, 0, stat.size);
  } finally {
    closeSync(fd);
  }
}

/** Reads a regular file as UTF-8 text (configs, manifests; 64 MiB at most). */
export function readRegularText(path: string, maxBytes = 64 * 1024 * 1024): string {
  return readRegularFile(path, maxBytes).toString('utf8');
}

/**
 * Checks that `path` is a regular file without reading it (for files handed to other libraries,
 * e.g. images to sharp). @throws BadInputError naming `path`
 */
export function assertRegularFile(path: string): Stats {
  const { fd, stat } = openRegularFile(path);
  closeSync(fd);
  return stat;
}

/** A path quoted for a message: JSON (control characters escaped), cut to 120 characters. */
export function quotePath(p: string): string {
  const s = JSON.stringify(p);
  return s.length > 122 ? `${s.slice(0, 120)}…"` : s;
}

/**
 * The one-line reason a JSON text did not parse, without quoting the text: JSON.parse's message
 * shows the file's first characters, and the file may be a link to something private.
 */
export function jsonProblem(e: unknown): string {
  const m = String((e as Error).message ?? e).match(/position (\d+)/);
  return m ? `invalid JSON (syntax error at character ${m[1]})` : 'invalid JSON';
}

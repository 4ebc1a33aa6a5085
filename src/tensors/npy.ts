/**
 * NumPy .npy reader and writer for float tensors (versions 1.0, 2.0 and 3.0; little-endian
 * float16 / float32 / float64, C order). The header dict is parsed field by field, never evaluated.
 */
import { BadInputError } from '../errors.js';
import { bytesToFloat32 } from '../dtype.js';
import { readRegularFile } from '../io/safe-path.js';

export interface NpyArray {
  shape: number[];
  data: Float32Array;
  /** the stored dtype, e.g. '<f2' */
  descr: string;
}

/** A value quoted from the file for a message: one line, at most `max` characters. */
function quote(text: string, max = 60): string {
  const flat = text.replace(/\s+/g, ' ');
  return JSON.stringify(flat.length > max ? `${flat.slice(0, max)}…` : flat);
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const DESCR_DTYPE: Record<string, 'F16' | 'F32' | 'F64'> = { '<f2': 'F16', '<f4': 'F32', '<f8': 'F64' };

/** Parses .npy bytes. @throws BadInputError naming `file`. */
export function parseNpy(file: string, bytes: Uint8Array): NpyArray {
  const bad = (what: string) => new BadInputError(file, `not a readable .npy file: ${what}`);
  if (bytes.length < 10 || !MAGIC.every((b, i) => bytes[i] === b)) throw bad('missing the \\x93NUMPY magic');
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw bad('truncated header');
    headerLen = view.getUint32(8, true);
    start = 12;
  } else throw bad(`unsupported version ${major}`);
  if (start + headerLen > bytes.length) throw bad(`header length ${headerLen} is beyond the file`);
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLen));
  const descr = header.match(/'descr'\s*:\s*'([^']*)'/)?.[1];
  const fortran = header.match(/'fortran_order'\s*:\s*(True|False)/)?.[1];
  const shapeText = header.match(/'shape'\s*:\s*\(([^)]*)\)/)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw bad('header lacks descr, fortran_order or shape');
  const dtype = DESCR_DTYPE[descr];
  if (!dtype) throw new BadInputError(file, `unsupported .npy dtype ${quote(descr)} (expected float16, float32 or float64, little-endian)`);
  if (fortran === 'True') throw new BadInputError(file, '.npy array is in Fortran order; save it in C order (np.ascontiguousarray)');
  const parts = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (!parts.every((s) => /^\d+$/.test(s))) throw bad(`invalid shape ${quote(`(${shapeText})`)}`);
  const shape = parts.map(Number);
  if (!shape.every((d) => Number.isSafeInteger(d))) throw bad(`invalid shape ${quote(`(${shapeText})`)}`);
  const count = shape.reduce((a, d) => a * d, 1);
  const itemBytes = Number(descr.slice(2));
  const dataStart = start + headerLen;
  const need = count * itemBytes;
  if (!Number.isSafeInteger(need) || bytes.length - dataStart !== need) {
    throw bad(`shape ${quote(`(${shape.join(', ')})`)} of ${descr} needs ${need} data bytes, the file has ${bytes.length - dataStart}`);
  }
  return { shape, data: bytesToFloat32(bytes.subarray(dataStart), dtype), descr };
}

export function readNpy(file: string): NpyArray {
  return parseNpy(file, readRegularFile(file));
}

/** Encodes float32 data as a version 1.0 .npy ('<f4', C order). */
export function encodeNpy(shape: readonly number[], data: Float32Array): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // pad so that the data starts on a 64-byte boundary, header ends with '\n'
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

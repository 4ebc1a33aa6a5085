/**
 * safetensors reader: validates the header completely before any tensor data is read, then reads
 * tensors one at a time with positioned reads, so a whole SDXL checkpoint yields its VAE without
 * reading the rest of the file.
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}}`,
 * then the data; offsets are relative to the end of the header.
 */
import { closeSync, fstatSync, readSync } from 'node:fs';
import { BadInputError } from '../errors.js';
import { openRegularFile } from '../io/safe-path.js';
import { DTYPES, type DTypeName, bytesToFloat32, isDTypeName } from '../dtype.js';

/** Headers beyond this are refused rather than allocated (real ones are well under 1 MiB per 1000 tensors). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface TensorEntry {
  readonly name: string;
  readonly dtype: DTypeName;
  readonly shape: readonly number[];
  /** absolute byte range in the file */
  readonly begin: number;
  readonly end: number;
}

export class SafetensorsFile {
  readonly path: string;
  readonly entries: ReadonlyMap<string, TensorEntry>;
  readonly metadata: Readonly<Record<string, string>>;
  readonly fileSize: number;

  /** Use SafetensorsFile.open(); the constructor takes an already validated header. */
  constructor(path: string, entries: Map<string, TensorEntry>, metadata: Record<string, string>, fileSize: number) {
    this.path = path;
    this.entries = entries;
    this.metadata = metadata;
    this.fileSize = fileSize;
  }

  /**
   * Opens and validates a safetensors file.
   * @throws BadInputError naming the file: missing, not safetensors, header beyond the file, invalid
   *   JSON, unknown dtype, bad shape, offsets outside the data or overlapping.
   */
  static open(path: string): SafetensorsFile {
    const fd = openOrThrow(path);
    try {
      const size = fstatSync(fd).size;
      if (size < 8) throw new BadInputError(path, `not a safetensors file (${size} bytes, too short for a header)`);
      const lenBuf = Buffer.alloc(8);
      readSync(fd, lenBuf, 0, 8, 0);
      const headerLen64 = lenBuf.readBigUInt64LE(0);
      const headerLen = Number(headerLen64);
      if (headerLen > size - 8) {
        throw new BadInputError(path, `not a safetensors file: header length ${headerLen64} is beyond the file size ${size}`);
      }
      if (headerLen > MAX_HEADER_BYTES) throw new BadInputError(path, `safetensors header of ${headerLen} bytes is too large`);
      if (headerLen < 2) throw new BadInputError(path, `not a safetensors file: header length ${headerLen}`);
      const headerBuf = Buffer.alloc(headerLen);
      readSync(fd, headerBuf, 0, headerLen, 8);
      let header: unknown;
      try {
        header = JSON.parse(headerBuf.toString('utf8'));
      } catch (e) {
        throw new BadInputError(path, `not a safetensors file: invalid header JSON (${clip((e as Error).message, 120)})`);
      }
      return parseHeader(path, header, 8 + headerLen, size);
    } finally {
      closeSync(fd);
    }
  }

  /** Reads one tensor's raw bytes. */
  readBytes(name: string): Uint8Array {
    const e = this.entry(name);
    const buf = Buffer.alloc(e.end - e.begin);
    const fd = openOrThrow(this.path);
    try {
      let done = 0;
      while (done < buf.length) {
        const n = readSync(fd, buf, done, buf.length - done, e.begin + done);
        if (n === 0) throw new BadInputError(this.path, `file truncated while reading ${show(name)}`);
        done += n;
      }
    } finally {
      closeSync(fd);
    }
    return buf;
  }

  /** Reads one float tensor as float32 (F16 / BF16 / F64 converted exactly or rounded to nearest). */
  readFloat32(name: string): Float32Array {
    const e = this.entry(name);
    if (!DTYPES[e.dtype].float) throw new BadInputError(this.path, `tensor ${show(name)} has dtype ${e.dtype}, expected a float dtype`);
    return bytesToFloat32(this.readBytes(name), e.dtype);
  }

  private entry(name: string): TensorEntry {
    const e = this.entries.get(name);
    if (!e) throw new BadInputError(this.path, `no tensor named ${show(name)}`);
    return e;
  }
}

/** Opens a regular file (a FIFO or device is refused at once, never waited on). */
function openOrThrow(path: string): number {
  return openRegularFile(path).fd;
}

function parseHeader(path: string, header: unknown, dataStart: number, fileSize: number): SafetensorsFile {
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new BadInputError(path, 'not a safetensors file: header is not a JSON object');
  }
  const entries = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = {};
  const dataSize = fileSize - dataStart;
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(path, raw);
      continue;
    }
    const bad = (what: string) => new BadInputError(path, `tensor ${show(name)}: ${what}`);
    if (typeof raw !== 'object' || raw === null) throw bad('entry is not an object');
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (typeof dtype !== 'string' || !isDTypeName(dtype)) {
      throw bad(`unknown dtype ${show(dtype)} (expected one of ${Object.keys(DTYPES).join(', ')})`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(`invalid shape ${show(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(`invalid data_offsets ${show(offsets)}`);
    }
    const [b, e] = offsets as number[];
    if (b > e || e > dataSize) throw bad(`data_offsets [${b}, ${e}] outside the data (${dataSize} bytes)`);
    const count = (shape as number[]).reduce((a, d) => a * d, 1);
    if (count * DTYPES[dtype].bytes !== e - b) {
      throw bad(`shape ${show(shape)} of ${dtype} needs ${count * DTYPES[dtype].bytes} bytes, data_offsets give ${e - b}`);
    }
    entries.set(name, { name, dtype, shape: shape as number[], begin: dataStart + b, end: dataStart + e });
  }
  const sorted = [...entries.values()].sort((x, y) => x.begin - y.begin || x.end - y.end);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].begin < sorted[i - 1].end) {
      throw new BadInputError(path, `tensors ${show(sorted[i - 1].name)} and ${show(sorted[i].name)} overlap in the data`);
    }
  }
  return new SafetensorsFile(path, entries, metadata, fileSize);
}

function parseMetadata(path: string, raw: unknown): Record<string, string> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new BadInputError(path, '__metadata__ is not an object of strings');
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof v !== 'string') throw new BadInputError(path, `__metadata__ value ${show(k)} is not a string`);
    out[k] = v;
  }
  return out;
}

/** Cuts text quoted into a message to one line of at most `max` characters. */
function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/**
 * A value from the header for a message: JSON, one line, cut short. Never throws (a deeply nested
 * array makes JSON.stringify overflow the stack).
 */
function show(value: unknown, max = 60): string {
  if (value === undefined) return '(missing)';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Array.isArray(value) ? '[…nested too deep…]' : '(unprintable)';
  }
  return clip(text, max);
}

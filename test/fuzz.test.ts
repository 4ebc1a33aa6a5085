/**
 * Seeded fuzzing of the two binary parsers users feed files to (issue 2, section 7): SafetensorsFile
 * (open + readFloat32 of every tensor) and parseNpy. Each mutated file must either parse into
 * self-consistent tensors or throw a BadInputError naming the file in one bounded line: never another
 * error type, never a slow case, never a large allocation.
 *
 * Reproduce a failure: the assertion prints the case seed; run with FUZZ_SEED=<seed> FUZZ_CASES=1.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BadInputError } from '../src/errors.js';
import { DTYPES, isDTypeName } from '../src/dtype.js';
import { SafetensorsFile } from '../src/weights/safetensors.js';
import { parseNpy } from '../src/tensors/npy.js';
import { mulberry32 } from '../src/tensors/random.js';

const BASE_SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 0x5eed_2024;
const CASES = process.env.FUZZ_CASES ? Number(process.env.FUZZ_CASES) : 1500;
/** per case; generous for a loaded CI machine, far below what a quadratic blow-up or a hang takes */
const MAX_CASE_MS = 500;
/** resident memory may grow this much over the run (a 100 MiB header allocation would show) */
const MAX_RSS_GROWTH = 256 * 1024 * 1024;
/** the longest error message accepted (path included): values quoted from a file must be cut short */
const MAX_MESSAGE = 400;

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'vaecheck-fuzz-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------
// randomness

class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  float(): number {
    return this.next();
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

// ---------------------------------------------------------------------------------------------
// shared byte-level mutations

function flipBytes(r: Rng, b: Buffer, from = 0, to = b.length): Buffer {
  const out = Buffer.from(b);
  const n = 1 + r.int(16);
  for (let i = 0; i < n && to > from; i++) out[from + r.int(to - from)] ^= 1 + r.int(255);
  return out;
}
const truncate = (r: Rng, b: Buffer) => b.subarray(0, r.int(b.length));
const appendGarbage = (r: Rng, b: Buffer) => Buffer.concat([b, r.chance(0.5) ? r.bytes(1 + r.int(64)) : r.bytes(1 + r.int(4096))]);
function insertBytes(r: Rng, b: Buffer, from = 0, to = b.length): Buffer {
  const at = from + r.int(to - from + 1);
  return Buffer.concat([b.subarray(0, at), r.bytes(1 + r.int(32)), b.subarray(at)]);
}

/** Random edits of a text: deleted, inserted or replaced characters, or a cut. */
function editText(r: Rng, s: string): string {
  const n = 1 + r.int(4);
  const chars = '{}[]():,"\' \n\t0123456789-+.eE\\uTFtrueNnul\u00e9\u0000';
  for (let i = 0; i < n; i++) {
    const at = r.int(s.length + 1);
    const op = r.int(4);
    if (op === 0) s = s.slice(0, at) + s.slice(at + 1 + r.int(8));
    else if (op === 1) s = s.slice(0, at) + r.pick([...chars]) + s.slice(at);
    else if (op === 2) s = s.slice(0, at) + r.pick([...chars]) + s.slice(at + 1);
    else s = s.slice(0, at);
  }
  return s;
}

/**
 * Stands for an array nested 20000 deep (too deep for JSON.stringify, fine for JSON.parse): toJson
 * writes it out as text.
 */
const DEEP = '\u0000deep';
const toJson = (v: unknown) => JSON.stringify(v).split(JSON.stringify(DEEP)).join(`${'['.repeat(20_000)}1${']'.repeat(20_000)}`);

/** Values for numeric fields: out of range, negative, fractional, non-numbers, huge structures. */
function oddValue(r: Rng): unknown {
  return r.pick<() => unknown>([
    () => -1,
    () => -(1 + r.int(1000)),
    () => 0.5,
    () => 1 + r.float(),
    () => 1e300,
    () => 2 ** 31,
    () => 2 ** 32 + 4,
    () => 2 ** 53,
    () => 2 ** 53 + 2,
    () => 2 ** 64,
    () => Number.MAX_SAFE_INTEGER,
    () => r.int(2 ** 20),
    () => r.int(64),
    () => '4',
    () => null,
    () => true,
    () => [],
    () => ({}),
    () => 'x'.repeat(2000),
    () => Array.from({ length: 2000 }, () => 1),
    () => DEEP,
  ])();
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.constructor.name}: ${e.stack ?? e.message}` : String(e);
}

/** An error a parser may throw: a BadInputError naming `file`, one line, bounded length. */
function checkError(e: unknown, file: string, where: string): void {
  assert.ok(e instanceof BadInputError, `${where}: threw ${describeError(e)}`);
  assert.equal(e.file, file, `${where}: error names ${e.file}`);
  assert.ok(e.message.startsWith(`${file}: `), `${where}: message ${JSON.stringify(e.message.slice(0, 200))}`);
  assert.doesNotMatch(e.message, /[\r\n]/, `${where}: multi-line message ${JSON.stringify(e.message.slice(0, 300))}`);
  assert.ok(e.message.length <= MAX_MESSAGE, `${where}: message of ${e.message.length} chars: ${JSON.stringify(e.message.slice(0, 300))}…`);
}

interface Tally {
  ok: number;
  errors: Map<string, number>;
}

/** Runs the cases, timing each and watching resident memory; returns what happened. */
function fuzz(name: string, runCase: (seed: number) => 'ok' | string): Tally {
  const tally: Tally = { ok: 0, errors: new Map() };
  const rss0 = process.memoryUsage().rss;
  let rssMax = rss0;
  for (let i = 0; i < CASES; i++) {
    const seed = (BASE_SEED + i) >>> 0;
    const t0 = performance.now();
    let outcome: string;
    try {
      outcome = runCase(seed);
    } catch (e) {
      const why = e instanceof assert.AssertionError ? e.message : describeError(e);
      throw new assert.AssertionError({ message: `${name} case seed=${seed} (rerun with FUZZ_SEED=${seed} FUZZ_CASES=1): ${why}` });
    }
    const ms = performance.now() - t0;
    assert.ok(ms < MAX_CASE_MS, `${name} case seed=${seed} took ${ms.toFixed(0)} ms`);
    const rss = process.memoryUsage().rss;
    rssMax = Math.max(rssMax, rss);
    assert.ok(rss - rss0 < MAX_RSS_GROWTH, `${name} case seed=${seed}: rss grew ${((rss - rss0) / 2 ** 20).toFixed(0)} MiB`);
    if (outcome === 'ok') tally.ok++;
    else tally.errors.set(outcome, (tally.errors.get(outcome) ?? 0) + 1);
  }
  const kinds = [...tally.errors.entries()].sort((a, b) => b[1] - a[1]);
  console.log(
    `${name}: ${CASES} cases from seed ${BASE_SEED}: ${tally.ok} parsed, ${CASES - tally.ok} refused; rss +${((rssMax - rss0) / 2 ** 20).toFixed(0)} MiB; ` +
      kinds.slice(0, 8).map(([k, n]) => `${n}x ${k}`).join('; '),
  );
  return tally;
}

/** A short class of an error message for the summary: the problem with numbers and quotes blurred. */
function errorKind(e: BadInputError): string {
  return e.problem.replace(/"[^"]*"|'[^']*'|\([^)]*\)|\[[^\]]*\]|\d+/g, '_').slice(0, 64);
}

// ---------------------------------------------------------------------------------------------
// safetensors

interface StTensor {
  name: string;
  dtype: string;
  shape: number[];
}
const ST_TENSORS: StTensor[] = [
  { name: 'a.weight', dtype: 'F32', shape: [2, 3] },
  { name: 'b.half', dtype: 'F16', shape: [4] },
  { name: 'c.bf16', dtype: 'BF16', shape: [2, 2] },
  { name: 'd.double', dtype: 'F64', shape: [2] },
  { name: 'e.int', dtype: 'I32', shape: [3] },
  { name: 'f.empty', dtype: 'F32', shape: [0, 3] },
  { name: 'g.scalar', dtype: 'F32', shape: [] },
];

type Header = Record<string, unknown>;

/** A valid file: header (padded to 8 bytes) + data, tensors in order, values from the seed. */
function validSafetensors(r: Rng): { header: Header; data: Buffer } {
  const header: Header = { __metadata__: { format: 'pt', note: 'fuzz' } };
  const chunks: Buffer[] = [];
  let off = 0;
  for (const t of ST_TENSORS) {
    const n = t.shape.reduce((a, d) => a * d, 1) * DTYPES[t.dtype as keyof typeof DTYPES].bytes;
    header[t.name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [off, off + n] };
    chunks.push(r.bytes(n));
    off += n;
  }
  return { header, data: Buffer.concat(chunks) };
}

function stBytes(headerText: string, data: Buffer, pad = true): Buffer {
  let text = headerText;
  if (pad) text += ' '.repeat((8 - (Buffer.byteLength(text) % 8)) % 8);
  const h = Buffer.from(text, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

/** One JSON-level edit of the header object (re-serialized with a correct length by the caller). */
function editHeader(r: Rng, h: Header, dataSize: number): Header | unknown {
  const names = Object.keys(h).filter((k) => k !== '__metadata__');
  const name = r.pick(names);
  const e = h[name] as Record<string, unknown>;
  const op = r.int(16);
  switch (op) {
    case 0:
      e.dtype = r.pick(['F32', 'F16', 'BF16', 'F64', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL', 'F8_E4M3', 'f32', '', 7, null, {}, ['F32'], '__proto__', 'toString']);
      break;
    case 1:
      e.shape = Array.from({ length: r.int(7) }, () => (r.chance(0.6) ? r.int(9) : oddValue(r)));
      break;
    case 2:
      e.shape = r.pick([[2 ** 26, 2 ** 26, 2 ** 26], [2 ** 53 - 1, 2], [0, 2 ** 53 + 1], [-3, -2], [1.5, 4], [6], [3, 2], [1, 1, 1, 6], [24 / 4]]);
      break;
    case 3:
      e.shape = oddValue(r);
      break;
    case 4: {
      const o = e.data_offsets as number[];
      e.data_offsets = r.chance(0.5) ? [oddValue(r), o[1]] : [o[0], oddValue(r)];
      break;
    }
    case 5: {
      const o = e.data_offsets as number[];
      const d = r.pick([-8, -4, -2, -1, 1, 2, 4, 8, dataSize]);
      e.data_offsets = r.chance(0.5) ? [o[0] + d, o[1] + d] : [o[0], o[1] + d];
      break;
    }
    case 6:
      e.data_offsets = r.pick<unknown>([[], [0], [0, 4, 8], [dataSize, dataSize + 4], [dataSize - 4, dataSize + 2 ** 53], [8, 4], [-4, 0], [0.5, 4.5], null, '0,4', oddValue(r)]);
      break;
    case 7: {
      // overlap: take another tensor's range (or part of it)
      const other = h[r.pick(names)] as Record<string, unknown>;
      const o = other.data_offsets as number[];
      e.data_offsets = r.chance(0.5) ? [...o] : [o[0] + 1, o[1] + 1];
      if (r.chance(0.5)) e.shape = other.shape;
      if (r.chance(0.5)) e.dtype = other.dtype;
      break;
    }
    case 8:
      delete e[r.pick(['dtype', 'shape', 'data_offsets'])];
      break;
    case 9:
      delete h[name];
      break;
    case 10:
      h[name] = r.pick<unknown>([null, 1, 'F32', [], [e], true]);
      break;
    case 11:
      h.__metadata__ = r.pick<unknown>([null, 1, 'x', [], { a: 1 }, { a: { b: 'c' } }, { a: null }, oddValue(r)]);
      break;
    case 12: {
      // renamed tensors: odd names
      const to = r.pick(['', '__proto__', 'constructor', 'a\nb', 'é'.repeat(50), 'n'.repeat(5000), '__metadata__']);
      h[to] = e;
      delete h[name];
      break;
    }
    case 13: {
      // many entries: zero-size tensors at the end of the data
      const n = 1 + r.int(5000);
      for (let i = 0; i < n; i++) h[`z${i}`] = { dtype: 'F32', shape: [0], data_offsets: [dataSize, dataSize] };
      break;
    }
    case 14:
      return r.pick<unknown>([[], [h], 1, 'x', null, true, oddValue(r)]);
    default:
      e[r.pick(['extra', 'dtype', 'shape'])] = oddValue(r);
  }
  return h;
}

function mutateSafetensors(r: Rng): { bytes: Buffer; what: string } {
  const { header, data } = validSafetensors(r);
  const text = JSON.stringify(header);
  const valid = stBytes(text, data);
  const headerEnd = 8 + Number(valid.readBigUInt64LE(0));
  const ops: string[] = [];
  let bytes = valid;
  const rounds = r.chance(0.2) ? 2 + r.int(2) : 1;
  for (let k = 0; k < rounds; k++) {
    const op = r.int(10);
    ops.push(['flip', 'flip-header', 'truncate', 'header-length', 'json', 'json', 'json-text', 'append', 'insert-header', 'valid'][op]);
    if (op === 0) bytes = flipBytes(r, bytes);
    else if (op === 1) bytes = flipBytes(r, bytes, 0, Math.min(bytes.length, headerEnd));
    else if (op === 2) bytes = truncate(r, bytes);
    else if (op === 3) {
      bytes = Buffer.from(bytes.length >= 8 ? bytes : Buffer.concat([bytes, Buffer.alloc(8 - bytes.length)]));
      const len = Number(bytes.readBigUInt64LE(0));
      const v = r.pick<() => bigint>([
        () => 0n,
        () => 1n,
        () => 2n,
        () => 7n,
        () => BigInt(Math.max(0, len - 1 - r.int(8))),
        () => BigInt(len + 1 + r.int(8)),
        () => BigInt(bytes.length - 8),
        () => BigInt(bytes.length - 7),
        () => BigInt(bytes.length),
        () => 2n ** 32n,
        () => 100n * 1024n * 1024n + 1n,
        () => 2n ** 53n + 1n,
        () => 2n ** 63n,
        () => 2n ** 64n - 1n,
        () => BigInt.asUintN(64, (BigInt(r.int(2 ** 32)) << 32n) | BigInt(r.int(2 ** 32))),
      ])();
      bytes.writeBigUInt64LE(v, 0);
    } else if (op === 4 || op === 5) {
      const h = JSON.parse(JSON.stringify(header)) as Header;
      const edited = editHeader(r, h, data.length);
      bytes = stBytes(toJson(edited), data, r.chance(0.9));
    } else if (op === 6) bytes = stBytes(editText(r, text), data, r.chance(0.8));
    else if (op === 7) bytes = appendGarbage(r, bytes);
    else if (op === 8) bytes = insertBytes(r, bytes, 8, Math.min(bytes.length, headerEnd));
    // op 9: unchanged (the valid file must parse)
  }
  return { bytes, what: ops.join('+') };
}

/** Opens `path`, reads every tensor and checks the result, or checks the error. */
function checkSafetensors(path: string, fileBytes: Buffer, what: string): 'ok' | string {
  let st: SafetensorsFile;
  try {
    st = SafetensorsFile.open(path);
  } catch (e) {
    checkError(e, path, `open (${what})`);
    return errorKind(e as BadInputError);
  }
  const headerLen = Number(fileBytes.readBigUInt64LE(0));
  const dataStart = 8 + headerLen;
  assert.equal(st.fileSize, fileBytes.length);
  const ranges: [number, number, string][] = [];
  let refused: string | undefined;
  for (const [name, e] of st.entries) {
    const label = JSON.stringify(name.slice(0, 40));
    assert.equal(e.name, name);
    assert.ok(isDTypeName(e.dtype), `dtype ${e.dtype}`);
    assert.ok(e.shape.every((d) => Number.isSafeInteger(d) && d >= 0), `shape ${JSON.stringify(e.shape)}`);
    const count = e.shape.reduce((a, d) => a * d, 1);
    assert.ok(e.begin >= dataStart && e.begin <= e.end && e.end <= fileBytes.length, `${label}: range [${e.begin}, ${e.end}) of ${fileBytes.length} bytes, data from ${dataStart}`);
    assert.equal(e.end - e.begin, count * DTYPES[e.dtype].bytes, `${label}: range length`);
    ranges.push([e.begin, e.end, label]);
    let data: Float32Array;
    try {
      data = st.readFloat32(name);
    } catch (err) {
      checkError(err, path, `readFloat32(${JSON.stringify(name.slice(0, 40))}) (${what})`);
      assert.ok(!DTYPES[e.dtype].float, `readFloat32 refused a ${e.dtype} tensor`);
      refused = errorKind(err as BadInputError);
      continue;
    }
    assert.ok(DTYPES[e.dtype].float, `readFloat32 read a ${e.dtype} tensor`);
    assert.equal(data.length, count, `${label}: ${data.length} values for shape ${JSON.stringify(e.shape)}`);
    if (e.dtype === 'F32') {
      const want = new Float32Array(fileBytes.buffer.slice(fileBytes.byteOffset + e.begin, fileBytes.byteOffset + e.end));
      assert.ok(want.every((v, i) => Object.is(v, data[i]) || (Number.isNaN(v) && Number.isNaN(data[i]))), `${label}: values differ from the file's bytes`);
    }
  }
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (let i = 1; i < ranges.length; i++) {
    assert.ok(ranges[i][0] >= ranges[i - 1][1] || ranges[i][0] === ranges[i][1] || ranges[i - 1][0] === ranges[i - 1][1], `${ranges[i - 1][2]} and ${ranges[i][2]} overlap`);
  }
  // the one error readFloat32 may give on a parsed file is the non-float dtype (the I32 tensor)
  return refused === undefined ? 'ok' : `ok (${refused})`;
}

test(`safetensors: ${CASES} seeded mutations end in a parse or a BadInputError`, { timeout: 300_000 }, () => {
  const path = join(dir, 'fuzz.safetensors');
  // the unmutated file parses
  const { header, data } = validSafetensors(new Rng(1));
  const valid = stBytes(JSON.stringify(header), data);
  writeFileSync(path, valid);
  assert.match(checkSafetensors(path, valid, 'valid'), /^ok \(tensor _ has dtype I_, expected a float dtype/);

  const tally = fuzz('safetensors', (seed) => {
    const r = new Rng(seed);
    const { bytes, what } = mutateSafetensors(r);
    writeFileSync(path, bytes);
    return checkSafetensors(path, bytes, `${what}, ${bytes.length} bytes`);
  });
  // the mutations reach past the first checks: some files still parse, many different errors occur
  assert.ok(tally.ok + [...tally.errors.entries()].filter(([k]) => k.startsWith('ok')).reduce((a, [, n]) => a + n, 0) > CASES / 20 || CASES < 100);
  assert.ok(tally.errors.size >= 10 || CASES < 100, `only ${tally.errors.size} kinds of outcome`);
});

// ---------------------------------------------------------------------------------------------
// .npy

const NPY_DESCR: Record<string, number> = { '<f2': 2, '<f4': 4, '<f8': 8 };

function npyBytes(version: number, headerText: string, data: Buffer, fixLength = true): Buffer {
  const pre = version === 1 ? 10 : 12;
  let text = headerText;
  if (fixLength) text += ' '.repeat((64 - ((pre + Buffer.byteLength(text) + 1) % 64)) % 64) + '\n';
  const h = Buffer.from(text, 'latin1');
  const head = Buffer.alloc(pre);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = version;
  head[7] = 0;
  if (version === 1) head.writeUInt16LE(h.length & 0xffff, 8);
  else head.writeUInt32LE(h.length, 8);
  return Buffer.concat([head, h, data]);
}

function dictText(descr: string, fortran: string, shape: string): string {
  return `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }`;
}

const shapeText = (s: number[]) => (s.length === 1 ? `(${s[0]},)` : `(${s.join(', ')})`);

function mutateNpy(r: Rng): { bytes: Buffer; what: string } {
  const descr = r.pick(Object.keys(NPY_DESCR));
  const shape = r.pick([[1, 4, 3, 2], [2, 4, 2, 3], [5], [], [0, 4], [3, 1]]);
  const version = r.pick([1, 1, 2, 3]);
  const data = r.bytes(shape.reduce((a, d) => a * d, 1) * NPY_DESCR[descr]);
  const dict = dictText(descr, 'False', shapeText(shape));
  const valid = npyBytes(version, dict, data);
  const pre = version === 1 ? 10 : 12;
  const headerEnd = pre + (version === 1 ? valid.readUInt16LE(8) : valid.readUInt32LE(8));
  let bytes = valid;
  const ops: string[] = [];
  const rounds = r.chance(0.2) ? 2 + r.int(2) : 1;
  for (let k = 0; k < rounds; k++) {
    const op = r.int(11);
    ops.push(['flip', 'flip-header', 'truncate', 'header-length', 'version', 'dict', 'dict', 'dict-text', 'data-length', 'append', 'valid'][op]);
    if (op === 0) bytes = flipBytes(r, bytes);
    else if (op === 1) bytes = flipBytes(r, bytes, 0, Math.min(bytes.length, headerEnd));
    else if (op === 2) bytes = truncate(r, bytes);
    else if (op === 3) {
      bytes = Buffer.from(bytes.length >= 12 ? bytes : Buffer.concat([bytes, Buffer.alloc(12 - bytes.length)]));
      const v = r.pick([0, 1, 2, 9, 10, 11, headerEnd - pre - 1, headerEnd - pre + 1, bytes.length, 0xffff, 0xffffffff, r.int(2 ** 32)]);
      if (bytes[6] === 1 || r.chance(0.3)) bytes.writeUInt16LE(v & 0xffff, 8);
      else bytes.writeUInt32LE(v >>> 0, 8);
    } else if (op === 4) {
      bytes = Buffer.from(bytes);
      if (bytes.length > 7) bytes[r.chance(0.8) ? 6 : 7] = r.pick([0, 1, 2, 3, 4, 255]);
    } else if (op === 5 || op === 6) {
      const d = r.pick(['<f2', '<f4', '<f8', '>f4', '|f4', '<i4', '|u1', '<f16', '<c8', 'O', '', "<f4', 'x': '", '<f4\n', 'f'.repeat(3000)]);
      const f = r.pick(['False', 'True', 'false', '0', '']);
      const s = r.pick([
        shapeText(shape),
        '()',
        '(,)',
        '(-1,)',
        '(1.5, 2)',
        '(2 ** 60, 2 ** 60)',
        '(1152921504606846976, 1152921504606846976)',
        '(9007199254740993,)',
        `(${'9'.repeat(400)},)`,
        '(0, 99999999999999999999)',
        `(${Array(50).fill(1).join(', ')})`,
        '(4, 3, 2, 1, 1)',
        '(24,)',
        '(3, 8)',
        '[1, 4, 3, 2]',
        '(1, 4, 3, 2',
        '(\n1,\n4,\n3,\n2)',
        `(${'1, '.repeat(20000)})`,
      ]);
      // one field changed (shape most often), or the whole dict replaced
      const keep = r.int(8);
      const text = r.chance(0.85)
        ? dictText(keep === 0 ? d : descr, keep === 1 ? f : 'False', keep >= 2 ? s : shapeText(shape))
        : r.pick(["{'descr': '<f4', 'shape': (1,)}", "{'fortran_order': False, 'shape': (1,)}", '{}', '', 'garbage', `{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'descr': '<f8', }`]);
      bytes = npyBytes(r.chance(0.5) ? version : r.pick([1, 2, 3]), text, data, r.chance(0.9));
    } else if (op === 7) bytes = npyBytes(version, editText(r, dict), data, r.chance(0.8));
    else if (op === 8) {
      const d = r.pick([-8, -4, -2, -1, 1, 2, 4, 8]);
      bytes = d < 0 ? bytes.subarray(0, Math.max(0, bytes.length + d)) : Buffer.concat([bytes, Buffer.alloc(d)]);
    } else if (op === 9) bytes = appendGarbage(r, bytes);
  }
  return { bytes, what: `${ops.join('+')} of v${version} ${descr} ${shapeText(shape)}` };
}

function checkNpy(file: string, bytes: Buffer, what: string): 'ok' | string {
  let a: ReturnType<typeof parseNpy>;
  try {
    a = parseNpy(file, bytes);
  } catch (e) {
    checkError(e, file, `parseNpy (${what})`);
    return errorKind(e as BadInputError);
  }
  assert.ok(a.descr in NPY_DESCR, `descr ${a.descr} (${what})`);
  assert.ok(a.shape.every((d) => Number.isSafeInteger(d) && d >= 0), `shape ${JSON.stringify(a.shape)} (${what})`);
  const count = a.shape.reduce((x, d) => x * d, 1);
  assert.equal(a.data.length, count, `${a.data.length} values for shape ${JSON.stringify(a.shape)} (${what})`);
  assert.ok(count * NPY_DESCR[a.descr] <= bytes.length, `data larger than the file (${what})`);
  if (a.descr === '<f4' && count > 0) {
    const tail = bytes.subarray(bytes.length - count * 4);
    const want = new Float32Array(tail.buffer.slice(tail.byteOffset, tail.byteOffset + tail.byteLength));
    assert.ok(want.every((v, i) => Object.is(v, a.data[i]) || (Number.isNaN(v) && Number.isNaN(a.data[i]))), `values differ from the file's bytes (${what})`);
  }
  return 'ok';
}

test(`.npy: ${CASES} seeded mutations end in a parse or a BadInputError`, { timeout: 300_000 }, () => {
  const file = join(dir, 'fuzz.npy');
  const data = Buffer.from(new Float32Array([1, -2, 3.5, 0, 5, 6]).buffer);
  const valid = parseNpy(file, npyBytes(1, dictText('<f4', 'False', '(2, 3)'), data));
  assert.deepEqual(valid.shape, [2, 3]);
  assert.deepEqual([...valid.data], [1, -2, 3.5, 0, 5, 6]);

  const tally = fuzz('npy', (seed) => {
    const r = new Rng(seed);
    const { bytes, what } = mutateNpy(r);
    return checkNpy(file, bytes, `${what}, ${bytes.length} bytes`);
  });
  assert.ok(tally.ok > CASES / 20 || CASES < 100, `only ${tally.ok} parsed`);
  assert.ok(tally.errors.size >= 8 || CASES < 100, `only ${tally.errors.size} kinds of error`);
});

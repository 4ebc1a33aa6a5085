/**
 * Test helper: the seeded fixtures (fixtures/generate.ts), written once per test process into a
 * private temporary folder (os.tmpdir()/vaecheck-fixtures-<pid>) and removed when the process exits.
 * Tests never depend on fixtures/generated being present or current.
 *
 * Also: the canonical weights of a weight fixture as the file stores them (rounded to its storage
 * dtype, transform applied) for the float64 reference, and the latent fixtures as float32 tensors.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  SCALING_FACTOR,
  makeVaeWeights,
  scaleDecoderStream,
  writeFixtures,
  type FixtureIndex,
  type LatentsFixture,
  type WeightsFixture,
} from '../../fixtures/generate.js';
import { roundArray } from '../reference/round.js';
import type { RefPrecision, RefTensor, RefWeights } from '../reference/types.js';

export interface Fixtures {
  /** the folder holding the generated files */
  dir: string;
  index: FixtureIndex;
  /** absolute path of a fixture file given its index name, e.g. 'tiny-diffusers-f32.safetensors' */
  path(file: string): string;
  /** the weight fixture of that name */
  weights(file: string): WeightsFixture;
  /** every weight fixture, in index order */
  allWeights(): WeightsFixture[];
  /** the latents fixture of that name */
  latents(file: string): LatentsFixture;
}

let cached: Fixtures | undefined;

/** Generates the fixtures on first call (about 2-3 s) and returns them; later calls are free. */
export function fixtures(): Fixtures {
  if (cached) return cached;
  const dir = join(tmpdir(), `vaecheck-fixtures-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const index = writeFixtures(dir);
  const byName = new Map(index.files.map((f) => [f.file, f]));
  const get = (file: string) => {
    const f = byName.get(file);
    if (!f) throw new Error(`fixture ${file} is not in the index (have: ${[...byName.keys()].join(', ')})`);
    if (!existsSync(f.path)) throw new Error(`fixture ${f.path} was not written`);
    return f;
  };
  cached = {
    dir,
    index,
    path: (file) => get(file).path,
    weights(file) {
      const f = get(file);
      if (f.kind !== 'weights') throw new Error(`fixture ${file} is a ${f.kind} fixture, not weights`);
      return f;
    },
    allWeights: () => index.files.filter((f): f is WeightsFixture => f.kind === 'weights'),
    latents(file) {
      const f = get(file);
      if (f.kind !== 'latents') throw new Error(`fixture ${file} is a ${f.kind} fixture, not latents`);
      return f;
    },
  };
  return cached;
}

const refWeightsCache = new Map<string, RefWeights>();

/**
 * The canonical-named float64 weights a weight fixture holds: makeVaeWeights(config, seed), the
 * fixture's transform applied, every value rounded to the file's storage dtype (as the generator
 * stores it). Built independently of the file and of src/.
 */
export function referenceWeightsOf(f: WeightsFixture): RefWeights {
  const key = JSON.stringify([f.config, f.seed, f.transform, f.dtype]);
  const hit = refWeightsCache.get(key);
  if (hit) return hit;
  let w = makeVaeWeights(f.config, f.seed);
  if (f.transform.kind === 'scaled') w = scaleDecoderStream(w, f.config, f.transform.fromUpBlock, f.transform.factor);
  const precision: RefPrecision = f.dtype === 'F32' ? 'fp32' : f.dtype === 'F16' ? 'fp16' : 'bf16';
  const out: RefWeights = new Map();
  for (const [k, t] of w) out.set(k, { shape: [...t.shape], data: roundArray(Float64Array.from(t.data), precision) });
  refWeightsCache.set(key, out);
  return out;
}

export interface LatentPair {
  /** float32 raw latents (scaled / 0.13025, rounded to float32): what the graph is fed */
  f32: { shape: number[]; data: Float32Array };
  /** the same float32 values as float64: what the reference is fed */
  ref: RefTensor;
}

/**
 * Reads a scaled latents .npy written by the generator (its own minimal parser: version 1.0,
 * '<f4', C order) and turns it into raw latents (divided by SDXL's scaling factor).
 */
export function rawLatents(path: string): LatentPair {
  const { shape, data } = readNpyF32(path);
  const raw = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) raw[i] = data[i] / SCALING_FACTOR;
  return { f32: { shape, data: raw }, ref: { shape: [...shape], data: Float64Array.from(raw) } };
}

/** Minimal .npy reader for the fixtures' float32 little-endian C-order arrays. */
export function readNpyF32(path: string): { shape: number[]; data: Float32Array } {
  const bytes: Uint8Array = readFileSync(path);
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (!magic.every((b, i) => bytes[i] === b)) throw new Error(`${path}: not a .npy file`);
  if (bytes[6] !== 1) throw new Error(`${path}: expected .npy version 1, found ${bytes[6]}`);
  const headerLen = bytes[8] | (bytes[9] << 8);
  const header = new TextDecoder().decode(bytes.subarray(10, 10 + headerLen));
  if (!/'descr':\s*'<f4'/.test(header) || !/'fortran_order':\s*False/.test(header)) throw new Error(`${path}: expected '<f4' C order, header ${header}`);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (shapeText === undefined) throw new Error(`${path}: no shape in header ${header}`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const start = 10 + headerLen;
  if (bytes.length - start !== 4 * count) throw new Error(`${path}: ${bytes.length - start} data bytes for shape (${shape.join(', ')})`);
  const data = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset + start, 4 * count);
  for (let i = 0; i < count; i++) data[i] = view.getFloat32(4 * i, true);
  return { shape, data };
}

/** Largest |a[i] - b[i]| (NaN when either holds a NaN where the other does not, or lengths differ). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return NaN;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) return NaN;
    if (d > m) m = d;
  }
  return m;
}

/**
 * Rebuilds the float32 inputs of test/metrics/reference.json exactly as make-reference.py does.
 * Keep the two in step: the test compares refSum/testSum before trusting any comparison.
 */
import { readImage, tensorToRgb8 } from '../../src/images/sharp-io.js';

export interface ReferenceCase {
  name: string;
  kind: 'noise' | 'independent' | 'gradient-noise' | 'photo-noise' | 'photo-posterize';
  shape: number[];
  seed?: number;
  amp?: number;
  range?: number;
  levels?: number;
  source?: string;
  refSum: number;
  testSum: number;
  psnr: number;
  ssim: number;
  ssimPlanes: number[];
}

/** Marsaglia's xorshift32 (13, 17, 5); next() in [0, 1). Mirrors XorShift32 in make-reference.py. */
export function xorshift32(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

/** Loads a committed 8-bit RGB PNG as float32 CHW in [0, 1] (fround(v / 255)). */
export async function loadPhotoUnit(path: string): Promise<{ data: Float32Array; shape: number[] }> {
  const img = await readImage(path);
  const [, , h, w] = img.shape;
  const rgb = tensorToRgb8(img.data, 3, h, w);
  const data = new Float32Array(3 * h * w);
  for (let c = 0; c < 3; c++) for (let i = 0; i < h * w; i++) data[c * h * w + i] = rgb[3 * i + c] / 255;
  return { data, shape: [3, h, w] };
}

export function seqSum(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

const clip = (v: number, lo: number, hi: number): number => (v < lo ? lo : v > hi ? hi : v);

/** The (ref, test) float32 pair of one case, from the repository root. */
export async function makeInputs(c: ReferenceCase, root: string): Promise<{ ref: Float32Array; test: Float32Array }> {
  const size = c.shape.reduce((a, b) => a * b, 1);
  const rng = xorshift32(c.seed ?? 1);
  const r = c.range ?? 1;
  const amp = c.amp ?? 0;
  let ref: Float32Array;
  if (c.kind === 'photo-noise' || c.kind === 'photo-posterize') {
    const photo = await loadPhotoUnit(`${root}/${c.source}`);
    if (photo.shape.join() !== c.shape.join()) throw new Error(`${c.source}: shape ${photo.shape} != ${c.shape}`);
    ref = photo.data;
  } else if (c.kind === 'gradient-noise') {
    const [cc, h, w] = c.shape.slice(-3);
    ref = new Float32Array(size);
    let i = 0;
    for (let n = 0; n < size / (cc * h * w); n++)
      for (let ch = 0; ch < cc; ch++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) ref[i++] = (x + y + 8 * ch) / (w + h + 16);
  } else {
    ref = new Float32Array(size);
    for (let i = 0; i < size; i++) ref[i] = rng() * r;
  }
  const test = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    if (c.kind === 'independent') test[i] = rng() * r;
    else if (c.kind === 'photo-posterize') test[i] = Math.floor(ref[i] * c.levels! + 0.5) / c.levels!;
    else test[i] = clip(ref[i] + amp * (2 * rng() - 1), 0, r);
  }
  return { ref, test };
}

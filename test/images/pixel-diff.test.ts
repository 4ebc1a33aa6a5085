import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { pixelDiff, diffHeatmap, rgbToRgba, NONFINITE_COLOUR } from '../../src/images/pixel-diff.js';
import { readImage, tensorToRgb8 } from '../../src/images/sharp-io.js';

const photo = fileURLToPath(new URL('../../fixtures/photos/chelsea-64.png', import.meta.url));
const FIVE = [0, 63, 64 * 10 + 10, 64 * 30 + 41, 64 * 64 - 1];

function flat(w: number, h: number, v: number): Uint8Array {
  return new Uint8Array(w * h * 3).fill(v);
}

function changeStrongly(rgb: Uint8Array, pixels: number[]): Uint8Array {
  const out = rgb.slice();
  for (const p of pixels) for (let c = 0; c < 3; c++) out[3 * p + c] = rgb[3 * p + c] < 128 ? 255 : 0;
  return out;
}

async function photoRgb(): Promise<Uint8Array> {
  const img = await readImage(photo);
  return tensorToRgb8(img.data, 3, 64, 64);
}

for (const [label, make] of [
  ['flat grey', async () => flat(64, 64, 120)],
  ['photo', photoRgb],
] as const) {
  test(`pixelDiff ${label}: identical -> 0, five pixels changed strongly -> exactly 5`, async () => {
    const a = await make();
    const same = pixelDiff(a, a.slice(), 64, 64);
    assert.equal(same.mismatched, 0);
    assert.equal(same.diff.length, 64 * 64 * 4);
    const b = changeStrongly(a, FIVE);
    const { mismatched, diff } = pixelDiff(a, b, 64, 64);
    assert.equal(mismatched, 5);
    for (const p of FIVE) assert.deepEqual(Array.from(diff.subarray(4 * p, 4 * p + 4)), [255, 0, 0, 255]);
    assert.equal(pixelDiff(a, b, 64, 64, { threshold: 0, includeAA: true }).mismatched, 5);
  });
}

test('pixelDiff threshold: a 1-level change counts only at threshold 0', () => {
  const a = flat(8, 8, 100);
  const b = a.slice();
  b[0] = 101;
  assert.equal(pixelDiff(a, b, 8, 8).mismatched, 0);
  assert.equal(pixelDiff(a, b, 8, 8, { threshold: 0 }).mismatched, 1);
});

test('pixelDiff rejects wrong sizes and thresholds', () => {
  assert.throws(() => pixelDiff(flat(2, 2, 0), flat(2, 1, 0), 2, 2), /for b/);
  assert.throws(() => pixelDiff(flat(2, 2, 0), flat(2, 2, 0), 2, 2, { threshold: 2 }), /threshold/);
});

test('rgbToRgba adds opaque alpha', () => {
  assert.deepEqual(Array.from(rgbToRgba(Uint8Array.from([1, 2, 3, 4, 5, 6]))), [1, 2, 3, 255, 4, 5, 6, 255]);
});

test('diffHeatmap: black where equal, scaled by gain, white when saturated, magenta for NaN/Inf', () => {
  // c=3, h=1, w=4, pixel-major per channel (CHW)
  const ref = new Float32Array(12).fill(0);
  const test = ref.slice();
  test[1] = 0.0625; // pixel 1, channel 0: d = 1/16, gain 4 -> s = 1/8 -> red round(255 * 3/8) = 96
  test[4 + 2] = -1; // pixel 2, channel 1: d = 1 -> saturated -> white
  test[8 + 3] = NaN; // pixel 3, channel 2 -> magenta
  const out = diffHeatmap(ref, test, 3, 1, 4, { gain: 4 });
  assert.deepEqual(Array.from(out), [0, 0, 0, 96, 0, 0, 255, 255, 255, ...NONFINITE_COLOUR]);
  assert.deepEqual(Array.from(diffHeatmap(ref, test, 3, 1, 4, { gain: 16 }).subarray(3, 6)), [255, 128, 0]);
  ref[0] = Infinity;
  assert.deepEqual(Array.from(diffHeatmap(ref, test, 3, 1, 4).subarray(0, 3)), [255, 0, 255]);
});

test('diffHeatmap offset picks one item of a batch', () => {
  const ref = new Float32Array(2 * 3 * 4).fill(0);
  const test = ref.slice();
  test[12] = 1; // item 1, channel 0, pixel 0
  assert.deepEqual(Array.from(diffHeatmap(ref, test, 3, 2, 2).subarray(0, 3)), [0, 0, 0]);
  assert.deepEqual(Array.from(diffHeatmap(ref, test, 3, 2, 2, { offset: 12 }).subarray(0, 3)), [255, 255, 255]);
  assert.throws(() => diffHeatmap(ref, test, 3, 2, 2, { offset: 13 }), /offset/);
});

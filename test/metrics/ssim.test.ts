import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ssim, ssimPlanes, SSIM_WINDOW, SSIM_MIN_SIDE } from '../../src/metrics/index.js';
import { xorshift32 } from './reference-inputs.js';

function random(n: number, seed: number): Float32Array {
  const r = xorshift32(seed);
  return Float32Array.from({ length: n }, () => r());
}

test('window: 11 taps, sigma 1.5, sums to 1, symmetric', () => {
  assert.equal(SSIM_WINDOW.length, 11);
  assert.equal(SSIM_MIN_SIDE, 11);
  assert.ok(Math.abs(SSIM_WINDOW.reduce((a, b) => a + b, 0) - 1) < 1e-15);
  assert.equal(SSIM_WINDOW[0], SSIM_WINDOW[10]);
  assert.ok(Math.abs(SSIM_WINDOW[6] / SSIM_WINDOW[5] - Math.exp(-1 / (2 * 1.5 * 1.5))) < 1e-15);
});

test('identical images give exactly 1', () => {
  const a = random(3 * 16 * 16, 9);
  assert.equal(ssim(a, a.slice(), [3, 16, 16]), 1);
  assert.deepEqual(Array.from(ssimPlanes(a, a, [1, 3, 16, 16])), [1, 1, 1]);
});

test('constant images: luminance term only, (2ab + C1) / (a^2 + b^2 + C1)', () => {
  const a = new Float32Array(12 * 12).fill(0.25);
  const b = new Float32Array(12 * 12).fill(0.75);
  const c1 = 0.01 ** 2;
  const want = (2 * 0.25 * 0.75 + c1) / (0.25 ** 2 + 0.75 ** 2 + c1);
  assert.ok(Math.abs(ssim(a, b, [1, 12, 12]) - want) < 1e-12);
});

test('NaN or Inf anywhere gives NaN', () => {
  const a = random(3 * 16 * 16, 3);
  for (const bad of [NaN, Infinity]) {
    const b = a.slice();
    b[0] = bad; // a corner: still inside one valid window
    assert.ok(Number.isNaN(ssim(a, b, [3, 16, 16])));
  }
});

test('bad shapes throw RangeError naming the problem', () => {
  const a = new Float32Array(3 * 10 * 10);
  assert.throws(() => ssim(a, a, [3, 10, 10]), /at least 11/);
  assert.throws(() => ssim(a, a, [300]), /shape/);
  assert.throws(() => ssim(a, a.subarray(1), [3, 10, 10]), RangeError);
  assert.throws(() => ssim(new Float32Array(3 * 121), new Float32Array(3 * 121), [1, 3, 11, 10]), RangeError);
  assert.throws(() => ssim(a, a, [3, 11, 11]), /for ref/);
  assert.throws(() => ssim(new Float32Array(121), new Float32Array(121), [1, 11, 11], { dataRange: -1 }), /dataRange/);
});

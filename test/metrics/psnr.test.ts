import { test } from 'node:test';
import assert from 'node:assert/strict';
import { psnr } from '../../src/metrics/index.js';

test('identical inputs give Infinity', () => {
  const a = new Float32Array([0.1, 0.5, 0.9]);
  assert.equal(psnr(a, a.slice()), Infinity);
});

test('hand-computed: one of four values off by 0.5 -> mse 1/16 -> 10*log10(16) dB', () => {
  const p = psnr(new Float32Array([0, 0, 0, 0]), new Float32Array([0.5, 0, 0, 0]));
  assert.ok(Math.abs(p - 12.041199826559248) < 1e-12, String(p));
});

test('peak: 8-bit data with peak 255, and [-1, 1] data with peak 2 equals [0, 1] data with peak 1', () => {
  // every value off by 1 grey level: 20*log10(255)
  assert.ok(Math.abs(psnr([10, 20, 30], [11, 19, 31], { peak: 255 }) - 20 * Math.log10(255)) < 1e-12);
  const unitRef = [0.25, 0.5, 0.75, 1];
  const unitTest = [0.3, 0.5, 0.7, 0.9];
  const signed = (a: number[]) => a.map((x) => 2 * x - 1);
  assert.ok(Math.abs(psnr(unitRef, unitTest) - psnr(signed(unitRef), signed(unitTest), { peak: 2 })) < 1e-12);
});

test('NaN or Inf in either input gives NaN', () => {
  const a = new Float32Array([0, 0.5, 1]);
  assert.ok(Number.isNaN(psnr(a, new Float32Array([0, NaN, 1]))));
  assert.ok(Number.isNaN(psnr(new Float32Array([NaN, 0.5, 1]), a)));
  assert.ok(Number.isNaN(psnr(a, new Float32Array([0, Infinity, 1]))));
  assert.ok(Number.isNaN(psnr(new Float32Array([Infinity]), new Float32Array([Infinity]))));
});

test('bad arguments throw RangeError', () => {
  assert.throws(() => psnr([1, 2], [1]), /Expected 2 values/);
  assert.throws(() => psnr([], []), RangeError);
  assert.throws(() => psnr([1], [1], { peak: 0 }), /for peak/);
});

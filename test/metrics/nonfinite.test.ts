import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countNonFinite } from '../../src/metrics/index.js';

test('counts NaN and +-Inf separately, with the fraction of both', () => {
  const a = new Float32Array([0, NaN, Infinity, -Infinity, 1, NaN, 65504, -0]);
  assert.deepEqual(countNonFinite(a), { nan: 2, inf: 2, total: 8, fraction: 0.5 });
});

test('float16 overflow seen through Float32: 1e39 rounds to Infinity in float32', () => {
  assert.deepEqual(countNonFinite(new Float32Array([1e39, 3.4e38])), { nan: 0, inf: 1, total: 2, fraction: 0.5 });
});

test('all finite and empty inputs', () => {
  assert.deepEqual(countNonFinite(new Float32Array(5)), { nan: 0, inf: 0, total: 5, fraction: 0 });
  assert.deepEqual(countNonFinite(new Float32Array(0)), { nan: 0, inf: 0, total: 0, fraction: 0 });
  assert.deepEqual(countNonFinite([NaN]), { nan: 1, inf: 0, total: 1, fraction: 1 });
});

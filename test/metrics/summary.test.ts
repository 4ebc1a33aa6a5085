import { test } from 'node:test';
import assert from 'node:assert/strict';
import { meanStd } from '../../src/metrics/index.js';

test('population std (ddof = 0, numpy default): [2,4,4,4,5,5,7,9] -> mean 5, std 2', () => {
  assert.deepEqual(meanStd([2, 4, 4, 4, 5, 5, 7, 9]), { mean: 5, std: 2, n: 8 });
  assert.deepEqual(meanStd(new Float64Array([3])), { mean: 3, std: 0, n: 1 });
});

test('empty gives NaN; NaN and Infinity propagate', () => {
  const e = meanStd([]);
  assert.equal(e.n, 0);
  assert.ok(Number.isNaN(e.mean) && Number.isNaN(e.std));
  assert.ok(Number.isNaN(meanStd([1, NaN]).mean));
  const inf = meanStd([30, Infinity]);
  assert.equal(inf.mean, Infinity);
  assert.ok(Number.isNaN(inf.std));
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxAbsError, meanAbsError } from '../../src/metrics/index.js';

test('max and mean absolute error, hand-computed', () => {
  const a = [0, 1, 2, 3];
  const b = [0.5, 1, 1, 3];
  assert.equal(maxAbsError(a, b), 1);
  assert.equal(meanAbsError(a, b), 0.375);
  assert.equal(maxAbsError(a, a), 0);
  assert.equal(meanAbsError(new Float32Array([-1]), new Float32Array([1])), 2);
});

test('NaN propagates; an infinite difference gives Infinity; Inf - Inf gives NaN', () => {
  assert.ok(Number.isNaN(maxAbsError([0, 5, 1], [0, NaN, 1])));
  assert.ok(Number.isNaN(meanAbsError([NaN, 0], [0, 0])));
  assert.equal(maxAbsError([0, Infinity], [0, 1]), Infinity);
  assert.equal(meanAbsError([0, -Infinity], [0, 1]), Infinity);
  assert.ok(Number.isNaN(maxAbsError([Infinity], [Infinity])));
});

test('mismatched or empty inputs throw RangeError', () => {
  assert.throws(() => maxAbsError([1, 2], [1]), /Expected 2 values/);
  assert.throws(() => meanAbsError([], []), RangeError);
});

/** Number formatting (src/format.ts): the texts and JSON values every report and line uses. */
import assert from 'node:assert/strict';
import test from 'node:test';
import { NOT_AVAILABLE, db, exponential, fixed, jsonNumber, magnitude, percent, ssimText, toJson } from '../src/format.js';

test('non-finite numbers read inf, -inf and nan in text; n/a where asked', () => {
  assert.deepEqual([Infinity, -Infinity, NaN].map((x) => db(x)), ['inf', '-inf', 'nan']);
  assert.equal(db(NaN, NOT_AVAILABLE), 'n/a');
  assert.equal(ssimText(NaN, NOT_AVAILABLE), 'n/a');
  assert.equal(exponential(Infinity), 'inf');
  assert.equal(magnitude(Infinity), 'inf');
});

test('finite numbers: fixed decimals, percent, exponent, magnitude', () => {
  assert.equal(db(42.8749), '42.87');
  assert.equal(ssimText(0.99974), '0.9997');
  assert.equal(fixed(2.25, 1), '2.3'); // toFixed's rounding of the binary value 2.25
  assert.equal(percent(0.0123), '1.23');
  assert.equal(percent(1), '100.00');
  assert.equal(exponential(0.000123456), '1.23e-4');
  assert.deepEqual([65504, 12.34567, 0.0001234, 1234567, 0].map(magnitude), ['65504', '12.346', '1.234e-4', '1.235e+6', '0']);
});

test('JSON: non-finite numbers become strings, everything else stays', () => {
  assert.deepEqual([Infinity, -Infinity, NaN, 1.5, 0].map(jsonNumber), ['inf', '-inf', 'nan', 1.5, 0]);
  const text = toJson({ psnr: { mean: Infinity, std: NaN, n: 2 }, list: [-Infinity, 3], name: 'inf' });
  assert.deepEqual(JSON.parse(text), { psnr: { mean: 'inf', std: 'nan', n: 2 }, list: ['-inf', 3], name: 'inf' });
  assert.equal(text, JSON.stringify(JSON.parse(text), null, 2));
});

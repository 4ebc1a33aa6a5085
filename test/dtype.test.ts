import assert from 'node:assert/strict';
import test from 'node:test';
import { bf16BitsToFloat, f16BitsToFloat, floatToBf16Bits, floatToF16Bits, roundInPlace } from '../src/dtype.js';
import { GraphBuilder } from '../src/graph/builder.js';
import { applyPrecision } from '../src/precision/precision-pass.js';
import { Session } from '../src/runtime/session.js';
import { mulberry32 } from '../src/tensors/random.js';
import { roundBF16, roundF16 } from './reference/round.js';

const EDGES = [
  0, -0, 1, -1, 65504, -65504, 65519, 65519.99, 65520, -65520, 70000, 1e10, -1e10,
  2 ** -24, -(2 ** -24), 2 ** -25, 3 * 2 ** -25, 2 ** -26, 2 ** -14, 2 ** -14 - 2 ** -24, 1e-8,
  1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -11 + 2 ** -20, 2048 + 1, 2048 + 3, // ties to even
  1 + 2 ** -8, 1 + 3 * 2 ** -8, 256 + 1, 256 + 3, 3.3895313892515355e38, 3.4e38, // bf16 ties and range
  NaN, Infinity, -Infinity, 1.1754943508222875e-38, 1e-40, -1e-45,
].map(Math.fround);

function randomValues(n: number): Float32Array {
  const r = mulberry32(7);
  const out = new Float32Array(n);
  const u32 = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) u32[i] = Math.floor(r() * 2 ** 32) >>> 0;
  // keep NaN payloads out of the bulk check: NaN is checked on its own
  for (let i = 0; i < n; i++) if (Number.isNaN(out[i])) out[i] = 1;
  return out;
}

const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));

test('fp16 rounding agrees bit for bit with the reference round-to-nearest-even', () => {
  for (const x of [...EDGES, ...randomValues(200_000)]) {
    const got = f16BitsToFloat(floatToF16Bits(x));
    assert.ok(same(got, roundF16(x)), `fp16(${x}) = ${got}, reference ${roundF16(x)}`);
  }
  assert.equal(f16BitsToFloat(floatToF16Bits(65519)), 65504);
  assert.equal(f16BitsToFloat(floatToF16Bits(65520)), Infinity);
  assert.equal(f16BitsToFloat(floatToF16Bits(-65520)), -Infinity);
  assert.equal(f16BitsToFloat(floatToF16Bits(2 ** -24)), 2 ** -24);
  assert.equal(f16BitsToFloat(floatToF16Bits(2 ** -25)), 0); // tie to even (0)
  assert.equal(f16BitsToFloat(floatToF16Bits(1 + 2 ** -11)), 1); // tie to even
});

test('bf16 rounding agrees bit for bit with the reference round-to-nearest-even', () => {
  for (const x of [...EDGES, ...randomValues(200_000)]) {
    const got = bf16BitsToFloat(floatToBf16Bits(x));
    assert.ok(same(got, roundBF16(x)), `bf16(${x}) = ${got}, reference ${roundBF16(x)}`);
  }
  assert.equal(bf16BitsToFloat(floatToBf16Bits(Math.fround(1 + 2 ** -8))), 1);
  assert.equal(bf16BitsToFloat(floatToBf16Bits(Math.fround(1 + 3 * 2 ** -8))), 1 + 2 ** -6);
});

test('roundInPlace (weights) equals the reference on the same values', () => {
  const v = Float32Array.from([...EDGES, ...randomValues(50_000)]);
  const h = roundInPlace(Float32Array.from(v), 'fp16');
  const b = roundInPlace(Float32Array.from(v), 'bf16');
  for (let i = 0; i < v.length; i++) {
    assert.ok(same(h[i], roundF16(v[i])), `fp16 ${v[i]}`);
    assert.ok(same(b[i], roundBF16(v[i])), `bf16 ${v[i]}`);
  }
});

test('the precision pass in onnxruntime rounds exactly like the reference (Cast pairs survive optimization)', async () => {
  const values = Float32Array.from([...EDGES, ...randomValues(20_000)]);
  for (const precision of ['fp16', 'bf16'] as const) {
    const b = new GraphBuilder('round');
    const x = b.input('x', [values.length]);
    const y = b.trace(b.node('Identity', 'y', [x]), 'y');
    b.output(y, [values.length]);
    // graph input and traced output are both rounded: rounding twice is idempotent
    const s = await Session.create(applyPrecision(b.build(), precision));
    const out = (await s.run({ x: { shape: [values.length], data: values } })).y.data;
    await s.release();
    const ref = precision === 'fp16' ? roundF16 : roundBF16;
    for (let i = 0; i < values.length; i++) assert.ok(same(out[i], ref(values[i])), `${precision} ORT(${values[i]}) = ${out[i]}, reference ${ref(values[i])}`);
  }
});

/**
 * The precision (fp16 / bf16 emulation) and instrumentation passes against the independent float64
 * reference's own emulation and per-op trace (test/reference/vae64.ts), on the fp16 overflow pair
 * (tiny-fp16-overflow: decoder stream scaled by 2^11 from up_blocks.2; tiny-fp16-safe: the same
 * function unscaled) decoding latents-8x8.npy:
 * - the traced layer names and their order are the reference's;
 * - the first non-finite op is the same (up_blocks.2.resnets.0.conv_shortcut for the overflow file,
 *   none for the safe one), with the same NaN / Inf counts up to the values that lie within a few
 *   fp16 steps of the overflow threshold (either rounding is correct for those);
 * - per-op max |x| agrees with the reference up to and including the first non-finite op;
 * - bf16 stays finite for both and tracks the reference's bf16 trace;
 * - the fp32 decodes of the pair agree, the fp16 output of the overflow file has the reference's
 *   NaN count, and instrumenting a graph does not change what it computes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Precision } from '../src/dtype.js';
import type { LayerStats } from '../src/precision/instrument.js';
import { loadVae, type LoadedVae } from '../src/weights/load.js';
import { VaeRunner, type RunResult } from '../src/vae-runner.js';
import { referenceDecode } from './reference/vae64.js';
import type { RefTensor, RefTrace } from './reference/types.js';
import { fixtures, maxAbsDiff, rawLatents, referenceWeightsOf } from './helpers/fixtures.js';

const fx = fixtures();
const latents = rawLatents(fx.latents('latents-8x8.npy').path);
const OVERFLOW = 'tiny-fp16-overflow.safetensors';
const SAFE = 'tiny-fp16-safe.safetensors';
const FIRST_OVERFLOW_OP = 'decoder.up_blocks.2.resnets.0.conv_shortcut';

const vaes = new Map<string, LoadedVae>();
function vaeOf(file: string): LoadedVae {
  let v = vaes.get(file);
  if (!v) {
    v = loadVae(fx.path(file));
    vaes.set(file, v);
  }
  return v;
}

const runs = new Map<string, Promise<RunResult>>();
/** One graph run per (file, precision, instrumented), shared by the tests. */
function decode(file: string, precision: Precision, instrument = true): Promise<RunResult> {
  const key = `${file}|${precision}|${instrument}`;
  let r = runs.get(key);
  if (!r) {
    r = (async () => {
      const runner = await VaeRunner.create(vaeOf(file), 'decoder', { precision, instrument });
      try {
        return await runner.run(latents.f32);
      } finally {
        await runner.release();
      }
    })();
    runs.set(key, r);
  }
  return r;
}

const refs = new Map<string, { output: RefTensor; trace: RefTrace[] }>();
function reference(file: string, precision: Precision): { output: RefTensor; trace: RefTrace[] } {
  const key = `${file}|${precision}`;
  let r = refs.get(key);
  if (!r) {
    const f = fx.weights(file);
    r = referenceDecode(referenceWeightsOf(f), f.config, latents.ref, precision);
    refs.set(key, r);
  }
  return r;
}

function layersOf(r: RunResult): LayerStats[] {
  assert.ok(r.layers, 'instrumented run returns layer stats');
  return r.layers;
}

const firstNonFinite = (t: { nan: number; inf: number }[]) => t.findIndex((s) => s.nan + s.inf > 0);
const relErr = (got: number, want: number) => (got === want ? 0 : Math.abs(got - want) / Math.abs(want));

function countNaN(a: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (Number.isNaN(a[i])) n++;
  return n;
}

for (const file of [OVERFLOW, SAFE]) {
  test(`fp16 ${file}: traced layer names equal the reference trace, in order`, async () => {
    const got = layersOf(await decode(file, 'fp16')).map((l) => l.name);
    const want = reference(file, 'fp16').trace.map((t) => t.name);
    assert.deepEqual(got, want);
  });

  test(`fp16 ${file}: first non-finite op, its counts and per-op max |x| match the reference`, async (t) => {
    const got = layersOf(await decode(file, 'fp16'));
    const want = reference(file, 'fp16').trace;
    assert.equal(got.length, want.length, 'number of traced ops');
    const gi = firstNonFinite(got);
    const ri = firstNonFinite(want);
    assert.equal(gi === -1 ? 'none' : got[gi].name, ri === -1 ? 'none' : want[ri].name, 'first non-finite op');
    if (file === OVERFLOW) assert.equal(ri === -1 ? 'none' : want[ri].name, FIRST_OVERFLOW_OP, 'reference: first non-finite op');
    else assert.equal(ri, -1, 'reference: safe file stays finite');
    const last = ri === -1 ? want.length - 1 : ri;
    let worst = 0;
    let worstName = '';
    for (let i = 0; i <= last; i++) {
      assert.equal(got[i].name, want[i].name);
      const e = relErr(got[i].maxAbs, want[i].maxAbs);
      if (e > worst) {
        worst = e;
        worstName = want[i].name;
      }
      assert.ok(e <= 1e-2, `${want[i].name}: max |x| ${got[i].maxAbs}, reference ${want[i].maxAbs} (relative error ${e})`);
      if (i < last || ri === -1) {
        assert.equal(got[i].nan, 0, `${want[i].name}: NaN count`);
        assert.equal(got[i].inf, 0, `${want[i].name}: Inf count`);
      }
    }
    if (ri !== -1) {
      // values within a few fp16 steps of 65520 may round either way (see RefTrace.borderline)
      const slack = want[ri].borderline;
      assert.ok(Math.abs(got[ri].nan - want[ri].nan) <= slack, `${want[ri].name}: NaN count ${got[ri].nan}, reference ${want[ri].nan} ± ${slack}`);
      assert.ok(Math.abs(got[ri].inf - want[ri].inf) <= slack, `${want[ri].name}: Inf count ${got[ri].inf}, reference ${want[ri].inf} ± ${slack}`);
      assert.ok(want[ri].inf > 0, 'the first non-finite op overflows to Inf');
      t.diagnostic(`first non-finite op ${want[ri].name}: max |x| ${got[ri].maxAbs} (ref ${want[ri].maxAbs}), NaN ${got[ri].nan} (ref ${want[ri].nan}), Inf ${got[ri].inf} (ref ${want[ri].inf}, ${slack} borderline)`);
    }
    t.diagnostic(`largest relative max |x| difference over ${last + 1} ops: ${worst.toExponential(2)} at ${worstName}`);
  });

  test(`bf16 ${file}: finite everywhere, per-op max |x| within 5e-2 (a few bf16 steps, 2^-7 each) of the reference`, async (t) => {
    const run = await decode(file, 'bf16');
    const got = layersOf(run);
    const want = reference(file, 'bf16').trace;
    assert.deepEqual(got.map((l) => l.name), want.map((l) => l.name), 'layer names');
    assert.equal(firstNonFinite(want), -1, 'reference bf16 trace is finite');
    let worst = 0;
    let worstName = '';
    for (let i = 0; i < want.length; i++) {
      assert.equal(got[i].nan + got[i].inf, 0, `${got[i].name}: non-finite values in bf16`);
      const e = relErr(got[i].maxAbs, want[i].maxAbs);
      if (e > worst) {
        worst = e;
        worstName = want[i].name;
      }
      assert.ok(e <= 5e-2, `${want[i].name}: max |x| ${got[i].maxAbs}, reference ${want[i].maxAbs} (relative error ${e})`);
    }
    assert.equal(countNaN(run.output.data), 0, 'bf16 output NaN count');
    t.diagnostic(`largest relative max |x| difference: ${worst.toExponential(2)} at ${worstName}`);
  });
}

test('fp32: the overflow and safe files decode to the same image (within 1e-5)', async (t) => {
  const a = await decode(OVERFLOW, 'fp32', false);
  const b = await decode(SAFE, 'fp32', false);
  assert.deepEqual(a.output.shape, b.output.shape);
  const err = maxAbsDiff(a.output.data, b.output.data);
  t.diagnostic(`max abs difference ${err.toExponential(2)}`);
  assert.ok(err <= 1e-5, `max abs difference ${err}`);
});

test('fp16: the overflow file outputs as many NaN as the reference, the safe one none', async (t) => {
  const over = await decode(OVERFLOW, 'fp16');
  const refNaN = countNaN(reference(OVERFLOW, 'fp16').output.data);
  const gotNaN = countNaN(over.output.data);
  t.diagnostic(`NaN: ${gotNaN} of ${over.output.data.length} (reference ${refNaN})`);
  assert.ok(refNaN > 0, 'reference fp16 output of the overflow file has NaN');
  assert.equal(gotNaN, refNaN);
  assert.equal(gotNaN / over.output.data.length, refNaN / reference(OVERFLOW, 'fp16').output.data.length);
  const safe = await decode(SAFE, 'fp16');
  assert.equal(countNaN(safe.output.data), 0);
  assert.equal(countNaN(reference(SAFE, 'fp16').output.data), 0);
});

for (const [file, precision] of [[SAFE, 'fp16'], [OVERFLOW, 'fp16'], [SAFE, 'bf16']] as const) {
  test(`${precision} ${file}: instrumentation does not change the output (bit-identical)`, async () => {
    const plain = await decode(file, precision, false);
    const inst = await decode(file, precision, true);
    assert.equal(plain.layers, undefined, 'plain run has no layer stats');
    assert.deepEqual(inst.output.shape, plain.output.shape);
    const a = new Uint32Array(plain.output.data.buffer, plain.output.data.byteOffset, plain.output.data.length);
    const b = new Uint32Array(inst.output.data.buffer, inst.output.data.byteOffset, inst.output.data.length);
    let differing = 0;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) differing++;
    assert.equal(differing, 0, `${differing} of ${a.length} output values differ bitwise`);
  });
}

for (const [file, precision] of [[SAFE, 'fp16'], [OVERFLOW, 'fp16'], [SAFE, 'fp32']] as const) {
  test(`${precision} ${file}: the last layer's stats equal a JS count over the output`, async () => {
    const run = await decode(file, precision, true);
    const layers = layersOf(run);
    const lastLayer = layers[layers.length - 1];
    assert.equal(lastLayer.name, 'decoder.conv_out');
    let maxAbs = 0;
    let nan = 0;
    let inf = 0;
    for (const v of run.output.data) {
      if (Number.isNaN(v)) nan++;
      else if (!Number.isFinite(v)) inf++;
      else maxAbs = Math.max(maxAbs, Math.abs(v));
    }
    assert.deepEqual({ maxAbs: lastLayer.maxAbs, nan: lastLayer.nan, inf: lastLayer.inf }, { maxAbs, nan, inf });
  });
}

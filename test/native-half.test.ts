/**
 * The native float16 graph (used with --device cuda) is a valid float16 ONNX graph: checked here on the
 * CPU provider, which runs it (through casts of its own) close to the float32 decode. Whether half
 * precision then overflows is the GPU's to show; the CPU hides it (ARCHITECTURE.md, "Half precision").
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { VaeRunner } from '../src/vae-runner.js';
import { loadVae } from '../src/weights/load.js';
import { fixtures, maxAbsDiff, rawLatents } from './helpers/fixtures.js';

const fx = fixtures();

test('native fp16 graph runs, instrumented, and stays close to fp32 on the safe fixture', async () => {
  const vae = loadVae(fx.path('tiny-fp16-safe.safetensors'));
  const z = rawLatents(fx.path('latents-8x8.npy')).f32;
  const ref = await VaeRunner.create(vae, 'decoder', { precision: 'fp32', instrument: true });
  const half = await VaeRunner.create(vae, 'decoder', { precision: 'fp16', native: true, instrument: true });
  const a = await ref.run(z);
  const b = await half.run(z);
  await ref.release();
  await half.release();
  assert.deepEqual(b.output.shape, a.output.shape);
  const err = maxAbsDiff(a.output.data, b.output.data);
  assert.ok(err > 0 && err < 0.05, `native fp16 vs fp32: max abs difference ${err}`);
  // the half graph traces the same ops, in the same order, as the float32 one
  assert.ok(a.layers!.length > 0);
  assert.deepEqual(b.layers!.map((l) => l.name), a.layers!.map((l) => l.name));
  assert.ok(b.layers!.every((l) => l.nan + l.inf === 0));
  const top = Math.max(...b.layers!.map((l) => l.maxAbs));
  assert.ok(top > 40 && top < 100, `largest |x| ${top} (the safe fixture's is about 56)`);
});

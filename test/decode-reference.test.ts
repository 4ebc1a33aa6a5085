/**
 * The fp32 ONNX decoder graph (src/graph + src/vae-runner.ts) against the independent float64
 * reference (test/reference/vae64.ts), for every weight fixture as a user has it: diffusers /
 * original / legacy-attention naming, with and without key prefixes, F32 / F16 / BF16 storage, the
 * diffusers folder with its own config.json, the config-less narrow 2-level file, the fp16
 * overflow pair, and the other families' layouts: FLUX-style files (original naming, 16 latent
 * channels, no quant convs, no config), the SD3-style folder and whole checkpoint, SD 1.5-style files,
 * and a folder whose config.json turns off the mid attention. The reference is fed the canonical seeded weights rounded to the file's storage dtype
 * (and scaled as the overflow file is), so a naming, prefix, dtype, shape-inference or graph bug shows
 * up as a mismatch. Inputs are the latent fixtures (4 or 16 channels) as raw latents.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basename, dirname } from 'node:path';
import { loadVae } from '../src/weights/load.js';
import { VaeRunner } from '../src/vae-runner.js';
import { decodeLatents } from '../src/decode.js';
import type { StepProgress } from '../src/progress.js';
import { referenceDecode } from './reference/vae64.js';
import type { WeightsFixture } from '../fixtures/generate.js';
import { fixtures, maxAbsDiff, rawLatents, referenceWeightsOf, type LatentPair } from './helpers/fixtures.js';

const TOL = 1e-4;
const fx = fixtures();

/**
 * The path a user would pass: the folder for a diffusers folder fixture, else the file (also for a
 * folder's second weights file, which the folder itself would not choose).
 */
function userPath(f: WeightsFixture): string {
  if (!f.configFile) return f.path;
  const preferred = fx.allWeights().some((o) => o.configFile === f.configFile && basename(o.file) === 'diffusion_pytorch_model.safetensors');
  return preferred && basename(f.file) !== 'diffusion_pytorch_model.safetensors' ? f.path : dirname(f.path);
}

async function checkDecode(f: WeightsFixture, latents: LatentPair, diag: (msg: string) => void): Promise<void> {
  const vae = loadVae(userPath(f));
  assert.deepEqual(vae.arch.blockOutChannels, f.config.blockOutChannels, 'block_out_channels');
  assert.equal(vae.arch.layersPerBlock, f.config.layersPerBlock, 'layers_per_block');
  assert.equal(vae.arch.groups, f.config.groups, 'groups');
  assert.equal(vae.arch.eps, f.config.eps, 'eps');
  assert.equal(vae.arch.latentChannels, f.config.latentChannels, 'latent channels');
  assert.equal(vae.arch.postQuantConv, f.config.quantConv ?? true, 'post_quant_conv');
  assert.equal(vae.arch.midAttention, f.config.midAttention ?? true, 'mid attention');
  const runner = await VaeRunner.create(vae, 'decoder', { precision: 'fp32' });
  let got;
  try {
    got = await runner.run(latents.f32);
  } finally {
    await runner.release();
  }
  const ref = referenceDecode(referenceWeightsOf(f), f.config, latents.ref, 'fp32');
  assert.deepEqual(got.output.shape, ref.output.shape, 'output shape');
  const err = maxAbsDiff(got.output.data, ref.output.data);
  let refMax = 0;
  for (const v of ref.output.data) refMax = Math.max(refMax, Math.abs(v));
  diag(`${f.file} [${latents.f32.shape.join('x')}]: max abs error ${err.toExponential(2)} (reference max |x| ${refMax.toFixed(3)})`);
  assert.ok(refMax > 0.05, `reference output is degenerate (max |x| ${refMax})`);
  assert.ok(err <= TOL, `${f.file}: max abs error ${err} > ${TOL}`);
}

const small = rawLatents(fx.latents('latents-8x8.npy').path);
const wide = rawLatents(fx.latents('latents-2x12x20.npy').path);
// 16 latent channels (SD3 / FLUX.1 layouts); the graph takes raw latents, so the factor is immaterial here
const small16 = rawLatents(fx.latents('latents-16ch-8x8.npy').path);
const wide16 = rawLatents(fx.latents('latents-16ch-2x6x10.npy').path);

test('fixture set covers every weight form', () => {
  const files = fx.allWeights();
  assert.ok(files.length >= 8, `expected at least 8 weight fixtures, found ${files.length}`);
  const has = (p: (f: WeightsFixture) => boolean, what: string) => assert.ok(files.some(p), `no fixture with ${what}`);
  has((f) => f.naming === 'diffusers', 'diffusers naming');
  has((f) => f.naming === 'original', 'original naming');
  has((f) => f.naming === 'legacy-attn', 'legacy attention naming');
  has((f) => f.prefix !== '', 'a key prefix');
  for (const d of ['F32', 'F16', 'BF16'] as const) has((f) => f.dtype === d, `${d} storage`);
  has((f) => f.configFile !== undefined, 'a config.json');
  has((f) => f.config.blockOutChannels.length === 2, 'two levels');
  has((f) => f.transform.kind === 'scaled', 'a scaled transform');
  has((f) => f.config.latentChannels === 16 && f.config.quantConv === false && f.configFile === undefined, 'a FLUX-style single file');
  has((f) => f.config.latentChannels === 16 && f.config.quantConv === false && f.configFile !== undefined, 'an SD3-style folder');
  has((f) => f.config.midAttention === false, 'no mid attention');
});

for (const f of fx.allWeights()) {
  const latents = f.config.latentChannels === 16 ? small16 : small;
  test(`fp32 decode of ${f.file} matches the float64 reference (${latents.f32.shape.join('x')})`, async (t) => {
    await checkDecode(f, latents, (m) => t.diagnostic(m));
  });
}

for (const file of ['tiny-flux-original-bf16.safetensors', 'tiny-sd3-folder/diffusion_pytorch_model.fp16.safetensors']) {
  test(`fp32 decode of ${file} matches the float64 reference (batch 2, 16 channels, 6x10)`, async (t) => {
    await checkDecode(fx.weights(file), wide16, (m) => t.diagnostic(m));
  });
}

for (const file of ['tiny-original-f16.safetensors', 'tiny-diffusers-f32.safetensors']) {
  test(`fp32 decode of ${file} matches the float64 reference (batch 2, 12x20)`, async (t) => {
    const f = fx.weights(file);
    await checkDecode(f, wide, (m) => t.diagnostic(m));
  });
}

test('decodeLatents decodes a batch latent by latent (to report progress): the same as the reference, instrumented stats merged over the items', async () => {
  const f = fx.weights('tiny-diffusers-f32.safetensors');
  const vae = loadVae(userPath(f));
  const events: StepProgress[] = [];
  const latents = { raw: wide.f32, origin: 'latents-2x12x20.npy', space: 'unscaled' as const, std: 1, warnings: [] };
  const got = await decodeLatents(vae, latents, { precision: 'fp32', instrument: true, onProgress: (e) => events.push(e) });
  const ref = referenceDecode(referenceWeightsOf(f), f.config, wide.ref, 'fp32');
  assert.deepEqual(got.image.shape, ref.output.shape);
  assert.ok(maxAbsDiff(got.image.data, ref.output.data) <= TOL);
  // progress: the graph, then each of the 2 latents, out of 3 steps, ending done
  assert.deepEqual(events.map((e) => [e.done, e.total]), [[0, 3], [1, 3], [2, 3], [3, 3]]);
  // the merged statistics are those of one run over the whole batch
  const whole = await VaeRunner.create(vae, 'decoder', { precision: 'fp32', instrument: true });
  try {
    const once = await whole.run(wide.f32);
    assert.equal(got.layers!.length, once.layers!.length);
    got.layers!.forEach((l, i) => {
      assert.equal(l.name, once.layers![i].name);
      assert.ok(Math.abs(l.maxAbs - once.layers![i].maxAbs) <= 1e-5 * Math.max(1, once.layers![i].maxAbs), `${l.name}: ${l.maxAbs} vs ${once.layers![i].maxAbs}`);
      assert.equal(l.nan + l.inf, once.layers![i].nan + once.layers![i].inf);
    });
  } finally {
    await whole.release();
  }
});

test('token counts that 4 does not divide (attention computed in query chunks): 5x7 and 1x1 latents match the reference', async () => {
  const f = fx.weights('tiny-diffusers-f32.safetensors');
  const vae = loadVae(userPath(f));
  const runner = await VaeRunner.create(vae, 'decoder', { precision: 'fp32' });
  try {
    for (const [h, w] of [[5, 7], [1, 1], [3, 3]]) {
      const data = new Float32Array(4 * h * w).map((_, i) => Math.sin(i * 1.7) * 5);
      const got = await runner.run({ shape: [1, 4, h, w], data });
      const want = referenceDecode(referenceWeightsOf(f), f.config, { shape: [1, 4, h, w], data: Float64Array.from(data) }, 'fp32');
      assert.deepEqual(got.output.shape, want.output.shape);
      const err = maxAbsDiff(got.output.data, want.output.data);
      assert.ok(err <= TOL, `${h}x${w}: max abs error ${err}`);
    }
  } finally {
    await runner.release();
  }
});

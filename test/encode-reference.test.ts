/**
 * The fp32 ONNX encoder graph (mean and logvar) against the independent float64 reference
 * (test/reference/vae64.ts) on seeded random images in [-1, 1]: a square batch of one and a
 * non-square batch of two, for the diffusers F32 file, the original-naming BF16 file with its
 * `first_stage_model.` prefix, the diffusers folder (its own config.json: other widths, 8 groups), and
 * the FLUX-style file and SD3-style folder (16 latent channels, no quant_conv).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { loadVae } from '../src/weights/load.js';
import { VaeRunner } from '../src/vae-runner.js';
import { referenceEncode } from './reference/vae64.js';
import type { WeightsFixture } from '../fixtures/generate.js';
import { fixtures, maxAbsDiff, referenceWeightsOf } from './helpers/fixtures.js';

const TOL = 1e-4;
const fx = fixtures();

/** A seeded image with uniform float32 values in [-1, 1) (mulberry32), NCHW. */
function randomImage(seed: number, shape: number[]): { f32: { shape: number[]; data: Float32Array }; ref: { shape: number[]; data: Float64Array } } {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const n = shape.reduce((p, d) => p * d, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = 2 * next() - 1;
  return { f32: { shape, data }, ref: { shape: [...shape], data: Float64Array.from(data) } };
}

const images = [
  { label: '1x3x64x64', image: randomImage(7001, [1, 3, 64, 64]) },
  { label: '2x3x48x80', image: randomImage(7002, [2, 3, 48, 80]) },
];

const folder = fx.allWeights().find((w) => w.configFile !== undefined);
const cases: WeightsFixture[] = [fx.weights('tiny-diffusers-f32.safetensors'), fx.weights('tiny-original-bf16.safetensors')];
if (folder) cases.push(folder);
// without quant_conv: the moments are conv_out's 32 channels
cases.push(fx.weights('tiny-flux-original-bf16.safetensors'), fx.weights('tiny-sd3-folder/diffusion_pytorch_model.safetensors'));

test('the encode cases include the folder fixture', () => {
  assert.ok(folder, 'no diffusers folder fixture in the index');
  assert.equal(cases.length, 5);
});

for (const f of cases) {
  test(`fp32 encode of ${f.file} matches the float64 reference (mean and logvar)`, async (t) => {
    const vae = loadVae(f.configFile ? dirname(f.path) : f.path);
    assert.deepEqual(vae.arch.blockOutChannels, f.config.blockOutChannels, 'block_out_channels');
    assert.equal(vae.arch.groups, f.config.groups, 'groups');
    const runner = await VaeRunner.create(vae, 'encoder', { precision: 'fp32' });
    try {
      const w = referenceWeightsOf(f);
      for (const { label, image } of images) {
        const got = await runner.run(image.f32);
        const ref = referenceEncode(w, f.config, image.ref, 'fp32');
        assert.ok(got.logvar, 'encoder returns logvar');
        assert.deepEqual(got.output.shape, ref.mean.shape, `${label} mean shape`);
        assert.deepEqual(got.logvar.shape, ref.logvar.shape, `${label} logvar shape`);
        const errMean = maxAbsDiff(got.output.data, ref.mean.data);
        const errLogvar = maxAbsDiff(got.logvar.data, ref.logvar.data);
        let refMax = 0;
        for (const v of ref.mean.data) refMax = Math.max(refMax, Math.abs(v));
        t.diagnostic(`${f.file} [${label}]: mean max abs error ${errMean.toExponential(2)}, logvar ${errLogvar.toExponential(2)} (reference mean max |x| ${refMax.toFixed(3)})`);
        assert.ok(refMax > 0.05, `reference mean is degenerate (max |x| ${refMax})`);
        assert.ok(errMean <= TOL, `${f.file} ${label}: mean max abs error ${errMean} > ${TOL}`);
        assert.ok(errLogvar <= TOL, `${f.file} ${label}: logvar max abs error ${errLogvar} > ${TOL}`);
      }
    } finally {
      await runner.release();
    }
  });
}

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { readImage } from '../../src/images/sharp-io.js';
import { encodeNpy, readNpy } from '../../src/tensors/npy.js';
import { SafetensorsFile } from '../../src/weights/safetensors.js';
import { fixtures } from '../helpers/fixtures.js';
import { cli } from './cli.js';

const fx = fixtures();

test('info --json reports naming, prefix, dtype, architecture inferred from shapes, sha256', () => {
  const r = cli(['info', fx.path('tiny-original-bf16.safetensors'), '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.naming, 'original');
  assert.equal(j.prefix, 'first_stage_model.');
  assert.equal(j.storageDtype, 'BF16');
  assert.deepEqual(j.architecture.blockOutChannels, [32, 32, 64, 64]);
  assert.equal(j.architecture.layersPerBlock, 2);
  assert.equal(j.architecture.latentChannels, 4);
  assert.equal(j.scalingFactor, 0.13025);
  assert.match(j.sha256, /^[0-9a-f]{64}$/);
  const folder = JSON.parse(cli(['info', join(fx.dir, 'tiny-folder'), '--json']).stdout);
  assert.deepEqual(folder.architecture.blockOutChannels, [16, 32, 48, 48]);
  assert.equal(folder.architecture.groups, 8);
  assert.equal(folder.storageDtype, 'F16');
  const narrow = JSON.parse(cli(['info', fx.path('tiny-narrow-original-f32.safetensors'), '--json']).stdout);
  assert.deepEqual(narrow.architecture.blockOutChannels, [32, 64]);
  assert.equal(narrow.architecture.layersPerBlock, 1);
});

test('decode: a batch to PNG writes name-0.png and name-1.png of the output size', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vaecheck-decode-'));
  const r = cli(['decode', '--vae', fx.path('tiny-original-f16.safetensors'), '--latents', fx.path('latents-2x12x20.npy'), '--out', join(dir, 'img.png')]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readdirSync(dir).sort(), ['img-0.png', 'img-1.png']);
  assert.deepEqual((await readImage(join(dir, 'img-1.png'))).shape, [1, 3, 96, 160]);
});

test('decode to .npy and .safetensors gives the same unclamped float32 NCHW tensor', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vaecheck-decode-'));
  const args = ['decode', '--vae', fx.path('tiny-diffusers-f32.safetensors'), '--random', '--seed', '3', '--size', '6x10', '--batch', '2'];
  assert.equal(cli([...args, '--out', join(dir, 'x.npy')]).code, 0);
  assert.equal(cli([...args, '--out', join(dir, 'x.safetensors')]).code, 0);
  const a = readNpy(join(dir, 'x.npy'));
  const st = SafetensorsFile.open(join(dir, 'x.safetensors'));
  assert.deepEqual(a.shape, [2, 3, 48, 80]);
  assert.deepEqual([...st.entries.get('sample')!.shape], [2, 3, 48, 80]);
  assert.deepEqual(st.readFloat32('sample'), a.data);
  // unclamped: this random VAE's output leaves [-1, 1] somewhere
  assert.ok(a.data.some((x) => Math.abs(x) > 1));
});

test('decode --precision fp16 of the overflowing fixture: exit 1 with a FAILED line, the file is still written', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vaecheck-decode-'));
  const out = join(dir, 'x.npy');
  const r = cli(['decode', '--vae', fx.path('tiny-fp16-overflow.safetensors'), '--latents', fx.path('latents-8x8.npy'), '--precision', 'fp16', '--out', out]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /FAILED \| 12288 NaN and 0 Inf values \(100\.00% of the output/);
  assert.ok(readNpy(out).data.every(Number.isNaN));
});

test('--unscaled warns when the data look scaled, and the default warns when they look raw', () => {
  const lat = fx.path('latents-8x8.npy');
  const dir = mkdtempSync(join(tmpdir(), 'vaecheck-decode-'));
  const r = cli(['decode', '--vae', fx.path('tiny-diffusers-f32.safetensors'), '--latents', lat, '--unscaled', '--out', join(dir, 'a.npy')]);
  assert.equal(r.code, 0);
  assert.match(r.stderr, /looks like scaled diffusion latents; if so drop --unscaled/);
  // raw latents (scaled / 0.13025) read as scaled
  const scaled = readNpy(lat);
  const raw = join(dir, 'raw.npy');
  writeFileSync(raw, encodeNpy(scaled.shape, scaled.data.map((x) => x / 0.13025)));
  const r2 = cli(['decode', '--vae', fx.path('tiny-diffusers-f32.safetensors'), '--latents', raw, '--out', join(dir, 'b.npy')]);
  assert.equal(r2.code, 0);
  assert.match(r2.stderr, /latent std is \d+\.\d+, which looks like raw encoder output; if so pass --unscaled/);
  assert.doesNotMatch(cli(['decode', '--vae', fx.path('tiny-diffusers-f32.safetensors'), '--latents', raw, '--unscaled', '--out', join(dir, 'c.npy')]).stderr, /warning/);
});

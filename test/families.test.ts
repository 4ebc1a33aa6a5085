/**
 * The AutoencoderKL family (issue 11) through the built CLI, checked against the independent float64
 * reference (test/reference/vae64.ts) fed with the generator's canonical weights:
 * - FLUX-style single files (original naming, no prefix, no quant convs, no config; F32/F16/BF16), the
 *   SD3-style diffusers folder (F32 and its fp16 variant) and whole checkpoint (BF16), and SD 1.5-style
 *   files decode scaled latents as diffusers does (latents / scaling_factor + shift_factor) within 1e-4;
 * - which family, and where its factors come from, is said by info and never taken silently;
 *   --family / --scaling-factor / --shift-factor decide where the weights cannot;
 * - the latent-space warnings judge the data's spread against the family's factor;
 * - encode applies the inverse ((mean - shift) * scaling);
 * - nan-scan names the reference emulation's first overflowing op on the FLUX-style overflow fixture,
 *   and fix makes it finite in fp16 with its fp32 decode unchanged (both judged by the reference);
 * - compare refuses VAEs whose latents are not interchangeable.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import test from 'node:test';
import { FAMILY_FACTORS, FLUX_CFG, diffusersConfigJson, vaeTensorSpecs, type WeightsFixture } from '../fixtures/generate.js';
import { toOriginalName } from '../fixtures/naming.js';
import { SafetensorsFile } from '../src/weights/safetensors.js';
import { fixtures, maxAbsDiff, readNpyF32, referenceWeightsOf } from './helpers/fixtures.js';
import { referenceDecode, scaledToRaw } from './reference/vae64.js';
import type { RefTensor, RefTrace, RefWeights } from './reference/types.js';
import { cli } from './commands/cli.js';

const fx = fixtures();
const tmp = mkdtempSync(join(tmpdir(), 'vaecheck-families-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

const lat16 = fx.path('latents-16ch-8x8.npy');
const lat4 = fx.path('latents-8x8.npy');
type Family = keyof typeof FAMILY_FACTORS;

/** The scaled latents of a .npy fixture as float64, read by the tests' own reader. */
function scaled(path: string): RefTensor {
  const { shape, data } = readNpyF32(path);
  return { shape, data: Float64Array.from(data) };
}

/** Runs the CLI's decode to a .npy and returns its float32 output. */
function cliDecode(vae: string, latents: string, extra: string[] = []): { out: Float32Array; stdout: string; stderr: string } {
  const out = join(tmp, `decoded-${Math.random().toString(36).slice(2)}.npy`);
  const r = cli(['decode', '--vae', vae, '--latents', latents, '--out', out, ...extra]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return { out: readNpyF32(out).data, stdout: r.stdout, stderr: r.stderr };
}

/** The reference's fp32 decode of scaled latents with a family's factors. */
function referenceOf(f: WeightsFixture, latents: string, factors: { scaling: number; shift: number }): Float64Array {
  return referenceDecode(referenceWeightsOf(f), f.config, scaledToRaw(scaled(latents), factors.scaling, factors.shift), 'fp32').output.data;
}

const userPath = (f: WeightsFixture) => (f.configFile && f.file.endsWith('/diffusion_pytorch_model.safetensors') ? dirname(f.path) : f.path);

// ---------------------------------------------------------------------------------------------
// decode within 1e-4 of the reference, with the family's factors

const DECODES: { file: string; family: Family; args?: string[]; defaulted: boolean }[] = [
  { file: 'tiny-flux-original-f32.safetensors', family: 'flux', defaulted: true },
  { file: 'tiny-flux-original-f16.safetensors', family: 'flux', defaulted: true },
  { file: 'tiny-flux-original-bf16.safetensors', family: 'flux', args: ['--family', 'flux'], defaulted: false },
  { file: 'tiny-sd3-folder/diffusion_pytorch_model.safetensors', family: 'sd3', defaulted: false },
  { file: 'tiny-sd3-folder/diffusion_pytorch_model.fp16.safetensors', family: 'sd3', defaulted: false },
  { file: 'tiny-sd3-checkpoint-bf16.safetensors', family: 'sd3', defaulted: false },
  { file: 'tiny-flux-original-f32.safetensors', family: 'sd3', args: ['--family', 'sd3'], defaulted: false },
  { file: 'tiny-sd15-original-f32.safetensors', family: 'sdxl', defaulted: true },
  { file: 'tiny-sd15-original-f32.safetensors', family: 'sd15', args: ['--family', 'sd15'], defaulted: false },
  { file: 'tiny-sd15-checkpoint-f16.safetensors', family: 'sd15', defaulted: false },
];

for (const c of DECODES) {
  test(`decode ${c.file}${c.args ? ` ${c.args.join(' ')}` : ''}: fp32 within 1e-4 of the reference with ${c.family}'s factors${c.defaulted ? ', the default stated' : ''}`, (t) => {
    const f = fx.weights(c.file);
    const latents = f.config.latentChannels === 16 ? lat16 : lat4;
    const got = cliDecode(userPath(f), latents, c.args);
    const want = referenceOf(f, latents, FAMILY_FACTORS[c.family]);
    const err = maxAbsDiff(got.out, want);
    t.diagnostic(`max abs error ${err.toExponential(2)}`);
    assert.ok(err <= 1e-4, `max abs error ${err}`);
    // the other family of the same shapes gives a visibly different decode: the factors matter
    const other = (Object.keys(FAMILY_FACTORS) as Family[]).find((g) => g !== c.family && (g === 'sd3' || g === 'flux') === (f.config.latentChannels === 16))!;
    assert.ok(maxAbsDiff(got.out, referenceOf(f, latents, FAMILY_FACTORS[other])) > 1e-2, `indistinguishable from ${other}`);
    assert.equal(/latents taken as .*'s \(scaling .*the default for/.test(got.stderr), c.defaulted, got.stderr);
  });
}

test('--scaling-factor and --shift-factor override the family: decode equals the reference with those factors', () => {
  const f = fx.weights('tiny-flux-original-f32.safetensors');
  const got = cliDecode(f.path, lat16, ['--scaling-factor', '0.5', '--shift-factor', '-0.25']);
  assert.ok(maxAbsDiff(got.out, referenceOf(f, lat16, { scaling: 0.5, shift: -0.25 })) <= 1e-4);
  assert.equal(got.stderr, '', 'stated factors need no note');
});

// ---------------------------------------------------------------------------------------------
// info: which family, and where the factors come from

function infoFamily(path: string, args: string[] = []): string {
  const r = cli(['info', path, ...args]);
  assert.equal(r.code, 0, r.stderr);
  const line = r.stdout.split('\n').find((l) => l.startsWith('family '));
  assert.ok(line, r.stdout);
  return line.slice('family'.length).trim();
}

test('info names the family and the source of its factors', () => {
  // a FLUX.1 VAE folder as diffusers ships it: config.json with the factors
  const folder = join(tmp, 'flux-folder');
  mkdirSync(folder);
  writeFileSync(join(folder, 'config.json'), JSON.stringify(diffusersConfigJson(FLUX_CFG, FAMILY_FACTORS.flux)));
  copyFileSync(fx.path('tiny-flux-original-f16.safetensors'), join(folder, 'diffusion_pytorch_model.safetensors'));
  assert.equal(infoFamily(folder), 'FLUX.1-style: 16 latent channels, no quant convs, scaling 0.3611, shift 0.1159 (config.json)');
  assert.equal(
    infoFamily(fx.path('tiny-flux-original-bf16.safetensors')),
    'FLUX.1-style: 16 latent channels, no quant convs, scaling 0.3611, shift 0.1159 (default for 16 latent channels: the weights cannot tell SD3/3.5 from FLUX.1); state it with --family sd3|flux',
  );
  assert.equal(infoFamily(fx.path('tiny-flux-original-bf16.safetensors'), ['--family', 'sd3']), 'SD3/3.5-style: 16 latent channels, no quant convs, scaling 1.5305, shift 0.0609 (family stated)');
  assert.equal(infoFamily(join(fx.dir, 'tiny-sd3-folder')), 'SD3/3.5-style: 16 latent channels, no quant convs, scaling 1.5305, shift 0.0609 (config.json)');
  assert.equal(infoFamily(fx.path('tiny-sd3-checkpoint-bf16.safetensors')), 'SD3/3.5-style: 16 latent channels, no quant convs, scaling 1.5305, shift 0.0609 (whole checkpoint)');
  assert.equal(
    infoFamily(fx.path('tiny-sd15-original-f32.safetensors')),
    'SDXL-style: 4 latent channels, quant convs, scaling 0.13025, no shift (default for 4 latent channels: the weights cannot tell SD 1.x/2.x from SDXL); state it with --family sd15|sdxl',
  );
  assert.equal(infoFamily(fx.path('tiny-sd15-checkpoint-f16.safetensors')), 'SD 1.x/2.x-style: 4 latent channels, quant convs, scaling 0.18215, no shift (whole checkpoint)');
  assert.equal(infoFamily(fx.path('tiny-sd15-original-f32.safetensors'), ['--scaling-factor', '0.2']), 'SDXL-style: 4 latent channels, quant convs, scaling 0.2, no shift (stated)');
  assert.equal(infoFamily(join(fx.dir, 'tiny-folder')), 'SDXL-style: 4 latent channels, quant convs, scaling 0.13025, no shift (config.json)');

  const j = JSON.parse(cli(['info', join(fx.dir, 'tiny-sd3-folder'), '--json']).stdout);
  assert.deepEqual([j.family, j.familySource, j.scalingFactor, j.shiftFactor, j.scalingFactorSource], ['sd3', 'config', 1.5305, 0.0609, 'config']);
  assert.deepEqual([j.architecture.latentChannels, j.architecture.quantConv, j.architecture.postQuantConv], [16, false, false]);
  const noAttn = JSON.parse(cli(['info', join(fx.dir, 'tiny-no-mid-attention'), '--json']).stdout);
  assert.equal(noAttn.architecture.midAttention, false);
});

test('bad family flags: one line each; a family of other latent channels is bad input (exit 3), bad values are usage errors (exit 2)', () => {
  const flux = fx.path('tiny-flux-original-f32.safetensors');
  const r = cli(['info', flux, '--family', 'sdxl']);
  assert.equal(r.code, 3);
  assert.equal(r.stderr, `vaecheck: error: ${flux}: has 16 latent channels; the SDXL family (sdxl) has 4\n`);
  for (const [flag, value] of [['--scaling-factor', '0'], ['--scaling-factor', 'abc'], ['--shift-factor', 'x'], ['--family', 'sd2']]) {
    const b = cli(['decode', '--vae', flux, '--random', '--size', '2x2', '--out', join(tmp, 'never.npy'), flag, value]);
    assert.equal(b.code, 2, `${flag} ${value}: ${b.stderr}`);
    assert.equal(b.stderr.split('\n').filter(Boolean).length, 1, b.stderr);
    assert.match(b.stderr, new RegExp(flag === '--family' ? 'family' : flag));
  }
});

// ---------------------------------------------------------------------------------------------
// latent-space warnings against the family's factors

/** Writes latents times k as a .npy the CLI reads (float32 NCHW, version 1.0 header). */
function writeScaledCopy(src: string, k: number, name: string): string {
  const { shape, data } = readNpyF32(src);
  const header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  const h = Buffer.from(header + ' '.repeat(pad % 64) + '\n');
  const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, h.length & 0xff, h.length >> 8]);
  const body = Buffer.from(Float32Array.from(data, (x) => x * k).buffer);
  const path = join(tmp, name);
  writeFileSync(path, Buffer.concat([pre, h, body]));
  return path;
}

test('latent warnings judge the spread by the family: SD3 scaled latents (std 1 > 1/1.5305) are not taken for raw ones; raw SD3 ones are', () => {
  const sd3 = join(fx.dir, 'tiny-sd3-folder');
  assert.doesNotMatch(cliDecode(sd3, lat16).stderr, /looks like/);
  const raw = writeScaledCopy(lat16, 1 / 1.5305, 'sd3-raw.npy');
  assert.match(cliDecode(sd3, raw).stderr, /latent std is 0\.\d+, which looks like raw encoder output; if so pass --unscaled \(taken as scaled: divided by 1\.5305, plus 0\.0609\)/);
  assert.doesNotMatch(cliDecode(sd3, raw, ['--unscaled']).stderr, /looks like/);
});

test('raw latents whose spread fits the other family of the same shapes are named, the default family stated', () => {
  const sd15 = fx.path('tiny-sd15-original-f32.safetensors');
  // SD 1.5 raw latents spread about 1 / 0.18215 = 5.49; SDXL's about 7.68
  const raw = writeScaledCopy(lat4, 1 / 0.18215, 'sd15-raw.npy');
  const d = cliDecode(sd15, raw, ['--unscaled']);
  assert.match(d.stderr, /latent std \d\.\d+ fits SD 1\.x\/2\.x raw latents \(about 5\.49\) better than SDXL's \(about 7\.68\), the family taken by default .*pass --family sd15/);
  assert.equal(cliDecode(sd15, raw, ['--unscaled', '--family', 'sd15']).stderr, '');
  // FLUX.1 raw latents (1 / 0.3611 = 2.77) given to the default FLUX.1 family: no note
  assert.doesNotMatch(cliDecode(fx.path('tiny-flux-original-f32.safetensors'), writeScaledCopy(lat16, 1 / 0.3611, 'flux-raw.npy'), ['--unscaled']).stderr, /fits|taken as/);
});

test('encode writes (mean - shift) x scaling, the inverse of decode: a round trip through --unscaled agrees', () => {
  const flux = fx.path('tiny-flux-original-f32.safetensors');
  const photo = new URL('../fixtures/photos/chelsea-64.png', import.meta.url).pathname;
  const rawOut = join(tmp, 'enc-raw.npy');
  const scaledOut = join(tmp, 'enc-scaled.npy');
  assert.equal(cli(['encode', '--vae', flux, '--family', 'flux', '--image', photo, '--out', rawOut, '--unscaled']).code, 0);
  const r = cli(['encode', '--vae', flux, '--family', 'flux', '--image', photo, '--out', scaledOut]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\(shifted by 0\.1159, scaled by 0\.3611\)/);
  const raw = readNpyF32(rawOut).data;
  const sc = readNpyF32(scaledOut).data;
  for (let i = 0; i < raw.length; i++) assert.equal(sc[i], Math.fround((raw[i] - 0.1159) * 0.3611), `element ${i}`);
  const back = cliDecode(flux, scaledOut, ['--family', 'flux']).out;
  const direct = cliDecode(flux, rawOut, ['--unscaled']).out;
  assert.ok(maxAbsDiff(back, direct) <= 1e-5, `round trip ${maxAbsDiff(back, direct)}`);
});

// ---------------------------------------------------------------------------------------------
// nan-scan and fix on the overflowing FLUX-style VAE, judged by the reference

const overflow = fx.weights('tiny-flux-fp16-overflow.safetensors');
const raw16 = scaledToRaw(scaled(lat16), FAMILY_FACTORS.flux.scaling, FAMILY_FACTORS.flux.shift);
const firstBad = (trace: RefTrace[]) => trace.find((e) => e.nan + e.inf > 0)?.name ?? null;

test('nan-scan fp16 on the FLUX-style overflow fixture names the reference emulation\'s first overflowing op', () => {
  const want = firstBad(referenceDecode(referenceWeightsOf(overflow), overflow.config, raw16, 'fp16').trace);
  assert.ok(want, 'the reference overflows');
  const r = cli(['nan-scan', '--vae', overflow.path, '--latents', lat16, '--precision', 'fp16', '--json']);
  assert.equal(r.code, 1, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.vaes[0].firstNonFinite, want);
});

/** The canonical-named weights of a file in the original naming, read key by key through the generator's name map. */
function canonicalFromOriginal(path: string): RefWeights {
  const st = SafetensorsFile.open(path);
  const w: RefWeights = new Map();
  for (const s of vaeTensorSpecs(FLUX_CFG)) {
    const data = st.readFloat32(toOriginalName(s.name, FLUX_CFG.blockOutChannels.length));
    w.set(s.name, { shape: s.shape, data: Float64Array.from(data) });
  }
  return w;
}

test('fix makes the FLUX-style overflow fixture finite in fp16 (no post_quant_conv: the stream starts at conv_in), fp32 unchanged within 1e-5', () => {
  const out = join(tmp, 'flux-fixed.safetensors');
  const r = cli(['fix', '--vae', overflow.path, '--out', out, '--part', 'decoder', '--size', '8x8', '--count', '1']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.stdout.trimEnd().split('\n').at(-1), `PASSED | vaecheck fix | wrote ${out}`);
  assert.match(r.stdout, /stage from decoder\.up_blocks\.2\.resnets\.0\.conv_shortcut: .* -> x2\^-\d+/);
  const fixed = canonicalFromOriginal(out);
  assert.ok(!fixed.has('post_quant_conv.weight'));
  const before = referenceDecode(referenceWeightsOf(overflow), overflow.config, raw16, 'fp32').output.data;
  const after32 = referenceDecode(fixed, FLUX_CFG, raw16, 'fp32').output.data;
  assert.ok(maxAbsDiff(before, after32) <= 1e-5, `fp32 moved by ${maxAbsDiff(before, after32)}`);
  const after16 = referenceDecode(fixed, FLUX_CFG, raw16, 'fp16');
  assert.equal(firstBad(after16.trace), null, 'finite in the reference fp16 emulation');
  const scan = cli(['nan-scan', '--vae', out, '--latents', lat16, '--precision', 'fp16']);
  assert.equal(scan.code, 0, scan.stdout + scan.stderr);
});

// ---------------------------------------------------------------------------------------------
// compare: only interchangeable latents

test('compare refuses VAEs whose latents are not interchangeable, with one clear line (exit 3)', () => {
  const flux = fx.path('tiny-flux-original-f32.safetensors');
  const sdxl = fx.path('tiny-diffusers-f32.safetensors');
  const r = cli(['compare', '--vae', `flux=${flux}`, '--vae', `sdxl=${sdxl}`, '--random', '--size', '4x4', '--precision', 'fp32', '--json']);
  assert.equal(r.code, 3, r.stdout + r.stderr);
  assert.equal(r.stderr, `vaecheck: error: ${sdxl}: sdxl and flux cannot decode the same latents (4 latent channels against 16: a latent of one cannot feed the other); compare VAEs of one family\n`);
  // same shapes, different stated families: SD3 (config.json) and FLUX.1 (--family is for every VAE, so a config says it)
  const folder = join(tmp, 'flux-cfg');
  mkdirSync(folder);
  writeFileSync(join(folder, 'config.json'), JSON.stringify(diffusersConfigJson(FLUX_CFG, FAMILY_FACTORS.flux)));
  copyFileSync(flux, join(folder, 'diffusion_pytorch_model.safetensors'));
  const sd3 = join(fx.dir, 'tiny-sd3-folder');
  const m = cli(['compare', '--vae', `sd3=${sd3}`, '--vae', `flux=${folder}`, '--random', '--size', '4x4', '--precision', 'fp32', '--json']);
  assert.equal(m.code, 3, m.stdout + m.stderr);
  assert.match(m.stderr, /flux and sd3 cannot decode the same latents \(FLUX\.1 and SD3\/3\.5 latent spaces differ, though both have 16 channels\)/);
  // two FLUX-style files compare fine
  const ok = cli(['compare', '--vae', `a=${flux}`, '--vae', `b=${fx.path('tiny-flux-original-bf16.safetensors')}`, '--random', '--size', '4x4', '--precision', 'fp32', '--json']);
  assert.ok(ok.code === 0 || ok.code === 1, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).vaes.length, 2);
});

test('config.json values of the wrong type: one line naming the file and the field, exit 3', () => {
  for (const [field, value, message] of [
    ['use_quant_conv', 'no', 'use_quant_conv is not true or false'],
    ['shift_factor', '0.1', 'shift_factor is not a number'],
    ['mid_block_add_attention', 1, 'mid_block_add_attention is not true or false'],
    ['latent_channels', 4, 'config.json latent_channels 4 does not match the weights (16)'],
  ] as const) {
    const folder = join(tmp, `bad-config-${field}`);
    mkdirSync(folder);
    writeFileSync(join(folder, 'config.json'), JSON.stringify({ ...diffusersConfigJson(FLUX_CFG, FAMILY_FACTORS.flux), [field]: value }));
    copyFileSync(fx.path('tiny-flux-original-f16.safetensors'), join(folder, 'diffusion_pytorch_model.safetensors'));
    const r = cli(['info', folder]);
    assert.equal(r.code, 3, `${field}: ${r.stderr}`);
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
    assert.ok(r.stderr.includes(message), r.stderr);
    assert.ok(r.stderr.includes(join(folder, field === 'latent_channels' ? 'diffusion_pytorch_model.safetensors' : 'config.json')), r.stderr);
  }
});

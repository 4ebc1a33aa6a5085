/**
 * `vaecheck fix` (issue 7), through the built CLI, with the library for decodes where convenient:
 * the overflowing fixture becomes fp16-safe with its fp32 decode unchanged; the output keeps the
 * input's naming, prefix, storage dtype and layout (file or diffusers folder); untouched tensors are
 * byte-identical and rescaled ones are the input times a power of two; the fix is idempotent; an
 * overflow no rescaling can reach is reported by op name with exit 1; output and flag errors exit 2;
 * the demo pair's fixed row passes fp16 in compare.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type TestContext } from 'node:test';
import { FIXTURE_SEED, FOLDER_CFG, OVERFLOW, TINY, diffusersConfigJson, makeVaeWeights, scaleDecoderStream } from '../../fixtures/generate.js';
import { renameWeights, type FixtureNaming } from '../../fixtures/naming.js';
import { writeSafetensors, type FixtureDtype, type WriterTensor } from '../../fixtures/safetensors-writer.js';
import { decodeLatents, resolveLatents } from '../../src/decode.js';
import type { Precision } from '../../src/dtype.js';
import { loadVae } from '../../src/weights/load.js';
import { SafetensorsFile } from '../../src/weights/safetensors.js';
import { fixtures, maxAbsDiff, readNpyF32 } from '../helpers/fixtures.js';
import { roundBF16, roundF16 } from '../reference/round.js';
import type { RefConfig, RefWeights } from '../reference/types.js';
import { cli } from './cli.js';
import { psnr01 } from '../helpers/psnr01.js';

const fx = fixtures();
const overflow = fx.path('tiny-fp16-overflow.safetensors');
const lat8 = fx.path('latents-8x8.npy');
const tmp = mkdtempSync(join(tmpdir(), 'vaecheck-fix-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

/** Decoder only, small calibration and held-out latents: enough for the tiny fixtures, and fast. */
const FAST = ['--part', 'decoder', '--size', '8x8', '--count', '1'];
/** Both parts (the default), smaller than the default 32x32 latents (the demo test runs the defaults). */
const BOTH = ['--size', '16x16'];

// ---------------------------------------------------------------------------------------------
// helpers

/** Writes canonical float64 weights in a naming / prefix / dtype (values rounded to the dtype first). */
function writeVariant(path: string, w: RefWeights, cfg: RefConfig, naming: FixtureNaming, prefix: string, dtype: FixtureDtype): void {
  const round = dtype === 'F32' ? (x: number) => Math.fround(x) : dtype === 'F16' ? (x: number) => roundF16(Math.fround(x)) : roundBF16;
  const tensors: WriterTensor[] = [];
  for (const [name, t] of renameWeights(w, naming, cfg.blockOutChannels.length, prefix)) tensors.push({ name, dtype, shape: t.shape, data: t.data.map(round) });
  writeSafetensors(path, tensors, { format: 'pt' });
}

/** The overflowing fixture's canonical weights: decoder stream x2048 from up_blocks.2 on. */
const overflowWeights = (cfg: RefConfig = TINY) => scaleDecoderStream(makeVaeWeights(cfg, FIXTURE_SEED), cfg, OVERFLOW.fromUpBlock, OVERFLOW.factor);

/** Library decode of latents-8x8 (float32 NCHW output). */
async function decode(vae: string, precision: Precision): Promise<Float32Array> {
  const v = loadVae(vae);
  return (await decodeLatents(v, resolveLatents(v, { file: lat8 }), { precision })).image.data;
}

/** PSNR of b against a on the displayed [0, 1] image (outputs in [-1, 1], clamped), float64. */

/** The numbers of the fix's printed verification for one part. */
function verification(stdout: string, part: 'decoder' | 'encoder') {
  const diff = new RegExp(`^  ${part}: fp32 max abs difference to the original (\\S+) \\(expected <= 1e-5\\)$`, 'm').exec(stdout);
  const fp16 = new RegExp(`^  ${part}: fp16 (finite|.*NaN/Inf.*); PSNR against the original's fp32 (inf|[\\d.]+) dB`, 'm').exec(stdout);
  const head = new RegExp(`^  ${part}: smallest headroom x(inf|[\\d.]+) at (\\S+)`, 'm').exec(stdout);
  assert.ok(diff && fp16 && head, `no ${part} verification in:\n${stdout}`);
  return { fp32MaxAbsDiff: Number(diff[1]), fp16Finite: fp16[1] === 'finite', fp16Psnr: Number(fp16[2] === 'inf' ? Infinity : fp16[2]), headroom: Number(head[1] === 'inf' ? Infinity : head[1]) };
}

function assertPassed(r: { code: number; stdout: string; stderr: string }, out: string): void {
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const last = r.stdout.trimEnd().split('\n').at(-1);
  assert.equal(last, `PASSED | vaecheck fix | wrote ${out}`);
}

/** Names of the tensors whose bytes differ between two safetensors files with the same keys, dtypes, shapes and order. */
function compareFiles(inPath: string, outPath: string): { same: string[]; changed: string[] } {
  const a = SafetensorsFile.open(inPath);
  const b = SafetensorsFile.open(outPath);
  const order = (f: SafetensorsFile) => [...f.entries.values()].sort((x, y) => x.begin - y.begin).map((e) => e.name);
  assert.deepEqual(order(b), order(a), 'same tensors in the same order');
  const same: string[] = [];
  const changed: string[] = [];
  for (const [name, e] of a.entries) {
    const o = b.entries.get(name)!;
    assert.equal(o.dtype, e.dtype, name);
    assert.deepEqual(o.shape, e.shape, name);
    (Buffer.from(a.readBytes(name)).equals(Buffer.from(b.readBytes(name))) ? same : changed).push(name);
  }
  return { same, changed };
}

/**
 * Checks that `out` is `in` times one power of two p != 1: exactly for F32 / BF16 (whose exponent range
 * holds every product), and for F16 exactly wherever in * p is a float16, else its round-to-nearest.
 * Returns p and how many elements were not exactly representable.
 */
function powerOfTwoFactor(name: string, dtype: string, inp: Float32Array, out: Float32Array): { p: number; inexact: number } {
  let j = 0;
  for (let i = 1; i < inp.length; i++) if (Math.abs(inp[i]) > Math.abs(inp[j])) j = i;
  const p = out[j] / inp[j];
  const e = Math.log2(p);
  assert.ok(Number.isInteger(e) && e !== 0, `${name}: factor ${p} is not a power of two != 1`);
  let inexact = 0;
  for (let i = 0; i < inp.length; i++) {
    const exact = inp[i] * p;
    const stored = dtype === 'F16' ? roundF16(exact) : dtype === 'BF16' ? roundBF16(exact) : Math.fround(exact);
    if (stored !== exact) inexact++;
    assert.ok(stored === exact || dtype === 'F16', `${name}: ${inp[i]} x ${p} is not representable in ${dtype}`);
    assert.equal(out[i], stored, `${name}[${i}]: ${out[i]} != ${inp[i]} x ${p}`);
  }
  return { p, inexact };
}

function info(path: string) {
  const r = cli(['info', path, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

// ---------------------------------------------------------------------------------------------
// (a) the overflowing fixture

const fixedOverflow = join(tmp, 'overflow-fixed.safetensors');

test('fix tiny-fp16-overflow: PASSED, nan-scan fp16 passes, fp32 decode equals the original within 1e-5, fp16 decode finite', (t: TestContext) => {
  const r = cli(['fix', '--vae', overflow, '--out', fixedOverflow, ...BOTH]);
  assertPassed(r, fixedOverflow);
  // the stage that opens at the overflowing shortcut is scaled down by a power of two below the target
  assert.match(r.stdout, /^decoder: 5 stream stages, target max \|x\| <= 16376 \(65504 \/ 4\)$/m);
  assert.match(r.stdout, /^  stage from decoder\.up_blocks\.2\.resnets\.0\.conv_shortcut: max \|x\| \S+ -> x2\^-\d+ = \S+$/m);
  assert.doesNotMatch(r.stdout, /FAILED|warning/);
  const vd = verification(r.stdout, 'decoder');
  const ve = verification(r.stdout, 'encoder');
  assert.ok(vd.fp32MaxAbsDiff <= 1e-5 && vd.fp16Finite && vd.headroom >= 4, JSON.stringify(vd));
  assert.ok(ve.fp32MaxAbsDiff <= 1e-5 && ve.fp16Finite, JSON.stringify(ve));
  assert.match(r.stdout, /original in fp16: [1-9]\d* NaN\/Inf/, 'the original overflows in fp16 on the held-out latents');

  const scan = cli(['nan-scan', '--vae', fixedOverflow, '--latents', lat8, '--precision', 'fp16', '--part', 'both']);
  assert.equal(scan.code, 0, scan.stdout + scan.stderr);
  assert.match(scan.stdout, /^PASSED \| overflow-fixed · decoder \| all finite/m);
  assert.match(scan.stdout, /^PASSED \| overflow-fixed · encoder \| all finite/m);
  // and the unfixed one still fails (the fixture really overflows)
  assert.equal(cli(['nan-scan', '--vae', overflow, '--latents', lat8, '--precision', 'fp16']).code, 1);

  const dec = (vae: string, precision: string, out: string) => {
    const d = cli(['decode', '--vae', vae, '--latents', lat8, '--precision', precision, '--out', join(tmp, out)]);
    assert.equal(d.code, 0, d.stdout + d.stderr);
    return readNpyF32(join(tmp, out)).data;
  };
  const orig32 = dec(overflow, 'fp32', 'orig32.npy');
  const fixed32 = dec(fixedOverflow, 'fp32', 'fixed32.npy');
  const fixed16 = dec(fixedOverflow, 'fp16', 'fixed16.npy');
  const diff = maxAbsDiff(orig32, fixed32);
  assert.ok(diff <= 1e-5, `fp32 max abs difference ${diff}`);
  assert.ok(fixed16.every(Number.isFinite));
  const psnr = psnr01(orig32, fixed16);
  assert.ok(psnr > 40, `fp16 PSNR ${psnr}`);
  t.diagnostic(`tiny-fp16-overflow (F32): decode of latents-8x8: fp32 max abs diff ${diff}, fp16 PSNR vs original fp32 ${psnr.toFixed(2)} dB; ` +
    `fix's own verification: decoder diff ${vd.fp32MaxAbsDiff} PSNR ${vd.fp16Psnr} headroom x${vd.headroom}, encoder diff ${ve.fp32MaxAbsDiff} PSNR ${ve.fp16Psnr}`);
});

// ---------------------------------------------------------------------------------------------
// (d) idempotent

test('fix is idempotent: fixing the fixed VAE rescales nothing in either part and every tensor is byte-identical', () => {
  const again = join(tmp, 'overflow-fixed-twice.safetensors');
  const r = cli(['fix', '--vae', fixedOverflow, '--out', again, ...BOTH]);
  assertPassed(r, again);
  assert.equal(r.stdout.match(/^  nothing to rescale: already within the target$/gm)?.length, 2, r.stdout);
  assert.match(r.stdout, /^decoder: .*\n  nothing to rescale/m);
  assert.match(r.stdout, /^encoder: .*\n  nothing to rescale/m);
  assert.doesNotMatch(r.stdout, /stage from|conv1: max/);
  const { changed } = compareFiles(fixedOverflow, again);
  assert.deepEqual(changed, []);
  assert.ok(verification(r.stdout, 'decoder').fp32MaxAbsDiff === 0);
});

// ---------------------------------------------------------------------------------------------
// (b) both namings and dtypes

// headroom 4096 (target 16) scales the F16 variant's weights below the fixture's unscaled magnitudes, so some land
// on float16 subnormals and round: the fp32 decode must still agree within 1e-5
const variants = [
  { file: 'overflow-original-bf16.safetensors', naming: 'original', prefix: 'first_stage_model.', dtype: 'BF16', headroom: 4, shortcut: 'first_stage_model.decoder.up.1.block.0.nin_shortcut' },
  { file: 'overflow-diffusers-f16.safetensors', naming: 'diffusers', prefix: '', dtype: 'F16', headroom: 4, shortcut: 'decoder.up_blocks.2.resnets.0.conv_shortcut' },
  { file: 'overflow-diffusers-f16-h4096.safetensors', naming: 'diffusers', prefix: '', dtype: 'F16', headroom: 4096, shortcut: 'decoder.up_blocks.2.resnets.0.conv_shortcut' },
] as const;

for (const v of variants) {
  test(`fix ${v.naming} ${v.dtype}${v.prefix ? ` prefix ${v.prefix}` : ''} --headroom ${v.headroom}: same naming, prefix and dtype; untouched tensors byte-identical, rescaled ones x a power of two; decodes`, async (t: TestContext) => {
    const input = join(tmp, v.file);
    writeVariant(input, overflowWeights(), TINY, v.naming, v.prefix, v.dtype);
    const inOrig16 = await decode(input, 'fp16');
    assert.ok(!inOrig16.every(Number.isFinite), 'the variant overflows in fp16 before the fix');

    const out = join(tmp, v.file.replace('.safetensors', '-fixed.safetensors'));
    const r = cli(['fix', '--vae', input, '--out', out, ...FAST, '--headroom', String(v.headroom)]);
    assertPassed(r, out);
    const vd = verification(r.stdout, 'decoder');

    const a = info(input);
    const b = info(out);
    assert.deepEqual([b.naming, b.prefix, b.storageDtype], [v.naming, v.prefix, v.dtype]);
    assert.deepEqual([b.naming, b.prefix, b.storageDtype, b.architecture, b.parts], [a.naming, a.prefix, a.storageDtype, a.architecture, a.parts]);
    assert.notEqual(b.sha256, a.sha256);

    const { same, changed } = compareFiles(input, out);
    assert.ok(changed.includes(`${v.shortcut}.weight`) && changed.includes(`${v.shortcut}.bias`), `rescaled: ${changed.join(', ')}`);
    // only layers that write into the residual stream, or a resnet's conv1, of the decoder; never a norm
    const writer = /^(first_stage_model\.)?decoder\.(conv_in|.*\.(conv1|conv2|conv_shortcut|nin_shortcut)|.*upsample(rs\.0)?\.conv|mid(_block)?\.(attn_1|attentions\.0)\.(proj_out|to_out\.0))\.(weight|bias)$/;
    for (const name of changed) assert.match(name, writer);
    assert.ok(same.some((n) => /norm/.test(n)) && same.some((n) => n.includes('encoder.')));
    const sa = SafetensorsFile.open(input);
    const sb = SafetensorsFile.open(out);
    let inexact = 0;
    const factors: string[] = [];
    for (const name of changed) {
      const f = powerOfTwoFactor(name, v.dtype, sa.readFloat32(name), sb.readFloat32(name));
      inexact += f.inexact;
      if (name.endsWith('.weight')) factors.push(`${name.replace(/\.weight$/, '')} x2^${Math.log2(f.p)}`);
    }
    if (v.dtype === 'BF16' || v.headroom === 4) assert.equal(inexact, 0); // x2^-k only undoes the fixture's x2^11
    else assert.ok(inexact > 0, 'headroom 4096 rounds some F16 weights (subnormals)');

    // decodes: fp32 unchanged, fp16 finite
    const in32 = await decode(input, 'fp32');
    const out32 = await decode(out, 'fp32');
    const out16 = await decode(out, 'fp16');
    const diff = maxAbsDiff(in32, out32);
    assert.ok(out16.every(Number.isFinite));
    const psnr = psnr01(in32, out16);
    t.diagnostic(`${v.naming} ${v.dtype} headroom ${v.headroom}: ${changed.length} tensors rescaled (${inexact} F16 elements not exactly representable after scaling); ` +
      `latents-8x8: fp32 max abs diff ${diff.toExponential(2)}, fp16 PSNR ${psnr.toFixed(2)} dB; fix's verification: diff ${vd.fp32MaxAbsDiff}, PSNR ${vd.fp16Psnr} dB`);
    t.diagnostic(`factors: ${factors.join('; ')}`);
    assert.ok(diff <= 1e-5, `fp32 max abs difference ${diff}`);
    assert.ok(vd.fp32MaxAbsDiff <= 1e-5 && vd.fp16Finite);
    assert.ok(psnr > 40, `fp16 PSNR ${psnr}`);
  });
}

// ---------------------------------------------------------------------------------------------
// (c) a diffusers folder

test('fix a diffusers folder: writes a folder with the same weights file name and config.json with force_upcast false', async (t: TestContext) => {
  const input = join(tmp, 'overflow-folder');
  mkdirSync(input);
  const cfg = diffusersConfigJson(FOLDER_CFG);
  writeFileSync(join(input, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
  writeVariant(join(input, 'diffusion_pytorch_model.fp16.safetensors'), overflowWeights(FOLDER_CFG), FOLDER_CFG, 'diffusers', '', 'F16');
  assert.ok(!(await decode(input, 'fp16')).every(Number.isFinite), 'the folder overflows in fp16 before the fix');

  const out = join(tmp, 'overflow-folder-fixed');
  const r = cli(['fix', '--vae', input, '--out', out, ...FAST]);
  assertPassed(r, out);
  assert.deepEqual(readdirSync(out).sort(), ['config.json', 'diffusion_pytorch_model.fp16.safetensors']);
  const written = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(written.force_upcast, false);
  assert.deepEqual({ ...written, force_upcast: true }, cfg, 'every other config key unchanged');
  const b = info(out);
  assert.deepEqual(b.architecture.blockOutChannels, FOLDER_CFG.blockOutChannels);
  assert.equal(b.storageDtype, 'F16');
  assert.equal(b.forceUpcast, false);
  const { changed } = compareFiles(join(input, 'diffusion_pytorch_model.fp16.safetensors'), join(out, 'diffusion_pytorch_model.fp16.safetensors'));
  assert.ok(changed.length > 0);

  const in32 = await decode(input, 'fp32');
  const out32 = await decode(out, 'fp32');
  const out16 = await decode(out, 'fp16');
  const diff = maxAbsDiff(in32, out32);
  assert.ok(out16.every(Number.isFinite));
  t.diagnostic(`folder (FOLDER_CFG, F16): fp32 max abs diff ${diff}, fp16 PSNR ${psnr01(in32, out16).toFixed(2)} dB`);
  assert.ok(diff <= 1e-5, `fp32 max abs difference ${diff}`);
});

// ---------------------------------------------------------------------------------------------
// (e) an overflow no rescaling reaches

for (const inj of [
  { tensor: 'decoder.conv_norm_out.weight', op: 'decoder.conv_norm_out' },
  { tensor: 'decoder.up_blocks.1.resnets.0.norm1.weight', op: 'decoder.up_blocks.1.resnets.0.norm1' },
]) {
  test(`an overflow right after a GroupNorm's affine (${inj.tensor} x1e5) is reported by op name, exit 1, the partly fixed file written`, () => {
    const w = overflowWeights();
    const g = w.get(inj.tensor)!;
    g.data = g.data.map((x) => Math.fround(x * 1e5));
    const input = join(tmp, `unfixable-${inj.op}.safetensors`);
    writeVariant(input, w, TINY, 'diffusers', '', 'F32');
    const out = join(tmp, `unfixable-${inj.op}-fixed.safetensors`);
    const r = cli(['fix', '--vae', input, '--out', out, ...FAST]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const esc = inj.op.replace(/\./g, '\\.');
    assert.match(r.stdout, new RegExp(`^  FAILED \\| ${esc} reaches max \\|x\\| \\S+, where rescaling cannot reach`, 'm'));
    // the reachable overflow was still fixed
    assert.match(r.stdout, /^  stage from decoder\.up_blocks\.2\.resnets\.0\.conv_shortcut: /m);
    assert.equal(r.stdout.trimEnd().split('\n').at(-1), `FAILED | vaecheck fix | wrote ${out} (partly fixed: see above)`);
    // written: its first fp16 overflow is now the unreachable op, no longer the shortcut
    const scan = cli(['nan-scan', '--vae', out, '--latents', lat8, '--precision', 'fp16', '--json']);
    assert.equal(scan.code, 1, scan.stderr);
    assert.equal(JSON.parse(scan.stdout).vaes[0].firstNonFinite, inj.op);
  });
}

// ---------------------------------------------------------------------------------------------
// (f) usage errors

test('fix refuses to overwrite --out without --force (exit 2, file untouched); --force overwrites; bad --headroom exits 2', () => {
  const out = join(tmp, 'exists.safetensors');
  writeFileSync(out, 'keep me');
  const r = cli(['fix', '--vae', overflow, '--out', out, ...FAST]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /already exists; pass --force/);
  assert.equal(r.stdout, '', 'refused before measuring');
  assert.equal(readFileSync(out, 'utf8'), 'keep me');
  assertPassed(cli(['fix', '--vae', overflow, '--out', out, ...FAST, '--force']), out);
  SafetensorsFile.open(out);

  for (const h of ['0', 'abc', '0.5', '-4']) {
    const b = cli(['fix', '--vae', overflow, '--out', join(tmp, `h${h}.safetensors`), `--headroom=${h}`]);
    assert.equal(b.code, 2, `--headroom ${h}: ${b.stdout}${b.stderr}`);
    assert.match(b.stderr, /--headroom must be a number >= 1/);
  }
  const ext = cli(['fix', '--vae', overflow, '--out', join(tmp, 'x.bin'), ...FAST]);
  assert.equal(ext.code, 2);
  assert.match(ext.stderr, /--out must end in \.safetensors/);
  // a diffusers-folder input needs a folder --out; an existing folder with the weights file needs --force
  const folderOut = cli(['fix', '--vae', join(fx.dir, 'tiny-folder'), '--out', out, ...FAST]);
  assert.equal(folderOut.code, 2, folderOut.stdout + folderOut.stderr);
  assert.match(folderOut.stderr, /must be a folder for a diffusers-folder input/);
  const dir = join(tmp, 'existing-folder');
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), '{}');
  const folderExists = cli(['fix', '--vae', join(fx.dir, 'tiny-folder'), '--out', dir, ...FAST]);
  assert.equal(folderExists.code, 2, folderExists.stdout + folderExists.stderr);
  assert.match(folderExists.stderr, /config\.json already exists; pass --force/);
  assert.deepEqual(readdirSync(dir), ['config.json']);
});

// ---------------------------------------------------------------------------------------------
// (g) the demo pair

test('demo: the fixed demo-sdxl-vae is one more compare row, passing fp16, its fp32 identical to the original', (t: TestContext) => {
  const fixed = join(tmp, 'demo-fixed');
  const r = cli(['fix', '--vae', 'fixtures/demo/demo-sdxl-vae', '--out', fixed]);
  assertPassed(r, fixed);
  assert.deepEqual(readdirSync(fixed).sort(), ['config.json', 'diffusion_pytorch_model.safetensors']);
  const cmpOut = join(tmp, 'cmp');
  const c = cli(['compare', '--vae', 'demo-sdxl-vae=fixtures/demo/demo-sdxl-vae', '--vae', 'demo-fp16-fix=fixtures/demo/demo-fp16-fix', '--vae', `demo-fixed=${fixed}`,
    '--latents', 'fixtures/demo/chelsea.npy', '--out', cmpOut, '--json', '--no-progress']);
  assert.equal(c.code, 1, c.stderr); // the original fails fp16, as it should
  const j = JSON.parse(c.stdout);
  const cell = (vae: string, p: string) => j.cells.find((x: { vae: string; precision: string }) => x.vae === vae && x.precision === p);
  assert.equal(cell('demo-sdxl-vae', 'fp16').pass, false);
  for (const p of ['fp32', 'bf16', 'fp16']) assert.equal(cell('demo-fixed', p).pass, true, `demo-fixed@${p}: ${cell('demo-fixed', p).reasons}`);
  const num = (x: number | string) => (x === 'inf' ? Infinity : Number(x));
  const fixed32 = num(cell('demo-fixed', 'fp32').psnr.mean);
  const fixed16 = num(cell('demo-fixed', 'fp16').psnr.mean);
  assert.ok(fixed32 >= 100, `fp32 PSNR ${fixed32}`);
  assert.equal(cell('demo-fixed', 'fp32').items[0].maxAbsError, 0);
  assert.ok(fixed16 >= 25 && cell('demo-fixed', 'fp16').nonFiniteFraction === 0);
  const row = (vae: string) => ['fp32', 'bf16', 'fp16'].map((p) => `${p} ${cell(vae, p).pass ? 'pass' : 'FAIL'} ${cell(vae, p).psnr.mean}`).join(', ');
  t.diagnostic(`demo compare: demo-sdxl-vae: ${row('demo-sdxl-vae')} | demo-fp16-fix: ${row('demo-fp16-fix')} | demo-fixed: ${row('demo-fixed')}`);
});

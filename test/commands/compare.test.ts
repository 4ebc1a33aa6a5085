import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { readImage } from '../../src/images/sharp-io.js';
import { ssim } from '../../src/metrics/ssim.js';
import { referenceDecode } from '../reference/vae64.js';
import type { RefPrecision } from '../reference/types.js';
import { fixtures, rawLatents, referenceWeightsOf } from '../helpers/fixtures.js';
import { cli } from './cli.js';
import { psnr01 } from '../helpers/psnr01.js';

const fx = fixtures();
const orig = `orig=${fx.path('tiny-fp16-overflow.safetensors')}`;
const fix = `fix=${fx.path('tiny-fp16-safe.safetensors')}`;
const lat8 = fx.path('latents-8x8.npy');

const display = (a: Float64Array) => a.map((v) => Math.min(1, Math.max(0, (v + 1) / 2)));

test('compare on the fixture pair: verdicts, NaN fraction, PSNR/SSIM against the float64 reference decodes, files, schema', () => {
  const out = mkdtempSync(join(tmpdir(), 'vaecheck-compare-'));
  const r = cli(['compare', '--vae', orig, '--vae', fix, '--latents', lat8, '--out', out, '--json', '--no-progress']);
  assert.equal(r.code, 1, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.schema, 'vaecheck.compare/1');
  assert.equal(j.ok, false);
  assert.deepEqual(j.reference, { vae: 'orig', precision: 'fp32', key: 'orig@fp32' });
  const cell = (vae: string, p: string) => j.cells.find((c: { vae: string; precision: string }) => c.vae === vae && c.precision === p);
  assert.equal(cell('orig', 'fp16').pass, false);
  for (const [v, p] of [['orig', 'fp32'], ['orig', 'bf16'], ['fix', 'fp32'], ['fix', 'bf16'], ['fix', 'fp16']]) assert.equal(cell(v, p).pass, true, `${v}@${p}: ${cell(v, p).reasons}`);
  assert.equal(cell('orig', 'fp32').items[0].psnr, 'inf'); // identical images: "inf" in JSON

  // the independent reference: float64 decodes with their own fp16/bf16 rounding
  const z = rawLatents(lat8).ref;
  const dec = (file: string, p: RefPrecision) => referenceDecode(referenceWeightsOf(fx.weights(file)), fx.weights(file).config, z, p).output;
  const ref = dec('tiny-fp16-overflow.safetensors', 'fp32');
  const origFp16 = dec('tiny-fp16-overflow.safetensors', 'fp16');
  const nanRef = origFp16.data.filter(Number.isNaN).length / origFp16.data.length;
  assert.equal(cell('orig', 'fp16').nonFiniteFraction, nanRef);
  assert.equal(cell('orig', 'fp16').items[0].nan, origFp16.data.filter(Number.isNaN).length);
  const shape = ref.shape.slice(1);
  for (const [file, label, p] of [['tiny-fp16-safe.safetensors', 'fix', 'fp16'], ['tiny-fp16-safe.safetensors', 'fix', 'bf16'], ['tiny-fp16-overflow.safetensors', 'orig', 'bf16']] as const) {
    const d = dec(file, p);
    const item = cell(label, p).items[0];
    const want = psnr01(ref.data, d.data);
    assert.ok(Math.abs(item.psnr - want) < 1, `${label}@${p}: PSNR ${item.psnr} vs reference ${want}`);
    const wantSsim = ssim(display(ref.data), display(d.data), shape);
    assert.ok(Math.abs(item.ssim - wantSsim) < 2e-3, `${label}@${p}: SSIM ${item.ssim} vs reference ${wantSsim}`);
  }
  // fp32 of the two VAEs: the same function, so far above any threshold
  assert.ok(cell('fix', 'fp32').items[0].psnr > 90);

  // files
  for (const f of ['matrix.png', 'report.json', 'report.md', 'report.html']) assert.ok(existsSync(join(out, f)), f);
  for (const c of j.cells) {
    const it = c.items[0];
    for (const k of ['decoded', 'pixelmatch', 'heatmap']) assert.ok(existsSync(join(out, it.files[k])), `${c.vae}@${c.precision} ${k}`);
  }
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).cells.length, 6);
  const md = readFileSync(join(out, 'report.md'), 'utf8');
  assert.match(md, /\| orig \| ✅ reference \| ✅ [\d.]+ dB \| ⚠️ NaN\/Inf 100\.00% \|/);
  assert.ok(!readdirSync(out).some((f) => f.includes('.tmp-')));
});

test('compare: two latent files give a table each and mean ± std per cell; the terminal table has one FAILED line', () => {
  const out = mkdtempSync(join(tmpdir(), 'vaecheck-compare-'));
  const r = cli(['compare', '--vae', orig, '--vae', fix, '--latents', lat8, '--latents', fx.path('latents-2x12x20.npy'), '--precision', 'fp32,fp16', '--out', out]);
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stdout.split('\n');
  assert.equal(lines.filter((l) => l.startsWith('FAILED | orig@fp16 |')).length, 1);
  assert.match(lines[1], /decoding in float32\s+decoding in float16/);
  const j = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.deepEqual(j.latents.map((l: { id: string }) => l.id), ['latents-8x8', 'latents-2x12x20-0', 'latents-2x12x20-1']);
  const c = j.cells.find((x: { vae: string; precision: string }) => x.vae === 'fix' && x.precision === 'fp16');
  assert.equal(c.psnr.n, 3);
  const ps = c.items.map((i: { psnr: number }) => i.psnr);
  const mean = ps.reduce((a: number, b: number) => a + b, 0) / 3;
  assert.ok(Math.abs(c.psnr.mean - mean) < 1e-9);
  assert.ok(Math.abs(c.psnr.std - Math.sqrt(ps.reduce((a: number, b: number) => a + (b - mean) ** 2, 0) / 3)) < 1e-9);
  assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /## Mean ± std over latents/);
});

test('compare refuses to overwrite without --force and leaves nothing behind on bad input', () => {
  const out = mkdtempSync(join(tmpdir(), 'vaecheck-compare-'));
  writeFileSync(join(out, 'report.json'), 'mine');
  const r = cli(['compare', '--vae', fix, '--latents', lat8, '--out', out]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /report\.json already exists; pass --force/);
  assert.equal(readFileSync(join(out, 'report.json'), 'utf8'), 'mine');
  const empty = mkdtempSync(join(tmpdir(), 'vaecheck-compare-'));
  const bad = join(empty, 'bad.npy');
  writeFileSync(bad, 'not npy');
  const r2 = cli(['compare', '--vae', fix, '--latents', lat8, '--latents', bad, '--out', join(empty, 'out')]);
  assert.equal(r2.code, 3);
  assert.equal(existsSync(join(empty, 'out')), false);
});

test('compare --demo exits 1 when the demo does not show what it should (here: the fp16-fix in fp16 against the bf16 reference fails a 50 dB threshold), naming each surprise', () => {
  const out = mkdtempSync(join(tmpdir(), 'vaecheck-demo-'));
  const r = cli(['compare', '--demo', '--precision', 'bf16,fp16', '--reference', 'demo-sdxl-vae@bf16', '--min-psnr', '50', '--out', out]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /did NOT come out as it should \(exit 1\)/);
  assert.match(r.stdout, /^  demo-fp16-fix@fp16 failed \(expected to pass\): .*PSNR [\d.]+ dB < 50/m);
  assert.doesNotMatch(r.stdout, /demo-sdxl-vae@fp16 (passed|failed)/, 'the expected failure is no surprise');
  const j = cli(['compare', '--demo', '--json']);
  assert.equal(j.code, 0, j.stderr);
  assert.equal(JSON.parse(j.stdout).ok, false, 'report.json still says a cell failed');
});

test('compare --demo: the original fails in fp16 only, every other cell passes; HTML report screenshot shows the matrix', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'vaecheck-demo-'));
  const r = cli(['compare', '--demo', '--out', out]);
  // the demo shows exactly the failure it is meant to show: that is a success, exit 0
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^FAILED \| demo-sdxl-vae@fp16 \| /m);
  assert.match(r.stdout, /came out as it should \(exit 0\)\. The FAILED cell is the expected one/);
  // next steps: nan-scan, fix, the report, and the equivalent settings of the usual front ends
  for (const s of ['nan-scan --demo', 'fix --vae ', join(out, 'report.html'), 'force_upcast', 'vae.to(torch.float32)', '--no-half-vae', '--fp32-vae', '--bf16-vae']) assert.ok(r.stdout.includes(s), `epilogue lacks ${s}:\n${r.stdout}`);
  const j = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  for (const c of j.cells) assert.equal(c.pass, !(c.vae === 'demo-sdxl-vae' && c.precision === 'fp16'), `${c.vae}@${c.precision}`);
  assert.equal(j.cells.find((c: { vae: string; precision: string }) => c.vae === 'demo-sdxl-vae' && c.precision === 'fp16').nonFiniteFraction, 1);
  const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find(existsSync);
  if (!chromium) {
    t.skip('no chromium here (Debian package chromium)');
    return;
  }
  const shot = join(out, 'screenshot.png');
  const s = spawnSync(chromium, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${mkdtempSync(join(tmpdir(), 'chromium-'))}`, '--window-size=1100,700', `--screenshot=${shot}`, `file://${join(out, 'report.html')}`], { timeout: 60_000 });
  assert.ok(existsSync(shot), `chromium made no screenshot: ${s.stderr}`);
  const img = await readImage(shot);
  // the matrix's pass cells (#eefaf0) and its failing cell (#fff4e5) are on screen
  const [, , h, w] = img.shape;
  const count = (rgb: number[]) => {
    let n = 0;
    for (let i = 0; i < h * w; i++) if (rgb.every((v, c) => Math.abs((img.data[c * h * w + i] + 1) * 127.5 - v) < 2)) n++;
    return n;
  };
  assert.ok(count([0xee, 0xfa, 0xf0]) > 10_000, 'pass cells visible');
  assert.ok(count([0xff, 0xf4, 0xe5]) > 2_000, 'failing cell visible');
});

test('report.html in headless Chromium: verdict banner, legend, metadata (version, date, sha256, thresholds), mean table, activation figures, enlarge and compare', async (t) => {
  const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find(existsSync);
  if (!chromium) {
    t.skip('no chromium here (Debian package chromium)');
    return;
  }
  const out = mkdtempSync(join(tmpdir(), 'vaecheck-html-'));
  const r = cli(['compare', '--demo', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const args = (extra: string[]) => ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${mkdtempSync(join(tmpdir(), 'chromium-'))}`, '--virtual-time-budget=3000', ...extra];
  // the DOM after the page's script ran, as the browser built it
  const dom = (hash: string) => {
    const s = spawnSync(chromium, args(['--dump-dom', `file://${join(out, 'report.html')}${hash}`]), { encoding: 'utf8', timeout: 60_000, maxBuffer: 256 << 20 });
    assert.ok(s.stdout.includes('</html>'), `chromium gave no DOM: ${s.stderr.slice(-500)}`);
    return s.stdout.replace(/base64,[A-Za-z0-9+/=]+/g, 'base64,…');
  };
  const html = dom('');
  const text = (id: string) => {
    const m = new RegExp(`<(\\w+) id="${id}"[^>]*>([\\s\\S]*?)</(section|div)>`).exec(html);
    assert.ok(m, `no #${id}`);
    return m[2].replace(/<[^>]+>/g, ' ').replace(/&amp;/g, '&').replace(/\s+/g, ' ');
  };
  // banner: the overall verdict, with the failing cell named
  assert.match(html, /<div id="verdict" class="banner fail"/);
  assert.match(text('verdict'), /^ ?FAILED · 1 of 6 cells fail: demo-sdxl-vae@fp16 /);
  // legend: every column and image explained
  const legend = text('legend');
  for (const term of ['NaN/Inf', 'PSNR (dB)', 'SSIM', 'mismatched px', 'pixelmatch', '|diff|', 'mean ± std', 'magenta']) assert.ok(legend.includes(term), `legend lacks ${term}`);
  // metadata: versions, date, thresholds (no "SSIM ≥ 0"), each VAE's sha256 computed here independently
  const meta = text('metadata');
  const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
  assert.match(meta, new RegExp(`vaecheck ${pkg.version.replace(/\./g, '\\.')} onnxruntime \\d+\\.\\d+\\.\\d+ date \\d{4}-\\d\\d-\\d\\dT`));
  assert.match(meta, /thresholds finite, PSNR ≥ 25 dB /);
  assert.doesNotMatch(html, /SSIM ≥ 0\b/);
  for (const v of ['demo-sdxl-vae', 'demo-fp16-fix']) {
    const sha = createHash('sha256').update(readFileSync(join('fixtures/demo', v, 'diffusion_pytorch_model.safetensors'))).digest('hex');
    assert.ok(meta.includes(sha), `metadata lacks ${v}'s sha256 ${sha}`);
  }
  // the mean ± std table, with n/a (not NaN ± NaN) for the non-finite cell
  const means = text('means');
  assert.match(means, /demo-fp16-fix@fp16 ✓ 0\.00% 58\.\d\d ± 0\.\d\d 0\.\d{4} ± 0\.\d{4}/);
  assert.match(means, /demo-sdxl-vae@fp16 ⚠ 100\.00% n\/a n\/a/);
  assert.doesNotMatch(html, /NaN ± NaN/);
  assert.doesNotMatch(readFileSync(join(out, 'report.md'), 'utf8'), /NaN ± NaN/);
  // one activation figure per VAE, and the thumbnails say which latent they show
  assert.equal((html.match(/<figure class="activation">/g) ?? []).length, 2);
  assert.match(html, /Thumbnails: latent <b>chelsea<\/b> \(the first of 3;/);
  // click-to-enlarge and two-cell comparison, through the page's own links
  assert.match(dom('#zoom=2'), /<dialog id="zoom" open=""><div id="zoom-body"><div class="single"><figure><img [^>]*><figcaption>demo-sdxl-vae@bf16 · chelsea<\/figcaption>/);
  assert.match(dom('#compare=3,6'), /<div class="pair"><figure><img [^>]*><figcaption>demo-sdxl-vae@fp16 · chelsea<\/figcaption><\/figure><figure><img [^>]*><figcaption>demo-fp16-fix@fp16 · chelsea<\/figcaption>/);
});

test('a NaN/Inf cell ends with the next commands for that VAE, and they work: nan-scan names the first overflowing op the reference finds, fix writes an fp16-safe copy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vaecheck-next-'));
  const r = cli(['compare', '--vae', orig, '--vae', fix, '--latents', lat8, '--out', 'report', '--no-progress'], {}, { cwd: dir });
  assert.equal(r.code, 1, r.stderr);
  const next = r.stdout.split('\n').filter((l) => l.startsWith('next for '));
  assert.equal(next.length, 1, `one VAE has a NaN/Inf cell: ${r.stdout}`);
  const m = /^next for orig: find the layer that overflows with (\S+) nan-scan (--vae \S+ --precision fp16); make an fp16-safe copy with \S+ fix (--vae \S+ --out \S+)$/.exec(next[0]);
  assert.ok(m, next[0]);
  const args = (s: string) => s.split(' ');
  const scan = cli(['nan-scan', ...args(m[2]), '--latents', lat8, '--json'], {}, { cwd: dir });
  assert.equal(scan.code, 1, scan.stderr);
  // the first op the float64 reference sees non-finite at fp16
  const z = rawLatents(lat8).ref;
  const w = fx.weights('tiny-fp16-overflow.safetensors');
  const refFirst = referenceDecode(referenceWeightsOf(w), w.config, z, 'fp16').trace.find((t) => t.nan + t.inf > 0)?.name;
  assert.ok(refFirst, 'the reference overflows at fp16');
  assert.equal(JSON.parse(scan.stdout).vaes[0].firstNonFinite, refFirst);
  const fixed = cli(['fix', ...args(m[3])], {}, { cwd: dir });
  assert.equal(fixed.code, 0, fixed.stderr + fixed.stdout);
  const out = join(dir, args(m[3])[3]);
  assert.ok(existsSync(out), `${out} written`);
  // and the copy decodes finite at fp16 (compare's own verdict on it; the fix itself is checked against the reference in fix tests)
  const again = cli(['compare', '--vae', `fixed=${out}`, '--latents', lat8, '--out', 'fixed-report', '--no-progress'], {}, { cwd: dir });
  assert.equal(again.code, 0, again.stdout);
  assert.doesNotMatch(again.stdout, /^next for/m, 'no next steps when nothing fails');
});

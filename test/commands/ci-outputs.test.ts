/**
 * CI outputs of compare, nan-scan and gate alike: the GitHub step summary and ::error annotations
 * under GitHub Actions, JUnit XML with each case's own time, and gate's images of a failed case.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { fixtures } from '../helpers/fixtures.js';
import { readImage } from '../../src/images/sharp-io.js';
import { cli } from './cli.js';

const fx = fixtures();
const SAFE = fx.path('tiny-fp16-safe.safetensors');
const OVERFLOW = fx.path('tiny-fp16-overflow.safetensors');
const LAT = fx.path('latents-8x8.npy');
const LAT2 = fx.path('latents-2x12x20.npy');
const tmp = mkdtempSync(join(tmpdir(), 'vaecheck-ci-'));

/** testcase name -> time, and which failed, from a JUnit document (a narrow reader for what we write). */
function junitCases(xml: string): { name: string; time: number; failed: boolean }[] {
  assert.match(xml, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites /);
  return [...xml.matchAll(/<testcase classname="[^"]*" name="([^"]*)" time="([\d.]+)">([\s\S]*?)<\/testcase>/g)].map((m) => ({ name: m[1], time: Number(m[2]), failed: m[3].includes('<failure ') }));
}

test('compare under GitHub Actions: summary with the matrix, an annotation per failed cell, JUnit with each cell\'s own time', () => {
  const summary = join(tmp, 'compare-summary.md');
  const junit = join(tmp, 'reports', 'compare.xml');
  const r = cli(['compare', '--vae', OVERFLOW, '--vae', SAFE, '--latents', LAT, '--latents', LAT2, '--out', join(tmp, 'cmp'), '--junit', junit], { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary });
  assert.equal(r.code, 1, r.stderr);
  const md = readFileSync(summary, 'utf8');
  assert.match(md, /### vaecheck compare: ⚠️ 1 of 6 cells failed/);
  assert.match(md, /\| tiny-fp16-overflow \| ✅ reference \| ✅ [\d.]+ ± [\d.]+ dB \| ⚠️ NaN\/Inf 100\.00% \|/);
  assert.match(r.stdout, /^::error title=vaecheck compare tiny-fp16-overflow@fp16::/m);
  assert.equal(r.stdout.match(/^::error /gm)?.length, 1);
  const report = JSON.parse(readFileSync(join(tmp, 'cmp', 'report.json'), 'utf8'));
  const cases = junitCases(readFileSync(junit, 'utf8'));
  assert.deepEqual(cases.map((c) => c.name), report.cells.map((c: { vae: string; precision: string }) => `${c.vae}@${c.precision}`));
  for (const c of report.cells) {
    const tc = cases.find((x) => x.name === `${c.vae}@${c.precision}`)!;
    assert.equal(tc.failed, !c.pass);
    assert.ok(Math.abs(tc.time - (c.seconds.graph + c.seconds.decode)) < 0.002, `${tc.name}: ${tc.time} vs its cell's ${c.seconds.graph + c.seconds.decode}`);
  }
  assert.ok(new Set(cases.map((c) => c.time.toFixed(3))).size > 1, 'not one time spread over every case');
});

test('nan-scan under GitHub Actions: summary, an annotation per non-finite part, JUnit per VAE and part', () => {
  const summary = join(tmp, 'scan-summary.md');
  const junit = join(tmp, 'scan.xml');
  const r = cli(['nan-scan', '--vae', OVERFLOW, '--vae', SAFE, '--latents', LAT, '--precision', 'fp16', '--junit', junit, '--json'], { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary });
  assert.equal(r.code, 1, r.stderr);
  JSON.parse(r.stdout); // stdout stays JSON: the annotations went to stderr
  assert.match(r.stderr, /^::error title=vaecheck nan-scan tiny-fp16-overflow · decoder::first non-finite op: decoder\.up_blocks\.2\.resnets\.0\.conv_shortcut/m);
  const md = readFileSync(summary, 'utf8');
  assert.match(md, /\| tiny-fp16-overflow · decoder \| ⚠️ \| decoder\.up_blocks\.2\.resnets\.0\.conv_shortcut \| 100\.00% \|/);
  assert.match(md, /\| tiny-fp16-safe · decoder \| ✅ \| - \| 0\.00% \| x\d+ at /);
  const cases = junitCases(readFileSync(junit, 'utf8'));
  assert.deepEqual(cases.map((c) => [c.name, c.failed]), [['tiny-fp16-overflow · decoder', true], ['tiny-fp16-safe · decoder', false]]);
  for (const c of cases) assert.ok(c.time > 0, `${c.name} has its own time`);
});

test('gate: JUnit cases carry their own times; --out holds the images of each failed case', async () => {
  const base = join(tmp, 'base');
  assert.equal(cli(['baseline', '--vae', SAFE, '--latents', LAT, '--latents', LAT2, '--out', base]).code, 0);
  const out = join(tmp, 'gate-out');
  const r = cli(['gate', '--baseline', base, '--vae', OVERFLOW, '--precision', 'fp16', '--out', out, '--json']);
  assert.equal(r.code, 1, r.stderr);
  const j = JSON.parse(r.stdout);
  const cases = junitCases(readFileSync(join(out, 'junit.xml'), 'utf8'));
  for (const c of j.cases) {
    assert.ok(c.seconds > 0);
    assert.equal(cases.find((x) => x.name === c.name)!.time.toFixed(3), c.seconds.toFixed(3));
    // the failed case's images: baseline and candidate decodes, pixelmatch and heatmap
    for (const rel of [`decoded/${c.name}/baseline.png`, `decoded/${c.name}/candidate.png`, `diff/${c.name}-pixelmatch.png`, `diff/${c.name}-heatmap.png`]) assert.ok(existsSync(join(out, rel)), rel);
    // the heatmap shows NaN in magenta everywhere: the candidate is all NaN
    const hm = await readImage(join(out, `diff/${c.name}-heatmap.png`));
    const [, , h, w] = hm.shape;
    for (const i of [0, Math.floor((h * w) / 2), h * w - 1]) assert.deepEqual([0, 1, 2].map((ch) => Math.round((hm.data[ch * h * w + i] + 1) * 127.5)), [255, 0, 255]);
  }
  // a passing gate writes no images
  const ok = join(tmp, 'gate-ok');
  assert.equal(cli(['gate', '--baseline', base, '--vae', SAFE, '--out', ok]).code, 0);
  assert.ok(!existsSync(join(ok, 'diff')) && !existsSync(join(ok, 'decoded')));
  // rerun into the failed gate's --out with --force: a failing candidate again keeps one set of images;
  // a passing one leaves none of the earlier images (gate.json no longer lists them), other files untouched
  writeFileSync(join(out, 'notes.txt'), 'mine');
  assert.equal(cli(['gate', '--baseline', base, '--vae', OVERFLOW, '--precision', 'fp16', '--out', out, '--force']).code, 1);
  assert.equal(readdirSync(join(out, 'decoded')).length, j.cases.length);
  assert.equal(cli(['gate', '--baseline', base, '--vae', SAFE, '--precision', 'fp16', '--out', out, '--force']).code, 0);
  assert.deepEqual(readdirSync(out).sort(), ['gate.json', 'junit.xml', 'notes.txt']);
});

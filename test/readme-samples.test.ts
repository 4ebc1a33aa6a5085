/**
 * The README's sample outputs are produced by the code: each output block that follows a
 * `<!-- readme-sample: <args>[ ;; <args>…] -->` marker is what `node bin/run.js <args>` prints (the
 * outputs of several commands joined by a blank line), run from a scratch folder that links the
 * repository's fixtures/ and holds fixtures/generated/ (what `npm run fixtures` writes). The block after
 * `<!-- readme-sample-js -->` is a JavaScript example, run there as a module importing the package
 * `vaecheck`; the text block that follows it is what it prints. `UPDATE=1` rewrites the output
 * blocks from real runs; otherwise they are checked.
 *
 * Compared after one normalisation, applied to both sides, for what legitimately differs between
 * runs and CPUs (and nothing else):
 *   - durations (`3.2 s`) and the run's own paths;
 *   - PSNR of 100 dB and more: two fp32 decodes that differ only in float rounding (the demo's
 *     fp16-fix against the original at fp32), whose exact value depends on the CPU's summation order;
 *   - at the first op that overflows fp16, its Inf/NaN counts and largest finite value: values within a
 *     few fp16 steps of 65520 round either way under two correct emulations (see
 *     test/precision-reference.test.ts).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { cliEnv } from './commands/cli.js';
import { writeFixtures } from '../fixtures/generate.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const README = join(ROOT, 'README.md');
const MARKER = /<!-- readme-sample: (.+?) -->\n```text\n([\s\S]*?)```\n/g;
const JS_MARKER = /<!-- readme-sample-js -->\n```js\n([\s\S]*?)```\n\n([^\n]*\n\n)```text\n([\s\S]*?)```\n/g;

export function normalise(text: string): string {
  return text
    .replace(/\b\d+(\.\d+)? s\b/g, '<t> s')
    .replace(/\b1\d\d\.\d\d( ± \d+\.\d\d)? dB/g, '<≥100 dB>')
    .replace(/first non-finite op: (\S+) \(\d+ Inf, \d+ NaN; largest finite \|x\| [\d.e+]+\)/g, 'first non-finite op: $1 (<n> Inf, <n> NaN; largest finite |x| <x>)')
    .replace(/[ \t]+$/gm, '');
}

/** Runs each command of a sample in `cwd`; their outputs joined by a blank line. */
function runSample(spec: string, cwd: string): string {
  return spec
    .split(' ;; ')
    .map((cmd) => {
      const args = cmd.trim().split(/\s+/);
      const r = spawnSync(process.execPath, ['bin/run.js', ...args], { cwd, encoding: 'utf8', env: cliEnv(), timeout: 300_000 });
      assert.ok(r.status === 0 || r.status === 1, `${cmd}: exit ${r.status}\n${r.stderr}`);
      // the repository's own path (where the bundled demo lives) is shown relative to it
      return r.stdout.split(ROOT).join('').replace(/[ \t]+$/gm, '');
    })
    .join('\n');
}

/**
 * A scratch folder laid out like a checkout after `npm run fixtures`, without writing into the
 * repository: bin/ and each entry of fixtures/ linked, fixtures/generated/ written by the generator,
 * and node_modules/vaecheck linking the package itself (for the library example).
 */
function scratchCheckout(): string {
  const cwd = mkdtempSync(join(tmpdir(), 'vaecheck-readme-'));
  symlinkSync(join(ROOT, 'bin'), join(cwd, 'bin'));
  mkdirSync(join(cwd, 'fixtures'));
  for (const entry of readdirSync(join(ROOT, 'fixtures'))) if (entry !== 'generated') symlinkSync(join(ROOT, 'fixtures', entry), join(cwd, 'fixtures', entry));
  writeFixtures(join(cwd, 'fixtures', 'generated'));
  mkdirSync(join(cwd, 'node_modules'));
  symlinkSync(ROOT, join(cwd, 'node_modules', 'vaecheck'));
  return cwd;
}

const STALE = 'is stale: run UPDATE=1 node --import tsx --test test/readme-samples.test.ts';

test('README sample outputs are what the commands print (UPDATE=1 regenerates them)', () => {
  const text = readFileSync(README, 'utf8');
  const samples = [...text.matchAll(MARKER)];
  assert.ok(samples.length >= 4, `README has ${samples.length} readme-sample blocks`);
  const cwd = scratchCheckout();
  let updated = text;
  for (const m of samples) {
    const actual = runSample(m[1], cwd);
    if (process.env.UPDATE) updated = updated.replace(m[0], `<!-- readme-sample: ${m[1]} -->\n\`\`\`text\n${actual}\`\`\`\n`);
    else assert.equal(normalise(m[2]), normalise(actual), `README sample of \`${m[1]}\` ${STALE}`);
  }
  // the library example: the code as written, importing the package by its name
  const scripts = [...updated.matchAll(JS_MARKER)];
  assert.ok(scripts.length >= 1, 'README has a readme-sample-js block');
  for (const [i, m] of scripts.entries()) {
    const file = join(cwd, `example-${i}.mjs`);
    writeFileSync(file, m[1]);
    const r = spawnSync(process.execPath, [file], { cwd, encoding: 'utf8', env: cliEnv(), timeout: 300_000 });
    assert.equal(r.status, 0, `the README's library example failed: ${r.stderr}`);
    if (process.env.UPDATE) updated = updated.replace(m[0], `<!-- readme-sample-js -->\n\`\`\`js\n${m[1]}\`\`\`\n\n${m[2]}\`\`\`text\n${r.stdout}\`\`\`\n`);
    else assert.equal(normalise(m[3]), normalise(r.stdout), `README library example's output ${STALE}`);
  }
  if (process.env.UPDATE && updated !== text) writeFileSync(README, updated);
});

test('the normalisation is narrow: it leaves verdicts, counts and ordinary PSNR alone', () => {
  assert.equal(normalise('✅ 42.87 ± 0.16 dB'), '✅ 42.87 ± 0.16 dB');
  assert.equal(normalise('✅ 122.78 ± 3.94 dB'), '✅ <≥100 dB>');
  assert.equal(normalise('6 cells in 3.2 s (decoding 2.9 s)'), '6 cells in <t> s (decoding <t> s)');
  assert.equal(normalise('first non-finite op: a.b (43 Inf, 0 NaN; largest finite |x| 65504); output 100.00% non-finite (12288 NaN'), 'first non-finite op: a.b (<n> Inf, <n> NaN; largest finite |x| <x>); output 100.00% non-finite (12288 NaN');
  assert.notEqual(normalise('FAILED | x'), normalise('PASSED | x'));
});

/**
 * Progress bars: decided and drawn on stderr only, fitted to the terminal's width, every field filled,
 * erased when done. A real pseudo-terminal comes from util-linux's `script`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { barLine, progressWanted } from '../../commands/_progress.js';
import { CLI_BIN, cliEnv } from './cli.js';
import { fixtures } from '../helpers/fixtures.js';

const SCRIPT = ['/usr/bin/script', '/bin/script'].find(existsSync);
const tmp = mkdtempSync(join(tmpdir(), 'vaecheck-progress-'));
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const BAR_TEXT = /[\u2588\u2591]|\|\s*(decoding|building graph|reading weights)|\{[a-z]+\}/;

/** Runs `shell` under a pseudo-terminal of `cols` columns; returns what the terminal received. */
function inPty(shell: string, cols: number): { code: number; screen: string } {
  const r = spawnSync(SCRIPT!, ['-qfec', `stty cols ${cols} rows 40; ${shell}`, '/dev/null'], { encoding: 'utf8', env: cliEnv(), timeout: 300_000 });
  return { code: r.status ?? -1, screen: r.stdout };
}

test('barLine fits every width from 20 to 200 columns, with long labels, and fills every field', () => {
  for (let width = 20; width <= 200; width += 7) {
    for (const label of ['a', 'demo-sdxl-vae@fp16', 'a-very-long-vae-label-from-some-hub-repo-name@bf16'.repeat(2)]) {
      for (const [value, total] of [[0, 3], [2, 3], [3, 3], [5, 1_000_000]]) {
        const line = barLine(width, value / total, { label, stage: 'decoding' }, value, total);
        assert.ok([...line].length <= width - 1, `${width} columns: ${JSON.stringify(line)} is ${[...line].length} long`);
        assert.doesNotMatch(line, /\{|undefined|NaN/);
      }
    }
  }
  // at 60 columns the whole of a typical line shows: label, bar, stage and counts
  const line = barLine(60, 2 / 3, { label: 'demo-sdxl-vae@fp16', stage: 'decoding' }, 2, 3);
  assert.match(line, /^ demo-sdxl-vae@fp16 \|\u2588+\u2591+\| decoding 2\/3$/);
});

test('bars are wanted only when stderr is a terminal and neither --no-progress nor --quiet is given', () => {
  const tty = { isTTY: true } as NodeJS.WriteStream;
  const file = { isTTY: false } as NodeJS.WriteStream;
  assert.equal(progressWanted({}, tty), true);
  assert.equal(progressWanted({ progress: true }, file), false);
  assert.equal(progressWanted({}, file), false);
  assert.equal(progressWanted({ progress: false }, tty), false);
  assert.equal(progressWanted({ quiet: true }, tty), false);
});

test('stdout a terminal, stderr a file: no bar text in the file, the table on the terminal', (t) => {
  if (!SCRIPT) return t.skip('no util-linux script here');
  const err = join(tmp, 'stderr.txt');
  const r = inPty(`${q(process.execPath)} ${q(CLI_BIN)} compare --demo --out ${q(join(tmp, 'a'))} 2>${q(err)}`, 80);
  assert.equal(r.code, 0, r.screen);
  const stderr = readFileSync(err, 'utf8');
  assert.doesNotMatch(stderr, BAR_TEXT, `bar text in the stderr file: ${JSON.stringify(stderr)}`);
  assert.doesNotMatch(stderr, /\u001b\[/, 'no terminal control sequences in the file');
  assert.match(r.screen, /demo-sdxl-vae {2}/);
  assert.doesNotMatch(r.screen, BAR_TEXT);
});

test('stderr a terminal of 60 columns: bars drawn within 59 columns with every field filled, erased before the table', (t) => {
  if (!SCRIPT) return t.skip('no util-linux script here');
  const r = inPty(`${q(process.execPath)} ${q(CLI_BIN)} compare --demo --out ${q(join(tmp, 'b'))} >${q(join(tmp, 'stdout.txt'))}`, 60);
  assert.equal(r.code, 0, r.screen);
  // what was drawn: split at cursor movements and carriage returns, drop the control sequences
  const segments = r.screen.split(/\r|\n|\u001b\[\d*[GAK]|\u001b\[\d*J/).map((s) => s.replace(/\u001b\[[?0-9;]*[a-zA-Z]/g, ''));
  const bars = segments.filter((s) => /\u2588|\u2591/.test(s));
  assert.ok(bars.length >= 2, `bars were drawn: ${JSON.stringify(r.screen.slice(0, 400))}`);
  for (const b of bars) {
    assert.ok([...b].length <= 59, `${JSON.stringify(b)} is ${[...b].length} columns`);
    assert.match(b, /^ \S.* \|[\u2588\u2591]+\| (reading weights|building graph|decoding|done) \d+\/\d+$/);
  }
  // the last thing written is the erase of the bar area (ESC[0J), after the last bar
  const lastBar = Math.max(r.screen.lastIndexOf('\u2588'), r.screen.lastIndexOf('\u2591'));
  assert.ok(r.screen.lastIndexOf('\u001b[0J') > lastBar, 'the bars are erased when done');
  // --no-progress and --quiet draw nothing
  for (const flag of ['--no-progress', '--quiet']) {
    const n = inPty(`${q(process.execPath)} ${q(CLI_BIN)} compare --demo ${flag} --out ${q(join(tmp, `c${flag}`))} >/dev/null`, 60);
    assert.equal(n.code, 0, n.screen);
    assert.doesNotMatch(n.screen, BAR_TEXT, `${flag}: ${JSON.stringify(n.screen)}`);
  }
});

test('decode and encode draw a bar per latent or image on a terminal stderr, and erase it', (t) => {
  if (!SCRIPT) return t.skip('no util-linux script here');
  const vae = q(fixtures().weights('tiny-diffusers-f32.safetensors').path);
  const runs = [
    { args: `decode --vae ${vae} --random --batch 3 --size 16x16 --out ${q(join(tmp, 'd.png'))}`, stage: 'decoding', total: 4 },
    { args: `encode --vae ${vae} --image fixtures/photos --size 32x32 --out ${q(join(tmp, 'e.npy'))}`, stage: 'encoding', total: 0 },
  ];
  for (const run of runs) {
    const r = inPty(`${q(process.execPath)} ${q(CLI_BIN)} ${run.args} >/dev/null`, 80);
    assert.equal(r.code, 0, r.screen);
    const bars = r.screen.split(/\r|\n|\u001b\[\d*[GAK]|\u001b\[\d*J/).map((s) => s.replace(/\u001b\[[?0-9;]*[a-zA-Z]/g, '')).filter((s) => /\u2588|\u2591/.test(s));
    // redraws are throttled, so a fast run may show only some stages: any of its bars gives the count
    const steps = bars.map((b) => new RegExp(`\\| (?:building the fp32 (?:decoder|encoder)|${run.stage}) (\\d+)/(\\d+)$`).exec(b)).filter((m) => m !== null);
    assert.ok(steps.length >= 1, `${run.stage} bars: ${JSON.stringify(bars)}`);
    // counted per latent or image: the graph is one step, then one per item
    const total = Number(steps[0]![2]);
    assert.ok(total >= 3, `${run.stage}: total ${total}`);
    if (run.total) assert.equal(total, run.total);
    const lastBar = Math.max(r.screen.lastIndexOf('\u2588'), r.screen.lastIndexOf('\u2591'));
    assert.ok(r.screen.lastIndexOf('\u001b[0J') > lastBar, `${run.stage}: the bar is erased when done`);
  }
});

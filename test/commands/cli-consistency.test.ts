/**
 * The CLI behaves the same everywhere: the global flags on every command (--json, --quiet, --threads,
 * --no-progress), help and unknown commands in the one-line error format, --image folders, help texts
 * that state each default once and agree with the README, and no npm warning about the project config.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { fixtures } from '../helpers/fixtures.js';
import { cli } from './cli.js';

const COMMANDS = readdirSync(new URL('../../commands', import.meta.url))
  .filter((f) => f.endsWith('.ts') && !f.startsWith('_') && f !== 'help.ts')
  .map((f) => f.replace(/\.ts$/, ''));
const tmp = mkdtempSync(join(tmpdir(), 'vaecheck-cli-'));
const fx = fixtures();
const VAE = fx.path('tiny-fp16-safe.safetensors');
const LAT = fx.path('latents-8x8.npy');
const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const flat = (s: string) => s.replace(/\s+/g, ' ');

test('every command lists the same global flags in its help: --json, -q/--quiet, --threads, --[no-]progress', () => {
  assert.deepEqual(COMMANDS.sort(), ['baseline', 'compare', 'decode', 'encode', 'fix', 'gate', 'info', 'merge', 'nan-scan']);
  for (const c of COMMANDS) {
    const r = cli([c, '--help']);
    assert.equal(r.code, 0, `${c}: ${r.stderr}`);
    const global = r.stdout.slice(r.stdout.indexOf('GLOBAL FLAGS'));
    assert.ok(r.stdout.includes('GLOBAL FLAGS'), `${c} has a GLOBAL FLAGS section`);
    for (const f of ['--json', '-q, --quiet', '--threads=<value>', '--[no-]progress']) assert.ok(global.includes(f), `${c} --help lacks ${f}`);
  }
});

test('--json prints one JSON document on every command that runs a VAE (and nothing else on stdout)', () => {
  const out = (name: string) => join(tmp, name);
  const runs: [string, string[]][] = [
    ['info', ['info', VAE]],
    ['decode', ['decode', '--vae', VAE, '--latents', LAT, '--out', out('d.npy')]],
    ['encode', ['encode', '--vae', VAE, '--image', 'fixtures/photos/chelsea-64.png', '--out', out('e.npy')]],
    ['nan-scan', ['nan-scan', '--vae', VAE, '--latents', LAT]],
    ['compare', ['compare', '--vae', VAE, '--latents', LAT, '--precision', 'fp32,fp16', '--out', out('cmp')]],
    ['baseline', ['baseline', '--vae', VAE, '--latents', LAT, '--out', out('base')]],
    ['gate', ['gate', '--baseline', out('base'), '--vae', VAE]],
    ['fix', ['fix', '--vae', VAE, '--out', out('fixed.safetensors'), '--size', '8x8', '--count', '1']],
  ];
  for (const [name, args] of runs) {
    const r = cli([...args, '--json']);
    assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    const j = JSON.parse(r.stdout);
    assert.equal(typeof j, 'object', name);
    if (name !== 'info') assert.match(String(j.schema), /^vaecheck\.[a-z-]+\/1$/, `${name} names its schema`);
  }
});

test('--quiet prints only the PASSED/FAILED lines; --threads reaches the runtime and is checked', () => {
  const r = cli(['compare', '--demo', '--quiet', '--out', join(tmp, 'q')]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), [r.stdout.trim().split('\n')[0]]);
  assert.match(r.stdout, /^FAILED \| demo-sdxl-vae@fp16 \| /);
  assert.equal(r.stderr, '');
  const n = cli(['nan-scan', '--vae', VAE, '--latents', LAT, '--quiet', '--threads', '1']);
  assert.equal(n.code, 0, n.stderr);
  assert.match(n.stdout, /^PASSED \| tiny-fp16-safe · decoder \| all finite/);
  assert.equal(n.stdout.trim().split('\n').length, 1, n.stdout);
  const bad = cli(['decode', '--vae', VAE, '--latents', LAT, '--out', join(tmp, 't.npy'), '--threads', '0']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^vaecheck: error: .*--threads/);
  const env = cli(['decode', '--vae', VAE, '--latents', LAT, '--out', join(tmp, 't.npy')], { VAECHECK_THREADS: 'many' });
  assert.equal(env.code, 2, 'a bad VAECHECK_THREADS is refused, not ignored');
  assert.match(env.stderr, /^vaecheck: error: .*VAECHECK_THREADS.*"many"\n$/m);
  assert.equal(env.stderr.match(/^vaecheck: error: /gm)?.length, 1);
});

test('vaecheck help <command> works; an unknown command is a one-line usage error with a suggestion, exit 2', () => {
  const h = cli(['help', 'gate']);
  assert.equal(h.code, 0, h.stderr);
  assert.match(h.stdout, /^USAGE\n {2}\$ vaecheck gate --baseline/m);
  assert.equal(cli(['help']).code, 0);
  const typo = cli(['compar', '--demo']);
  assert.equal(typo.code, 2);
  assert.equal(typo.stderr, 'vaecheck: error: unknown command "compar"; did you mean "compare"?\n');
  assert.equal(typo.stdout, '');
  assert.equal(cli(['nanscan']).stderr, 'vaecheck: error: unknown command "nanscan"; did you mean "nan-scan"?\n');
  const none = cli(['xyzzy']);
  assert.equal(none.code, 2);
  assert.equal(none.stderr, 'vaecheck: error: unknown command "xyzzy"; see vaecheck --help for the commands\n');
  // bare `vaecheck`: every command, the families, and the first command to run
  const bare = cli([]);
  assert.equal(bare.code, 0, bare.stderr);
  assert.match(bare.stdout, /SD 1\.x\/2\.x, SDXL, SD3, FLUX\.1/);
  assert.match(bare.stdout, /New here\? Run: vaecheck compare --demo --out demo/);
  for (const c of ['baseline', 'compare', 'decode', 'encode', 'fix', 'gate', 'help', 'info', 'merge', 'nan-scan']) assert.match(bare.stdout, new RegExp(`^ {2}${c} `, 'm'), c);
  const helpTypo = cli(['help', 'gaet']);
  assert.equal(helpTypo.code, 2);
  assert.equal(helpTypo.stderr, 'vaecheck: error: unknown command "gaet"; did you mean "gate"?\n');
});

test('--image <folder> takes every image in it, sorted by name: the same latents as the files listed', () => {
  const dir = join(tmp, 'photos');
  mkdirSync(dir);
  for (const p of ['coffee-64.png', 'chelsea-64.png']) copyFileSync(join('fixtures/photos', p), join(dir, p));
  writeFileSync(join(dir, 'notes.txt'), 'not an image');
  const a = cli(['encode', '--vae', VAE, '--image', dir, '--out', join(tmp, 'folder.npy')]);
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stdout, /^encoded 2 image\(s\)/);
  const b = cli(['encode', '--vae', VAE, '--image', join(dir, 'chelsea-64.png'), '--image', join(dir, 'coffee-64.png'), '--out', join(tmp, 'files.npy')]);
  assert.equal(b.code, 0, b.stderr);
  assert.deepEqual(readFileSync(join(tmp, 'folder.npy')), readFileSync(join(tmp, 'files.npy')));
  const c = cli(['compare', '--vae', VAE, '--image', dir, '--precision', 'fp32', '--json']);
  assert.equal(c.code, 0, c.stderr);
  assert.deepEqual(JSON.parse(c.stdout).latents.map((l: { id: string }) => l.id), ['chelsea-64', 'coffee-64']);
  const empty = join(tmp, 'empty');
  mkdirSync(empty);
  const e = cli(['encode', '--vae', VAE, '--image', empty, '--out', join(tmp, 'none.npy')]);
  assert.equal(e.code, 3);
  assert.match(e.stderr, /^vaecheck: error: .*empty: is a folder without images \(\.png, /);
});

test('help texts: encode says encode precision, each default once, --seed shows its default, README and help agree on typical PSNR', () => {
  assert.match(flat(cli(['encode', '--help']).stdout), /--precision=<option> \[default: fp32\] encode precision/);
  assert.match(flat(cli(['decode', '--help']).stdout), /--precision=<option> \[default: fp32\] decode precision/);
  const compare = flat(cli(['compare', '--help']).stdout);
  const psnrLine = /--min-psnr=<value> (.*?) --min-ssim/.exec(compare)![1];
  assert.equal(psnrLine.match(/default/g)?.length, 1, psnrLine);
  for (const c of ['compare', 'decode', 'nan-scan', 'baseline', 'fix']) {
    const help = flat(cli([c, '--help']).stdout);
    // the seed flag's text: up to the next flag that takes a value
    const seed = help.slice(help.indexOf('--seed=<value>') + '--seed=<value>'.length).split(/--[a-z-]+=<|--\[no-\]/)[0];
    assert.match(seed, /\[default: 0\]/, `${c} --seed: ${seed}`);
  }
  const typical = /fp16 emulation of the same VAE is typically [^;.)]*/.exec(compare)![0];
  assert.ok(flat(README).includes(typical), `README does not say "${typical}"`);
});

test('a mistyped local path is reported as missing, never looked up on the Hub', () => {
  // an endpoint that cannot answer: any Hub lookup would say so
  const env = { HF_ENDPOINT: 'http://127.0.0.1:9', HF_HUB_CACHE: join(tmp, 'hub') };
  for (const arg of ['fixtures/demo-sdxl-vae', 'fixtures/demo/demo-sdxl-vea', './owner/name', 'models/sdxl/vae']) {
    const r = cli(['info', arg], env);
    assert.equal(r.code, 3, `${arg}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^vaecheck: error: ${arg.replace(/[./]/g, '\\$&')}: no such file or folder`), arg);
    assert.doesNotMatch(r.stderr, /huggingface|reach|network/i, arg);
  }
  const d = cli(['compare', '--vae', 'x=fixtures/demo/demo-sdxl-vea', '--random', '--json'], env);
  assert.equal(d.code, 3);
  assert.match(d.stderr, /fixtures\/demo\/demo-sdxl-vea: no such file or folder/);
});

test('npm reads the project config without warnings (no unknown .npmrc keys)', () => {
  const r = spawnSync('npm', ['pkg', 'get', 'name'], { encoding: 'utf8', cwd: new URL('../..', import.meta.url).pathname });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /Unknown (project|user|env) config/);
});

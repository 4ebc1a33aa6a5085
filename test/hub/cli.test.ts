/**
 * Hub VAEs through the built CLI (bin/run.js on dist/), against the loopback fake Hub: `info` on an
 * hf: spec end to end (download line on a non-terminal stderr, then a cache hit), a bare spec in
 * `decode`, the default pair of `nan-scan` and `compare` when no --vae is given, and the one-line
 * exit-3 errors (401, offline without the default pair).
 *
 * Needs `npm run build` first.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FakeHub, commitOf, sha256 } from './fake-hub.js';
import { type RepoBytes, fakeRepos, repoBytes, testEnv } from './repos.js';
import type { Env } from '../../src/hub/env.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'run.js');

let hub: FakeHub;
let b: RepoBytes;
let work = '';
const cleanups: (() => void)[] = [];

before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'commands', 'info.js')), 'run `npm run build` before this test');
  b = repoBytes();
  hub = await FakeHub.start(fakeRepos(b));
  work = mkdtempSync(join(tmpdir(), 'vaecheck-hub-cli-'));
});
after(async () => {
  await hub.close();
  for (const c of cleanups) c();
  rmSync(work, { recursive: true, force: true });
});

function fresh(extra: Env = {}) {
  const t = testEnv(hub.endpoint, extra);
  cleanups.push(t.cleanup);
  return t;
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI asynchronously (the fake Hub lives in this process and must keep answering). */
function cli(args: string[], env: Env): Promise<Run> {
  const full: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('HF_') && k !== 'DEBUG') full[k] = v;
  for (const [k, v] of Object.entries(env)) if (v !== undefined) full[k] = v;
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [BIN, ...args], { env: full, cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.on('error', rej);
    p.on('close', (status) => {
      clearTimeout(timer);
      res({ status, stdout, stderr });
    });
  });
}

function oneErrorLine(r: Run, code: number, re: RegExp): void {
  assert.equal(r.status, code, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^vaecheck: error: /);
  assert.match(lines[0], re);
}

test('vaecheck info hf:<repo>: downloads into the cache (one line per file on a non-terminal), then a cache hit', async () => {
  const { env, cache } = fresh();
  const r = await cli(['info', 'hf:test/tiny-vae', '--json'], env);
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  const snap = join(cache, 'models--test--tiny-vae', 'snapshots', commitOf('test/tiny-vae'));
  assert.equal(info.source, 'hf:test/tiny-vae');
  assert.equal(info.weightsFile, join(snap, 'diffusion_pytorch_model.safetensors'));
  assert.equal(info.configFile, join(snap, 'config.json'));
  assert.equal(info.sha256, sha256(b.f32));
  assert.equal(info.storageDtype, 'F32');
  assert.match(r.stderr, /^vaecheck: downloading test\/tiny-vae\/config\.json \(\d+\.\d kB\) into the Hugging Face cache$/m);
  assert.match(r.stderr, /^vaecheck: downloading test\/tiny-vae\/diffusion_pytorch_model\.safetensors \(5\.63 MB\) into the Hugging Face cache$/m);

  const n = hub.requests.length;
  const again = await cli(['info', 'hf:test/tiny-vae', '--variant', 'fp16'], { ...env, HF_HUB_OFFLINE: '1', HF_HUB_CACHE: cache });
  // offline with only the full-precision weights cached: the cached weights are used
  assert.equal(again.status, 0, again.stderr);
  assert.equal(again.stderr, '');
  assert.match(again.stdout, /^weights +.*snapshots\/[0-9a-f]{40}\/diffusion_pytorch_model\.safetensors$/m);
  assert.equal(hub.requests.length, n, 'no request');
});

test('a bare owner/name in decode, with --variant fp16', async () => {
  const { env } = fresh();
  const r = await cli(['decode', '--vae', 'test/tiny-vae', '--variant', 'fp16', '--random', '--size', '8x8', '--out', 'bare.npy', '--force'], env);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /with tiny-vae at fp32/);
  assert.match(r.stderr, /downloading test\/tiny-vae\/diffusion_pytorch_model\.fp16\.safetensors/);
  assert.doesNotMatch(r.stderr, /downloading test\/tiny-vae\/diffusion_pytorch_model\.safetensors/);
});

test('401 through the CLI: exit 3, one line that says how to set HF_TOKEN', async () => {
  const { env } = fresh();
  oneErrorLine(await cli(['info', 'hf:test/private'], env), 3, /^vaecheck: error: test\/private: the Hub answered HTTP 401: .*set HF_TOKEN/);
  oneErrorLine(await cli(['info', 'hf:test/nope'], { ...env, HF_TOKEN: 'hf_fake_good_token' }), 3, /test\/nope: no such repo on/);
});

test('nan-scan without --vae scans the default pair from the Hub', async () => {
  const { env } = fresh();
  const r = await cli(['nan-scan', '--size', '8x8', '--json'], env);
  assert.ok(r.status === 0 || r.status === 1, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(j.vaes.map((v: { label: string; source: string }) => [v.label, v.source]), [['sdxl-vae', 'stabilityai/sdxl-vae'], ['sdxl-vae-fp16-fix', 'madebyollin/sdxl-vae-fp16-fix']]);
});

test('compare without --vae: the default pair, then a cache hit with HF_HUB_OFFLINE; offline and absent: one line naming --demo', async () => {
  const { env, cache } = fresh();
  const first = await cli(['compare', '--json', '--random', '--size', '8x8', '--precision', 'fp32,fp16'], env);
  assert.ok(first.status === 0 || first.status === 1, first.stderr);
  const report = JSON.parse(first.stdout);
  assert.deepEqual(report.vaes.map((v: { label: string }) => v.label), ['sdxl-vae', 'sdxl-vae-fp16-fix']);
  const n = hub.requests.length;
  const offline = await cli(['compare', '--json', '--random', '--size', '8x8', '--precision', 'fp32'], { ...env, HF_HUB_OFFLINE: '1', HF_HUB_CACHE: cache });
  assert.ok(offline.status === 0 || offline.status === 1, offline.stderr);
  assert.equal(hub.requests.length, n);

  const empty = fresh({ HF_HUB_OFFLINE: '1' }).env;
  oneErrorLine(
    await cli(['compare', '--json'], empty),
    5,
    /stabilityai\/sdxl-vae, madebyollin\/sdxl-vae-fp16-fix: the default VAEs are not in the Hugging Face cache .*hf download stabilityai\/sdxl-vae .*--demo/,
  );
  oneErrorLine(await cli(['nan-scan'], empty), 5, /the default VAEs are not in the Hugging Face cache .*--demo/);
});

test('nan-scan --demo scans the bundled pair without the Hub', async () => {
  const { env } = fresh({ HF_HUB_OFFLINE: '1' });
  const r = await cli(['nan-scan', '--demo', '--json'], env);
  assert.ok(r.status === 0 || r.status === 1, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).vaes.map((v: { label: string }) => v.label), ['demo-sdxl-vae', 'demo-fp16-fix']);
});

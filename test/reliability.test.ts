/**
 * The safety promises of issue 16, each finding reproduced through the built CLI (run `npm run build`
 * first): no path read from a file leaves its root (ONNX external data, manifest entries, Hugging Face
 * cache symlinks), only regular files are opened (a FIFO never blocks), names from files never become
 * GitHub workflow commands, outputs appear whole or not at all (SIGKILL before and between the renames
 * of baseline --force, compare and fix; a full disk; a failed fix verification; Ctrl-C), user files and
 * inputs are never overwritten, two runs cannot write one output, and bad sizes, keys and thresholds are
 * refused with one line before anything is allocated.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, truncateSync, utimesSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { createHash } from 'node:crypto';
import { fixtures } from './helpers/fixtures.js';
import { CLI_BIN, cli, cliEnv, type CliResult } from './commands/cli.js';
import { SafetensorsFile } from '../src/weights/safetensors.js';
import { encodeSafetensors, type TensorBytes } from '../src/weights/safetensors-writer.js';
import { encodeModel } from '../src/graph/onnx-proto.js';
import { buildDecoderGraph } from '../src/graph/vae-graph.js';
import { loadVae } from '../src/weights/load.js';
import { float32ToBytes } from '../src/dtype.js';

const fx = fixtures();
const SAFE = fx.path('tiny-fp16-safe.safetensors');
const LAT = fx.path('latents-8x8.npy');
const root = mkdtempSync(join(tmpdir(), 'vaecheck-reliability-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string) => {
  const d = join(root, `${n++}-${name}`);
  mkdirSync(d, { recursive: true });
  return d;
};
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const lines = (s: string) => s.split('\n').filter((l) => l.length > 0);
const show = (r: CliResult) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

/** One stderr line `vaecheck: error: …` with this exit code, matching each pattern. */
function assertError(r: CliResult, code: number, ...patterns: RegExp[]): void {
  assert.equal(r.code, code, show(r));
  const err = lines(r.stderr).filter((l) => !l.startsWith('vaecheck: warning'));
  assert.equal(err.length, 1, show(r));
  assert.match(err[0], /^vaecheck: error: /, show(r));
  for (const p of patterns) assert.match(err[0], p, show(r));
}

/** Every entry under `dir` (relative paths), folders included. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      out.push(relative(dir, p));
      if (lstatSync(p).isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}
/** Files under `dir`: relative path -> bytes. */
function snapshot(dir: string): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  for (const rel of tree(dir)) if (statSync(join(dir, rel)).isFile()) m.set(rel, readFileSync(join(dir, rel)));
  return m;
}
/** Names vaecheck gives to temporaries, staging folders, journals and locks. */
const isLeftover = (rel: string) => /(^|\/)\.[^/]*(\.tmp-\d+-|\.vaecheck-(stage|old|lock)|vaecheck-commit-)/.test(rel);

/** A copy of a safetensors fixture with its tensors changed by `edit` (name, shape, bytes). */
function editedWeights(src: string, dst: string, edit: (t: TensorBytes[]) => TensorBytes[]): string {
  const st = SafetensorsFile.open(src);
  const tensors = [...st.entries.values()].sort((a, b) => a.begin - b.begin).map((e) => ({ name: e.name, dtype: e.dtype, shape: [...e.shape], bytes: st.readBytes(e.name) }));
  writeFileSync(dst, encodeSafetensors(edit(tensors), st.metadata));
  return dst;
}

/** Runs the CLI asynchronously; resolves once `ready(dir entries)` holds (or the process ends). */
function startCli(args: string[], env: Record<string, string>, cwd = root) {
  const child = spawn(process.execPath, [CLI_BIN, ...args], { cwd, env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((res) => child.on('exit', (code, signal) => res({ code, signal, at: Date.now() })));
  return {
    child,
    exited,
    output: () => output,
    async until(ready: () => boolean, what: string): Promise<void> {
      const deadline = Date.now() + 120_000;
      while (!ready()) {
        if (child.exitCode !== null) throw new Error(`exited ${child.exitCode} before ${what}: ${output}`);
        if (Date.now() > deadline) throw new Error(`no ${what} after 120 s: ${output}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    kill(sig: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// containment: ONNX external data

function exportDecoder(dir: string, location = 'model.onnx_data'): { model: string; data: Buffer } {
  mkdirSync(dir, { recursive: true });
  const vae = loadVae(SAFE);
  const { model, external } = encodeModel({ ...buildDecoderGraph(vae), traced: [] }, location);
  writeFileSync(join(dir, 'model.onnx'), model);
  return { model: join(dir, 'model.onnx'), data: Buffer.concat(external) };
}

test('ONNX external data whose location leaves the model folder is refused (../, absolute, a symlink out), exit 3, nothing read or written', () => {
  const base = fresh('onnx-escape');
  const outside = join(base, 'outside');
  mkdirSync(outside);
  const { data } = exportDecoder(join(base, 'probe'));
  writeFileSync(join(outside, 'secret.bin'), data); // valid weights: the old code decoded them with exit 0
  for (const [name, location] of [['dotdot', '../../outside/secret.bin'], ['absolute', join(outside, 'secret.bin')]] as const) {
    const { model } = exportDecoder(join(base, name, 'vae_decoder'), location);
    const out = join(base, `${name}.npy`);
    const r = cli(['decode', '--vae', model, '--latents', LAT, '--out', out]);
    assertError(r, 3, /external data of tensor .*(leaves|absolute)/);
    assert.ok(!existsSync(out));
  }
  const { model } = exportDecoder(join(base, 'link', 'vae_decoder'), 'weights.bin');
  symlinkSync(join(outside, 'secret.bin'), join(base, 'link', 'vae_decoder', 'weights.bin'));
  assertError(cli(['decode', '--vae', model, '--latents', LAT, '--out', join(base, 'link.npy')]), 3, /is a link that leaves/);
  // the control: the same data beside the model decodes
  const ok = exportDecoder(join(base, 'ok', 'vae_decoder'), 'model.onnx_data');
  writeFileSync(join(base, 'ok', 'vae_decoder', 'model.onnx_data'), ok.data);
  assert.equal(cli(['decode', '--vae', ok.model, '--latents', LAT, '--out', join(base, 'ok.npy')]).code, 0);
});

test('ONNX external data is read by range, not whole per tensor: a 3 GiB (sparse) data file with the weights at its start decodes as the compact one', () => {
  const base = fresh('onnx-sparse');
  const small = exportDecoder(join(base, 'small'));
  writeFileSync(join(base, 'small', 'model.onnx_data'), small.data);
  const big = exportDecoder(join(base, 'big'));
  writeFileSync(join(base, 'big', 'model.onnx_data'), big.data);
  // past 2 GiB a whole-file read is impossible in node (ERR_FS_FILE_TOO_LARGE); the range reads never notice
  truncateSync(join(base, 'big', 'model.onnx_data'), 3 * 1024 ** 3);
  const a = cli(['decode', '--vae', small.model, '--latents', LAT, '--out', join(base, 'a.npy')]);
  const b = cli(['decode', '--vae', big.model, '--latents', LAT, '--out', join(base, 'b.npy')]);
  assert.equal(a.code, 0, show(a));
  assert.equal(b.code, 0, show(b));
  assert.deepEqual(readFileSync(join(base, 'b.npy')), readFileSync(join(base, 'a.npy')));
});

// ---------------------------------------------------------------------------------------------
// containment: baseline manifests

let baselineDir = '';
function baseline(): string {
  if (!baselineDir) {
    baselineDir = join(fresh('baseline'), 'bl');
    const r = cli(['baseline', '--vae', SAFE, '--latents', LAT, '--out', baselineDir]);
    assert.equal(r.code, 0, show(r));
  }
  return baselineDir;
}
function copyOfBaseline(): string {
  const d = join(fresh('bl-copy'), 'bl');
  cpSync(baseline(), d, { recursive: true });
  return d;
}

test('a manifest file entry that leaves the baseline folder (with the right sha256) is refused by gate, exit 3', () => {
  const dir = copyOfBaseline();
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  const outside = join(dir, '..', 'outside');
  mkdirSync(outside);
  const rel = m.latents[0].file;
  const bytes = readFileSync(join(dir, rel));
  writeFileSync(join(outside, 'secret.npy'), bytes);
  for (const entry of ['../outside/secret.npy', join(outside, 'secret.npy')]) {
    const edited = { ...m, latents: [{ ...m.latents[0], file: entry }], files: { ...m.files, [entry]: sha256(bytes) } };
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(edited));
    assertError(cli(['gate', '--baseline', dir, '--vae', SAFE]), 3, /manifest\.json: file entry: path .* (leaves|is absolute)/);
  }
  // a symlink inside the baseline that points out is refused too
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
  rmSync(join(dir, rel));
  symlinkSync(join(outside, 'secret.npy'), join(dir, rel));
  assertError(cli(['gate', '--baseline', dir, '--vae', SAFE]), 3, /is a link that leaves/);
});

// ---------------------------------------------------------------------------------------------
// containment: the Hugging Face cache

/** A cache holding owner/name at `commit` with config.json and the weights as the given links. */
function hubCache(links: Record<string, string>): { env: Record<string, string>; snap: string } {
  const cache = join(fresh('hf'), 'hub');
  const repo = join(cache, 'models--owner--vae');
  const commit = 'a'.repeat(40);
  const snap = join(repo, 'snapshots', commit);
  mkdirSync(snap, { recursive: true });
  mkdirSync(join(repo, 'blobs'));
  mkdirSync(join(repo, 'refs'));
  writeFileSync(join(repo, 'refs', 'main'), commit);
  for (const [name, target] of Object.entries(links)) symlinkSync(target, join(snap, name));
  return { env: { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1', HF_TOKEN: '' }, snap };
}
/** A blob named by its sha256 inside that cache's repo. */
function blob(snap: string, bytes: Buffer): string {
  const p = join(snap, '..', '..', 'blobs', sha256(bytes));
  writeFileSync(p, bytes);
  return relative(snap, p);
}

test('cache snapshot links that leave the cache are refused, never read or quoted (config.json -> a private file)', () => {
  const outside = join(fresh('private'), 'passwd');
  writeFileSync(outside, 'root:x:0:0:secret-line\n');
  const weights = readFileSync(fx.path('tiny-diffusers-f32.safetensors'));
  const c1 = hubCache({});
  const c = hubCache({ 'config.json': outside, 'diffusion_pytorch_model.safetensors': blob(c1.snap, weights) });
  // the weights blob must be in this cache's own blobs/
  symlinkSync(blob(c.snap, weights), join(c.snap, 'ignored.safetensors'));
  const r = cli(['decode', '--vae', 'owner/vae', '--latents', LAT, '--out', join(root, 'hf-out.npy')], c.env);
  assertError(r, 3, /config\.json: is a link that leaves the Hugging Face cache/);
  assert.doesNotMatch(r.stderr + r.stdout, /root:x|secret-line/);
  // weights linked outside the cache (not to a blob) are refused as well
  const w = hubCache({ 'diffusion_pytorch_model.safetensors': fx.path('tiny-diffusers-f32.safetensors') });
  assertError(cli(['decode', '--vae', 'owner/vae', '--latents', LAT, '--out', join(root, 'hf-out2.npy')], w.env), 3, /leaves the Hugging Face cache/);
  // the control: the same weights as a blob of this cache decode
  const ok = hubCache({});
  symlinkSync(blob(ok.snap, weights), join(ok.snap, 'diffusion_pytorch_model.safetensors'));
  const good = cli(['decode', '--vae', 'owner/vae', '--latents', LAT, '--out', join(root, 'hf-ok.npy')], ok.env);
  assert.equal(good.code, 0, show(good));
});

test('a cache snapshot with symlink loops is walked in bounded time and the VAE beside them still found', () => {
  const weights = readFileSync(fx.path('tiny-diffusers-f32.safetensors'));
  const c = hubCache({});
  symlinkSync(blob(c.snap, weights), join(c.snap, 'diffusion_pytorch_model.safetensors'));
  mkdirSync(join(c.snap, 'deep'));
  symlinkSync('..', join(c.snap, 'deep', 'up')); // a folder loop
  symlinkSync('loop-b', join(c.snap, 'loop-a')); // a link loop
  symlinkSync('loop-a', join(c.snap, 'loop-b'));
  const t0 = Date.now();
  const r = cli(['decode', '--vae', 'owner/vae', '--latents', LAT, '--out', join(root, 'hf-loop.npy')], c.env);
  assert.equal(r.code, 0, show(r));
  assert.ok(Date.now() - t0 < 60_000);
});

// ---------------------------------------------------------------------------------------------
// only regular files: FIFOs, devices, folders

test('a FIFO given as weights, latents, config, manifest or a manifest\'s file is refused at once (exit 3), never waited on', () => {
  const dir = fresh('fifo');
  const fifo = (name: string) => {
    const p = join(dir, name);
    execFileSync('mkfifo', [p]);
    return p;
  };
  const quick = (args: string[], env: Record<string, string> = {}, cwd?: string) => {
    const r = spawnSync(process.execPath, [CLI_BIN, ...args], { encoding: 'utf8', env: cliEnv(env), cwd, timeout: 30_000 });
    assert.notEqual(r.signal, 'SIGTERM', `blocked: ${args.join(' ')}`);
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  assertError(quick(['decode', '--vae', fifo('w.safetensors'), '--latents', LAT, '--out', join(dir, 'a.npy')]), 3, /w\.safetensors: is a FIFO/);
  assertError(quick(['decode', '--vae', SAFE, '--latents', fifo('l.npy'), '--out', join(dir, 'b.npy')]), 3, /l\.npy: is a FIFO/);
  const folder = join(dir, 'folder');
  cpSync(join(fx.dir, 'tiny-folder'), folder, { recursive: true });
  rmSync(join(folder, 'config.json'));
  execFileSync('mkfifo', [join(folder, 'config.json')]);
  assertError(quick(['decode', '--vae', folder, '--latents', LAT, '--out', join(dir, 'c.npy')]), 3, /config\.json: is a FIFO/);
  const bl = copyOfBaseline();
  const m = JSON.parse(readFileSync(join(bl, 'manifest.json'), 'utf8'));
  rmSync(join(bl, m.cases[0].file));
  execFileSync('mkfifo', [join(bl, m.cases[0].file)]);
  assertError(quick(['gate', '--baseline', bl, '--vae', SAFE]), 3, /is a FIFO/);
  rmSync(join(bl, 'manifest.json'));
  execFileSync('mkfifo', [join(bl, 'manifest.json')]);
  assertError(quick(['gate', '--baseline', bl, '--vae', SAFE]), 3, /manifest\.json: is a FIFO/);
  const cwd = fresh('fifo-config');
  execFileSync('mkfifo', [join(cwd, 'vaecheck.config.json')]);
  assertError(quick(['gate', '--baseline', baseline(), '--vae', SAFE], {}, cwd), 3, /vaecheck\.config\.json: is a FIFO/);
  // a shard folder whose result file is a FIFO: vaecheck merge refuses it
  for (const result of ['gate.json', 'nan-scan.json', 'report.json', 'manifest.json']) {
    const shard = join(dir, `shard-${result}`);
    mkdirSync(shard);
    execFileSync('mkfifo', [join(shard, result)]);
    assertError(quick(['merge', shard, '--out', join(dir, `merged-${result}`)]), 3, new RegExp(`${result.replace('.', '\\.')}: is a FIFO`));
  }
});

// ---------------------------------------------------------------------------------------------
// CI logs

test('a latent named with a newline and ::warning never becomes a workflow command (PASSED lines, tables, annotations)', () => {
  const dir = fresh('newline');
  const evil = join(dir, 'cat\n::warning title=pwned::owned\r::add-mask::x ##[set-output name=a]b.npy');
  cpSync(LAT, evil);
  const bl = join(dir, 'bl');
  const b = cli(['baseline', '--vae', SAFE, '--latents', evil, '--out', bl]);
  assert.equal(b.code, 0, show(b));
  const check = (r: CliResult) => {
    for (const stream of [r.stdout, r.stderr]) {
      for (const line of stream.split(/\r\n|\r|\n/)) {
        if (/^::error title=vaecheck (gate|compare|nan-scan) /.test(line)) continue; // vaecheck's own, escaped annotations
        assert.doesNotMatch(line, /^\s*::/, `a workflow command: ${JSON.stringify(line)}`);
        assert.doesNotMatch(line, /##\[/, `a workflow command: ${JSON.stringify(line)}`);
      }
    }
  };
  for (const args of [
    ['gate', '--baseline', bl, '--vae', SAFE],
    ['gate', '--baseline', bl, '--vae', fx.path('tiny-fp16-overflow.safetensors'), '--precision', 'fp16'],
    ['nan-scan', '--vae', fx.path('tiny-fp16-overflow.safetensors'), '--latents', evil],
    ['decode', '--vae', SAFE, '--latents', evil, '--out', join(dir, 'o.npy')],
  ]) {
    const r = cli(args, { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: join(dir, 'summary.md') });
    assert.ok(r.code === 0 || r.code === 1, show(r));
    check(r);
  }
  const g = cli(['gate', '--baseline', bl, '--vae', SAFE]);
  assert.match(g.stdout, /^PASSED \| cat\\n::warning title=pwned::owned\\r::add-mask::x ##%5Bset-output name=a\]b@fp32 \| psnr=inf/m);
  const lab = cli(['compare', '--vae', `x\n::warning::y=${SAFE}`, '--latents', LAT, '--json', '--precision', 'fp32']);
  assert.equal(lab.code, 0, show(lab));
});

// ---------------------------------------------------------------------------------------------
// never overwrite what the run did not write; never write inside the inputs; one writer at a time

test('baseline --out holding the user\'s files (their input latents among them) is refused with and without --force; nothing changes', () => {
  const dir = join(fresh('user-files'), 'work');
  mkdirSync(join(dir, 'latents'), { recursive: true });
  const input = join(dir, 'latents', 'cat.npy');
  cpSync(LAT, input);
  const before = snapshot(dir);
  const a = cli(['baseline', '--vae', SAFE, '--latents', input, '--out', dir]);
  assertError(a, 2, /is not empty|holds an input/);
  const b = cli(['baseline', '--vae', SAFE, '--latents', input, '--out', dir, '--force']);
  assertError(b, 2, /holds an input of this run/);
  writeFileSync(join(dir, 'notes.txt'), 'mine');
  const c = cli(['baseline', '--vae', SAFE, '--latents', LAT, '--out', dir, '--force']);
  assertError(c, 2, /not part of an earlier baseline/);
  rmSync(join(dir, 'notes.txt'));
  assert.deepEqual(snapshot(dir), before);
  // fix never writes over its input
  const copy = join(fresh('fix-in'), 'vae.safetensors');
  cpSync(SAFE, copy);
  assertError(cli(['fix', '--vae', copy, '--out', copy, '--force', '--size', '8x8']), 2, /is an input of this run/);
  assert.deepEqual(readFileSync(copy), readFileSync(SAFE));
});

test('two baseline runs on one new folder: the second is refused while the first holds the lock; a killed run\'s lock is stale and taken over', async () => {
  const parent = fresh('concurrent');
  const out = join(parent, 'bl');
  const first = startCli(['baseline', '--vae', SAFE, '--latents', LAT, '--out', out], { VAECHECK_TEST_PAUSE_BEFORE_COMMIT_MS: '120000' });
  try {
    await first.until(() => readdirSync(parent).some((e) => e.includes('.vaecheck-stage-')), 'staging');
    const second = cli(['baseline', '--vae', SAFE, '--latents', LAT, '--out', out]);
    assertError(second, 2, /being written by another vaecheck run \(pid \d+\)/);
  } finally {
    first.kill();
  }
  await first.exited;
  assert.ok(readdirSync(parent).some(isLeftover), 'the SIGKILLed run left its lock and staging folder');
  const third = cli(['baseline', '--vae', SAFE, '--latents', LAT, '--out', out]);
  assert.equal(third.code, 0, show(third));
  assert.deepEqual(readdirSync(parent), ['bl'], 'stale lock and staging folder removed');
});

// ---------------------------------------------------------------------------------------------
// SIGKILL at any point: the old output whole or the new one whole, and no stray files after the next run

const KILL_POINTS = ['VAECHECK_TEST_PAUSE_BEFORE_COMMIT_MS', 'VAECHECK_TEST_PAUSE_MID_COMMIT_MS'] as const;

/** Runs `args` with the pause at `point`, SIGKILLs it there, returns once it is dead. */
async function killAt(point: (typeof KILL_POINTS)[number], args: string[], parent: string): Promise<void> {
  const run = startCli(args, { [point]: '120000' });
  try {
    // the pause is reached once the staging folder (or, mid-commit, the moved-aside old output) exists
    await run.until(() => readdirSync(parent).some((e) => (point.includes('MID') ? /\.vaecheck-old-|^\.vaecheck-commit-\d+-[a-z0-9]+\.json$/ : /\.vaecheck-stage-|\.tmp-\d+-/).test(e)), point);
  } finally {
    run.kill();
  }
  const end = await run.exited;
  assert.equal(end.signal, 'SIGKILL', `finished before the kill: ${run.output()}`);
}

for (const point of KILL_POINTS) {
  test(`baseline --force SIGKILLed ${point.includes('MID') ? 'between the renames' : 'before the first rename'}: the old baseline still gates (restored by the reader), the next run leaves no stray file`, async () => {
    const dir = copyOfBaseline();
    const parent = join(dir, '..');
    const before = snapshot(dir);
    const cand = editedWeights(SAFE, join(parent, 'cand.safetensors'), (ts) => ts.map((t) => (t.name === 'decoder.conv_out.bias' ? { ...t, bytes: float32ToBytes(new Float32Array(t.shape[0]).fill(0.3), t.dtype) } : t)));
    await killAt(point, ['baseline', '--vae', cand, '--latents', LAT, '--out', dir, '--force'], parent);
    // a reader sees the old baseline whole (a swap cut in half is rolled back first)
    const g = cli(['gate', '--baseline', dir, '--vae', SAFE]);
    assert.equal(g.code, 0, show(g));
    assert.deepEqual(snapshot(dir), before);
    // the next writer finishes cleanly and nothing of the killed run remains
    const again = cli(['baseline', '--vae', cand, '--latents', LAT, '--out', dir, '--force']);
    assert.equal(again.code, 0, show(again));
    assert.deepEqual(readdirSync(parent).sort(), ['bl', 'cand.safetensors']);
    assert.equal(cli(['gate', '--baseline', dir, '--vae', cand]).code, 0);
  });

  test(`compare --force SIGKILLed ${point.includes('MID') ? 'between the renames' : 'before the first rename'}: the old report and images together, never mixed`, async () => {
    const parent = fresh('kill-compare');
    const out = join(parent, 'cmp');
    const args = ['compare', '--vae', SAFE, '--latents', LAT, '--precision', 'fp32,fp16', '--out', out, '--no-progress'];
    assert.equal(cli(args).code, 0);
    const before = snapshot(out);
    await killAt(point, [...args.slice(0, 5), '--precision', 'fp32,bf16', ...args.slice(7), '--force'], parent);
    // the next run (a plain reader would need nothing: the next writer restores and cleans)
    const r = cli([...args, '--force']);
    assert.equal(r.code, 0, show(r));
    assert.deepEqual(readdirSync(parent), ['cmp']);
    const after = snapshot(out);
    assert.deepEqual([...after.keys()], [...before.keys()]);
    assert.deepEqual(after.get('decoded/tiny-fp16-safe_fp32/latents-8x8.png'), before.get('decoded/tiny-fp16-safe_fp32/latents-8x8.png'));
  });

  test(`fix SIGKILLed ${point.includes('MID') ? 'between the renames' : 'before the first rename'}: a folder output is the old one or nothing`, async () => {
    const parent = fresh('kill-fix');
    const out = join(parent, 'fixed');
    const args = ['fix', '--vae', join(fx.dir, 'tiny-folder'), '--out', out, '--size', '8x8', '--count', '1'];
    assert.equal(cli(args).code, 0);
    const before = snapshot(out);
    await killAt(point, [...args, '--force', '--headroom', '8'], parent);
    const r = cli(['nan-scan', '--vae', out, '--random', '--size', '8x8']); // reading does not need the writer
    assert.ok(r.code === 0 || r.code === 1, show(r));
    const again = cli([...args, '--force']);
    assert.equal(again.code, 0, show(again));
    assert.deepEqual(readdirSync(parent), ['fixed']);
    assert.deepEqual(snapshot(out), before, 'the same fix again: byte for byte the first');
  });
}

test('decode of a batch SIGKILLed between its PNG renames: the next run finishes the set from its journal', async () => {
  const dir = fresh('kill-batch');
  await killAt('VAECHECK_TEST_PAUSE_MID_COMMIT_MS', ['decode', '--vae', SAFE, '--latents', fx.path('latents-2x12x20.npy'), '--out', join(dir, 'img.png')], dir);
  assert.ok(readdirSync(dir).some((e) => e.startsWith('.vaecheck-commit-')));
  const r = cli(['decode', '--vae', SAFE, '--latents', LAT, '--out', join(dir, 'other.png')]);
  assert.equal(r.code, 0, show(r));
  assert.deepEqual(readdirSync(dir).sort(), ['img-0.png', 'img-1.png', 'other.png']);
});

// ---------------------------------------------------------------------------------------------
// merge --out: one folder transaction, as baseline and compare write theirs

/** The --out folders of `baseline --shard i/2` for both shards (no CI variables may choose a shard). */
function baselineShards(precision: string): string[] {
  const parent = fresh(`bl-shards-${precision}`);
  return [1, 2].map((i) => {
    const out = join(parent, `s${i}`);
    const r = cli(['baseline', '--vae', SAFE, '--random', '--batch', '3', '--size', '8x8', '--precision', precision, '--shard', `${i}/2`, '--out', out], { CI_NODE_INDEX: '', CI_NODE_TOTAL: '', VAECHECK_SHARD_TOTAL: '' });
    assert.equal(r.code, 0, show(r));
    return out;
  });
}

test('merge --out into a folder holding a foreign file is refused (exit 2), even with --force, and left untouched; an earlier merge is replaced with --force', () => {
  const shards = baselineShards('fp32');
  const out = join(fresh('merge-foreign'), 'merged');
  mkdirSync(out);
  writeFileSync(join(out, 'notes.txt'), 'mine');
  const before = snapshot(out);
  for (const force of [[], ['--force']]) {
    assertError(cli(['merge', ...shards, '--out', out, ...force]), 2, force.length ? /holds notes\.txt, which is not part of an earlier merged baseline output/ : /is not empty \(it holds notes\.txt\); pass --force/);
    assert.deepEqual(snapshot(out), before);
    assert.deepEqual(readdirSync(join(out, '..')), ['merged'], 'no staging folder or lock left');
  }
  // the user's file beside an earlier merged baseline: still refused with --force
  rmSync(out, { recursive: true });
  assert.equal(cli(['merge', ...shards, '--out', out]).code, 0);
  writeFileSync(join(out, 'latents', 'mine.npy'), 'mine');
  const merged = snapshot(out);
  assertError(cli(['merge', ...shards, '--out', out, '--force']), 2, /holds latents\/mine\.npy, which is not part of an earlier merged baseline output/);
  assert.deepEqual(snapshot(out), merged);
  rmSync(join(out, 'latents', 'mine.npy'));
  const again = cli(['merge', ...shards, '--out', out, '--force']);
  assert.equal(again.code, 0, show(again));
  assert.equal(cli(['gate', '--baseline', out, '--vae', SAFE]).code, 0);
  // gate shards: --junit inside --out is part of the folder (replaced by the next --force), --junit outside stays a file
  const gates = [1, 2].map((i) => {
    const g = join(fresh('gate-shard'), 'g');
    const r = cli(['gate', '--baseline', out, '--vae', SAFE, '--shard', `${i}/2`, '--out', g], { CI_NODE_INDEX: '', CI_NODE_TOTAL: '', VAECHECK_SHARD_TOTAL: '' });
    assert.equal(r.code, 0, show(r));
    return g;
  });
  const gm = join(fresh('gate-merged'), 'gm');
  const outside = join(fresh('reports'), 'vaecheck.xml');
  for (const force of [[], ['--force']]) {
    const r = cli(['merge', ...gates, '--out', gm, '--junit', join(gm, 'reports', 'j.xml'), ...force]);
    assert.equal(r.code, 0, show(r));
  }
  assert.deepEqual(tree(gm), ['gate.json', 'junit.xml', 'reports', 'reports/j.xml']);
  assert.equal(readFileSync(join(gm, 'reports', 'j.xml'), 'utf8'), readFileSync(join(gm, 'junit.xml'), 'utf8'));
  // gate.json does not record where --junit went: without the same --junit that file is someone else's
  const withJunit = snapshot(gm);
  assertError(cli(['merge', ...gates, '--out', gm, '--force']), 2, /holds reports\/j\.xml, which is not part of an earlier merged gate output/);
  assert.deepEqual(snapshot(gm), withJunit);
  const gm2 = join(fresh('gate-merged'), 'gm');
  const r = cli(['merge', ...gates, '--out', gm2, '--junit', outside]);
  assert.equal(r.code, 0, show(r));
  assert.deepEqual(tree(gm2), ['gate.json', 'junit.xml']);
  assert.equal(readFileSync(outside, 'utf8'), readFileSync(join(gm2, 'junit.xml'), 'utf8'));
  const gm3 = join(fresh('gate-merged'), 'gm');
  assertError(cli(['merge', ...gates, '--out', gm3, '--junit', outside]), 2, /vaecheck\.xml already exists; pass --force/);
  assert.ok(!existsSync(gm3), 'a refused --junit writes no --out either');
  assert.equal(cli(['merge', ...gates, '--out', gm2, '--junit', outside, '--force']).code, 0);
});

for (const point of KILL_POINTS) {
  test(`merge --force of baseline shards SIGKILLed ${point.includes('MID') ? 'between the renames' : 'before the first rename'}: the old merged baseline whole (restored by the reader), then the new one whole`, async () => {
    const oldShards = baselineShards('fp32');
    const newShards = baselineShards('fp32,fp16');
    const parent = fresh('kill-merge');
    const out = join(parent, 'merged');
    assert.equal(cli(['merge', ...oldShards, '--out', out]).code, 0);
    const before = snapshot(out);
    await killAt(point, ['merge', ...newShards, '--out', out, '--force'], parent);
    // a reader sees the old merged baseline whole: a swap cut in half is rolled back first
    const g = cli(['gate', '--baseline', out, '--vae', SAFE, '--precision', 'fp32']);
    assert.equal(g.code, 0, show(g));
    assert.deepEqual(snapshot(out), before);
    // the next writer publishes the new one whole, and nothing of the killed run remains
    const again = cli(['merge', ...newShards, '--out', out, '--force']);
    assert.equal(again.code, 0, show(again));
    assert.deepEqual(readdirSync(parent), ['merged']);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    assert.deepEqual(manifest.precisions, ['fp32', 'fp16']);
    assert.deepEqual([...snapshot(out).keys()].sort(), ['manifest.json', ...Object.keys(manifest.files)].sort());
    const gate = cli(['gate', '--baseline', out, '--vae', SAFE, '--precision', 'fp16']);
    assert.equal(gate.code, 0, show(gate));
  });
}

// ---------------------------------------------------------------------------------------------
// fix publishes only what verified; Ctrl-C leaves nothing

test('fix --headroom 1e30 damages the fp32 output: exit 1, nothing written', () => {
  const parent = fresh('fix-damage');
  const out = join(parent, 'x.safetensors');
  const r = cli(['fix', '--vae', fx.path('tiny-fp16-overflow.safetensors'), '--out', out, '--headroom', '1e30', '--size', '8x8']);
  assert.equal(r.code, 1, show(r));
  assert.match(r.stdout, /FAILED \| vaecheck fix \| the fixed VAE changes the fp32 output beyond 1e-5: nothing written/);
  assert.deepEqual(readdirSync(parent), []);
});

test('Ctrl-C (SIGINT) or SIGTERM while onnxruntime works ends the run within a second and leaves nothing at all: no lock, no staging, no temporary model', async () => {
  // the runs' own temp directory, to see the session folders (the model and weights onnxruntime reads)
  const tmp = mkdtempSync(join(tmpdir(), 'vaecheck-signal-tmp-'));
  const cases: { sig: NodeJS.Signals; code: number; args: (parent: string) => string[] }[] = [
    { sig: 'SIGINT', code: 130, args: (parent) => ['fix', '--vae', join(fx.dir, 'tiny-folder'), '--out', join(parent, 'fixed'), '--size', '64x64', '--count', '6'] },
    { sig: 'SIGTERM', code: 143, args: (parent) => ['decode', '--vae', SAFE, '--random', '--size', '160x160', '--out', join(parent, 'big.png')] },
    { sig: 'SIGINT', code: 130, args: (parent) => ['compare', '--vae', `a=${SAFE}`, '--random', '--size', '96x96', '--out', join(parent, 'cmp')] },
  ];
  for (const c of cases) {
    const parent = fresh(`signal-${c.args('x')[0]}`);
    const run = startCli(c.args(parent), { TMPDIR: tmp });
    // the lock shows the run has started its work; then let it get into onnxruntime's runs
    await run.until(() => readdirSync(parent).some((e) => e.includes('.vaecheck-lock')), 'the lock');
    await new Promise((r) => setTimeout(r, 400));
    const sent = Date.now();
    run.kill(c.sig);
    const end = await run.exited;
    const what = `${c.args('x')[0]} ${c.sig}`;
    assert.ok(end.code === c.code || end.signal === c.sig, `${what}: ${end.code} ${end.signal}: ${run.output()}`);
    assert.ok(end.at - sent < 1000, `${what}: ended ${end.at - sent} ms after the signal`);
    assert.deepEqual(readdirSync(parent), [], `${what}: nothing left beside the output`);
    assert.deepEqual(readdirSync(tmp).filter((e) => e.startsWith('vaecheck-')), [], `${what}: no temporary model left`);
  }
  const next = cli(['decode', '--vae', SAFE, '--latents', LAT, '--out', join(tmp, 'x.npy')]);
  assert.equal(next.code, 0, show(next));
});

// ---------------------------------------------------------------------------------------------
// full disk

test('a full disk (ENOSPC injected) leaves nothing: no partial files, no empty folders', () => {
  const parent = fresh('enospc');
  const cases = [
    ['baseline', '--vae', SAFE, '--latents', LAT, '--out', join(parent, 'new', 'deep', 'bl')],
    ['compare', '--vae', SAFE, '--latents', LAT, '--precision', 'fp32', '--out', join(parent, 'new', 'cmp')],
    ['fix', '--vae', join(fx.dir, 'tiny-folder'), '--out', join(parent, 'new', 'fixed'), '--size', '8x8', '--count', '1'],
    ['gate', '--baseline', baseline(), '--vae', SAFE, '--junit', join(parent, 'new', 'reports', 'g.xml')],
    ['decode', '--vae', SAFE, '--latents', fx.path('latents-2x12x20.npy'), '--out', join(parent, 'img.png')],
  ];
  for (const args of cases) {
    const r = cli(args, { VAECHECK_TEST_ENOSPC_AFTER_BYTES: '200' });
    assertError(r, 3, /no space left on the device \(ENOSPC\); nothing was written/);
    assert.deepEqual(readdirSync(parent), [], args[0]);
  }
});

test('a full disk for real (a 1 MiB tmpfs, where mounting is allowed): nothing left but what was there', (t) => {
  const mnt = fresh('tmpfs');
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
  if (m.status !== 0) return t.skip('cannot mount a tmpfs here (not root): the injected ENOSPC test covers it');
  try {
    writeFileSync(join(mnt, 'filler'), Buffer.alloc(1024 * 1024 - 40 * 1024)); // ~40 KiB left
    const r = cli(['baseline', '--vae', SAFE, '--latents', fx.path('latents-2x12x20.npy'), '--out', join(mnt, 'a', 'bl')]);
    assertError(r, 3, /no space left on the device/);
    assert.deepEqual(readdirSync(mnt), ['filler']);
  } finally {
    spawnSync('umount', [mnt]);
  }
});

test('gate --junit at a character device is refused even with --force; the device stays', (t) => {
  const dir = fresh('chardev');
  const dev = join(dir, 'null');
  if (spawnSync('mknod', [dev, 'c', '1', '3']).status !== 0) return t.skip('mknod not permitted here');
  const r = cli(['gate', '--baseline', baseline(), '--vae', SAFE, '--junit', dev, '--force']);
  assertError(r, 3, /is a character device/);
  assert.ok(statSync(dev).isCharacterDevice());
  assert.deepEqual(readdirSync(dir), ['null']);
});

// ---------------------------------------------------------------------------------------------
// limits and exit codes

test('a key with resnet index 1000000 fails fast with exit 3 naming the key (was 37 s and an internal error)', () => {
  const f = editedWeights(SAFE, join(fresh('index'), 'w.safetensors'), (ts) => ts.map((t) => (t.name === 'decoder.up_blocks.0.resnets.1.conv1.bias' ? { ...t, name: 'decoder.up_blocks.0.resnets.1000000.conv1.bias' } : t)));
  const t0 = Date.now();
  const r = cli(['decode', '--vae', f, '--latents', LAT, '--out', join(root, 'idx.npy')]);
  assertError(r, 3, /resnets\.1000000\.conv1\.bias.* has index 1000000/);
  assert.ok(Date.now() - t0 < 15_000);
});

test('--size 100000x100000 is a usage error; a zero-width VAE, an encoder-only VAE and NaN weights are bad input with a clear line', () => {
  assertError(cli(['decode', '--vae', SAFE, '--random', '--size', '100000x100000', '--out', join(root, 's.npy')]), 2, /--size 100000x100000 is too large/);
  assertError(cli(['decode', '--vae', SAFE, '--random', '--size', '4096x4096', '--batch', '100', '--out', join(root, 's.npy')]), 2, /too large/);
  const dir = fresh('limits');
  // every width 0: shapes consistent with each other, so only the zero check stands between them and onnxruntime
  const zero = editedWeights(SAFE, join(dir, 'zero.safetensors'), (ts) => ts.map((t) => {
    const shape = t.shape.map((d, i) => (t.name.includes('conv_in.weight') && t.name.startsWith('decoder') && i === 1) || (t.name.endsWith('conv_out.weight') && i === 0 && t.name.startsWith('decoder')) ? d : t.shape.length > 0 && !/post_quant|quant_conv|encoder\.conv_in|encoder\.conv_out/.test(t.name) ? 0 : d);
    return { ...t, shape, bytes: new Uint8Array(shape.reduce((a, d) => a * d, 4)) };
  }));
  assertError(cli(['decode', '--vae', zero, '--latents', LAT, '--out', join(dir, 'z.npy')]), 3, /has shape \[.*0.*\]: a VAE layer needs every dimension to be at least 1/);
  const enc = editedWeights(SAFE, join(dir, 'encoder-only.safetensors'), (ts) => ts.filter((t) => t.name.startsWith('encoder.') || t.name.startsWith('quant_conv')));
  for (const args of [
    ['decode', '--vae', enc, '--latents', LAT, '--out', join(dir, 'e.npy')],
    ['nan-scan', '--vae', enc, '--latents', LAT],
    ['baseline', '--vae', enc, '--latents', LAT, '--out', join(dir, 'ebl')],
    ['fix', '--vae', enc, '--out', join(dir, 'efix.safetensors'), '--size', '8x8'],
  ]) assertError(cli(args), 3, /encoder-only\.safetensors: has no decoder weights \(an encoder-only VAE\)/);
  assert.deepEqual(readdirSync(dir).sort(), ['encoder-only.safetensors', 'zero.safetensors']);
  const nan = editedWeights(SAFE, join(dir, 'nan.safetensors'), (ts) => ts.map((t) => (t.name === 'decoder.conv_in.bias' ? { ...t, bytes: float32ToBytes(new Float32Array(t.shape[0]).fill(NaN), t.dtype) } : t)));
  const s = cli(['nan-scan', '--vae', nan, '--latents', LAT]);
  assert.equal(s.code, 1, show(s));
  assert.match(s.stdout, /note: the weights themselves contain NaN\/Inf: "decoder\.conv_in\.bias" \(\d+ NaN, 0 Inf\); this is not an overflow/);
  assert.doesNotMatch(s.stdout, /decode this VAE in/);
  const g = cli(['gate', '--baseline', baseline(), '--vae', nan]);
  assert.equal(g.code, 1, show(g));
  assert.match(g.stdout, /note: the candidate's weights themselves contain NaN\/Inf: "decoder\.conv_in\.bias"/);
  assertError(cli(['fix', '--vae', nan, '--out', join(dir, 'nanfix.safetensors'), '--size', '8x8']), 3, /weights themselves contain NaN\/Inf/);
});

test('gate: negative or out-of-range thresholds are refused (flags exit 2, config exit 3); a candidate with other weights is named', () => {
  for (const [flag, value] of [['--max-nan', '-5'], ['--max-nan', '150%'], ['--max-mismatch', '-1'], ['--min-ssim', '2']]) {
    assertError(cli(['gate', '--baseline', baseline(), '--vae', SAFE, flag, value]), 2, new RegExp(`${flag} must be`));
  }
  const cwd = fresh('cfg');
  writeFileSync(join(cwd, 'vaecheck.config.json'), JSON.stringify({ gate: { maxNan: -1 } }));
  assertError(cli(['gate', '--baseline', baseline(), '--vae', SAFE], {}, { cwd }), 3, /maxNan must be a fraction/);
  const same = cli(['gate', '--baseline', baseline(), '--vae', SAFE]);
  assert.equal(same.stderr, '');
  const other = cli(['gate', '--baseline', baseline(), '--vae', fx.path('tiny-fp16-overflow.safetensors')]);
  assert.match(other.stderr, /^vaecheck: note: the candidate's weights \(sha256 [0-9a-f]{12}…\) differ from the baseline's VAE \(sha256 [0-9a-f]{12}…\)$/m);
  const j = JSON.parse(cli(['gate', '--baseline', baseline(), '--vae', SAFE, '--json']).stdout);
  assert.equal(j.weights.same, true);
});

test('a manifest that cannot be read for permissions is reported as such, not as invalid JSON', (t) => {
  const dir = copyOfBaseline();
  chmodSync(join(dir, 'manifest.json'), 0o000);
  const asNobody = process.getuid?.() === 0;
  if (asNobody) {
    // root reads anything: run the CLI as nobody over world-readable copies
    for (let d = dir; d !== '/'; d = join(d, '..')) if (d.startsWith(root) || d === root) chmodSync(d, 0o755);
    chmodSync(join(root, '..'), statSync(join(root, '..')).mode | 0o005);
  }
  const r = spawnSync(process.execPath, [CLI_BIN, 'gate', '--baseline', dir, '--vae', SAFE], { encoding: 'utf8', env: cliEnv(), cwd: '/', ...(asNobody ? { uid: 65534, gid: 65534 } : {}) });
  if (asNobody && /EACCES|permission denied/i.test(r.stderr) && !/manifest\.json/.test(r.stderr)) return t.skip('nobody cannot run node from this checkout');
  // (node's own warnings about nobody's home folder aside)
  const stderr = lines(r.stderr).filter((l) => l.startsWith('vaecheck:')).join('\n');
  assertError({ code: r.status ?? -1, stdout: r.stdout, stderr }, 3, /manifest\.json: permission denied/);
  assert.doesNotMatch(r.stderr, /JSON/);
});

// ---------------------------------------------------------------------------------------------
// leftovers of killed runs

test('leftovers of killed runs are removed by the next run: session temp folders (by dead pid, old-style by age), temporaries beside outputs', () => {
  const tmp = fresh('tmpdir');
  const deadPid = findDeadPid();
  const ours = join(tmp, `vaecheck-session-${deadPid}-abcdef`);
  const legacy = join(tmp, 'vaecheck-Ab12Cd');
  const recentLegacy = join(tmp, 'vaecheck-Zz99Yy');
  const someoneElse = join(tmp, 'vaecheck-fixtures-123');
  for (const d of [ours, legacy, recentLegacy, someoneElse]) {
    mkdirSync(d);
    writeFileSync(join(d, 'model.onnx'), 'x');
  }
  const old = new Date(Date.now() - 2 * 3600 * 1000);
  utimesSync(legacy, old, old);
  const outDir = fresh('stale-temps');
  writeFileSync(join(outDir, `.out.npy.tmp-${deadPid}-k3j2h1`), 'partial');
  writeFileSync(join(outDir, `.other.png.tmp-${process.pid}-k3j2h1`), 'a live process\'s');
  const r = cli(['decode', '--vae', SAFE, '--latents', LAT, '--out', join(outDir, 'out.npy')], { TMPDIR: tmp });
  assert.equal(r.code, 0, show(r));
  assert.deepEqual(readdirSync(tmp).filter((e) => e.startsWith('vaecheck-')).sort(), [basename(recentLegacy), basename(someoneElse)].sort());
  assert.deepEqual(readdirSync(outDir).sort(), [`.other.png.tmp-${process.pid}-k3j2h1`, 'out.npy']);
});

function findDeadPid(): number {
  for (let pid = 4_000_000; pid > 1000; pid -= 7919) {
    try {
      process.kill(pid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') return pid;
    }
  }
  throw new Error('no free pid found');
}

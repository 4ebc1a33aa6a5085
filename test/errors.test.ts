/**
 * Errors: the library's messages speak its own terms (option names, never CLI flags), each command
 * shows the same error with its flags, and the causes have their own exit codes (README table).
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { EXIT, HubError, UnavailableError, UsageError, VaecheckError, option, renderOptions } from '../src/errors.js';
import { resolveLatents } from '../src/decode.js';
import { runCompare } from '../src/compare/run-compare.js';
import { deviceAvailable } from '../src/runtime/session.js';
import { VaeRunner } from '../src/vae-runner.js';
import { loadVae } from '../src/weights/load.js';
import { cli } from './commands/cli.js';
import { fixtures } from './helpers/fixtures.js';

const fx = fixtures();

/** Catches the error a call throws (sync or async). */
async function caught(f: () => unknown): Promise<VaecheckError> {
  try {
    await f();
  } catch (e) {
    assert.ok(e instanceof VaecheckError, `a VaecheckError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected an error');
}

test('exit codes: one per cause', () => {
  assert.deepEqual(EXIT, { ok: 0, checkFailed: 1, usage: 2, badInput: 3, internal: 4, hub: 5, unavailable: 6 });
  assert.equal(new HubError('a/b', 'x').exitCode, 5);
  assert.equal(new UnavailableError('x').exitCode, 6);
  assert.equal(new UsageError('x').exitCode, 2);
});

test('option(): plain names in the library message, flags where a command renders it', () => {
  const e = new UsageError(`give ${option('file', '<file>')} or ${option('random')}`);
  assert.equal(e.message, 'give file <file> or random');
  assert.equal(renderOptions(e.template, (n, v) => `--${n.toUpperCase()}${v ? ` ${v}` : ''}`), 'give --FILE <file> or --RANDOM');
});

test('library errors name no CLI flag; the command adds them', async () => {
  const vae = loadVae(fx.path('tiny-fp16-safe.safetensors'));
  const noLatents = await caught(() => resolveLatents(vae, {}));
  assert.doesNotMatch(noLatents.message, /--/);
  assert.match(noLatents.message, /^no latents: give file <file> or random/);
  const both = await caught(() => resolveLatents(vae, { file: 'x.npy', random: { seed: 0, batch: 1, height: 8, width: 8 } }));
  assert.doesNotMatch(both.message, /--/);
  const noVaes = await caught(() => runCompare({ vaes: [], precisions: ['fp32'], input: { kind: 'latents', sources: [] }, minPsnr: 25, minSsim: 0 }));
  assert.doesNotMatch(noVaes.message, /--/);
  const badRef = await caught(() =>
    runCompare({ vaes: [{ label: 'a', path: fx.path('tiny-fp16-safe.safetensors') }], precisions: ['fp32'], input: { kind: 'latents', sources: [] }, reference: { label: 'b', precision: 'fp32' }, minPsnr: 25, minSsim: 0 }),
  );
  assert.match(badRef.message, /^reference b@fp32: no VAE labelled "b"/);
  if (!deviceAvailable('cuda')) {
    const dev = await caught(() => VaeRunner.create(vae, 'decoder', { device: 'cuda' }));
    assert.ok(dev instanceof UnavailableError);
    assert.match(dev.message, /^device cuda: onnxruntime-node has no CUDA execution provider .* use device cpu/);
  }
  // the same errors through the CLI, with flags
  const r = cli(['decode', '--vae', fx.path('tiny-fp16-safe.safetensors'), '--out', '/tmp/never-written-by-vaecheck.png']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^vaecheck: error: no latents: give --latents <file> or --random \(with --seed and --size\)$/m);
  const c = cli(['compare', '--vae', `a=${fx.path('tiny-fp16-safe.safetensors')}`, '--reference', 'b@fp32', '--random', '--size', '8x8', '--json']);
  assert.equal(c.code, 2);
  assert.match(c.stderr, /^vaecheck: error: --reference b@fp32: no VAE labelled "b"/);
});

test('library code holds no CLI flag in its messages', async () => {
  const { readdirSync, readFileSync, statSync } = await import('node:fs');
  const { join } = await import('node:path');
  const src = new URL('../src/', import.meta.url).pathname;
  const walk = (d: string): string[] => readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : n.endsWith('.ts') ? [join(d, n)] : []));
  const offenders: string[] = [];
  for (const f of walk(src)) {
    const text = readFileSync(f, 'utf8');
    // every error constructed, its arguments up to the closing `);` (messages may span lines)
    for (const m of text.matchAll(/new \w*Error\(([\s\S]*?)\);/g)) {
      const args = m[1].replace(/vaecheck [a-z-]+ [^`'"]*|hf download [^`'"]*|node --import \S+/g, '');
      if (/[`'"(\s]--[a-z]/.test(args)) offenders.push(`${f.slice(src.length)}:${text.slice(0, m.index).split('\n').length}`);
    }
  }
  assert.deepEqual(offenders, []);
});

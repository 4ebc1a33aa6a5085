/**
 * Seeded fuzzing of the two other untrusted formats vaecheck reads (as test/fuzz.test.ts does for
 * safetensors and .npy): baseline manifests (readBaseline) and ONNX models with external data
 * (loadOnnxVae). Each mutated input must load or throw a BadInputError in one bounded line, quickly,
 * and never read outside its folder: a valid-looking file planted next to the folder (with its true
 * sha256) must never be what a load returns.
 *
 * Reproduce a failure: the assertion prints the case seed; run with FUZZ_SEED=<seed> FUZZ_CASES=1.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { BadInputError } from '../src/errors.js';
import { makeBaseline, readBaseline } from '../src/gate/baseline.js';
import { encodeModel } from '../src/graph/onnx-proto.js';
import { buildDecoderGraph } from '../src/graph/vae-graph.js';
import { loadOnnxVae } from '../src/onnx/import.js';
import { mulberry32 } from '../src/tensors/random.js';
import { loadVae } from '../src/weights/load.js';
import { encodeNpy } from '../src/tensors/npy.js';
import { fixtures } from './helpers/fixtures.js';

const BASE_SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 0x16_5afe;
const CASES = process.env.FUZZ_CASES ? Number(process.env.FUZZ_CASES) : 400;
const MAX_CASE_MS = 2000;
const MAX_MESSAGE = 400;

const fx = fixtures();
const root = mkdtempSync(join(tmpdir(), 'vaecheck-fuzz2-'));
after(() => rmSync(root, { recursive: true, force: true }));
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Paths an attacker would try, and junk. */
const HOSTILE = ['../outside/secret.npy', '../../outside/secret.npy', '/etc/passwd', 'latents/../../outside/secret.npy', '', '.', '..', 'latents', 'a\u0000b', '\\..\\outside\\secret.npy', 'C:\\Windows\\win.ini', 'x'.repeat(5000), 'latents/link.npy', 'decoded/fifo.npy'];

function rng(seed: number) {
  const next = mulberry32(seed);
  const int = (n: number) => Math.floor(next() * n);
  return { int, pick: <T>(xs: readonly T[]): T => xs[int(xs.length)], chance: (p: number) => next() < p };
}

/** One case: returns normally or throws a BadInputError in one short line, in bounded time. */
function expectClean(seed: number, what: string, run: () => unknown): unknown {
  const t0 = performance.now();
  let result: unknown;
  try {
    result = run();
  } catch (e) {
    assert.ok(e instanceof BadInputError, `seed ${seed} (${what}): ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    assert.ok(e.message.length <= MAX_MESSAGE, `seed ${seed} (${what}): message of ${e.message.length} chars`);
    assert.ok(!/[\r\n]/.test(e.message), `seed ${seed} (${what}): multi-line message`);
  }
  const ms = performance.now() - t0;
  assert.ok(ms < MAX_CASE_MS, `seed ${seed} (${what}): ${ms.toFixed(0)} ms`);
  return result;
}

test('fuzz: mutated baseline manifests load or fail with one line; none reads outside the baseline folder', async () => {
  const vae = loadVae(fx.path('tiny-fp16-safe.safetensors'));
  const { files, manifest } = await makeBaseline(vae, [{ file: fx.path('latents-8x8.npy') }], ['fp32'], 'fuzz');
  const good = join(root, 'good');
  for (const [rel, bytes] of files) {
    mkdirSync(join(good, rel, '..'), { recursive: true });
    writeFileSync(join(good, rel), bytes);
  }
  // the secret: a well-formed latent file outside the folder that must never be returned
  const secret = encodeNpy([1, 4, 8, 8], new Float32Array(256).fill(123.5));
  mkdirSync(join(root, 'outside'), { recursive: true });
  writeFileSync(join(root, 'outside', 'secret.npy'), secret);
  for (let i = 0; i < CASES; i++) {
    const seed = BASE_SEED + i;
    const r = rng(seed);
    const dir = join(root, `m${i % 4}`, 'bl');
    rmSync(join(root, `m${i % 4}`), { recursive: true, force: true });
    cpSync(good, dir, { recursive: true });
    const m = JSON.parse(JSON.stringify(manifest));
    const steps = 1 + r.int(3);
    for (let s = 0; s < steps; s++) {
      const k = r.int(8);
      // a mutation that no longer applies (its field was replaced by an earlier one) is skipped
      if (!Array.isArray(m.latents) || !m.latents[0] || !Array.isArray(m.cases) || !m.cases[0] || !m.files || typeof m.files !== 'object') break;
      if (k === 0) {
        const entry = r.pick(HOSTILE);
        m.latents[0].file = entry;
        m.files[entry] = sha256(secret);
      } else if (k === 1) {
        const entry = r.pick(HOSTILE);
        m.cases[0].file = entry;
        m.files[entry] = r.chance(0.5) ? sha256(secret) : r.pick(['', 'zz', 42, null]);
      } else if (k === 2) m.cases[0].shape = r.pick([[1, 3, 64, 64], [1e12, 3, 64, 64], [-1], 'x', [1, 3, 1e9, 1e9], []]);
      else if (k === 3) m[r.pick(['schema', 'latents', 'cases', 'files', 'precisions'])] = r.pick([null, 7, 'x', [], {}, [null]]);
      else if (k === 4) m.precisions = r.pick([['fp32', 'fp32'], ['fp64'], [], ['fp32', 'fp16']]);
      else if (k === 5) m.latents.push({ ...m.latents[0], id: r.pick([m.latents[0].id, 'other', '../x']) });
      else if (k === 6) m.files = r.pick([{}, { __proto__: { x: 1 } }, Object.fromEntries(Object.keys(m.files).map((f) => [f, 'f'.repeat(64)]))]);
      else m.cases[0].id = r.pick(['x@fp32', `${m.latents[0].id}@fp16`, '']);
    }
    let text = JSON.stringify(m);
    if (r.chance(0.15)) {
      const b = Buffer.from(text);
      for (let f = 0; f < 1 + r.int(4); f++) b[r.int(b.length)] = r.int(256);
      text = b.toString('latin1');
    }
    writeFileSync(join(dir, 'manifest.json'), text);
    const loaded = expectClean(seed, 'manifest', () => readBaseline(dir)) as ReturnType<typeof readBaseline> | undefined;
    if (loaded) for (const t of [...loaded.latents.values(), ...loaded.decoded.values()]) assert.ok(!(t.data.length === 256 && t.data.every((x) => x === 123.5)), `seed ${seed}: read the file outside the baseline`);
  }
});

test('fuzz: mutated ONNX models and external-data references load or fail with one line; none reads outside the model folder', () => {
  const vae = loadVae(fx.path('tiny-fp16-safe.safetensors'));
  const graph = { ...buildDecoderGraph(vae), traced: [] };
  const { model, external } = encodeModel(graph, 'model.onnx_data');
  const data = Buffer.concat(external);
  mkdirSync(join(root, 'outside'), { recursive: true });
  // outside: the same weights with every value 7 (a decode from them would be recognisable)
  const sevens = Buffer.from(new Float32Array(data.length / 4).fill(7).buffer);
  writeFileSync(join(root, 'outside', 'secret.bin'), sevens);
  for (let i = 0; i < CASES; i++) {
    const seed = BASE_SEED + 100_000 + i;
    const r = rng(seed);
    const dir = join(root, `o${i % 4}`, 'vae_decoder');
    rmSync(join(root, `o${i % 4}`), { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    let bytes: Buffer;
    if (r.chance(0.5)) {
      // protobuf-level: a hostile location, offset or length for some tensors
      const location = r.pick([...HOSTILE.filter((h) => !h.includes('\u0000')), 'model.onnx_data', '../outside/secret.bin', 'sub/../model.onnx_data']);
      bytes = Buffer.from(encodeModel(graph, location).model);
      if (r.chance(0.3)) bytes = Buffer.from(bytes.toString('latin1').replace(/offset[\s\S]{0,4}\d+/, 'offset\u0012\u00049999').replace(/length[\s\S]{0,4}\d+/, 'length\u0012\u0002-5'), 'latin1');
    } else {
      // byte-level: flips, truncation, insertion
      bytes = Buffer.from(model);
      const k = r.int(3);
      if (k === 0) for (let f = 0; f < 1 + r.int(8); f++) bytes[r.int(bytes.length)] = r.int(256);
      else if (k === 1) bytes = bytes.subarray(0, r.int(bytes.length));
      else bytes = Buffer.concat([bytes.subarray(0, r.int(bytes.length)), Buffer.from(Array.from({ length: 1 + r.int(16) }, () => r.int(256))), bytes.subarray(r.int(bytes.length))]);
    }
    writeFileSync(join(dir, 'model.onnx'), bytes);
    writeFileSync(join(dir, 'model.onnx_data'), r.chance(0.2) ? data.subarray(0, r.int(data.length)) : data);
    const loaded = expectClean(seed, 'onnx', () => loadOnnxVae(join(dir, 'model.onnx'))) as ReturnType<typeof loadOnnxVae> | undefined;
    if (loaded) {
      for (const t of loaded.graph.initializers) {
        if (t.data instanceof Float32Array && t.data.length > 16) assert.ok(!t.data.every((x) => x === 7), `seed ${seed}: read ${t.name} from outside the model folder`);
      }
    }
  }
  assert.ok(readFileSync(join(root, 'outside', 'secret.bin')).equals(sevens));
});

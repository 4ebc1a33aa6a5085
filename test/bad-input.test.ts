/**
 * Bad input through the built CLI (issue 2, section 7): each case ends with exactly one stderr line
 * `vaecheck: error: <file>: <problem>`, exit 3 (2 for usage errors), no stack trace unless DEBUG is
 * set, and nothing left in the output folder (neither the output nor a `.name.tmp-*` temporary).
 *
 * Needs `npm run build` first (it runs dist/ through bin/run.js). Corrupt weights are made by
 * rewriting the header of a generated fixture.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFixtures } from '../fixtures/generate.js';
import { encodeNpyF32 } from '../fixtures/safetensors-writer.js';
import { OutputSet } from '../src/io/output-files.js';
import { UsageError } from '../src/errors.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'run.js');
const PHOTO = join(ROOT, 'fixtures', 'photos', 'chelsea-64.png');

let tmp = '';
let fx = '';
let VAE = '';
let LAT = '';

before(() => {
  assert.ok(existsSync(join(ROOT, 'dist', 'commands', 'decode.js')), 'run `npm run build` before this test');
  tmp = mkdtempSync(join(tmpdir(), 'vaecheck-bad-input-'));
  fx = join(tmp, 'fixtures');
  writeFixtures(fx);
  VAE = join(fx, 'tiny-diffusers-f32.safetensors');
  LAT = join(fx, 'latents-8x8.npy');
});
after(() => rmSync(tmp, { recursive: true, force: true }));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], debug = false): Run {
  const env = { ...process.env };
  delete env.DEBUG;
  if (debug) env.DEBUG = '1';
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

let caseNo = 0;
/** A fresh, empty folder for one case's inputs and outputs. */
function caseDir(): string {
  const d = join(tmp, `case-${caseNo++}`);
  mkdirSync(d);
  return d;
}

/** Asserts: exit code, exactly one stderr line `vaecheck: error: ...` matching every pattern, no stack. */
function assertError(r: Run, code: number, ...patterns: (string | RegExp)[]): string {
  const ctx = `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  assert.equal(r.status, code, ctx);
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  assert.equal(lines.length, 1, `expected one stderr line\n${ctx}`);
  const line = lines[0];
  assert.match(line, /^vaecheck: error: /, ctx);
  assert.doesNotMatch(r.stderr, /\n\s+at |Error:/, ctx);
  for (const p of patterns) {
    if (typeof p === 'string') assert.ok(line.includes(p), `stderr lacks ${JSON.stringify(p)}\n${ctx}`);
    else assert.match(line, p, ctx);
  }
  return line;
}

/** Asserts that `dir` holds exactly `names` (no output, no temporaries). */
function assertOnly(dir: string, names: string[]): void {
  assert.deepEqual(readdirSync(dir).sort(), [...names].sort(), `unexpected files in ${dir}`);
}

// ---------------------------------------------------------------------------------------------
// safetensors helpers: rewrite the JSON header of a fixture, data unchanged

type Header = Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;

function splitSafetensors(bytes: Buffer): { header: Header; data: Buffer } {
  const n = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Header, data: bytes.subarray(8 + n) };
}

function joinSafetensors(headerJson: string, data: Buffer): Buffer {
  const h = Buffer.from(headerJson, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

/** Writes `dir/name` = the VAE fixture with its header changed by `edit`. */
function mutatedVae(dir: string, name: string, edit: (h: Header, dataSize: number) => void): string {
  const { header, data } = splitSafetensors(readFileSync(VAE));
  edit(header, data.length);
  const path = join(dir, name);
  writeFileSync(path, joinSafetensors(JSON.stringify(header), data));
  return path;
}

type Entry = { dtype: string; shape: number[]; data_offsets: [number, number] };
const entry = (h: Header, k: string) => h[k] as Entry;

/** Runs `decode` of the good latents with `vae` into `dir/out.png`; asserts the error and nothing left. */
function decodeFails(vae: string, code: number, ...patterns: (string | RegExp)[]): string {
  const dir = caseDir();
  const before = readdirSync(dir);
  const line = assertError(cli(['decode', '--vae', vae, '--latents', LAT, '--out', join(dir, 'out.png')]), code, ...patterns);
  assertOnly(dir, before);
  return line;
}

// ---------------------------------------------------------------------------------------------
// weights

test('missing weights file', () => {
  const vae = join(tmp, 'no-such-vae.safetensors');
  // a VAE path may be a file or a folder: the CLI says which is missing in those words
  decodeFails(vae, 3, `${vae}: no such file or folder`);
});

test('not a safetensors file: random bytes', () => {
  const dir = caseDir();
  const vae = join(dir, 'random.safetensors');
  let s = 12345;
  writeFileSync(vae, Buffer.from(Array.from({ length: 4096 }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 16) & 0xff)));
  decodeFails(vae, 3, `${vae}: not a safetensors file`);
});

test('not a safetensors file: a PNG', () => {
  decodeFails(PHOTO, 3, `${PHOTO}: not a safetensors file`);
  assertError(cli(['info', PHOTO]), 3, `${PHOTO}: not a safetensors file`);
});

test('not a safetensors file: shorter than the 8-byte header length', () => {
  const dir = caseDir();
  const vae = join(dir, 'tiny.safetensors');
  writeFileSync(vae, Buffer.from([1, 2, 3]));
  decodeFails(vae, 3, `${vae}: not a safetensors file`);
});

test('header length beyond the file', () => {
  const dir = caseDir();
  const vae = join(dir, 'long-header.safetensors');
  const bytes = Buffer.from(readFileSync(VAE));
  bytes.writeBigUInt64LE(BigInt(bytes.length), 0);
  writeFileSync(vae, bytes);
  decodeFails(vae, 3, vae, /header length \d+ is beyond the file size/);
});

test('invalid header JSON', () => {
  const dir = caseDir();
  const vae = join(dir, 'bad-json.safetensors');
  const bytes = Buffer.from(readFileSync(VAE));
  bytes[bytes.indexOf(':', 8)] = '!'.charCodeAt(0); // {"__metadata__"!{...
  writeFileSync(vae, bytes);
  decodeFails(vae, 3, vae, 'invalid header JSON');
  // raw newlines in the header must not break the one-line error
  const vae2 = join(dir, 'bad-json-newlines.safetensors');
  writeFileSync(vae2, joinSafetensors('{\n"a":\n\n{ oops \n}\n}', Buffer.alloc(0)));
  decodeFails(vae2, 3, vae2, 'invalid header JSON');
});

test('tensor offsets outside the data', () => {
  const dir = caseDir();
  const key = 'decoder.conv_out.bias';
  const vae = mutatedVae(dir, 'outside.safetensors', (h, size) => {
    const e = entry(h, key);
    const len = e.data_offsets[1] - e.data_offsets[0];
    e.data_offsets = [size - len + 4, size + 4];
  });
  decodeFails(vae, 3, vae, key, /data_offsets \[\d+, \d+\] outside the data/);
});

test('overlapping tensors', () => {
  const dir = caseDir();
  const vae = mutatedVae(dir, 'overlap.safetensors', (h) => {
    // two tensors of the same size: the second takes the first one's bytes shifted half-way in
    const a = entry(h, 'decoder.conv_norm_out.bias');
    const b = entry(h, 'decoder.conv_norm_out.weight');
    b.data_offsets = [a.data_offsets[0] + 64, a.data_offsets[1] + 64];
  });
  decodeFails(vae, 3, vae, 'decoder.conv_norm_out', 'overlap');
});

test('unknown dtype', () => {
  const dir = caseDir();
  const vae = mutatedVae(dir, 'dtype.safetensors', (h) => {
    entry(h, 'decoder.conv_in.bias').dtype = 'Q4';
  });
  decodeFails(vae, 3, vae, 'decoder.conv_in.bias', 'unknown dtype "Q4"');
});

test('non-float dtype of a VAE tensor', () => {
  const dir = caseDir();
  const vae = mutatedVae(dir, 'int-dtype.safetensors', (h) => {
    entry(h, 'decoder.conv_in.bias').dtype = 'I32'; // same byte size as F32
  });
  decodeFails(vae, 3, vae, 'decoder.conv_in.bias', 'I32');
});

test('missing keys: names the first few and the count', () => {
  const dir = caseDir();
  // (to_q.weight stays: its presence is what says the mid block has attention)
  const gone = ['to_k.weight', 'to_v.weight', 'to_out.0.weight', 'to_k.bias'].map((p) => `decoder.mid_block.attentions.0.${p}`);
  const vae = mutatedVae(dir, 'missing.safetensors', (h) => {
    for (const k of gone) delete h[k];
  });
  const line = decodeFails(vae, 3, vae, /missing 4 VAE key\(s\)/);
  const named = gone.filter((k) => line.includes(k));
  assert.ok(named.length >= 3, `expected three of the missing keys named: ${line}`);
});

test('missing keys: the mid-block attention without its to_q.weight', () => {
  const dir = caseDir();
  const key = 'decoder.mid_block.attentions.0.to_q.weight';
  const vae = mutatedVae(dir, 'missing-q.safetensors', (h) => {
    delete h[key];
  });
  decodeFails(vae, 3, vae, /missing 1 VAE key\(s\)/, key);
});

test('wrong shape: names the key, the expected and the found shape', () => {
  const dir = caseDir();
  const key = 'decoder.conv_in.weight';
  const vae = mutatedVae(dir, 'shape.safetensors', (h) => {
    entry(h, key).shape = [64, 4, 9, 1]; // same element count as [64, 4, 3, 3]
  });
  decodeFails(vae, 3, vae, key, '[64,4,9,1]', '[64,4,3,3]');
});

// ---------------------------------------------------------------------------------------------
// latents

function latentsFile(dir: string, name: string, shape: number[], fill: (i: number) => number = (i) => Math.sin(i * 12.9898) * 0.9): string {
  const n = shape.reduce((a, d) => a * d, 1);
  const path = join(dir, name);
  writeFileSync(path, encodeNpyF32(shape, Float32Array.from({ length: n }, (_, i) => fill(i))));
  return path;
}

test('latents of the wrong rank', () => {
  const dir = caseDir();
  const lat = latentsFile(dir, 'rank2.npy', [4, 64]);
  assertError(cli(['decode', '--vae', VAE, '--latents', lat, '--out', join(dir, 'out.png')]), 3, lat, '[4, 64]', 'expected [batch, 4, height, width]');
  assertOnly(dir, ['rank2.npy']);
});

test('latents with the wrong channel count', () => {
  const dir = caseDir();
  const lat = latentsFile(dir, 'ch3.npy', [1, 3, 8, 8]);
  assertError(cli(['decode', '--vae', VAE, '--latents', lat, '--out', join(dir, 'out.png')]), 3, lat, '3 channels', 'takes 4');
  assertOnly(dir, ['ch3.npy']);
});

test('latents file missing, or not a .npy', () => {
  const dir = caseDir();
  const lat = join(dir, 'none.npy');
  assertError(cli(['decode', '--vae', VAE, '--latents', lat, '--out', join(dir, 'out.png')]), 3, `${lat}: file not found`);
  const junk = join(dir, 'junk.npy');
  writeFileSync(junk, 'not numpy at all');
  assertError(cli(['decode', '--vae', VAE, '--latents', junk, '--out', join(dir, 'out.png')]), 3, junk, 'not a readable .npy file');
  assertOnly(dir, ['junk.npy']);
});

test('latents containing NaN: a warning, the decode runs and reports NaN (exit 1, FAILED)', () => {
  const dir = caseDir();
  const lat = latentsFile(dir, 'nan.npy', [1, 4, 8, 8], (i) => (i === 37 ? NaN : Math.sin(i * 12.9898) * 0.9));
  const r = cli(['decode', '--vae', VAE, '--family', 'sdxl', '--latents', lat, '--out', join(dir, 'out.npy')]);
  const ctx = `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  assert.equal(r.status, 1, ctx);
  const errLines = r.stderr.split('\n').filter((l) => l.length > 0);
  assert.equal(errLines.length, 1, ctx);
  assert.match(errLines[0], /^vaecheck: warning: .*nan\.npy: latents contain 1 NaN/, ctx);
  assert.match(r.stdout, /^FAILED \| \d+ NaN/m, ctx);
  assert.ok(existsSync(join(dir, 'out.npy')), 'the decode still writes its output');
});

// ---------------------------------------------------------------------------------------------
// images

test('unreadable image for encode: not an image, truncated PNG, missing', () => {
  const dir = caseDir();
  const text = join(dir, 'text.png');
  writeFileSync(text, 'hello, not a png\n');
  const trunc = join(dir, 'trunc.png');
  writeFileSync(trunc, readFileSync(PHOTO).subarray(0, 300));
  const none = join(dir, 'none.png');
  const out = join(dir, 'lat.npy');
  assertError(cli(['encode', '--vae', VAE, '--image', text, '--out', out]), 3, `${text}: not a readable image`);
  assertError(cli(['encode', '--vae', VAE, '--image', trunc, '--out', out]), 3, `${trunc}: not a readable image`);
  assertError(cli(['encode', '--vae', VAE, '--image', none, '--out', out]), 3, none);
  // the second image of a batch bad: nothing written either
  assertError(cli(['encode', '--vae', VAE, '--image', PHOTO, '--image', trunc, '--out', out]), 3, trunc);
  assertOnly(dir, ['text.png', 'trunc.png']);
});

// ---------------------------------------------------------------------------------------------
// output

test('unwritable output: folder missing, or a file used as a folder', () => {
  const dir = caseDir();
  const missing = join(dir, 'no-such-folder', 'out.png');
  assertError(cli(['decode', '--vae', VAE, '--latents', LAT, '--out', missing]), 3, missing, 'cannot write');
  const file = join(dir, 'file.txt');
  writeFileSync(file, 'x');
  for (const out of [join(file, 'out.png'), join(file, 'sub', 'out.npy')]) {
    assertError(cli(['decode', '--vae', VAE, '--latents', LAT, '--out', out]), 3, out, 'cannot write');
  }
  const lat = join(file, 'lat.npy');
  assertError(cli(['encode', '--vae', VAE, '--image', PHOTO, '--out', lat]), 3, lat, 'cannot write');
  // --out naming an existing folder
  const sub = join(dir, 'folder.png');
  mkdirSync(sub);
  assertError(cli(['decode', '--vae', VAE, '--latents', LAT, '--out', sub, '--force']), 3, sub, 'is a directory');
  assertOnly(dir, ['file.txt', 'folder.png']);
  assert.equal(readFileSync(file, 'utf8'), 'x');
  assertOnly(sub, []);
});

test('existing --out: refused without --force (exit 2, untouched), overwritten with --force', () => {
  const dir = caseDir();
  const out = join(dir, 'out.png');
  writeFileSync(out, 'precious');
  assertError(cli(['decode', '--vae', VAE, '--latents', LAT, '--out', out]), 2, out, '--force');
  assert.equal(readFileSync(out, 'utf8'), 'precious');
  assertOnly(dir, ['out.png']);
  const r = cli(['decode', '--vae', VAE, '--family', 'sdxl', '--latents', LAT, '--out', out, '--force']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.deepEqual([...readFileSync(out).subarray(1, 4)], [...Buffer.from('PNG')]);
  assertOnly(dir, ['out.png']);
});

test('batch PNG output whose second file exists: nothing written, no temporaries', () => {
  const dir = caseDir();
  const second = join(dir, 'out-1.png');
  writeFileSync(second, 'precious');
  assertError(cli(['decode', '--vae', VAE, '--family', 'sdxl', '--latents', join(fx, 'latents-2x12x20.npy'), '--out', join(dir, 'out.png')]), 2, second, '--force');
  assert.equal(readFileSync(second, 'utf8'), 'precious');
  assertOnly(dir, ['out-1.png']);
});

test('OutputSet (library): a refused file drops the temporaries staged before it', () => {
  const dir = caseDir();
  writeFileSync(join(dir, 'b.png'), 'precious');
  const out = new OutputSet(false);
  out.add(join(dir, 'a.png'), 'aaa');
  assert.throws(() => out.add(join(dir, 'b.png'), 'bbb'), UsageError);
  assertOnly(dir, ['b.png']);
  assert.equal(readFileSync(join(dir, 'b.png'), 'utf8'), 'precious');
});

// ---------------------------------------------------------------------------------------------
// usage

test('usage errors exit 2 with one line', () => {
  const dir = caseDir();
  const out = join(dir, 'out.png');
  assertError(cli(['decode', '--vae', VAE, '--latents', LAT, '--out', out, '--bogus']), 2, '--bogus');
  assertError(cli(['decode', '--vae', VAE, '--latents', LAT, '--out', join(dir, 'out.jpg')]), 2, '--out must end in', 'out.jpg');
  assertError(cli(['encode', '--vae', VAE, '--image', PHOTO, '--out', join(dir, 'lat.png')]), 2, '--out must end in');
  assertError(cli(['decode', '--vae', VAE, '--out', out]), 2, 'no latents');
  assertError(cli(['decode', '--vae', VAE, '--latents', LAT, '--random', '--out', out]), 2, 'either --latents or --random');
  assertError(cli(['decode', '--vae', VAE, '--random', '--size', '8by8', '--out', out]), 2, '--size');
  assertError(cli(['decode', '--vae', VAE, '--latents', LAT]), 2, 'Missing required flag out');
  assertError(cli(['info']), 2, 'Missing 1 required arg: vae');
  assertOnly(dir, []);
});

test('DEBUG=1 adds the stack trace', () => {
  const vae = join(tmp, 'no-such-vae.safetensors');
  const r = cli(['info', vae], true);
  assert.equal(r.status, 3, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  assert.match(lines[0], /^vaecheck: error: .*no-such-vae\.safetensors: no such file or folder$/);
  assert.ok(lines.length > 2, r.stderr);
  assert.match(r.stderr, /\n\s+at .*safetensors|\n\s+at /);
});

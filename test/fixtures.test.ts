/**
 * Tests of the fixture generator (fixtures/generate.ts): determinism, safetensors / npy files that an
 * independent minimal reader accepts, the naming maps (reversed up index, 1x1 attention convs,
 * prefixes), stored F16 / BF16 values equal to the reference rounding of the canonical weights, and
 * the fp16-overflow pair (same decode in float64, overflow in fp16 emulation only for the scaled one).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import {
  FIXTURE_SEED,
  FOLDER_CFG,
  LATENT_SEEDS,
  NARROW_CFG,
  OVERFLOW,
  SCALING_FACTOR,
  TINY,
  makeLatents,
  makeVaeWeights,
  scaleDecoderStream,
  seededNormal,
  writeFixtures,
  type FixtureIndex,
  type WeightsFixture,
} from '../fixtures/generate.js';
import { renameWeights } from '../fixtures/naming.js';
import { roundBF16, roundF16 } from './reference/round.js';
import { referenceDecode } from './reference/vae64.js';
import type { RefConfig, RefTensor, RefWeights } from './reference/types.js';

// ---------------------------------------------------------------------------------------------
// Independent minimal readers

interface ParsedTensor {
  dtype: string;
  shape: number[];
  values: Float64Array;
}

const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

const parsedCache = new Map<string, { tensors: Map<string, ParsedTensor>; metadata: unknown }>();

/** Reads a safetensors file once (cached by path) and checks its structure. */
function readSafetensors(path: string): { tensors: Map<string, ParsedTensor>; metadata: unknown } {
  let r = parsedCache.get(path);
  if (!r) {
    r = parseSafetensors(path);
    parsedCache.set(path, r);
  }
  return r;
}

/** Parses a safetensors file and checks its structure; returns tensors and metadata. */
function parseSafetensors(path: string): { tensors: Map<string, ParsedTensor>; metadata: unknown } {
  const buf = readFileSync(path);
  assert.ok(buf.length >= 8, `${path}: shorter than the 8-byte header length`);
  const n = Number(buf.readBigUInt64LE(0));
  assert.ok(8 + n <= buf.length, `${path}: header length ${n} beyond the file`);
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  const dataStart = 8 + n;
  const entries: Array<[string, { dtype: string; shape: number[]; data_offsets: [number, number] }]> = [];
  let metadata: unknown;
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = v;
      continue;
    }
    entries.push([name, v as { dtype: string; shape: number[]; data_offsets: [number, number] }]);
  }
  entries.sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
  let expectBegin = 0;
  const tensors = new Map<string, ParsedTensor>();
  for (const [name, info] of entries) {
    const size = DTYPE_BYTES[info.dtype];
    assert.ok(size, `${name}: unexpected dtype ${info.dtype}`);
    assert.ok(Array.isArray(info.shape) && info.shape.every((d) => Number.isInteger(d) && d > 0), `${name}: bad shape`);
    const [begin, end] = info.data_offsets;
    assert.equal(begin, expectBegin, `${name}: offsets not contiguous`);
    const count = info.shape.reduce((p, d) => p * d, 1);
    assert.equal(end - begin, count * size, `${name}: ${end - begin} bytes for ${info.dtype} [${info.shape}]`);
    assert.ok(dataStart + end <= buf.length, `${name}: data beyond the end of the file`);
    expectBegin = end;
    // Copy into an aligned buffer and view it little-endian (the test machines are little-endian).
    const bytes = new Uint8Array(buf.subarray(dataStart + begin, dataStart + end));
    let values: Float64Array;
    if (info.dtype === 'F32') values = Float64Array.from(new Float32Array(bytes.buffer));
    else {
      const bits = new Uint16Array(bytes.buffer);
      values = new Float64Array(count);
      if (info.dtype === 'F16') for (let i = 0; i < count; i++) values[i] = halfToNumber(bits[i]);
      else {
        const f = new Float32Array(1);
        const u = new Uint32Array(f.buffer);
        for (let i = 0; i < count; i++) {
          u[0] = bits[i] << 16;
          values[i] = f[0];
        }
      }
    }
    tensors.set(name, { dtype: info.dtype, shape: info.shape, values });
  }
  assert.equal(dataStart + expectBegin, buf.length, `${path}: trailing bytes after the last tensor`);
  return { tensors, metadata };
}

/** Reads a float32 NumPy .npy v1.0 file. */
function readNpy(path: string): { shape: number[]; data: Float32Array; dataOffset: number } {
  const buf = readFileSync(path);
  assert.equal(buf.subarray(0, 6).toString('latin1'), '\x93NUMPY');
  assert.equal(buf[6], 1);
  assert.equal(buf[7], 0);
  const hlen = buf.readUInt16LE(8);
  const header = buf.subarray(10, 10 + hlen).toString('latin1');
  assert.ok(header.endsWith('\n'));
  assert.match(header, /'descr': '<f4'/);
  assert.match(header, /'fortran_order': False/);
  const m = header.match(/'shape': \(([^)]*)\)/);
  assert.ok(m);
  const shape = m[1].split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  const dataOffset = 10 + hlen;
  const count = shape.reduce((p, d) => p * d, 1);
  assert.equal(buf.length - dataOffset, count * 4);
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = buf.readFloatLE(dataOffset + 4 * i);
  return { shape, data, dataOffset };
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

// ---------------------------------------------------------------------------------------------
// One generated set shared by the tests (plus a second one for determinism)

const dirA = mkdtempSync(join(tmpdir(), 'vaecheck-fixtures-a-'));
const dirB = mkdtempSync(join(tmpdir(), 'vaecheck-fixtures-b-'));
const index: FixtureIndex = writeFixtures(dirA);

process.on('exit', () => {
  rmSync(dirA, { recursive: true, force: true });
  rmSync(dirB, { recursive: true, force: true });
});

function weightsEntry(file: string): WeightsFixture {
  const e = index.files.find((f) => f.file === file);
  assert.ok(e && e.kind === 'weights', `index has no weights entry ${file}`);
  return e;
}

const canonicalCache = new Map<RefConfig, RefWeights>();
function canonical(cfg: RefConfig): RefWeights {
  let w = canonicalCache.get(cfg);
  if (!w) {
    w = makeVaeWeights(cfg, FIXTURE_SEED);
    canonicalCache.set(cfg, w);
  }
  return w;
}

function rawLatents(file: keyof typeof LATENT_SEEDS): RefTensor {
  const l = makeLatents(file);
  return { shape: l.shape, data: l.data.map((x) => x / SCALING_FACTOR) };
}

function relMaxDiff(a: Float64Array, b: Float64Array): number {
  assert.equal(a.length, b.length);
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(a[i]));
  }
  return d / m;
}

// ---------------------------------------------------------------------------------------------

test('the generator writes every promised file and the index describes them', () => {
  const expected = [
    'index.json',
    'latents-16ch-2x6x10.npy',
    'latents-16ch-8x8.npy',
    'latents-2x12x20.npy',
    'latents-8x8.npy',
    'tiny-diffusers-f32.safetensors',
    'tiny-flux-fp16-overflow.safetensors',
    'tiny-flux-original-bf16.safetensors',
    'tiny-flux-original-f16.safetensors',
    'tiny-flux-original-f32.safetensors',
    'tiny-folder/config.json',
    'tiny-folder/diffusion_pytorch_model.fp16.safetensors',
    'tiny-fp16-overflow.safetensors',
    'tiny-fp16-safe.safetensors',
    'tiny-legacy-attn-f32.safetensors',
    'tiny-narrow-original-f32.safetensors',
    'tiny-no-mid-attention/config.json',
    'tiny-no-mid-attention/diffusion_pytorch_model.safetensors',
    'tiny-original-bf16.safetensors',
    'tiny-original-f16.safetensors',
    'tiny-sd15-checkpoint-f16.safetensors',
    'tiny-sd15-original-f32.safetensors',
    'tiny-sd3-checkpoint-bf16.safetensors',
    'tiny-sd3-folder/config.json',
    'tiny-sd3-folder/diffusion_pytorch_model.fp16.safetensors',
    'tiny-sd3-folder/diffusion_pytorch_model.safetensors',
  ];
  assert.deepEqual(listFiles(dirA), expected.map((f) => f.split('/').join(sep)));
  for (const f of index.files) {
    assert.equal(statSync(f.path).size, f.bytes, f.file);
    assert.equal(f.path, join(dirA, f.file));
  }
  const summary = index.files
    .filter((f): f is WeightsFixture => f.kind === 'weights')
    .map((f) => [f.file, f.naming, f.prefix, f.dtype, f.transform.kind, f.config.blockOutChannels.join(','), f.config.latentChannels, f.config.quantConv === false ? 'no-quant-convs' : 'quant-convs', f.family ?? '-'].join(' '));
  assert.deepEqual(summary, [
    'tiny-diffusers-f32.safetensors diffusers  F32 none 32,32,64,64 4 quant-convs -',
    'tiny-original-f16.safetensors original  F16 none 32,32,64,64 4 quant-convs -',
    'tiny-original-bf16.safetensors original first_stage_model. BF16 none 32,32,64,64 4 quant-convs -',
    'tiny-legacy-attn-f32.safetensors legacy-attn vae. F32 none 32,32,64,64 4 quant-convs -',
    'tiny-folder/diffusion_pytorch_model.fp16.safetensors diffusers  F16 none 16,32,48,48 4 quant-convs -',
    'tiny-narrow-original-f32.safetensors original  F32 none 32,64 4 quant-convs -',
    'tiny-fp16-safe.safetensors diffusers  F32 none 32,32,64,64 4 quant-convs -',
    'tiny-fp16-overflow.safetensors diffusers  F32 scaled 32,32,64,64 4 quant-convs -',
    'tiny-flux-original-f32.safetensors original  F32 none 32,32,64,64 16 no-quant-convs flux',
    'tiny-flux-original-f16.safetensors original  F16 none 32,32,64,64 16 no-quant-convs flux',
    'tiny-flux-original-bf16.safetensors original  BF16 none 32,32,64,64 16 no-quant-convs flux',
    'tiny-flux-fp16-overflow.safetensors original  F32 scaled 32,32,64,64 16 no-quant-convs flux',
    'tiny-sd3-folder/diffusion_pytorch_model.safetensors diffusers  F32 none 16,32,48,48 16 no-quant-convs sd3',
    'tiny-sd3-folder/diffusion_pytorch_model.fp16.safetensors diffusers  F16 none 16,32,48,48 16 no-quant-convs sd3',
    'tiny-sd3-checkpoint-bf16.safetensors original first_stage_model. BF16 none 32,32,64,64 16 no-quant-convs sd3',
    'tiny-sd15-original-f32.safetensors original  F32 none 32,32,64,64 4 quant-convs sd15',
    'tiny-sd15-checkpoint-f16.safetensors original first_stage_model. F16 none 32,32,64,64 4 quant-convs sd15',
    'tiny-no-mid-attention/diffusion_pytorch_model.safetensors diffusers  F32 none 32,64 4 quant-convs -',
  ]);
  const onDisk = JSON.parse(readFileSync(join(dirA, 'index.json'), 'utf8')) as { seed: number; files: unknown[] };
  assert.equal(onDisk.seed, FIXTURE_SEED);
  assert.equal(onDisk.files.length, index.files.length);
});

test('generation is deterministic: two runs give byte-identical files', () => {
  writeFixtures(dirB);
  const a = listFiles(dirA);
  assert.deepEqual(listFiles(dirB), a);
  for (const f of a) assert.ok(readFileSync(join(dirA, f)).equals(readFileSync(join(dirB, f))), `${f} differs`);
});

test('seededNormal is deterministic and standard normal', () => {
  const x = seededNormal(7, 20001);
  assert.deepEqual(seededNormal(7, 20001), x);
  assert.notDeepEqual(seededNormal(8, 10), x.subarray(0, 10));
  assert.deepEqual(seededNormal(7, 5), x.subarray(0, 5));
  let s = 0;
  let s2 = 0;
  for (const v of x) {
    s += v;
    s2 += v * v;
  }
  const mean = s / x.length;
  const std = Math.sqrt(s2 / x.length - mean * mean);
  assert.ok(Math.abs(mean) < 0.03, `mean ${mean}`);
  assert.ok(Math.abs(std - 1) < 0.03, `std ${std}`);
});

test('every safetensors file parses with an independent reader and matches its index entry', () => {
  for (const f of index.files) {
    if (f.kind !== 'weights') continue;
    const { tensors, metadata } = readSafetensors(f.path);
    assert.deepEqual(metadata, { format: 'pt' }, f.file);
    assert.equal(tensors.size, f.tensorCount, f.file);
    for (const [name, t] of tensors) {
      assert.equal(t.dtype, f.dtype, `${f.file} ${name}`);
      assert.ok(name.startsWith(f.prefix) || f.markers?.includes(name), `${f.file} ${name} lacks prefix ${f.prefix}`);
      for (const v of t.values) assert.ok(Number.isFinite(v), `${f.file} ${name} has a non-finite value`);
    }
    const names = [...tensors.keys()];
    if (f.naming === 'original') {
      assert.ok(!names.some((n) => /up_blocks|down_blocks|mid_block|conv_shortcut|conv_norm_out/.test(n)), f.file);
    } else {
      assert.ok(!names.some((n) => /\.(up|down)\.\d|\.mid\.|nin_shortcut|(^|\.)norm_out/.test(n)), f.file);
    }
  }
});

test('F32 files hold the canonical weights exactly; F16 / BF16 files hold roundF16 / roundBF16 of them', () => {
  for (const f of index.files) {
    if (f.kind !== 'weights') continue;
    let w = canonical(f.config);
    if (f.transform.kind === 'scaled') w = scaleDecoderStream(w, f.config, f.transform.fromUpBlock, f.transform.factor);
    const expected = renameWeights(w, f.naming, f.config.blockOutChannels.length, f.prefix);
    const { tensors } = readSafetensors(f.path);
    // a whole checkpoint's marker tensors (zeros) stand for the model stored beside the VAE
    for (const m of f.markers ?? []) assert.deepEqual([...tensors.get(m)!.values], [0, 0], `${f.file} ${m}`);
    const vaeKeys = [...tensors.keys()].filter((k) => !f.markers?.includes(k));
    assert.deepEqual(vaeKeys.sort(), [...expected.keys()].sort(), f.file);
    for (const [name, e] of expected) {
      const t = tensors.get(name)!;
      assert.deepEqual(t.shape, e.shape, `${f.file} ${name}`);
      for (let i = 0; i < e.data.length; i++) {
        const x = e.data[i];
        const want: number = f.dtype === 'F32' ? x : f.dtype === 'F16' ? roundF16(Math.fround(x)) : roundBF16(x);
        if (t.values[i] !== want) assert.fail(`${f.file} ${name}[${i}]: stored ${t.values[i]}, expected ${want} (from ${x})`);
      }
    }
  }
});

test('canonical weights are float32 values with the documented shapes', () => {
  const w = canonical(TINY);
  for (const [name, t] of w) for (const v of t.data) if (Math.fround(v) !== v) assert.fail(`${name} holds ${v}`);
  const shape = (n: string): number[] | undefined => w.get(n)?.shape;
  assert.deepEqual(shape('encoder.conv_in.weight'), [32, 3, 3, 3]);
  assert.deepEqual(shape('encoder.down_blocks.2.resnets.0.conv_shortcut.weight'), [64, 32, 1, 1]);
  assert.equal(shape('encoder.down_blocks.1.resnets.0.conv_shortcut.weight'), undefined);
  assert.deepEqual(shape('encoder.down_blocks.2.downsamplers.0.conv.weight'), [64, 64, 3, 3]);
  assert.equal(shape('encoder.down_blocks.3.downsamplers.0.conv.weight'), undefined);
  assert.deepEqual(shape('encoder.mid_block.attentions.0.to_q.weight'), [64, 64]);
  assert.deepEqual(shape('encoder.conv_out.weight'), [8, 64, 3, 3]);
  assert.deepEqual(shape('quant_conv.weight'), [8, 8, 1, 1]);
  assert.deepEqual(shape('post_quant_conv.weight'), [4, 4, 1, 1]);
  assert.deepEqual(shape('decoder.conv_in.weight'), [64, 4, 3, 3]);
  assert.deepEqual(shape('decoder.up_blocks.0.resnets.2.conv2.weight'), [64, 64, 3, 3]);
  assert.deepEqual(shape('decoder.up_blocks.2.resnets.0.conv_shortcut.weight'), [32, 64, 1, 1]);
  assert.deepEqual(shape('decoder.up_blocks.2.resnets.0.conv1.weight'), [32, 64, 3, 3]);
  assert.deepEqual(shape('decoder.up_blocks.2.upsamplers.0.conv.weight'), [32, 32, 3, 3]);
  assert.equal(shape('decoder.up_blocks.3.upsamplers.0.conv.weight'), undefined);
  assert.equal(shape('decoder.up_blocks.3.resnets.3.conv1.weight'), undefined);
  assert.deepEqual(shape('decoder.conv_out.weight'), [3, 32, 3, 3]);
});

test('original naming: reversed up index, nin_shortcut, mid.block_1/2, attn_1 as 1x1 convs, norm_out', () => {
  const diff = readSafetensors(weightsEntry('tiny-diffusers-f32.safetensors').path).tensors;
  const orig = readSafetensors(weightsEntry('tiny-original-f16.safetensors').path).tensors;
  const pairs: Array<[string, string]> = [
    ['decoder.up_blocks.0.resnets.0.conv1.weight', 'decoder.up.3.block.0.conv1.weight'],
    ['decoder.up_blocks.3.resnets.2.norm2.bias', 'decoder.up.0.block.2.norm2.bias'],
    ['decoder.up_blocks.2.resnets.0.conv_shortcut.weight', 'decoder.up.1.block.0.nin_shortcut.weight'],
    ['decoder.up_blocks.0.upsamplers.0.conv.weight', 'decoder.up.3.upsample.conv.weight'],
    ['encoder.down_blocks.2.resnets.0.conv_shortcut.bias', 'encoder.down.2.block.0.nin_shortcut.bias'],
    ['encoder.down_blocks.0.downsamplers.0.conv.weight', 'encoder.down.0.downsample.conv.weight'],
    ['encoder.mid_block.resnets.1.conv2.weight', 'encoder.mid.block_2.conv2.weight'],
    ['decoder.mid_block.resnets.0.norm1.weight', 'decoder.mid.block_1.norm1.weight'],
    ['decoder.mid_block.attentions.0.group_norm.weight', 'decoder.mid.attn_1.norm.weight'],
    ['decoder.mid_block.attentions.0.to_q.weight', 'decoder.mid.attn_1.q.weight'],
    ['decoder.mid_block.attentions.0.to_out.0.bias', 'decoder.mid.attn_1.proj_out.bias'],
    ['decoder.conv_norm_out.weight', 'decoder.norm_out.weight'],
    ['encoder.conv_out.weight', 'encoder.conv_out.weight'],
    ['post_quant_conv.weight', 'post_quant_conv.weight'],
  ];
  for (const [d, o] of pairs) {
    const a = diff.get(d);
    const b = orig.get(o);
    assert.ok(a, d);
    assert.ok(b, o);
    for (let i = 0; i < a.values.length; i++) assert.equal(b.values[i], roundF16(a.values[i]), `${o}[${i}]`);
  }
  // Not the same tensor as the unreversed index would give.
  const wrong = orig.get('decoder.up.0.block.0.conv1.weight')!;
  assert.notDeepEqual(wrong.shape, diff.get('decoder.up_blocks.0.resnets.0.conv1.weight')!.shape);
  assert.deepEqual(orig.get('decoder.mid.attn_1.q.weight')!.shape, [64, 64, 1, 1]);
  assert.deepEqual(orig.get('encoder.mid.attn_1.proj_out.weight')!.shape, [64, 64, 1, 1]);

  const bf = readSafetensors(weightsEntry('tiny-original-bf16.safetensors').path).tensors;
  assert.ok([...bf.keys()].every((k) => k.startsWith('first_stage_model.')));
  assert.ok(bf.has('first_stage_model.decoder.up.3.block.0.conv1.weight'));
  assert.ok(bf.has('first_stage_model.quant_conv.weight'));
});

test('legacy attention naming with the vae. prefix', () => {
  const t = readSafetensors(weightsEntry('tiny-legacy-attn-f32.safetensors').path).tensors;
  for (const side of ['encoder', 'decoder']) {
    for (const p of ['group_norm', 'query', 'key', 'value', 'proj_attn']) {
      assert.ok(t.has(`vae.${side}.mid_block.attentions.0.${p}.weight`), `${side} ${p}`);
    }
    assert.ok(!t.has(`vae.${side}.mid_block.attentions.0.to_q.weight`));
  }
  assert.deepEqual(t.get('vae.decoder.mid_block.attentions.0.proj_attn.weight')!.shape, [64, 64]);
  assert.ok(t.has('vae.decoder.up_blocks.0.resnets.0.conv1.weight'));
});

test('diffusers folder: config.json in AutoencoderKL format and F16 weights of that config', () => {
  const cfgJson = JSON.parse(readFileSync(join(dirA, 'tiny-folder/config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(cfgJson._class_name, 'AutoencoderKL');
  assert.deepEqual(cfgJson.block_out_channels, [16, 32, 48, 48]);
  assert.equal(cfgJson.layers_per_block, 2);
  assert.equal(cfgJson.norm_num_groups, 8);
  assert.equal(cfgJson.latent_channels, 4);
  assert.equal(cfgJson.in_channels, 3);
  assert.equal(cfgJson.out_channels, 3);
  assert.equal(cfgJson.act_fn, 'silu');
  assert.equal(cfgJson.scaling_factor, 0.13025);
  assert.equal(typeof cfgJson.force_upcast, 'boolean');
  assert.equal(typeof cfgJson.sample_size, 'number');
  assert.deepEqual(cfgJson.down_block_types, Array(4).fill('DownEncoderBlock2D'));
  assert.deepEqual(cfgJson.up_block_types, Array(4).fill('UpDecoderBlock2D'));
  const e = weightsEntry('tiny-folder/diffusion_pytorch_model.fp16.safetensors');
  assert.equal(e.configFile, 'tiny-folder/config.json');
  assert.deepEqual(e.config, FOLDER_CFG);
  const t = readSafetensors(e.path).tensors;
  assert.deepEqual(t.get('encoder.conv_in.weight')!.shape, [16, 3, 3, 3]);
  assert.deepEqual(t.get('decoder.conv_in.weight')!.shape, [48, 4, 3, 3]);
  assert.deepEqual(t.get('decoder.up_blocks.2.resnets.0.conv_shortcut.weight')!.shape, [32, 48, 1, 1]);
});

test('narrow original file: 2 levels, 1 resnet per encoder level, 2 per decoder level', () => {
  const e = weightsEntry('tiny-narrow-original-f32.safetensors');
  assert.deepEqual(e.config, NARROW_CFG);
  assert.equal(e.configFile, undefined);
  const names = [...readSafetensors(e.path).tensors.keys()];
  assert.ok(names.includes('encoder.down.1.block.0.nin_shortcut.weight'));
  assert.ok(!names.some((n) => n.startsWith('encoder.down.2.') || n.startsWith('encoder.down.0.block.1.')));
  assert.ok(names.includes('decoder.up.1.block.1.conv2.weight'));
  assert.ok(names.includes('decoder.up.0.block.0.nin_shortcut.weight'));
  assert.ok(names.includes('decoder.up.1.upsample.conv.weight'));
  assert.ok(!names.some((n) => n.startsWith('decoder.up.0.upsample') || n.includes('.block.2.')));
});

test('latents .npy files: float32 seeded N(0,1), 64-byte aligned data', () => {
  for (const [file, shape] of [
    ['latents-8x8.npy', [1, 4, 8, 8]],
    ['latents-2x12x20.npy', [2, 4, 12, 20]],
  ] as const) {
    const npy = readNpy(join(dirA, file));
    assert.deepEqual(npy.shape, shape);
    assert.equal(npy.dataOffset % 64, 0);
    assert.deepEqual(Float64Array.from(npy.data), makeLatents(file).data);
    assert.deepEqual(npy.data, Float32Array.from(seededNormal(LATENT_SEEDS[file], npy.data.length)));
    let s2 = 0;
    for (const v of npy.data) s2 += v * v;
    const rms = Math.sqrt(s2 / npy.data.length);
    assert.ok(rms > 0.8 && rms < 1.2, `rms ${rms}`);
  }
});

test('scaleDecoderStream changes only the documented tensors, by exact powers of two', () => {
  const w = canonical(TINY);
  const scaled = (k: number): string[] => {
    const s = scaleDecoderStream(w, TINY, k, 8);
    const changed: string[] = [];
    for (const [name, t] of w) {
      const u = s.get(name)!;
      let diff = false;
      for (let i = 0; i < t.data.length; i++) {
        if (u.data[i] !== t.data[i]) {
          assert.equal(u.data[i], t.data[i] * 8, name);
          diff = true;
        }
      }
      if (diff) changed.push(name);
    }
    assert.notEqual(s, w);
    return changed;
  };
  const k2 = scaled(2);
  // Boundary with a shortcut: the shortcut's weight and bias, then conv2 of every resnet, bias of every later writer.
  assert.ok(k2.includes('decoder.up_blocks.2.resnets.0.conv_shortcut.weight'));
  assert.ok(k2.includes('decoder.up_blocks.2.resnets.0.conv2.weight'));
  assert.ok(k2.includes('decoder.up_blocks.3.resnets.2.conv2.bias'));
  assert.ok(k2.includes('decoder.up_blocks.2.upsamplers.0.conv.bias'));
  assert.ok(!k2.includes('decoder.up_blocks.2.upsamplers.0.conv.weight'));
  assert.ok(!k2.some((n) => /conv1|norm|conv_out|up_blocks\.[01]\./.test(n)), k2.join(' '));
  assert.equal(k2.length, 2 + 2 * 6 + 1);
  // Boundary without a shortcut: the previous upsampler's weight and bias.
  const k1 = scaled(1);
  assert.ok(k1.includes('decoder.up_blocks.0.upsamplers.0.conv.weight'));
  assert.ok(k1.includes('decoder.up_blocks.0.upsamplers.0.conv.bias'));
  assert.ok(k1.includes('decoder.up_blocks.2.resnets.0.conv_shortcut.bias'));
  assert.ok(!k1.includes('decoder.up_blocks.2.resnets.0.conv_shortcut.weight'));
  assert.ok(!k1.some((n) => /up_blocks\.0\.resnets/.test(n)));
  // k = 0: from decoder.conv_in on.
  const k0 = scaled(0);
  assert.ok(k0.includes('decoder.conv_in.weight'));
  assert.ok(k0.includes('decoder.mid_block.attentions.0.to_out.0.weight'));
  assert.ok(!k0.includes('post_quant_conv.weight'));
  assert.ok(!k0.some((n) => n.startsWith('encoder.')));
  assert.throws(() => scaleDecoderStream(w, TINY, 4, 8), RangeError);
  assert.throws(() => scaleDecoderStream(w, TINY, 1, 3), RangeError);
});

test('scaleDecoderStream decodes identically in float64 (exact with eps 0, ~1e-8 with eps 1e-6)', () => {
  const w = canonical(TINY);
  // Small latents keep this quick; every k is checked.
  const z: RefTensor = { shape: [1, 4, 4, 4], data: seededNormal(99, 64).map((x) => x / SCALING_FACTOR) };
  const cfg0: RefConfig = { ...TINY, eps: 0 };
  const base0 = referenceDecode(w, cfg0, z).output.data;
  for (let k = 0; k < 4; k++) {
    const out = referenceDecode(scaleDecoderStream(w, TINY, k, 2 ** 11), cfg0, z).output.data;
    assert.ok(relMaxDiff(base0, out) <= 1e-9, `k=${k}: ${relMaxDiff(base0, out)}`);
  }
});

test('the overflow pair: equal in float64, the scaled one overflows in fp16 in the up blocks, the safe one does not', () => {
  const safe = readSafetensors(weightsEntry('tiny-fp16-safe.safetensors').path).tensors;
  const over = readSafetensors(weightsEntry('tiny-fp16-overflow.safetensors').path).tensors;
  const toRef = (t: Map<string, ParsedTensor>): RefWeights => new Map([...t].map(([k, v]) => [k, { shape: v.shape, data: v.values }]));
  const ws = toRef(safe);
  const wo = toRef(over);
  assert.deepEqual(weightsEntry('tiny-fp16-overflow.safetensors').transform, {
    kind: 'scaled',
    fromUpBlock: OVERFLOW.fromUpBlock,
    factor: OVERFLOW.factor,
  });
  const z = rawLatents('latents-8x8.npy');

  // float64: equal up to GroupNorm's eps, which sees a variance s^2 times larger (relative effect
  // about eps / (2 var) ~ 1e-8 here); with eps 0 the decode is exact (checked above on 4x4 latents).
  const f64 = referenceDecode(ws, TINY, z);
  const f64o = referenceDecode(wo, TINY, z);
  assert.ok(relMaxDiff(f64.output.data, f64o.output.data) <= 1e-7, `${relMaxDiff(f64.output.data, f64o.output.data)}`);

  // Realistic spread: decoded outputs mostly in [-1, 1].
  const out = f64.output.data;
  let s = 0;
  let s2 = 0;
  let inside = 0;
  for (const v of out) {
    s += v;
    s2 += v * v;
    if (Math.abs(v) <= 1) inside++;
  }
  const std = Math.sqrt(s2 / out.length - (s / out.length) ** 2);
  assert.ok(std > 0.25 && std < 0.6, `output std ${std}`);
  assert.ok(inside / out.length > 0.9, `only ${inside / out.length} of outputs in [-1, 1]`);

  const h16 = referenceDecode(ws, TINY, z, 'fp16');
  const safeMax = Math.max(...h16.trace.map((t) => t.maxAbs));
  assert.ok(h16.trace.every((t) => t.nan === 0 && t.inf === 0), 'safe VAE has non-finite values in fp16');
  assert.ok(safeMax < 65504 / 16, `safe max |x| ${safeMax}`);
  assert.ok(safeMax > 8, `safe max |x| ${safeMax}: activations vanish`);

  const o16 = referenceDecode(wo, TINY, z, 'fp16');
  const firstBad = o16.trace.find((t) => t.inf > 0 || t.nan > 0);
  assert.ok(firstBad, 'scaled VAE does not overflow in fp16');
  assert.match(firstBad.name, new RegExp(`^decoder\\.up_blocks\\.${OVERFLOW.fromUpBlock}\\.`));
  assert.ok(firstBad.inf > 0);
  // Without rounding, the same op exceeds the fp16 range outright.
  const same = f64o.trace.find((t) => t.name === firstBad.name)!;
  assert.ok(same.maxAbs > 65504, `${same.name} ${same.maxAbs}`);
});

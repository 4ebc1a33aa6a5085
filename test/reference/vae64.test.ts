/**
 * Sanity tests of the float64 reference VAE (test/reference/vae64.ts): its building blocks against
 * hand-computed values, precision emulation (overflow to Inf, NaN downstream), and the structure
 * (output shapes, trace names and order) of a tiny decoder / encoder built from random weights.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  attentionCore,
  conv2d,
  groupNorm,
  linear,
  referenceDecode,
  referenceEncode,
  silu,
  upsampleNearest2x,
} from './vae64.js';
import { roundBF16, roundF16 } from './round.js';
import type { RefConfig, RefTensor, RefWeights } from './types.js';

function t(shape: number[], values: number[]): RefTensor {
  return { shape, data: Float64Array.from(values) };
}

function close(actual: ArrayLike<number>, expected: number[], tol = 1e-12): void {
  assert.equal(actual.length, expected.length, 'length');
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `index ${i}: ${actual[i]} != ${expected[i]}`);
  }
}

/** Deterministic uniform [-1, 1) generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return (((x ^ (x >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

/** Random weights for an AutoencoderKL of the given config, in diffusers naming. */
function randomWeights(cfg: RefConfig, seed = 1): RefWeights {
  const r = rng(seed);
  const w: RefWeights = new Map();
  const rand = (shape: number[], scale: number): RefTensor => {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float64Array(size);
    for (let i = 0; i < size; i++) data[i] = r() * scale;
    return { shape, data };
  };
  const conv = (name: string, oc: number, ic: number, k: number): void => {
    w.set(`${name}.weight`, rand([oc, ic, k, k], 1 / Math.sqrt(ic * k * k)));
    w.set(`${name}.bias`, rand([oc], 0.1));
  };
  const norm = (name: string, c: number): void => {
    const g = rand([c], 0.1);
    for (let i = 0; i < c; i++) g.data[i] += 1;
    w.set(`${name}.weight`, g);
    w.set(`${name}.bias`, rand([c], 0.1));
  };
  const res = (p: string, ic: number, oc: number): void => {
    norm(`${p}.norm1`, ic);
    conv(`${p}.conv1`, oc, ic, 3);
    norm(`${p}.norm2`, oc);
    conv(`${p}.conv2`, oc, oc, 3);
    if (ic !== oc) conv(`${p}.conv_shortcut`, oc, ic, 1);
  };
  const mid = (m: string, c: number): void => {
    res(`${m}.resnets.0`, c, c);
    const a = `${m}.attentions.0`;
    norm(`${a}.group_norm`, c);
    for (const l of ['to_q', 'to_k', 'to_v', 'to_out.0']) {
      w.set(`${a}.${l}.weight`, rand([c, c], 1 / Math.sqrt(c)));
      w.set(`${a}.${l}.bias`, rand([c], 0.1));
    }
    res(`${m}.resnets.1`, c, c);
  };
  const boc = cfg.blockOutChannels;
  const n = boc.length;
  const L = cfg.latentChannels;
  const last = boc[n - 1];
  // encoder
  conv('encoder.conv_in', boc[0], cfg.inChannels, 3);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < cfg.layersPerBlock; j++) {
      res(`encoder.down_blocks.${i}.resnets.${j}`, j === 0 ? (i === 0 ? boc[0] : boc[i - 1]) : boc[i], boc[i]);
    }
    if (i < n - 1) conv(`encoder.down_blocks.${i}.downsamplers.0.conv`, boc[i], boc[i], 3);
  }
  mid('encoder.mid_block', last);
  norm('encoder.conv_norm_out', last);
  conv('encoder.conv_out', 2 * L, last, 3);
  conv('quant_conv', 2 * L, 2 * L, 1);
  // decoder
  conv('post_quant_conv', L, L, 1);
  const rev = boc.slice().reverse();
  conv('decoder.conv_in', rev[0], L, 3);
  mid('decoder.mid_block', rev[0]);
  for (let k = 0; k < n; k++) {
    for (let j = 0; j <= cfg.layersPerBlock; j++) {
      res(`decoder.up_blocks.${k}.resnets.${j}`, j === 0 ? rev[Math.max(0, k - 1)] : rev[k], rev[k]);
    }
    if (k < n - 1) conv(`decoder.up_blocks.${k}.upsamplers.0.conv`, rev[k], rev[k], 3);
  }
  norm('decoder.conv_norm_out', rev[n - 1]);
  conv('decoder.conv_out', cfg.outChannels, rev[n - 1], 3);
  return w;
}

const TINY: RefConfig = {
  blockOutChannels: [4, 8],
  layersPerBlock: 1,
  groups: 2,
  latentChannels: 4,
  inChannels: 3,
  outChannels: 3,
  eps: 1e-6,
};

function randomTensor(shape: number[], seed: number, scale = 1): RefTensor {
  const r = rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float64Array(size);
  for (let i = 0; i < size; i++) data[i] = r() * scale;
  return { shape, data };
}

const resnetNames = (p: string, shortcut: boolean): string[] => [
  `${p}.norm1`,
  `${p}.act1`,
  `${p}.conv1`,
  `${p}.norm2`,
  `${p}.act2`,
  `${p}.conv2`,
  ...(shortcut ? [`${p}.conv_shortcut`] : []),
  `${p}.add`,
];
const midNames = (m: string): string[] => {
  const a = `${m}.attentions.0`;
  return [
    ...resnetNames(`${m}.resnets.0`, false),
    `${a}.group_norm`,
    `${a}.to_q`,
    `${a}.to_k`,
    `${a}.to_v`,
    `${a}.attn_core`,
    `${a}.to_out.0`,
    `${a}.add`,
    ...resnetNames(`${m}.resnets.1`, false),
  ];
};

// ---------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------

test('conv2d 3x3 padding 1 matches hand-computed sums', () => {
  const x = t([1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const w = t([1, 1, 3, 3], [1, 1, 1, 1, 1, 1, 1, 1, 1]);
  const y = conv2d(x, w, t([1], [0.5]), 1, { top: 1, left: 1, bottom: 1, right: 1 });
  assert.deepEqual(y.shape, [1, 1, 3, 3]);
  // corner: 1+2+4+5, edge: 1+2+3+4+5+6, centre: 45
  close(y.data, [12.5, 21.5, 16.5, 27.5, 45.5, 33.5, 24.5, 39.5, 28.5]);
});

test('conv2d is a cross-correlation (no kernel flip) and indexes channels right', () => {
  // Only the top-left tap set: y[oy, ox] = x[oy-1, ox-1] with zero padding.
  const x = t([1, 1, 2, 2], [1, 2, 3, 4]);
  const w = t([1, 1, 3, 3], [1, 0, 0, 0, 0, 0, 0, 0, 0]);
  close(conv2d(x, w, undefined, 1, { top: 1, left: 1, bottom: 1, right: 1 }).data, [0, 0, 0, 1]);
  // 1x1 conv, 2 -> 2 channels: y[o] = sum_i W[o, i] x[i] + b[o]
  const x2 = t([1, 2, 1, 2], [1, 2, 10, 20]);
  const w2 = t([2, 2, 1, 1], [1, 2, 3, 4]);
  const y2 = conv2d(x2, w2, t([2], [0.5, -1]), 1, { top: 0, left: 0, bottom: 0, right: 0 });
  close(y2.data, [21.5, 42.5, 42, 85]);
});

test('conv2d stride 2 with the encoder pad (right 1, bottom 1 only)', () => {
  const x = t([1, 1, 4, 4], Array.from({ length: 16 }, (_, i) => i));
  const pad = { top: 0, left: 0, bottom: 1, right: 1 };
  const ones = t([1, 1, 3, 3], [1, 1, 1, 1, 1, 1, 1, 1, 1]);
  const y = conv2d(x, ones, undefined, 2, pad);
  assert.deepEqual(y.shape, [1, 1, 2, 2]);
  // windows rows 0-2/2-4, cols 0-2/2-4, row and col 4 are zero padding
  close(y.data, [45, 39, 66, 50]);
  // top-left tap: x[2oy, 2ox]; bottom-right tap: x[2oy+2, 2ox+2] (0 where it hits the pad)
  close(conv2d(x, t([1, 1, 3, 3], [1, 0, 0, 0, 0, 0, 0, 0, 0]), undefined, 2, pad).data, [0, 2, 8, 10]);
  close(conv2d(x, t([1, 1, 3, 3], [0, 0, 0, 0, 0, 0, 0, 0, 1]), undefined, 2, pad).data, [10, 0, 0, 0]);
  // odd size: 5 -> 2 (floor((5 + 1 - 3) / 2) + 1, as PyTorch)
  assert.deepEqual(conv2d(t([1, 1, 5, 5], new Array(25).fill(1)), ones, undefined, 2, pad).shape, [1, 1, 2, 2]);
});

test('conv2d agrees with a naive six-loop convolution (odd channel and pixel counts, batch, stride 2)', () => {
  const naive = (x: RefTensor, w: RefTensor, b: RefTensor, stride: number, pt: number, pl: number, Ho: number, Wo: number): number[] => {
    const [N, IC, H, W] = x.shape;
    const [OC, , KH, KW] = w.shape;
    const out: number[] = [];
    for (let n = 0; n < N; n++)
      for (let o = 0; o < OC; o++)
        for (let oy = 0; oy < Ho; oy++)
          for (let ox = 0; ox < Wo; ox++) {
            let s = b.data[o];
            for (let i = 0; i < IC; i++)
              for (let ky = 0; ky < KH; ky++)
                for (let kx = 0; kx < KW; kx++) {
                  const iy = oy * stride + ky - pt;
                  const ix = ox * stride + kx - pl;
                  if (iy >= 0 && iy < H && ix >= 0 && ix < W) s += w.data[((o * IC + i) * KH + ky) * KW + kx] * x.data[((n * IC + i) * H + iy) * W + ix];
                }
            out.push(s);
          }
    return out;
  };
  const x = randomTensor([2, 3, 5, 7], 21);
  const w = randomTensor([5, 3, 3, 3], 22);
  const b = randomTensor([5], 23);
  const y1 = conv2d(x, w, b, 1, { top: 1, left: 1, bottom: 1, right: 1 });
  assert.deepEqual(y1.shape, [2, 5, 5, 7]);
  close(y1.data, naive(x, w, b, 1, 1, 1, 5, 7), 1e-12);
  const y2 = conv2d(x, w, b, 2, { top: 0, left: 0, bottom: 1, right: 1 });
  assert.deepEqual(y2.shape, [2, 5, 2, 3]);
  close(y2.data, naive(x, w, b, 2, 0, 0, 2, 3), 1e-12);
});

test('groupNorm matches hand-computed values', () => {
  // 4 channels, 2 groups, 1x2 planes. Group 0 = {1,3,5,7}: mean 4, var 5. Group 1 = {0,0,2,-2}: mean 0, var 2.
  const x = t([1, 4, 1, 2], [1, 3, 5, 7, 0, 0, 2, -2]);
  const y = groupNorm(x, t([4], [1, 2, 1, 0.5]), t([4], [0, 1, 0, -1]), 2, 0);
  const s5 = Math.sqrt(5);
  const s2 = Math.sqrt(2);
  close(y.data, [-3 / s5, -1 / s5, 2 / s5 + 1, 6 / s5 + 1, 0, 0, 0.5 * s2 - 1, -0.5 * s2 - 1]);
  // eps keeps a constant group finite: (x - mean) = 0 -> beta
  const c = groupNorm(t([1, 2, 1, 1], [3, 3]), t([2], [1, 1]), t([2], [0.25, 0]), 1, 1e-6);
  close(c.data, [0.25, 0]);
  // batch items are normalized independently
  const b = groupNorm(t([2, 2, 1, 1], [0, 2, 10, 30]), t([2], [1, 1]), t([2], [0, 0]), 1, 0);
  close(b.data, [-1, 1, -1, 1]);
});

test('attention core with 2 tokens matches hand-computed softmax', () => {
  // C = 2, scale 1/sqrt(2). k0 = [sqrt2 ln3, 0]: q0 = [1, 0] scores [ln3, 0] -> [3/4, 1/4];
  // q1 = [0, 1] scores [0, 0] -> [1/2, 1/2]. v = [[4, 0], [0, 8]].
  const q = t([1, 2, 2], [1, 0, 0, 1]);
  const k = t([1, 2, 2], [Math.SQRT2 * Math.log(3), 0, 0, 0]);
  const v = t([1, 2, 2], [4, 0, 0, 8]);
  close(attentionCore(q, k, v).data, [3, 2, 2, 4], 1e-12);
  // linear: y = x W^T + b over tokens
  const y = linear(t([1, 2, 2], [1, 2, 3, 4]), t([2, 2], [1, 0, 1, 1]), t([2], [0, 10]));
  close(y.data, [1, 13, 3, 17]);
});

test('silu and nearest upsampling', () => {
  const s = silu(t([4], [0, 1, -1, Infinity]));
  close(s.data.subarray(0, 3), [0, 1 / (1 + Math.exp(-1)), -1 / (1 + Math.exp(1))]);
  assert.equal(s.data[3], Infinity);
  const u = upsampleNearest2x(t([1, 1, 1, 2], [1, 2]));
  assert.deepEqual(u.shape, [1, 1, 2, 4]);
  close(u.data, [1, 1, 2, 2, 1, 1, 2, 2]);
});

// ---------------------------------------------------------------------------------------------
// Whole decoder / encoder
// ---------------------------------------------------------------------------------------------

test('tiny decoder: output shape, trace names in execution order, shortcut conv after conv2', () => {
  const w = randomWeights(TINY);
  const z = randomTensor([2, 4, 3, 5], 7);
  const { output, trace } = referenceDecode(w, TINY, z);
  assert.deepEqual(output.shape, [2, 3, 6, 10]);
  const expected = [
    'post_quant_conv',
    'decoder.conv_in',
    ...midNames('decoder.mid_block'),
    ...resnetNames('decoder.up_blocks.0.resnets.0', false),
    ...resnetNames('decoder.up_blocks.0.resnets.1', false),
    'decoder.up_blocks.0.upsamplers.0.conv',
    ...resnetNames('decoder.up_blocks.1.resnets.0', true), // 8 -> 4 channels
    ...resnetNames('decoder.up_blocks.1.resnets.1', false),
    'decoder.conv_norm_out',
    'decoder.conv_act',
    'decoder.conv_out',
  ];
  assert.deepEqual(
    trace.map((r) => r.name),
    expected,
  );
  for (const r of trace) {
    assert.equal(r.nan, 0, r.name);
    assert.equal(r.inf, 0, r.name);
    assert.ok(r.maxAbs > 0 && Number.isFinite(r.maxAbs), r.name);
  }
  // the last trace entry describes the output itself
  const last = trace[trace.length - 1];
  assert.equal(last.maxAbs, Math.max(...Array.from(output.data, Math.abs)));
  // each batch item is decoded independently
  const one = referenceDecode(w, TINY, { shape: [1, 4, 3, 5], data: z.data.slice(60) });
  close(one.output.data, Array.from(output.data.subarray(180)), 1e-12);
});

test('tiny encoder: mean / logvar shapes and trace order', () => {
  const w = randomWeights(TINY, 3);
  const x = randomTensor([1, 3, 8, 6], 11);
  const { mean, logvar, trace } = referenceEncode(w, TINY, x);
  assert.deepEqual(mean.shape, [1, 4, 4, 3]);
  assert.deepEqual(logvar.shape, [1, 4, 4, 3]);
  const expected = [
    'encoder.conv_in',
    ...resnetNames('encoder.down_blocks.0.resnets.0', false),
    'encoder.down_blocks.0.downsamplers.0.conv',
    ...resnetNames('encoder.down_blocks.1.resnets.0', true), // 4 -> 8 channels
    ...midNames('encoder.mid_block'),
    'encoder.conv_norm_out',
    'encoder.conv_act',
    'encoder.conv_out',
    'quant_conv',
  ];
  assert.deepEqual(
    trace.map((r) => r.name),
    expected,
  );
  // mean and logvar are the two halves of quant_conv's output
  const q = trace[trace.length - 1];
  const all = [...mean.data, ...logvar.data].map(Math.abs);
  assert.equal(q.maxAbs, Math.max(...all));
});

test('fp16 / bf16: outputs are representable, weights are not mutated', () => {
  const w = randomWeights(TINY, 5);
  const before = new Map([...w].map(([k, v]) => [k, v.data.slice()]));
  const z = randomTensor([1, 4, 2, 2], 9, 2);
  const f32 = referenceDecode(w, TINY, z, 'fp32').output;
  const f16 = referenceDecode(w, TINY, z, 'fp16').output;
  const b16 = referenceDecode(w, TINY, z, 'bf16').output;
  for (const [k, v] of w) assert.deepEqual(v.data, before.get(k), `weight ${k} was mutated`);
  for (const v of f16.data) assert.equal(roundF16(v), v);
  for (const v of b16.data) assert.equal(roundBF16(v), v);
  // close to fp32 but not identical: the rounding happened
  let d16 = 0;
  let db16 = 0;
  for (let i = 0; i < f32.data.length; i++) {
    d16 = Math.max(d16, Math.abs(f16.data[i] - f32.data[i]));
    db16 = Math.max(db16, Math.abs(b16.data[i] - f32.data[i]));
  }
  assert.ok(d16 > 0 && d16 < 0.05, `fp16 diff ${d16}`);
  assert.ok(db16 > d16 && db16 < 0.3, `bf16 diff ${db16}`);
  // an encoder round trip in fp16 is representable too
  const enc = referenceEncode(w, TINY, randomTensor([1, 3, 4, 4], 2), 'fp16');
  for (const v of enc.mean.data) assert.equal(roundF16(v), v);
});

test('fp16 overflow: the op past 65504 reports Inf, NaN follows downstream; fp32 and bf16 stay finite', () => {
  const w = randomWeights(TINY, 4);
  // post_quant_conv = 1000 * identity, no bias: latents of 100 give 1e5 > 65504 in fp16.
  const L = TINY.latentChannels;
  const pq = new Float64Array(L * L);
  for (let i = 0; i < L; i++) pq[i * L + i] = 1000;
  w.set('post_quant_conv.weight', { shape: [L, L, 1, 1], data: pq });
  w.set('post_quant_conv.bias', { shape: [L], data: new Float64Array(L) });
  const z: RefTensor = { shape: [1, L, 2, 2], data: new Float64Array(L * 4).fill(100) };
  z.data[0] = 0.01; // one small value keeps part of the tensor finite

  const { output, trace } = referenceDecode(w, TINY, z, 'fp16');
  const by = new Map(trace.map((r) => [r.name, r]));
  const pqt = by.get('post_quant_conv')!;
  assert.equal(pqt.inf, L * 4 - 1);
  assert.equal(pqt.nan, 0);
  assert.equal(pqt.maxAbs, roundF16(10)); // the one finite value, 0.01 * 1000
  // conv_in mixes +Inf with weights of both signs: Inf - Inf = NaN
  assert.ok(by.get('decoder.conv_in')!.nan > 0);
  // every group downstream contains NaN: all NaN from the first GroupNorm on
  const n1 = by.get('decoder.mid_block.resnets.0.norm1')!;
  assert.ok(n1.nan > 0);
  assert.ok(output.data.every((v) => Number.isNaN(v)));
  assert.equal(trace[trace.length - 1].nan, output.data.length);

  for (const p of ['fp32', 'bf16'] as const) {
    const r = referenceDecode(w, TINY, z, p);
    for (const e of r.trace) assert.equal(e.inf + e.nan, 0, `${p} ${e.name}`);
    assert.ok(r.trace[0].maxAbs >= 99_000, p);
  }
});

test('missing weights and channel mismatches throw', () => {
  const w = randomWeights(TINY);
  w.delete('decoder.up_blocks.1.resnets.0.conv_shortcut.weight');
  assert.throws(() => referenceDecode(w, TINY, randomTensor([1, 4, 2, 2], 1)), /conv_shortcut/);
  assert.throws(() => referenceDecode(randomWeights(TINY), TINY, randomTensor([1, 3, 2, 2], 1)), /channels/);
  const w2 = randomWeights(TINY);
  w2.delete('decoder.conv_out.bias');
  assert.throws(() => referenceDecode(w2, TINY, randomTensor([1, 4, 2, 2], 1)), /missing weight decoder\.conv_out\.bias/);
});

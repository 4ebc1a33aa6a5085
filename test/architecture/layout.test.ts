/**
 * The one AutoencoderKL description (src/architecture/) against counts made without it: the fixture
 * generator's own tensor list (fixtures/generate.ts, which shares no code with src/), the published
 * parameter counts of the SDXL VAE, and a FLOP count made here from that tensor list and the key
 * paths alone. Also: the graph builders and fix's stage walk follow the same description.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FLUX_CFG, FOLDER_CFG, NARROW_CFG, NO_MID_ATTENTION_CFG, SD3_CFG, TINY, vaeTensorSpecs } from '../../fixtures/generate.js';
import type { RefConfig } from '../reference/types.js';
import { type VaeArchitecture, SDXL_SCALING_FACTOR } from '../../src/architecture/vae-architecture.js';
import { expectedShapes } from '../../src/architecture/shapes.js';
import { decoderFlops, encoderFlops } from '../../src/architecture/flops.js';
import { partLayout } from '../../src/architecture/layout.js';

const SDXL: RefConfig = { blockOutChannels: [128, 256, 512, 512], layersPerBlock: 2, groups: 32, latentChannels: 4, inChannels: 3, outChannels: 3, eps: 1e-6 };

const CONFIGS: Record<string, RefConfig> = {
  TINY,
  FOLDER_CFG,
  NARROW_CFG,
  SDXL,
  FLUX_CFG,
  SD3_CFG,
  NO_MID_ATTENTION_CFG,
  'FLUX.1 full size': { ...SDXL, latentChannels: 16, quantConv: false },
  'three levels, 3 layers, wide latent': { ...TINY, blockOutChannels: [16, 48, 48], layersPerBlock: 3, groups: 16, latentChannels: 16 },
  'one level': { ...TINY, blockOutChannels: [32], layersPerBlock: 1 },
  'shrinking widths, 1-channel in/out': { ...TINY, blockOutChannels: [64, 32, 32], inChannels: 1, outChannels: 1 },
};

function arch(cfg: RefConfig): VaeArchitecture {
  return {
    blockOutChannels: cfg.blockOutChannels,
    layersPerBlock: cfg.layersPerBlock,
    groups: cfg.groups,
    eps: cfg.eps,
    latentChannels: cfg.latentChannels,
    inChannels: cfg.inChannels,
    outChannels: cfg.outChannels,
    midAttention: cfg.midAttention ?? true,
    quantConv: cfg.quantConv ?? true,
    postQuantConv: cfg.quantConv ?? true,
    scalingFactor: SDXL_SCALING_FACTOR,
    shiftFactor: 0,
    scalingFactorSource: 'default',
    family: { family: null, source: 'default' },
    hasEncoder: true,
    hasDecoder: true,
  };
}

const isDecoderKey = (k: string) => k.startsWith('decoder.') || k.startsWith('post_quant_conv.');
const count = (shape: readonly number[]) => shape.reduce((a, d) => a * d, 1);

for (const [name, cfg] of Object.entries(CONFIGS)) {
  test(`${name}: expected shapes are exactly the fixture generator's tensor list, split into encoder and decoder`, () => {
    const want = new Map(vaeTensorSpecs(cfg).map((s) => [s.name, s.shape]));
    const a = arch(cfg);
    const dec = expectedShapes(a, 'decoder');
    const enc = expectedShapes(a, 'encoder');
    assert.deepEqual([...dec.keys()].filter((k) => !isDecoderKey(k)), [], 'decoder keys outside the decoder');
    assert.deepEqual([...enc.keys()].filter(isDecoderKey), [], 'encoder keys inside the decoder');
    const got = new Map([...enc, ...dec]);
    assert.equal(got.size, enc.size + dec.size, 'no key in both parts');
    assert.deepEqual(new Map([...got].sort()), new Map([...want].sort()));
  });
}

test('SDXL: 49,490,199 decoder and 34,163,664 encoder parameters (83,653,863 in all, as published for AutoencoderKL SDXL)', () => {
  const a = arch(SDXL);
  const total = (m: Map<string, number[]>) => [...m.values()].reduce((s, shape) => s + count(shape), 0);
  assert.equal(total(expectedShapes(a, 'decoder')), 49_490_199);
  assert.equal(total(expectedShapes(a, 'encoder')), 34_163_664);
});

/**
 * MACs counted from the generator's tensor list: each conv / Linear weight costs its element count
 * per output pixel, the pixel count read off its key (the decoder's up level k runs at 2^k times the
 * latent size, its upsampler conv at 2^(k+1); the encoder's down level i at 2^-i, its downsampler
 * conv at 2^-(i+1)); the mid attention adds 2 T^2 C for its scores and their product with v.
 */
function independentMacs(cfg: RefConfig, part: 'decoder' | 'encoder', h: number, w: number): number {
  let macs = 0;
  const n = cfg.blockOutChannels.length;
  for (const s of vaeTensorSpecs(cfg)) {
    if (!s.name.endsWith('.weight') || s.shape.length < 2 || isDecoderKey(s.name) !== (part === 'decoder')) continue;
    let f: number; // linear size factor relative to the part's input
    let m: RegExpMatchArray | null;
    if ((m = s.name.match(/^decoder\.up_blocks\.(\d+)\.(resnets|upsamplers)/))) f = 2 ** (Number(m[1]) + (m[2] === 'upsamplers' ? 1 : 0));
    else if ((m = s.name.match(/^encoder\.down_blocks\.(\d+)\.(resnets|downsamplers)/))) f = 2 ** -(Number(m[1]) + (m[2] === 'downsamplers' ? 1 : 0));
    else if (/^decoder\.(conv_norm_out|conv_out)/.test(s.name)) f = 2 ** (n - 1);
    else if (/^encoder\.(mid_block|conv_out)|^quant_conv/.test(s.name)) f = 2 ** -(n - 1);
    else f = 1; // decoder conv_in / mid block / post_quant_conv, encoder conv_in
    macs += count(s.shape) * (h * f) * (w * f);
  }
  const t = part === 'decoder' ? h * w : (h * w) / 4 ** (n - 1);
  const c = cfg.blockOutChannels[n - 1];
  return macs + (cfg.midAttention === false ? 0 : 2 * t * t * c);
}

for (const [name, cfg] of Object.entries(CONFIGS)) {
  test(`${name}: decoder and encoder FLOPs equal a count made from the tensor list and key paths`, () => {
    const a = arch(cfg);
    const f = 2 ** (cfg.blockOutChannels.length - 1);
    assert.equal(decoderFlops(a, 2, 6, 10), 2 * 2 * independentMacs(cfg, 'decoder', 6, 10));
    assert.equal(encoderFlops(a, 3, 4 * f, 2 * f), 3 * 2 * independentMacs(cfg, 'encoder', 4 * f, 2 * f));
  });
}

test('FLUX.1 full size: the SDXL layout without quant convs and with 16 latent channels (49.49M decoder parameters: 16 more conv_in inputs, no post_quant_conv)', () => {
  const flux = arch({ ...SDXL, latentChannels: 16, quantConv: false });
  const total = (m: Map<string, number[]>) => [...m.values()].reduce((s, shape) => s + count(shape), 0);
  // SDXL's decoder, less post_quant_conv (4*4 + 4), plus conv_in's 12 more input channels (12 * 512 * 9)
  assert.equal(total(expectedShapes(flux, 'decoder')), 49_490_199 - 20 + 12 * 512 * 9);
  assert.ok(!expectedShapes(flux, 'decoder').has('post_quant_conv.weight'));
  assert.ok(!expectedShapes(flux, 'encoder').has('quant_conv.weight'));
  assert.deepEqual(expectedShapes(flux, 'encoder').get('encoder.conv_out.weight'), [32, 512, 3, 3]);
});

test('SDXL decoder: about 2.5 TFLOP at 512x512 output and 10.5 at 1024x1024', () => {
  const a = arch(SDXL);
  const t512 = decoderFlops(a, 1, 64, 64) / 1e12;
  const t1024 = decoderFlops(a, 1, 128, 128) / 1e12;
  assert.ok(t512 > 2.4 && t512 < 2.6, `512x512: ${t512}`);
  assert.ok(t1024 > 10.2 && t1024 < 10.8, `1024x1024: ${t1024}`);
});

test('without mid attention the layout has no attention layer, and its keys disappear from the expected shapes', () => {
  const a = { ...arch(TINY), midAttention: false };
  for (const part of ['decoder', 'encoder'] as const) {
    assert.equal(partLayout(a, part).layers.filter((l) => l.kind === 'attention').length, 0);
    assert.equal([...expectedShapes(a, part).keys()].filter((k) => k.includes('attentions')).length, 0);
  }
  const withAtt = decoderFlops(arch(TINY), 1, 8, 8);
  const c = 64;
  const t = 64;
  assert.equal(withAtt - decoderFlops(a, 1, 8, 8), 2 * (4 * c * c * t + 2 * t * t * c));
});

test('layout: spatial factors, shortcuts exactly where widths change, the input and output widths', () => {
  const a = arch(SDXL);
  const dec = partLayout(a, 'decoder');
  const enc = partLayout(a, 'encoder');
  assert.equal(dec.spatialFactor, 8);
  assert.equal(enc.spatialFactor, 1 / 8);
  assert.equal(dec.inputChannels, 4);
  assert.equal(enc.outputChannels, 8);
  const shortcuts = (l: typeof dec) => l.layers.flatMap((n) => (n.kind === 'resnet' && n.shortcut ? [n.path] : []));
  assert.deepEqual(shortcuts(dec), ['decoder.up_blocks.2.resnets.0', 'decoder.up_blocks.3.resnets.0']);
  assert.deepEqual(shortcuts(enc), ['encoder.down_blocks.1.resnets.0', 'encoder.down_blocks.2.resnets.0']);
});

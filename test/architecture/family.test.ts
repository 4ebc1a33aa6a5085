/**
 * How a VAE's family and latent factors are decided (src/architecture/family.ts,
 * src/weights/resolve-architecture.ts, src/weights/checkpoint-family.ts), as pure functions: the
 * published factors of each family, the order of evidence (stated factors > stated family >
 * config.json > whole checkpoint > default), quant convs and mid attention from config.json or the
 * keys, and config values that contradict the weights.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { FAMILIES, chooseLatentSpace, describeLatentSpace, latentsNotInterchangeable } from '../../src/architecture/family.js';
import { expectedShapes } from '../../src/architecture/shapes.js';
import type { VaeArchitecture } from '../../src/architecture/vae-architecture.js';
import { BadInputError } from '../../src/errors.js';
import { checkpointFamily } from '../../src/weights/checkpoint-family.js';
import { resolveArchitecture } from '../../src/weights/resolve-architecture.js';

test('the published latent layouts (issue 11): channels, quant convs, scaling and shift per family', () => {
  assert.deepEqual(FAMILIES.sd15, { name: 'SD 1.x/2.x', latentChannels: 4, scalingFactor: 0.18215, shiftFactor: 0, quantConvs: true });
  assert.deepEqual(FAMILIES.sdxl, { name: 'SDXL', latentChannels: 4, scalingFactor: 0.13025, shiftFactor: 0, quantConvs: true });
  assert.deepEqual(FAMILIES.sd3, { name: 'SD3/3.5', latentChannels: 16, scalingFactor: 1.5305, shiftFactor: 0.0609, quantConvs: false });
  assert.deepEqual(FAMILIES.flux, { name: 'FLUX.1', latentChannels: 16, scalingFactor: 0.3611, shiftFactor: 0.1159, quantConvs: false });
});

test('order of evidence: stated factors, stated family, config.json, whole checkpoint, default', () => {
  const pick = (...a: Parameters<typeof chooseLatentSpace>) => {
    const l = chooseLatentSpace(...a);
    return [l.family.family, l.family.source, l.scalingFactor, l.shiftFactor, l.scalingFactorSource];
  };
  const sd3Config = { scaling_factor: 1.5305, shift_factor: 0.0609 };
  assert.deepEqual(pick('f', 16, undefined, undefined), ['flux', 'default', 0.3611, 0.1159, 'default']);
  assert.deepEqual(pick('f', 4, undefined, undefined), ['sdxl', 'default', 0.13025, 0, 'default']);
  assert.deepEqual(pick('f', 16, undefined, 'sd3'), ['sd3', 'checkpoint', 1.5305, 0.0609, 'checkpoint']);
  // a checkpoint marker of a family with other channels is ignored
  assert.deepEqual(pick('f', 16, undefined, 'sd15'), ['flux', 'default', 0.3611, 0.1159, 'default']);
  assert.deepEqual(pick('f', 16, sd3Config, 'flux'), ['sd3', 'config', 1.5305, 0.0609, 'config']);
  assert.deepEqual(pick('f', 4, { scaling_factor: 0.18215 }, undefined), ['sd15', 'config', 0.18215, 0, 'config']);
  assert.deepEqual(pick('f', 4, { scaling_factor: 0.2, shift_factor: null }, undefined), [null, 'config', 0.2, 0, 'config']);
  assert.deepEqual(pick('f', 16, sd3Config, undefined, { family: 'flux' }), ['flux', 'family-flag', 0.3611, 0.1159, 'family-flag']);
  assert.deepEqual(pick('f', 16, sd3Config, undefined, { family: 'flux', shiftFactor: 0 }), ['flux', 'family-flag', 0.3611, 0, 'flag']);
  assert.deepEqual(pick('f', 4, undefined, undefined, { scalingFactor: 0.5 }), ['sdxl', 'default', 0.5, 0, 'flag']);
  // 8 latent channels: no family, SDXL's factor as before families were known
  assert.deepEqual(pick('f', 8, undefined, undefined), [null, 'default', 0.13025, 0, 'default']);
  assert.throws(() => chooseLatentSpace('vae.safetensors', 4, undefined, undefined, { family: 'flux' }), (e: Error) => e instanceof BadInputError && /vae\.safetensors: has 4 latent channels; the FLUX\.1 family \(flux\) has 16/.test(e.message));
});

test('whole checkpoints: the family of the model stored beside the VAE, none when no or several markers show', () => {
  assert.equal(checkpointFamily(['first_stage_model.decoder.conv_in.weight', 'model.diffusion_model.double_blocks.0.img_attn.qkv.weight']), 'flux');
  assert.equal(checkpointFamily(['model.diffusion_model.joint_blocks.3.x_block.mlp.fc1.weight']), 'sd3');
  assert.equal(checkpointFamily(['conditioner.embedders.1.model.ln_final.weight']), 'sdxl');
  assert.equal(checkpointFamily(['cond_stage_model.transformer.text_model.final_layer_norm.weight']), 'sd15');
  assert.equal(checkpointFamily(['first_stage_model.decoder.conv_in.weight']), undefined);
  assert.equal(checkpointFamily(['cond_stage_model.x', 'conditioner.embedders.0.y']), undefined);
});

/** Internal-naming shapes of a small VAE: expected shapes of an architecture, as a file would hold them. */
function shapesOf(arch: Partial<VaeArchitecture>): Map<string, number[]> {
  const a = { blockOutChannels: [32, 64], layersPerBlock: 1, groups: 32, eps: 1e-6, latentChannels: 4, inChannels: 3, outChannels: 3, midAttention: true, quantConv: true, postQuantConv: true, ...arch } as VaeArchitecture;
  return new Map([...expectedShapes(a, 'encoder'), ...expectedShapes(a, 'decoder')]);
}

test('quant convs and mid attention: from config.json when it says, else from the keys', () => {
  const noQuant = shapesOf({ latentChannels: 16, quantConv: false, postQuantConv: false });
  const a = resolveArchitecture('f', noQuant);
  assert.deepEqual([a.latentChannels, a.quantConv, a.postQuantConv, a.midAttention], [16, false, false, true]);
  assert.equal(describeLatentSpace(a), 'FLUX.1-style: 16 latent channels, no quant convs, scaling 0.3611, shift 0.1159 (default for 16 latent channels: the weights cannot tell SD3/3.5 from FLUX.1)');
  const withQuant = resolveArchitecture('f', shapesOf({}));
  assert.deepEqual([withQuant.quantConv, withQuant.postQuantConv], [true, true]);
  // config.json says no quant convs although the file holds them: the config rules, the keys are ignored
  const cfg = resolveArchitecture('f', shapesOf({}), { use_quant_conv: false, use_post_quant_conv: false, mid_block_add_attention: false });
  assert.deepEqual([cfg.quantConv, cfg.postQuantConv, cfg.midAttention], [false, false, false]);
  // decoder-only file without post_quant_conv: the encoder side follows
  const dec = new Map([...noQuant].filter(([k]) => k.startsWith('decoder.')));
  const d = resolveArchitecture('f', dec);
  assert.deepEqual([d.hasEncoder, d.quantConv, d.postQuantConv], [false, false, false]);
  assert.throws(() => resolveArchitecture('vae.safetensors', noQuant, { latent_channels: 4 }), /vae\.safetensors: config\.json latent_channels 4 does not match the weights \(16\)/);
});

test('latents are interchangeable only with the same channels and, where both are stated, the same family', () => {
  const arch = (latentChannels: number, family: VaeArchitecture['family']) => ({ latentChannels, family }) as VaeArchitecture;
  assert.match(latentsNotInterchangeable(arch(16, { family: 'flux', source: 'default' }), arch(4, { family: 'sdxl', source: 'default' }))!, /16 latent channels against 4/);
  assert.match(latentsNotInterchangeable(arch(16, { family: 'sd3', source: 'config' }), arch(16, { family: 'flux', source: 'family-flag' }))!, /SD3\/3\.5 and FLUX\.1 latent spaces differ/);
  assert.equal(latentsNotInterchangeable(arch(16, { family: 'sd3', source: 'config' }), arch(16, { family: 'flux', source: 'default' })), null);
  assert.equal(latentsNotInterchangeable(arch(4, { family: 'sdxl', source: 'config' }), arch(4, { family: 'sdxl', source: 'checkpoint' })), null);
});

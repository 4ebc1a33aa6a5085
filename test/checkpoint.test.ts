/**
 * A whole SD/SDXL checkpoint: the VAE's tensors under `first_stage_model.` among the UNet's and text
 * encoders'. The loader must find the VAE and read none of the other tensors' data.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { FIXTURE_SEED, TINY, makeVaeWeights } from '../fixtures/generate.js';
import { renameWeights } from '../fixtures/naming.js';
import { encodeSafetensors } from '../fixtures/safetensors-writer.js';
import { SafetensorsFile } from '../src/weights/safetensors.js';
import { loadVae } from '../src/weights/load.js';
import { roundF16 } from './reference/round.js';

test('a whole checkpoint yields its VAE without reading the other tensors', () => {
  const vae = renameWeights(makeVaeWeights(TINY, FIXTURE_SEED), 'original', TINY.blockOutChannels.length, 'first_stage_model.');
  const others = [
    { name: 'model.diffusion_model.input_blocks.0.0.weight', shape: [320, 4, 3, 3] },
    { name: 'model.diffusion_model.out.2.weight', shape: [4, 320, 3, 3] },
    { name: 'conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight', shape: [1000, 64] },
    // a UNet key that also ends like a VAE key must not be taken for one
    { name: 'model.diffusion_model.conv_in.weight', shape: [320, 4, 3, 3] },
  ].map((t) => ({ ...t, dtype: 'F16' as const, data: new Float64Array(t.shape.reduce((a, b) => a * b, 1)).fill(0.5) }));
  const file = join(mkdtempSync(join(tmpdir(), 'vaecheck-ckpt-')), 'sd_xl_base.safetensors');
  writeFileSync(file, encodeSafetensors([...others, ...[...vae].map(([name, t]) => ({ name, dtype: 'F16' as const, shape: t.shape, data: t.data.map(roundF16) }))]));
  const read: string[] = [];
  const original = SafetensorsFile.prototype.readBytes;
  SafetensorsFile.prototype.readBytes = function (name: string) {
    read.push(name);
    return original.call(this, name);
  };
  try {
    const loaded = loadVae(file);
    assert.equal(loaded.prefix, 'first_stage_model.');
    assert.equal(loaded.naming, 'original');
    assert.deepEqual(loaded.arch.blockOutChannels, TINY.blockOutChannels);
    assert.ok(read.length > 0 && read.every((n) => n.startsWith('first_stage_model.')), `read: ${read.filter((n) => !n.startsWith('first_stage_model.')).join(', ')}`);
    assert.equal(read.length, loaded.weights.size);
  } finally {
    SafetensorsFile.prototype.readBytes = original;
  }
});

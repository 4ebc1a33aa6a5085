/**
 * A full-size SDXL-architecture VAE (widths 128-512, 2 layers per block, 32 groups; seeded random
 * weights from the fixture generator, written to a temporary file in both namings) decoded and
 * encoded by the ONNX graphs, against the independent float64 reference, at a small latent so the
 * float64 reference stays quick (about 4 s decode).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { TINY, makeVaeWeights } from '../fixtures/generate.js';
import { renameWeights } from '../fixtures/naming.js';
import { encodeSafetensors } from '../fixtures/safetensors-writer.js';
import { VaeRunner } from '../src/vae-runner.js';
import { loadVae } from '../src/weights/load.js';
import { maxAbsDiff } from './helpers/fixtures.js';
import { referenceDecode, referenceEncode } from './reference/vae64.js';
import type { RefConfig, RefWeights } from './reference/types.js';

const SDXL: RefConfig = { ...TINY, blockOutChannels: [128, 256, 512, 512], layersPerBlock: 2, groups: 32 };

function write(path: string, w: RefWeights, naming: 'diffusers' | 'original'): void {
  const named = naming === 'original' ? renameWeights(w, 'original', SDXL.blockOutChannels.length) : w;
  writeFileSync(path, encodeSafetensors([...named].map(([name, t]) => ({ name, dtype: 'F32', shape: t.shape, data: t.data }))));
}

test('full-size SDXL architecture: fp32 decode (4x4 latent, batch 2) and encode (32x32) match the float64 reference within 1e-4, both namings', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vaecheck-sdxl-'));
  try {
    const w = makeVaeWeights(SDXL, 7);
    const z = { shape: [2, 4, 4, 4], data: Float64Array.from({ length: 128 }, (_, i) => Math.fround(Math.sin(i * 0.37) * 6)) };
    const x = { shape: [1, 3, 32, 32], data: Float64Array.from({ length: 3 * 32 * 32 }, (_, i) => Math.fround(Math.cos(i * 0.11))) };
    const refDec = referenceDecode(w, SDXL, z, 'fp32').output;
    const refEnc = referenceEncode(w, SDXL, x, 'fp32');
    for (const naming of ['diffusers', 'original'] as const) {
      const file = join(dir, `sdxl-${naming}.safetensors`);
      write(file, w, naming);
      const vae = loadVae(file);
      assert.deepEqual(vae.arch.blockOutChannels, [128, 256, 512, 512]);
      const dec = await VaeRunner.create(vae, 'decoder');
      const out = (await dec.run({ shape: z.shape, data: Float32Array.from(z.data) })).output;
      await dec.release();
      const e1 = maxAbsDiff(out.data, refDec.data);
      assert.ok(e1 <= 1e-4, `${naming} decode: max abs error ${e1}`);
      const enc = await VaeRunner.create(vae, 'encoder');
      const r = await enc.run({ shape: x.shape, data: Float32Array.from(x.data) });
      await enc.release();
      const e2 = Math.max(maxAbsDiff(r.output.data, refEnc.mean.data), maxAbsDiff(r.logvar!.data, refEnc.logvar.data));
      assert.ok(e2 <= 1e-4, `${naming} encode: max abs error ${e2}`);
      console.log(`${naming}: decode max abs error ${e1.toExponential(2)}, encode ${e2.toExponential(2)}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Tiled decoding (src/tiled-decode.ts through VaeRunner) against an independent implementation of
 * diffusers' AutoencoderKL.tiled_decode written here from its Python (all tiles decoded first, blend_v
 * / blend_h in place, crops concatenated), decoding each tile with the float64 reference VAE
 * (test/reference/vae64.ts). Small tiles (32 px = 4 latent cells, stride 3, blend 8 px) on the tiny
 * fixture VAE give seams, edge tiles cut short, non-square latents and a batch of 2.
 */
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { test } from 'node:test';
import { UsageError } from '../src/errors.js';
import { VaeRunner } from '../src/vae-runner.js';
import { AUTO_TILE_LATENT_AREA, shouldTile, tileGeometry } from '../src/tiled-decode.js';
import { loadVae } from '../src/weights/load.js';
import { referenceDecode } from './reference/vae64.js';
import { roundF16 } from './reference/round.js';
import type { RefConfig, RefPrecision, RefTensor, RefWeights } from './reference/types.js';
import { fixtures, maxAbsDiff, rawLatents, referenceWeightsOf } from './helpers/fixtures.js';

const fx = fixtures();
const TILE_PX = 32;

/** diffusers' tiled_decode, transcribed: tile_sample_min_size = samplePx, overlap 0.25. */
function diffusersTiledDecode(w: RefWeights, cfg: RefConfig, z: RefTensor, samplePx: number, precision: RefPrecision): RefTensor {
  const round = precision === 'fp16' ? roundF16 : precision === 'fp32' ? Math.fround : (x: number) => x;
  const tileLatent = Math.floor(samplePx / 2 ** (cfg.blockOutChannels.length - 1));
  const overlapSize = Math.floor(tileLatent * (1 - 0.25));
  const blendExtent = Math.floor(samplePx * 0.25);
  const rowLimit = samplePx - blendExtent;
  const [N, C, H, W] = z.shape;
  const slice = (t: RefTensor, y0: number, y1: number, x0: number, x1: number): RefTensor => {
    const [n, c, h, wd] = t.shape;
    y1 = Math.min(y1, h);
    x1 = Math.min(x1, wd);
    const out = new Float64Array(n * c * (y1 - y0) * (x1 - x0));
    let k = 0;
    for (let a = 0; a < n * c; a++) for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) out[k++] = t.data[(a * h + y) * wd + x];
    return { shape: [n, c, y1 - y0, x1 - x0], data: out };
  };
  const at = (t: RefTensor, a: number, y: number, x: number) => (a * t.shape[2] + y) * t.shape[3] + x;
  const blendV = (a: RefTensor, b: RefTensor, extent: number) => {
    extent = Math.min(a.shape[2], b.shape[2], extent);
    for (let y = 0; y < extent; y++) {
      for (let p = 0; p < N * C; p++) {
        for (let x = 0; x < b.shape[3]; x++) {
          const va = a.data[at(a, p, a.shape[2] - extent + y, x)];
          const i = at(b, p, y, x);
          b.data[i] = round(round(va * Math.fround(1 - y / extent)) + round(b.data[i] * Math.fround(y / extent)));
        }
      }
    }
  };
  const blendH = (a: RefTensor, b: RefTensor, extent: number) => {
    extent = Math.min(a.shape[3], b.shape[3], extent);
    for (let x = 0; x < extent; x++) {
      for (let p = 0; p < N * C; p++) {
        for (let y = 0; y < b.shape[2]; y++) {
          const va = a.data[at(a, p, y, a.shape[3] - extent + x)];
          const i = at(b, p, y, x);
          b.data[i] = round(round(va * Math.fround(1 - x / extent)) + round(b.data[i] * Math.fround(x / extent)));
        }
      }
    }
  };
  const rows: RefTensor[][] = [];
  for (let i = 0; i < H; i += overlapSize) {
    const row: RefTensor[] = [];
    for (let j = 0; j < W; j += overlapSize) row.push(referenceDecode(w, cfg, slice(z, i, i + tileLatent, j, j + tileLatent), precision).output);
    rows.push(row);
  }
  const resultRows: RefTensor[][] = [];
  for (let i = 0; i < rows.length; i++) {
    const resultRow: RefTensor[] = [];
    for (let j = 0; j < rows[i].length; j++) {
      const tile = rows[i][j];
      if (i > 0) blendV(rows[i - 1][j], tile, blendExtent);
      if (j > 0) blendH(rows[i][j - 1], tile, blendExtent);
      resultRow.push(slice(tile, 0, rowLimit, 0, rowLimit));
    }
    resultRows.push(resultRow);
  }
  // torch.cat(result_row, dim=3) then torch.cat(result_rows, dim=2)
  const outH = resultRows.reduce((s, r) => s + r[0].shape[2], 0);
  const outW = resultRows[0].reduce((s, t) => s + t.shape[3], 0);
  const out: RefTensor = { shape: [N, 3, outH, outW], data: new Float64Array(N * 3 * outH * outW) };
  let y0 = 0;
  for (const r of resultRows) {
    let x0 = 0;
    for (const t of r) {
      for (let p = 0; p < N * 3; p++) for (let y = 0; y < t.shape[2]; y++) for (let x = 0; x < t.shape[3]; x++) out.data[at(out, p, y0 + y, x0 + x)] = t.data[at(t, p, y, x)];
      x0 += t.shape[3];
    }
    y0 += r[0].shape[2];
  }
  return out;
}

const f = fx.weights('tiny-diffusers-f32.safetensors');
const vae = loadVae(f.path);
const refWeights = referenceWeightsOf(f);

for (const name of ['latents-8x8.npy', 'latents-2x12x20.npy']) {
  test(`fp32 tiled decode of ${name} matches diffusers' algorithm on the float64 reference`, async (t) => {
    const z = rawLatents(fx.latents(name).path);
    const runner = await VaeRunner.create(vae, 'decoder', { precision: 'fp32', tiling: 'always', tileSampleSize: TILE_PX });
    const whole = await VaeRunner.create(vae, 'decoder', { precision: 'fp32', tiling: 'never' });
    try {
      const got = await runner.run(z.f32);
      const untiled = await whole.run(z.f32);
      const ref = diffusersTiledDecode(refWeights, f.config, z.ref, TILE_PX, 'fp32');
      assert.deepEqual(got.output.shape, ref.shape);
      assert.deepEqual(got.output.shape, untiled.output.shape, 'same size as a whole decode');
      const err = maxAbsDiff(got.output.data, ref.data);
      const seams = maxAbsDiff(got.output.data, untiled.output.data);
      t.diagnostic(`max abs error vs reference ${err.toExponential(2)}; tiled vs whole decode differ by up to ${seams.toFixed(3)}`);
      assert.ok(err <= 1e-4, `max abs error ${err}`);
      assert.ok(seams > 100 * 1e-4, 'tiling changed the output (else this test could not tell tiled from whole)');
      const [, , h, w] = z.f32.shape;
      assert.deepEqual(got.tiling, { tileSampleSize: TILE_PX, tileLatentSize: 4, overlap: 0.25, rows: Math.ceil(h / 3), columns: Math.ceil(w / 3) });
      assert.equal(untiled.tiling, undefined);
    } finally {
      await runner.release();
      await whole.release();
    }
  });
}

test('fp16 tiled decode: blended values are float16 numbers and follow the fp16 reference', async (t) => {
  const z = rawLatents(fx.latents('latents-8x8.npy').path);
  const runner = await VaeRunner.create(vae, 'decoder', { precision: 'fp16', tiling: 'always', tileSampleSize: TILE_PX, instrument: true });
  try {
    const got = await runner.run(z.f32);
    for (const v of got.output.data) assert.equal(v, roundF16(v), `${v} is not a float16 value`);
    const ref = diffusersTiledDecode(refWeights, f.config, z.ref, TILE_PX, 'fp16');
    const ref32 = diffusersTiledDecode(refWeights, f.config, z.ref, TILE_PX, 'fp32');
    const err = maxAbsDiff(got.output.data, ref.data);
    const emu = maxAbsDiff(ref.data, ref32.data);
    t.diagnostic(`max abs difference to the fp16 reference ${err.toExponential(2)} (fp16 vs fp32 reference: ${emu.toExponential(2)})`);
    assert.ok(err <= 2 * emu + 2e-3, `max abs error ${err}`);
    // instrumentation over tiles: the output layer's largest |x| is the largest over the tiled output's tiles
    const last = got.layers!.at(-1)!;
    assert.equal(last.name, 'decoder.conv_out');
    let outMax = 0;
    for (const v of got.output.data) outMax = Math.max(outMax, Math.abs(v));
    assert.ok(last.maxAbs >= outMax - 1e-3, `conv_out max ${last.maxAbs} < output max ${outMax}`);
    assert.equal(last.nan + last.inf, 0);
  } finally {
    await runner.release();
  }
});

test("geometry is diffusers': SDXL's sample_size 1024 gives 128-cell tiles every 96 cells, 256 px blends", () => {
  assert.deepEqual(tileGeometry(1024, 4), { sampleSize: 1024, latentSize: 128, stride: 96, blend: 256, keep: 768 });
  assert.deepEqual(tileGeometry(512, 4), { sampleSize: 512, latentSize: 64, stride: 48, blend: 128, keep: 384 });
});

test("'auto' tiles only latents larger than a tile and than 128x128; 'always' any latent larger than a tile", () => {
  const g = tileGeometry(1024, 4);
  assert.equal(shouldTile('auto', 128, 128, g), false);
  assert.equal(shouldTile('auto', 256, 256, g), true);
  assert.equal(shouldTile('auto', 100, 200, g), 100 * 200 > AUTO_TILE_LATENT_AREA);
  assert.equal(shouldTile('always', 128, 129, g), true);
  assert.equal(shouldTile('always', 128, 128, g), false);
  assert.equal(shouldTile('never', 512, 512, g), false);
  const tiny = tileGeometry(8, 4); // one latent cell per tile: cannot advance
  assert.equal(shouldTile('auto', 512, 512, tiny), false);
  assert.throws(() => shouldTile('always', 512, 512, tiny), UsageError);
});

test('a config.json sample_size sets the tile size; a bad tileSampleSize or tiling mode is a usage error', async () => {
  const folder = fx.weights('tiny-folder/diffusion_pytorch_model.fp16.safetensors');
  const v = loadVae(dirname(folder.path));
  assert.equal(v.arch.sampleSize, 64);
  await assert.rejects(VaeRunner.create(vae, 'decoder', { tileSampleSize: 0 }), UsageError);
  await assert.rejects(VaeRunner.create(vae, 'decoder', { tiling: 'sometimes' as never }), UsageError);
});

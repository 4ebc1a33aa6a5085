/**
 * matrix.png's text: the pass rule with every threshold in force, and which latent the thumbnails show
 * when the figures are means over several.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { matrixSvg } from '../../src/report/matrix-image.js';
import type { CellResult } from '../../src/compare/run-compare.js';

function result(latents: number, minSsim: number) {
  const cell = (vae: string, precision: 'fp32' | 'fp16', pass: boolean) =>
    ({ key: `${vae}@${precision}`, vae, precision, pass, isReference: precision === 'fp32', nonFiniteFraction: pass ? 0 : 1, psnr: { mean: 50, std: 1, n: latents } }) as unknown as CellResult;
  return {
    reference: { vae: 'a', precision: 'fp32' as const, key: 'a@fp32' },
    precisions: ['fp32', 'fp16'] as ('fp32' | 'fp16')[],
    vaes: [{ label: 'a', source: 'a', weightsFile: 'a.safetensors', sha256: '', naming: 'diffusers', storageDtype: 'F32' }],
    cells: [cell('a', 'fp32', true), cell('a', 'fp16', false)],
    thresholds: { minPsnr: 30, minSsim },
    latents: Array.from({ length: latents }, (_, i) => ({ id: `lat${i}`, origin: `lat${i}.npy`, shape: [1, 4, 8, 8] })),
  };
}

test('matrix: one latent is named as the source of thumbnails and figures', () => {
  const svg = matrixSvg(result(1, 0), new Map());
  assert.match(svg, />thumbnails and figures: latent lat0</);
  assert.match(svg, /finite, PSNR ≥ 30 dB vs the reference/);
  assert.doesNotMatch(svg, /SSIM ≥ 0\b/);
});

test('matrix: several latents: the thumbnails are the first, the figures mean ± std over all; an SSIM threshold is stated', () => {
  const svg = matrixSvg(result(3, 0.9), new Map());
  assert.match(svg, />thumbnails: latent lat0 \(the first of 3\); figures: mean ± std over all 3 latents</);
  assert.match(svg, /finite, PSNR ≥ 30 dB and SSIM ≥ 0\.9 vs the reference/);
});

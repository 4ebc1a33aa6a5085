/** src/metrics against scikit-image (test/metrics/reference.json, made by make-reference.py). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { psnr, ssim, ssimPlanes } from '../../src/metrics/index.js';
import { makeInputs, seqSum, type ReferenceCase } from './reference-inputs.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const doc = JSON.parse(readFileSync(new URL('reference.json', import.meta.url), 'utf8')) as {
  provenance: { skimage: string };
  cases: ReferenceCase[];
};

const PSNR_TOL = 1e-6; // dB
const SSIM_TOL = 1e-6;

test('reference.json was made by scikit-image', () => {
  assert.match(doc.provenance.skimage, /^\d+\.\d+/);
  assert.ok(doc.cases.length >= 10);
});

for (const c of doc.cases) {
  test(`matches skimage ${doc.provenance.skimage}: ${c.name} ${JSON.stringify(c.shape)}`, async () => {
    const { ref, test: t } = await makeInputs(c, root);
    assert.equal(seqSum(ref), c.refSum, 'ref inputs differ from the Python generator');
    assert.equal(seqSum(t), c.testSum, 'test inputs differ from the Python generator');
    const range = c.range ?? 1;

    const p = psnr(ref, t, { peak: range });
    assert.ok(Math.abs(p - c.psnr) <= PSNR_TOL, `psnr ${p} vs skimage ${c.psnr}`);

    const s = ssim(ref, t, c.shape, { dataRange: range });
    assert.ok(Math.abs(s - c.ssim) <= SSIM_TOL, `ssim ${s} vs skimage ${c.ssim}`);

    const planes = ssimPlanes(ref, t, c.shape, { dataRange: range });
    assert.equal(planes.length, c.ssimPlanes.length);
    planes.forEach((v, i) => assert.ok(Math.abs(v - c.ssimPlanes[i]) <= SSIM_TOL, `plane ${i}: ${v} vs ${c.ssimPlanes[i]}`));
  });
}

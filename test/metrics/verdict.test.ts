/**
 * The one pass/fail rule (src/metrics/verdict.ts), as a table of cases whose outcomes are worked out
 * by hand from the rule in the module header, not from the code's output.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { type Measurement, type Thresholds, judge, reasonText, reasons } from '../../src/metrics/verdict.js';

const finite = (extra: Partial<Measurement> = {}): Measurement => ({ nan: 0, inf: 0, total: 100, ...extra });
const GATE: Thresholds = { maxNonFinite: 0, minPsnr: 40, minSsim: 0.95, maxMismatch: 1 };
const COMPARE: Thresholds = { maxNonFinite: 0, minPsnr: 25, minSsim: 0 };

const cases: { name: string; m: Measurement; t: Thresholds; checks: string[]; skipped?: string[] }[] = [
  { name: 'everything within limits', m: finite({ psnr: 50, ssim: 0.99, mismatchedFraction: 0 }), t: GATE, checks: [] },
  { name: 'identical images (PSNR inf)', m: finite({ psnr: Infinity, ssim: 1, mismatchedFraction: 0 }), t: GATE, checks: [] },
  { name: 'values equal to their limits pass', m: finite({ psnr: 40, ssim: 0.95, mismatchedFraction: 0.01 }), t: GATE, checks: [] },
  { name: 'each metric just past its limit fails', m: finite({ psnr: 39.99, ssim: 0.9499, mismatchedFraction: 0.0101 }), t: GATE, checks: ['psnr', 'ssim', 'mismatch'] },
  // rule 1: non-finite output fails on that alone, even with a NaN PSNR and SSIM
  { name: 'one NaN, none allowed', m: { nan: 1, inf: 0, total: 100, psnr: NaN, ssim: NaN, mismatchedFraction: 0 }, t: GATE, checks: ['nonFinite'] },
  { name: 'Inf counts as non-finite', m: { nan: 0, inf: 3, total: 100, psnr: NaN }, t: COMPARE, checks: ['nonFinite'] },
  { name: 'the default allows no NaN', m: { nan: 1, inf: 0, total: 10 }, t: {}, checks: ['nonFinite'] },
  // rule 3: within an allowance, the PSNR of a decode holding NaN is NaN: not measurable, fails
  { name: 'NaN within the allowance still fails PSNR', m: { nan: 1, inf: 0, total: 100, psnr: NaN, ssim: NaN }, t: { ...GATE, maxNonFinite: 0.05 }, checks: ['psnr'], skipped: ['ssim'] },
  { name: 'finite decode, non-finite reference', m: finite({ psnr: NaN, ssim: NaN }), t: COMPARE, checks: ['psnr'], skipped: ['ssim'] },
  { name: 'max abs error NaN fails (fix)', m: finite({ maxAbsError: NaN }), t: { maxAbsError: 1e-5 }, checks: ['maxAbsError'] },
  { name: 'max abs error above the limit fails', m: finite({ maxAbsError: 2e-5 }), t: { maxAbsError: 1e-5 }, checks: ['maxAbsError'] },
  { name: 'max abs error at the limit passes', m: finite({ maxAbsError: 1e-5 }), t: { maxAbsError: 1e-5 }, checks: [] },
  // rule 4: SSIM of an image under 11x11 is NaN while PSNR is a number: not checked, and said so
  { name: 'small image: NaN SSIM skipped explicitly', m: finite({ psnr: 45, ssim: NaN, mismatchedFraction: 0 }), t: GATE, checks: [], skipped: ['ssim'] },
  // ...but a NaN SSIM with nothing to show the inputs were finite is not a pass
  { name: 'NaN SSIM without a PSNR fails', m: finite({ ssim: NaN }), t: { minSsim: 0.9 }, checks: ['ssim'] },
  { name: 'unset thresholds are not checked', m: finite({ psnr: 1, ssim: 0, mismatchedFraction: 1 }), t: {}, checks: [] },
];

for (const c of cases) {
  test(`verdict: ${c.name}`, () => {
    const v = judge(c.m, c.t);
    assert.deepEqual(v.failures.map((f) => f.check), c.checks);
    assert.equal(v.pass, c.checks.length === 0);
    assert.equal(v.status, c.checks.length === 0 ? 'PASSED' : 'FAILED');
    assert.deepEqual(v.skipped.map((s) => s.check), c.skipped ?? []);
  });
}

test('reason texts: prose for compare tables, key=value for gate lines', () => {
  const drift = finite({ psnr: 12.3456, ssim: 0.5, mismatchedFraction: 0.025 });
  const v = judge(drift, GATE);
  assert.deepEqual(reasons(v, drift, 'keyValue'), ['psnr=12.35 < 40', 'ssim=0.5000 < 0.95', 'mismatch=2.50% > 1%']);
  assert.deepEqual(reasons(v, drift, 'prose'), ['PSNR 12.35 dB < 40', 'SSIM 0.5000 < 0.95', '2.50% mismatched pixels > 1%']);
  const nan = { nan: 3, inf: 1, total: 400 };
  const vn = judge(nan, { maxNonFinite: 0.001 });
  assert.deepEqual(reasons(vn, nan, 'keyValue'), ['3 NaN and 1 Inf values (1.00% > 0.1%)']);
  assert.deepEqual(reasons(vn, nan, 'prose'), ['1.00% NaN/Inf']);
  const refBad = finite({ psnr: NaN, ssim: NaN });
  assert.deepEqual(reasons(judge(refBad, COMPARE), refBad, 'prose'), ['reference is not finite']);
  assert.deepEqual(reasons(judge(refBad, GATE), refBad, 'keyValue'), ['psnr=nan < 40']);
  assert.equal(reasonText({ check: 'maxAbsError', value: 3e-4, limit: 1e-5 }, finite(), 'keyValue'), 'max_abs=3.00e-4 > 0.00001');
});

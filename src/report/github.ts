/** GitHub Actions output of gate, compare and nan-scan: a Markdown job summary (for $GITHUB_STEP_SUMMARY) and ::error annotations. */
import type { GateResult } from '../gate/gate.js';
import { NOT_AVAILABLE, db, percent, ssimText } from '../format.js';
import { logText } from '../ci-text.js';
import type { CompareResult } from '../compare/run-compare.js';
import { type VaeScan, formatHeadroom } from '../nan-scan.js';
import { cellSummary, precisionTitle, thresholdText } from './compare-report.js';

/** A name from the user's files in a Markdown table cell: one line, no column break. */
const cell = (s: string) => logText(s).replace(/\|/g, '\\|');

export function gateSummaryMarkdown(r: GateResult): string {
  const lines = [
    // a blank line first: the summary may already hold other output (another gate run in the same step)
    '',
    `### vaecheck gate: ${r.pass ? '✅ passed' : '⚠️ failed'}`,
    '',
    `Candidate \`${logText(r.candidate).replace(/`/g, "'")}\` decoded at **${r.precision}** against the baseline; thresholds PSNR ≥ ${r.thresholds.minPsnr} dB, SSIM ≥ ${r.thresholds.minSsim}, NaN ≤ ${100 * r.thresholds.maxNan}%, mismatch ≤ ${r.thresholds.maxMismatch}%.`,
    '',
    '| case | verdict | PSNR (dB) | SSIM | NaN/Inf | mismatched px |',
    '|---|---|---|---|---|---|',
    ...r.cases.map((c) => `| ${cell(c.name)} | ${c.pass ? '✅' : `⚠️ ${cell(c.reasons.join('; '))}`} | ${db(c.psnr)} | ${ssimText(c.ssim, NOT_AVAILABLE)} | ${c.nan + c.inf} | ${percent(c.mismatchedFraction)}% |`),
    '',
  ];
  return lines.join('\n');
}

/** One `::error title=…::message` workflow command (GitHub's escaping: %, CR, LF; also : and , in the title). */
export function errorAnnotation(title: string, message: string): string {
  const enc = (x: string) => x.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  return `::error title=${enc(title).replace(/[:,]/g, (m) => (m === ':' ? '%3A' : '%2C'))}::${enc(message)}`;
}

/** `::error` lines, one per failed gate case. */
export function gateAnnotations(r: GateResult): string[] {
  return r.cases.filter((c) => !c.pass).map((c) => errorAnnotation(`vaecheck gate ${c.name}`, `${c.reasons.join('; ')}. ${c.note ?? ''}`));
}

/** compare's job summary: the verdict and the matrix (report.md's first table). */
export function compareSummaryMarkdown(r: CompareResult): string {
  const failed = r.cells.filter((c) => !c.pass);
  return [
    '',
    `### vaecheck compare: ${failed.length === 0 ? '✅ passed' : `⚠️ ${failed.length} of ${r.cells.length} cells failed`}`,
    '',
    `Reference \`${logText(r.reference.key)}\`, ${r.latents.length} latent(s); ✅ = ${thresholdText(r.thresholds)}.`,
    '',
    `| VAE | ${r.precisions.map((p) => precisionTitle(p)).join(' | ')} |`,
    `|---|${r.precisions.map(() => '---').join('|')}|`,
    ...r.vaes.map((v) => `| ${cell(v.label)} | ${r.precisions.map((p) => cellSummary(r.cells.find((c) => c.vae === v.label && c.precision === p)!)).join(' | ')} |`),
    '',
  ].join('\n');
}

export function compareAnnotations(r: CompareResult): string[] {
  return r.cells.filter((c) => !c.pass).map((c) => errorAnnotation(`vaecheck compare ${c.key}`, c.reasons.join('; ')));
}

/** nan-scan's job summary: one row per VAE and part. */
export function nanScanSummaryMarkdown(scans: readonly VaeScan[], precision: string): string {
  const ok = scans.every((s) => s.finite);
  return [
    '',
    `### vaecheck nan-scan at ${precision}: ${ok ? '✅ all finite' : '⚠️ NaN/Inf found'}`,
    '',
    '| VAE · part | verdict | first non-finite op | output NaN/Inf | least headroom to 65504 |',
    '|---|---|---|---|---|',
    ...scans.flatMap((s) =>
      s.parts.map((p) => `| ${cell(s.label)} · ${p.part} | ${p.finite ? '✅' : '⚠️'} | ${cell(p.firstNonFinite ?? '-')} | ${(100 * p.output.fraction).toFixed(2)}% | ${p.leastHeadroom[0] ? `${formatHeadroom(p.leastHeadroom[0].headroom)} at ${cell(p.leastHeadroom[0].name)}` : '-'} |`),
    ),
    '',
  ].join('\n');
}

export function nanScanAnnotations(scans: readonly VaeScan[]): string[] {
  return scans.flatMap((s) => s.parts.filter((p) => !p.finite).map((p) => errorAnnotation(`vaecheck nan-scan ${s.label} · ${p.part}`, `first non-finite op: ${p.firstNonFinite ?? 'the graph input'}; output ${(100 * p.output.fraction).toFixed(2)}% NaN/Inf`)));
}

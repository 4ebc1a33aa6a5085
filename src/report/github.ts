/** GitHub Actions output: a Markdown job summary (for $GITHUB_STEP_SUMMARY) and ::error annotations. */
import type { GateResult } from '../gate/gate.js';
import { NOT_AVAILABLE, db, percent, ssimText } from '../format.js';
import { logText } from '../ci-text.js';

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

/** `::error title=…::message` lines (GitHub's workflow-command escaping for %, CR, LF). */
export function gateAnnotations(r: GateResult): string[] {
  const enc = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  return r.cases.filter((c) => !c.pass).map((c) => `::error title=${enc(`vaecheck gate ${c.name}`).replace(/[:,]/g, (m) => (m === ':' ? '%3A' : '%2C'))}::${enc(`${c.reasons.join('; ')}. ${c.note ?? ''}`)}`);
}

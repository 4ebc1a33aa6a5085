/**
 * JUnit XML (the dialect Jenkins, GitLab, GitHub test reporters and Azure parse): one testsuite per
 * run, one testcase per check (a gate case, a compare cell, a nan-scan part), each with the time that
 * check itself took, a <failure> holding the FAILED line and its note, and the line as system-out.
 */
import type { CellResult, CompareResult } from '../compare/run-compare.js';
import type { GateResult } from '../gate/gate.js';
import { caseLine } from '../gate/gate.js';
import type { VaeScan } from '../nan-scan.js';

const esc = (s: string) => s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');

export interface JunitCase {
  name: string;
  /** seconds this case took */
  seconds: number;
  /** the PASSED/FAILED line */
  line: string;
  failure?: { message: string; type: string; note?: string };
}

const time = (s: number) => (Number.isFinite(s) && s >= 0 ? s : 0).toFixed(3);

/** @param seconds the whole run (the suite's time; at least the sum of its cases) */
export function junitXml(suite: string, cases: readonly JunitCase[], seconds: number): string {
  const failures = cases.filter((c) => c.failure).length;
  const body = cases.map((c) => {
    const head = `    <testcase classname="${esc(suite)}" name="${esc(c.name)}" time="${time(c.seconds)}">`;
    const out = `      <system-out>${esc(c.line)}</system-out>`;
    if (!c.failure) return `${head}\n${out}\n    </testcase>`;
    return `${head}\n      <failure message="${esc(c.failure.message)}" type="${esc(c.failure.type)}">${esc(`${c.line}\n${c.failure.note ?? ''}`)}</failure>\n${out}\n    </testcase>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="vaecheck" tests="${cases.length}" failures="${failures}" errors="0" time="${time(seconds)}">
  <testsuite name="${esc(suite)}" tests="${cases.length}" failures="${failures}" errors="0" skipped="0" time="${time(seconds)}">
${body.join('\n')}
  </testsuite>
</testsuites>
`;
}

export function gateJunit(r: GateResult, seconds: number): string {
  return junitXml(
    `vaecheck gate ${r.precision}`,
    r.cases.map((c) => ({
      name: c.name,
      // a gate.json from before per-case times: spread the run over its cases
      seconds: c.seconds ?? seconds / Math.max(1, r.cases.length),
      line: caseLine(c),
      failure: c.pass ? undefined : { message: c.reasons.join('; '), type: c.nan + c.inf > 0 ? 'NonFinite' : 'Drift', note: c.note },
    })),
    seconds,
  );
}

/** The FAILED/PASSED line of a compare cell. */
export function compareCellLine(c: CellResult): string {
  return c.pass ? `PASSED | ${c.key} | ${c.isReference ? 'reference' : `psnr=${fmt(c.psnr.mean)} ssim=${Number.isNaN(c.ssim.mean) ? 'n/a' : c.ssim.mean.toFixed(4)}`}` : `FAILED | ${c.key} | ${c.reasons.join('; ')}`;
}

export function compareJunit(r: CompareResult): string {
  return junitXml(
    `vaecheck compare against ${r.reference.key}`,
    r.cells.map((c) => ({
      name: c.key,
      seconds: c.seconds.graph + c.seconds.decode,
      line: compareCellLine(c),
      failure: c.pass ? undefined : { message: c.reasons.join('; '), type: c.nonFiniteFraction > 0 ? 'NonFinite' : 'Drift', note: c.nonFiniteFraction > 0 ? 'find the layer with vaecheck nan-scan; decode this VAE in a wider precision or make it fp16-safe with vaecheck fix' : 'look at the diff images in the report' } ,
    })),
    r.seconds.total,
  );
}

/** The FAILED/PASSED line of a nan-scan part. */
export function nanScanLine(s: VaeScan, p: VaeScan['parts'][number]): string {
  return p.finite
    ? `PASSED | ${s.label} · ${p.part} | all finite`
    : `FAILED | ${s.label} · ${p.part} | first non-finite op: ${p.firstNonFinite ?? 'the graph input'}; output ${(100 * p.output.fraction).toFixed(2)}% non-finite`;
}

export function nanScanJunit(scans: readonly VaeScan[], precision: string, seconds: number): string {
  return junitXml(
    `vaecheck nan-scan ${precision}`,
    scans.flatMap((s) =>
      s.parts.map((p) => ({
        name: `${s.label} · ${p.part}`,
        seconds: p.seconds ?? 0,
        line: nanScanLine(s, p),
        failure: p.finite ? undefined : { message: `first non-finite op: ${p.firstNonFinite ?? 'the graph input'}`, type: 'NonFinite', note: 'decode in a wider precision, or make it fp16-safe with vaecheck fix' },
      })),
    ),
    seconds,
  );
}

function fmt(x: number): string {
  return x === Infinity ? 'inf' : Number.isNaN(x) ? 'nan' : x.toFixed(2);
}

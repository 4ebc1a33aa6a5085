/** JUnit XML (the dialect Jenkins, GitLab, GitHub test reporters and Azure parse): one testcase per gate case. */
import type { GateResult } from '../gate/gate.js';
import { caseLine } from '../gate/gate.js';

const esc = (s: string) => s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');

export function gateJunit(r: GateResult, seconds: number): string {
  const failures = r.cases.filter((c) => !c.pass).length;
  const suite = `vaecheck gate ${r.precision}`;
  const cases = r.cases.map((c) => {
    const head = `    <testcase classname="${esc(suite)}" name="${esc(c.name)}" time="${(seconds / Math.max(1, r.cases.length)).toFixed(3)}">`;
    const out = `      <system-out>${esc(caseLine(c))}</system-out>`;
    if (c.pass) return `${head}\n${out}\n    </testcase>`;
    return `${head}\n      <failure message="${esc(c.reasons.join('; '))}" type="${c.nan + c.inf > 0 ? 'NonFinite' : 'Drift'}">${esc(`${caseLine(c)}\n${c.note ?? ''}`)}</failure>\n${out}\n    </testcase>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="vaecheck" tests="${r.cases.length}" failures="${failures}" errors="0" time="${seconds.toFixed(3)}">
  <testsuite name="${esc(suite)}" tests="${r.cases.length}" failures="${failures}" errors="0" skipped="0" time="${seconds.toFixed(3)}">
${cases.join('\n')}
  </testsuite>
</testsuites>
`;
}

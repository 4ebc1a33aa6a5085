/**
 * Text that reaches a CI log. GitHub Actions reads workflow commands (`::warning …::`, `::add-mask::`,
 * `::stop-commands::`) from every line of a step's stdout and stderr that starts with `::` after
 * spaces, and the older `##[command]` syntax anywhere in a line. A latent file, label, tensor or node
 * name comes from the user's files and may hold a line break followed by such a command; printed as
 * it is, it would be run by the CI. So:
 *  - logText() makes one value safe inside a line: control characters (line breaks included) shown as
 *    escapes (`\n`, `\u001b`), `##[` broken; used where PASSED/FAILED lines and tables are built;
 *  - guardLines() is the last line of defence where the commands print: a physical line that would
 *    still start a workflow command gets a leading backslash. Only the ::error annotations vaecheck
 *    means to emit (report/github.ts) bypass it.
 */

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** One value for a log line: no line breaks or other control characters, no `##[` command. */
export function logText(value: string): string {
  return value.replace(CONTROL, (c) => NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).replace(/##\[/g, '##%5B');
}

/** Whether a physical line would be read as a workflow command. */
export function isWorkflowCommand(line: string): boolean {
  return /^\s*::/.test(line) || line.includes('##[');
}

/** Neutralises every physical line of `text` that a CI would read as a workflow command. */
export function guardLines(text: string): string {
  // a runner ends a line at CR as well as at LF
  return text.replace(/(^|[\r\n])([^\r\n]*)/g, (_, sep: string, line: string) => sep + (isWorkflowCommand(line) ? `\\${line.replace(/##\[/g, '##%5B')}` : line));
}

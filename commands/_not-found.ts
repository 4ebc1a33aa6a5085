/**
 * oclif's command_not_found hook: `vaecheck compar` prints
 * `vaecheck: error: unknown command "compar"; did you mean "compare"?` (the one-line error format of
 * every command) and exits 2, a usage error, instead of oclif's raw "command compar not found".
 */
import type { Hook } from '@oclif/core';
import { EXIT } from '../src/errors.js';

/** Edit distance (insertions, deletions, substitutions, adjacent swaps). */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The known command closest to `id`, when close enough to be a typo (or a prefix of exactly one). */
export function closestCommand(id: string, ids: readonly string[]): string | undefined {
  const prefixed = ids.filter((c) => c.startsWith(id));
  if (id.length >= 2 && prefixed.length === 1) return prefixed[0];
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of ids) {
    const d = editDistance(id.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(best.length / 3)) ? best : undefined;
}

/** The error line for an unknown command (no trailing newline). */
export function unknownCommandLine(id: string, ids: readonly string[], bin: string): string {
  const near = closestCommand(id, ids);
  return `${bin}: error: unknown command ${JSON.stringify(id)}; ${near ? `did you mean ${JSON.stringify(near)}?` : `see ${bin} --help for the commands`}`;
}

const hook: Hook<'command_not_found'> = async function (opts) {
  const ids = opts.config.commandIDs.filter((c) => !c.startsWith('_'));
  process.stderr.write(`${unknownCommandLine(opts.id, ids, opts.config.bin)}\n`);
  process.exitCode = EXIT.usage;
  return true;
};

export default hook;

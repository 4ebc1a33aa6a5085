/** Runs the built CLI (dist/) as a user would; `npm test` builds first. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/run.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function cli(args: string[], env: Record<string, string> = {}): CliResult {
  const { DEBUG: _d, GITHUB_ACTIONS: _g, ...base } = process.env;
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...base, FORCE_COLOR: '0', ...env }, timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

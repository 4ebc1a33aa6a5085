/** Runs the built CLI (dist/) as a user would; `npm test` builds first. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/run.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The path of bin/run.js, for tests that spawn the CLI themselves (e.g. asynchronously, to kill it). */
export const CLI_BIN = BIN;

/** The environment cli() runs with: DEBUG and GITHUB_ACTIONS removed, colour off, then `env`. */
export function cliEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { DEBUG: _d, GITHUB_ACTIONS: _g, ...base } = process.env;
  return { ...base, FORCE_COLOR: '0', ...env };
}

/** @param options.cwd the working folder of the CLI (default: this process's) */
export function cli(args: string[], env: Record<string, string> = {}, options: { cwd?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: cliEnv(env), cwd: options.cwd, timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

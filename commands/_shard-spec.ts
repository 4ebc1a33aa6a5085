/**
 * `--shard i/n` (1-based, as Playwright's `--shard=1/3`) and `--shard auto`, which reads the index and
 * the total from the CI engine's own variables. GitHub Actions has no such variables: its matrix
 * passes `i/n` explicitly. The CLI's: the library takes a ShardSpec (src/shard/shard-spec.ts).
 */
import { UsageError } from '../src/errors.js';
import type { ShardSpec } from '../src/shard/shard-spec.js';

export type { ShardSpec };

export interface ResolvedShard extends ShardSpec {
  /** where index and total came from, for the stderr line: "--shard 2/3" or "GitLab CI (CI_NODE_INDEX=2, CI_NODE_TOTAL=3)" */
  from: string;
}

/** The environment variable that gives Kubernetes Indexed Jobs their total (they only get an index). */
export const SHARD_TOTAL_VARIABLE = 'VAECHECK_SHARD_TOTAL';

const positiveInt = (s: string) => (/^\d+$/.test(s.trim()) ? Number(s.trim()) : NaN);

function checked(index: number, total: number, what: string): ShardSpec {
  if (!Number.isSafeInteger(total) || total < 1) throw new UsageError(`${what}: the shard total must be a whole number of at least 1`);
  if (!Number.isSafeInteger(index) || index < 1 || index > total) throw new UsageError(`${what}: the shard index must be a whole number from 1 to ${total}`);
  return { index, total };
}

/** Parses `i/n` (e.g. `2/5`). @throws UsageError (exit 2) */
export function parseShard(text: string): ShardSpec {
  const m = text.trim().match(/^(\d+)\s*\/\s*(\d+)$/);
  if (!m) throw new UsageError(`--shard must be i/n (1-based, e.g. 1/3) or auto, got ${JSON.stringify(text)}`);
  return checked(Number(m[1]), Number(m[2]), `--shard ${text.trim()}`);
}

interface CiEngine {
  name: string;
  index: string;
  total: string;
  /** index base of the engine's variable */
  base: 0 | 1;
}

/** In the order they are looked for; the first engine whose index (or, for GitLab, total) variable is set wins. */
export const CI_ENGINES: readonly CiEngine[] = [
  { name: 'GitLab CI', index: 'CI_NODE_INDEX', total: 'CI_NODE_TOTAL', base: 1 },
  { name: 'CircleCI', index: 'CIRCLE_NODE_INDEX', total: 'CIRCLE_NODE_TOTAL', base: 0 },
  { name: 'Buildkite', index: 'BUILDKITE_PARALLEL_JOB', total: 'BUILDKITE_PARALLEL_JOB_COUNT', base: 0 },
  { name: 'Kubernetes Indexed Job', index: 'JOB_COMPLETION_INDEX', total: SHARD_TOTAL_VARIABLE, base: 0 },
];

/**
 * `--shard auto`: index and total from the CI's variables. `totalFlag` (--shard-total) gives the total
 * where the engine has none (Kubernetes), or overrides it.
 * @throws UsageError when no engine's variables are set, or they are not whole numbers in range
 */
export function shardFromEnvironment(env: NodeJS.ProcessEnv, totalFlag?: number): ResolvedShard {
  for (const e of CI_ENGINES) {
    const rawIndex = env[e.index];
    const rawTotal = env[e.total];
    const present = (v: string | undefined) => v !== undefined && v.trim() !== '';
    if (!present(rawIndex)) {
      // GitLab sets CI_NODE_INDEX only for `parallel:` jobs but CI_NODE_TOTAL=1 always: one shard of one
      if (e.base === 1 && present(rawTotal) && positiveInt(rawTotal!) === 1) return { index: 1, total: 1, from: `${e.name} (${e.total}=1, not a parallel job)` };
      continue;
    }
    const index = positiveInt(rawIndex!);
    if (Number.isNaN(index)) throw new UsageError(`--shard auto: ${e.index}=${JSON.stringify(rawIndex)} is not a whole number`);
    let total: number;
    let totalFrom: string;
    if (totalFlag !== undefined) {
      total = totalFlag;
      totalFrom = `--shard-total ${totalFlag}`;
    } else {
      if (!present(rawTotal)) throw new UsageError(`--shard auto: ${e.name} sets ${e.index} but ${e.total} is not set; give the number of shards with --shard-total <n> or ${e.total}`);
      total = positiveInt(rawTotal!);
      if (Number.isNaN(total)) throw new UsageError(`--shard auto: ${e.total}=${JSON.stringify(rawTotal)} is not a whole number`);
      totalFrom = `${e.total}=${rawTotal!.trim()}`;
    }
    const spec = checked(index + (1 - e.base), total, `--shard auto (${e.name}: ${e.index}=${rawIndex!.trim()}, ${totalFrom}, ${e.base}-based)`);
    return { ...spec, from: `${e.name} (${e.index}=${rawIndex!.trim()}, ${totalFrom})` };
  }
  const names = CI_ENGINES.map((e) => `${e.index}`).join(', ');
  const github = env.GITHUB_ACTIONS === 'true' ? '; GitHub Actions has none: pass --shard ${{ matrix.shard }}/<n> from the matrix' : '; under GitHub Actions pass --shard i/n from the matrix';
  throw new UsageError(`--shard auto: no CI shard variables set (looked for ${names})${github}`);
}

/** The flag's value as a shard: `i/n`, or `auto` read from `env`. `totalFlag` only goes with auto. */
export function resolveShard(text: string, env: NodeJS.ProcessEnv, totalFlag?: number): ResolvedShard {
  if (text.trim() === 'auto') return shardFromEnvironment(env, totalFlag);
  if (totalFlag !== undefined) throw new UsageError('--shard-total goes with --shard auto (with --shard i/n the total is n)');
  return { ...parseShard(text), from: `--shard ${text.trim()}` };
}

/**
 * The `--shard i/n | auto` and `--shard-total` flags of compare, baseline, gate and nan-scan, and the
 * stderr line that says which share a run takes and where its index came from.
 */
import { Flags } from '@oclif/core';
import { UsageError } from '../src/errors.js';
import { type ResolvedShard, SHARD_TOTAL_VARIABLE, resolveShard } from './_shard-spec.js';

export const shardFlags = {
  shard: Flags.string({
    description:
      'run only shard i of n (1-based, e.g. 2/3): the latents (or images) whose ids rendezvous hashing gives this shard, with every VAE x precision cell for them; ' +
      '"auto" reads the index and total from GitLab (CI_NODE_INDEX/CI_NODE_TOTAL), CircleCI (CIRCLE_NODE_INDEX/CIRCLE_NODE_TOTAL), ' +
      `Buildkite (BUILDKITE_PARALLEL_JOB/BUILDKITE_PARALLEL_JOB_COUNT) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, total from --shard-total or ${SHARD_TOTAL_VARIABLE}). ` +
      'Join the shards\' --out folders with vaecheck merge',
  }),
  'shard-total': Flags.integer({ description: `with --shard auto: the number of shards, where the CI gives only an index (Kubernetes; or set ${SHARD_TOTAL_VARIABLE})`, min: 1 }),
};

/** The shard to run, or undefined without --shard; says on stderr which one and where it came from. */
export function shardFromFlags(flags: { shard?: string; 'shard-total'?: number }, hasOut: boolean): ResolvedShard | undefined {
  if (flags.shard === undefined) {
    if (flags['shard-total'] !== undefined) throw new UsageError('--shard-total goes with --shard auto');
    return undefined;
  }
  const shard = resolveShard(flags.shard, process.env, flags['shard-total']);
  if (!hasOut) throw new UsageError('--shard needs --out <dir>: vaecheck merge joins the shards\' output folders');
  process.stderr.write(`vaecheck: shard ${shard.index}/${shard.total} (from ${shard.from})\n`);
  return shard;
}

/** The stderr line after the run: how many units this shard took, and which. */
export function shardUnitsLine(shard: { index: number; total: number; units: string[]; allUnits: string[] }, what: string): string {
  const shown = shard.units.length <= 8 ? shard.units.join(', ') : `${shard.units.slice(0, 8).join(', ')}, …`;
  return `vaecheck: shard ${shard.index}/${shard.total} ran ${shard.units.length} of ${shard.allUnits.length} ${what}${shard.units.length ? `: ${shown}` : ' (an empty shard: its output records that for vaecheck merge)'}\n`;
}

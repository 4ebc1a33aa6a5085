/** --shard i/n and --shard auto under each CI engine's variables (index bases, missing and bad values). */
import assert from 'node:assert/strict';
import test from 'node:test';
import { EXIT, UsageError } from '../../src/errors.js';
import { parseShard, resolveShard, shardFromEnvironment } from '../../commands/_shard-spec.js';

const usage = (re: RegExp) => (e: unknown) => e instanceof UsageError && e.exitCode === EXIT.usage && re.test(e.message);

test('i/n is 1-based and checked', () => {
  assert.deepEqual(parseShard('1/3'), { index: 1, total: 3 });
  assert.deepEqual(parseShard(' 3 / 3 '), { index: 3, total: 3 });
  assert.deepEqual(parseShard('1/1'), { index: 1, total: 1 });
  for (const bad of ['0/3', '4/3', '1/0', '-1/3', '1.5/3', 'a/b', '2', '1/3/4', '', 'auto']) assert.throws(() => parseShard(bad), usage(/--shard/), bad);
  assert.deepEqual(resolveShard('2/5', {}), { index: 2, total: 5, from: '--shard 2/5' });
  assert.throws(() => resolveShard('2/5', {}, 5), usage(/--shard-total goes with --shard auto/));
});

test('GitLab: CI_NODE_INDEX / CI_NODE_TOTAL are 1-based; a job without parallel: is 1/1', () => {
  const s = shardFromEnvironment({ CI_NODE_INDEX: '2', CI_NODE_TOTAL: '3' });
  assert.deepEqual([s.index, s.total], [2, 3]);
  assert.match(s.from, /GitLab CI \(CI_NODE_INDEX=2, CI_NODE_TOTAL=3\)/);
  assert.deepEqual([shardFromEnvironment({ CI_NODE_INDEX: '3', CI_NODE_TOTAL: '3' }).index], [3]);
  const single = shardFromEnvironment({ CI_NODE_TOTAL: '1' });
  assert.deepEqual([single.index, single.total], [1, 1]);
  assert.throws(() => shardFromEnvironment({ CI_NODE_INDEX: '0', CI_NODE_TOTAL: '3' }), usage(/index must be a whole number from 1 to 3/));
  assert.throws(() => shardFromEnvironment({ CI_NODE_INDEX: '4', CI_NODE_TOTAL: '3' }), usage(/from 1 to 3/));
});

test('CircleCI and Buildkite are 0-based', () => {
  const c = shardFromEnvironment({ CIRCLE_NODE_INDEX: '0', CIRCLE_NODE_TOTAL: '4' });
  assert.deepEqual([c.index, c.total], [1, 4]);
  assert.match(c.from, /CircleCI/);
  const c3 = shardFromEnvironment({ CIRCLE_NODE_INDEX: '3', CIRCLE_NODE_TOTAL: '4' });
  assert.deepEqual([c3.index, c3.total], [4, 4]);
  assert.throws(() => shardFromEnvironment({ CIRCLE_NODE_INDEX: '4', CIRCLE_NODE_TOTAL: '4' }), usage(/from 1 to 4/));
  const b = shardFromEnvironment({ BUILDKITE_PARALLEL_JOB: '2', BUILDKITE_PARALLEL_JOB_COUNT: '5' });
  assert.deepEqual([b.index, b.total], [3, 5]);
  assert.match(b.from, /Buildkite \(BUILDKITE_PARALLEL_JOB=2, BUILDKITE_PARALLEL_JOB_COUNT=5\)/);
});

test('Kubernetes Indexed Jobs: 0-based JOB_COMPLETION_INDEX, total from --shard-total or VAECHECK_SHARD_TOTAL', () => {
  const k = shardFromEnvironment({ JOB_COMPLETION_INDEX: '4' }, 5);
  assert.deepEqual([k.index, k.total], [5, 5]);
  assert.match(k.from, /Kubernetes Indexed Job \(JOB_COMPLETION_INDEX=4, --shard-total 5\)/);
  const v = shardFromEnvironment({ JOB_COMPLETION_INDEX: '0', VAECHECK_SHARD_TOTAL: '2' });
  assert.deepEqual([v.index, v.total], [1, 2]);
  assert.throws(() => shardFromEnvironment({ JOB_COMPLETION_INDEX: '1' }), usage(/--shard-total <n> or VAECHECK_SHARD_TOTAL/));
  assert.throws(() => shardFromEnvironment({ JOB_COMPLETION_INDEX: '5' }, 5), usage(/from 1 to 5/));
});

test('no variables, bad numbers, a set index without its total: one usage line each', () => {
  assert.throws(() => shardFromEnvironment({}), usage(/no CI shard variables set \(looked for CI_NODE_INDEX, CIRCLE_NODE_INDEX, BUILDKITE_PARALLEL_JOB, JOB_COMPLETION_INDEX\)/));
  assert.throws(() => shardFromEnvironment({ GITHUB_ACTIONS: 'true' }), usage(/GitHub Actions has none: pass --shard \$\{\{ matrix.shard \}\}/));
  assert.throws(() => shardFromEnvironment({ CIRCLE_NODE_INDEX: 'x', CIRCLE_NODE_TOTAL: '2' }), usage(/CIRCLE_NODE_INDEX="x" is not a whole number/));
  assert.throws(() => shardFromEnvironment({ BUILDKITE_PARALLEL_JOB: '1', BUILDKITE_PARALLEL_JOB_COUNT: '-2' }), usage(/BUILDKITE_PARALLEL_JOB_COUNT="-2"/));
  assert.throws(() => shardFromEnvironment({ BUILDKITE_PARALLEL_JOB: '1' }), usage(/BUILDKITE_PARALLEL_JOB_COUNT is not set/));
  // --shard-total overrides the engine's total
  assert.equal(shardFromEnvironment({ CIRCLE_NODE_INDEX: '1', CIRCLE_NODE_TOTAL: '2' }, 3).total, 3);
  assert.deepEqual(resolveShard('auto', { CI_NODE_INDEX: '1', CI_NODE_TOTAL: '2' }).index, 1);
});

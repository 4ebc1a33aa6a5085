/**
 * Session options: the thread count onnxruntime is given (all CPUs unless VAECHECK_THREADS or the
 * caller says otherwise; bad values are usage errors naming the variable) and profiling.
 */
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import test from 'node:test';
import { EXIT, UsageError } from '../../src/errors.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import { Session, THREADS_ENV, defaultThreads, resolveThreads } from '../../src/runtime/session.js';

test('default: every CPU this process may use', () => {
  assert.equal(defaultThreads({}), availableParallelism());
  assert.equal(defaultThreads({ [THREADS_ENV]: '' }), availableParallelism());
});

test('VAECHECK_THREADS sets the default', () => {
  assert.equal(defaultThreads({ [THREADS_ENV]: '3' }), 3);
  assert.equal(defaultThreads({ [THREADS_ENV]: ' 1 ' }), 1);
});

for (const bad of ['0', '-2', '1.5', 'two', '1e9', ' ']) {
  test(`VAECHECK_THREADS=${JSON.stringify(bad)} is a usage error naming the variable`, () => {
    assert.throws(() => defaultThreads({ [THREADS_ENV]: bad }), (e: unknown) => e instanceof UsageError && e.exitCode === EXIT.usage && e.message.includes(THREADS_ENV) && e.message.includes(JSON.stringify(bad)));
  });
}

test('an explicit count wins over the environment and is checked', () => {
  assert.equal(resolveThreads(5), 5);
  assert.throws(() => resolveThreads(0), UsageError);
  assert.throws(() => resolveThreads(2.5), UsageError);
});

test('a session runs with an explicit thread count and refuses a bad one', async () => {
  const b = new GraphBuilder('t');
  const x = b.input('x', [2]);
  b.output(b.node('Add', 'y', [x, x]), [2]);
  const s = await Session.create(b.build(), { threads: 1 });
  const out = await s.run({ x: { shape: [2], data: Float32Array.of(1, 2) } });
  assert.deepEqual([...out.y.data], [2, 4]);
  await s.release();
  await assert.rejects(Session.create(b.build(), { threads: -1 }), UsageError);
});

test('a session created with profilePrefix returns its onnxruntime trace, which holds the kernels run', async () => {
  const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'vaecheck-profile-test-'));
  try {
    const b = new GraphBuilder('t');
    const x = b.input('x', [2]);
    b.output(b.node('Add', 'my_add', [x, x]), [2]);
    // a second session whose prefix extends the first one's must not be mistaken for it
    const other = await Session.create(b.build(), { profilePrefix: join(dir, 'p_more') });
    const s = await Session.create(b.build(), { profilePrefix: join(dir, 'p') });
    await s.run({ x: { shape: [2], data: Float32Array.of(1, 2) } });
    const file = await s.endProfiling();
    assert.match(file, /[/\\]p_\d{4}-/);
    const events = JSON.parse(readFileSync(file, 'utf8')) as { name: string; args?: { op_name?: string } }[];
    assert.ok(events.some((e) => e.name === 'my_add_kernel_time' && e.args?.op_name === 'Add'), 'the Add kernel is in the trace');
    await s.release();
    await other.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

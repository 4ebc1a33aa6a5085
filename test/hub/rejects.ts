import assert from 'node:assert/strict';
import { VaecheckError } from '../../src/errors.js';

/**
 * Awaits a promise that must reject with a one-line VaecheckError matching `re`, with exit code
 * `exitCode`: 3 (the default) for what cannot be used as named, 5 when the Hub could not provide it.
 */
export async function rejects(p: Promise<unknown>, re: RegExp, exitCode = 3): Promise<VaecheckError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof VaecheckError, `a VaecheckError, got ${String(e)}`);
    assert.equal(e.exitCode, exitCode, e.message);
    assert.match(e.message, re);
    assert.ok(!e.message.includes('\n'), 'one line');
    return e;
  }
  assert.fail(`expected a rejection matching ${re}`);
}

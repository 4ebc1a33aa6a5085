import assert from 'node:assert/strict';
import { BadInputError } from '../../src/errors.js';

/** Awaits a promise that must reject with a one-line BadInputError (exit 3) matching `re`. */
export async function rejects(p: Promise<unknown>, re: RegExp): Promise<BadInputError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof BadInputError, `a BadInputError, got ${String(e)}`);
    assert.equal(e.exitCode, 3);
    assert.match(e.message, re);
    assert.ok(!e.message.includes('\n'), 'one line');
    return e;
  }
  assert.fail(`expected a rejection matching ${re}`);
}

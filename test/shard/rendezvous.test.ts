/**
 * Rendezvous hashing of unit ids: checked against an independent BigInt re-statement of the documented
 * rule (shard = the 1-based j with the largest first 48 bits of sha256(`${id}\0${j}`)), and for the
 * properties sharding needs: a partition, stability under added units, few moves when n grows, spread.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import test from 'node:test';
import { shardOfUnit, unitsOfShard } from '../../src/shard/rendezvous.js';

/** The rule as the module header states it, with BigInt arithmetic and no code from src/. */
function referenceShard(id: string, total: number): number {
  let best = 0;
  let bestScore = -1n;
  for (let j = 1; j <= total; j++) {
    const hex = createHash('sha256').update(`${id}\u0000${j}`, 'utf8').digest('hex').slice(0, 12);
    const s = BigInt(`0x${hex}`);
    if (s > bestScore) {
      bestScore = s;
      best = j;
    }
  }
  return best;
}

const ids = (n: number, prefix = 'latent') => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

test('agrees with the documented rule for ids of every shape and n = 1..9', () => {
  const sample = [...ids(60), 'chelsea', 'coffee', 'astronaut', 'random-0', 'a b', 'ünïcödé', '', '0', 'x'.repeat(300)];
  for (let n = 1; n <= 9; n++) for (const id of sample) assert.equal(shardOfUnit(id, n), referenceShard(id, n), `${id} at n=${n}`);
});

test('the shards of n partition the units: each unit in exactly one, order kept', () => {
  const all = ids(200);
  for (const n of [1, 2, 3, 5, 8]) {
    const parts = Array.from({ length: n }, (_, i) => unitsOfShard(all, { index: i + 1, total: n }));
    assert.deepEqual(parts.flat().sort(), [...all].sort());
    for (const p of parts) assert.deepEqual(p, all.filter((id) => p.includes(id)), 'a shard keeps the run order');
  }
  assert.deepEqual(unitsOfShard(all, { index: 1, total: 1 }), all);
});

test('a unit keeps its shard when units are added or removed (n fixed)', () => {
  const before = ids(100);
  const after = [...before.slice(10), ...ids(40, 'new')]; // 10 removed, 40 added, order changed
  for (const n of [2, 3, 5]) {
    for (const id of before.slice(10)) {
      const was = unitsOfShard(before, { index: shardOfUnit(id, n), total: n }).includes(id);
      const is = unitsOfShard(after, { index: shardOfUnit(id, n), total: n }).includes(id);
      assert.ok(was && is);
      assert.equal(shardOfUnit(id, n), referenceShard(id, n));
    }
  }
});

test('going from n to n + 1 shards moves units only to the new shard, about 1/(n + 1) of them', () => {
  const all = ids(3000);
  for (const n of [1, 2, 4, 7]) {
    let moved = 0;
    for (const id of all) {
      const a = shardOfUnit(id, n);
      const b = shardOfUnit(id, n + 1);
      if (a !== b) {
        moved++;
        assert.equal(b, n + 1, `${id} moved from ${a} to ${b}, not to the new shard`);
      }
    }
    const expected = all.length / (n + 1);
    assert.ok(Math.abs(moved - expected) < 5 * Math.sqrt(expected), `moved ${moved}, expected about ${expected.toFixed(0)}`);
  }
});

test('units spread evenly: every shard of 5 gets 20% ± 3% of 3000 ids', () => {
  const all = ids(3000);
  for (let i = 1; i <= 5; i++) {
    const share = unitsOfShard(all, { index: i, total: 5 }).length / all.length;
    assert.ok(Math.abs(share - 0.2) < 0.03, `shard ${i}: ${share}`);
  }
});

test('a bad total is refused', () => {
  assert.throws(() => shardOfUnit('a', 0), RangeError);
  assert.throws(() => shardOfUnit('a', 1.5), RangeError);
});

/**
 * Which shard does a work unit belong to: rendezvous (highest-random-weight) hashing of the unit's
 * id. Every shard index j scores the unit with a hash of (id, j); the highest score wins. A unit's
 * shard depends only on its id and the shard count, never on its position or on the other units:
 * the same shard always gets the same units, adding or removing a latent moves no other latent, and
 * going from n to n + 1 shards moves only the units that the new shard now wins (about 1/(n + 1)).
 */
import { createHash } from 'node:crypto';
import type { ShardSpec } from './shard-spec.js';

/** A unit's score at one shard index: the first 48 bits of sha256(id NUL index), an exact integer. */
function score(id: string, index: number): number {
  const digest = createHash('sha256').update(`${id}\u0000${index}`).digest();
  return digest.readUIntBE(0, 6);
}

/** The 1-based shard that owns the unit `id` among `total` shards. */
export function shardOfUnit(id: string, total: number): number {
  if (!Number.isInteger(total) || total < 1) throw new RangeError(`shard total must be a positive integer, got ${total}`);
  let best = 1;
  let bestScore = -1;
  for (let j = 1; j <= total; j++) {
    const s = score(id, j);
    // a 48-bit tie is as good as impossible; the lower index wins it so the choice stays deterministic
    if (s > bestScore) {
      best = j;
      bestScore = s;
    }
  }
  return best;
}

/** The ids (in their given order) that belong to `shard`. */
export function unitsOfShard(ids: readonly string[], shard: ShardSpec): string[] {
  return ids.filter((id) => shardOfUnit(id, shard.total) === shard.index);
}

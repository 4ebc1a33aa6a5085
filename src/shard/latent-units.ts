/**
 * The work units of a latents batch: one per batch item, named as compare and baseline name them
 * (`<file name>` for a batch of one, `<file name>-<i>` otherwise; `random-<seed>` for --random), and
 * the batch of just one shard's items.
 */
import type { FloatTensor } from '../runtime/session.js';
import { unitsOfShard } from './rendezvous.js';
import { InputsFingerprint } from './shard-record.js';
import type { ShardSpec } from './shard-spec.js';

export function latentUnitIds(base: string, batch: number): string[] {
  return Array.from({ length: batch }, (_, i) => (batch === 1 ? base : `${base}-${i}`));
}

export interface ShardOfBatch {
  /** the shard's items as one batch ([0, C, H, W] when it has none) */
  raw: FloatTensor;
  units: string[];
  allUnits: string[];
  inputsSha256: string;
}

/** This shard's items of a [N, C, H, W] batch whose items are named `ids`. */
export function shardOfBatch(raw: FloatTensor, ids: readonly string[], shard: ShardSpec): ShardOfBatch {
  const [n, c, h, w] = raw.shape;
  const size = c * h * w;
  const fingerprint = new InputsFingerprint();
  for (let i = 0; i < n; i++) fingerprint.add(ids[i], raw.data.subarray(i * size, (i + 1) * size));
  const units = unitsOfShard(ids, shard);
  const mine = new Set(units);
  const data = new Float32Array(units.length * size);
  let k = 0;
  for (let i = 0; i < n; i++) if (mine.has(ids[i])) data.set(raw.data.subarray(i * size, (i + 1) * size), size * k++);
  return { raw: { shape: [units.length, c, h, w], data }, units, allUnits: [...ids], inputsSha256: fingerprint.digest() };
}

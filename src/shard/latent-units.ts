/**
 * The batch of just one shard's items of a latents batch, whose items are the work units, named by
 * latentIds() (decode.ts) as compare and baseline name them.
 */
import type { Tensor } from '../tensor.js';
import { unitsOfShard } from './rendezvous.js';
import { InputsFingerprint } from './shard-record.js';
import type { ShardSpec } from './shard-spec.js';

export interface ShardOfBatch {
  /** the shard's items as one batch ([0, C, H, W] when it has none) */
  raw: Tensor;
  units: string[];
  allUnits: string[];
  inputsSha256: string;
}

/** This shard's items of a [N, C, H, W] batch whose items are named `ids`. */
export function shardOfBatch(raw: Tensor, ids: readonly string[], shard: ShardSpec): ShardOfBatch {
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

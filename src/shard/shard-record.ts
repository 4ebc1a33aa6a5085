/**
 * What a shard's output records about itself (the `shard` block of report.json, manifest.json,
 * gate.json and nan-scan.json) so that `vaecheck merge` can tell whether shards belong together:
 * which shard it is, every unit of the whole run, the units it ran, a fingerprint of the inputs of
 * every unit, and the run's identity (weights sha256, precisions, thresholds, versions…). A merge
 * accepts only shards whose identity is equal field by field, one of each index 1..n, each holding
 * exactly the units rendezvous hashing gives it.
 */
import { createHash } from 'node:crypto';
import { BadInputError, UsageError, option } from '../errors.js';
import { unitsOfShard } from './rendezvous.js';
import type { ShardSpec } from './shard-spec.js';

export interface ShardRecord {
  /** 1-based */
  index: number;
  total: number;
  /** this shard's units (latent or image ids), in the run's order */
  units: string[];
  /** every unit of the run, in the order one unsharded run takes them */
  allUnits: string[];
  /** sha256 over every unit's id and input bytes: shards fed different latents under the same names differ here */
  inputsSha256: string;
  /** what else identifies the run (weights sha256 per VAE, device, …); compared field by field */
  run: Record<string, unknown>;
}

/** Hashes (id, bytes) pairs in order: the inputs fingerprint of a run. */
export class InputsFingerprint {
  private readonly hash = createHash('sha256');

  add(id: string, bytes: ArrayBufferView): void {
    this.hash.update(`${id}\u0000${bytes.byteLength}\u0000`);
    this.hash.update(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

export function shardRecord(shard: ShardSpec, allUnits: readonly string[], inputsSha256: string, run: Record<string, unknown>): ShardRecord {
  return { index: shard.index, total: shard.total, units: unitsOfShard(allUnits, shard), allUnits: [...allUnits], inputsSha256, run };
}

/** One shard output as read by merge: where it is, its record, and the fields that must be equal across shards. */
export interface ShardOutput {
  /** the file the record was read from (named in errors) */
  file: string;
  record: ShardRecord;
  /** name -> value; every shard must have the same values (versions, VAEs, precisions, thresholds…) */
  identity: Record<string, unknown>;
}

const show = (v: unknown) => {
  const s = JSON.stringify(v) ?? 'undefined';
  return s.length > 80 ? `${s.slice(0, 77)}…` : s;
};

/** Reads and checks the `shard` block of a parsed output file. @throws BadInputError naming the file */
export function readShardRecord(file: string, block: unknown): ShardRecord {
  if (block === undefined) throw new BadInputError(file, `is not a shard output (no "shard" block): make it with ${option('shard', 'i/n')}`);
  const b = block as Partial<ShardRecord>;
  const strings = (x: unknown) => Array.isArray(x) && x.every((s) => typeof s === 'string' && s.length > 0);
  if (!b || typeof b !== 'object' || !Number.isSafeInteger(b.index) || !Number.isSafeInteger(b.total) || b.total! < 1 || b.index! < 1 || b.index! > b.total!) {
    throw new BadInputError(file, 'shard block: index and total must be whole numbers with 1 <= index <= total');
  }
  if (!strings(b.units) || !strings(b.allUnits) || typeof b.inputsSha256 !== 'string' || !b.run || typeof b.run !== 'object') {
    throw new BadInputError(file, 'shard block lacks units, allUnits, inputsSha256 or run');
  }
  if (new Set(b.allUnits).size !== b.allUnits!.length) throw new BadInputError(file, 'shard block lists a unit twice in allUnits');
  return b as ShardRecord;
}

/**
 * Checks that the outputs are the n shards of one run: equal identities (and totals, units, inputs),
 * every index 1..n exactly once, each shard holding exactly its rendezvous share. Returns them sorted
 * by index.
 * @throws BadInputError (exit 3) for a shard that does not belong with the first one or does not hold its share;
 *         UsageError (exit 2) for a missing or doubled shard (the folders given are not one whole set)
 */
export function checkShardSet(outputs: readonly ShardOutput[]): ShardOutput[] {
  if (outputs.length === 0) throw new UsageError('merge needs the shard folders to join');
  const first = outputs[0];
  const identity = (o: ShardOutput): [string, unknown][] => [
    ...Object.entries(o.identity),
    ...Object.entries(o.record.run).map(([k, v]) => [`shard.run.${k}`, v] as [string, unknown]),
    ['shard total', o.record.total],
    ['units (allUnits)', o.record.allUnits],
    ['inputs (inputsSha256)', o.record.inputsSha256],
  ];
  const want = new Map(identity(first));
  for (const o of outputs.slice(1)) {
    const have = new Map(identity(o));
    for (const name of new Set([...want.keys(), ...have.keys()])) {
      if (JSON.stringify(want.get(name)) !== JSON.stringify(have.get(name))) {
        throw new BadInputError(o.file, `does not belong with ${first.file}: ${name} differs (${show(have.get(name))} here, ${show(want.get(name))} there)`);
      }
    }
  }
  const byIndex = new Map<number, ShardOutput>();
  for (const o of outputs) {
    const twin = byIndex.get(o.record.index);
    if (twin) throw new UsageError(`shard ${o.record.index}/${o.record.total} is given twice: ${twin.file} and ${o.file}`);
    byIndex.set(o.record.index, o);
    const share = unitsOfShard(o.record.allUnits, o.record);
    if (JSON.stringify(share) !== JSON.stringify(o.record.units)) {
      throw new BadInputError(o.file, `shard ${o.record.index}/${o.record.total} should hold ${show(share)} but holds ${show(o.record.units)}`);
    }
  }
  const total = first.record.total;
  const missing = [];
  for (let i = 1; i <= total; i++) if (!byIndex.has(i)) missing.push(i);
  if (missing.length) throw new UsageError(`shard${missing.length > 1 ? 's' : ''} ${missing.map((i) => `${i}/${total}`).join(', ')} missing: give the output folders of all ${total} shards (have ${[...byIndex.keys()].sort((a, b) => a - b).join(', ')})`);
  return [...byIndex.values()].sort((a, b) => a.record.index - b.record.index);
}

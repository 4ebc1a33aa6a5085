/**
 * Joins the gate.json files of `vaecheck gate --shard i/n --out <dir>` runs into the result of one
 * unsharded gate: every case as its shard measured it, in the baseline's latent order, the verdict
 * recomputed over all of them, and gate.json and junit.xml (one suite, every case once) written by the
 * gate's own writers, with each failed case's images (gate-diff-files.ts) taken from its shard. The
 * time is the sum over the shards.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BadInputError } from '../errors.js';
import type { GateCase, GateResult } from '../gate/gate.js';
import { toJson } from '../format.js';
import { gateJunit } from '../report/junit.js';
import { type ShardOutput, checkShardSet, readShardRecord } from '../shard/shard-record.js';
import { jsonNumber, readInside, readJsonFile } from './shard-folder.js';
import { gateDiffFileNames } from '../gate/gate-diff-files.js';

import { GATE_SCHEMA } from '../gate/gate-output.js';

export { GATE_SCHEMA };
const CASE_NUMBERS = ['nan', 'inf', 'total', 'nonFiniteFraction', 'psnr', 'ssim', 'maxAbsError', 'meanAbsError', 'mismatchedPixels', 'mismatchedFraction'] as const;

interface GateShard extends ShardOutput {
  json: Record<string, unknown>;
}

function readGateShard(dir: string): GateShard {
  const file = join(dir, 'gate.json');
  const json = readJsonFile(file);
  if (json.schema !== GATE_SCHEMA) throw new BadInputError(file, `is not a gate result (schema ${JSON.stringify(json.schema)}, expected ${GATE_SCHEMA})`);
  const record = readShardRecord(file, json.shard);
  if (!Array.isArray(json.cases) || typeof json.precision !== 'string' || !json.thresholds) throw new BadInputError(file, 'lacks cases, precision or thresholds');
  return { file, json, record, identity: { precision: json.precision, thresholds: json.thresholds } };
}

function readCase(file: string, raw: unknown, where: string): GateCase {
  if (!raw || typeof raw !== 'object') throw new BadInputError(file, `${where} is not an object`);
  const c = { ...(raw as Record<string, unknown>) };
  if (typeof c.name !== 'string' || typeof c.latent !== 'string' || typeof c.pass !== 'boolean' || !Array.isArray(c.reasons)) throw new BadInputError(file, `${where} lacks name, latent, pass or reasons`);
  for (const k of CASE_NUMBERS) c[k] = jsonNumber(file, `${where}.${k}`, c[k]);
  return c as unknown as GateCase;
}

export interface MergedGate {
  files: Map<string, Uint8Array>;
  result: GateResult;
  seconds: number;
  shards: number;
}

/** @param dirs the shards' --out folders, in any order */
export function mergeGate(dirs: readonly string[]): MergedGate {
  const shards = checkShardSet(dirs.map(readGateShard)) as GateShard[];
  const first = shards[0].json;
  const byLatent = new Map<string, GateCase>();
  const files = new Map<string, Uint8Array>();
  let seconds = 0;
  for (const s of shards) {
    const cases = (s.json.cases as unknown[]).map((c, i) => readCase(s.file, c, `cases[${i}]`));
    const ids = cases.map((c) => c.latent);
    if (JSON.stringify(ids) !== JSON.stringify(s.record.units)) throw new BadInputError(s.file, `its cases ${JSON.stringify(ids).slice(0, 60)} are not its shard's units`);
    for (const c of cases) byLatent.set(c.latent, c);
    seconds += jsonNumber(s.file, 'seconds', s.json.seconds);
    // a failed case's images, as the shard's gate wrote them beside its gate.json (read inside the shard only)
    const dir = dirname(s.file);
    for (const c of cases.filter((x) => !x.pass)) for (const rel of gateDiffFileNames(c.name)) if (existsSync(join(dir, rel))) files.set(rel, readInside(dir, rel, s.file));
  }
  const cases = shards[0].record.allUnits.map((u) => byLatent.get(u)!);
  const result: GateResult = {
    candidate: String(first.candidate),
    precision: first.precision as GateResult['precision'],
    thresholds: first.thresholds as GateResult['thresholds'],
    cases,
    pass: cases.every((c) => c.pass),
  };
  files.set('gate.json', new TextEncoder().encode(`${toJson({ schema: GATE_SCHEMA, ...result, seconds })}\n`));
  files.set('junit.xml', new TextEncoder().encode(gateJunit(result, seconds)));
  return { files, result, seconds, shards: shards.length };
}

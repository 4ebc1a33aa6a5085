/**
 * Joins the nan-scan.json files of `vaecheck nan-scan --shard i/n --out <dir>` runs into one scan of
 * the whole batch. Per traced op: the largest finite |x| is the largest of the shards', NaN and Inf
 * counts add up; the output's counts add up; the first non-finite op is the first op (in execution
 * order) with a NaN or Inf in any shard; the least-headroom ranking is recomputed (rankHeadroom).
 */
import { join } from 'node:path';
import { MAX_FINITE, PRECISIONS, type Precision } from '../dtype.js';
import { BadInputError } from '../errors.js';
import type { NonFiniteCount } from '../metrics/nonfinite.js';
import { type PartScan, type VaeScan, rankHeadroom } from '../nan-scan.js';
import type { LayerStats } from '../precision/instrument.js';
import { percent, toJson } from '../format.js';
import { type ShardOutput, checkShardSet, readShardRecord } from '../shard/shard-record.js';
import { jsonNumber, readJsonFile } from './shard-folder.js';

export const NAN_SCAN_SCHEMA = 'vaecheck.nan-scan/1';

interface NanScanShard extends ShardOutput {
  json: Record<string, unknown>;
}

function readNanScanShard(dir: string): NanScanShard {
  const file = join(dir, 'nan-scan.json');
  const json = readJsonFile(file);
  if (json.schema !== NAN_SCAN_SCHEMA) throw new BadInputError(file, `is not a nan-scan result (schema ${JSON.stringify(json.schema)}, expected ${NAN_SCAN_SCHEMA})`);
  const record = readShardRecord(file, json.shard);
  if (!PRECISIONS.includes(json.precision as Precision) || !Array.isArray(json.vaes)) throw new BadInputError(file, 'lacks precision or vaes');
  const vaes = json.vaes as { label?: unknown }[];
  return { file, json, record, identity: { precision: json.precision, vaes: vaes.map((v) => v?.label) } };
}

/** A traced-op list read back from a shard's JSON, every number checked. */
export function readLayers(file: string, raw: unknown, where: string): LayerStats[] {
  if (!Array.isArray(raw)) throw new BadInputError(file, `${where} is not a list`);
  return raw.map((l, i) => {
    if (!l || typeof l.name !== 'string') throw new BadInputError(file, `${where}[${i}] has no name`);
    return { name: l.name, maxAbs: jsonNumber(file, `${where}[${i}].maxAbs`, l.maxAbs), nan: jsonNumber(file, `${where}[${i}].nan`, l.nan), inf: jsonNumber(file, `${where}[${i}].inf`, l.inf) };
  });
}

export interface MergedNanScan {
  files: Map<string, Uint8Array>;
  ok: boolean;
  vaes: VaeScan[];
  lines: string[];
  shards: number;
}

/** @param dirs the shards' --out folders, in any order */
export function mergeNanScan(dirs: readonly string[]): MergedNanScan {
  const shards = checkShardSet(dirs.map(readNanScanShard)) as NanScanShard[];
  const first = shards[0].json;
  const precision = first.precision as Precision;
  const top = Number(shards[0].record.run.top ?? 5);
  const vaes: VaeScan[] = (first.vaes as VaeScan[]).map((v0, vi) => {
    // a part's ops, merged over the shards that scanned anything (an empty shard has no parts)
    const merged = new Map<string, { layers: LayerStats[]; output: { nan: number; inf: number; total: number } }>();
    const order: string[] = [];
    for (const s of shards) {
      const v = (s.json.vaes as VaeScan[])[vi];
      if (!v || !Array.isArray(v.parts)) throw new BadInputError(s.file, `vaes[${vi}] has no parts`);
      for (const [pi, p] of v.parts.entries()) {
        const where = `vaes[${vi}].parts[${pi}]`;
        const layers = readLayers(s.file, p.layers, `${where}.layers`);
        const out = { nan: jsonNumber(s.file, `${where}.output.nan`, p.output?.nan), inf: jsonNumber(s.file, `${where}.output.inf`, p.output?.inf), total: jsonNumber(s.file, `${where}.output.total`, p.output?.total) };
        const m = merged.get(p.part);
        if (!m) {
          merged.set(p.part, { layers, output: out });
          order.push(p.part);
          continue;
        }
        if (m.layers.length !== layers.length || m.layers.some((l, i) => l.name !== layers[i].name)) throw new BadInputError(s.file, `${where} traces other ops than the other shards' ${p.part} (not the same VAE graph)`);
        m.layers = m.layers.map((l, i) => ({ name: l.name, maxAbs: Math.max(l.maxAbs, layers[i].maxAbs), nan: l.nan + layers[i].nan, inf: l.inf + layers[i].inf }));
        m.output = { nan: m.output.nan + out.nan, inf: m.output.inf + out.inf, total: m.output.total + out.total };
      }
    }
    const parts: PartScan[] = order.map((part) => {
      const { layers, output } = merged.get(part)!;
      const firstBad = layers.find((l) => l.nan + l.inf > 0) ?? null;
      const counts: NonFiniteCount = { ...output, fraction: output.total === 0 ? 0 : (output.nan + output.inf) / output.total };
      return { part: part as PartScan['part'], finite: firstBad === null && output.nan + output.inf === 0, firstNonFinite: firstBad?.name ?? null, output: counts, nonFiniteOps: layers.filter((l) => l.nan + l.inf > 0).length, leastHeadroom: rankHeadroom(layers, top), layers };
    });
    return {
      label: v0.label,
      source: v0.source,
      finite: parts.every((p) => p.finite),
      firstNonFinite: parts.find((p) => p.firstNonFinite)?.firstNonFinite ?? null,
      parts,
      layers: parts.flatMap((p) => p.layers),
    };
  });
  const ok = vaes.every((v) => v.finite);
  const json = { schema: NAN_SCAN_SCHEMA, precision, limit: MAX_FINITE[precision], latents: first.latents, ok, vaes };
  const files = new Map<string, Uint8Array>([['nan-scan.json', new TextEncoder().encode(`${toJson(json)}\n`)]]);
  const lines = vaes.flatMap((v) =>
    v.parts.map((p) => (p.finite ? `PASSED | ${v.label} · ${p.part} | all finite` : `FAILED | ${v.label} · ${p.part} | first non-finite op: ${p.firstNonFinite ?? 'the graph input'}; output ${percent(p.output.fraction)}% non-finite (${p.output.nan} NaN, ${p.output.inf} Inf of ${p.output.total})`)),
  );
  lines.push(`${ok ? 'PASSED' : 'FAILED'} | vaecheck merge | ${shards.length} nan-scan shard(s) at ${precision}`);
  return { files, ok, vaes, lines, shards: shards.length };
}

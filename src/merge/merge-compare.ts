/**
 * Joins the report folders of `vaecheck compare --shard i/n` runs into what one unsharded run writes:
 * every item (latent x cell) taken as its shard measured it, in the unsharded run's latent order; each
 * cell's statistics and verdict recomputed from all its items (cellStatistics, as compare does); the
 * decoded and diff images copied; matrix.png, report.json, report.md and report.html written by
 * compare's own writers. Timings are summed over the shards (machine time, not wall time).
 */
import { join } from 'node:path';
import { addReportFiles } from '../report/compare-files.js';
import { cellStatistics } from '../compare/cell-summary.js';
import { type CellResult, type CompareResult, type ItemResult, type LatentInfo, cellKey } from '../compare/run-compare.js';
import type { Precision } from '../dtype.js';
import { BadInputError } from '../errors.js';
import { COMPARE_SCHEMA, type CompareFilesIndex } from '../report/compare-report.js';
import { type ShardOutput, checkShardSet, readShardRecord } from '../shard/shard-record.js';
import { jsonNumber, readInside, readJsonFile } from './shard-folder.js';
import type { TilingInfo } from '../tiled-decode.js';
import { readLayers } from './merge-nan-scan.js';

export const COMPARE_REPORT_FILE = 'report.json';

interface CompareShard extends ShardOutput {
  dir: string;
  report: Record<string, unknown>;
}

const ITEM_NUMBERS = ['nan', 'inf', 'total', 'nonFiniteFraction', 'psnr', 'ssim', 'maxAbsError', 'meanAbsError', 'mismatchedPixels', 'mismatchedFraction', 'psnrVsImage'] as const;
const FILE_KINDS = ['decoded', 'pixelmatch', 'heatmap'] as const;

function readCompareShard(dir: string): CompareShard {
  const file = join(dir, COMPARE_REPORT_FILE);
  const report = readJsonFile(file);
  if (report.schema !== COMPARE_SCHEMA) throw new BadInputError(file, `is not a compare report (schema ${JSON.stringify(report.schema)}, expected ${COMPARE_SCHEMA})`);
  const record = readShardRecord(file, report.shard);
  if (!Array.isArray(report.vaes) || !Array.isArray(report.cells) || !Array.isArray(report.latents) || !Array.isArray(report.precisions)) {
    throw new BadInputError(file, 'lacks vaes, precisions, latents or cells');
  }
  const vaes = report.vaes as { label: string; naming: string; storageDtype: string }[];
  return {
    dir,
    file,
    report,
    record,
    identity: {
      vaecheck: report.vaecheck,
      onnxruntime: report.onnxruntime,
      vaes: vaes.map((v) => ({ label: v?.label, naming: v?.naming, storageDtype: v?.storageDtype })),
      precisions: report.precisions,
      reference: report.reference,
      thresholds: report.thresholds,
    },
  };
}

/** An item of a shard's report as compare measured it (numbers restored), and the files it names. */
function readItem(file: string, raw: unknown, where: string): { item: ItemResult; files: Partial<Record<(typeof FILE_KINDS)[number], unknown>> } {
  if (!raw || typeof raw !== 'object') throw new BadInputError(file, `${where} is not an object`);
  const { files, ...rest } = raw as Record<string, unknown>;
  const item = { ...rest } as Record<string, unknown>;
  if (typeof item.latent !== 'string' || typeof item.pass !== 'boolean' || !Array.isArray(item.reasons) || !item.reasons.every((r) => typeof r === 'string')) {
    throw new BadInputError(file, `${where} lacks latent, pass or reasons`);
  }
  for (const k of ITEM_NUMBERS) {
    if (k === 'psnrVsImage' && item[k] === undefined) continue;
    item[k] = jsonNumber(file, `${where}.${k}`, item[k]);
  }
  return { item: item as unknown as ItemResult, files: (files ?? {}) as Record<string, unknown> };
}

export interface MergedCompare {
  files: Map<string, Uint8Array>;
  result: CompareResult;
  report: Awaited<ReturnType<typeof addReportFiles>>;
  shards: number;
}

/** @param dirs the shards' --out folders, in any order */
export async function mergeCompare(dirs: readonly string[]): Promise<MergedCompare> {
  const shards = checkShardSet(dirs.map(readCompareShard)) as CompareShard[];
  const first = shards[0].report;
  const allUnits = shards[0].record.allUnits;
  const owner = new Map<string, CompareShard>();
  for (const s of shards) for (const u of s.record.units) owner.set(u, s);

  // latents, in the unsharded order
  const latentInfo = new Map<string, LatentInfo>();
  for (const s of shards) {
    const ids = (s.report.latents as LatentInfo[]).map((l) => l?.id);
    if (JSON.stringify(ids) !== JSON.stringify(s.record.units)) throw new BadInputError(s.file, `its latents ${JSON.stringify(ids).slice(0, 60)} are not its shard's units`);
    for (const l of s.report.latents as LatentInfo[]) latentInfo.set(l.id, l);
  }
  const latents = allUnits.map((u) => latentInfo.get(u)!);

  // every cell: items from the shard that owns each latent, statistics recomputed over all of them
  const files = new Map<string, Uint8Array>();
  const index: CompareFilesIndex = { decoded: {}, pixelmatch: {}, heatmap: {} };
  const cells: CellResult[] = [];
  type RawCell = { vae: string; precision: Precision; isReference: boolean; items: unknown[]; seconds: { graph: number; decode: number }; tiling?: unknown };
  for (const [ci, c0] of (first.cells as RawCell[]).entries()) {
    const key = cellKey(c0.vae, c0.precision);
    for (const k of FILE_KINDS) index[k][key] = {};
    const items: ItemResult[] = [];
    const byLatent = new Map<string, ItemResult>();
    const seconds = { graph: 0, decode: 0 };
    let tiling: TilingInfo | undefined;
    for (const s of shards) {
      const c = (s.report.cells as RawCell[])[ci];
      if (!c || c.vae !== c0.vae || c.precision !== c0.precision || !Array.isArray(c.items)) throw new BadInputError(s.file, `cell ${ci} is not ${key} with items, as in ${shards[0].file}`);
      seconds.graph += jsonNumber(s.file, `${key}.seconds.graph`, c.seconds?.graph);
      seconds.decode += jsonNumber(s.file, `${key}.seconds.decode`, c.seconds?.decode);
      tiling ??= readTiling(s.file, key, c.tiling);
      const latentIds = c.items.map((it) => (it as { latent?: unknown })?.latent);
      if (JSON.stringify(latentIds) !== JSON.stringify(s.record.units)) throw new BadInputError(s.file, `cell ${key} holds items ${JSON.stringify(latentIds).slice(0, 60)}, not its shard's units`);
      for (const [i, raw] of c.items.entries()) {
        const { item, files: named } = readItem(s.file, raw, `cells[${ci}].items[${i}]`);
        byLatent.set(item.latent, item);
        for (const k of FILE_KINDS) {
          if (named[k] === undefined) continue;
          const rel = named[k] as string;
          if (files.has(rel)) throw new BadInputError(s.file, `names ${rel}, which another shard also wrote`);
          files.set(rel, readInside(s.dir, rel, s.file));
          index[k][key][item.latent] = rel;
        }
      }
    }
    for (const u of allUnits) items.push(byLatent.get(u)!);
    const stats = cellStatistics(items);
    cells.push({
      vae: c0.vae,
      precision: c0.precision,
      key,
      isReference: c0.isReference === true,
      items,
      psnr: stats.psnr,
      ssim: stats.ssim,
      ...(stats.psnrVsImage ? { psnrVsImage: stats.psnrVsImage } : {}),
      nonFiniteFraction: stats.nonFiniteFraction,
      pass: stats.pass,
      reasons: stats.reasons,
      ...(tiling ? { tiling } : {}),
      seconds,
    });
  }

  const sum = (k: 'total' | 'weights' | 'encode') => shards.reduce((a, s) => a + jsonNumber(s.file, `seconds.${k}`, (s.report.seconds as Record<string, unknown>)?.[k]), 0);
  const warnings = [...new Set(shards.flatMap((s) => (Array.isArray(s.report.warnings) ? (s.report.warnings as string[]) : [])))];
  const result: CompareResult = {
    vaes: first.vaes as CompareResult['vaes'],
    precisions: first.precisions as Precision[],
    reference: first.reference as CompareResult['reference'],
    latents,
    cells,
    thresholds: first.thresholds as CompareResult['thresholds'],
    warnings,
    outputs: new Map(),
    seconds: { total: sum('total'), weights: sum('weights'), encode: sum('encode') },
  };
  // the activation figures are of the run's first latent: the shard that holds it made them
  const holder = allUnits.length ? owner.get(allUnits[0]) : undefined;
  const acts = holder?.report.activations;
  if (holder && Array.isArray(acts) && acts.length) {
    result.activations = acts.map((a: { vae?: unknown; latent?: unknown; layers?: unknown }, i: number) => {
      if (typeof a?.vae !== 'string' || a.latent !== allUnits[0]) throw new BadInputError(holder.file, `activations[${i}] is not a figure of ${allUnits[0]}`);
      return { vae: a.vae, latent: allUnits[0], layers: readLayers(holder.file, a.layers, `activations[${i}].layers`) };
    });
  }
  const report = await addReportFiles(files, result, index, { vaecheck: String(first.vaecheck), onnxruntime: String(first.onnxruntime), createdAt: new Date().toISOString() });
  return { files, result, report, shards: shards.length };
}

/** A shard cell's `tiling` (null or absent when its decodes were whole; reports from before the field lack it). */
function readTiling(file: string, key: string, raw: unknown): TilingInfo | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object') throw new BadInputError(file, `${key}.tiling is not an object or null`);
  const t = raw as Record<string, unknown>;
  const n = (k: keyof TilingInfo) => jsonNumber(file, `${key}.tiling.${k}`, t[k]);
  return { tileSampleSize: n('tileSampleSize'), tileLatentSize: n('tileLatentSize'), overlap: n('overlap'), rows: n('rows'), columns: n('columns') };
}

/** Which command wrote a shard folder: the file its --out holds (report.json, manifest.json, gate.json, nan-scan.json). */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BadInputError, UsageError, option } from '../errors.js';

export type ShardKind = 'compare' | 'baseline' | 'gate' | 'nan-scan';

const MARKERS: [ShardKind, string][] = [
  ['compare', 'report.json'],
  ['baseline', 'manifest.json'],
  ['gate', 'gate.json'],
  ['nan-scan', 'nan-scan.json'],
];

/** @throws BadInputError for a folder holding no shard output (or several kinds); UsageError for folders of different commands */
export function detectShardKind(dirs: readonly string[]): ShardKind {
  if (dirs.length === 0) throw new UsageError('merge needs the shard folders to join');
  let kind: ShardKind | undefined;
  let firstDir = '';
  for (const dir of dirs) {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new BadInputError(dir, `is not a folder (give the output folders, ${option('out')}, of the shard runs)`);
    const found = MARKERS.filter(([, f]) => existsSync(join(dir, f)));
    if (found.length === 0) throw new BadInputError(dir, `holds no shard output (${MARKERS.map(([, f]) => f).join(', ')})`);
    if (found.length > 1) throw new BadInputError(dir, `holds the outputs of several commands (${found.map(([, f]) => f).join(', ')}); give one command's shard folders`);
    const k = found[0][0];
    if (kind && k !== kind) throw new UsageError(`${dir} holds ${k} output but ${firstDir} holds ${kind} output: merge the shards of one run`);
    kind = k;
    firstDir ||= dir;
  }
  return kind!;
}

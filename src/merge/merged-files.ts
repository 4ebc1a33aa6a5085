/**
 * What an earlier `vaecheck merge --out DIR` wrote into DIR, read back from its own record, so that
 * merge --force may replace that folder whole; anything else in DIR is someone else's and makes the
 * folder refused (see OutputSet.folder). A merged compare or baseline is the same folder the
 * unsharded command writes, so it is recognised the same way; a merged gate or nan-scan folder holds
 * only its JSON result (gate: and its junit.xml, its failed cases' images, plus --junit when that file
 * was put inside DIR).
 */
import { join } from 'node:path';
import { readRegularText } from '../io/safe-path.js';
import { baselineFiles } from '../gate/baseline.js';
import { gateOutputFiles } from '../gate/gate-output.js';
import { ownedCompareFiles } from '../report/compare-owned.js';
import type { ShardKind } from './detect.js';
import { NAN_SCAN_SCHEMA } from './merge-nan-scan.js';

/** The file whose presence makes DIR a finished output of `kind` (renamed or swapped in with it). */
export const MERGED_RECORD: Record<ShardKind, string> = {
  compare: 'report.json',
  baseline: 'manifest.json',
  gate: 'gate.json',
  'nan-scan': 'nan-scan.json',
};

function hasSchema(file: string, schema: string): boolean {
  try {
    return (JSON.parse(readRegularText(file)) as { schema?: unknown })?.schema === schema;
  } catch {
    return false;
  }
}

/**
 * The files (relative, '/'-separated) an earlier merge of `kind` left in `dir`, or undefined when
 * `dir` holds no such output. `extra`: further files this run puts there (gate --junit inside --out).
 */
export function ownedMergedFiles(kind: ShardKind, extra: readonly string[] = []): (dir: string) => string[] | undefined {
  return (dir) => {
    let files: string[] | undefined;
    if (kind === 'compare') files = ownedCompareFiles(dir);
    else if (kind === 'baseline') files = baselineFiles(dir);
    else if (kind === 'gate') files = gateOutputFiles(dir);
    else files = hasSchema(join(dir, 'nan-scan.json'), NAN_SCAN_SCHEMA) ? ['nan-scan.json'] : undefined;
    return files && [...files, ...extra];
  };
}

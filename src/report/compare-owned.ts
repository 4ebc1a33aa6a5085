/**
 * The files an earlier `vaecheck compare --out DIR` wrote, read back from its report.json (schema
 * vaecheck.compare/1): its four fixed files, every decoded / diff image its cells list and its activation figures. compare
 * replaces such a folder whole with --force; a file not listed is someone else's and is kept (refused).
 */
import { join } from 'node:path';
import { readRegularText } from '../io/safe-path.js';
import { COMPARE_SCHEMA } from './compare-report.js';

export const COMPARE_FIXED_FILES = ['matrix.png', 'report.json', 'report.md', 'report.html'] as const;

export function ownedCompareFiles(dir: string): string[] | undefined {
  let report: { schema?: unknown; cells?: { items?: { files?: Record<string, unknown> }[] }[]; activations?: { file?: unknown }[] };
  try {
    report = JSON.parse(readRegularText(join(dir, 'report.json')));
  } catch {
    return undefined;
  }
  if (report?.schema !== COMPARE_SCHEMA) return undefined;
  const files: string[] = [...COMPARE_FIXED_FILES];
  for (const c of Array.isArray(report.cells) ? report.cells : []) {
    for (const it of Array.isArray(c?.items) ? c.items : []) {
      for (const f of Object.values(it?.files ?? {})) if (typeof f === 'string') files.push(f);
    }
  }
  for (const a of Array.isArray(report.activations) ? report.activations : []) if (typeof a?.file === 'string') files.push(a.file);
  return files;
}

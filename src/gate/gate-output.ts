/**
 * What a gate --out folder holds, read back from its gate.json: the result file, junit.xml and the
 * images of each failed case (gate-diff-files.ts). A rerun with --force uses it to remove the images of
 * cases that failed before and pass now, so that the folder never shows images gate.json does not list;
 * vaecheck merge uses it to recognise an earlier merged gate folder it may replace.
 */
import { lstatSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { readRegularText } from '../io/safe-path.js';
import { gateDiffFileNames } from './gate-diff-files.js';

export const GATE_SCHEMA = 'vaecheck.gate/1';

/** The files (relative) a gate.json in `dir` accounts for, or undefined when `dir` holds no gate result. */
export function gateOutputFiles(dir: string): string[] | undefined {
  let json: { schema?: unknown; cases?: unknown };
  try {
    json = JSON.parse(readRegularText(join(dir, 'gate.json')));
  } catch {
    return undefined;
  }
  if (json?.schema !== GATE_SCHEMA) return undefined;
  const cases = Array.isArray(json.cases) ? (json.cases as { name?: unknown; pass?: unknown }[]) : [];
  const images = cases.filter((c) => c?.pass === false && typeof c.name === 'string').flatMap((c) => gateDiffFileNames(c.name as string));
  return ['gate.json', 'junit.xml', ...images];
}

/**
 * Removes from `dir` the failed-case images of an earlier gate that this run (`kept`) did not write,
 * and the folders they leave empty. Only regular files that gate names are touched.
 */
export function removeStaleGateImages(dir: string, earlier: readonly string[], kept: ReadonlySet<string>): void {
  const root = resolve(dir);
  for (const rel of earlier) {
    if (!rel.endsWith('.png') || kept.has(rel)) continue;
    const path = join(root, rel);
    try {
      if (!lstatSync(path).isFile()) continue;
      rmSync(path);
      for (let d = dirname(path); d.startsWith(`${root}/`) && readdirSync(d).length === 0; d = dirname(d)) rmdirSync(d);
    } catch {
      // gone already, or not ours to remove
    }
  }
}

import { Args, Flags } from '@oclif/core';
import { appendFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../src/errors.js';
import { OutputSet } from '../src/io/output-files.js';
import { type ShardKind, detectShardKind } from '../src/merge/detect.js';
import { mergeCompare } from '../src/merge/merge-compare.js';
import { mergeBaseline } from '../src/merge/merge-baseline.js';
import { mergeGate } from '../src/merge/merge-gate.js';
import { mergeNanScan } from '../src/merge/merge-nan-scan.js';
import { caseLine } from '../src/gate/gate.js';
import { gateAnnotations, gateSummaryMarkdown } from '../src/report/github.js';
import { VaecheckCommand } from './_base.js';

export default class Merge extends VaecheckCommand {
  static summary = 'Join the output folders of --shard i/n runs into what one unsharded run writes';
  static description =
    'Give the --out folders of all n shards of one compare, baseline, gate or nan-scan run. ' +
    'compare: report.json (every cell\'s statistics and verdict recomputed from the per-latent figures), report.md, report.html, matrix.png, decoded/ and diff/. ' +
    'baseline: one baseline folder and manifest. gate: gate.json and junit.xml (one suite, every case once), the GitHub step summary and annotations under GitHub Actions. nan-scan: nan-scan.json. ' +
    'Shards of different runs (VAEs, weights sha256, precisions, thresholds, inputs, vaecheck version) are refused with exit 3, a missing or doubled shard with exit 2; nothing is written then. ' +
    'Exit 1 when the merged verdict fails, as the unsharded run would.';
  static examples = [
    '<%= config.bin %> merge shard-1 shard-2 shard-3 --out report',
    '<%= config.bin %> merge shards/* --out gate-report --junit reports/vaecheck.xml',
  ];
  static strict = false;
  static args = { shards: Args.string({ description: 'shard output folders (all n of them)', required: true }) };
  static flags = {
    out: Flags.string({ description: 'folder for the merged output', required: true }),
    junit: Flags.string({ description: 'gate shards: also write the merged JUnit XML here' }),
    force: Flags.boolean({ description: 'overwrite files already in --out (and --junit)' }),
    json: Flags.boolean({ description: 'print the merged report.json / gate.json / nan-scan.json' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Merge);
    const dirs = argv as string[];
    const kind: ShardKind = detectShardKind(dirs);
    if (flags.junit && kind !== 'gate') throw new UsageError('--junit goes with gate shards (compare, baseline and nan-scan write no JUnit)');
    const out = new OutputSet(flags.force);
    let ok: boolean;
    let json: string;
    let files: Map<string, Uint8Array>;
    const lines: string[] = [];
    let summary: string | undefined;
    let annotations: string[] = [];
    if (kind === 'compare') {
      const m = await mergeCompare(dirs);
      files = m.files;
      ok = m.report.ok;
      json = new TextDecoder().decode(files.get('report.json'));
      for (const c of m.result.cells) if (!c.pass) lines.push(`FAILED | ${c.key} | ${c.reasons.join('; ')}`);
      lines.push(`${ok ? 'PASSED' : 'FAILED'} | vaecheck merge | ${m.shards} compare shard(s): ${m.result.cells.filter((c) => c.pass).length}/${m.result.cells.length} cells ✅ over ${m.result.latents.length} latent(s) -> ${join(flags.out, 'report.json')}, report.md, report.html, matrix.png`);
      summary = new TextDecoder().decode(files.get('report.md'));
    } else if (kind === 'baseline') {
      if (!flags.force && existsSync(join(flags.out, 'manifest.json'))) throw new UsageError(`${flags.out} already holds a baseline; pass --force to replace it`);
      const m = mergeBaseline(dirs);
      files = m.files;
      ok = true;
      json = new TextDecoder().decode(files.get('manifest.json'));
      lines.push(`baseline of ${m.manifest.vae.source} (sha256 ${m.manifest.vae.sha256.slice(0, 12)}…): ${m.manifest.cases.length} decode(s) of ${m.manifest.latents.length} latent(s) at ${m.manifest.precisions.join(', ')} from ${m.shards} shard(s) -> ${flags.out}`);
    } else if (kind === 'gate') {
      const m = mergeGate(dirs);
      files = m.files;
      ok = m.result.pass;
      json = new TextDecoder().decode(files.get('gate.json'));
      for (const c of m.result.cases) {
        lines.push(caseLine(c));
        if (!c.pass && c.note) lines.push(`  note: ${c.note}`);
      }
      lines.push(`${ok ? 'PASSED' : 'FAILED'} | vaecheck gate | ${m.result.cases.filter((c) => c.pass).length}/${m.result.cases.length} cases passed at ${m.result.precision} (${m.shards} shards merged)`);
      if (flags.junit) out.check(flags.junit, true);
      summary = gateSummaryMarkdown(m.result);
      annotations = gateAnnotations(m.result);
      if (flags.junit) out.add(flags.junit, files.get('junit.xml')!);
    } else {
      const m = mergeNanScan(dirs);
      files = m.files;
      ok = m.ok;
      json = new TextDecoder().decode(files.get('nan-scan.json'));
      lines.push(...m.lines);
    }
    for (const rel of files.keys()) out.check(join(flags.out, rel), true);
    // a baseline is complete only once its manifest is there: it is renamed into place last
    const ordered = [...files.keys()].sort((a, b) => Number(a === 'manifest.json') - Number(b === 'manifest.json'));
    for (const rel of ordered) out.add(join(flags.out, rel), files.get(rel)!);
    out.commit();
    if (process.env.GITHUB_ACTIONS === 'true' && summary !== undefined) {
      if (process.env.GITHUB_STEP_SUMMARY) appendFileSync(process.env.GITHUB_STEP_SUMMARY, summary);
      for (const line of annotations) this.workflowCommand(line, flags.json);
    }
    if (flags.json) this.log(json.trimEnd());
    else for (const l of lines) this.log(l);
    if (!ok) process.exitCode = 1;
  }
}

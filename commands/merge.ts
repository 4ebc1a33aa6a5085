import { Args, Flags } from '@oclif/core';
import { appendFileSync, existsSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { UsageError } from '../src/errors.js';
import { OutputSet } from '../src/io/output-files.js';
import { type ShardKind, detectShardKind } from '../src/merge/detect.js';
import { mergeCompare } from '../src/merge/merge-compare.js';
import { mergeBaseline } from '../src/merge/merge-baseline.js';
import { mergeGate } from '../src/merge/merge-gate.js';
import { mergeNanScan } from '../src/merge/merge-nan-scan.js';
import { MERGED_RECORD, ownedMergedFiles } from '../src/merge/merged-files.js';
import { caseLine } from '../src/gate/gate.js';
import { gateAnnotations, gateSummaryMarkdown } from '../src/report/github.js';
import { VaecheckCommand } from './_base.js';

interface Merged {
  files: Map<string, Uint8Array>;
  ok: boolean;
  json: string;
  lines: string[];
  summary?: string;
  annotations: string[];
}

const text = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes);

export default class Merge extends VaecheckCommand {
  static summary = 'Join the output folders of --shard i/n runs into what one unsharded run writes';
  static description =
    'Give the --out folders of all n shards of one compare, baseline, gate or nan-scan run. ' +
    'compare: report.json (every cell\'s statistics and verdict recomputed from the per-latent figures), report.md, report.html, matrix.png, decoded/ and diff/. ' +
    'baseline: one baseline folder and manifest. gate: gate.json and junit.xml (one suite, every case once), the GitHub step summary and annotations under GitHub Actions. nan-scan: nan-scan.json. ' +
    'Shards of different runs (VAEs, weights sha256, precisions, thresholds, inputs, vaecheck version) are refused with exit 3, a missing or doubled shard with exit 2; nothing is written then. ' +
    '--out is written beside its target and swapped in whole at the end; an existing --out is replaced only with --force and only when it holds an earlier merged output of the same kind (a folder holding anything else is refused). ' +
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
    force: Flags.boolean({ description: 'replace an earlier merged output in --out (a folder holding anything else is refused even so), and overwrite --junit' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Merge);
    const dirs = argv as string[];
    const kind: ShardKind = detectShardKind(dirs);
    if (flags.junit && kind !== 'gate') throw new UsageError('--junit goes with gate shards (compare, baseline and nan-scan write no JUnit)');
    if (kind === 'baseline' && !flags.force && existsSync(join(flags.out, 'manifest.json'))) throw new UsageError(`${flags.out} already holds a baseline; pass --force to replace it`);
    // --junit inside --out is one more file of the folder; elsewhere it is a file of its own
    const junitRel = flags.junit ? relative(resolve(flags.out), resolve(flags.junit)) : undefined;
    if (junitRel === '') throw new UsageError('--junit names the --out folder itself; give a file path');
    const junitInside = junitRel !== undefined && !junitRel.startsWith('..') && !isAbsolute(junitRel);
    // the whole --out folder is one output, as baseline and compare write it: refused when it holds
    // anything but an earlier merge of this kind (or a shard), locked, staged beside its target and
    // swapped in whole at the end
    const out = OutputSet.folder(flags.out, {
      force: flags.force,
      owned: ownedMergedFiles(kind, junitInside ? [junitRel!.split(sep).join('/')] : []),
      inputs: dirs,
      what: `merged ${kind} output`,
    });
    const junitOut = flags.junit && !junitInside ? new OutputSet(flags.force, dirs) : undefined;
    try {
      out.check(join(flags.out, MERGED_RECORD[kind]));
      if (flags.junit) (junitOut ?? out).check(flags.junit, true);
      const m = await this.merged(kind, dirs, flags.out);
      for (const [rel, bytes] of m.files) out.add(join(flags.out, rel), bytes);
      if (flags.junit) (junitOut ?? out).add(flags.junit, m.files.get('junit.xml')!);
      out.commit();
      junitOut?.commit();
      this.report(m, flags.json);
    } catch (e) {
      out.abort();
      junitOut?.abort();
      throw e;
    }
  }

  /** Joins the shards: the files of the merged output, its JSON, verdict and what to print. */
  private async merged(kind: ShardKind, dirs: string[], outDir: string): Promise<Merged> {
    const lines: string[] = [];
    if (kind === 'compare') {
      const m = await mergeCompare(dirs);
      const ok = m.report.ok;
      for (const c of m.result.cells) if (!c.pass) lines.push(`FAILED | ${c.key} | ${c.reasons.join('; ')}`);
      lines.push(`${ok ? 'PASSED' : 'FAILED'} | vaecheck merge | ${m.shards} compare shard(s): ${m.result.cells.filter((c) => c.pass).length}/${m.result.cells.length} cells ✅ over ${m.result.latents.length} latent(s) -> ${join(outDir, 'report.json')}, report.md, report.html, matrix.png`);
      return { files: m.files, ok, json: text(m.files.get('report.json')), lines, summary: text(m.files.get('report.md')), annotations: [] };
    }
    if (kind === 'baseline') {
      const m = mergeBaseline(dirs);
      lines.push(`baseline of ${m.manifest.vae.source} (sha256 ${m.manifest.vae.sha256.slice(0, 12)}…): ${m.manifest.cases.length} decode(s) of ${m.manifest.latents.length} latent(s) at ${m.manifest.precisions.join(', ')} from ${m.shards} shard(s) -> ${outDir}`);
      return { files: m.files, ok: true, json: text(m.files.get('manifest.json')), lines, annotations: [] };
    }
    if (kind === 'gate') {
      const m = mergeGate(dirs);
      const ok = m.result.pass;
      for (const c of m.result.cases) {
        lines.push(caseLine(c));
        if (!c.pass && c.note) lines.push(`  note: ${c.note}`);
      }
      lines.push(`${ok ? 'PASSED' : 'FAILED'} | vaecheck gate | ${m.result.cases.filter((c) => c.pass).length}/${m.result.cases.length} cases passed at ${m.result.precision} (${m.shards} shards merged)`);
      return { files: m.files, ok, json: text(m.files.get('gate.json')), lines, summary: gateSummaryMarkdown(m.result), annotations: gateAnnotations(m.result) };
    }
    const m = mergeNanScan(dirs);
    return { files: m.files, ok: m.ok, json: text(m.files.get('nan-scan.json')), lines: [...m.lines], annotations: [] };
  }

  private report({ ok, json, lines, summary, annotations }: Merged, asJson: boolean): void {
    if (process.env.GITHUB_ACTIONS === 'true' && summary !== undefined) {
      if (process.env.GITHUB_STEP_SUMMARY) appendFileSync(process.env.GITHUB_STEP_SUMMARY, summary);
      for (const line of annotations) this.workflowCommand(line, asJson);
    }
    if (asJson) this.printJsonText(json.trimEnd());
    else for (const l of lines) this.log(l);
    if (!ok) process.exitCode = 1;
  }
}

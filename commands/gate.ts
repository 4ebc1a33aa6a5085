import { Flags } from '@oclif/core';
import { PRECISIONS, type Precision } from '../src/dtype.js';
import { UsageError } from '../src/errors.js';
import { readBaseline } from '../src/gate/baseline.js';
import { GATE_DEFAULTS, type GateThresholds, readGateConfig, thresholdProblem } from '../src/gate/config.js';
import { type GateCase, caseLine, runGate, weightsNote } from '../src/gate/gate.js';
import { OutputSet } from '../src/io/output-files.js';
import { gateAnnotations, gateSummaryMarkdown } from '../src/report/github.js';
import { gateJunit } from '../src/report/junit.js';
import { toJson } from '../src/format.js';
import { VaecheckCommand, asDevice, deviceFlag } from './_base.js';
import { loadVaeFromArg, vaeLoadFlags } from './_hub.js';
import { shardFlags, shardFromFlags, shardUnitsLine } from './_shard.js';
import { join } from 'node:path';
import { Progress } from './_progress.js';
import { checkJunitPath, githubOutputs, junitFlag, writeJunit } from './_ci.js';
import { gateDiffFiles } from '../src/gate/gate-diff-files.js';
import { gateOutputFiles, removeStaleGateImages } from '../src/gate/gate-output.js';
import type { Tensor } from '../src/tensor.js';

export default class Gate extends VaecheckCommand {
  static summary = 'Fail a CI build when a VAE\'s decode drifts from its baseline or turns non-finite';
  static description =
    'Decodes the baseline\'s latents with the candidate at --precision and compares each decode with the baseline\'s (at the same precision when recorded, else its first). ' +
    `Defaults: --min-psnr ${GATE_DEFAULTS.minPsnr} dB, --min-ssim ${GATE_DEFAULTS.minSsim}, --max-nan ${GATE_DEFAULTS.maxNan}, --max-mismatch ${GATE_DEFAULTS.maxMismatch}%; ` +
    'vaecheck.config.json (or package.json "vaecheck") in the working folder overrides them, flags override both. ' +
    'Exit 0 pass, 1 drift or NaN, 2 usage, 3 bad input (including a baseline that does not match its manifest).';
  static examples = [
    '<%= config.bin %> gate --baseline vae-baseline/ --vae vae/ --precision fp16 --junit reports/vaecheck.xml',
    '<%= config.bin %> gate --baseline vae-baseline/ --vae merged.safetensors --min-psnr 45 --json',
  ];
  static flags = {
    baseline: Flags.string({ description: 'baseline folder made by vaecheck baseline', required: true }),
    vae: Flags.string({ description: 'the candidate VAE', required: true }),
    precision: Flags.string({ description: 'decode precision of the candidate (default fp32, or the config\'s)', options: [...PRECISIONS] }),
    'min-psnr': Flags.string({ description: `fail below this PSNR in dB (default ${GATE_DEFAULTS.minPsnr})` }),
    'min-ssim': Flags.string({ description: `fail below this SSIM (default ${GATE_DEFAULTS.minSsim})` }),
    'max-nan': Flags.string({ description: 'largest allowed NaN/Inf fraction of a decode, e.g. 0.001 or 0.1% (default 0)' }),
    'max-mismatch': Flags.string({ description: `largest allowed pixelmatch mismatch, e.g. 1% (default ${GATE_DEFAULTS.maxMismatch}%)` }),
    junit: junitFlag,
    out: Flags.string({ description: 'folder for gate.json (what --json prints), junit.xml, and the images of each failed case (decoded/, diff/); with --shard, what vaecheck merge joins' }),
    force: Flags.boolean({ description: 'overwrite files already in --out' }),
    device: deviceFlag,
    ...vaeLoadFlags,
    ...shardFlags,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Gate);
    const cfg = readGateConfig(process.cwd());
    // --max-mismatch is in percent ("1" and "1%" alike); --max-nan is a fraction, so "0.1%" means 0.001
    const num = (name: string, v: string | undefined) => {
      if (v === undefined) return undefined;
      const pct = v.trim().endsWith('%');
      const x = Number(v.trim().replace(/%$/, ''));
      if (v.trim() === '' || !Number.isFinite(x)) throw new UsageError(`--${name} must be a number, got ${JSON.stringify(v)}`);
      const value = pct && name === 'max-nan' ? x / 100 : x;
      const key = ({ 'min-psnr': 'minPsnr', 'min-ssim': 'minSsim', 'max-nan': 'maxNan', 'max-mismatch': 'maxMismatch' } as const)[name as 'max-nan'];
      const problem = thresholdProblem(key, value);
      if (problem) throw new UsageError(`--${name} ${problem}`);
      return value;
    };
    const pick = (k: keyof GateThresholds, flag: number | undefined) => flag ?? cfg?.[k] ?? GATE_DEFAULTS[k];
    const thresholds: GateThresholds = {
      minPsnr: pick('minPsnr', num('min-psnr', flags['min-psnr'])),
      minSsim: pick('minSsim', num('min-ssim', flags['min-ssim'])),
      maxNan: pick('maxNan', num('max-nan', flags['max-nan'])),
      maxMismatch: pick('maxMismatch', num('max-mismatch', flags['max-mismatch'])),
    };
    const precision = (flags.precision ?? cfg?.precision ?? 'fp32') as Precision;
    if (!PRECISIONS.includes(precision)) throw new UsageError(`precision ${JSON.stringify(precision)} (from ${cfg?.source}) is not one of ${PRECISIONS.join(', ')}`);
    const out = new OutputSet(flags.force, [flags.baseline, flags.vae]);
    const shard = shardFromFlags(flags, flags.out !== undefined);
    // --junit is a CI output path, replaced on every run; its folder is created when missing (reports/ in a fresh CI checkout)
    if (flags.junit) checkJunitPath(flags.junit);
    if (flags.out) for (const f of ['gate.json', 'junit.xml']) out.check(join(flags.out, f), true);
    // what an earlier gate left in --out (replaced with --force): its failed cases' images may be stale
    const earlier = flags.out && flags.force ? (gateOutputFiles(flags.out) ?? []) : [];
    const baseline = readBaseline(flags.baseline);
    const candidate = await loadVaeFromArg(flags.vae, flags, this.globals);
    const t0 = performance.now();
    const diffs = new Map<string, Uint8Array>();
    const onFailedCase = flags.out ? async (c: GateCase, ref: Tensor, cand: Tensor) => {
      for (const [rel, bytes] of await gateDiffFiles(c.name, ref, cand)) diffs.set(rel, bytes);
    } : undefined;
    const result = await Progress.for(this.globals).around((onProgress) =>
      runGate(baseline, candidate, precision, thresholds, asDevice(flags.device), shard ? { spec: shard, vaecheck: this.config.version } : undefined, { onProgress, onFailedCase }),
    );
    const seconds = (performance.now() - t0) / 1000;
    if (result.shard) process.stderr.write(shardUnitsLine(result.shard, 'latent(s)'));
    const json = toJson({ schema: 'vaecheck.gate/1', ...result, seconds });
    // the job summary first: it is there whatever happens to the files
    githubOutputs(gateSummaryMarkdown(result), gateAnnotations(result), flags.json, this);
    if (flags.out) {
      for (const [rel, bytes] of diffs) out.add(join(flags.out, rel), bytes);
      out.add(join(flags.out, 'gate.json'), `${json}\n`);
      out.add(join(flags.out, 'junit.xml'), gateJunit(result, seconds));
    }
    out.commit();
    if (flags.out) removeStaleGateImages(flags.out, earlier, new Set(diffs.keys()));
    if (flags.junit) writeJunit(flags.junit, gateJunit(result, seconds), [flags.baseline, flags.vae]);
    const note = weightsNote(result);
    if (note) process.stderr.write(`vaecheck: note: ${note}\n`);
    if (flags.json) this.printJsonText(json);
    else {
      for (const c of result.cases) {
        this.log(caseLine(c));
        if (!c.pass && c.note) this.log(`  note: ${c.note}`);
      }
      this.log(`${result.pass ? 'PASSED' : 'FAILED'} | vaecheck gate | ${result.cases.filter((c) => c.pass).length}/${result.cases.length} cases passed at ${precision}${cfg ? ` (thresholds from ${cfg.source} and flags)` : ''}`);
    }
    if (!result.pass) process.exitCode = 1;
  }
}

import { Flags } from '@oclif/core';
import chalk from 'chalk';
import { basename, join } from 'node:path';
import { PRECISIONS, type Precision } from '../src/dtype.js';
import { UsageError } from '../src/errors.js';
import { compareFiles } from '../src/report/compare-files.js';
import { type CompareInput, type CompareProgress, type CompareResult, parseVaeArg, runCompare } from '../src/compare/run-compare.js';
import { DEMO_ORIGINAL, demoEpilogue, demoInput, demoOutcome } from '../src/compare/demo.js';
import { OutputSet } from '../src/io/output-files.js';
import { cellSummary, precisionTitle, thresholdText } from '../src/report/compare-report.js';
import { ownedCompareFiles } from '../src/report/compare-owned.js';
import { toJson } from '../src/format.js';
import { parseSize } from '../src/tensors/latents.js';
import { VaecheckCommand, asDevice, deviceFlag, latentSpaceRequest } from './_base.js';
import { logText } from '../src/ci-text.js';
import { Progress } from './_progress.js';
import { checkJunitPath, githubOutputs, junitFlag, writeJunit } from './_ci.js';
import { compareAnnotations, compareSummaryMarkdown } from '../src/report/github.js';
import { compareJunit } from '../src/report/junit.js';
import { defaultVaes, resolveVaeTarget, vaeLoadFlags } from './_hub.js';
import { DEFAULT_VAES } from '../src/hub/default-pair.js';
import { shardFlags, shardFromFlags, shardUnitsLine } from './_shard.js';

export const DEFAULT_MIN_PSNR = 25;

export default class Compare extends VaecheckCommand {
  static summary = 'Decode the same latents with every VAE at every precision: the model card matrix, diff images, PSNR/SSIM tables';
  static description =
    'Each (VAE, precision) cell decodes the same latents and is compared with the reference cell (default: the first VAE at fp32). ' +
    `A cell is ✅ when its decode is finite, its PSNR against the reference is at least --min-psnr (default ${DEFAULT_MIN_PSNR} dB: a usable picture close to the reference, ` +
    'which a fine-tuned sibling such as sdxl-vae-fp16-fix passes; fp16 emulation of the same VAE is typically 55–60 dB or more, bf16 40–45 dB) and its SSIM at least --min-ssim. ' +
    'Writes decoded/, diff/, matrix.png, report.json, report.md and report.html into --out. Exit 1 when any cell is ⚠️ (with --demo: when the demo does not show what it should, its original failing in fp16 only). ' +
    `Without --vae (and --demo) the rows are ${DEFAULT_VAES.map((d) => `${d.label} (${d.spec})`).join(' and ')}, from the Hugging Face cache or downloaded into it.`;
  static examples = [
    '<%= config.bin %> compare --demo --out demo/   # exit 0 when the demo shows what it should: only the original\'s fp16 cell fails',
    '<%= config.bin %> compare --out out/',
    '<%= config.bin %> compare --vae stabilityai/sdxl-vae --vae fp16-fix=hf:madebyollin/sdxl-vae-fp16-fix --random --out out/',
    '<%= config.bin %> compare --vae sdxl-vae=sdxl_vae.safetensors --vae fp16-fix=./sdxl-vae-fp16-fix --random --seed 1 --size 64x64 --out out/',
    '<%= config.bin %> compare --vae a.safetensors --vae b.safetensors --image photo.png --size 512x512 --out out/ --json',
  ];
  static flags = {
    vae: Flags.string({
      description: `VAE as label=path or path (label: file or folder name); a path may be a Hub repo (owner/name, hf:owner/name[@revision][/subfolder]); repeat for each row (default: ${DEFAULT_VAES.map((d) => d.spec).join(' and ')})`,
      multiple: true,
    }),
    ...vaeLoadFlags,
    demo: Flags.boolean({ description: 'use the bundled miniature VAE pair and latents (no download)' }),
    precision: Flags.string({ description: 'comma-separated columns', default: 'fp32,bf16,fp16' }),
    latents: Flags.string({ description: 'latent files (.npy / .safetensors, scaled); repeat for several', multiple: true }),
    image: Flags.string({ description: 'image file or folder (every image in it, sorted by name); repeat for more. Encoded once by the first VAE at fp32; also a second reference', multiple: true }),
    size: Flags.string({ description: 'with --random: latent size HxW; with --image: resize images to HxW' }),
    random: Flags.boolean({ description: 'seeded N(0,1) scaled latents' }),
    seed: Flags.integer({ description: 'seed for --random [default: 0]', default: 0 }),
    batch: Flags.integer({ description: 'how many random latents', default: 1, min: 1 }),
    unscaled: Flags.boolean({ description: 'latent files are raw encoder outputs' }),
    reference: Flags.string({ description: 'reference cell as label@precision (default: first VAE @fp32)' }),
    'min-psnr': Flags.string({ description: 'PSNR threshold in dB for ✅', default: String(DEFAULT_MIN_PSNR) }),
    'min-ssim': Flags.string({ description: 'SSIM threshold for ✅ (0: SSIM is reported, not required)', default: '0' }),
    out: Flags.string({ description: 'output folder' }),
    force: Flags.boolean({ description: 'overwrite files already in --out' }),
    junit: junitFlag,
    device: deviceFlag,
    ...shardFlags,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Compare);
    const precisions = flags.precision.split(',').map((s) => s.trim()) as Precision[];
    for (const p of precisions) if (!PRECISIONS.includes(p)) throw new UsageError(`--precision: ${JSON.stringify(p)} is not one of ${PRECISIONS.join(', ')}`);
    if (new Set(precisions).size !== precisions.length) throw new UsageError('--precision lists a precision twice');
    const num = (name: string, v: string) => {
      const x = Number(v);
      if (!Number.isFinite(x)) throw new UsageError(`--${name} must be a number, got ${JSON.stringify(v)}`);
      return x;
    };
    const minPsnr = num('min-psnr', flags['min-psnr']);
    const minSsim = num('min-ssim', flags['min-ssim']);
    if (!flags.out && !flags.json) throw new UsageError('give --out <dir> (or --json to print the report only)');
    const shard = shardFromFlags(flags, flags.out !== undefined);

    let vaes = (flags.vae ?? []).map(parseVaeArg);
    let input: CompareInput;
    if (flags.demo) {
      if (vaes.length || flags.latents || flags.image || flags.random) throw new UsageError('--demo brings its own VAEs and latents; drop --vae/--latents/--image/--random');
      const demo = demoInput();
      vaes = demo.vaes;
      input = demo.input;
    } else {
      const kinds = [flags.latents ? 1 : 0, flags.image ? 1 : 0, flags.random ? 1 : 0].reduce((a, b) => a + b, 0);
      if (kinds > 1) throw new UsageError('give one of --latents, --image or --random');
      if (flags.image) input = { kind: 'images', files: flags.image, size: flags.size ? parseSize(flags.size) : undefined };
      else if (flags.latents) input = { kind: 'latents', sources: flags.latents.map((file) => ({ file, unscaled: flags.unscaled })) };
      else {
        const size = parseSize(flags.size ?? '64x64');
        input = { kind: 'latents', sources: [{ random: { seed: flags.seed, batch: flags.batch, ...size } }] };
      }
    }
    let reference: { label: string; precision: Precision } | undefined;
    if (flags.reference) {
      const m = flags.reference.match(/^(.+)@(fp32|bf16|fp16)$/);
      if (!m) throw new UsageError(`--reference must be label@fp32|bf16|fp16, got ${JSON.stringify(flags.reference)}`);
      reference = { label: m[1], precision: m[2] as Precision };
    }
    // --out is one output: written beside itself and swapped in whole, never holding other files or an input
    const inputs = [...vaes.map((v) => v.path), ...(flags.latents ?? []), ...(flags.image ?? [])];
    const out = flags.out ? OutputSet.folder(flags.out, { force: flags.force, owned: ownedCompareFiles, inputs, what: 'compare output' }) : undefined;
    if (flags.out) for (const f of ['report.json', 'report.md', 'report.html', 'matrix.png']) out!.check(join(flags.out, f), true);
    if (flags.junit) checkJunitPath(flags.junit);

    // Hub VAEs (and the default pair) are found in the cache, or downloaded, before any decoding
    if (!flags.demo) {
      if (vaes.length === 0) vaes = (await defaultVaes(flags.variant, this.globals)).map((d) => ({ label: d.label, path: d.path, source: d.spec }));
      else {
        const resolved = [];
        for (const v of vaes) {
          const t = await resolveVaeTarget(v.path, flags.variant, this.globals);
          resolved.push({ label: v.label, path: t.path, source: t.source });
        }
        vaes = resolved;
      }
    }
    const result: CompareResult = await Progress.for(this.globals).around((update) =>
      runCompare({ vaes, precisions, input: input!, reference, minPsnr, minSsim, device: asDevice(flags.device), variant: flags.variant, latentSpace: latentSpaceRequest(flags), shard, onProgress: (e) => update({ task: e.cell, stage: STAGE[e.stage], done: e.done, total: e.total }) }),
    );
    for (const w of result.warnings) this.warnLine(w);
    if (result.shard) process.stderr.write(shardUnitsLine(result.shard, 'latent(s)'));
    const outcome = flags.demo ? demoOutcome(result) : undefined;
    const note = outcome?.asExpected ? `The demo came out as it should: only ${DEMO_ORIGINAL}@fp16 is meant to fail, on NaN/Inf (its activations pass fp16's 65504).` : undefined;
    const { files, report } = await compareFiles(result, this.config.version, { note });
    githubOutputs(compareSummaryMarkdown(result), compareAnnotations(result), flags.json, this);
    if (out && flags.out) {
      for (const [rel, bytes] of files) out.add(join(flags.out, rel), bytes);
      out.commit();
    }
    if (flags.junit) writeJunit(flags.junit, compareJunit(result), inputs);
    if (flags.json) this.printJsonText(toJson(report));
    else this.renderTable(result, flags.out);
    if (outcome) {
      // the demo is there to show one expected failure: it succeeds when it shows exactly that
      if (!flags.json) for (const line of demoEpilogue(result, outcome, this.shownBin, flags.out ? join(flags.out, 'report.html') : undefined)) this.log(line);
      if (!outcome.asExpected) process.exitCode = 1;
    } else if (!report.ok) {
      if (!flags.json) for (const line of this.nextSteps(result)) this.log(line);
      process.exitCode = 1;
    }
  }

  /** After a NaN/Inf cell: the commands that find the overflowing layer and make the VAE fp16-safe. */
  private nextSteps(r: CompareResult): string[] {
    const broken = r.cells.filter((c) => !c.pass && c.nonFiniteFraction > 0);
    const lines: string[] = [];
    for (const label of new Set(broken.map((c) => c.vae))) {
      const v = r.vaes.find((x) => x.label === label)!;
      const precision = broken.find((c) => c.vae === label)!.precision;
      const arg = /^[\w./:@+-]+$/.test(v.source) ? v.source : JSON.stringify(v.source);
      // fix writes a diffusers folder for a diffusers folder's weights, else one .safetensors file (fix/write.ts)
      const file = basename(v.weightsFile);
      const fixOut = `${label.replace(/[^\w.-]+/g, '-')}-fp16-fixed${file.startsWith('diffusion_pytorch_model') ? '' : '.safetensors'}`;
      const canFix = precision === 'fp16' && file.toLowerCase().endsWith('.safetensors');
      lines.push(`next for ${logText(label)}: find the layer that overflows with ${this.shownBin} nan-scan --vae ${logText(arg)} --precision ${precision}` +
        (canFix ? `; make an fp16-safe copy with ${this.shownBin} fix --vae ${logText(arg)} --out ${logText(fixOut)}` : ''));
    }
    return lines;
  }

  private renderTable(r: CompareResult, outDir?: string): void {
    const w = Math.max(8, ...r.vaes.map((v) => logText(v.label).length)) + 2;
    const colW = 26;
    // ✅ is one code point two columns wide; ⚠️ is two code points (with VS16), two columns
    const width = (s: string) => [...s].length + (s.match(/✅/g)?.length ?? 0);
    const pad = (s: string, n: number) => s + ' '.repeat(Math.max(0, n - width(s)));
    this.log(`reference ${r.reference.key} · ${r.latents.length} latent(s) · ✅ = ${thresholdText(r.thresholds)}`);
    this.log(pad('', w) + r.precisions.map((p) => pad(`decoding in ${precisionTitle(p)}`, colW)).join(''));
    for (const v of r.vaes) {
      const cells = r.precisions.map((p) => {
        const c = r.cells.find((x) => x.vae === v.label && x.precision === p)!;
        const text = pad(cellSummary(c), colW);
        return c.pass ? chalk.green(text) : chalk.yellow(text);
      });
      this.log(pad(logText(v.label), w) + cells.join(''));
    }
    for (const c of r.cells) if (!c.pass) this.log(`FAILED | ${logText(c.key)} | ${logText(c.reasons.join('; '))}`);
    const decode = r.cells.reduce((a, c) => a + c.seconds.graph + c.seconds.decode, 0);
    this.log(`${r.cells.length} cells in ${r.seconds.total.toFixed(1)} s (decoding ${decode.toFixed(1)} s)${outDir ? ` · wrote ${join(outDir, 'matrix.png')}, report.json, report.md, report.html` : ''}`);
  }
}

const STAGE: Record<CompareProgress['stage'], string> = { weights: 'reading weights', graph: 'building graph', decode: 'decoding', done: 'done' };

import { Flags } from '@oclif/core';
import chalk from 'chalk';
import { extname } from 'node:path';
import { MAX_FINITE } from '../src/dtype.js';
import { latentIds, resolveLatents } from '../src/decode.js';
import { readImageBatch } from '../src/encode.js';
import { UsageError } from '../src/errors.js';
import { magnitude as fmt, percent, toJson } from '../src/format.js';
import { svgToPng } from '../src/images/sharp-io.js';
import { OutputSet } from '../src/io/output-files.js';
import { HEADROOM_LIMIT, type VaeScan, formatHeadroom, nanScanVae } from '../src/nan-scan.js';
import { activationPlotSvg } from '../src/report/activation-plot.js';
import { parseSize } from '../src/tensors/latents.js';
import type { Part } from '../src/vae-runner.js';
import { join } from 'node:path';
import { DEMO_PHOTOS, demoDir, demoInput } from '../src/compare/demo.js';
import { DEFAULT_VAES } from '../src/hub/default-pair.js';
import { logText } from '../src/ci-text.js';
import { nonFiniteWeightsNote } from '../src/weights/nonfinite-weights.js';
import { VaecheckCommand, asDevice, asPrecision, deviceFlag, latentFlags, latentSource, precisionFlag } from './_base.js';
import { type VaeTarget, defaultVaes, loadTarget, resolveVaeTarget, vaeLoadFlags } from './_hub.js';
import { shardFlags, shardFromFlags, shardUnitsLine } from './_shard.js';
import { sha256File } from '../src/io/sha256.js';
import { shardOfBatch } from '../src/shard/latent-units.js';
import { type ShardRecord, shardRecord } from '../src/shard/shard-record.js';
import { NAN_SCAN_SCHEMA } from '../src/merge/merge-nan-scan.js';
import { Progress } from './_progress.js';
import { checkJunitPath, githubOutputs, junitFlag, writeJunit } from './_ci.js';
import { nanScanAnnotations, nanScanSummaryMarkdown } from '../src/report/github.js';
import { nanScanJunit } from '../src/report/junit.js';

export default class NanScan extends VaecheckCommand {
  static summary = 'Find where a VAE overflows: the first op that turns non-finite, and the ops with the least headroom';
  static description =
    'Runs each VAE once at the precision with every op instrumented (max |x|, NaN and Inf counts computed inside the graph). ' +
    'Exit 0 when every value is finite, 1 when anything is not, 2 usage error, 3 bad input. Without --latents, seeded random latents are used (--seed, --size). ' +
    `Without --vae it scans ${DEFAULT_VAES.map((d) => d.spec).join(' and ')} from the Hugging Face cache (downloaded when missing); --demo scans the bundled miniature pair on a bundled photo's latents.`;
  static examples = [
    '<%= config.bin %> nan-scan --vae sdxl_vae.safetensors --vae sdxl-vae-fp16-fix/ --precision fp16 --plot activations.svg',
    '<%= config.bin %> nan-scan --vae sdxl_vae.safetensors --part both --latents latents.npy --json',
    '<%= config.bin %> nan-scan --precision fp16',
    '<%= config.bin %> nan-scan --vae hf:stabilityai/stable-diffusion-xl-base-1.0/vae --variant fp16',
  ];
  static optionFlags = { imageSize: '--image-size' };
  static flags = {
    vae: Flags.string({
      description: `VAE: .safetensors file, diffusers folder or Hub repo (owner/name, hf:owner/name[@revision][/subfolder]); repeat to compare (default: ${DEFAULT_VAES.map((d) => d.spec).join(' and ')})`,
      multiple: true,
    }),
    ...vaeLoadFlags,
    demo: Flags.boolean({ description: 'scan the bundled miniature VAE pair (no download); latents: a bundled photo\'s unless --latents or --random' }),
    precision: precisionFlag('fp16'),
    part: Flags.string({ description: 'which part to scan', options: ['decoder', 'encoder', 'both'], default: 'decoder' }),
    image: Flags.string({ description: 'encoder input image file(s) or folder(s) (default: the VAE\'s fp32 decode of the latents)', multiple: true }),
    'image-size': Flags.string({ description: 'resize encoder images to HxW' }),
    top: Flags.integer({ description: 'how many least-headroom ops to list', default: 5, min: 1 }),
    plot: Flags.string({ description: 'write the activation-magnitude plot (.svg or .png)' }),
    force: Flags.boolean({ description: 'overwrite an existing --plot file (or --out files)' }),
    junit: junitFlag,
    out: Flags.string({ description: 'folder for nan-scan.json (what --json prints); with --shard, what vaecheck merge joins' }),
    device: deviceFlag,
    ...latentFlags,
    ...shardFlags,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(NanScan);
    const precision = asPrecision(flags.precision);
    const parts: Part[] = flags.part === 'both' ? ['decoder', 'encoder'] : [flags.part as Part];
    const out = new OutputSet(flags.force, [...(flags.vae ?? []), ...(flags.latents ? [flags.latents] : []), ...(flags.image ?? [])]);
    if (flags.junit) checkJunitPath(flags.junit);
    const t0 = performance.now();
    if (flags.plot) {
      if (!['.svg', '.png'].includes(extname(flags.plot).toLowerCase())) throw new UsageError(`--plot must end in .svg or .png; got ${JSON.stringify(flags.plot)}`);
      out.check(flags.plot);
    }
    if (flags.demo && flags.vae) throw new UsageError('--demo brings its own VAEs; drop --vae (or --demo)');
    const shard = shardFromFlags(flags, flags.out !== undefined);
    if (shard && flags.image) throw new UsageError('--shard splits the latents; with --image the encoder scans the images as one batch: drop --shard or --image');
    if (flags.out) out.check(join(flags.out, 'nan-scan.json'), true);
    const src = latentSource(flags);
    if (flags.demo && !src.file && !src.random) src.file = join(demoDir(), `${DEMO_PHOTOS[0]}.npy`);
    if (!src.file && !src.random) src.random = { seed: flags.seed, batch: flags.batch, ...parseSize(flags.size) };
    const image = flags.image ? { tensor: await readImageBatch(flags.image, flags['image-size'] ? parseSize(flags['image-size'], '--image-size') : undefined), origin: flags.image.join(', ') } : undefined;
    const scans: VaeScan[] = [];
    let latentOrigin = '';
    // every VAE is found (and downloaded) before the first scan
    const targets: VaeTarget[] = [];
    if (flags.vae) for (const arg of flags.vae) targets.push(await resolveVaeTarget(arg, flags.variant, this.globals));
    else if (flags.demo) targets.push(...demoInput().vaes.map((v) => ({ path: v.path, label: v.label })));
    else targets.push(...(await defaultVaes(flags.variant, this.globals)).map((d) => ({ path: d.path, label: d.label, source: d.spec })));
    let record: ShardRecord | undefined;
    const weightsSha256: Record<string, string> = {};
    await Progress.for(this.globals).around(async (update) => {
      for (const t of targets) {
        const vae = loadTarget(t, flags);
        const latents = resolveLatents(vae, src);
        latentOrigin = latents.origin;
        for (const w of latents.warnings) this.warnLine(w);
        if (shard) {
          // units: the batch's items, named as compare names them; every VAE scans the same share
          const ids = latentIds(src, latents.raw.shape[0]);
          const mine = shardOfBatch(latents.raw, ids, shard);
          weightsSha256[vae.label] = await sha256File(vae.weightsFile);
          record = shardRecord(shard, mine.allUnits, mine.inputsSha256, { vaecheck: this.config.version, weightsSha256, device: flags.device, parts, top: flags.top });
          if (mine.units.length === 0) {
            scans.push({ label: vae.label, source: vae.source, finite: true, firstNonFinite: null, parts: [], layers: [] });
            continue;
          }
          latents.raw = mine.raw;
        }
        scans.push(await nanScanVae(vae, latents, { precision, parts, device: asDevice(flags.device), top: flags.top, onProgress: update }, image));
        const bad = nonFiniteWeightsNote(vae);
        if (bad) this.weightNotes.set(scans.length - 1, bad);
        if (vae.arch.family.family === 'sdxl') this.sdxl.add(scans.length - 1);
      }
    });
    if (record) process.stderr.write(shardUnitsLine(record, 'latent(s)'));
    if (flags.plot) {
      const svg = await activationPlotSvg(scans.map((s) => ({ label: s.label, layers: s.layers })), precision);
      out.add(flags.plot, extname(flags.plot).toLowerCase() === '.png' ? await svgToPng(svg) : svg);
    }
    const failed = scans.some((s) => !s.finite);
    const json = toJson({ schema: NAN_SCAN_SCHEMA, precision, limit: MAX_FINITE[precision], latents: latentOrigin, ok: !failed, vaes: scans, ...(record ? { shard: record } : {}) });
    if (flags.out) out.add(join(flags.out, 'nan-scan.json'), `${json}\n`);
    githubOutputs(nanScanSummaryMarkdown(scans, precision), nanScanAnnotations(scans), flags.json, this);
    out.commit();
    if (flags.junit) writeJunit(flags.junit, nanScanJunit(scans, precision, (performance.now() - t0) / 1000), [...(flags.vae ?? []), ...(flags.latents ? [flags.latents] : []), ...(flags.image ?? [])]);
    if (flags.json) {
      this.printJsonText(json);
    } else this.render(scans, precision, latentOrigin, flags.plot);
    for (const [i, note] of this.weightNotes) if (flags.json) process.stderr.write(`vaecheck: note: ${logText(scans[i].label)}: ${logText(note)}\n`);
    if (failed) process.exitCode = 1;
  }

  /** scan index -> why its weights alone make it non-finite */
  private readonly weightNotes = new Map<number, string>();
  /** scans of VAEs taken as SDXL's, for which a fine-tuned fp16-safe VAE exists */
  private readonly sdxl = new Set<number>();

  private render(scans: VaeScan[], precision: 'fp32' | 'bf16' | 'fp16', latentOrigin: string, plot?: string): void {
    const limit = MAX_FINITE[precision];
    const against = precision === 'fp16' ? '' : `; headroom is measured against fp16's ${HEADROOM_LIMIT}`;
    this.log(`nan-scan at ${precision} (largest finite ${fmt(limit)}${against}), latents ${logText(latentOrigin)}`);
    for (const [si, s] of scans.entries()) {
      for (const p of s.parts) {
        const head = `${logText(s.label)} · ${p.part}`;
        if (p.finite) {
          const top = p.leastHeadroom[0];
          this.log(`${chalk.green('PASSED')} | ${head} | all finite; largest |x| ${fmt(top?.maxAbs ?? 0)} at ${logText(top?.name ?? '-')} (headroom ${formatHeadroom(top?.headroom ?? Infinity)} to fp16's ${HEADROOM_LIMIT})`);
        } else {
          const first = p.layers.find((l) => l.name === p.firstNonFinite);
          const where = first ? `${logText(first.name)} (${first.inf} Inf, ${first.nan} NaN; largest finite |x| ${fmt(first.maxAbs)})` : 'the graph input';
          this.log(`${chalk.red('FAILED')} | ${head} | first non-finite op: ${where}; output ${percent(p.output.fraction)}% non-finite (${p.output.nan} NaN, ${p.output.inf} Inf of ${p.output.total})`);
          this.log(`  ${p.nonFiniteOps} of ${p.layers.length} traced ops hold NaN/Inf${first ? `, from ${first.name} on` : ''}`);
        }
        if (p.leastHeadroom.length) {
          this.log(`  least headroom to fp16's ${HEADROOM_LIMIT}${p.finite ? '' : ' among the finite ops'}:`);
          p.leastHeadroom.forEach((r, i) => this.log(`  ${String(i + 1).padStart(3)}. ${logText(r.name).padEnd(52)} max|x| ${fmt(r.maxAbs).padStart(10)}  headroom ${formatHeadroom(r.headroom)}`));
        }
        const beyond = p.layers.filter((l) => l.nan + l.inf === 0 && l.maxAbs > HEADROOM_LIMIT).length;
        if (precision !== 'fp16' && beyond > 0) this.log(`  note: ${beyond} op(s) exceed fp16's ${HEADROOM_LIMIT} (headroom below x1): this VAE overflows when run in fp16`);
        const bad = this.weightNotes.get(si);
        if (!p.finite && bad) this.log(`  note: ${logText(bad)}`);
        else if (!p.finite) this.log(`  note: decode this VAE in ${precision === 'fp16' ? 'bf16 or fp32' : 'fp32'}, or make an fp16-safe copy with ${this.shownBin} fix${this.sdxl.has(si) ? ' (for SDXL there is madebyollin/sdxl-vae-fp16-fix)' : ''}`);
      }
    }
    if (plot) this.log(`wrote the activation plot to ${plot}`);
  }
}

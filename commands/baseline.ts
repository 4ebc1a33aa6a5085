import { Flags } from '@oclif/core';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PRECISIONS, type Precision } from '../src/dtype.js';
import { UsageError } from '../src/errors.js';
import { baselineFiles, makeBaseline } from '../src/gate/baseline.js';
import { OutputSet } from '../src/io/output-files.js';
import { parseSize } from '../src/tensors/latents.js';
import { VaecheckCommand } from './_base.js';
import { loadVaeFromArg, vaeLoadFlags } from './_hub.js';
import { shardFlags, shardFromFlags, shardUnitsLine } from './_shard.js';
import { Progress } from './_progress.js';

export default class Baseline extends VaecheckCommand {
  static summary = 'Record reference decodes (lossless float32) and a manifest for vaecheck gate';
  static description =
    'Writes <out>/manifest.json (VAE sha256, every file\'s sha256, precisions, versions, metrics), <out>/latents/*.npy and <out>/decoded/<latent>@<precision>.npy. ' +
    'Refuses to replace an existing baseline without --force, and a folder holding anything else (or an input) even with it; the folder is written beside its target and swapped in whole at the end.';
  static examples = ['<%= config.bin %> baseline --vae vae/ --random --seed 1 --size 64x64 --batch 2 --out vae-baseline/'];
  static flags = {
    vae: Flags.string({ description: 'the reference VAE: .safetensors file, diffusers folder or Hugging Face Hub repo (owner/name, hf:owner/name[@revision][/subfolder])', required: true }),
    ...vaeLoadFlags,
    out: Flags.string({ description: 'baseline folder', required: true }),
    precision: Flags.string({ description: 'comma-separated precisions to record', default: 'fp32' }),
    latents: Flags.string({ description: 'latent files (scaled); repeat for several', multiple: true }),
    random: Flags.boolean({ description: 'seeded N(0,1) scaled latents' }),
    seed: Flags.integer({ description: 'seed for --random [default: 0]', default: 0 }),
    size: Flags.string({ description: 'latent size HxW for --random', default: '64x64' }),
    batch: Flags.integer({ description: 'how many random latents', default: 1, min: 1 }),
    unscaled: Flags.boolean({ description: 'latent files are raw encoder outputs' }),
    force: Flags.boolean({ description: 'replace an existing baseline' }),
    ...shardFlags,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Baseline);
    const precisions = flags.precision.split(',').map((s) => s.trim()) as Precision[];
    for (const p of precisions) if (!PRECISIONS.includes(p)) throw new UsageError(`--precision: ${JSON.stringify(p)} is not one of ${PRECISIONS.join(', ')}`);
    if (flags.latents && flags.random) throw new UsageError('give either --latents or --random, not both');
    const shard = shardFromFlags(flags, true);
    if (!flags.force && existsSync(join(flags.out, 'manifest.json'))) throw new UsageError(`${flags.out} already holds a baseline; pass --force to replace it`);
    // the whole folder is one output: refused when it holds anything but an earlier baseline (or an
    // input), locked against a second run, and swapped in whole at the end
    const out = OutputSet.folder(flags.out, { force: flags.force, owned: baselineFiles, inputs: [...(flags.latents ?? []), flags.vae], what: 'baseline' });
    out.check(join(flags.out, 'manifest.json'));
    const sources = flags.latents
      ? flags.latents.map((file) => ({ file, unscaled: flags.unscaled }))
      : [{ random: { seed: flags.seed, batch: flags.batch, ...parseSize(flags.size) } }];
    const vae = await loadVaeFromArg(flags.vae, flags, this.globals);
    const { files, manifest, warnings } = await Progress.for(this.globals).around((update) => makeBaseline(vae, sources, precisions, this.config.version, shard, update));
    for (const w of warnings) this.warnLine(w);
    if (manifest.shard) process.stderr.write(shardUnitsLine(manifest.shard, 'latent(s)'));
    for (const [rel, bytes] of files) out.add(join(flags.out, rel), bytes);
    out.commit();
    if (this.globals.json) this.printJson({ ...manifest, out: flags.out });
    this.log(`baseline of ${vae.label} (sha256 ${manifest.vae.sha256.slice(0, 12)}…): ${manifest.cases.length} decode(s) of ${manifest.latents.length} latent(s) at ${precisions.join(', ')} -> ${flags.out}`);
  }
}

import { Flags } from '@oclif/core';
import { decodeLatents, imageFiles, outputKind, resolveLatents } from '../src/decode.js';
import { percent } from '../src/format.js';
import { OutputSet } from '../src/io/output-files.js';
import { logText } from '../src/ci-text.js';
import { nonFiniteWeightsNote } from '../src/weights/nonfinite-weights.js';
import { describeTiling } from '../src/tiled-decode.js';
import { VaecheckCommand, asDevice, asPrecision, deviceFlag, latentFlags, latentSource, precisionFlag } from './_base.js';
import { VAE_ARG_HELP, loadVaeFromArg, vaeLoadFlags } from './_hub.js';
import { Progress } from './_progress.js';

export default class Decode extends VaecheckCommand {
  static summary = 'Decode latents with a VAE to PNG images or an unclamped float32 tensor';
  static description =
    'Latents in files are taken as scaled diffusion latents (as pipelines save them) and divided by the scaling factor; pass --unscaled for raw encoder outputs. ' +
    '--out ending in .png writes 8-bit images (name.png, or name-0.png, name-1.png … for a batch); .npy or .safetensors writes the float32 NCHW output unclamped. ' +
    'Exit 1 when the output holds NaN or Inf.';
  static examples = [
    '<%= config.bin %> decode --vae sdxl_vae.safetensors --latents latents.npy --out image.png',
    '<%= config.bin %> decode --vae ./sdxl-vae-fp16-fix --random --seed 1 --size 64x64 --precision fp16 --out decoded.npy',
  ];
  static flags = {
    vae: Flags.string({ description: VAE_ARG_HELP, required: true }),
    ...vaeLoadFlags,
    out: Flags.string({ description: 'output file: .png, .npy or .safetensors', required: true }),
    force: Flags.boolean({ description: 'overwrite existing output files' }),
    precision: precisionFlag(),
    device: deviceFlag,
    ...latentFlags,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Decode);
    outputKind(flags.out, ['png', 'npy', 'safetensors']);
    const out = new OutputSet(flags.force, [flags.vae, ...(flags.latents ? [flags.latents] : [])]);
    out.check(flags.out);
    const vae = await loadVaeFromArg(flags.vae, flags, this.globals);
    const latents = resolveLatents(vae, latentSource(flags));
    for (const w of latents.warnings) this.warnLine(w);
    const result = await Progress.for(this.globals).around((onProgress) => decodeLatents(vae, latents, { precision: asPrecision(flags.precision), device: asDevice(flags.device), onProgress }));
    const files = await imageFiles(flags.out, result.image, { vaecheck_precision: flags.precision, vaecheck_latents: latents.origin });
    for (const [path, bytes] of files) out.add(path, bytes);
    const written = out.commit();
    const nf = result.nonFinite;
    if (this.globals.json) {
      this.printJson(
        { schema: 'vaecheck.decode/1', vae: vae.label, source: vae.source, precision: flags.precision, latents: latents.origin, shape: result.image.shape, files: written, nan: nf.nan, inf: nf.inf, total: nf.total, nonFiniteFraction: nf.fraction, ok: nf.nan + nf.inf === 0 },
      );
    }
    this.log(`decoded ${logText(latents.origin)} with ${logText(vae.label)} at ${flags.precision}: [${result.image.shape.join(', ')}] -> ${logText(written.join(', '))}`);
    if (result.tiling) this.log(`note: ${describeTiling(result.tiling)}`);
    if (nf.nan + nf.inf > 0) {
      const bad = nonFiniteWeightsNote(vae);
      this.log(`FAILED | ${nf.nan} NaN and ${nf.inf} Inf values (${percent(nf.fraction)}% of the output; shown black in PNGs). ${bad ? `Note: ${logText(bad)}.` : 'Run vaecheck nan-scan to find the layer.'}`);
      process.exitCode = 1;
    }
  }
}

import { Flags } from '@oclif/core';
import { familyIsAmbiguousDefault } from '../src/architecture/family.js';
import type { VaeArchitecture } from '../src/architecture/vae-architecture.js';
import { outputKind, tensorFile } from '../src/decode.js';
import { encodeImages } from '../src/encode.js';
import { OutputSet } from '../src/io/output-files.js';
import { imagePaths } from '../src/images/image-paths.js';
import { parseSize } from '../src/tensors/latents.js';
import { VaecheckCommand, asDevice, asPrecision, deviceFlag, latentSpaceLine, precisionFlag } from './_base.js';
import { VAE_ARG_HELP, loadVaeFromArg, vaeLoadFlags } from './_hub.js';
import { Progress } from './_progress.js';

export default class Encode extends VaecheckCommand {
  static summary = 'Encode images to latents (the mean of the latent distribution)';
  static description =
    'Writes the latent mean of each image as one NCHW batch, shifted by the shift factor and multiplied by the scaling factor (the scaled space diffusion pipelines use) unless --unscaled. ' +
    'Images must share a size whose sides are multiples of 8 (for SDXL), or pass --size HxW to resize (centre crop).';
  static examples = ['<%= config.bin %> encode --vae sdxl_vae.safetensors --image photo.png --size 512x512 --out latents.npy'];
  static flags = {
    vae: Flags.string({ description: VAE_ARG_HELP, required: true }),
    ...vaeLoadFlags,
    image: Flags.string({ description: 'image file (png, jpg, webp, …) or folder (every image in it, sorted by name); repeat for a batch', required: true, multiple: true }),
    out: Flags.string({ description: 'output latents: .npy or .safetensors', required: true }),
    size: Flags.string({ description: 'resize (centre crop) every image to HxW pixels first' }),
    unscaled: Flags.boolean({ description: 'write raw encoder output instead of scaled latents' }),
    force: Flags.boolean({ description: 'overwrite an existing output file' }),
    precision: precisionFlag('fp32', 'encode'),
    device: deviceFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Encode);
    const kind = outputKind(flags.out, ['npy', 'safetensors']) as 'npy' | 'safetensors';
    const out = new OutputSet(flags.force, [flags.vae, ...flags.image]);
    out.check(flags.out);
    const size = flags.size ? parseSize(flags.size) : undefined;
    const vae = await loadVaeFromArg(flags.vae, flags, this.globals);
    const r = await Progress.for(this.globals).around((onProgress) => encodeImages(vae, flags.image, { size, unscaled: flags.unscaled, precision: asPrecision(flags.precision), device: asDevice(flags.device), onProgress }));
    out.add(flags.out, tensorFile(kind, 'latents', r.latents, { vaecheck_space: flags.unscaled ? 'unscaled' : 'scaled' }));
    out.commit();
    const nf = r.nonFinite;
    if (this.globals.json) {
      this.printJson({
        schema: 'vaecheck.encode/1', vae: vae.label, source: vae.source, precision: flags.precision, images: imagePaths(flags.image), shape: r.latents.shape,
        space: flags.unscaled ? 'unscaled' : 'scaled', scalingFactor: vae.arch.scalingFactor, shiftFactor: vae.arch.shiftFactor, file: flags.out, nan: nf.nan, inf: nf.inf, total: nf.total, ok: nf.nan + nf.inf === 0,
      });
    }
    this.log(`encoded ${r.latents.shape[0]} image(s) with ${vae.label} at ${flags.precision}: latents [${r.latents.shape.join(', ')}] (${flags.unscaled ? 'raw' : scaledText(vae.arch)}) -> ${flags.out}`);
    if (r.nonFinite.nan + r.nonFinite.inf > 0) {
      this.log(`FAILED | ${r.nonFinite.nan} NaN and ${r.nonFinite.inf} Inf values in the latents. Run vaecheck nan-scan --part encoder to find the layer.`);
      process.exitCode = 1;
    }
  }
}

/** `scaled by 0.13025`, or `shifted by 0.1159, scaled by 0.3611`, and whether the family was a default. */
function scaledText(a: VaeArchitecture): string {
  const factors = `${a.shiftFactor !== 0 ? `shifted by ${a.shiftFactor}, ` : ''}scaled by ${a.scalingFactor}`;
  return familyIsAmbiguousDefault(a) ? `${factors}: ${latentSpaceLine(a)}` : factors;
}

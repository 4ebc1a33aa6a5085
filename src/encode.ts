/** The encode job: images -> latent mean, shifted and scaled into the diffusion space unless asked otherwise. */
import type { Precision } from './dtype.js';
import { BadInputError, UsageError, option } from './errors.js';
import { imagePaths } from './images/image-paths.js';
import { readImage } from './images/sharp-io.js';
import { countNonFinite, type NonFiniteCount } from './metrics/nonfinite.js';
import type { Device } from './runtime/session.js';

import type { LoadedVae } from './weights/load.js';
import { VaeRunner } from './vae-runner.js';
import { type Tensor, joinBatch } from './tensor.js';
import type { OnProgress } from './progress.js';

export interface EncodeOptions {
  size?: { height: number; width: number };
  unscaled?: boolean;
  precision?: Precision;
  device?: Device;
  /** told when the graph is built and after each image */
  onProgress?: OnProgress;
}

/**
 * Reads images into one NCHW batch in [-1, 1]; they must share a size (or be resized to `size`).
 * A folder among `args` stands for the images in it, sorted by name (imagePaths).
 */
export async function readImageBatch(args: readonly string[], size?: { height: number; width: number }): Promise<Tensor> {
  const files = imagePaths(args);
  if (files.length === 0) throw new UsageError('no images given');
  const images = [];
  for (const f of files) images.push(await readImage(f, size ? { size } : {}));
  const [, , h, w] = images[0].shape;
  images.forEach((im, i) => {
    if (im.shape[2] !== h || im.shape[3] !== w) {
      throw new BadInputError(files[i], `is ${im.shape[3]}x${im.shape[2]} but ${files[0]} is ${w}x${h}; pass ${option('imageSize', 'HxW')} to resize all images`);
    }
  });
  return joinBatch(images);
}

export async function encodeImages(vae: LoadedVae, files: readonly string[], opts: EncodeOptions = {}): Promise<{ latents: Tensor; nonFinite: NonFiniteCount }> {
  if (!vae.arch.hasEncoder) throw new BadInputError(vae.weightsFile, 'has no encoder weights (decoder-only file)');
  const batch = await readImageBatch(files, opts.size);
  const total = batch.shape[0] + 1;
  const report = (stage: string, done: number) => opts.onProgress?.({ task: vae.label, stage, done, total });
  report(`building the ${opts.precision ?? 'fp32'} encoder`, 0);
  const runner = await VaeRunner.create(vae, 'encoder', { precision: opts.precision, device: opts.device });
  try {
    report('encoding', 1);
    const r = await runner.runItems(batch, files.join(', '), (done) => report('encoding', done + 1));
    const mean = r.output;
    // into the diffusion space: (raw - shift_factor) * scaling_factor, the inverse of what decoding does
    const { scalingFactor, shiftFactor } = vae.arch;
    if (!opts.unscaled) for (let i = 0; i < mean.data.length; i++) mean.data[i] = (mean.data[i] - shiftFactor) * scalingFactor;
    return { latents: mean, nonFinite: countNonFinite(mean.data) };
  } finally {
    await runner.release();
  }
}

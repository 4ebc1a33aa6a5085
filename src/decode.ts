/**
 * The decode and encode jobs behind `vaecheck decode` / `encode`: where latents come from, running
 * the VAE, and the files a decoded or encoded tensor becomes.
 */
import { basename, extname } from 'node:path';
import { type Precision, float32ToBytes } from './dtype.js';
import { UsageError, option } from './errors.js';
import { encodePng, tensorToRgb8 } from './images/sharp-io.js';
import { countNonFinite, type NonFiniteCount } from './metrics/nonfinite.js';
import type { Device } from './runtime/session.js';

import { encodeNpy } from './tensors/npy.js';
import { type Latents, prepareLatents, randomLatents, readLatentFile } from './tensors/latents.js';
import type { LoadedVae } from './weights/load.js';
import { defaultFamilyNote } from './architecture/family.js';
import { encodeSafetensors } from './weights/safetensors-writer.js';
import { type LayerStats } from './precision/instrument.js';
import { VaeRunner } from './vae-runner.js';
import type { Tensor } from './tensor.js';
import type { TilingInfo, TilingMode } from './tiled-decode.js';
import type { OnProgress } from './progress.js';

export interface LatentSource {
  /** a .npy or .safetensors file */
  file?: string;
  /** tensor name inside a .safetensors file */
  tensor?: string;
  /** seeded N(0,1) latents (scaled space) of this latent size */
  random?: { seed: number; batch: number; height: number; width: number };
  /** the data are raw encoder outputs rather than scaled diffusion latents */
  unscaled?: boolean;
}

/**
 * Reads or makes the latents and converts them to the raw space the decoder takes, with a note when
 * the VAE's family (and so its factors) was only a default.
 */
export function resolveLatents(vae: LoadedVae, src: LatentSource): Latents {
  const { latentChannels, scalingFactor, shiftFactor } = vae.arch;
  if (src.file && src.random) throw new UsageError(`give either ${option('file')} or ${option('random')}, not both`);
  const space = src.unscaled ? 'unscaled' : 'scaled';
  let l: Latents;
  if (src.file) l = prepareLatents(src.file, readLatentFile(src.file, src.tensor), latentChannels, scalingFactor, space, shiftFactor);
  else if (src.random) {
    const { seed, batch, height, width } = src.random;
    const t = randomLatents(seed, batch, height, width, latentChannels);
    const origin = `random(seed=${seed}, ${t.shape.join('x')})`;
    // random latents are drawn in the scaled space, N(0, 1), as a diffusion pipeline produces them
    l = prepareLatents(origin, t, latentChannels, scalingFactor, space, shiftFactor);
  } else throw new UsageError(`no latents: give ${option('file', '<file>')} or ${option('random')} (with ${option('seed')} and ${option('latentSize')})`);
  const note = defaultFamilyNote(vae.arch, vae.source, l.origin, l.space, l.std);
  if (note) l.warnings.push(note);
  return l;
}

/**
 * The names of the latents a source holds, one per batch item: the file's name without extension
 * (`chelsea.npy` -> `chelsea`), or `random-<seed>` for random latents; `<name>-<i>` when the batch
 * holds more than one.
 */
export function latentIds(src: LatentSource, batch: number): string[] {
  const name = src.file ? basename(src.file).replace(/\.(npy|safetensors)$/i, '') : `random-${src.random!.seed}`;
  return Array.from({ length: batch }, (_, i) => (batch === 1 ? name : `${name}-${i}`));
}

export interface DecodeResult {
  image: Tensor;
  nonFinite: NonFiniteCount;
  layers?: LayerStats[];
  /** set when the latents were decoded in tiles (tiled-decode.ts) */
  tiling?: TilingInfo;
}

export interface DecodeOptions {
  precision?: Precision;
  device?: Device;
  instrument?: boolean;
  /** decode large latents in tiles: 'auto' (default), 'always', 'never' (tiled-decode.ts) */
  tiling?: TilingMode;
  /** onnxruntime intra-op threads; default: VAECHECK_THREADS, else all CPUs (runtime/session.ts) */
  threads?: number;
  /** told when the graph is built and after each latent */
  onProgress?: OnProgress;
}

/** Decodes raw latents (builds and releases a session; use VaeRunner directly to decode many). */
export async function decodeLatents(vae: LoadedVae, latents: Latents, opts: DecodeOptions = {}): Promise<DecodeResult> {
  const total = (latents.raw.shape[0] ?? 1) + 1;
  const report = (stage: string, done: number) => opts.onProgress?.({ task: vae.label, stage, done, total });
  report(`building the ${opts.precision ?? 'fp32'} decoder`, 0);
  const runner = await VaeRunner.create(vae, 'decoder', opts);
  try {
    report('decoding', 1);
    const r = await runner.runItems(latents.raw, latents.origin, (done) => report('decoding', done + 1));
    return { image: r.output, nonFinite: countNonFinite(r.output.data), layers: r.layers, ...(r.tiling ? { tiling: r.tiling } : {}) };
  } finally {
    await runner.release();
  }
}

/**
 * fp32 decodes of raw latents, clamped to [-1, 1] with NaN as 0: in-distribution pictures to feed an
 * encoder when the user gives none.
 */
export async function decodeToImages(vae: LoadedVae, latents: readonly Tensor[], device?: Device): Promise<Tensor[]> {
  const runner = await VaeRunner.create(vae, 'decoder', { precision: 'fp32', device });
  try {
    const out: Tensor[] = [];
    for (const z of latents) {
      const img = (await runner.run(z)).output;
      out.push({ shape: img.shape, data: img.data.map((x) => (Number.isNaN(x) ? 0 : Math.max(-1, Math.min(1, x)))) });
    }
    return out;
  } finally {
    await runner.release();
  }
}

export type TensorFileKind = 'png' | 'npy' | 'safetensors';

/** The kind of file an --out path asks for, from its extension. */
export function outputKind(path: string, allowed: readonly TensorFileKind[]): TensorFileKind {
  const ext = extname(path).toLowerCase().slice(1);
  if (!(allowed as readonly string[]).includes(ext)) {
    throw new UsageError(`${option('out')} must end in ${allowed.map((k) => '.' + k).join(', ')}; got ${JSON.stringify(path)}`);
  }
  return ext as TensorFileKind;
}

/**
 * The files a decoded image batch becomes: PNG (8-bit, one per batch item: name.png, or name-0.png,
 * name-1.png …) or the float32 NCHW tensor unclamped (.npy, or .safetensors with tensor `sample`).
 */
export async function imageFiles(out: string, image: Tensor, meta: Record<string, string> = {}): Promise<Map<string, Uint8Array>> {
  const kind = outputKind(out, ['png', 'npy', 'safetensors']);
  const files = new Map<string, Uint8Array>();
  if (kind === 'png') {
    const [n, c, h, w] = image.shape;
    const stem = out.slice(0, -'.png'.length);
    for (let i = 0; i < n; i++) {
      const rgb = tensorToRgb8(image.data, c, h, w, i * c * h * w);
      files.set(n === 1 ? out : `${stem}-${i}.png`, await encodePng(rgb, w, h));
    }
  } else files.set(out, tensorFile(kind, 'sample', image, meta));
  return files;
}

/** A float32 tensor as .npy or single-tensor .safetensors bytes. */
export function tensorFile(kind: 'npy' | 'safetensors', name: string, t: Tensor, meta: Record<string, string> = {}): Uint8Array {
  if (kind === 'npy') return encodeNpy(t.shape, t.data);
  return encodeSafetensors([{ name, dtype: 'F32', shape: t.shape, bytes: float32ToBytes(t.data, 'F32') }], meta);
}

/**
 * Latents as users have them: .npy or .safetensors files in the diffusion (scaled) space, as
 * pipelines save them, or raw encoder outputs (--unscaled); or seeded random normal latents.
 * Everything is converted to the raw space the decoder graph takes (scaled / scaling_factor +
 * shift_factor, as diffusers pipelines do; the shift is 0 for SD 1.x/2.x and SDXL).
 */
import { extname } from 'node:path';
import { BadInputError, UsageError, option } from '../errors.js';
import { SafetensorsFile } from '../weights/safetensors.js';
import { readNpy } from './npy.js';
import { randomNormal } from './random.js';
import { countNonFinite } from '../metrics/nonfinite.js';
import type { Tensor } from '../tensor.js';

export type LatentSpace = 'scaled' | 'unscaled';

export interface Latents {
  /** raw (unscaled) latents, NCHW, what the decoder graph takes */
  raw: Tensor;
  /** where they came from, for reports: a file path or `random(seed=N, 1x4x64x64)` */
  origin: string;
  space: LatentSpace;
  /** standard deviation of the finite values as given (before conversion) */
  std: number;
  warnings: string[];
}

/** Reads a latent tensor file (.npy, or .safetensors with one tensor or `tensor` named). */
export function readLatentFile(file: string, tensor?: string): Tensor {
  const ext = extname(file).toLowerCase();
  if (ext === '.npy') {
    if (tensor) throw new UsageError(`${option('tensor')} applies to .safetensors latents only`);
    const a = readNpy(file);
    return { shape: a.shape, data: a.data };
  }
  if (ext === '.safetensors') {
    const st = SafetensorsFile.open(file);
    // names come from the file: quote and clip them so a message stays one short line
    const names = [...st.entries.keys()].map((n) => JSON.stringify(n.length > 60 ? `${n.slice(0, 60)}…` : n));
    const keys = [...st.entries.keys()];
    let name = tensor;
    if (name === undefined) {
      if (keys.length !== 1) {
        throw new BadInputError(file, `holds ${names.length} tensors (${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''}); choose one with ${option('tensor', 'NAME')}`);
      }
      name = keys[0];
    } else if (!st.entries.has(name)) {
      throw new BadInputError(file, `no tensor named ${JSON.stringify(name)} (has ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''})`);
    }
    return { shape: [...st.entries.get(name)!.shape], data: st.readFloat32(name) };
  }
  throw new BadInputError(file, `unsupported latent file type ${JSON.stringify(ext)} (expected .npy or .safetensors)`);
}

/**
 * Checks shape against the VAE and converts to raw latents.
 * @param space the space the data is in: 'scaled' (diffusion pipelines) or 'unscaled' (raw encoder output)
 * @param shiftFactor added after dividing scaled latents by scalingFactor (SD3, FLUX.1)
 */
export function prepareLatents(origin: string, t: Tensor, latentChannels: number, scalingFactor: number, space: LatentSpace, shiftFactor = 0): Latents {
  let shape = t.shape;
  if (shape.length === 3) shape = [1, ...shape];
  if (shape.length !== 4) {
    throw new BadInputError(origin, `latents have shape [${t.shape.join(', ')}], expected [batch, ${latentChannels}, height, width]`);
  }
  if (shape[1] !== latentChannels) {
    throw new BadInputError(origin, `latents have ${shape[1]} channels (shape [${t.shape.join(', ')}]), the VAE takes ${latentChannels}`);
  }
  if (shape.some((d) => d === 0)) throw new BadInputError(origin, `latents are empty (shape [${t.shape.join(', ')}])`);
  const warnings: string[] = [];
  const nf = countNonFinite(t.data);
  if (nf.nan + nf.inf > 0) warnings.push(`${origin}: latents contain ${nf.nan} NaN and ${nf.inf} Inf values; the decode will carry them`);
  const std = finiteStd(t.data);
  // scaled latents have std near 1, raw ones near 1 / scalingFactor (7.7 for SDXL, 0.65 for SD3): warn
  // when the data's spread is nearer (on a log scale) to the other space's
  const nearer = nearerSpace(std, scalingFactor);
  const conversion = `divided by ${scalingFactor}${shiftFactor !== 0 ? `, plus ${shiftFactor}` : ''}`;
  if (space === 'scaled' && nearer === 'unscaled') {
    warnings.push(`${origin}: latent std is ${std.toFixed(2)}, which looks like raw encoder output; if so pass --unscaled (taken as scaled: ${conversion})`);
  } else if (space === 'unscaled' && nearer === 'scaled') {
    warnings.push(`${origin}: latent std is ${std.toFixed(2)}, which looks like scaled diffusion latents; if so drop --unscaled`);
  }
  const data = new Float32Array(t.data.length);
  // x * (1 / s) rather than x / s: the same float32 values as before shifts were known
  const k = 1 / scalingFactor;
  if (space === 'scaled') for (let i = 0; i < data.length; i++) data[i] = t.data[i] * k + shiftFactor;
  else data.set(t.data);
  return { raw: { shape, data }, origin, space, std, warnings };
}

/**
 * The space whose typical spread (1 when scaled, 1 / scalingFactor when raw) is nearer to `std` on a
 * log scale; null when the two are the same or std is 0.
 */
export function nearerSpace(std: number, scalingFactor: number): LatentSpace | null {
  if (!(std > 0)) return null;
  const toScaled = Math.abs(Math.log(std));
  const toRaw = Math.abs(Math.log(std * scalingFactor));
  return toScaled === toRaw ? null : toScaled < toRaw ? 'scaled' : 'unscaled';
}

/** Seeded N(0, 1) latents in the scaled space (what a diffusion pipeline produces). */
export function randomLatents(seed: number, batch: number, height: number, width: number, latentChannels: number): Tensor {
  if (![batch, height, width].every((d) => Number.isInteger(d) && d > 0)) {
    throw new UsageError(`random latents need a positive batch and size, got batch ${batch}, size ${height}x${width}`);
  }
  const shape = [batch, latentChannels, height, width];
  if (shape.reduce((a, d) => a * d, 1) > MAX_RANDOM_VALUES) {
    throw new UsageError(`random latents ${shape.join('x')} are too large (more than ${MAX_RANDOM_VALUES} values); use a smaller --batch or --size`);
  }
  return { shape, data: randomNormal(seed, shape.reduce((a, d) => a * d, 1)) };
}

function finiteStd(a: Float32Array): number {
  let n = 0;
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    if (!Number.isFinite(x)) continue;
    n++;
    s += x;
    s2 += x * x;
  }
  if (n === 0) return 0;
  const m = s / n;
  return Math.sqrt(Math.max(0, s2 / n - m * m));
}

/**
 * The largest side accepted by parseSize: 4096 (as latents: a 32768-pixel image, far past what the
 * decoder's attention fits in memory; as images: 4096 pixels). Refused before anything is allocated.
 */
export const MAX_SIDE = 4096;
/** random latents beyond this many values (1 GiB of float32) are refused before allocation */
export const MAX_RANDOM_VALUES = 1 << 28;

/** Parses `HxW` (e.g. `64x64`, `12x20`), each side 1 to MAX_SIDE. */
export function parseSize(text: string, what = option('size')): { height: number; width: number } {
  const m = text.match(/^(\d+)x(\d+)$/);
  if (!m || Number(m[1]) <= 0 || Number(m[2]) <= 0) throw new UsageError(`${what} must be HxW with positive integers (e.g. 64x64), got ${JSON.stringify(text)}`);
  if (Number(m[1]) > MAX_SIDE || Number(m[2]) > MAX_SIDE) throw new UsageError(`${what} ${m[1]}x${m[2]} is too large: each side at most ${MAX_SIDE}`);
  return { height: Number(m[1]), width: Number(m[2]) };
}

/**
 * A full-size SDXL-architecture decoder with seeded random weights, made in memory (nothing is
 * downloaded or committed), and the same weights as a safetensors file for runs of the CLI.
 */
import { writeFileSync } from 'node:fs';
import { float32ToBytes } from '../../src/dtype.js';
import type { VaeWeights } from '../../src/graph/vae-graph.js';
import { SDXL_SCALING_FACTOR, type Tensor32, type VaeArchitecture } from '../../src/architecture/vae-architecture.js';
import { expectedShapes } from '../../src/architecture/shapes.js';
import { encodeSafetensors } from '../../src/weights/safetensors-writer.js';

export const SDXL_DECODER_ARCH: VaeArchitecture = {
  blockOutChannels: [128, 256, 512, 512],
  layersPerBlock: 2,
  groups: 32,
  eps: 1e-6,
  latentChannels: 4,
  inChannels: 3,
  outChannels: 3,
  midAttention: true,
  quantConv: true,
  postQuantConv: true,
  scalingFactor: SDXL_SCALING_FACTOR,
  shiftFactor: 0,
  scalingFactorSource: 'default',
  family: { family: 'sdxl', source: 'default' },
  hasEncoder: false,
  hasDecoder: true,
};

/** FNV-1a of a key, so each tensor's stream depends on its name and the seed, not on key order. */
function keySeed(key: string, seed: number): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0 || 1;
}

/**
 * Fills `out` with uniform values of mean `mean` and standard deviation `std` (xorshift32: fast,
 * seeded; a uniform with the right variance is enough to keep activations at a realistic scale).
 */
export function fillUniform(out: Float32Array, seed: number, mean: number, std: number): void {
  const half = std * Math.sqrt(3); // U(-a, a) has variance a^2 / 3
  const scale = (2 * half) / 4294967296;
  let s = seed >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = mean - half + (s >>> 0) * scale;
  }
}

/**
 * Decoder weights for `arch`: convs and linears N(0, g / fan_in)-like with g = 2 for the convs
 * reading a SiLU output (resnet conv1 / conv2), g = 1 elsewhere, conv_out scaled down so that the
 * image lands mostly in [-1, 1]; GroupNorm gamma 1 ± 0.1, biases std 0.02.
 */
export function randomDecoderWeights(arch: VaeArchitecture, seed: number): VaeWeights {
  const weights = new Map<string, Tensor32>();
  for (const [key, shape] of expectedShapes(arch, 'decoder')) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const s = keySeed(key, seed);
    const isNorm = /norm[^.]*\.(weight|bias)$/.test(key);
    if (key.endsWith('.bias')) {
      fillUniform(data, s, 0, 0.02);
    } else if (isNorm) {
      fillUniform(data, s, 1, 0.1);
    } else {
      const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
      let gain = /\.conv[12]\.weight$/.test(key) ? 2 : 1;
      if (key === 'decoder.conv_out.weight') gain = 0.05;
      fillUniform(data, s, 0, Math.sqrt(gain / fanIn));
    }
    weights.set(key, { shape, data });
  }
  return { arch, weights };
}

export function paramCount(vae: VaeWeights): number {
  let n = 0;
  for (const t of vae.weights.values()) n += t.data.length;
  return n;
}

/** Writes the weights as a float32 safetensors file in diffusers naming (what a user passes to --vae). */
export function writeVaeFile(vae: VaeWeights, path: string): void {
  const tensors = [...vae.weights].map(([name, t]) => ({ name, dtype: 'F32' as const, shape: t.shape, bytes: float32ToBytes(t.data, 'F32') }));
  writeFileSync(path, encodeSafetensors(tensors));
}

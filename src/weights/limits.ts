/**
 * Bounds on what a weights file may describe, checked on its keys and shapes before the architecture
 * is derived from them or anything is allocated for it. A crafted key such as
 * `decoder.up_blocks.0.resnets.1000000.conv1.bias` would otherwise make the loader expect a million
 * resnets (and list millions of keys); a zero-width layer would only fail inside onnxruntime.
 * Real AutoencoderKLs have 4-5 levels of 2-3 resnets; the bounds leave ample room above that.
 */
import { BadInputError } from '../errors.js';

/** the largest block, level or layer index accepted in a VAE key */
export const MAX_KEY_INDEX = 64;

/** Refuses keys (internal naming) whose numeric indices are beyond MAX_KEY_INDEX. */
export function checkKeyIndices(file: string, keys: Iterable<string>): void {
  for (const k of keys) {
    for (const m of k.matchAll(/\.(\d+)(?=\.)/g)) {
      if (m[1].length > 3 || Number(m[1]) > MAX_KEY_INDEX) {
        throw new BadInputError(file, `key ${JSON.stringify(k.length > 100 ? `${k.slice(0, 100)}…` : k)} has index ${m[1].length > 12 ? `${m[1].slice(0, 12)}…` : m[1]}; an AutoencoderKL has at most ${MAX_KEY_INDEX} blocks or layers per level`);
      }
    }
  }
}

/** Refuses VAE tensors with a zero dimension (a zero-width layer cannot run). */
export function checkShapes(file: string, shapes: ReadonlyMap<string, readonly number[]>, fileKeys: ReadonlyMap<string, string>): void {
  for (const [k, s] of shapes) {
    if (s.length === 0 || s.some((d) => !(d > 0))) {
      throw new BadInputError(file, `tensor ${fileKeys.get(k) ?? k} has shape [${s.join(', ')}]: a VAE layer needs every dimension to be at least 1`);
    }
  }
}

/**
 * NaN and Inf inside a VAE's weights. A decode that turns non-finite because a weight already is NaN
 * or Inf is not an fp16 overflow: no precision decodes it, and nothing but new weights repairs it.
 * The messages that would otherwise point at an overflow (nan-scan, gate, decode, fix) name the
 * tensor instead.
 */
import { ONNX_FLOAT } from '../dtype.js';
import type { LoadedVae } from './load.js';

/**
 * What the scan reads of a VAE: its weights, and the initializers of an ONNX export's graph (named
 * by shape, not by type, so weights/ does not depend on onnx/).
 */
export type ScannedVae = Pick<LoadedVae, 'weights' | 'fileKeys'> & { onnx?: { graph: { initializers: readonly { name: string; dataType: number; data: unknown }[] } } };

export interface NonFiniteWeight {
  /** the tensor as the file names it */
  tensor: string;
  nan: number;
  inf: number;
}

/** Every weight tensor holding NaN or Inf, in load order (empty for healthy weights). */
export function nonFiniteWeights(vae: ScannedVae): NonFiniteWeight[] {
  const out: NonFiniteWeight[] = [];
  const scan = (tensor: string, data: Float32Array) => {
    let nan = 0;
    let inf = 0;
    for (let i = 0; i < data.length; i++) {
      const x = data[i];
      if (x !== x) nan++;
      else if (x === Infinity || x === -Infinity) inf++;
    }
    if (nan + inf > 0) out.push({ tensor, nan, inf });
  };
  for (const [k, t] of vae.weights) scan(vae.fileKeys.get(k) ?? k, t.data);
  for (const t of vae.onnx?.graph.initializers ?? []) if (t.dataType === ONNX_FLOAT && t.data instanceof Float32Array) scan(t.name, t.data);
  return out;
}

/** One line naming the first bad tensors, or undefined for healthy weights. */
export function nonFiniteWeightsNote(vae: ScannedVae): string | undefined {
  const bad = nonFiniteWeights(vae);
  if (bad.length === 0) return undefined;
  const shown = bad.slice(0, 2).map((b) => `${JSON.stringify(b.tensor)} (${b.nan} NaN, ${b.inf} Inf)`).join(', ');
  return `the weights themselves contain NaN/Inf: ${shown}${bad.length > 2 ? ` and ${bad.length - 2} more tensor(s)` : ''}; this is not an overflow, no precision decodes them: repair or re-export the weights`;
}

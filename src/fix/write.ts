/**
 * Applies a fix plan's factors to a loaded VAE and encodes the result the way the input came: the
 * same file name(s), key naming, per-tensor storage dtype and tensor order; tensors the plan does not
 * touch (and any non-VAE tensors of a whole checkpoint) are copied byte for byte. A diffusers folder
 * gets its config.json with force_upcast false.
 */
import { basename, join } from 'node:path';
import { float32ToBytes } from '../dtype.js';
import { readRegularText } from '../io/safe-path.js';
import { SafetensorsFile } from '../weights/safetensors.js';
import { encodeSafetensors, type TensorBytes } from '../weights/safetensors-writer.js';
import type { LoadedVae } from '../weights/load.js';
import type { LayerScale } from './plan.js';

/** internal key -> scaled float32 data, for every tensor a factor touches */
export function scaledTensors(vae: LoadedVae, layers: readonly LayerScale[]): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const l of layers) {
    for (const [suffix, f] of [['weight', l.weight], ['bias', l.bias]] as const) {
      if (f === 1) continue;
      const key = `${l.layer}.${suffix}`;
      const src = out.get(key) ?? vae.weights.get(key)!.data;
      const dst = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) dst[i] = src[i] * f;
      out.set(key, dst);
    }
  }
  return out;
}

/** True when the fixed VAE is written as a diffusers folder (config.json beside diffusion_pytorch_model*.safetensors). */
export function writesFolder(vae: LoadedVae): boolean {
  return vae.configFile !== undefined && basename(vae.weightsFile).startsWith('diffusion_pytorch_model');
}

/** The paths fixedVaeFiles() will return, known before anything is measured (to refuse a bad --out early). */
export function fixedVaeLayout(vae: LoadedVae): string[] {
  return writesFolder(vae) ? ['config.json', basename(vae.weightsFile)] : [''];
}

/**
 * The files of the fixed VAE, relative to the output path: for a diffusers folder input,
 * `config.json` and the weights file name; for a file input, '' (the output path itself).
 */
export function fixedVaeFiles(vae: LoadedVae, changed: ReadonlyMap<string, Float32Array>, note: string): Map<string, Uint8Array> {
  const st = SafetensorsFile.open(vae.weightsFile);
  const byFileKey = new Map<string, Float32Array>();
  for (const [internal, data] of changed) byFileKey.set(vae.fileKeys.get(internal)!, data);
  const tensors: TensorBytes[] = [...st.entries.values()]
    .sort((a, b) => a.begin - b.begin)
    .map((e) => {
      const data = byFileKey.get(e.name);
      return { name: e.name, dtype: e.dtype, shape: e.shape, bytes: data ? float32ToBytes(data, e.dtype) : st.readBytes(e.name) };
    });
  const bytes = encodeSafetensors(tensors, { ...st.metadata, vaecheck_fix: note });
  const files = new Map<string, Uint8Array>();
  if (writesFolder(vae)) {
    const cfg = JSON.parse(readRegularText(vae.configFile!));
    cfg.force_upcast = false;
    files.set('config.json', new TextEncoder().encode(JSON.stringify(cfg, null, 2) + '\n'));
    files.set(basename(vae.weightsFile), bytes);
  } else files.set('', bytes);
  return files;
}

export const joinOut = (out: string, rel: string) => (rel === '' ? out : join(out, rel));

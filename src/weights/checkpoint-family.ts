/**
 * The family of a whole checkpoint, read off the keys around its VAE: the VAE's shapes cannot tell
 * SD 1.x from SDXL or SD3 from FLUX.1, but the model stored with it can. Key roots as the original
 * (sgm/ldm, ComfyUI) checkpoints write them.
 */
import type { VaeFamily } from '../architecture/vae-architecture.js';

const MARKERS: [RegExp, VaeFamily][] = [
  [/(^|\.)double_blocks\.\d+\./, 'flux'], // FLUX.1 transformer
  [/(^|\.)joint_blocks\.\d+\./, 'sd3'], // SD3 MMDiT
  [/^conditioner\.embedders\./, 'sdxl'], // SDXL's two text encoders
  [/^cond_stage_model\./, 'sd15'], // SD 1.x/2.x's text encoder
];

/** The family whose non-VAE keys the file holds, or undefined when none (or several) show. */
export function checkpointFamily(keys: Iterable<string>): VaeFamily | undefined {
  const found = new Set<VaeFamily>();
  for (const k of keys) {
    for (const [re, f] of MARKERS) if (re.test(k)) found.add(f);
  }
  return found.size === 1 ? [...found][0] : undefined;
}

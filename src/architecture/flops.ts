/**
 * Multiply-accumulate counts of one run of a part, for GFLOP/s figures (2 FLOPs per MAC): every conv
 * and Linear costs its weight's element count per output pixel (token), and attention adds its
 * T x T scores and their product with v. GroupNorm, SiLU, adds and resizes are not counted.
 */
import { partLayout } from './layout.js';
import { parameterLayers, weightShape } from './shapes.js';
import type { Part, VaeArchitecture } from './vae-architecture.js';

/** FLOPs (2 per MAC) of one run of `part` on a batch of inputs of spatial size h x w. */
export function partFlops(arch: VaeArchitecture, part: Part, batch: number, h: number, w: number): number {
  let hh = h;
  let ww = w;
  let macs = 0;
  for (const node of partLayout(arch, part).layers) {
    // the resampling happens before the sampler's conv runs: its MACs count at the new size
    if (node.kind === 'upsample') {
      hh *= 2;
      ww *= 2;
    } else if (node.kind === 'downsample') {
      // zero pad right/bottom 1, 3x3 kernel, stride 2
      hh = Math.floor((hh - 2) / 2) + 1;
      ww = Math.floor((ww - 2) / 2) + 1;
    }
    for (const l of parameterLayers(node)) {
      if (l.kind !== 'norm') macs += weightShape(l).reduce((a, d) => a * d, 1) * hh * ww;
    }
    if (node.kind === 'attention') {
      const t = hh * ww;
      macs += 2 * t * t * node.channels;
    }
  }
  return 2 * macs * batch;
}

/** FLOPs of one decoder run on latents of size h x w. */
export function decoderFlops(arch: VaeArchitecture, batch: number, h: number, w: number): number {
  return partFlops(arch, 'decoder', batch, h, w);
}

/** FLOPs of one encoder run on images of size h x w. */
export function encoderFlops(arch: VaeArchitecture, batch: number, h: number, w: number): number {
  return partFlops(arch, 'encoder', batch, h, w);
}

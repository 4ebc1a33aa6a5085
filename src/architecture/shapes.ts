/**
 * The weights each layer of the layout holds, and from them every weight key of a part with its
 * shape (internal naming: diffusers' module paths, attention projections as Linear [C, C]).
 */
import { type LayoutNode, partLayout } from './layout.js';
import type { Part, VaeArchitecture } from './vae-architecture.js';

/** One weight-bearing module: a conv (weight [cout, cin, k, k]), a Linear ([c, c]) or a GroupNorm ([c]); each has a bias. */
export type ParameterLayer =
  | { kind: 'conv'; path: string; cin: number; cout: number; kernel: number }
  | { kind: 'linear'; path: string; cin: number; cout: number }
  | { kind: 'norm'; path: string; channels: number };

/** The weight-bearing modules of one layout node, in the order the node runs them. */
export function parameterLayers(node: LayoutNode): ParameterLayer[] {
  const p = node.path;
  switch (node.kind) {
    case 'conv':
      return [{ kind: 'conv', path: p, cin: node.cin, cout: node.cout, kernel: node.kernel }];
    case 'resnet': {
      const { cin, cout } = node;
      const layers: ParameterLayer[] = [
        { kind: 'norm', path: `${p}.norm1`, channels: cin },
        { kind: 'conv', path: `${p}.conv1`, cin, cout, kernel: 3 },
        { kind: 'norm', path: `${p}.norm2`, channels: cout },
        { kind: 'conv', path: `${p}.conv2`, cin: cout, cout, kernel: 3 },
      ];
      if (node.shortcut) layers.push({ kind: 'conv', path: `${p}.conv_shortcut`, cin, cout, kernel: 1 });
      return layers;
    }
    case 'attention': {
      const c = node.channels;
      return [
        { kind: 'norm', path: `${p}.group_norm`, channels: c },
        ...['to_q', 'to_k', 'to_v', 'to_out.0'].map((n): ParameterLayer => ({ kind: 'linear', path: `${p}.${n}`, cin: c, cout: c })),
      ];
    }
    case 'upsample':
    case 'downsample':
      return [{ kind: 'conv', path: `${p}.conv`, cin: node.channels, cout: node.channels, kernel: 3 }];
    case 'norm':
      return [{ kind: 'norm', path: p, channels: node.channels }];
    case 'silu':
      return [];
  }
}

/** The shape of a module's weight tensor (its bias is [cout] or [channels]). */
export function weightShape(l: ParameterLayer): number[] {
  if (l.kind === 'conv') return [l.cout, l.cin, l.kernel, l.kernel];
  if (l.kind === 'linear') return [l.cout, l.cin];
  return [l.channels];
}

/** Every weight key of one part with its shape, in internal naming and execution order. */
export function expectedShapes(arch: VaeArchitecture, part: Part): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const node of partLayout(arch, part).layers) {
    for (const l of parameterLayers(node)) {
      out.set(`${l.path}.weight`, weightShape(l));
      out.set(`${l.path}.bias`, [l.kind === 'norm' ? l.channels : l.cout]);
    }
  }
  return out;
}

/**
 * The AutoencoderKL architecture: read from a diffusers config.json when present, otherwise
 * inferred from tensor shapes (any widths, any layers per block), and the full list of expected
 * weight keys and shapes that a loaded file is checked against.
 */
import { BadInputError } from '../errors.js';

export interface VaeArchitecture {
  /** widths of the encoder's down levels; the decoder uses them reversed. SDXL: [128, 256, 512, 512] */
  blockOutChannels: number[];
  /** resnets per encoder down level; decoder up levels have one more. SDXL: 2 */
  layersPerBlock: number;
  /** GroupNorm groups. SDXL: 32 */
  groups: number;
  /** GroupNorm epsilon, 1e-6 in AutoencoderKL */
  eps: number;
  latentChannels: number;
  inChannels: number;
  outChannels: number;
  /** whether the mid blocks hold an attention layer (diffusers' mid_block_add_attention) */
  midAttention: boolean;
  /** SDXL: 0.13025 */
  scalingFactor: number;
  /** where scalingFactor came from */
  scalingFactorSource: 'config' | 'default';
  /** diffusers' force_upcast, when the config states it */
  forceUpcast?: boolean;
  hasEncoder: boolean;
  hasDecoder: boolean;
}

export const SDXL_SCALING_FACTOR = 0.13025;

type Shape = readonly number[];

/** The parts of a diffusers AutoencoderKL config.json that matter here. */
export interface DiffusersVaeConfig {
  block_out_channels?: number[];
  layers_per_block?: number;
  norm_num_groups?: number;
  latent_channels?: number;
  in_channels?: number;
  out_channels?: number;
  scaling_factor?: number;
  force_upcast?: boolean;
  mid_block_add_attention?: boolean;
  _class_name?: string;
}

/**
 * Infers the architecture from internal-naming shapes, then overrides with config values.
 * @throws BadInputError when the shapes contradict the config or groups cannot be determined.
 */
export function resolveArchitecture(file: string, shapes: ReadonlyMap<string, Shape>, config?: DiffusersVaeConfig): VaeArchitecture {
  const hasDecoder = shapes.has('decoder.conv_in.weight');
  const hasEncoder = shapes.has('encoder.conv_in.weight');
  if (!hasDecoder && !hasEncoder) throw new BadInputError(file, 'no VAE weights found (neither decoder.conv_in nor encoder.conv_in)');
  const need = (key: string): Shape => {
    const s = shapes.get(key);
    if (!s) throw new BadInputError(file, `missing key ${key}`);
    return s;
  };
  const countIndices = (re: RegExp): number => {
    let max = -1;
    for (const k of shapes.keys()) {
      const m = k.match(re);
      if (m) max = Math.max(max, Number(m[1]));
    }
    return max + 1;
  };
  let blockOutChannels: number[];
  let layersPerBlock: number;
  if (hasDecoder) {
    const levels = countIndices(/^decoder\.up_blocks\.(\d+)\./);
    if (levels === 0) throw new BadInputError(file, 'decoder has no up blocks');
    const rev: number[] = [];
    for (let k = 0; k < levels; k++) rev.push(need(`decoder.up_blocks.${k}.resnets.0.conv1.weight`)[0]);
    blockOutChannels = rev.reverse();
    layersPerBlock = countIndices(/^decoder\.up_blocks\.0\.resnets\.(\d+)\./) - 1;
  } else {
    const levels = countIndices(/^encoder\.down_blocks\.(\d+)\./);
    if (levels === 0) throw new BadInputError(file, 'encoder has no down blocks');
    blockOutChannels = [];
    for (let i = 0; i < levels; i++) blockOutChannels.push(need(`encoder.down_blocks.${i}.resnets.0.conv1.weight`)[0]);
    layersPerBlock = countIndices(/^encoder\.down_blocks\.0\.resnets\.(\d+)\./);
  }
  const latentChannels = hasDecoder ? need('decoder.conv_in.weight')[1] : need('encoder.conv_out.weight')[0] / 2;
  // any attention key means the mid block has attention; a partial set is then reported as missing keys
  const midAttention = [...shapes.keys()].some((k) => /^(en|de)coder\.mid_block\.attentions\.0\./.test(k));

  if (config?.block_out_channels && JSON.stringify(config.block_out_channels) !== JSON.stringify(blockOutChannels)) {
    throw new BadInputError(file, `config.json block_out_channels ${JSON.stringify(config.block_out_channels)} do not match the weights ${JSON.stringify(blockOutChannels)}`);
  }
  if (config?.layers_per_block !== undefined && config.layers_per_block !== layersPerBlock) {
    throw new BadInputError(file, `config.json layers_per_block ${config.layers_per_block} does not match the weights (${layersPerBlock})`);
  }
  let groups = config?.norm_num_groups;
  if (groups === undefined) {
    // GroupNorm's group count is not stored in the weights: AutoencoderKL's default is 32
    if (!blockOutChannels.every((c) => c % 32 === 0)) {
      throw new BadInputError(file, `cannot infer GroupNorm groups: widths ${JSON.stringify(blockOutChannels)} are not multiples of 32; put a diffusers config.json (norm_num_groups) beside the weights`);
    }
    groups = 32;
  }
  if (!Number.isInteger(groups) || groups <= 0 || !blockOutChannels.every((c) => c % groups! === 0)) {
    throw new BadInputError(file, `norm_num_groups ${groups} does not divide the widths ${JSON.stringify(blockOutChannels)}`);
  }
  const arch: VaeArchitecture = {
    blockOutChannels,
    layersPerBlock,
    groups,
    eps: 1e-6,
    latentChannels,
    inChannels: hasEncoder ? need('encoder.conv_in.weight')[1] : (config?.in_channels ?? 3),
    outChannels: hasDecoder ? need('decoder.conv_out.weight')[0] : (config?.out_channels ?? 3),
    midAttention,
    scalingFactor: config?.scaling_factor ?? SDXL_SCALING_FACTOR,
    scalingFactorSource: config?.scaling_factor !== undefined ? 'config' : 'default',
    hasEncoder,
    hasDecoder,
  };
  if (config?.force_upcast !== undefined) arch.forceUpcast = config.force_upcast;
  return arch;
}

/** Every weight key of one part with its shape, in internal naming. */
export function expectedShapes(arch: VaeArchitecture, part: 'encoder' | 'decoder'): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const conv = (name: string, cout: number, cin: number, k: number) => {
    out.set(`${name}.weight`, [cout, cin, k, k]);
    out.set(`${name}.bias`, [cout]);
  };
  const norm = (name: string, c: number) => {
    out.set(`${name}.weight`, [c]);
    out.set(`${name}.bias`, [c]);
  };
  const linear = (name: string, c: number) => {
    out.set(`${name}.weight`, [c, c]);
    out.set(`${name}.bias`, [c]);
  };
  const resnet = (p: string, cin: number, cout: number) => {
    norm(`${p}.norm1`, cin);
    conv(`${p}.conv1`, cout, cin, 3);
    norm(`${p}.norm2`, cout);
    conv(`${p}.conv2`, cout, cout, 3);
    if (cin !== cout) conv(`${p}.conv_shortcut`, cout, cin, 1);
  };
  const mid = (p: string, c: number) => {
    resnet(`${p}.mid_block.resnets.0`, c, c);
    if (arch.midAttention) {
      const a = `${p}.mid_block.attentions.0`;
      norm(`${a}.group_norm`, c);
      for (const n of ['to_q', 'to_k', 'to_v', 'to_out.0']) linear(`${a}.${n}`, c);
    }
    resnet(`${p}.mid_block.resnets.1`, c, c);
  };
  const boc = arch.blockOutChannels;
  const n = boc.length;
  const L = arch.latentChannels;
  if (part === 'encoder') {
    conv('encoder.conv_in', boc[0], arch.inChannels, 3);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < arch.layersPerBlock; j++) {
        resnet(`encoder.down_blocks.${i}.resnets.${j}`, j === 0 ? (i === 0 ? boc[0] : boc[i - 1]) : boc[i], boc[i]);
      }
      if (i < n - 1) conv(`encoder.down_blocks.${i}.downsamplers.0.conv`, boc[i], boc[i], 3);
    }
    mid('encoder', boc[n - 1]);
    norm('encoder.conv_norm_out', boc[n - 1]);
    conv('encoder.conv_out', 2 * L, boc[n - 1], 3);
    conv('quant_conv', 2 * L, 2 * L, 1);
  } else {
    const rev = [...boc].reverse();
    conv('post_quant_conv', L, L, 1);
    conv('decoder.conv_in', rev[0], L, 3);
    mid('decoder', rev[0]);
    for (let k = 0; k < n; k++) {
      for (let j = 0; j <= arch.layersPerBlock; j++) {
        resnet(`decoder.up_blocks.${k}.resnets.${j}`, j === 0 ? rev[Math.max(0, k - 1)] : rev[k], rev[k]);
      }
      if (k < n - 1) conv(`decoder.up_blocks.${k}.upsamplers.0.conv`, rev[k], rev[k], 3);
    }
    norm('decoder.conv_norm_out', rev[n - 1]);
    conv('decoder.conv_out', arch.outChannels, rev[n - 1], 3);
  }
  return out;
}

/**
 * A loaded file's AutoencoderKL architecture: read from a diffusers config.json when present,
 * otherwise inferred from tensor shapes (any widths, any layers per block). The weight keys and
 * shapes this implies come from src/architecture/shapes.ts.
 */
import { type LatentSpaceRequest, chooseLatentSpace } from '../architecture/family.js';
import type { VaeArchitecture, VaeFamily } from '../architecture/vae-architecture.js';
import { BadInputError } from '../errors.js';

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
  /** SD3 / FLUX.1: latents are shifted before scaling; null or absent: no shift */
  shift_factor?: number | null;
  force_upcast?: boolean;
  /** pixels; diffusers' tile size for tiled decodes (a list gives height and width) */
  sample_size?: number | number[];
  mid_block_add_attention?: boolean;
  /** false in SD3 and FLUX.1: no quant_conv / post_quant_conv */
  use_quant_conv?: boolean;
  use_post_quant_conv?: boolean;
  _class_name?: string;
}

export interface ResolveOptions {
  /** the family a whole checkpoint's other keys show */
  checkpointFamily?: VaeFamily;
  /** what the user states about the latent space */
  latentSpace?: LatentSpaceRequest;
}

/**
 * Infers the architecture from internal-naming shapes, then overrides with config values.
 * @throws BadInputError when the shapes contradict the config or groups cannot be determined.
 */
export function resolveArchitecture(file: string, shapes: ReadonlyMap<string, Shape>, config?: DiffusersVaeConfig, opts: ResolveOptions = {}): VaeArchitecture {
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
  if (config?.latent_channels !== undefined && config.latent_channels !== latentChannels) {
    throw new BadInputError(file, `config.json latent_channels ${config.latent_channels} does not match the weights (${latentChannels})`);
  }
  // any attention key means the mid block has attention (a partial set is then reported as missing
  // keys), unless the config says there is none
  const midAttention = config?.mid_block_add_attention ?? [...shapes.keys()].some((k) => /^(en|de)coder\.mid_block\.attentions\.0\./.test(k));
  // the quant convs: as the config says, else as the keys show; a part the file lacks follows the other
  const quantConvKeys = hasEncoder ? shapes.has('quant_conv.weight') : shapes.has('post_quant_conv.weight');
  const postQuantConvKeys = hasDecoder ? shapes.has('post_quant_conv.weight') : quantConvKeys;
  const quantConv = config?.use_quant_conv ?? quantConvKeys;
  const postQuantConv = config?.use_post_quant_conv ?? postQuantConvKeys;

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
    quantConv,
    postQuantConv,
    ...chooseLatentSpace(file, latentChannels, config, opts.checkpointFamily, opts.latentSpace),
    hasEncoder,
    hasDecoder,
  };
  if (config?.force_upcast !== undefined) arch.forceUpcast = config.force_upcast;
  const sample = Array.isArray(config?.sample_size) ? config.sample_size[0] : config?.sample_size;
  if (sample !== undefined) {
    if (!Number.isInteger(sample) || sample < 8) throw new BadInputError(file, `config.json sample_size ${JSON.stringify(config?.sample_size)} is not a whole number of pixels >= 8`);
    arch.sampleSize = sample;
  }
  return arch;
}

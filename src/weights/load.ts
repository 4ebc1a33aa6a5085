/**
 * Loads an AutoencoderKL's weights as users have them (a .safetensors file in any naming, prefix
 * and float dtype, or a diffusers folder) into float32 tensors under the internal naming, checked
 * key by key and shape by shape against the architecture.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { BadInputError } from '../errors.js';
import { jsonProblem, readRegularText } from '../io/safe-path.js';
import { SafetensorsFile } from './safetensors.js';
import { type Naming, countUpLevels, detectNaming, findPrefix, toInternalKey } from './keymap.js';
import { type DiffusersVaeConfig, resolveArchitecture } from './resolve-architecture.js';
import type { Tensor32, VaeArchitecture } from '../architecture/vae-architecture.js';
import { type LatentSpaceRequest, chooseLatentSpace } from '../architecture/family.js';
import { checkpointFamily } from './checkpoint-family.js';
import { expectedShapes } from '../architecture/shapes.js';
import { type OnnxVae, loadOnnxVae } from '../onnx/import.js';
import { checkKeyIndices, checkShapes } from './limits.js';
import { recoverInterrupted } from '../io/output-files.js';

export type { Tensor32 };

export interface LoadedVae {
  /** the path the user gave */
  source: string;
  /** a short label: the file or folder name */
  label: string;
  /** the safetensors file the weights came from */
  weightsFile: string;
  configFile?: string;
  naming: Naming;
  /** key prefix stripped, e.g. `first_stage_model.` ('' for none) */
  prefix: string;
  /** storage dtype(s) of the VAE's tensors, e.g. 'F16' or 'F16+F32' */
  storageDtype: string;
  arch: VaeArchitecture;
  /** internal naming -> float32 tensor */
  weights: Map<string, Tensor32>;
  /** internal key -> the key as named in the file (for messages and for writing back) */
  fileKeys: Map<string, string>;
  paramCount: number;
  /** set for a VAE part exported to ONNX: its graph replaces the one vaecheck would build */
  onnx?: OnnxVae;
}

export interface LoadOptions {
  /** prefer `diffusion_pytorch_model.<variant>.safetensors` in diffusers folders (e.g. 'fp16') */
  variant?: string;
  /** the family or latent factors, stated by the user; they override what the file says */
  latentSpace?: LatentSpaceRequest;
}

/** Resolves a user path to the weights file and, where there is one, the config.json. */
export function resolveVaePath(path: string, opts: LoadOptions = {}): { weightsFile: string; configFile?: string } {
  if (!existsSync(path)) throw new BadInputError(path, 'file not found');
  if (statSync(path).isDirectory()) {
    const sub = join(path, 'vae');
    if (!existsSync(join(path, 'config.json')) && existsSync(sub) && statSync(sub).isDirectory()) return resolveVaePath(sub, opts);
    const names = readdirSync(path);
    const preferred = opts.variant
      ? [`diffusion_pytorch_model.${opts.variant}.safetensors`, 'diffusion_pytorch_model.safetensors']
      : ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.fp16.safetensors'];
    let file = preferred.find((n) => names.includes(n));
    if (!file) {
      const st = names.filter((n) => n.endsWith('.safetensors'));
      if (st.length === 1) file = st[0];
      else if (st.length === 0) throw new BadInputError(path, 'folder holds no .safetensors weights (expected diffusion_pytorch_model.safetensors)');
      else throw new BadInputError(path, `folder holds several .safetensors files (${st.slice(0, 4).join(', ')}); name the file`);
    }
    const cfg = join(path, 'config.json');
    return { weightsFile: join(path, file), configFile: existsSync(cfg) ? cfg : undefined };
  }
  const ext = extname(path).toLowerCase();
  if (['.ckpt', '.pt', '.pth', '.bin'].includes(ext)) {
    throw new BadInputError(path, `${ext} pickle checkpoints are not read (they can run code when loaded); convert to .safetensors`);
  }
  // a config.json beside a diffusers weights file describes it
  const cfg = join(dirname(path), 'config.json');
  const besides = basename(path).startsWith('diffusion_pytorch_model') && existsSync(cfg);
  return { weightsFile: path, configFile: besides ? cfg : undefined };
}

function readConfig(file: string): DiffusersVaeConfig {
  let cfg: unknown;
  // regular files only, and the parse error never quotes the text (it may be a link to a private file)
  const text = readRegularText(file);
  try {
    cfg = JSON.parse(text);
  } catch (e) {
    throw new BadInputError(file, jsonProblem(e));
  }
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) throw new BadInputError(file, 'config is not a JSON object');
  const c = cfg as DiffusersVaeConfig;
  if (c._class_name !== undefined && c._class_name !== 'AutoencoderKL') {
    throw new BadInputError(file, `_class_name is ${JSON.stringify(c._class_name)}, expected "AutoencoderKL"`);
  }
  const intArray = (v: unknown) => Array.isArray(v) && v.length > 0 && v.every((x) => Number.isInteger(x) && x > 0);
  if (c.block_out_channels !== undefined && !intArray(c.block_out_channels)) throw new BadInputError(file, 'block_out_channels is not a list of positive integers');
  for (const k of ['layers_per_block', 'norm_num_groups', 'latent_channels'] as const) {
    if (c[k] !== undefined && !(Number.isInteger(c[k]) && (c[k] as number) > 0)) throw new BadInputError(file, `${k} is not a positive integer`);
  }
  if (c.scaling_factor !== undefined && !(typeof c.scaling_factor === 'number' && c.scaling_factor > 0 && Number.isFinite(c.scaling_factor))) {
    throw new BadInputError(file, 'scaling_factor is not a positive number');
  }
  if (c.shift_factor !== undefined && c.shift_factor !== null && !(typeof c.shift_factor === 'number' && Number.isFinite(c.shift_factor))) {
    throw new BadInputError(file, 'shift_factor is not a number');
  }
  for (const k of ['use_quant_conv', 'use_post_quant_conv', 'mid_block_add_attention', 'force_upcast'] as const) {
    if (c[k] !== undefined && typeof c[k] !== 'boolean') throw new BadInputError(file, `${k} is not true or false`);
  }
  return c;
}

/**
 * Loads a VAE.
 * @throws BadInputError naming the file: unreadable or invalid safetensors, no VAE keys, missing keys
 *   (the first few named), wrong shapes (key, expected, found), non-float dtypes.
 */
export function loadVae(path: string, opts: LoadOptions = {}): LoadedVae {
  // a fix output whose swap was cut short by a kill is put back before it is looked for
  if (!existsSync(path)) recoverInterrupted(path);
  // an .onnx file, or a folder holding model.onnx and no safetensors weights (diffusers' vae_decoder/)
  const isDir = existsSync(path) && statSync(path).isDirectory();
  const onnxFile = path.toLowerCase().endsWith('.onnx')
    ? path
    : isDir && existsSync(join(path, 'model.onnx')) && !readdirSync(path).some((n) => n.endsWith('.safetensors'))
      ? join(path, 'model.onnx')
      : undefined;
  if (onnxFile) return loadOnnx(path, onnxFile, opts);
  const { weightsFile, configFile } = resolveVaePath(path, opts);
  const config = configFile ? readConfig(configFile) : undefined;
  const st = SafetensorsFile.open(weightsFile);
  const prefix = findPrefix(st.entries.keys());
  if (prefix === null) {
    throw new BadInputError(weightsFile, 'no VAE weights found (no decoder.conv_in.weight or encoder.conv_in.weight under any prefix)');
  }
  const stripped = [...st.entries.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  const naming = detectNaming(stripped);
  const upLevels = countUpLevels(stripped);
  const fileKeys = new Map<string, string>();
  const shapes = new Map<string, number[]>();
  for (const k of stripped) {
    const internal = toInternalKey(k, naming, upLevels);
    if (internal === null) continue;
    const shape = [...st.entries.get(prefix + k)!.shape];
    // attention projections are Linear [C, C]; the original naming stores 1x1 convs [C, C, 1, 1]
    if (/\.attentions\.0\.(to_q|to_k|to_v|to_out\.0)\.weight$/.test(internal) && shape.length === 4 && shape[2] === 1 && shape[3] === 1) {
      shape.length = 2;
    }
    fileKeys.set(internal, prefix + k);
    shapes.set(internal, shape);
  }
  // bounded before the architecture is read from them: no million-resnet key, no zero-width layer
  checkKeyIndices(weightsFile, shapes.keys());
  checkShapes(weightsFile, shapes, fileKeys);
  const arch = resolveArchitecture(weightsFile, shapes, config, {
    checkpointFamily: prefix === '' ? undefined : checkpointFamily(st.entries.keys()),
    latentSpace: opts.latentSpace,
  });
  const expected = new Map<string, number[]>();
  if (arch.hasEncoder) for (const [k, s] of expectedShapes(arch, 'encoder')) expected.set(k, s);
  if (arch.hasDecoder) for (const [k, s] of expectedShapes(arch, 'decoder')) expected.set(k, s);
  const missing = [...expected.keys()].filter((k) => !shapes.has(k));
  if (missing.length > 0) {
    const shown = missing.slice(0, 3).map((k) => JSON.stringify(k)).join(', ');
    throw new BadInputError(weightsFile, `missing ${missing.length} VAE key(s) (internal names): ${shown}${missing.length > 3 ? ', …' : ''}`);
  }
  const weights = new Map<string, Tensor32>();
  const dtypes = new Set<string>();
  let paramCount = 0;
  for (const [k, want] of expected) {
    const got = shapes.get(k)!;
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      throw new BadInputError(weightsFile, `${fileKeys.get(k)} has shape ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    }
    const entry = st.entries.get(fileKeys.get(k)!)!;
    dtypes.add(entry.dtype);
    const data = st.readFloat32(entry.name);
    weights.set(k, { shape: want, data });
    paramCount += data.length;
  }
  for (const k of [...fileKeys.keys()]) if (!expected.has(k)) fileKeys.delete(k);
  const label = basename(path.replace(/[/\\]+$/, '')).replace(/\.safetensors$/i, '');
  return {
    source: path,
    label,
    weightsFile,
    configFile,
    naming,
    prefix,
    storageDtype: [...dtypes].sort().join('+'),
    arch,
    weights,
    fileKeys,
    paramCount,
  };
}

/** A VAE decoder or encoder exported to ONNX (its architecture is what its graph says). */
function loadOnnx(source: string, file: string, opts: LoadOptions): LoadedVae {
  const onnx = loadOnnxVae(file);
  // an export keeps no quant convs of its own: they are inside its graph, as its config says
  const quantConvs = onnx.config?.use_quant_conv ?? true;
  const arch: VaeArchitecture = {
    blockOutChannels: onnx.config?.block_out_channels ?? [],
    layersPerBlock: 0,
    groups: 0,
    eps: 1e-6,
    latentChannels: onnx.latentChannels,
    inChannels: 3,
    outChannels: 3,
    midAttention: false,
    quantConv: quantConvs,
    postQuantConv: onnx.config?.use_post_quant_conv ?? quantConvs,
    ...chooseLatentSpace(file, onnx.latentChannels, onnx.config, undefined, opts.latentSpace),
    hasEncoder: onnx.part === 'encoder',
    hasDecoder: onnx.part === 'decoder',
  };
  const paramCount = onnx.graph.initializers.reduce((a, t) => a + t.dims.reduce((x, d) => x * d, 1), 0);
  const label = basename(source.replace(/[/\\]+$/, '')).replace(/\.onnx$/i, '');
  return { source, label: label === 'model' ? basename(dirname(file)) : label, weightsFile: file, naming: 'diffusers', prefix: '', storageDtype: 'onnx', arch, weights: new Map(), fileKeys: new Map(), paramCount, onnx };
}

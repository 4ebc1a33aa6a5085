/**
 * Runs one part (decoder or encoder) of one VAE at one precision: the graph is built, passed
 * through the precision and (optionally) instrumentation passes, and turned into an onnxruntime
 * session once; `run` can then be called for any number of inputs.
 */
import type { Part } from './architecture/vae-architecture.js';
import { type Precision } from './dtype.js';
import { BadInputError, UsageError, expected, option } from './errors.js';
import type { OnnxGraph } from './graph/ir.js';
import { DECODER_INPUT, ENCODER_INPUT, type VaeWeights, buildDecoderGraph, buildEncoderGraph } from './graph/vae-graph.js';
import { applyPrecision } from './precision/precision-pass.js';
import { toNativeHalf } from './precision/native-half.js';
import { type LayerStats, STATS_OUTPUT, instrument, mergeLayerStats, readStats } from './precision/instrument.js';
import { type Tensor, joinBatch, splitBatch } from './tensor.js';
import { DEFAULT_TILE_SAMPLE_SIZE, type TileGeometry, type TilingInfo, type TilingMode, TILING_MODES, shouldTile, tileGeometry, tiledDecode } from './tiled-decode.js';
import { type Device, Session } from './runtime/session.js';
import type { OnnxVae } from './onnx/import.js';

export type { Part };

export interface RunnerOptions {
  precision?: Precision;
  /** add per-layer max |x|, NaN and Inf outputs */
  instrument?: boolean;
  device?: Device;
  /** onnxruntime intra-op threads; default: VAECHECK_THREADS, else all CPUs (runtime/session.ts) */
  threads?: number;
  /**
   * fp16 as a real float16 graph (native-half.ts) instead of the emulation; default: on with
   * --device cuda, whose kernels run in half precision. bf16 is always emulated.
   */
  native?: boolean;
  /**
   * decoder only: decode large latents in overlapping tiles blended as diffusers does (tiled-decode.ts).
   * 'auto' (default) tiles only latents too large to decode whole within about 4 GB.
   */
  tiling?: TilingMode;
  /** tile side in pixels; default: the config's sample_size, else DEFAULT_TILE_SAMPLE_SIZE */
  tileSampleSize?: number;
}

export interface RunResult {
  /** decoder: the image [N, 3, H, W] in [-1, 1] (unclamped); encoder: the latent mean (raw) */
  output: Tensor;
  /** encoder only: log variance */
  logvar?: Tensor;
  /** per traced op, in execution order, when instrumented (over all tiles when tiled) */
  layers?: LayerStats[];
  /** set when the decode was tiled: the output then differs from a whole decode near tile seams */
  tiling?: TilingInfo;
}

/** Builds the graph of a part at a precision, with instrumentation when asked. */
export function prepareGraph(vae: VaeWeights & { onnx?: OnnxVae; weightsFile?: string }, part: Part, opts: RunnerOptions = {}): OnnxGraph {
  if (vae.onnx && vae.onnx.part !== part) {
    throw new BadInputError(vae.weightsFile ?? 'model.onnx', `is a VAE ${vae.onnx.part} exported to ONNX; this needs the ${part}`);
  }
  if (!vae.onnx && !(part === 'decoder' ? vae.arch.hasDecoder : vae.arch.hasEncoder)) {
    throw new BadInputError(vae.weightsFile ?? 'weights', `has no ${part} weights (${part === 'decoder' ? 'an encoder-only' : 'a decoder-only'} VAE); this needs the ${part}`);
  }
  const base = vae.onnx ? vae.onnx.graph : part === 'decoder' ? buildDecoderGraph(vae) : buildEncoderGraph(vae);
  const native = (opts.native ?? opts.device === 'cuda') && opts.precision === 'fp16';
  const graph = native ? toNativeHalf(base) : applyPrecision(base, opts.precision ?? 'fp32');
  return opts.instrument ? instrument(graph) : graph;
}

export class VaeRunner {
  private constructor(
    readonly part: Part,
    readonly precision: Precision,
    private readonly graph: OnnxGraph,
    private session: Session,
    private readonly spatialFactor: number,
    private readonly inputChannels: number,
    private readonly instrumented: boolean,
    private readonly onnx?: OnnxVae,
    private readonly sessionOptions: { device?: Device; threads?: number } = {},
    private readonly tiling: TilingMode = 'auto',
    private readonly tile?: TileGeometry,
  ) {}

  /** latent area from which the session runs without onnxruntime's memory arena (see Session) */
  static readonly LOW_MEMORY_LATENT_AREA = 128 * 128;
  private arena = true;

  static async create(vae: VaeWeights & { onnx?: OnnxVae; weightsFile?: string }, part: Part, opts: RunnerOptions = {}): Promise<VaeRunner> {
    if (opts.tileSampleSize !== undefined && !(Number.isInteger(opts.tileSampleSize) && opts.tileSampleSize >= 8)) {
      throw new UsageError(expected('a whole number of pixels >= 8', 'tileSampleSize', opts.tileSampleSize));
    }
    if (opts.tiling !== undefined && !TILING_MODES.includes(opts.tiling)) throw new UsageError(expected(TILING_MODES.join(', '), 'tiling', opts.tiling));
    const graph = prepareGraph(vae, part, opts);
    const session = await Session.create(graph, { device: opts.device, threads: opts.threads });
    // an ONNX export without a config.json does not say its depth: SDXL's factor 8
    const levels = vae.arch.blockOutChannels.length || 4;
    const channels = part === 'decoder' ? vae.arch.latentChannels : vae.arch.inChannels;
    const tile = part === 'decoder' ? tileGeometry(opts.tileSampleSize ?? vae.arch.sampleSize ?? DEFAULT_TILE_SAMPLE_SIZE, levels) : undefined;
    return new VaeRunner(part, opts.precision ?? 'fp32', graph, session, 2 ** (levels - 1), channels, !!opts.instrument, vae.onnx, { device: opts.device, threads: opts.threads }, opts.tiling ?? 'auto', tile);
  }

  /** Runs on a decoder input (raw latents) or encoder input (image in [-1, 1]); NCHW float32. */
  async run(input: Tensor, origin = 'input'): Promise<RunResult> {
    const [, c, h, w] = input.shape;
    if (input.shape.length !== 4 || c !== this.inputChannels) {
      throw new BadInputError(origin, `input has shape [${input.shape.join(', ')}], the ${this.part} takes [batch, ${this.inputChannels}, height, width]`);
    }
    if (this.part === 'encoder' && (h % this.spatialFactor !== 0 || w % this.spatialFactor !== 0)) {
      throw new BadInputError(origin, `image size ${h}x${w} is not a multiple of ${this.spatialFactor}; resize it (${option('imageSize')})`);
    }
    if (this.tile && shouldTile(this.tiling, h, w, this.tile)) return this.runTiled(input);
    return this.runWhole(input);
  }

  /**
   * `run` on a batch one item at a time, calling `onItem` after each, so that a long decode or encode
   * can say how far along it is. The output equals one run of the whole batch (no layer mixes the items
   * of a batch: GroupNorm and attention work within each); layer statistics are merged over the items.
   */
  async runItems(input: Tensor, origin = 'input', onItem?: (done: number, total: number) => void): Promise<RunResult> {
    const items = input.shape.length === 4 && input.shape[0] > 1 ? splitBatch(input) : [input];
    const results: RunResult[] = [];
    for (const item of items) {
      results.push(await this.run(item, origin));
      onItem?.(results.length, items.length);
    }
    if (results.length === 1) return results[0];
    const first = results[0];
    const merged: RunResult = { output: joinBatch(results.map((r) => r.output)) };
    if (first.logvar) merged.logvar = joinBatch(results.map((r) => r.logvar!));
    if (first.layers) merged.layers = results.slice(1).reduce((acc, r) => mergeLayerStats(acc, r.layers!), first.layers);
    if (first.tiling) merged.tiling = first.tiling;
    return merged;
  }

  private async runTiled(input: Tensor): Promise<RunResult> {
    let layers: LayerStats[] | undefined;
    const { output, info } = await tiledDecode(input, this.tile!, this.precision, async (tile) => {
      const r = await this.runWhole(tile);
      if (r.layers) layers = layers ? mergeLayerStats(layers, r.layers) : r.layers;
      return r.output;
    });
    return { output, layers, tiling: info };
  }

  private async runWhole(input: Tensor): Promise<RunResult> {
    const [, , h, w] = input.shape;
    // large inputs (1024x1024 images and up) trade the arena's speed for a lower peak: rebuild once
    const latentArea = this.part === 'decoder' ? h * w : (h * w) / this.spatialFactor ** 2;
    if (this.arena && latentArea >= VaeRunner.LOW_MEMORY_LATENT_AREA) {
      await this.session.release();
      this.session = await Session.create(this.graph, { ...this.sessionOptions, memoryArena: false });
      this.arena = false;
    }
    const inputName = this.onnx ? this.onnx.inputName : this.part === 'decoder' ? DECODER_INPUT : ENCODER_INPUT;
    const out = await this.session.run({ [inputName]: input });
    const main = out[this.graph.outputs[0].name];
    const result: RunResult = { output: { shape: main.shape, data: main.data as Float32Array } };
    if (this.part === 'encoder' && !this.onnx) {
      const lv = out[this.graph.outputs[1].name];
      result.logvar = { shape: lv.shape, data: lv.data as Float32Array };
    } else if (this.part === 'encoder' && this.onnx?.encoderMoments) {
      // exported encoders that return quant_conv's moments: mean is the first half of the channels
      const [b, c2, h, w] = main.shape;
      const c = c2 / 2;
      const mean = new Float32Array(b * c * h * w);
      const logvar = new Float32Array(b * c * h * w);
      for (let i = 0; i < b; i++) {
        mean.set(main.data.subarray((i * c2) * h * w, (i * c2 + c) * h * w), i * c * h * w);
        logvar.set(main.data.subarray((i * c2 + c) * h * w, (i + 1) * c2 * h * w), i * c * h * w);
      }
      result.output = { shape: [b, c, h, w], data: mean };
      result.logvar = { shape: [b, c, h, w], data: logvar };
    }
    if (this.instrumented) result.layers = readStats(this.graph, out[STATS_OUTPUT].data);
    return result;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

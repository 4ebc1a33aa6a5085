/**
 * The only module that imports onnxruntime-node. A Session owns one onnxruntime InferenceSession
 * built from an OnnxGraph; weights travel as external data through a temporary folder that is
 * removed as soon as the session has been created.
 */
import { openSync, closeSync, writeSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { UnavailableError, option } from '../errors.js';
import { makeTempFolder } from '../io/temp-folders.js';
import type { OnnxGraph } from '../graph/ir.js';
import { encodeModel } from '../graph/onnx-proto.js';
import type { Tensor } from '../tensor.js';

export type Device = 'cpu' | 'cuda';
export const DEVICES: readonly Device[] = ['cpu', 'cuda'];

export interface SessionOptions {
  device?: Device;
  /** intra-op threads; default: onnxruntime's choice (the physical cores) */
  threads?: number;
  /**
   * onnxruntime's CPU memory arena (default on). Off, freed activations go back to malloc: the peak
   * RSS of a 128x128-latent SDXL decode drops from 5.09 to 3.88 GB, but a session's first run pays
   * first-touch page faults again (64x64: about 20-30 s instead of 16 s; later runs equal).
   */
  memoryArena?: boolean;
}

/** onnxruntime-node's version, for manifests and reports. */
export function runtimeVersion(): string {
  return ort.env.versions?.common ?? 'unknown';
}

/** Whether onnxruntime-node can use the device here (CUDA needs its libraries installed). */
export function deviceAvailable(device: Device): boolean {
  if (device === 'cpu') return true;
  return ort.listSupportedBackends().some((b) => b.name === device && b.bundled);
}

function assertDevice(device: Device): void {
  if (deviceAvailable(device)) return;
  throw new UnavailableError(
    `${option('device', device)}: onnxruntime-node has no ${device.toUpperCase()} execution provider installed here ` +
      `(reinstall with ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci on a machine with CUDA 12); ` +
      `use ${option('device', 'cpu')}, where fp16 and bf16 are emulated exactly`,
  );
}

export class Session {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
  ) {}

  /** Builds an onnxruntime session for the graph. */
  static async create(graph: OnnxGraph, opts: SessionOptions = {}): Promise<Session> {
    const device = opts.device ?? 'cpu';
    assertDevice(device);
    const dir = makeTempFolder();
    try {
      const { model, external } = encodeModel(graph, 'weights.bin');
      writeChunks(join(dir, 'model.onnx'), [model]);
      writeChunks(join(dir, 'weights.bin'), external);
      const session = await ort.InferenceSession.create(join(dir, 'model.onnx'), {
        executionProviders: [device],
        graphOptimizationLevel: 'all',
        executionMode: 'sequential',
        enableCpuMemArena: opts.memoryArena ?? true,
        ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
      });
      return new Session(session, session.inputNames, session.outputNames);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Runs the graph on float32 inputs; returns every output (float32, or float64 for the instrumentation's stats). */
  async run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor<Float32Array | Float64Array>>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor('float32', t.data, t.shape);
    const results = await this.session.run(ortFeeds);
    const out: Record<string, Tensor<Float32Array | Float64Array>> = {};
    for (const [name, t] of Object.entries(results)) {
      out[name] = { shape: t.dims.map(Number), data: t.data as Float32Array | Float64Array };
      t.dispose?.();
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function writeChunks(path: string, chunks: readonly Uint8Array[]): void {
  const fd = openSync(path, 'w');
  try {
    for (const c of chunks) {
      let off = 0;
      while (off < c.byteLength) off += writeSync(fd, c, off, c.byteLength - off);
    }
  } finally {
    closeSync(fd);
  }
}

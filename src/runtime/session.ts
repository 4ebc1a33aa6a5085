/**
 * The only module that imports onnxruntime-node. A Session owns one onnxruntime InferenceSession
 * built from an OnnxGraph; weights travel as external data through a temporary folder that is
 * removed as soon as the session has been created.
 */
import { openSync, closeSync, readdirSync, writeSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { UnavailableError, UsageError, expected, option } from '../errors.js';
import { makeTempFolder } from '../io/temp-folders.js';
import type { OnnxGraph } from '../graph/ir.js';
import { encodeModel } from '../graph/onnx-proto.js';
import type { Tensor } from '../tensor.js';

export type Device = 'cpu' | 'cuda';
export const DEVICES: readonly Device[] = ['cpu', 'cuda'];

export interface SessionOptions {
  device?: Device;
  /** intra-op threads; default: {@link defaultThreads} */
  threads?: number;
  /**
   * onnxruntime's CPU memory arena (default on). Off, freed activations go back to malloc: the peak
   * RSS of a 128x128-latent SDXL decode drops from 5.09 to 3.88 GB, but a session's first run pays
   * first-touch page faults again (64x64: about 20-30 s instead of 16 s; later runs equal).
   */
  memoryArena?: boolean;
  /**
   * onnxruntime's graph optimization level (default 'all'). 'all' adds the layout pass that runs
   * convolutions in the blocked NCHWc layout on CPUs with AVX2 / AVX-512; 'extended' keeps plain NCHW.
   * Benchmarks compare the two.
   */
  optimization?: 'basic' | 'extended' | 'all';
  /** record an onnxruntime profile (Chrome trace JSON) at `<profilePrefix>_<time>.json`; see endProfiling */
  profilePrefix?: string;
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
      `(on a machine with CUDA 12: npm install-scripts approve onnxruntime-node (npm 11), then ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node); ` +
      `use ${option('device', 'cpu')}, where fp16 and bf16 are emulated exactly`,
  );
}

/** The environment variable that sets the default thread count (a positive integer). */
export const THREADS_ENV = 'VAECHECK_THREADS';

/**
 * onnxruntime's intra-op thread count when the caller gives none: VAECHECK_THREADS, else every CPU
 * this process may run on (os.availableParallelism(), which honours affinity masks). onnxruntime's
 * own default counts physical cores as it detects them, which on some VMs comes out as one: a 3x3
 * conv then runs at half the machine's speed (measured on a 2-core VM: 161 vs 313 GFLOP/s).
 * @throws UsageError when VAECHECK_THREADS is not a positive integer
 */
export function defaultThreads(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[THREADS_ENV];
  if (raw === undefined || raw === '') return availableParallelism();
  return checkThreads(Number(raw.trim()), THREADS_ENV, raw);
}

function checkThreads(n: number, name: string, shown: unknown = n): number {
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new UsageError(expected('a whole number of threads from 1 to 1024', name, shown));
  return n;
}

/** The thread count a session with these options uses. */
export function resolveThreads(threads: number | undefined): number {
  return threads === undefined ? defaultThreads() : checkThreads(threads, 'threads');
}

export class Session {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
    private readonly profilePrefix?: string,
  ) {}

  /** Builds an onnxruntime session for the graph. */
  static async create(graph: OnnxGraph, opts: SessionOptions = {}): Promise<Session> {
    const device = opts.device ?? 'cpu';
    assertDevice(device);
    const threads = resolveThreads(opts.threads);
    const dir = makeTempFolder();
    try {
      const { model, external } = encodeModel(graph, 'weights.bin');
      writeChunks(join(dir, 'model.onnx'), [model]);
      writeChunks(join(dir, 'weights.bin'), external);
      const session = await ort.InferenceSession.create(join(dir, 'model.onnx'), {
        executionProviders: [device],
        graphOptimizationLevel: opts.optimization ?? 'all',
        executionMode: 'sequential',
        enableCpuMemArena: opts.memoryArena ?? true,
        intraOpNumThreads: threads,
        // one graph runs at a time: inter-op threads would only compete with the intra-op pool
        interOpNumThreads: 1,
        ...(opts.profilePrefix ? { enableProfiling: true, profileFilePrefix: opts.profilePrefix } : {}),
      });
      return new Session(session, session.inputNames, session.outputNames, opts.profilePrefix);
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

  /** Stops profiling (sessions created with profilePrefix) and returns the trace file's path. */
  endProfiling(): string {
    if (!this.profilePrefix) throw new Error('internal: endProfiling on a session created without profilePrefix');
    this.session.endProfiling();
    const dir = dirname(this.profilePrefix);
    const stem = basename(this.profilePrefix);
    // onnxruntime names it <prefix>_<yyyy-mm-dd_hh-mm-ss_ms>.json
    const file = readdirSync(dir).filter((f) => f.startsWith(`${stem}_`) && /^\d{4}-\d\d-\d\d_[\d_-]+\.json$/.test(f.slice(stem.length + 1))).sort().at(-1);
    if (!file) throw new Error(`internal: onnxruntime wrote no profile ${this.profilePrefix}_*.json`);
    return join(dir, file);
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

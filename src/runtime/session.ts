/**
 * The only module that imports onnxruntime-node. A Session owns one onnxruntime InferenceSession
 * built from an OnnxGraph; weights travel as external data through a temporary folder that is
 * removed as soon as the session has been created.
 *
 * The sessions live in one worker thread, which loads this same module (serveSessions, at the end).
 * onnxruntime-node builds sessions and runs graphs synchronously on the thread that calls it, for
 * seconds to minutes; on the main thread that would keep Ctrl-C's handler from running until the
 * call returned. With the work in the worker, the main thread stays free: the handler removes what
 * the run keeps (its lock, staging folder, the session's temporary model) at once, then ends the
 * process (see commands/_base.ts). Inputs are copied to the worker and outputs moved back, a few
 * milliseconds against the run.
 */
import { openSync, closeSync, readdirSync, writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { UnavailableError, UsageError, expected, option } from '../errors.js';
import { makeTempFolder, removeTempFolder } from '../io/temp-folders.js';
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

/** What the worker is told to do, and answers (see serveSessions). */
type Request =
  | { op: 'create'; path: string; options: ort.InferenceSession.SessionOptions }
  | { op: 'run'; session: number; feeds: Record<string, Tensor> }
  | { op: 'endProfiling'; session: number }
  | { op: 'release'; session: number };
interface CreateAnswer {
  session: number;
  inputNames: string[];
  outputNames: string[];
}

const WORKER_ROLE = 'vaecheck-onnxruntime-sessions';

/** The one worker thread holding every session of this process; started on first use. */
class SessionWorker {
  private worker?: Worker;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  /** Whether a request is being worked on (Ctrl-C's handler then ends the process by the signal). */
  get busy(): boolean {
    return this.waiting.size > 0;
  }

  call<T>(request: Request): Promise<T> {
    const worker = (this.worker ??= this.start());
    const id = this.nextId++;
    // an idle worker must not keep the process alive; a busy one must
    if (this.waiting.size === 0) worker.ref();
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage({ id, request });
    });
  }

  private start(): Worker {
    const workerData = { role: WORKER_ROLE };
    const self = import.meta.url;
    // from the sources (tests run them through tsx), the worker loads this .ts module through tsx's API,
    // since a worker does not inherit the loader that `--import tsx` registered; built, it is plain .js
    const worker = self.endsWith('.ts')
      ? new Worker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => tsx.tsImport(${JSON.stringify(self)}, ${JSON.stringify(self)}))`, { eval: true, workerData })
      : new Worker(new URL(self), { workerData });
    worker.unref();
    worker.on('message', (m: { id: number; result?: unknown; error?: { message: string; stack?: string } }) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (this.waiting.size === 0) worker.unref();
      if (m.error) {
        const e = new Error(m.error.message);
        if (m.error.stack) e.stack = m.error.stack;
        w.reject(e);
      } else w.resolve(m.result);
    });
    const fail = (e: Error) => {
      this.worker = undefined;
      for (const w of this.waiting.values()) w.reject(e);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`internal: the onnxruntime worker thread ended (code ${code})`)));
    return worker;
  }
}

const sessions = isMainThread ? new SessionWorker() : undefined;

/** Whether onnxruntime is working right now (in the worker thread). */
export function onnxruntimeBusy(): boolean {
  return sessions?.busy ?? false;
}

export class Session {
  private constructor(
    private readonly id: number,
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
      const options: ort.InferenceSession.SessionOptions = {
        executionProviders: [device],
        graphOptimizationLevel: opts.optimization ?? 'all',
        executionMode: 'sequential',
        enableCpuMemArena: opts.memoryArena ?? true,
        intraOpNumThreads: threads,
        // one graph runs at a time: inter-op threads would only compete with the intra-op pool
        interOpNumThreads: 1,
        ...(opts.profilePrefix ? { enableProfiling: true, profileFilePrefix: opts.profilePrefix } : {}),
      };
      const made = await sessions!.call<CreateAnswer>({ op: 'create', path: join(dir, 'model.onnx'), options });
      return new Session(made.session, made.inputNames, made.outputNames, opts.profilePrefix);
    } finally {
      removeTempFolder(dir);
    }
  }

  /** Runs the graph on float32 inputs; returns every output (float32, or float64 for the instrumentation's stats). */
  async run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor<Float32Array | Float64Array>>> {
    return sessions!.call({ op: 'run', session: this.id, feeds });
  }

  /** Stops profiling (sessions created with profilePrefix) and returns the trace file's path. */
  async endProfiling(): Promise<string> {
    if (!this.profilePrefix) throw new Error('internal: endProfiling on a session created without profilePrefix');
    await sessions!.call({ op: 'endProfiling', session: this.id });
    const dir = dirname(this.profilePrefix);
    const stem = basename(this.profilePrefix);
    // onnxruntime names it <prefix>_<yyyy-mm-dd_hh-mm-ss_ms>.json
    const file = readdirSync(dir).filter((f) => f.startsWith(`${stem}_`) && /^\d{4}-\d\d-\d\d_[\d_-]+\.json$/.test(f.slice(stem.length + 1))).sort().at(-1);
    if (!file) throw new Error(`internal: onnxruntime wrote no profile ${this.profilePrefix}_*.json`);
    return join(dir, file);
  }

  async release(): Promise<void> {
    await sessions!.call({ op: 'release', session: this.id });
  }
}

/** The worker thread's side: holds the InferenceSessions and answers the main thread's requests. */
function serveSessions(): void {
  const held = new Map<number, ort.InferenceSession>();
  let next = 1;
  const get = (id: number) => {
    const s = held.get(id);
    if (!s) throw new Error(`internal: no onnxruntime session ${id}`);
    return s;
  };
  const handle = async (r: Request): Promise<{ result: unknown; transfer: ArrayBuffer[] }> => {
    switch (r.op) {
      case 'create': {
        const session = await ort.InferenceSession.create(r.path, r.options);
        const id = next++;
        held.set(id, session);
        return { result: { session: id, inputNames: [...session.inputNames], outputNames: [...session.outputNames] }, transfer: [] };
      }
      case 'run': {
        const feeds: Record<string, ort.Tensor> = {};
        for (const [name, t] of Object.entries(r.feeds)) feeds[name] = new ort.Tensor('float32', t.data, t.shape);
        const results = await get(r.session).run(feeds);
        const out: Record<string, Tensor<Float32Array | Float64Array>> = {};
        const transfer: ArrayBuffer[] = [];
        for (const [name, t] of Object.entries(results)) {
          // a copy in memory this thread owns, so that it can be moved to the main thread
          const data = t.type === 'float64' ? new Float64Array(t.data as Float64Array) : new Float32Array(t.data as Float32Array);
          out[name] = { shape: t.dims.map(Number), data };
          transfer.push(data.buffer as ArrayBuffer);
          t.dispose?.();
        }
        return { result: out, transfer };
      }
      case 'endProfiling':
        get(r.session).endProfiling();
        return { result: null, transfer: [] };
      case 'release':
        await get(r.session).release();
        held.delete(r.session);
        return { result: null, transfer: [] };
    }
  };
  parentPort!.on('message', (m: { id: number; request: Request }) => {
    handle(m.request).then(
      ({ result, transfer }) => parentPort!.postMessage({ id: m.id, result }, transfer),
      (e: unknown) => parentPort!.postMessage({ id: m.id, error: { message: e instanceof Error ? e.message : String(e), stack: e instanceof Error ? e.stack : undefined } }),
    );
  });
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

if (!isMainThread && (workerData as { role?: string } | undefined)?.role === WORKER_ROLE) serveSessions();

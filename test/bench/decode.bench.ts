/**
 * Decode benchmark (a script, not a test): a full-size SDXL-architecture VAE decoder with seeded
 * random weights made in memory, decoded with onnxruntime-node on the CPU.
 *
 * Measured in one run, each configuration in its own child process so that peak RSS figures do not
 * mix:
 *   - the practical ceiling: GFLOP/s of one 512->512 3x3 Conv on a 1x512x128x128 input;
 *   - fp32 decode of 64x64 and 128x128 latents (batch 1): session creation and run time, GFLOP/s
 *     (decoderFlops), share of the ceiling (target >= 70%), peak RSS (target < 4 GB at 128x128);
 *   - at 64x64, in one process with the runs interleaved: emulated fp16 / fp32 (target <= 1.15) and
 *     fp16 with instrumentation / fp16 (target <= 1.10).
 *
 * Usage: node --import tsx test/bench/decode.bench.ts [options]
 *   --quick              skip the 128x128 decode           (env VAECHECK_BENCH_QUICK=1)
 *   --malloc MODE        default | hugetlb | both          (env VAECHECK_BENCH_MALLOC; default: default)
 *                        hugetlb starts children with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (first touch of fresh memory is slow on small VMs);
 *                        both measures the ceiling and the fp32 decodes under each. Measured here: hugetlb
 *                        takes effect (GBs of AnonHugePages, ~200x fewer page faults) but did not make the
 *                        decode faster, so children run with the plain allocator unless asked.
 *   --threads N          onnxruntime intra-op threads      (env VAECHECK_BENCH_THREADS; default: ORT's choice)
 *   --seed N             weight and latent seed            (default 1)
 *   --latent N           small latent size; the large one is 2N (default 64; e.g. --quick --latent 16 for a smoke run)
 *   --json FILE          also write the results as JSON
 * Exit code 0 whatever the targets say (it is a measurement, not a test); 1 when a child fails.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { GraphBuilder, ints } from '../../src/graph/builder.js';
import type { VaeWeights } from '../../src/graph/vae-graph.js';
import { decoderFlops } from '../../src/architecture/flops.js';
import { Session, runtimeVersion } from '../../src/runtime/session.js';

import { VaeRunner } from '../../src/vae-runner.js';
import { SDXL_SCALING_FACTOR, type Tensor32, type VaeArchitecture } from '../../src/architecture/vae-architecture.js';
import { expectedShapes } from '../../src/architecture/shapes.js';
import { randomNormal } from '../../src/tensors/random.js';
import type { Tensor } from '../../src/tensor.js';

const TARGETS = { ceilingShare: 0.7, rss128: 4e9, fp16Ratio: 1.15, instrumentRatio: 1.1 } as const;
const RESULT_TAG = 'BENCH_RESULT ';
const HUGETLB = 'glibc.malloc.hugetlb=1';

const SDXL_DECODER_ARCH: VaeArchitecture = {
  blockOutChannels: [128, 256, 512, 512],
  layersPerBlock: 2,
  groups: 32,
  eps: 1e-6,
  latentChannels: 4,
  inChannels: 3,
  outChannels: 3,
  midAttention: true,
  quantConv: true,
  postQuantConv: true,
  scalingFactor: SDXL_SCALING_FACTOR,
  shiftFactor: 0,
  scalingFactorSource: 'default',
  family: { family: 'sdxl', source: 'default' },
  hasEncoder: false,
  hasDecoder: true,
};

// ---------------------------------------------------------------------------------------------
// seeded random weights

/** FNV-1a of a key, so each tensor's stream depends on its name and the seed, not on key order. */
function keySeed(key: string, seed: number): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0 || 1;
}

/**
 * Fills `out` with uniform values of mean `mean` and standard deviation `std` (xorshift32: fast,
 * seeded; a uniform with the right variance is enough to keep activations at a realistic scale).
 */
function fillUniform(out: Float32Array, seed: number, mean: number, std: number): void {
  const half = std * Math.sqrt(3); // U(-a, a) has variance a^2 / 3
  const scale = (2 * half) / 4294967296;
  let s = seed >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = mean - half + (s >>> 0) * scale;
  }
}

/**
 * Decoder weights for `arch`: convs and linears N(0, g / fan_in)-like with g = 2 for the convs
 * reading a SiLU output (resnet conv1 / conv2), g = 1 elsewhere, conv_out scaled down so that the
 * image lands mostly in [-1, 1]; GroupNorm gamma 1 ± 0.1, biases std 0.02.
 */
function randomDecoderWeights(arch: VaeArchitecture, seed: number): VaeWeights {
  const weights = new Map<string, Tensor32>();
  for (const [key, shape] of expectedShapes(arch, 'decoder')) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const s = keySeed(key, seed);
    const isNorm = /norm[^.]*\.(weight|bias)$/.test(key);
    if (key.endsWith('.bias')) {
      fillUniform(data, s, 0, 0.02);
    } else if (isNorm) {
      fillUniform(data, s, 1, 0.1);
    } else {
      const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
      let gain = /\.conv[12]\.weight$/.test(key) ? 2 : 1;
      if (key === 'decoder.conv_out.weight') gain = 0.05;
      fillUniform(data, s, 0, Math.sqrt(gain / fanIn));
    }
    weights.set(key, { shape, data });
  }
  return { arch, weights };
}

function paramCount(vae: VaeWeights): number {
  let n = 0;
  for (const t of vae.weights.values()) n += t.data.length;
  return n;
}

// ---------------------------------------------------------------------------------------------
// children: each measures one thing and prints one tagged JSON line

interface ChildBase {
  maxRssBytes: number;
  /** AnonHugePages of the child at the end (Linux), to see whether hugetlb took effect */
  hugePageBytes: number | null;
  malloc: string;
}
interface CeilingResult extends ChildBase {
  kind: 'ceiling';
  flops: number;
  createS: number;
  runsS: number[];
  bestS: number;
  gflops: number;
  /** CPU seconds (all threads) of the fastest-in-CPU run: less sensitive to other load than wall time */
  bestCpuS: number;
}
interface DecodeResult extends ChildBase {
  kind: 'decode';
  size: number;
  params: number;
  genS: number;
  createS: number;
  runsS: number[];
  bestS: number;
  flops: number;
  gflops: number;
  /** CPU seconds (all threads) of the fastest-in-CPU run */
  bestCpuS: number;
  /** resident set right after the session was created (weights held by JS and by onnxruntime) */
  rssAfterCreateBytes: number;
  outputStd: number;
  nonFinite: number;
}
interface RatioResult extends ChildBase {
  kind: 'ratio';
  size: number;
  createS: Record<string, number>;
  runsS: Record<string, number[]>;
  bestS: Record<string, number>;
  nonFinite: Record<string, number>;
  maxAbsFp16?: number;
}
type ChildResult = CeilingResult | DecodeResult | RatioResult;

const now = () => performance.now() / 1000;
/** user + system CPU seconds of this process (all threads) */
const cpuS = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const log = (msg: string) => process.stderr.write(`  [${process.pid}] ${msg}\n`);
const rssBytes = () => process.resourceUsage().maxRSS * 1024;
const mallocMode = () => (process.env.GLIBC_TUNABLES?.includes(HUGETLB) ? 'hugetlb' : 'default');
function hugePageBytes(): number | null {
  try {
    const m = /AnonHugePages:\s+(\d+) kB/.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}
const childBase = (): ChildBase => ({ maxRssBytes: rssBytes(), hugePageBytes: hugePageBytes(), malloc: mallocMode() });

async function childCeiling(threads?: number): Promise<CeilingResult> {
  const c = 512;
  const hw = 128;
  const b = new GraphBuilder('conv_ceiling');
  const x = b.input('x', [1, c, hw, hw]);
  const w = new Float32Array(c * c * 9);
  fillUniform(w, 7, 0, Math.sqrt(1 / (c * 9)));
  const bias = new Float32Array(c);
  const y = b.node('Conv', 'conv', [x, b.weight('conv.weight', [c, c, 3, 3], w), b.weight('conv.bias', [c], bias)], {
    kernel_shape: ints([3, 3]),
    pads: ints([1, 1, 1, 1]),
  });
  b.output(y, [1, c, hw, hw]);
  const t0 = now();
  const session = await Session.create(b.build(), { threads });
  const createS = now() - t0;
  const input = { shape: [1, c, hw, hw], data: randomNormal(3, c * hw * hw) };
  await session.run({ x: input }); // warm-up
  const runsS: number[] = [];
  const cpuRuns: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = now();
    const c0 = cpuS();
    await session.run({ x: input });
    runsS.push(now() - t);
    cpuRuns.push(cpuS() - c0);
  }
  const base = childBase();
  await session.release();
  const flops = 2 * c * c * 9 * hw * hw;
  const bestS = Math.min(...runsS);
  return { kind: 'ceiling', flops, createS, runsS, bestS, gflops: flops / bestS / 1e9, bestCpuS: Math.min(...cpuRuns), ...base };
}

function latents(seed: number, size: number) {
  const data = randomNormal(seed + 1000, 4 * size * size);
  // what a pipeline hands the VAE is scaled; the decoder graph takes raw latents
  for (let i = 0; i < data.length; i++) data[i] /= SDXL_SCALING_FACTOR;
  return { shape: [1, 4, size, size], data };
}

function outputStats(data: Float32Array): { std: number; nonFinite: number } {
  let n = 0;
  let s = 0;
  let s2 = 0;
  let bad = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isFinite(v)) {
      bad++;
      continue;
    }
    n++;
    s += v;
    s2 += v * v;
  }
  const mean = n ? s / n : 0;
  return { std: n ? Math.sqrt(Math.max(0, s2 / n - mean * mean)) : NaN, nonFinite: bad };
}

async function childDecode(size: number, runs: number, seed: number, threads?: number): Promise<DecodeResult> {
  let t = now();
  const vae = randomDecoderWeights(SDXL_DECODER_ARCH, seed);
  const genS = now() - t;
  log(`weights generated in ${genS.toFixed(2)} s; creating the fp32 session`);
  t = now();
  const runner = await VaeRunner.create(vae, 'decoder', { precision: 'fp32', threads });
  const createS = now() - t;
  const rssAfterCreateBytes = process.memoryUsage().rss;
  const input = latents(seed, size);
  const runsS: number[] = [];
  const cpuRuns: number[] = [];
  let stats = { std: NaN, nonFinite: 0 };
  for (let i = 0; i < runs; i++) {
    t = now();
    const c0 = cpuS();
    const { output } = await runner.run(input);
    runsS.push(now() - t);
    cpuRuns.push(cpuS() - c0);
    log(`fp32 ${size}x${size} run ${i + 1}/${runs}: ${runsS[i].toFixed(2)} s`);
    stats = outputStats(output.data);
  }
  const base = childBase(); // before release, while the arena is still held
  await runner.release();
  const flops = decoderFlops(SDXL_DECODER_ARCH, 1, size, size);
  const bestS = Math.min(...runsS);
  return {
    kind: 'decode',
    size,
    params: paramCount(vae),
    genS,
    createS,
    runsS,
    bestS,
    flops,
    gflops: flops / bestS / 1e9,
    bestCpuS: Math.min(...cpuRuns),
    rssAfterCreateBytes,
    outputStd: stats.std,
    nonFinite: stats.nonFinite,
    ...base,
  };
}

async function childRatio(size: number, runs: number, seed: number, threads?: number): Promise<RatioResult> {
  const vae = randomDecoderWeights(SDXL_DECODER_ARCH, seed);
  const configs = {
    fp32: { precision: 'fp32' as const },
    fp16: { precision: 'fp16' as const },
    fp16_instrumented: { precision: 'fp16' as const, instrument: true },
  };
  const names = Object.keys(configs) as (keyof typeof configs)[];
  const runners = {} as Record<string, VaeRunner>;
  const createS: Record<string, number> = {};
  for (const name of names) {
    const t = now();
    runners[name] = await VaeRunner.create(vae, 'decoder', { ...configs[name], threads });
    createS[name] = now() - t;
    log(`${name} session created in ${createS[name].toFixed(2)} s`);
  }
  const input = latents(seed, size);
  const runsS: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const nonFinite: Record<string, number> = {};
  let maxAbsFp16: number | undefined;
  // interleaved so that a slow spell of the machine does not land on one config only
  for (let r = 0; r < runs; r++) {
    for (const name of names) {
      const t = now();
      const res = await runners[name].run(input);
      runsS[name].push(now() - t);
      log(`${name} ${size}x${size} run ${r + 1}/${runs}: ${runsS[name][r].toFixed(2)} s`);
      nonFinite[name] = outputStats(res.output.data).nonFinite;
      if (res.layers) maxAbsFp16 = Math.max(...res.layers.map((l) => l.maxAbs));
    }
  }
  const base = childBase();
  for (const name of names) await runners[name].release();
  const bestS = Object.fromEntries(names.map((n) => [n, Math.min(...runsS[n])]));
  return { kind: 'ratio', size, createS, runsS, bestS, nonFinite, maxAbsFp16, ...base };
}

// ---------------------------------------------------------------------------------------------
// parent

interface Options {
  quick: boolean;
  malloc: 'hugetlb' | 'default' | 'both';
  threads?: number;
  seed: number;
  /** the small latent size (the large one is twice it) */
  latent: number;
  json?: string;
  child?: string;
}

function parseArgs(argv: string[]): Options {
  const env = process.env;
  const opts: Options = {
    quick: env.VAECHECK_BENCH_QUICK === '1',
    malloc: (env.VAECHECK_BENCH_MALLOC as Options['malloc']) ?? 'default',
    threads: env.VAECHECK_BENCH_THREADS ? Number(env.VAECHECK_BENCH_THREADS) : undefined,
    seed: 1,
    latent: 64,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`Expected a value for ${a}`);
      return v;
    };
    if (a === '--quick') opts.quick = true;
    else if (a === '--malloc') opts.malloc = value() as Options['malloc'];
    else if (a === '--threads') opts.threads = Number(value());
    else if (a === '--seed') opts.seed = Number(value());
    else if (a === '--json') opts.json = value();
    else if (a === '--latent') opts.latent = Number(value());
    else if (a === '--child') opts.child = value();
    else throw new Error(`Expected one of --quick, --malloc, --threads, --seed, --latent, --json but received ${a}`);
  }
  if (!['hugetlb', 'default', 'both'].includes(opts.malloc)) throw new Error(`Expected hugetlb, default or both for --malloc but received ${opts.malloc}`);
  if (opts.threads !== undefined && !(Number.isInteger(opts.threads) && opts.threads > 0)) throw new Error(`Expected a positive integer for --threads but received ${opts.threads}`);
  if (!(Number.isInteger(opts.latent) && opts.latent >= 8 && opts.latent % 8 === 0)) throw new Error(`Expected a multiple of 8 for --latent but received ${opts.latent}`);
  if (!Number.isInteger(opts.seed)) throw new Error(`Expected an integer for --seed but received ${opts.seed}`);
  return opts;
}

function runChild(task: string, opts: Options, hugetlb: boolean): Promise<ChildResult> {
  const args = ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', task, '--seed', String(opts.seed)];
  if (opts.threads) args.push('--threads', String(opts.threads));
  const env = { ...process.env };
  delete env.GLIBC_TUNABLES;
  if (hugetlb) env.GLIBC_TUNABLES = HUGETLB;
  process.stderr.write(`- ${task} (${hugetlb ? 'hugetlb' : 'default malloc'})\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith(RESULT_TAG));
      if (code !== 0 || !line) reject(new Error(`child ${task} exited with ${code}: ${out.slice(-2000)}`));
      else resolve(JSON.parse(line.slice(RESULT_TAG.length)) as ChildResult);
    });
  });
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);
const gb = (bytes: number) => `${(bytes / 1e9).toFixed(2)} GB`;
const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? pad(cell, widths[c]) : lpad(cell, widths[c]))).join('  ')).join('\n');
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.child) {
    const [task, sizeStr] = opts.child.split(':');
    const size = Number(sizeStr);
    let result: ChildResult;
    if (task === 'ceiling') result = await childCeiling(opts.threads);
    else if (task === 'decode') result = await childDecode(size, size >= 128 ? 1 : 2, opts.seed, opts.threads);
    else if (task === 'ratio') result = await childRatio(size, 2, opts.seed, opts.threads);
    else throw new Error(`Expected ceiling, decode:N or ratio:N for --child but received ${opts.child}`);
    process.stdout.write(`${RESULT_TAG}${JSON.stringify(result)}\n`);
    return;
  }

  const started = now();
  const loadBefore = loadavg()[0];
  const mallocs = opts.malloc === 'both' ? [false, true] : [opts.malloc === 'hugetlb'];
  const sizes = opts.quick ? [opts.latent] : [opts.latent, 2 * opts.latent];
  const ceilings: CeilingResult[] = [];
  const decodes: DecodeResult[] = [];
  for (const huge of mallocs) {
    ceilings.push((await runChild('ceiling', opts, huge)) as CeilingResult);
    for (const s of sizes) decodes.push((await runChild(`decode:${s}`, opts, huge)) as DecodeResult);
  }
  const preferHuge = mallocs[mallocs.length - 1];
  const ratio = (await runChild(`ratio:${opts.latent}`, opts, preferHuge)) as RatioResult;

  const cpu = cpus();
  const lines: string[] = [];
  lines.push('');
  lines.push(`vaecheck decode benchmark: onnxruntime-node ${runtimeVersion()}, node ${process.version}, ${cpu[0]?.model ?? 'cpu'} x${cpu.length}, ${gb(totalmem())} RAM, threads ${opts.threads ?? 'ORT default'}, seed ${opts.seed}`);
  const d0 = decodes[0];
  lines.push(`model: SDXL-architecture decoder (blocks [128, 256, 512, 512], 2 layers, 32 groups, mid attention), ${(d0.params / 1e6).toFixed(1)}M random params generated in ${d0.genS.toFixed(2)} s`);
  lines.push('');
  lines.push('practical ceiling: one Conv 512->512 3x3 on 1x512x128x128 (warm-up, best of 3)');
  const ceilRows = [['malloc', 'GFLOP', 'best s', 'GFLOP/s', 'CPU s', 'GFLOP per CPU-s', 'peak RSS']];
  for (const c of ceilings) {
    ceilRows.push([c.malloc, (c.flops / 1e9).toFixed(1), c.bestS.toFixed(3), c.gflops.toFixed(0), c.bestCpuS.toFixed(3), (c.flops / c.bestCpuS / 1e9).toFixed(0), gb(c.maxRssBytes)]);
  }
  lines.push(table(ceilRows));
  lines.push('');
  lines.push(`fp32 decode, batch 1 (best of 2 below 128x128, 1 run from 128x128 up). Targets: >= ${TARGETS.ceilingShare * 100}% of the ceiling; peak RSS < ${gb(TARGETS.rss128)} at 128x128`);
  const decRows = [['latent', 'malloc', 'create s', 'runs s', 'best s', 'TFLOP', 'GFLOP/s', '% ceiling', 'target', '% ceiling (CPU s)', 'RSS after create', 'peak RSS', 'RSS target', 'huge pages', 'out std', 'non-finite']];
  const ceilingOf = (m: string) => ceilings.find((c) => c.malloc === m)!;
  for (const d of decodes) {
    const share = d.gflops / ceilingOf(d.malloc).gflops;
    const rssCell = d.size >= 128 ? `${verdict(d.maxRssBytes < TARGETS.rss128)}` : '-';
    decRows.push([
      `${d.size}x${d.size}`,
      d.malloc,
      d.createS.toFixed(2),
      d.runsS.map((x) => x.toFixed(2)).join(' / '),
      d.bestS.toFixed(2),
      (d.flops / 1e12).toFixed(2),
      d.gflops.toFixed(0),
      `${(share * 100).toFixed(0)}%`,
      verdict(share >= TARGETS.ceilingShare),
      `${((d.flops / d.bestCpuS / (ceilingOf(d.malloc).flops / ceilingOf(d.malloc).bestCpuS)) * 100).toFixed(0)}%`,
      gb(d.rssAfterCreateBytes),
      gb(d.maxRssBytes),
      rssCell,
      d.hugePageBytes === null ? '?' : gb(d.hugePageBytes),
      d.outputStd.toFixed(3),
      String(d.nonFinite),
    ]);
  }
  lines.push(table(decRows));
  lines.push('(% ceiling compares wall-clock GFLOP/s, the target; "% ceiling (CPU s)" compares FLOP per CPU-second of the process, which other load on the machine disturbs less)');
  lines.push('');
  const b = ratio.bestS;
  const r16 = b.fp16 / b.fp32;
  const rInst = b.fp16_instrumented / b.fp16;
  lines.push(`precision emulation at ${ratio.size}x${ratio.size} (one process, ${ratio.malloc} malloc, runs interleaved, best of 2; create s excluded)`);
  const ratioRows = [
    ['config', 'create s', 'runs s', 'best s', 'ratio', 'target', 'verdict', 'non-finite'],
    ['fp32', ratio.createS.fp32.toFixed(2), ratio.runsS.fp32.map((x) => x.toFixed(2)).join(' / '), b.fp32.toFixed(2), '-', '-', '-', String(ratio.nonFinite.fp32)],
    ['fp16 (emulated) / fp32', ratio.createS.fp16.toFixed(2), ratio.runsS.fp16.map((x) => x.toFixed(2)).join(' / '), b.fp16.toFixed(2), r16.toFixed(3), `<= ${TARGETS.fp16Ratio}`, verdict(r16 <= TARGETS.fp16Ratio), String(ratio.nonFinite.fp16)],
    [
      'fp16 + instrument / fp16',
      ratio.createS.fp16_instrumented.toFixed(2),
      ratio.runsS.fp16_instrumented.map((x) => x.toFixed(2)).join(' / '),
      b.fp16_instrumented.toFixed(2),
      rInst.toFixed(3),
      `<= ${TARGETS.instrumentRatio}`,
      verdict(rInst <= TARGETS.instrumentRatio),
      String(ratio.nonFinite.fp16_instrumented),
    ],
  ];
  lines.push(table(ratioRows));
  lines.push(`peak RSS of this process (three sessions): ${gb(ratio.maxRssBytes)}`);
  if (ratio.maxAbsFp16 !== undefined) lines.push(`largest |x| over traced fp16 ops: ${ratio.maxAbsFp16.toPrecision(4)} (fp16 limit 65504)`);
  lines.push('');
  const loadAfter = loadavg()[0];
  lines.push(`total ${(now() - started).toFixed(0)} s; 1-min load average ${loadBefore.toFixed(2)} at the start, ${loadAfter.toFixed(2)} at the end on ${cpu.length} CPUs`);
  if (Math.max(loadBefore, loadAfter) > 0.5 * cpu.length) lines.push('warning: the machine was busy with other work; absolute figures are low and noisy (the interleaved ratios less so)');
  process.stdout.write(`${lines.join('\n')}\n`);
  if (opts.json) {
    writeFileSync(opts.json, `${JSON.stringify({ options: { ...opts, child: undefined }, runtime: runtimeVersion(), node: process.version, cpu: cpu[0]?.model, cpus: cpu.length, targets: TARGETS, ceilings, decodes, ratio }, null, 2)}\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});

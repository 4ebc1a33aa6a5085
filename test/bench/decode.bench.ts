/**
 * Decode benchmark (a script, not a test): a full-size SDXL-architecture VAE decoder with seeded
 * random weights, decoded with onnxruntime-node on the CPU. Each measurement runs in its own child
 * process, so that peak RSS figures do not mix.
 *
 *   1. whole process, as a user runs it with nothing set (no flags, no environment):
 *      `vaecheck decode --vae <file> --random --size NxN --out x.png` at 64x64 latents (512x512),
 *      128x128 (1024x1024) and 256x256 (2048x2048, tiled), against the PyTorch CPU peer;
 *   2. where that time goes outside onnxruntime: weight loading, graph building, session creation,
 *      the run, PNG writing (the same steps in-process, timed one by one);
 *   3. the fp32 decode against the honest ceiling, in one process and with the decode's session
 *      options: single 3x3 convs of the decoder's shapes in both layouts onnxruntime offers (plain
 *      NCHW, and the blocked NCHWc of its highest optimization level), FLOP-weighted (conv-ceiling.ts);
 *   4. precision emulation and instrumentation in one process with the runs interleaved: fp16 and
 *      bf16 against fp32, fp16 + instrumentation against fp16, each with onnxruntime's profile
 *      summed per op type (ort-profile.ts).
 *
 * Usage: node --import tsx test/bench/decode.bench.ts [options]
 *   --quick          only 64x64 latents (no 1024x1024 or 2048x2048 runs)  (env VAECHECK_BENCH_QUICK=1)
 *   --no-2048        skip the tiled 2048x2048 run
 *   --malloc MODE    default | hugetlb | both: the whole-process runs without / with
 *                    GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (transparent huge pages for malloc)
 *   --threads N      set VAECHECK_THREADS=N everywhere (default: unset, i.e. all CPUs)
 *   --seed N         weight and latent seed (default 1)
 *   --latent N       small latent size (default 64; --quick --latent 16 for a smoke run)
 *   --json FILE      also write the results as JSON
 * Exit code 0 whatever the targets say (it is a measurement, not a test); 1 when a child fails.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { imageFiles } from '../../src/decode.js';
import { type Precision } from '../../src/dtype.js';
import { DECODER_INPUT } from '../../src/graph/vae-graph.js';
import { decoderFlops } from '../../src/architecture/flops.js';
import { OutputSet } from '../../src/io/output-files.js';
import { Session, THREADS_ENV, defaultThreads, runtimeVersion } from '../../src/runtime/session.js';
import { prepareGraph, VaeRunner } from '../../src/vae-runner.js';
import { loadVae } from '../../src/weights/load.js';
import { randomNormal } from '../../src/tensors/random.js';
import { SDXL_SCALING_FACTOR } from '../../src/architecture/vae-architecture.js';
import { type ConvTiming, LAYOUTS, type Layout, bestOf, ceilingShapes, decoderFlopsByResolution, timeConv, weightedCeiling } from './conv-ceiling.js';
import { KINDS, type ProfileSummary, summarizeProfile } from './ort-profile.js';
import { SDXL_DECODER_ARCH, paramCount, randomDecoderWeights, writeVaeFile } from './random-vae.js';

const TARGETS = { peerRatio: 0.2, ceilingShare: 0.75, emulationRatio: 1.1, instrumentRatio: 1.1, scale1024: 4.5, rss1024: 4e9, rss2048: 24e9 } as const;
/**
 * The PyTorch CPU peer (diffusers AutoencoderKL, PyTorch with oneDNN) decoding the same 64x64 latent to
 * 512x512 in fp32, whole process, measured side by side with vaecheck on a 2-core AVX-512 machine
 * (issue 12). PyTorch cannot be installed here (no Python package index), so it is quoted, not rerun.
 */
const PEER_512_S = 37.4;
const RESULT_TAG = 'BENCH_RESULT ';
const HUGETLB = 'glibc.malloc.hugetlb=1';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const now = () => performance.now() / 1000;
const cpuS = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const log = (msg: string) => process.stderr.write(`  [${process.pid}] ${msg}\n`);
const maxRssBytes = () => process.resourceUsage().maxRSS * 1024;

function latents(seed: number, size: number) {
  const data = randomNormal(seed + 1000, 4 * size * size);
  // what a pipeline hands the VAE is scaled; the decoder graph takes raw latents
  for (let i = 0; i < data.length; i++) data[i] /= SDXL_SCALING_FACTOR;
  return { shape: [1, 4, size, size], data };
}

function nonFinite(data: Float32Array): number {
  let bad = 0;
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) bad++;
  return bad;
}

// ---------------------------------------------------------------------------------------------
// children: each measures one thing and prints one tagged JSON line

interface CeilingResult {
  kind: 'ceiling';
  size: number;
  threads: number;
  flops: number;
  flopsByRes: number[];
  runsS: number[];
  cpuRunsS: number[];
  timings: ConvTiming[];
  maxRssBytes: number;
}

/** fp32 decode runs interleaved with rounds of single-conv timings, in one process. */
async function childCeiling(size: number, seed: number): Promise<CeilingResult> {
  const vae = randomDecoderWeights(SDXL_DECODER_ARCH, seed);
  const runner = await VaeRunner.create(vae, 'decoder', { precision: 'fp32' });
  const input = latents(seed, size);
  const shapes = ceilingShapes(SDXL_DECODER_ARCH, size);
  const timings: ConvTiming[] = [];
  const runsS: number[] = [];
  const cpuRunsS: number[] = [];
  let rss = 0;
  for (let round = 0; round < 2; round++) {
    const t = now();
    const c = cpuS();
    const out = await runner.run(input);
    runsS.push(now() - t);
    cpuRunsS.push(cpuS() - c);
    if (round === 0) rss = maxRssBytes(); // before any ceiling session adds its own buffers
    log(`fp32 ${size}x${size} decode ${round + 1}/2: ${runsS[round].toFixed(2)} s (${cpuRunsS[round].toFixed(1)} CPU s), ${nonFinite(out.output.data as Float32Array)} non-finite`);
    for (const shape of shapes) {
      for (const layout of Object.keys(LAYOUTS) as Layout[]) {
        const tm = await timeConv(shape, layout, {});
        timings.push(tm);
        log(`conv ${shape.channels}->${shape.channels} at ${shape.size}² ${layout}: ${(tm.flops / tm.bestS / 1e9).toFixed(0)} GFLOP/s`);
      }
    }
  }
  await runner.release();
  return { kind: 'ceiling', size, threads: defaultThreads(), flops: decoderFlops(SDXL_DECODER_ARCH, 1, size, size), flopsByRes: decoderFlopsByResolution(SDXL_DECODER_ARCH, size), runsS, cpuRunsS, timings: bestOf(timings), maxRssBytes: rss };
}

interface PrecisionConfig {
  name: string;
  precision: Precision;
  instrument?: boolean;
}
const PRECISION_CONFIGS: PrecisionConfig[] = [
  { name: 'fp32', precision: 'fp32' },
  { name: 'fp16', precision: 'fp16' },
  { name: 'bf16', precision: 'bf16' },
  { name: 'fp16 + instrument', precision: 'fp16', instrument: true },
];

interface PrecisionResult {
  kind: 'precision';
  size: number;
  createS: Record<string, number>;
  runsS: Record<string, number[]>;
  cpuRunsS: Record<string, number[]>;
  profiles: Record<string, ProfileSummary>;
  maxRssBytes: number;
}

/** Each config's session profiled; runs interleaved so that a slow spell does not land on one config. */
async function childPrecision(size: number, seed: number, runs: number): Promise<PrecisionResult> {
  const vae = randomDecoderWeights(SDXL_DECODER_ARCH, seed);
  const dir = mkdtempSync(join(tmpdir(), 'vaecheck-profile-'));
  try {
    const sessions: Record<string, Session> = {};
    const createS: Record<string, number> = {};
    for (const c of PRECISION_CONFIGS) {
      const t = now();
      sessions[c.name] = await Session.create(prepareGraph(vae, 'decoder', { precision: c.precision, instrument: c.instrument }), { profilePrefix: join(dir, c.name.replace(/\W+/g, '_')) });
      createS[c.name] = now() - t;
    }
    const input = latents(seed, size);
    const runsS: Record<string, number[]> = Object.fromEntries(PRECISION_CONFIGS.map((c) => [c.name, []]));
    const cpuRunsS: Record<string, number[]> = Object.fromEntries(PRECISION_CONFIGS.map((c) => [c.name, []]));
    for (let r = 0; r < runs; r++) {
      for (const c of PRECISION_CONFIGS) {
        const t = now();
        const cpu = cpuS();
        await sessions[c.name].run({ [DECODER_INPUT]: input });
        runsS[c.name].push(now() - t);
        cpuRunsS[c.name].push(cpuS() - cpu);
        log(`${c.name} ${size}x${size} run ${r + 1}/${runs}: ${runsS[c.name][r].toFixed(2)} s (${cpuRunsS[c.name][r].toFixed(1)} CPU s)`);
      }
    }
    const profiles: Record<string, ProfileSummary> = {};
    for (const c of PRECISION_CONFIGS) {
      profiles[c.name] = summarizeProfile(await sessions[c.name].endProfiling());
      await sessions[c.name].release();
    }
    return { kind: 'precision', size, createS, runsS, cpuRunsS, profiles, maxRssBytes: maxRssBytes() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface StepsResult {
  kind: 'steps';
  size: number;
  seconds: { load: number; graph: number; session: number; run: number; write: number };
  maxRssBytes: number;
}

/** What `vaecheck decode` does, step by step, timed: where time goes outside onnxruntime's run. */
async function childSteps(size: number, seed: number, vaeFile: string, outDir: string): Promise<StepsResult> {
  let t = now();
  const vae = loadVae(vaeFile);
  const load = now() - t;
  t = now();
  const graph = prepareGraph(vae, 'decoder', { precision: 'fp32' });
  const graphS = now() - t;
  t = now();
  const session = await Session.create(graph, {});
  const sessionS = now() - t;
  t = now();
  const out = await session.run({ [DECODER_INPUT]: latents(seed, size) });
  const run = now() - t;
  await session.release();
  t = now();
  const image = out[graph.outputs[0].name];
  const set = new OutputSet(true);
  for (const [path, bytes] of await imageFiles(join(outDir, 'steps.png'), { shape: image.shape, data: image.data as Float32Array })) set.add(path, bytes);
  set.commit();
  const write = now() - t;
  return { kind: 'steps', size, seconds: { load, graph: graphS, session: sessionS, run, write }, maxRssBytes: maxRssBytes() };
}

type ChildResult = CeilingResult | PrecisionResult | StepsResult;

// ---------------------------------------------------------------------------------------------
// parent

interface Options {
  quick: boolean;
  large: boolean;
  malloc: 'hugetlb' | 'default' | 'both';
  threads?: number;
  seed: number;
  latent: number;
  json?: string;
  child?: string;
  vaeFile?: string;
  outDir?: string;
}

function parseArgs(argv: string[]): Options {
  const env = process.env;
  const opts: Options = { quick: env.VAECHECK_BENCH_QUICK === '1', large: true, malloc: 'default', seed: 1, latent: 64 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`Expected a value for ${a}`);
      return v;
    };
    if (a === '--quick') opts.quick = true;
    else if (a === '--no-2048') opts.large = false;
    else if (a === '--malloc') opts.malloc = value() as Options['malloc'];
    else if (a === '--threads') opts.threads = Number(value());
    else if (a === '--seed') opts.seed = Number(value());
    else if (a === '--json') opts.json = value();
    else if (a === '--latent') opts.latent = Number(value());
    else if (a === '--child') opts.child = value();
    else if (a === '--vae-file') opts.vaeFile = value();
    else if (a === '--out-dir') opts.outDir = value();
    else throw new Error(`Expected one of --quick, --no-2048, --malloc, --threads, --seed, --latent, --json but received ${a}`);
  }
  if (!['hugetlb', 'default', 'both'].includes(opts.malloc)) throw new Error(`Expected hugetlb, default or both for --malloc but received ${opts.malloc}`);
  if (opts.threads !== undefined && !(Number.isInteger(opts.threads) && opts.threads > 0)) throw new Error(`Expected a positive integer for --threads but received ${opts.threads}`);
  if (!(Number.isInteger(opts.latent) && opts.latent >= 8 && opts.latent % 8 === 0)) throw new Error(`Expected a multiple of 8 for --latent but received ${opts.latent}`);
  if (!Number.isInteger(opts.seed)) throw new Error(`Expected an integer for --seed but received ${opts.seed}`);
  return opts;
}

/** The environment of a user who sets nothing (plus --threads when the benchmark was given it). */
function userEnv(opts: Options, hugetlb: boolean): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.GLIBC_TUNABLES;
  delete env[THREADS_ENV];
  delete env.NODE_OPTIONS;
  if (hugetlb) env.GLIBC_TUNABLES = HUGETLB;
  if (opts.threads) env[THREADS_ENV] = String(opts.threads);
  return env;
}

function runChild(task: string, opts: Options, extra: string[] = []): Promise<ChildResult> {
  const args = ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', task, '--seed', String(opts.seed), ...extra];
  process.stderr.write(`- ${task}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: userEnv(opts, false), stdio: ['ignore', 'pipe', 'inherit'] });
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

interface CliResult {
  size: number;
  malloc: 'default' | 'hugetlb';
  wallS: number;
  cpuS: number;
  maxRssBytes: number;
  tiled: boolean;
  stdout: string;
}

/** `vaecheck decode` as a user runs it, whole process; CPU and peak RSS from rusage-preload.mjs. */
async function runCli(size: number, vaeFile: string, dir: string, opts: Options, hugetlb: boolean): Promise<CliResult> {
  const usageDir = mkdtempSync(join(dir, 'rusage-'));
  const env = userEnv(opts, hugetlb);
  env.NODE_OPTIONS = `--import=${new URL('rusage-preload.mjs', import.meta.url).href}`;
  env.VAECHECK_BENCH_RUSAGE_DIR = usageDir;
  const args = [join(ROOT, 'bin', 'run.js'), 'decode', '--vae', vaeFile, '--random', '--seed', String(opts.seed), '--size', `${size}x${size}`, '--out', join(dir, `cli-${size}.png`), '--force'];
  process.stderr.write(`- vaecheck decode --size ${size}x${size}${hugetlb ? ` (GLIBC_TUNABLES=${HUGETLB})` : ''}\n`);
  const t = now();
  const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c, stdout: out }));
  });
  const wallS = now() - t;
  if (code !== 0) throw new Error(`vaecheck decode --size ${size}x${size} exited with ${code}: ${stdout}`);
  const usages = readdirSync(usageDir).map((f) => JSON.parse(readFileSync(join(usageDir, f), 'utf8')) as NodeJS.ResourceUsage);
  return {
    size,
    malloc: hugetlb ? 'hugetlb' : 'default',
    wallS,
    cpuS: usages.reduce((a, u) => a + (u.userCPUTime + u.systemCPUTime) / 1e6, 0),
    maxRssBytes: Math.max(...usages.map((u) => u.maxRSS * 1024)),
    tiled: /tiles/.test(stdout),
    stdout: stdout.trim(),
  };
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);
const gb = (bytes: number) => `${(bytes / 1e9).toFixed(2)} GB`;
const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? pad(cell, widths[c]) : lpad(cell, widths[c]))).join('  ')).join('\n');
}

async function child(opts: Options): Promise<void> {
  const [task, sizeStr] = opts.child!.split(':');
  const size = Number(sizeStr);
  let result: ChildResult;
  if (task === 'ceiling') result = await childCeiling(size, opts.seed);
  else if (task === 'precision') result = await childPrecision(size, opts.seed, 2);
  else if (task === 'steps') result = await childSteps(size, opts.seed, opts.vaeFile!, opts.outDir!);
  else throw new Error(`Expected ceiling:N, precision:N or steps:N for --child but received ${opts.child}`);
  process.stdout.write(`${RESULT_TAG}${JSON.stringify(result)}\n`);
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.child) return child(opts);

  const started = now();
  const loadBefore = loadavg();
  const L = opts.latent;
  const dir = mkdtempSync(join(tmpdir(), 'vaecheck-bench-'));
  try {
    const vae = randomDecoderWeights(SDXL_DECODER_ARCH, opts.seed);
    const vaeFile = join(dir, 'sdxl-random-decoder.safetensors');
    writeVaeFile(vae, vaeFile);
    const params = paramCount(vae);

    const mallocs = opts.malloc === 'both' ? [false, true] : [opts.malloc === 'hugetlb'];
    const cli: CliResult[] = [];
    for (const huge of mallocs) cli.push(await runCli(L, vaeFile, dir, opts, huge));
    const steps = (await runChild(`steps:${L}`, opts, ['--vae-file', vaeFile, '--out-dir', dir])) as StepsResult;
    const ceiling = (await runChild(`ceiling:${L}`, opts)) as CeilingResult;
    const prec = (await runChild(`precision:${L}`, opts)) as PrecisionResult;
    if (!opts.quick) {
      for (const huge of mallocs) cli.push(await runCli(2 * L, vaeFile, dir, opts, huge));
      if (opts.large) cli.push(await runCli(4 * L, vaeFile, dir, opts, false));
    }

    const cpu = cpus();
    const lines: string[] = [''];
    const px = (s: number) => `${8 * s}x${8 * s}`;
    lines.push(`vaecheck decode benchmark: onnxruntime-node ${runtimeVersion()}, node ${process.version}, ${cpu[0]?.model ?? 'cpu'} x${cpu.length}, ${gb(totalmem())} RAM, ${ceiling.threads} onnxruntime threads${opts.threads ? ' (--threads)' : ' (default: all CPUs)'}, seed ${opts.seed}`);
    lines.push(`model: SDXL-architecture decoder (blocks [128, 256, 512, 512], 2 layers, 32 groups, mid attention), ${(params / 1e6).toFixed(1)}M random params, fp32 safetensors`);
    lines.push('');

    // 1. whole process
    lines.push(`1. whole process: vaecheck decode --vae <file> --random --size NxN --out x.png, nothing else set. PyTorch CPU peer at 512x512: ${PEER_512_S} s (quoted from issue 12; PyTorch is not installable here)`);
    const base = (m: string) => cli.find((c) => c.size === L && c.malloc === m);
    const cliRows = [['image', 'malloc', 'wall s', 'CPU s', 'peak RSS', 'tiled', 'vs 512x512', 'vs PyTorch peer', 'targets']];
    for (const c of cli) {
      const b = base(c.malloc);
      const rel = c.size === L ? '-' : (c.wallS / b!.wallS).toFixed(2) + 'x';
      let target = '-';
      if (c.size === L && L === 64) target = `${verdict(c.wallS / PEER_512_S <= TARGETS.peerRatio)} (<= ${TARGETS.peerRatio}x peer)`;
      if (c.size === 2 * L) target = `${verdict(c.wallS / b!.wallS <= TARGETS.scale1024)} (<= ${TARGETS.scale1024}x), ${verdict(c.maxRssBytes <= TARGETS.rss1024)} (<= 4 GB)`;
      if (c.size === 4 * L) target = `${verdict(c.maxRssBytes <= TARGETS.rss2048)} (<= 24 GB)`;
      cliRows.push([px(c.size), c.malloc, c.wallS.toFixed(1), c.cpuS.toFixed(1), gb(c.maxRssBytes), c.tiled ? 'yes' : 'no', rel, L === 64 && c.size === L ? (c.wallS / PEER_512_S).toFixed(2) + 'x' : '-', target]);
    }
    lines.push(table(cliRows));
    lines.push(`(FLOP ratio 1024/512: ${(decoderFlops(SDXL_DECODER_ARCH, 1, 2 * L, 2 * L) / decoderFlops(SDXL_DECODER_ARCH, 1, L, L)).toFixed(2)}x)`);
    lines.push('');

    // 2. steps
    const s = steps.seconds;
    const total = s.load + s.graph + s.session + s.run + s.write;
    lines.push(`2. the same ${px(L)} decode in-process, step by step (seconds; the rest of the whole-process time is node, module loading and the CLI)`);
    lines.push(table([
      ['load weights', 'build graph', 'create session', 'run', 'write PNG', 'sum', 'outside the run'],
      [s.load.toFixed(2), s.graph.toFixed(2), s.session.toFixed(2), s.run.toFixed(2), s.write.toFixed(2), total.toFixed(2), pct((total - s.run) / total)],
    ]));
    lines.push('');

    // 3. ceiling
    const shapes = ceilingShapes(SDXL_DECODER_ARCH, L);
    lines.push(`3. single 3x3 convs of the decoder's shapes, same process and session options as the fp32 decode (warm-up + best of 3, best of 2 rounds); GFLOP/s wall and per CPU-second`);
    const convRows = [['conv', 'share of decode FLOPs', ...Object.keys(LAYOUTS).flatMap((l) => [`${l} GFLOP/s`, `${l} per CPU-s`])]];
    shapes.forEach((sh, k) => {
      const row = [`${sh.channels}->${sh.channels} at ${sh.size}²`, pct(ceiling.flopsByRes[k] / ceiling.flops)];
      for (const l of Object.keys(LAYOUTS) as Layout[]) {
        const t = ceiling.timings.find((x) => x.layout === l && x.shape.size === sh.size && x.shape.channels === sh.channels)!;
        row.push((t.flops / t.bestS / 1e9).toFixed(0), (t.flops / t.bestCpuS / 1e9).toFixed(0));
      }
      convRows.push(row);
    });
    lines.push(table(convRows));
    const ceil = weightedCeiling(ceiling.flopsByRes, shapes, ceiling.timings);
    const ceilCpu = weightedCeiling(ceiling.flopsByRes, shapes, ceiling.timings, true);
    const bestRun = Math.min(...ceiling.runsS);
    const bestCpu = Math.min(...ceiling.cpuRunsS);
    const rate = ceiling.flops / bestRun;
    const rateCpu = ceiling.flops / bestCpu;
    lines.push(`fp32 decode ${px(L)}: ${(ceiling.flops / 1e12).toFixed(2)} TFLOP, runs ${ceiling.runsS.map((x) => x.toFixed(2)).join(' / ')} s (${ceiling.cpuRunsS.map((x) => x.toFixed(1)).join(' / ')} CPU s), peak RSS ${gb(ceiling.maxRssBytes)}`);
    lines.push(`  ${(rate / 1e9).toFixed(0)} GFLOP/s against a FLOP-weighted ceiling of ${(ceil / 1e9).toFixed(0)} GFLOP/s = ${pct(rate / ceil)} (target >= ${pct(TARGETS.ceilingShare)}: ${verdict(rate / ceil >= TARGETS.ceilingShare)})`);
    lines.push(`  per CPU-second (less disturbed by other load): ${(rateCpu / 1e9).toFixed(0)} against ${(ceilCpu / 1e9).toFixed(0)} = ${pct(rateCpu / ceilCpu)}`);
    lines.push('');

    // 4. precision, instrumentation, profile
    const best = (n: string) => Math.min(...prec.runsS[n]);
    const bestC = (n: string) => Math.min(...prec.cpuRunsS[n]);
    lines.push(`4. ${px(L)} decodes in one process, runs interleaved (best of 2), each session profiled by onnxruntime; peak RSS ${gb(prec.maxRssBytes)}`);
    const ratioRows = [['config', 'create s', 'runs s', 'CPU s', 'ratio', 'ratio (CPU)', 'target']];
    for (const c of PRECISION_CONFIGS) {
      const against = c.instrument ? 'fp16' : c.precision === 'fp32' ? undefined : 'fp32';
      const target = c.instrument ? TARGETS.instrumentRatio : TARGETS.emulationRatio;
      const r = against ? best(c.name) / best(against) : NaN;
      const rc = against ? bestC(c.name) / bestC(against) : NaN;
      ratioRows.push([
        against ? `${c.name} / ${against}` : c.name,
        prec.createS[c.name].toFixed(2),
        prec.runsS[c.name].map((x) => x.toFixed(2)).join(' / '),
        prec.cpuRunsS[c.name].map((x) => x.toFixed(1)).join(' / '),
        against ? r.toFixed(3) : '-',
        against ? rc.toFixed(3) : '-',
        against ? `${verdict(r <= target)} (<= ${target})` : '-',
      ]);
    }
    lines.push(table(ratioRows));
    lines.push('');
    lines.push(`kernel seconds per op type in the last profiled run (onnxruntime's profiler; "executor" is the run's time outside kernels)`);
    const profRows = [['op type', ...PRECISION_CONFIGS.map((c) => c.name)]];
    for (const k of KINDS) {
      if (PRECISION_CONFIGS.every((c) => prec.profiles[c.name].count[k] === 0)) continue;
      profRows.push([k, ...PRECISION_CONFIGS.map((c) => {
        const p = prec.profiles[c.name];
        return `${p.seconds[k].toFixed(2)} (${pct(p.seconds[k] / p.runS)}, ${p.count[k]})`;
      })]);
    }
    profRows.push(['executor', ...PRECISION_CONFIGS.map((c) => (prec.profiles[c.name].runS - prec.profiles[c.name].kernelS).toFixed(2))]);
    profRows.push(['run', ...PRECISION_CONFIGS.map((c) => prec.profiles[c.name].runS.toFixed(2))]);
    lines.push(table(profRows));
    lines.push('(cells: seconds (share of the run, kernels executed))');
    lines.push('');

    const loadAfter = loadavg();
    lines.push(`total ${(now() - started).toFixed(0)} s; load average (1, 5, 15 min) ${loadBefore.map((x) => x.toFixed(1)).join(', ')} at the start, ${loadAfter.map((x) => x.toFixed(1)).join(', ')} at the end, on ${cpu.length} CPUs`);
    if (Math.max(loadBefore[0], loadAfter[0]) > 0.5 * cpu.length) lines.push('warning: the machine was busy with other work; absolute figures are low and noisy (CPU-second figures and interleaved ratios less so)');
    process.stdout.write(`${lines.join('\n')}\n`);
    if (opts.json) {
      writeFileSync(opts.json, `${JSON.stringify({ options: { ...opts, child: undefined }, runtime: runtimeVersion(), node: process.version, cpu: cpu[0]?.model, cpus: cpu.length, load: { before: loadBefore, after: loadAfter }, targets: TARGETS, peer512S: PEER_512_S, cli, steps, ceiling, precision: prec }, null, 2)}\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});

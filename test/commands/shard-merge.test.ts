/**
 * --shard i/n and vaecheck merge, through the built CLI, on the tiny seeded VAEs with 7 random latents
 * (seed 0: with 5 shards, shard 4 gets none). For n = 1, 2, 3 and 5, running every shard and merging
 * gives what one unsharded run writes: compare's per-item figures identical and cell statistics within
 * 1e-9 of the unsharded run and of an independent recomputation, the same verdicts, report.md,
 * report.html, matrix.png and images; baseline: the same manifest and files; gate: the same cases and a
 * JUnit with exactly the unsharded test count; nan-scan: the same scan. Missing, doubled, mismatched and
 * tampered shards are refused and nothing is written. --shard auto under each CI's variables takes the
 * share of the explicit i/n.
 */
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import test from 'node:test';
import { unitsOfShard } from '../../src/shard/rendezvous.js';
import { fixtures } from '../helpers/fixtures.js';
import { type CliResult, cli } from './cli.js';

const fx = fixtures();
const SAFE = fx.path('tiny-fp16-safe.safetensors');
const OVER = fx.path('tiny-fp16-overflow.safetensors');
const UNITS = Array.from({ length: 7 }, (_, i) => `random-0-${i}`);
const RANDOM = ['--random', '--batch', '7', '--size', '8x8', '--seed', '0'];
const NS = [1, 2, 3, 5];
/** every CI variable blanked, so that the environment the tests run in cannot choose a shard */
const NO_CI = Object.fromEntries(['CI_NODE_INDEX', 'CI_NODE_TOTAL', 'CIRCLE_NODE_INDEX', 'CIRCLE_NODE_TOTAL', 'BUILDKITE_PARALLEL_JOB', 'BUILDKITE_PARALLEL_JOB_COUNT', 'JOB_COMPLETION_INDEX', 'VAECHECK_SHARD_TOTAL', 'GITHUB_STEP_SUMMARY'].map((k) => [k, '']));

const root = mkdtempSync(join(tmpdir(), 'vaecheck-shard-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));
const work = join(root, 'cwd');
mkdirSync(work);
let serial = 0;
const fresh = (name: string) => join(root, `${name}-${++serial}`);
const run = (args: string[], env: Record<string, string> = {}): CliResult => cli(args, { ...NO_CI, ...env }, { cwd: work });
const show = (r: CliResult) => `exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

/** Runs `args` once per shard of n (each with its own --out) and returns the folders. */
function shards(args: string[], n: number, name: string, expectCode?: number): string[] {
  const dirs: string[] = [];
  for (let i = 1; i <= n; i++) {
    const out = fresh(`${name}-${i}of${n}`);
    const r = run([...args, '--shard', `${i}/${n}`, '--out', out]);
    if (expectCode !== undefined) assert.equal(r.code, expectCode === 0 || unitsOfShard(UNITS, { index: i, total: n }).length > 0 ? expectCode : 0, show(r));
    assert.match(r.stderr, new RegExp(`shard ${i}/${n} \\(from --shard ${i}/${n}\\)`));
    dirs.push(out);
  }
  return dirs;
}

/** Every file under a folder: relative path -> bytes. */
function tree(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

/** JSON numbers as compare writes them ("inf", "nan" strings) back to numbers. */
const num = (v: unknown) => (v === 'inf' ? Infinity : v === '-inf' ? -Infinity : v === 'nan' ? NaN : (v as number));
const close = (a: unknown, b: unknown, what: string) => {
  const x = num(a);
  const y = num(b);
  if (Number.isNaN(x) || !Number.isFinite(x)) assert.ok(Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y)), `${what}: ${x} vs ${y}`);
  else assert.ok(Math.abs(x - y) <= 1e-9, `${what}: ${x} vs ${y}`);
};
/** Mean and population std, written here independently of src/metrics. */
function stats(xs: number[]): { mean: number; std: number } {
  if (xs.length === 0) return { mean: NaN, std: NaN };
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { mean, std: Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length) };
}

// ---------------------------------------------------------------- compare

let compareSetup: { args: string[]; full: string; code: number } | undefined;
/** The unsharded compare, with --min-psnr at the median of safe@fp16 so that this cell mixes passing and failing latents. */
function compareFull() {
  if (compareSetup) return compareSetup;
  const probe = fresh('compare-probe');
  const base = ['compare', '--vae', `safe=${SAFE}`, '--vae', `over=${OVER}`, '--precision', 'fp32,fp16', ...RANDOM];
  assert.equal(run([...base, '--out', probe]).code, 1);
  const psnrs = json(join(probe, 'report.json')).cells.find((c: { vae: string; precision: string }) => c.vae === 'safe' && c.precision === 'fp16').items.map((i: { psnr: number }) => i.psnr).sort((a: number, b: number) => a - b);
  const args = [...base, '--min-psnr', String(psnrs[3])];
  const full = fresh('compare-full');
  const r = run([...args, '--out', full]);
  compareSetup = { args, full, code: r.code };
  return compareSetup;
}

for (const n of NS) {
  test(`compare: ${n} shard(s) merged = the unsharded run (items identical, cells within 1e-9, same verdicts and files)`, () => {
    const { args, full, code } = compareFull();
    assert.equal(code, 1);
    const dirs = shards(args, n, 'compare');
    // each shard holds its rendezvous share, named in its shard block
    dirs.forEach((d, i) => {
      const sh = json(join(d, 'report.json')).shard;
      assert.deepEqual([sh.index, sh.total, sh.allUnits], [i + 1, n, UNITS]);
      assert.deepEqual(sh.units, unitsOfShard(UNITS, { index: i + 1, total: n }));
    });
    const merged = fresh('compare-merged');
    const m = run(['merge', ...dirs.reverse(), '--out', merged]);
    assert.equal(m.code, code, show(m)); // the exit code is the verdict, as unsharded
    assert.match(m.stdout, /FAILED \| vaecheck merge \| \d compare shard\(s\): 2\/4 cells ✅ over 7 latent\(s\)/);

    const a = json(join(full, 'report.json'));
    const b = json(join(merged, 'report.json'));
    assert.equal(b.shard, undefined, 'a merged report is an unsharded one');
    for (const k of ['schema', 'vaecheck', 'onnxruntime', 'ok', 'reference', 'thresholds', 'vaes', 'precisions', 'latents', 'warnings']) assert.deepEqual(b[k], a[k], k);
    assert.equal(b.cells.length, a.cells.length);
    for (const [ci, ca] of a.cells.entries()) {
      const cb = b.cells[ci];
      const key = `${ca.vae}@${ca.precision}`;
      assert.deepEqual(cb.items, ca.items, `${key}: per-item figures identical`);
      for (const k of ['vae', 'precision', 'isReference', 'pass', 'reasons']) assert.deepEqual(cb[k], ca[k], `${key}.${k}`);
      close(cb.nonFiniteFraction, ca.nonFiniteFraction, `${key}.nonFiniteFraction`);
      for (const metric of ['psnr', 'ssim'] as const) {
        const ref = stats(ca.items.map((it: Record<string, unknown>) => num(it[metric])));
        for (const k of ['mean', 'std'] as const) {
          close(cb[metric][k], ca[metric][k], `${key}.${metric}.${k} vs unsharded`);
          close(cb[metric][k], ref[k], `${key}.${metric}.${k} vs recomputed`);
        }
        assert.equal(cb[metric].n, 7);
      }
    }
    // the mixed cell: some latents pass, some fail, reasons name the failing ones
    const mixed = b.cells.find((c: { vae: string; precision: string }) => c.vae === 'safe' && c.precision === 'fp16');
    assert.ok(mixed.items.some((i: { pass: boolean }) => i.pass) && mixed.items.some((i: { pass: boolean }) => !i.pass));
    // report.md, report.html, matrix.png and every image: the same bytes
    const ta = tree(full);
    const tb = tree(merged);
    assert.deepEqual([...tb.keys()].sort(), [...ta.keys()].sort());
    // (report.html states when it was made: the date aside, the same bytes)
    const undated = (b: Buffer) => b.toString('utf8').replace(/<time datetime="[^"]*">[^<]*<\/time>/, '<time>');
    for (const [rel, bytes] of ta) {
      if (rel === 'report.html') assert.equal(undated(tb.get(rel)!), undated(bytes), `${rel} differs`);
      else if (rel !== 'report.json') assert.ok(bytes.equals(tb.get(rel)!), `${rel} differs`);
    }
  });
}

test('compare: an empty shard writes a valid empty output and passes', () => {
  const { args } = compareFull();
  const n = 30;
  const empty = Array.from({ length: n }, (_, i) => i + 1).find((i) => unitsOfShard(UNITS, { index: i, total: n }).length === 0)!;
  const out = fresh('compare-empty');
  const r = run([...args, '--shard', `${empty}/${n}`, '--out', out]);
  assert.equal(r.code, 0, show(r));
  assert.match(r.stderr, new RegExp(`shard ${empty}/30 ran 0 of 7 latent\\(s\\)`));
  const rep = json(join(out, 'report.json'));
  assert.deepEqual(rep.latents, []);
  assert.deepEqual(rep.shard.units, []);
  for (const c of rep.cells) assert.deepEqual(c.items, []);
  assert.ok(existsSync(join(out, 'matrix.png')) && existsSync(join(out, 'report.html')));
});

// ---------------------------------------------------------------- refusals

let refusalShards: string[] | undefined;
const threeShards = () => (refusalShards ??= shards(compareFull().args, 3, 'compare-r'));
/** merge must fail with `code` and a one-line error matching `re`, writing nothing. */
function refused(dirs: string[], code: number, re: RegExp) {
  const out = fresh('refused');
  const r = run(['merge', ...dirs, '--out', out]);
  assert.equal(r.code, code, show(r));
  assert.match(r.stderr, re);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.ok(!existsSync(out), 'nothing written');
}
function copyShard(dir: string, edit: (report: Record<string, any>) => void): string {
  const copy = fresh('edited');
  cpSync(dir, copy, { recursive: true });
  const rep = json(join(copy, 'report.json'));
  edit(rep);
  writeFileSync(join(copy, 'report.json'), JSON.stringify(rep));
  return copy;
}

test('merge refuses a missing shard and a doubled shard (exit 2)', () => {
  const [s1, s2, s3] = threeShards();
  refused([s1, s3], 2, /shard 2\/3 missing: give the output folders of all 3 shards \(have 1, 3\)/);
  refused([s1, s2, s3, s2], 2, /shard 2\/3 is given twice/);
  const twin = fresh('twin');
  cpSync(s1, twin, { recursive: true });
  refused([s1, s2, s3, twin], 2, /shard 1\/3 is given twice/);
});

test('merge refuses shards of different runs (exit 3): thresholds, precisions, weights, vaecheck version, inputs', () => {
  const [s1, s2] = threeShards();
  const { args } = compareFull();
  const other = (extra: string[], replace?: [string, string]) => {
    const a = replace ? args.map((x) => (x === replace[0] ? replace[1] : x)) : args;
    const out = fresh('other');
    run([...a, ...extra, '--shard', '3/3', '--out', out]);
    assert.ok(existsSync(join(out, 'report.json')));
    return out;
  };
  const psnrAt = args.indexOf('--min-psnr') + 1;
  refused([s1, s2, other([], [args[psnrAt], '10'])], 3, /report\.json: does not belong with .*: thresholds differs/);
  refused([s1, s2, other([], ['fp32,fp16', 'fp32,bf16'])], 3, /precisions differs/);
  // the same VAE label, other weights: one byte of the last tensor changed
  const edited = join(root, 'over-edited.safetensors');
  copyFileSync(OVER, edited);
  const bytes = readFileSync(edited);
  bytes[bytes.length - 1] ^= 1;
  writeFileSync(edited, bytes);
  refused([s1, s2, other([], [`over=${OVER}`, `over=${edited}`])], 3, /shard\.run\.weightsSha256 differs/);
  refused([s1, s2, other([], ['0', '1'])], 3, /units \(allUnits\) differs/); // another seed: other latents
  refused([s1, s2, copyShard(threeShards()[2], (r) => (r.vaecheck = '0.0.1'))], 3, /vaecheck differs \("0\.0\.1" here, "\d+\.\d+\.\d+" there\)/);
  refused([s1, s2, copyShard(threeShards()[2], (r) => (r.shard.inputsSha256 = '0'.repeat(64)))], 3, /inputs \(inputsSha256\) differs/);
});

test('merge refuses tampered or foreign folders (exit 3) and other commands\' shards (exit 2)', () => {
  const [s1, s2, s3] = threeShards();
  const busy = [s1, s2, s3].find((d) => json(join(d, 'report.json')).shard.units.length > 0)!;
  const rest = [s1, s2, s3].filter((d) => d !== busy);
  // a shard claiming a unit that rendezvous hashing gives another shard
  refused([...rest, copyShard(busy, (r) => r.shard.units.reverse().push('random-0-99'))], 3, /should hold \[.*\] but holds/);
  // a file path that leaves the shard folder
  refused([...rest, copyShard(busy, (r) => (r.cells[0].items[0].files.decoded = '../../../etc/passwd'))], 3, /names the file "\.\.\/\.\.\/\.\.\/etc\/passwd", which is not a plain relative path/);
  refused([...rest, copyShard(busy, (r) => (r.cells[1].items[0].psnr = 'high'))], 3, /psnr is not a number/);
  // an unsharded report, a folder without outputs, a baseline shard among compare shards
  refused([s1, s2, compareFull().full], 3, /is not a shard output \(no "shard" block\): make it with --shard i\/n/);
  refused([s1, s2, work], 3, /holds no shard output/);
  const b = fresh('baseline-shard');
  assert.equal(run(['baseline', '--vae', SAFE, ...RANDOM, '--shard', '3/3', '--out', b]).code, 0);
  refused([s1, s2, b], 2, /holds baseline output but .* holds compare output/);
});

test('merge refuses an existing --out without --force, and replaces it with --force', () => {
  const dirs = threeShards();
  const out = fresh('existing');
  assert.equal(run(['merge', ...dirs, '--out', out]).code, 1);
  const again = run(['merge', ...dirs, '--out', out]);
  assert.equal(again.code, 2, show(again));
  assert.match(again.stderr, /already exists; pass --force/);
  assert.equal(run(['merge', ...dirs, '--out', out, '--force']).code, 1);
});

// ---------------------------------------------------------------- baseline and gate

let baselineFull: string | undefined;
const BASELINE = ['baseline', '--vae', SAFE, ...RANDOM, '--precision', 'fp32,fp16'];
function fullBaseline(): string {
  if (baselineFull) return baselineFull;
  baselineFull = fresh('baseline-full');
  const r = run([...BASELINE, '--out', baselineFull]);
  assert.equal(r.code, 0, show(r));
  return baselineFull;
}

for (const n of NS) {
  test(`baseline: ${n} shard(s) merged = the unsharded baseline (manifest and every file)`, () => {
    const full = fullBaseline();
    const dirs = shards(BASELINE, n, 'baseline', 0);
    const merged = fresh('baseline-merged');
    const m = run(['merge', ...dirs, '--out', merged]);
    assert.equal(m.code, 0, show(m));
    const a = json(join(full, 'manifest.json'));
    const b = json(join(merged, 'manifest.json'));
    delete a.createdAt;
    delete b.createdAt;
    assert.deepEqual(b, a);
    const ta = tree(full);
    const tb = tree(merged);
    assert.deepEqual([...tb.keys()].sort(), [...ta.keys()].sort());
    for (const [rel, bytes] of ta) if (rel !== 'manifest.json') assert.ok(bytes.equals(tb.get(rel)!), rel);
  });
}

test('gate refuses a baseline shard: it is not a whole baseline', () => {
  const b = fresh('baseline-one-shard');
  assert.equal(run([...BASELINE, '--shard', '1/2', '--out', b]).code, 0);
  const r = run(['gate', '--baseline', b, '--vae', SAFE]);
  assert.equal(r.code, 3, show(r));
  assert.match(r.stderr, /manifest\.json: is shard 1\/2 of a baseline, not a whole one: join all shards with vaecheck merge/);
});

const junitCases = (xml: string) => [...xml.matchAll(/<testcase [^>]*name="([^"]+)"/g)].map((m) => m[1]);

for (const [candidate, code] of [[SAFE, 0], [OVER, 1]] as const) {
  test(`gate (${candidate === SAFE ? 'passing' : 'NaN'} candidate): n = 1, 2, 3, 5 shards merged = the unsharded gate; JUnit holds every case once`, () => {
    const base = fullBaseline();
    const args = ['gate', '--baseline', base, '--vae', candidate, '--precision', 'fp16'];
    const full = fresh('gate-full');
    const u = run([...args, '--out', full, '--junit', join(full, 'separate.xml')]);
    assert.equal(u.code, code, show(u));
    const a = json(join(full, 'gate.json'));
    const unshardedXml = readFileSync(join(full, 'junit.xml'), 'utf8');
    assert.deepEqual(junitCases(unshardedXml), UNITS.map((id) => `${id}@fp16`));
    for (const n of NS) {
      const dirs = shards(args, n, 'gate', code);
      const merged = fresh('gate-merged');
      const junit = join(fresh('reports'), 'vaecheck.xml');
      const summary = join(root, `summary-${serial}.md`);
      const m = run(['merge', ...dirs, '--out', merged, '--junit', junit], { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary });
      assert.equal(m.code, code, show(m));
      const b = json(join(merged, 'gate.json'));
      assert.equal(b.shard, undefined);
      for (const k of ['schema', 'candidate', 'precision', 'thresholds', 'pass']) assert.deepEqual(b[k], a[k], k);
      // each case's own time is a timing, not a measurement: the rest must be identical
      assert.deepEqual(untimed(b.cases), untimed(a.cases), `n=${n}: every case as the unsharded gate measured it, in its order`);
      for (const xml of [readFileSync(join(merged, 'junit.xml'), 'utf8'), readFileSync(junit, 'utf8')]) {
        assert.deepEqual(junitCases(xml), junitCases(unshardedXml));
        assert.equal((xml.match(/<testsuite /g) ?? []).length, 1, 'one suite');
        assert.match(xml, new RegExp(`<testsuite name="vaecheck gate fp16" tests="7" failures="${code ? 7 : 0}"`));
        assert.equal(xml.replace(/time="[^"]*"/g, ''), unshardedXml.replace(/time="[^"]*"/g, ''));
      }
      // the GitHub step summary and annotations, as the gate writes them
      assert.match(readFileSync(summary, 'utf8'), new RegExp(`### vaecheck gate: ${code ? '⚠️ failed' : '✅ passed'}`));
      assert.equal((m.stdout.match(/^::error title=vaecheck gate /gm) ?? []).length, code ? 7 : 0);
      assert.match(m.stdout, new RegExp(`${code ? 'FAILED' : 'PASSED'} \\| vaecheck gate \\| ${code ? 0 : 7}/7 cases passed at fp16 \\(${n} shards merged\\)`));
      // the failed cases' images: the same files, byte for byte, as the unsharded gate --out holds
      const images = (dir: string) => new Map([...tree(dir)].filter(([rel]) => rel.endsWith('.png')));
      const fullImages = images(full);
      assert.equal(fullImages.size, code ? 7 * 4 : 0, 'four images per failed case');
      assert.deepEqual(images(merged), fullImages, `n=${n}: the merged folder holds the failed cases' images`);
    }
    if (code) {
      // a re-merge with --force replaces the folder whole, images included (they are the merge's own)
      const dirs = shards(args, 2, 'gate', code);
      const merged = fresh('gate-remerge');
      assert.equal(run(['merge', ...dirs, '--out', merged]).code, code);
      const again = run(['merge', ...dirs, '--out', merged, '--force']);
      assert.equal(again.code, code, show(again));
    }
  });
}

// ---------------------------------------------------------------- nan-scan

/** A JSON value without its `seconds` fields (timings differ between any two runs). */
function untimed(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(untimed);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'seconds').map(([k, x]) => [k, untimed(x)]));
  return v;
}

test('nan-scan: 3 and 5 shards merged = the unsharded scan (max |x| per op, counts, first non-finite op, ranking)', () => {
  const args = ['nan-scan', '--vae', OVER, '--vae', SAFE, ...RANDOM, '--precision', 'fp16', '--part', 'both'];
  const full = fresh('nan-full');
  assert.equal(run([...args, '--out', full]).code, 1);
  const a = json(join(full, 'nan-scan.json'));
  assert.equal(a.vaes[0].firstNonFinite, 'decoder.up_blocks.2.resnets.0.conv_shortcut');
  for (const n of [3, 5]) {
    const merged = fresh('nan-merged');
    const m = run(['merge', ...shards(args, n, 'nan'), '--out', merged]);
    assert.equal(m.code, 1, show(m));
    assert.deepEqual(untimed(json(join(merged, 'nan-scan.json'))), untimed(a));
  }
});

// ---------------------------------------------------------------- --shard auto

test('--shard auto takes the share of the explicit i/n under GitLab, CircleCI, Buildkite and Kubernetes variables', () => {
  const unitsOf = (extra: string[], env: Record<string, string>) => {
    const out = fresh('auto');
    const r = run(['baseline', '--vae', SAFE, ...RANDOM, '--out', out, ...extra], env);
    assert.equal(r.code, 0, show(r));
    return { shard: json(join(out, 'manifest.json')).shard, stderr: r.stderr };
  };
  const cases: [Record<string, string>, string[], number, number, RegExp][] = [
    [{ CI_NODE_INDEX: '2', CI_NODE_TOTAL: '3' }, [], 2, 3, /shard 2\/3 \(from GitLab CI \(CI_NODE_INDEX=2, CI_NODE_TOTAL=3\)\)/],
    [{ CIRCLE_NODE_INDEX: '0', CIRCLE_NODE_TOTAL: '2' }, [], 1, 2, /from CircleCI \(CIRCLE_NODE_INDEX=0, CIRCLE_NODE_TOTAL=2\)/],
    [{ BUILDKITE_PARALLEL_JOB: '4', BUILDKITE_PARALLEL_JOB_COUNT: '5' }, [], 5, 5, /from Buildkite/],
    [{ JOB_COMPLETION_INDEX: '2' }, ['--shard-total', '3'], 3, 3, /from Kubernetes Indexed Job \(JOB_COMPLETION_INDEX=2, --shard-total 3\)/],
    [{ JOB_COMPLETION_INDEX: '0', VAECHECK_SHARD_TOTAL: '5' }, [], 1, 5, /VAECHECK_SHARD_TOTAL=5/],
  ];
  for (const [env, extra, index, total, from] of cases) {
    const auto = unitsOf(['--shard', 'auto', ...extra], env);
    assert.match(auto.stderr, from);
    const explicit = unitsOf(['--shard', `${index}/${total}`], {});
    assert.deepEqual([auto.shard.index, auto.shard.total], [index, total], JSON.stringify(env));
    assert.deepEqual(auto.shard.units, explicit.shard.units);
    assert.deepEqual(auto.shard.units, unitsOfShard(UNITS, { index, total }));
  }
  const none = run(['baseline', '--vae', SAFE, ...RANDOM, '--out', fresh('auto-none'), '--shard', 'auto']);
  assert.equal(none.code, 2, show(none));
  assert.match(none.stderr, /--shard auto: no CI shard variables set/);
  const noOut = run(['gate', '--baseline', fullBaseline(), '--vae', SAFE, '--shard', '1/2']);
  assert.equal(noOut.code, 2);
  assert.match(noOut.stderr, /--shard needs --out <dir>/);
});

/**
 * vaecheck baseline / gate, through the built CLI: the same VAE passes; a decoder.conv_out bias shift
 * fails or passes where PSNR says it should (measured against the analytic and the exact expectation);
 * an overflowing candidate fails on NaN; tampered baselines are refused (exit 3); baselines are not
 * replaced without --force; a process killed mid-write leaves the old files intact; the JUnit XML,
 * the config files, the GitHub Actions output and --json.
 *
 * Every CLI run works in its own empty working folder (so the repo's package.json is never read as a
 * gate config) unless the test is about the config.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import test from 'node:test';
import { SafetensorsFile } from '../../src/weights/safetensors.js';
import { encodeSafetensors } from '../../src/weights/safetensors-writer.js';
import { fixtures, readNpyF32 } from '../helpers/fixtures.js';
import { CLI_BIN, type CliResult, cli, cliEnv } from './cli.js';

const fx = fixtures();
const SAFE = fx.path('tiny-fp16-safe.safetensors');
const OVERFLOW = fx.path('tiny-fp16-overflow.safetensors');
const LATENTS = ['--latents', fx.path('latents-8x8.npy'), '--latents', fx.path('latents-2x12x20.npy')];
/** the baseline's latent ids: one per latent of each file (the 2-batch file gives two) */
const CASES = ['latents-8x8', 'latents-2x12x20-0', 'latents-2x12x20-1'];

const root = mkdtempSync(join(tmpdir(), 'vaecheck-gate-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));
const work = join(root, 'cwd');
mkdirSync(work);
let serial = 0;
/** A new empty folder under the test's temporary root. */
const fresh = (name: string) => {
  const d = join(root, `${name}-${++serial}`);
  mkdirSync(d);
  return d;
};

/** The CLI in the empty working folder (or `cwd`). */
const run = (args: string[], env: Record<string, string> = {}, cwd = work): CliResult => cli(args, env, { cwd });
/** A CLI result for an assertion message. */
const show = (r: CliResult) => `exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
const lines = (s: string) => s.split('\n').filter((l) => l.length > 0);
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A fp32 baseline of the safe VAE over both latent files (recorded once, never modified: tests copy it). */
let baselineDir: string | undefined;
function baseline(): string {
  if (baselineDir) return baselineDir;
  const dir = join(root, 'baseline');
  const r = run(['baseline', '--vae', SAFE, ...LATENTS, '--out', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^baseline of tiny-fp16-safe \(sha256 [0-9a-f]{12}…\): 3 decode\(s\) of 3 latent\(s\) at fp32 -> /);
  baselineDir = dir;
  return dir;
}
const copyOfBaseline = () => {
  const d = fresh('baseline-copy');
  cpSync(baseline(), d, { recursive: true });
  return d;
};

/**
 * A candidate VAE: the safe fixture (F32) with decoder.conv_out.bias[channel] += delta.
 * @returns its path and the shift as stored (the float32 difference, which is what the decoder adds)
 */
function shiftedCandidate(delta: number, channel = 0): { path: string; applied: number } {
  const f = SafetensorsFile.open(SAFE);
  let applied = NaN;
  const tensors = [...f.entries.values()]
    .sort((a, b) => a.begin - b.begin)
    .map((e) => {
      let bytes = f.readBytes(e.name);
      if (e.name === 'decoder.conv_out.bias') {
        assert.equal(e.dtype, 'F32');
        const v = new Float32Array(Uint8Array.from(bytes).buffer); // a copy: readBytes may return a view
        const before = v[channel];
        v[channel] = before + delta;
        applied = v[channel] - before;
        bytes = new Uint8Array(v.buffer);
      }
      return { name: e.name, dtype: e.dtype, shape: e.shape, bytes };
    });
  assert.ok(Number.isFinite(applied), 'decoder.conv_out.bias not found');
  const path = join(root, `candidate-shift-${delta}-ch${channel}.safetensors`);
  writeFileSync(path, encodeSafetensors(tensors, { ...f.metadata }));
  return { path, applied };
}

/** PSNR on the displayed image ((x + 1) / 2 clamped to [0, 1]) of `ref` against `ref` with `shift` added to one channel, float64. */
function psnrOfShift(ref: { shape: number[]; data: Float32Array }, channel: number, shift: number): number {
  const [, c, h, w] = ref.shape;
  const show = (x: number) => Math.min(1, Math.max(0, (x + 1) / 2));
  let s = 0;
  for (let i = 0; i < ref.data.length; i++) {
    const ch = Math.floor(i / (h * w)) % c;
    const d = show(ref.data[i]) - show(ch === channel ? ref.data[i] + shift : ref.data[i]);
    s += d * d;
  }
  return 10 * Math.log10(1 / (s / ref.data.length));
}

// ---------------------------------------------------------------------------------------------
// A minimal XML parser (elements, attributes, text, comments, the five entities and character
// references), strict enough to refuse what a JUnit consumer would: unbalanced tags, a raw '<' or
// '&' in text or attributes, duplicate attributes, trailing content.

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

function parseXml(xml: string): XmlElement {
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(`XML: ${what} at offset ${i}: ${JSON.stringify(xml.slice(i, i + 40))}`);
  };
  const decode = (s: string) => {
    if (/[<]/.test(s)) fail('raw < in text or attribute');
    return s.replace(/&([^;]*);|&/g, (m, ent: string | undefined) => {
      if (ent === undefined) return fail('raw & (not an entity)');
      const named: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
      if (ent in named) return named[ent];
      const num = /^#(x[0-9a-fA-F]+|[0-9]+)$/.exec(ent);
      if (!num) return fail(`unknown entity ${m}`);
      return String.fromCodePoint(num[1][0] === 'x' ? parseInt(num[1].slice(1), 16) : Number(num[1]));
    });
  };
  const ws = () => {
    while (i < xml.length && /\s/.test(xml[i])) i++;
  };
  const name = () => {
    const m = /^[A-Za-z_][\w.:-]*/.exec(xml.slice(i));
    if (!m) fail('expected a name');
    i += m![0].length;
    return m![0];
  };
  const skipMisc = () => {
    for (;;) {
      ws();
      if (xml.startsWith('<!--', i)) {
        const end = xml.indexOf('-->', i);
        if (end < 0) fail('unterminated comment');
        i = end + 3;
      } else if (xml.startsWith('<?', i)) {
        const end = xml.indexOf('?>', i);
        if (end < 0) fail('unterminated processing instruction');
        i = end + 2;
      } else return;
    }
  };
  const element = (): XmlElement => {
    if (xml[i] !== '<') fail('expected <');
    i++;
    const el: XmlElement = { name: name(), attrs: {}, children: [], text: '' };
    for (;;) {
      ws();
      if (xml.startsWith('/>', i)) {
        i += 2;
        return el;
      }
      if (xml[i] === '>') {
        i++;
        break;
      }
      const a = name();
      ws();
      if (xml[i] !== '=') fail('expected =');
      i++;
      ws();
      const q = xml[i];
      if (q !== '"' && q !== "'") fail('expected a quoted attribute value');
      const end = xml.indexOf(q, i + 1);
      if (end < 0) fail('unterminated attribute value');
      if (a in el.attrs) fail(`duplicate attribute ${a}`);
      el.attrs[a] = decode(xml.slice(i + 1, end));
      i = end + 1;
    }
    for (;;) {
      if (i >= xml.length) fail(`unclosed <${el.name}>`);
      if (xml.startsWith('</', i)) {
        i += 2;
        const n = name();
        if (n !== el.name) fail(`</${n}> closes <${el.name}>`);
        ws();
        if (xml[i] !== '>') fail('expected >');
        i++;
        return el;
      }
      if (xml.startsWith('<!--', i)) {
        const end = xml.indexOf('-->', i);
        if (end < 0) fail('unterminated comment');
        i = end + 3;
      } else if (xml[i] === '<') el.children.push(element());
      else {
        const end = xml.indexOf('<', i);
        el.text += decode(xml.slice(i, end < 0 ? xml.length : end));
        i = end < 0 ? xml.length : end;
      }
    }
  };
  if (!xml.startsWith('<?xml ')) fail('no XML declaration');
  skipMisc();
  const rootEl = element();
  skipMisc();
  if (i !== xml.length) fail('content after the root element');
  return rootEl;
}

const kids = (el: XmlElement, name: string) => el.children.filter((c) => c.name === name);

test('the XML parser of these tests refuses what it should', () => {
  assert.equal(parseXml('<?xml version="1.0"?>\n<a x="1 &lt; 2"><b/>t&amp;u</a>\n').attrs.x, '1 < 2');
  assert.throws(() => parseXml('<?xml version="1.0"?><a><b></a>'));
  assert.throws(() => parseXml('<?xml version="1.0"?><a x="1 < 2"/>'));
  assert.throws(() => parseXml('<?xml version="1.0"?><a>R&D</a>'));
  assert.throws(() => parseXml('<?xml version="1.0"?><a/><b/>'));
});

// ---------------------------------------------------------------------------------------------

test('(a) baseline then gate of the same VAE: exit 0, one PASSED line per case and a final PASSED line', () => {
  const dir = baseline();
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  assert.equal(m.schema, 'vaecheck.baseline/1');
  assert.equal(m.vae.sha256, sha256(readFileSync(SAFE)));
  assert.deepEqual(m.precisions, ['fp32']);
  assert.deepEqual(m.latents.map((l: { id: string }) => l.id), CASES);
  assert.deepEqual(m.cases.map((c: { id: string }) => c.id), CASES.map((c) => `${c}@fp32`));
  // every file in the manifest, with its sha256, and stored losslessly as float32
  for (const [rel, hash] of Object.entries(m.files as Record<string, string>)) assert.equal(sha256(readFileSync(join(dir, rel))), hash, rel);
  assert.equal(Object.keys(m.files).length, 6);
  assert.deepEqual(readNpyF32(join(dir, 'decoded/latents-2x12x20-1@fp32.npy')).shape, [1, 3, 96, 160]);

  // fp32: the very same decode, PSNR inf
  const r32 = run(['gate', '--baseline', dir, '--vae', SAFE]);
  assert.equal(r32.code, 0, r32.stdout + r32.stderr);
  assert.deepEqual(lines(r32.stdout), [
    ...CASES.map((c) => `PASSED | ${c}@fp32 | psnr=inf ssim=1.0000 nan=0 mismatch=0.00%`),
    'PASSED | vaecheck gate | 3/3 cases passed at fp32',
  ]);
  assert.equal(r32.stderr, '');

  // fp16 emulation of the same VAE against its fp32 baseline: rounding only, ~72 dB on this fixture
  const r16 = run(['gate', '--baseline', dir, '--vae', SAFE, '--precision', 'fp16']);
  assert.equal(r16.code, 0, r16.stdout + r16.stderr);
  const out = lines(r16.stdout);
  assert.equal(out.length, 4);
  CASES.forEach((c, k) => {
    const hit = /^PASSED \| (\S+) \| psnr=(\d+\.\d\d) ssim=(\d\.\d{4}) nan=0 mismatch=0\.00%$/.exec(out[k]);
    assert.ok(hit, out[k]);
    assert.equal(hit[1], `${c}@fp16`);
    assert.ok(Number(hit[2]) > 60 && Number(hit[2]) < 90, out[k]);
    assert.ok(Number(hit[3]) > 0.999, out[k]);
  });
  assert.equal(out[3], 'PASSED | vaecheck gate | 3/3 cases passed at fp16');
});

test('(a) a baseline recorded at fp32,fp16 gates fp16 against its own fp16 decode (PSNR inf)', () => {
  const dir = join(fresh('two-precisions'), 'bl');
  const b = run(['baseline', '--vae', SAFE, '--latents', fx.path('latents-8x8.npy'), '--precision', 'fp32,fp16', '--out', dir]);
  assert.equal(b.code, 0, b.stderr);
  const r = run(['gate', '--baseline', dir, '--vae', SAFE, '--precision', 'fp16', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.cases[0].against, 'latents-8x8@fp16');
  assert.equal(j.cases[0].psnr, 'inf');
});

/*
 * (b) Drift: decoder.conv_out.bias[0] += delta adds delta to every value of output channel 0, i.e.
 * delta/2 on the displayed [0, 1] image. Pooled over 3 channels, MSE = (delta/2)^2 / 3, so
 * PSNR = -10 log10((delta/2)^2 / 3) where nothing clamps at 0 or 1; clamping only removes error, so
 * the measured PSNR is at or slightly above that. Measured on these fixtures (channel 0; the three cases
 * agree to 0.01 dB):
 *   delta 0.1   -> 30.81 dB (analytic 30.79)  FAILS
 *   delta 0.05  -> 36.83 dB (analytic 36.81)  FAILS
 *   delta 0.035 -> 39.93 dB (analytic 39.91)  FAILS, just
 *   delta 0.03  -> 41.27 dB (analytic 41.25)  passes
 *   delta 0.005 -> 56.83 dB (analytic 56.81)  passes
 * The default 40 dB is crossed at delta = 2·sqrt(3)·10^-2 ≈ 0.0346 analytically (≈ 0.0347 measured).
 * Channels 1 and 2 clamp a little more: 0.1-0.25 dB higher at the same delta (e.g. 0.035 gives 40.07
 * and 40.13 dB on latents-8x8).
 */
const analyticPsnr = (delta: number) => -10 * Math.log10((delta / 2) ** 2 / 3);

function driftCase(delta: number) {
  const dir = baseline();
  const cand = shiftedCandidate(delta);
  const junit = join(fresh(`junit-${delta}`), 'gate.xml');
  const r = run(['gate', '--baseline', dir, '--vae', cand.path, '--json', '--junit', junit]);
  const j = JSON.parse(r.stdout);
  for (const c of j.cases) {
    const exact = psnrOfShift(readNpyF32(join(dir, `decoded/${c.latent}@fp32.npy`)), 0, cand.applied);
    // the exact expectation: the baseline decode with the shift added and clamped like the display
    assert.ok(Math.abs(c.psnr - exact) < 0.01, `delta ${delta} ${c.name}: gate ${c.psnr} dB, exact ${exact} dB`);
    // the analytic one: a lower bound (clamping only helps), and close to it (little clamps)
    assert.ok(c.psnr >= analyticPsnr(delta) - 0.01 && c.psnr <= analyticPsnr(delta) + 0.5, `delta ${delta} ${c.name}: gate ${c.psnr} dB, analytic ${analyticPsnr(delta)} dB`);
  }
  return { r, j, junit, cand };
}

test('(b) conv_out bias shifted by 0.1 on one channel: PSNR as predicted (30.8 dB), FAILED lines, exit 1, a JUnit failure per case', () => {
  const { r, j, junit, cand } = driftCase(0.1);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(j.pass, false);
  for (const c of j.cases) assert.ok(c.psnr > 30.7 && c.psnr < 30.9, `${c.name}: ${c.psnr}`);

  const t = run(['gate', '--baseline', baseline(), '--vae', cand.path]);
  assert.equal(t.code, 1, show(t));
  const out = lines(t.stdout);
  // FAILED line, then its note, per case; then the final line
  assert.equal(out.length, 2 * CASES.length + 1, t.stdout);
  CASES.forEach((c, k) => {
    const hit = /^FAILED \| (\S+) \| psnr=(\d+\.\d\d) < 40$/.exec(out[2 * k]);
    assert.ok(hit, out[2 * k]);
    assert.equal(hit[1], `${c}@fp32`);
    assert.equal(Number(hit[2]), Number(j.cases[k].psnr.toFixed(2)));
    assert.match(out[2 * k + 1], /^ {2}note: the candidate's decode drifted from the baseline: .*vaecheck compare.*vaecheck baseline --force/);
  });
  assert.equal(out.at(-1), 'FAILED | vaecheck gate | 0/3 cases passed at fp32');

  // (g) the JUnit report, parsed back
  const xml = readFileSync(junit, 'utf8');
  const doc = parseXml(xml);
  assert.equal(doc.name, 'testsuites');
  assert.equal(doc.attrs.tests, '3');
  assert.equal(doc.attrs.failures, '3');
  assert.equal(doc.attrs.errors, '0');
  const suites = kids(doc, 'testsuite');
  assert.equal(suites.length, 1);
  const suite = suites[0];
  assert.equal(suite.attrs.name, 'vaecheck gate fp32');
  assert.equal(suite.attrs.tests, '3');
  assert.equal(suite.attrs.failures, '3');
  assert.ok(Number(suite.attrs.time) > 0);
  const cases = kids(suite, 'testcase');
  assert.deepEqual(cases.map((c) => c.attrs.name), CASES.map((c) => `${c}@fp32`));
  cases.forEach((tc, k) => {
    assert.equal(tc.attrs.classname, 'vaecheck gate fp32');
    const failure = kids(tc, 'failure');
    assert.equal(failure.length, 1);
    // the message with its '<' escaped in the file and read back intact
    assert.equal(failure[0].attrs.message, `psnr=${j.cases[k].psnr.toFixed(2)} < 40`);
    assert.equal(failure[0].attrs.type, 'Drift');
    assert.match(failure[0].text, /^FAILED \| \S+ \| psnr=[\d.]+ < 40\nthe candidate's decode drifted/);
    assert.equal(kids(tc, 'system-out')[0].text, out[2 * k]);
  });
  assert.ok(!xml.includes('< 40'), 'the < in the reason is escaped in the XML');
});

test('(b) delta 0.035 is just under 40 dB (fails); delta 0.005 (57 dB) passes with a JUnit report of no failures', () => {
  const near = driftCase(0.035);
  assert.equal(near.r.code, 1, show(near.r));
  for (const c of near.j.cases) assert.ok(c.psnr > 39.8 && c.psnr < 40, `${c.name}: ${c.psnr}`);

  const small = driftCase(0.005);
  assert.equal(small.r.code, 0, small.r.stderr);
  for (const c of small.j.cases) {
    assert.ok(c.psnr > 56.7 && c.psnr < 57, `${c.name}: ${c.psnr}`);
    assert.equal(c.pass, true);
    assert.deepEqual(c.reasons, []);
  }
  const doc = parseXml(readFileSync(small.junit, 'utf8'));
  assert.equal(doc.attrs.failures, '0');
  const tcs = kids(kids(doc, 'testsuite')[0], 'testcase');
  assert.equal(tcs.length, 3);
  for (const tc of tcs) {
    assert.equal(kids(tc, 'failure').length, 0);
    assert.match(kids(tc, 'system-out')[0].text, /^PASSED \| \S+@fp32 \| psnr=56\.\d\d ssim=/);
  }
});

test('(c) the overflow fixture fails on NaN at fp16 (exit 1, FAILED line, nan-scan note, JUnit NonFinite) and passes at fp32', () => {
  const junit = join(fresh('junit-nan'), 'reports', 'gate.xml'); // the reports/ folder is created
  const r = run(['gate', '--baseline', baseline(), '--vae', OVERFLOW, '--precision', 'fp16', '--junit', junit]);
  assert.equal(r.code, 1, r.stderr);
  const out = lines(r.stdout);
  assert.equal(out.length, 7, r.stdout);
  CASES.forEach((c, k) => {
    assert.match(out[2 * k], new RegExp(`^FAILED \\| ${c}@fp16 \\| \\d+ NaN and \\d+ Inf values \\(100\\.00% > 0%\\)$`));
    assert.match(out[2 * k + 1], /^ {2}note: the candidate overflows at fp16: find the layer with vaecheck nan-scan --vae \S+ --precision fp16; decode it in bf16 or fp32/);
  });
  assert.equal(out[6], 'FAILED | vaecheck gate | 0/3 cases passed at fp16');
  const tcs = kids(kids(parseXml(readFileSync(junit, 'utf8')), 'testsuite')[0], 'testcase');
  assert.deepEqual(tcs.map((t) => t.attrs.name), CASES.map((c) => `${c}@fp16`));
  for (const tc of tcs) {
    const f = kids(tc, 'failure')[0];
    assert.equal(f.attrs.type, 'NonFinite');
    assert.match(f.attrs.message, /NaN/);
    assert.match(f.text, /nan-scan/);
  }

  // at fp32 the overflow VAE computes the same function as the safe one (its scale is normalised away)
  const ok = run(['gate', '--baseline', baseline(), '--vae', OVERFLOW, '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  for (const c of JSON.parse(ok.stdout).cases) assert.ok(c.psnr === 'inf' || c.psnr > 90, `${c.name}: ${c.psnr}`);
});

test('(d) a tampered baseline is refused with exit 3 and a one-line error naming the file', () => {
  const refuse = (what: string, tamper: (dir: string) => string, problem: RegExp) => {
    const dir = copyOfBaseline();
    const file = tamper(dir);
    const junit = join(dir, '..', `junit-${serial}.xml`);
    const r = run(['gate', '--baseline', dir, '--vae', SAFE, '--junit', junit]);
    assert.equal(r.code, 3, `${what}: ${r.stdout}${r.stderr}`);
    assert.equal(r.stdout, '', what);
    const err = lines(r.stderr);
    assert.equal(err.length, 1, `${what}: ${r.stderr}`);
    assert.ok(err[0].startsWith(`vaecheck: error: ${file}: `), `${what}: ${err[0]}`);
    assert.match(err[0], problem, what);
    assert.ok(!existsSync(junit), `${what}: no report written`);
  };
  refuse('one byte of a decode changed', (dir) => {
    const f = join(dir, 'decoded/latents-8x8@fp32.npy');
    const b = readFileSync(f);
    b[b.length - 7] ^= 0x01; // a float's mantissa bit: still a valid .npy with finite values
    writeFileSync(f, b);
    return f;
  }, /does not match the baseline manifest \(sha256 differs/);
  refuse('one byte of a latent changed', (dir) => {
    const f = join(dir, 'latents/latents-2x12x20-0.npy');
    const b = readFileSync(f);
    b[200] ^= 0x10;
    writeFileSync(f, b);
    return f;
  }, /sha256 differs/);
  refuse('a truncated decode', (dir) => {
    const f = join(dir, 'decoded/latents-2x12x20-1@fp32.npy');
    const b = readFileSync(f);
    writeFileSync(f, b.subarray(0, b.length - 1000));
    return f;
  }, /sha256 differs: edited or truncated/);
  refuse('a deleted decode', (dir) => {
    const f = join(dir, 'decoded/latents-2x12x20-0@fp32.npy');
    unlinkSync(f);
    return f;
  }, /baseline file is missing/);
  refuse('a manifest that is not JSON', (dir) => {
    const f = join(dir, 'manifest.json');
    writeFileSync(f, readFileSync(f, 'utf8').replace('"schema"', 'schema'));
    return f;
  }, /manifest is not valid JSON/);
  refuse('a truncated manifest', (dir) => {
    const f = join(dir, 'manifest.json');
    const b = readFileSync(f);
    writeFileSync(f, b.subarray(0, b.length >> 1));
    return f;
  }, /manifest is not valid JSON/);
  refuse('a manifest edited into another valid JSON (a decode dropped)', (dir) => {
    const f = join(dir, 'manifest.json');
    const m = JSON.parse(readFileSync(f, 'utf8'));
    m.cases.shift();
    writeFileSync(f, JSON.stringify(m));
    return f;
  }, /inconsistent baseline manifest: no decode of "latents-8x8" at fp32/);
  refuse('a manifest pointing a decode at another latent\'s file', (dir) => {
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    m.cases[0].file = 'decoded/latents-2x12x20-0@fp32.npy';
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
    return join(dir, 'decoded/latents-2x12x20-0@fp32.npy');
  }, /holds a tensor of shape \[1,3,96,160\], the manifest says \[1,3,64,64\]/);
  refuse('no baseline at all', (dir) => {
    unlinkSync(join(dir, 'manifest.json'));
    return join(dir, 'manifest.json');
  }, /no baseline here/);
});

test('(d) a candidate of another architecture (decodes to another size) is bad input, exit 3', () => {
  const r = run(['gate', '--baseline', baseline(), '--vae', fx.path('tiny-narrow-original-f32.safetensors')]);
  assert.equal(r.code, 3, r.stdout + r.stderr);
  assert.equal(r.stderr, `vaecheck: error: ${fx.path('tiny-narrow-original-f32.safetensors')}: decodes latents-8x8 to [1,3,16,16], the baseline's decode is [1,3,64,64]: not the architecture the baseline was recorded with\n`);
});

test('(e) baseline refuses to overwrite without --force (exit 2) and replaces with it', () => {
  const dir = copyOfBaseline();
  const before = snapshot(dir);
  const cand = shiftedCandidate(0.1);
  const r = run(['baseline', '--vae', cand.path, ...LATENTS, '--out', dir]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.equal(lines(r.stderr).length, 1, show(r));
  assert.match(r.stderr, /already holds a baseline; pass --force to replace it/);
  assert.deepEqual(snapshot(dir), before);

  const f = run(['baseline', '--vae', cand.path, ...LATENTS, '--out', dir, '--force']);
  assert.equal(f.code, 0, f.stderr);
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  assert.equal(m.vae.sha256, sha256(readFileSync(cand.path)));
  const after = snapshot(dir);
  assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort(), 'the same files, no temporaries left');
  assert.deepEqual(after.get('latents/latents-8x8.npy'), before.get('latents/latents-8x8.npy'));
  assert.notDeepEqual(after.get('decoded/latents-8x8@fp32.npy'), before.get('decoded/latents-8x8@fp32.npy'));
  // the replaced baseline is consistent: the candidate now gates as itself
  const g = run(['gate', '--baseline', dir, '--vae', cand.path]);
  assert.equal(g.code, 0, g.stdout + g.stderr);
});

/** Every file under `dir`: relative path -> bytes. */
function snapshot(dir: string): Map<string, Buffer> {
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

const isTemporary = (rel: string) => /(^|\/)\.[^/]+\.tmp-\d+-[a-z0-9]+$/.test(rel);
/** the lock a SIGKILLed run leaves (stale: its pid is gone; the next run takes it over) */
const isLock = (rel: string) => /(^|\/)\.[^/]+\.vaecheck-lock$/.test(rel);

/**
 * Runs the CLI with the commit pause (VAECHECK_TEST_PAUSE_BEFORE_COMMIT_MS) and SIGKILLs it as soon
 * as `ready(files under dir)` holds, i.e. once its temporaries are written and before any rename.
 */
async function killMidWrite(args: string[], dir: string, ready: (rels: string[]) => boolean): Promise<void> {
  const child = spawn(process.execPath, [CLI_BIN, ...args], { cwd: work, env: cliEnv({ VAECHECK_TEST_PAUSE_BEFORE_COMMIT_MS: '120000' }), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
  const deadline = Date.now() + 120_000;
  try {
    for (;;) {
      if (ready([...snapshot(dir).keys()])) break;
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode} before its temporaries were written: ${output}`);
      if (Date.now() > deadline) throw new Error(`no temporaries after 120 s: ${output}`);
      await new Promise((res) => setTimeout(res, 5));
    }
    child.kill('SIGKILL');
    const end = await exited;
    assert.equal(end.signal, 'SIGKILL', `it finished before the kill: ${output}`);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

test('(f) a gate killed while writing its JUnit report leaves the previous report intact', async () => {
  const dir = fresh('kill-gate');
  const junit = join(dir, 'gate.xml');
  const first = run(['gate', '--baseline', baseline(), '--vae', SAFE, '--junit', junit]);
  assert.equal(first.code, 0, first.stderr);
  const old = readFileSync(junit);
  const cand = shiftedCandidate(0.1);
  const args = ['gate', '--baseline', baseline(), '--vae', cand.path, '--junit', junit, '--force'];

  await killMidWrite(args, dir, (rels) => rels.some((r) => /^\.gate\.xml\.tmp-/.test(r)));
  const left = [...snapshot(dir).keys()];
  assert.deepEqual(left.filter((r) => !isTemporary(r) && !isLock(r)), ['gate.xml'], 'nothing else was renamed into place');
  assert.equal(left.length, 3, `one temporary and the lock left behind by SIGKILL: ${left}`);
  assert.deepEqual(readFileSync(junit), old, 'the previous report, byte for byte');
  // the temporary held the new report: the kill came after it was written, before the rename
  const tmp = readFileSync(join(dir, left.find(isTemporary)!), 'utf8');
  assert.match(tmp, /failures="3"/);

  // the control: the same run, not killed, does replace the report (and removes the killed run's leftovers)
  const again = run(args);
  assert.equal(again.code, 1, show(again));
  assert.deepEqual([...snapshot(dir).keys()], ['gate.xml']);
  assert.match(readFileSync(junit, 'utf8'), /<testsuites name="vaecheck" tests="3" failures="3"/);
});

test('(f) baseline --force killed while writing leaves the old manifest and files intact (and still gating)', async () => {
  const dir = copyOfBaseline();
  const parent = join(dir, '..');
  const before = snapshot(dir);
  const cand = shiftedCandidate(0.1);
  // the new baseline is staged as a whole folder beside the old one; the kill comes before the swap
  await killMidWrite(['baseline', '--vae', cand.path, ...LATENTS, '--out', dir, '--force'], parent, (rels) => rels.some((r) => /\.vaecheck-stage-\d+-[a-z0-9]+\/manifest\.json$/.test(r)));
  assert.deepEqual(snapshot(dir), before, 'the old baseline, byte for byte, nothing added');
  // still the old baseline: the safe VAE passes against it, the shifted candidate does not
  const g = run(['gate', '--baseline', dir, '--vae', SAFE]);
  assert.equal(g.code, 0, g.stdout + g.stderr);
});

test('(h) thresholds and precision from vaecheck.config.json in the working folder; flags override them', () => {
  const dir = fresh('config');
  writeFileSync(join(dir, 'vaecheck.config.json'), JSON.stringify({ gate: { precision: 'fp16', minPsnr: 80 } }));
  // the same VAE at fp16 is ~72 dB: under the config's 80
  const r = run(['gate', '--baseline', baseline(), '--vae', SAFE], {}, dir);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const out = lines(r.stdout);
  CASES.forEach((c, k) => assert.match(out[2 * k], new RegExp(`^FAILED \\| ${c}@fp16 \\| psnr=7\\d\\.\\d\\d < 80$`)));
  assert.equal(out.at(-1), `FAILED | vaecheck gate | 0/3 cases passed at fp16 (thresholds from ${join(dir, 'vaecheck.config.json')} and flags)`);

  const flag = run(['gate', '--baseline', baseline(), '--vae', SAFE, '--min-psnr', '30'], {}, dir);
  assert.equal(flag.code, 0, flag.stdout + flag.stderr);
  assert.match(flag.stdout, /^PASSED \| latents-8x8@fp16 \| psnr=7\d\.\d\d /);

  const p32 = run(['gate', '--baseline', baseline(), '--vae', SAFE, '--precision', 'fp32', '--json'], {}, dir);
  assert.equal(p32.code, 0, p32.stderr);
  const j = JSON.parse(p32.stdout);
  assert.equal(j.precision, 'fp32');
  assert.deepEqual(j.thresholds, { minPsnr: 80, minSsim: 0.95, maxNan: 0, maxMismatch: 1 });

  // a package.json beside it is not read: vaecheck.config.json wins
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'x', vaecheck: { gate: { minPsnr: 10 } } }));
  const wins = run(['gate', '--baseline', baseline(), '--vae', SAFE], {}, dir);
  assert.equal(wins.code, 1, show(wins));

  // bad settings are bad input naming the file
  writeFileSync(join(dir, 'vaecheck.config.json'), JSON.stringify({ gate: { minPsnr: 'high' } }));
  const bad = run(['gate', '--baseline', baseline(), '--vae', SAFE], {}, dir);
  assert.equal(bad.code, 3, show(bad));
  assert.equal(bad.stderr, `vaecheck: error: ${join(dir, 'vaecheck.config.json')}: minPsnr must be a number, got "high"\n`);
  writeFileSync(join(dir, 'vaecheck.config.json'), JSON.stringify({ gate: { minPSNR: 45 } }));
  const unknown = run(['gate', '--baseline', baseline(), '--vae', SAFE], {}, dir);
  assert.equal(unknown.code, 3, show(unknown));
  assert.match(unknown.stderr, /unknown gate setting "minPSNR"/);
});

test('(h) thresholds from package.json\'s "vaecheck" key; flags override them', () => {
  const dir = fresh('pkg');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'my-vae', private: true, vaecheck: { gate: { precision: 'fp16', minPsnr: 80 } } }, null, 2));
  const r = run(['gate', '--baseline', baseline(), '--vae', SAFE], {}, dir);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^FAILED \| latents-8x8@fp16 \| psnr=7\d\.\d\d < 80$/m);
  assert.match(r.stdout, /\(thresholds from .*package\.json \(vaecheck\) and flags\)$/m);
  const flag = run(['gate', '--baseline', baseline(), '--vae', SAFE, '--min-psnr', '30'], {}, dir);
  assert.equal(flag.code, 0, flag.stdout + flag.stderr);
  // a package.json without the key is no config
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'my-vae' }));
  const none = run(['gate', '--baseline', baseline(), '--vae', SAFE, '--precision', 'fp16']);
  assert.equal(none.code, 0, show(none));
  assert.doesNotMatch(none.stdout, /thresholds from/);
});

test('(i) under GitHub Actions: a Markdown summary appended to $GITHUB_STEP_SUMMARY and ::error annotations for failures', () => {
  const dir = fresh('gha');
  const summary = join(dir, 'summary.md');
  writeFileSync(summary, '## earlier step\n');
  const cand = shiftedCandidate(0.1);
  const env = { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary };
  const r = run(['gate', '--baseline', baseline(), '--vae', cand.path], env);
  assert.equal(r.code, 1, r.stderr);
  const errors = lines(r.stdout).filter((l) => l.startsWith('::error'));
  assert.equal(errors.length, 3);
  CASES.forEach((c, k) => assert.match(errors[k], new RegExp(`^::error title=vaecheck gate ${c}@fp32::psnr=30\\.\\d\\d < 40\\. the candidate's decode drifted`)));
  // the greppable lines are still there
  assert.equal(lines(r.stdout).filter((l) => l.startsWith('FAILED | ')).length, 4);

  const md = readFileSync(summary, 'utf8');
  assert.ok(md.startsWith('## earlier step\n'), 'appended, not replaced');
  assert.match(md, /### vaecheck gate: ⚠️ failed/);
  assert.match(md, /thresholds PSNR ≥ 40 dB, SSIM ≥ 0\.95, NaN ≤ 0%, mismatch ≤ 1%/);
  assert.match(md, /^\| case \| verdict \| PSNR \(dB\) \| SSIM \| NaN\/Inf \| mismatched px \|$/m);
  for (const c of CASES) assert.match(md, new RegExp(`^\\| ${c}@fp32 \\| ⚠️ psnr=30\\.\\d\\d < 40 \\| 30\\.\\d\\d \\| 0\\.\\d{4} \\| 0 \\| \\d+\\.\\d\\d% \\|$`, 'm'));

  // a pass appends its own table and prints no annotation; with --json the annotations go to stderr
  const ok = run(['gate', '--baseline', baseline(), '--vae', SAFE, '--json'], env);
  assert.equal(ok.code, 0, ok.stderr);
  assert.doesNotMatch(ok.stdout + ok.stderr, /::error/);
  const md2 = readFileSync(summary, 'utf8');
  assert.ok(md2.startsWith(md));
  assert.match(md2.slice(md.length), /^\n### vaecheck gate: ✅ passed\n/);
  assert.match(md2.slice(md.length), /^\| latents-8x8@fp32 \| ✅ \| inf \| 1\.0000 \| 0 \| 0\.00% \|$/m);

  const js = run(['gate', '--baseline', baseline(), '--vae', cand.path, '--json'], env);
  assert.equal(js.code, 1, show(js));
  assert.equal(JSON.parse(js.stdout).pass, false, 'stdout is only the JSON');
  assert.equal(lines(js.stderr).filter((l) => l.startsWith('::error title=vaecheck gate ')).length, 3);

  const md3 = readFileSync(summary, 'utf8');
  assert.equal(md3.split('### vaecheck gate:').length, 4, 'three runs, three summaries');

  // not under GitHub Actions: no summary, no annotations
  const plain = run(['gate', '--baseline', baseline(), '--vae', cand.path], { GITHUB_STEP_SUMMARY: summary });
  assert.equal(plain.code, 1, show(plain));
  assert.doesNotMatch(plain.stdout + plain.stderr, /::error/);
  assert.equal(readFileSync(summary, 'utf8'), md3);
});

test('(j) --json: schema vaecheck.gate/1, "inf" / "nan" strings for non-finite numbers, thresholds from flags', () => {
  const same = run(['gate', '--baseline', baseline(), '--vae', SAFE, '--json', '--max-nan', '0.5%', '--max-mismatch', '2%']);
  assert.equal(same.code, 0, same.stderr);
  const j = JSON.parse(same.stdout);
  assert.equal(j.schema, 'vaecheck.gate/1');
  assert.equal(j.pass, true);
  assert.equal(j.precision, 'fp32');
  assert.equal(j.candidate, SAFE);
  assert.deepEqual(j.thresholds, { minPsnr: 40, minSsim: 0.95, maxNan: 0.005, maxMismatch: 2 });
  assert.equal(typeof j.seconds, 'number');
  assert.deepEqual(j.cases.map((c: { name: string }) => c.name), CASES.map((c) => `${c}@fp32`));
  for (const c of j.cases) {
    assert.equal(c.psnr, 'inf');
    assert.equal(c.ssim, 1);
    assert.equal(c.nan, 0);
    assert.equal(c.maxAbsError, 0);
    assert.equal(c.pass, true);
  }

  const nan = run(['gate', '--baseline', baseline(), '--vae', OVERFLOW, '--precision', 'fp16', '--json']);
  assert.equal(nan.code, 1, show(nan));
  assert.doesNotMatch(nan.stdout, /:\s*(-?Infinity|NaN)\b/, 'no bare non-finite numbers');
  const k = JSON.parse(nan.stdout);
  assert.equal(k.pass, false);
  for (const c of k.cases) {
    assert.equal(c.psnr, 'nan');
    assert.equal(c.ssim, 'nan');
    assert.ok(c.nan + c.inf > 0);
    assert.equal(c.nonFiniteFraction, 1);
    assert.equal(c.pass, false);
    assert.match(c.reasons[0], /NaN and \d+ Inf values/);
    assert.match(c.note, /nan-scan/);
  }
});

test('gate usage: --junit is a CI output path (a second run replaces the file and writes its summary; a link is replaced, not written through); a folder there is exit 3 before any decode; a non-number threshold is exit 2', () => {
  const dir = fresh('usage');
  const junit = join(dir, 'gate.xml');
  const summary = join(dir, 'summary.md');
  const env = { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary };
  writeFileSync(junit, 'old');
  for (const n of [1, 2]) {
    const r = run(['gate', '--baseline', baseline(), '--vae', SAFE, '--junit', junit], env);
    assert.equal(r.code, 0, show(r));
    assert.match(readFileSync(junit, 'utf8'), /^<\?xml .*\n<testsuites name="vaecheck" tests="3" failures="0"/);
    assert.equal(readFileSync(summary, 'utf8').match(/### vaecheck gate: ✅ passed/g)?.length, n, `run ${n} appended its summary`);
  }
  const folder = join(dir, 'reports');
  mkdirSync(folder);
  const f = run(['gate', '--baseline', baseline(), '--vae', SAFE, '--junit', folder]);
  assert.equal(f.code, 3, show(f));
  assert.match(f.stderr, /^vaecheck: error: .*reports: is a folder; --junit names a file/);
  assert.equal(f.stdout, '');
  // a link there is replaced itself; what it pointed to stays as it was
  const target = join(dir, 'elsewhere.txt');
  writeFileSync(target, 'keep');
  const link = join(dir, 'link.xml');
  symlinkSync(target, link);
  const l = run(['gate', '--baseline', baseline(), '--vae', SAFE, '--junit', link]);
  assert.equal(l.code, 0, show(l));
  assert.equal(readFileSync(target, 'utf8'), 'keep');
  assert.ok(!lstatSync(link).isSymbolicLink() && /<testsuites /.test(readFileSync(link, 'utf8')));
  const n = run(['gate', '--baseline', baseline(), '--vae', SAFE, '--min-psnr', 'forty']);
  assert.equal(n.code, 2, show(n));
  assert.equal(n.stderr, 'vaecheck: error: --min-psnr must be a number, got "forty"\n');
});

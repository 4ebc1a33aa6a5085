import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { fixtures } from '../helpers/fixtures.js';
import { cli } from './cli.js';

const fx = fixtures();
const overflow = fx.path('tiny-fp16-overflow.safetensors');
const safe = fx.path('tiny-fp16-safe.safetensors');
const latents = fx.path('latents-8x8.npy');

test('nan-scan fp16: the overflowing VAE fails at its first overflowing op, the safe one passes, exit 1', () => {
  const r = cli(['nan-scan', '--vae', overflow, '--vae', safe, '--latents', latents, '--precision', 'fp16']);
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stdout.split('\n');
  const failed = lines.filter((l) => l.startsWith('FAILED |'));
  const passed = lines.filter((l) => l.startsWith('PASSED |'));
  assert.equal(failed.length, 1);
  assert.equal(passed.length, 1);
  assert.match(failed[0], /^FAILED \| tiny-fp16-overflow · decoder \| first non-finite op: decoder\.up_blocks\.2\.resnets\.0\.conv_shortcut \(\d+ Inf, 0 NaN/);
  assert.match(failed[0], /output 100\.00% non-finite/);
  assert.match(passed[0], /^PASSED \| tiny-fp16-safe · decoder \| all finite/);
});

test('nan-scan: the safe VAE alone exits 0; bf16 passes both', () => {
  assert.equal(cli(['nan-scan', '--vae', safe, '--latents', latents]).code, 0);
  const r = cli(['nan-scan', '--vae', overflow, '--vae', safe, '--latents', latents, '--precision', 'bf16']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.stdout.split('\n').filter((l) => l.startsWith('PASSED |')).length, 2);
});

test('nan-scan --json: firstNonFinite and layers in execution order, Infinity written as a string', () => {
  const r = cli(['nan-scan', '--vae', overflow, '--vae', safe, '--latents', latents, '--json']);
  assert.equal(r.code, 1);
  const j = JSON.parse(r.stdout);
  assert.equal(j.schema, 'vaecheck.nan-scan/1');
  assert.equal(j.ok, false);
  assert.equal(j.vaes[0].firstNonFinite, 'decoder.up_blocks.2.resnets.0.conv_shortcut');
  assert.equal(j.vaes[1].firstNonFinite, null);
  const names = j.vaes[1].layers.map((l: { name: string }) => l.name);
  assert.equal(names[0], 'post_quant_conv');
  assert.equal(names[1], 'decoder.conv_in');
  assert.deepEqual(names.slice(-3), ['decoder.conv_norm_out', 'decoder.conv_act', 'decoder.conv_out']);
  // a resnet's ops in diffusers' order, the shortcut after conv2
  const i = names.indexOf('decoder.up_blocks.2.resnets.0.norm1');
  assert.deepEqual(names.slice(i, i + 8).map((n: string) => n.split('.').pop()), ['norm1', 'act1', 'conv1', 'norm2', 'act2', 'conv2', 'conv_shortcut', 'add']);
  for (const l of j.vaes[0].layers) assert.ok(typeof l.maxAbs === 'number' && Number.isInteger(l.nan) && Number.isInteger(l.inf));
  // the overflow VAE's first broken op matches the layer list
  const first = j.vaes[0].layers.find((l: { nan: number; inf: number }) => l.nan + l.inf > 0);
  assert.equal(first.name, j.vaes[0].firstNonFinite);
  assert.ok(first.inf > 0);
});

test('nan-scan --part both scans the encoder too, with encoder op names', () => {
  const r = cli(['nan-scan', '--vae', safe, '--latents', latents, '--part', 'both', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  const names: string[] = j.vaes[0].layers.map((l: { name: string }) => l.name);
  assert.ok(names.includes('encoder.conv_act'));
  assert.ok(names.includes('encoder.mid_block.attentions.0.attn_core'));
  assert.equal(names.at(-1), 'quant_conv');
});

test('nan-scan --plot writes an SVG with both VAEs and the fp16 limit; refuses to overwrite without --force', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vaecheck-plot-'));
  const plot = join(dir, 'act.svg');
  assert.equal(cli(['nan-scan', '--vae', overflow, '--vae', safe, '--latents', latents, '--plot', plot]).code, 1);
  const svg = readFileSync(plot, 'utf8');
  assert.match(svg, /^<svg/);
  assert.match(svg, /tiny-fp16-overflow/);
  assert.match(svg, /tiny-fp16-safe/);
  assert.match(svg, /fp16 max 65504/);
  const again = cli(['nan-scan', '--vae', safe, '--latents', latents, '--plot', plot]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /already exists; pass --force/);
  const png = join(dir, 'act.png');
  assert.equal(cli(['nan-scan', '--vae', safe, '--latents', latents, '--plot', png]).code, 0);
  assert.deepEqual([...readFileSync(png).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  assert.ok(existsSync(png));
});

test('--device cuda without a CUDA provider: a clear error with its own exit code (6), no silent fallback', () => {
  const r = cli(['nan-scan', '--vae', safe, '--family', 'sdxl', '--latents', latents, '--device', 'cuda']);
  assert.equal(r.code, 6);
  assert.match(r.stderr, /^vaecheck: error: --device cuda: onnxruntime-node has no CUDA execution provider installed here .*use --device cpu/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('nan-scan at fp32: headroom against fp16\'s 65504 (x0.66, not x1e33), the overflow named; the plot draws 65504, block names and fixed colours', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vaecheck-plot32-'));
  const plot = join(dir, 'act.svg');
  const r = cli(['nan-scan', '--vae', overflow, '--vae', safe, '--latents', latents, '--precision', 'fp32', '--plot', plot]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /x\d(\.\d+)?e[+-]?\d/, 'no headroom in exponent notation');
  // the independent check: headroom = 65504 / max|x| of each listed op
  const rows = [...r.stdout.matchAll(/^ +\d+\. (\S+) +max\|x\| +(\S+) +headroom x(\S+)$/gm)];
  assert.ok(rows.length >= 10, r.stdout);
  for (const [, name, max, head] of rows) {
    const expect = 65504 / Number(max);
    assert.ok(Math.abs(Number(head) - expect) / expect < 0.01, `${name}: headroom x${head} vs 65504/${max}`);
  }
  assert.match(r.stdout, /^ {2}note: \d+ op\(s\) exceed fp16's 65504 \(headroom below x1\): this VAE overflows when run in fp16$/m);
  assert.match(r.stdout, new RegExp(`^wrote the activation plot to ${plot.replace(/[.\\/]/g, '\\$&')}$`, 'm'));
  const svg = readFileSync(plot, 'utf8');
  assert.match(svg, /fp16 max 65504/, 'the fp16 line at fp32 too');
  assert.doesNotMatch(svg, /3\.4\d*e\+?38|340282/, 'not the fp32 limit');
  // every block named in a label of its own or one shared by neighbouring narrow blocks (`post_quant_conv · conv_in`)
  const labels = [...svg.matchAll(/>([^<>]*)<\/text>/g)].flatMap((m) => m[1].split(' \u00b7 '));
  for (const block of ['post_quant_conv', 'conv_in', 'mid_block', 'up_blocks.0', 'up_blocks.3', 'conv_out']) assert.ok(labels.includes(block), `block label ${block}: ${JSON.stringify(labels)}`);
  // colours: the first VAE gets the first palette colour, the second the second, whatever their names
  const swapped = join(dir, 'swapped.svg');
  assert.equal(cli(['nan-scan', '--vae', safe, '--vae', overflow, '--latents', latents, '--precision', 'fp32', '--plot', swapped]).code, 0);
  const strokeOf = (s: string, label: string) => new RegExp(`aria-label="[^"]*VAE: ${label}[^"]*"[^>]*stroke="(#[0-9a-f]{6})"`).exec(s)?.[1];
  assert.equal(strokeOf(svg, 'tiny-fp16-overflow'), '#4e79a7');
  assert.equal(strokeOf(svg, 'tiny-fp16-safe'), '#f28e2b');
  assert.equal(strokeOf(readFileSync(swapped, 'utf8'), 'tiny-fp16-safe'), '#4e79a7');
});

test('nan-scan fp16: ops holding NaN/Inf are counted, never ranked under least headroom with max|x| 0', () => {
  const r = cli(['nan-scan', '--vae', overflow, '--latents', latents, '--precision', 'fp16']);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^ {2}\d+ of \d+ traced ops hold NaN\/Inf, from decoder\.up_blocks\.2\.resnets\.0\.conv_shortcut on$/m);
  assert.match(r.stdout, /least headroom to fp16's 65504 among the finite ops:/);
  assert.doesNotMatch(r.stdout, /max\|x\| +0 /);
  const j = JSON.parse(cli(['nan-scan', '--vae', overflow, '--latents', latents, '--precision', 'fp16', '--json']).stdout);
  const part = j.vaes[0].parts[0];
  assert.ok(part.leastHeadroom.every((l: { nan: number; inf: number }) => l.nan + l.inf === 0));
  assert.equal(part.nonFiniteOps, part.layers.filter((l: { nan: number; inf: number }) => l.nan + l.inf > 0).length);
});

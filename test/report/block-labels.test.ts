/**
 * The activation plot's block labels: every block named once, no two labels closer than one label's
 * room, each label inside the span of the blocks it names. Checked on block layouts like a full SDXL
 * decoder's (single-op blocks side by side at both ends) and random ones.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { blockLabels } from '../../src/report/activation-plot.js';

const ROOM = 14;
const WIDTH = 860;

function check(starts: { op: number; block: string }[], ops: number): void {
  const labels = blockLabels(starts, ops, WIDTH);
  const px = WIDTH / Math.max(1, ops - 1);
  const named = labels.flatMap((l) => l.block.split(' \u00b7 '));
  assert.deepEqual(named, starts.map((s) => s.block), 'every block once, in order');
  for (let i = 1; i < labels.length; i++) assert.ok((labels[i].op - labels[i - 1].op) * px >= ROOM - 1e-9, `labels ${i - 1} and ${i} overlap`);
  let k = 0;
  for (const l of labels) {
    const names = l.block.split(' \u00b7 ');
    const first = starts[k].op;
    const end = k + names.length < starts.length ? starts[k + names.length].op : ops;
    assert.ok(l.op >= first && l.op <= end - 1, `${l.block} at ${l.op} outside ops ${first}..${end - 1}`);
    k += names.length;
  }
}

test('SDXL-like decoder: single-op blocks at both ends share labels, wide blocks have their own', () => {
  // post_quant_conv, conv_in, mid_block (20 ops), 4 up blocks (40 ops each), conv_norm_out, conv_act, conv_out
  const sizes: [string, number][] = [['post_quant_conv', 1], ['conv_in', 1], ['mid_block', 20], ['up_blocks.0', 40], ['up_blocks.1', 40], ['up_blocks.2', 40], ['up_blocks.3', 40], ['conv_norm_out', 1], ['conv_act', 1], ['conv_out', 1]];
  const starts: { op: number; block: string }[] = [];
  let op = 0;
  for (const [block, n] of sizes) {
    starts.push({ op, block });
    op += n;
  }
  check(starts, op);
  const labels = blockLabels(starts, op, WIDTH).map((l) => l.block);
  assert.ok(labels.includes('post_quant_conv \u00b7 conv_in'));
  assert.ok(labels.includes('conv_norm_out \u00b7 conv_act \u00b7 conv_out'));
  assert.ok(labels.includes('up_blocks.2'));
});

test('random block layouts: the same three properties', () => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let trial = 0; trial < 300; trial++) {
    const starts: { op: number; block: string }[] = [];
    let op = 0;
    const n = 1 + Math.floor(rand() * 30);
    for (let b = 0; b < n; b++) {
      starts.push({ op, block: `b${b}` });
      op += 1 + Math.floor(rand() ** 3 * 60);
    }
    check(starts, op);
  }
});

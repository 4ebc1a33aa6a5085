/**
 * The activation-magnitude figure of the fp16-fix model card: max |x| per traced op in execution
 * order, log scale, one line per VAE, rendered to SVG with Vega-Lite (PNG conversion lives in images/).
 *
 * - fp16's largest finite value, 65504, is always drawn: at fp32 or bf16 too, since what users want to
 *   see is how the activations of a full-range run sit against the fp16 edge.
 * - Block boundaries are drawn and labelled (post_quant_conv, conv_in, mid_block, up_blocks.N, …), so
 *   the x axis reads as the network, not as op numbers only.
 * - Ops that hold NaN/Inf are drawn as crosses at the top of the chart (their largest finite value
 *   says nothing).
 * - Colours are fixed: the i-th VAE always gets the i-th colour of one palette, whatever its name.
 */
import * as vega from 'vega';
import { compile } from 'vega-lite';
import { MAX_FINITE, type Precision } from '../dtype.js';
import type { LayerStats } from '../precision/instrument.js';

export interface PlotSeries {
  label: string;
  layers: readonly LayerStats[];
}

/** Tableau 10: distinguishable, and the same for the same series order on every run. */
export const SERIES_COLOURS = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#ff9da7', '#9c755f', '#bab0ac', '#e15759'];
const LIMIT_COLOUR = '#d62728';

/**
 * The block an op belongs to: `decoder.up_blocks.2.resnets.0.conv1` -> `decoder.up_blocks.2`,
 * `decoder.mid_block.attentions.0.to_q` -> `decoder.mid_block`, `post_quant_conv` -> itself. Names
 * of imported ONNX graphs (node names) fall back to their first two path segments.
 */
export function blockOf(name: string): string {
  const m = /^((?:encoder|decoder)\.(?:up_blocks\.\d+|down_blocks\.\d+|mid_block|conv_in|conv_norm_out|conv_act|conv_out))(?:\.|$)/.exec(name);
  if (m) return m[1];
  const parts = name.split(/[./]/).filter(Boolean);
  return parts.slice(0, parts[0] === 'encoder' || parts[0] === 'decoder' ? 2 : 1).join('.') || name;
}

/** Where each block starts in execution order (the first series that has the op), for the rules. */
export function blockStarts(layers: readonly LayerStats[]): { op: number; block: string }[] {
  const out: { op: number; block: string }[] = [];
  layers.forEach((l, i) => {
    const b = blockOf(l.name);
    if (out.length === 0 || out[out.length - 1].block !== b) out.push({ op: i, block: b });
  });
  return out;
}

/** The block's short label: `up_blocks.2`, `mid_block`, `post_quant_conv`. */
const shortBlock = (b: string) => b.replace(/^(encoder|decoder)\./, '');

const PLOT_WIDTH = 860;
/** room one vertical 9 px label needs across, with a gap to the next */
const LABEL_PX = 14;

/**
 * Block labels placed in the middle of their block. Blocks too narrow to hold a label of their own
 * (a full SDXL decoder has ~200 ops, and single-op blocks such as post_quant_conv and conv_in sit side
 * by side) share one, `post_quant_conv · conv_in`, so every block keeps its rule and its name.
 * Exported for tests.
 */
export function blockLabels(starts: readonly { op: number; block: string }[], ops: number, width: number): { op: number; block: string }[] {
  const px = width / Math.max(1, ops - 1);
  const mids = starts.map((b, i) => {
    const end = i + 1 < starts.length ? starts[i + 1].op : ops;
    return { op: b.op + (end - 1 - b.op) / 2, block: b.block };
  });
  const groups: { first: number; last: number; names: string[] }[] = [];
  for (const m of mids) {
    const g = groups[groups.length - 1];
    // chained by the distance to the group's last block: then any two labels are LABEL_PX apart
    if (g && (m.op - g.last) * px < LABEL_PX) {
      g.last = m.op;
      g.names.push(m.block);
    } else groups.push({ first: m.op, last: m.op, names: [m.block] });
  }
  return groups.map((g) => ({ op: (g.first + g.last) / 2, block: g.names.join(' \u00b7 ') }));
}

export async function activationPlotSvg(series: readonly PlotSeries[], precision: Precision): Promise<string> {
  const limit = MAX_FINITE.fp16;
  let top = limit;
  for (const s of series) for (const l of s.layers) if (l.nan + l.inf === 0 && l.maxAbs > top) top = l.maxAbs;
  // non-finite ops sit above everything finite, at the top of the chart
  const broken = top * 4;
  const values: Record<string, unknown>[] = [];
  for (const s of series) {
    s.layers.forEach((l, i) => {
      const bad = l.nan + l.inf > 0;
      values.push({ vae: s.label, op: i, name: l.name, block: shortBlock(blockOf(l.name)), maxAbs: bad ? broken : Math.max(l.maxAbs, 1e-6), state: bad ? 'NaN/Inf' : 'finite' });
    });
  }
  const longest = series.reduce((a, s) => (s.layers.length > a.length ? s.layers : a), [] as readonly LayerStats[]);
  const starts = blockStarts(longest).map((b) => ({ op: b.op, block: shortBlock(b.block) }));
  const labelled = blockLabels(starts, longest.length, PLOT_WIDTH);
  const labels = series.map((s) => s.label);
  const colour = { field: 'vae', type: 'nominal', title: 'VAE', legend: { orient: 'bottom' }, scale: { domain: labels, range: labels.map((_, i) => SERIES_COLOURS[i % SERIES_COLOURS.length]) } };
  const x = { field: 'op', type: 'quantitative', title: 'op, in execution order (blocks marked)', scale: { domain: [0, Math.max(1, longest.length - 1)], nice: false } };
  const y = { field: 'maxAbs', type: 'quantitative', scale: { type: 'log' }, title: 'largest |x|' };
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    width: PLOT_WIDTH,
    height: 340,
    background: 'white',
    title: { text: `Largest |activation| per op, run at ${precision}`, subtitle: `dashed: fp16's largest finite value, ${limit}; crosses at the top: ops holding NaN/Inf` },
    layer: [
      {
        data: { values: starts },
        mark: { type: 'rule', color: '#bbbbbb', strokeWidth: 0.75 },
        encoding: { x: { field: 'op', type: 'quantitative' } },
      },
      {
        data: { values: labelled },
        mark: { type: 'text', angle: 270, align: 'right', baseline: 'middle', dy: 0, dx: -2, fontSize: 9, color: '#555555' },
        encoding: { x: { field: 'op', type: 'quantitative' }, y: { value: 0 }, text: { field: 'block' } },
      },
      {
        data: { values: values.filter((v) => v.state === 'finite') },
        mark: { type: 'line', strokeWidth: 1.5, point: { size: 10 } },
        encoding: { x, y, color: colour, detail: { field: 'vae' } },
      },
      {
        data: { values: values.filter((v) => v.state !== 'finite') },
        mark: { type: 'point', shape: 'cross', size: 40, filled: true },
        encoding: { x, y, color: colour },
      },
      {
        data: { values: [{ limit }] },
        mark: { type: 'rule', strokeDash: [6, 4], color: LIMIT_COLOUR },
        encoding: { y: { field: 'limit', type: 'quantitative' } },
      },
      {
        data: { values: [{ limit, text: `fp16 max ${limit}` }] },
        // right of the plot, where no block label or data point can be (the legend is below)
        mark: { type: 'text', align: 'left', baseline: 'middle', dx: 0, dy: 0, color: LIMIT_COLOUR },
        encoding: { y: { field: 'limit', type: 'quantitative' }, x: { value: PLOT_WIDTH + 4 }, text: { field: 'text' } },
      },
    ],
  };
  const view = new vega.View(vega.parse(compile(spec as never).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

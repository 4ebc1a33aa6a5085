/**
 * The activation-magnitude figure of the fp16-fix model card: max |x| per traced op in execution
 * order, log scale, one line per VAE, with the precision's largest finite value drawn. Rendered to
 * SVG with Vega-Lite (PNG conversion lives in images/).
 */
import * as vega from 'vega';
import { compile } from 'vega-lite';
import type { LayerStats } from '../precision/instrument.js';

export interface PlotSeries {
  label: string;
  layers: readonly LayerStats[];
}

export async function activationPlotSvg(series: readonly PlotSeries[], limit: number, limitLabel: string): Promise<string> {
  const values: Record<string, unknown>[] = [];
  for (const s of series) {
    s.layers.forEach((l, i) => {
      // a non-finite op is drawn at the limit, marked, so the line shows where it broke
      const broken = l.nan + l.inf > 0;
      values.push({ vae: s.label, op: i, name: l.name, maxAbs: broken ? limit : Math.max(l.maxAbs, 1e-6), nonFinite: broken ? 'NaN/Inf' : 'finite' });
    });
  }
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    width: 760,
    height: 320,
    background: 'white',
    title: `Largest |activation| per op (${limitLabel} limit ${limit})`,
    layer: [
      {
        data: { values },
        mark: { type: 'line', strokeWidth: 1.5 },
        encoding: {
          x: { field: 'op', type: 'quantitative', title: 'op, in execution order' },
          y: { field: 'maxAbs', type: 'quantitative', scale: { type: 'log' }, title: 'max |x|' },
          color: { field: 'vae', type: 'nominal', title: 'VAE' },
        },
      },
      {
        data: { values: values.filter((v) => v.nonFinite !== 'finite') },
        mark: { type: 'point', shape: 'cross', size: 40, filled: true },
        encoding: {
          x: { field: 'op', type: 'quantitative' },
          y: { field: 'maxAbs', type: 'quantitative', scale: { type: 'log' } },
          color: { field: 'vae', type: 'nominal' },
        },
      },
      {
        data: { values: [{ limit }] },
        mark: { type: 'rule', strokeDash: [6, 4], color: '#d62728' },
        encoding: { y: { field: 'limit', type: 'quantitative' } },
      },
      {
        data: { values: [{ limit, text: `${limitLabel} max ${limit}` }] },
        mark: { type: 'text', align: 'left', dx: 4, dy: -6, color: '#d62728' },
        encoding: { y: { field: 'limit', type: 'quantitative' }, x: { value: 0 }, text: { field: 'text' } },
      },
    ],
  };
  const view = new vega.View(vega.parse(compile(spec as never).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

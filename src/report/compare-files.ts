/**
 * Every file compare writes into --out: decoded/<cell>/<latent>.png, diff/<cell>/<latent>-pixelmatch.png
 * and diff/<cell>/<latent>-heatmap.png, activations/<vae>.svg, matrix.png, report.json, report.md and
 * report.html, returned as
 * relative path -> bytes for one all-or-nothing write.
 */
import type { CompareResult } from '../compare/run-compare.js';
import { toJson } from '../format.js';
import { encodePng } from '../images/sharp-io.js';
import { diffHeatmap, pixelDiff } from '../images/pixel-diff.js';
import { rgb8 } from '../metrics/cell-metrics.js';
import { activationPlotSvg } from './activation-plot.js';
import { runtimeVersion } from '../runtime/session.js';
import { chw } from '../tensor.js';
import { toHtml } from './compare-html.js';
import { type CompareFilesIndex, reportObject, toMarkdown } from './compare-report.js';
import { matrixPng } from './matrix-image.js';

const safe = (s: string) => s.replace(/[^A-Za-z0-9._@-]+/g, '_');

export async function compareFiles(r: CompareResult, vaecheckVersion: string, opts: { note?: string } = {}): Promise<{ files: Map<string, Uint8Array>; report: ReturnType<typeof reportObject> }> {
  const files = new Map<string, Uint8Array>();
  const index: CompareFilesIndex = { decoded: {}, pixelmatch: {}, heatmap: {} };
  const refOut = r.outputs.get(r.reference.key)!;
  for (const c of r.cells) {
    const out = r.outputs.get(c.key)!;
    index.decoded[c.key] = {};
    index.pixelmatch[c.key] = {};
    index.heatmap[c.key] = {};
    for (const [i, l] of r.latents.entries()) {
      const img = out[i];
      const ref = refOut[i];
      const { c: ch, h, w } = chw(img);
      const rgb = rgb8(img);
      const dir = `${safe(c.key)}`;
      const decoded = `decoded/${dir}/${safe(l.id)}.png`;
      const png = await encodePng(rgb, w, h);
      files.set(decoded, png);
      index.decoded[c.key][l.id] = decoded;
      const pm = `diff/${dir}/${safe(l.id)}-pixelmatch.png`;
      files.set(pm, await encodePng(pixelDiff(rgb8(ref), rgb, w, h).diff, w, h, 4));
      index.pixelmatch[c.key][l.id] = pm;
      const hm = `diff/${dir}/${safe(l.id)}-heatmap.png`;
      files.set(hm, await encodePng(diffHeatmap(ref.data, img.data, ch, h, w), w, h));
      index.heatmap[c.key][l.id] = hm;
    }
  }
  const report = await addReportFiles(files, r, index, { vaecheck: vaecheckVersion, onnxruntime: runtimeVersion(), createdAt: new Date().toISOString(), note: opts.note });
  return { files, report };
}

/**
 * Adds matrix.png, report.json, report.md and report.html to `files`, which already holds the decoded
 * and diff images that `index` names (the matrix and the HTML embed them). Also what vaecheck merge
 * writes from the joined shards.
 */
export async function addReportFiles(
  files: Map<string, Uint8Array>,
  r: CompareResult,
  index: CompareFilesIndex,
  base: { vaecheck: string; onnxruntime: string; createdAt: string; note?: string },
): Promise<ReturnType<typeof reportObject>> {
  // one activation figure per VAE (a merged run has none: its shards' layers are not joined)
  const activations: Record<string, string> = {};
  for (const a of r.activations ?? []) {
    const path = `activations/${safe(a.vae)}.svg`;
    files.set(path, new TextEncoder().encode(await activationPlotSvg([{ label: a.vae, layers: a.layers }], 'fp32')));
    activations[a.vae] = path;
  }
  const meta = { ...base, activations };
  // the matrix shows each cell's first latent
  const thumbs = new Map<string, Uint8Array>();
  const first = r.latents[0]?.id;
  for (const c of r.cells) {
    const png = first === undefined ? undefined : files.get(index.decoded[c.key]?.[first] ?? '');
    if (png) thumbs.set(c.key, png);
  }
  files.set('matrix.png', await matrixPng(r, thumbs));
  const report = reportObject(r, index, meta);
  files.set('report.json', new TextEncoder().encode(toJson(report) + '\n'));
  files.set('report.md', new TextEncoder().encode(toMarkdown(r, index)));
  files.set('report.html', new TextEncoder().encode(toHtml(r, index, files, meta)));
  return report;
}

/**
 * The images gate writes into --out for each failed case, to look at what drifted: the baseline's
 * decode, the candidate's, pixelmatch's diff and the |difference| heatmap (NaN in magenta), named as
 * compare names them: decoded/<case>/{baseline,candidate}.png, diff/<case>-pixelmatch.png and
 * diff/<case>-heatmap.png.
 */
import { diffHeatmap, pixelDiff } from '../images/pixel-diff.js';
import { encodePng } from '../images/sharp-io.js';
import { rgb8 } from '../metrics/cell-metrics.js';
import { type Tensor, chw } from '../tensor.js';

const safe = (s: string) => s.replace(/[^A-Za-z0-9._@-]+/g, '_');

/** The relative paths of a failed case's images: decoded baseline, decoded candidate, pixelmatch, heatmap. */
export function gateDiffFileNames(caseName: string): [string, string, string, string] {
  const name = safe(caseName);
  return [`decoded/${name}/baseline.png`, `decoded/${name}/candidate.png`, `diff/${name}-pixelmatch.png`, `diff/${name}-heatmap.png`];
}

/** @param baseline, candidate one decoded image each, [1, 3, H, W] */
export async function gateDiffFiles(caseName: string, baseline: Tensor, candidate: Tensor): Promise<Map<string, Uint8Array>> {
  const [decodedBaseline, decodedCandidate, pixelmatch, heatmap] = gateDiffFileNames(caseName);
  const { c, h, w } = chw(candidate);
  const ref = rgb8(baseline);
  const cand = rgb8(candidate);
  const files = new Map<string, Uint8Array>();
  files.set(decodedBaseline, await encodePng(ref, w, h));
  files.set(decodedCandidate, await encodePng(cand, w, h));
  files.set(pixelmatch, await encodePng(pixelDiff(ref, cand, w, h).diff, w, h, 4));
  files.set(heatmap, await encodePng(diffHeatmap(baseline.data, candidate.data, c, h, w), w, h));
  return files;
}

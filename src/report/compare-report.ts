/**
 * compare's report as JSON (schema `vaecheck.compare/1`, documented in README), Markdown and rows
 * for any renderer. No colour here: the terminal adds it. Numbers are written by format.ts (in
 * JSON, non-finite numbers become "inf", "-inf" and "nan").
 */
import type { CellResult, CompareResult } from '../compare/run-compare.js';
import { NOT_AVAILABLE, db, exponential, percent, ssimText } from '../format.js';
import type { MeanStd } from '../metrics/summary.js';

export const COMPARE_SCHEMA = 'vaecheck.compare/1';

const PRECISION_TITLE: Record<string, string> = { fp32: 'float32', bf16: 'bfloat16', fp16: 'float16' };
export const precisionTitle = (p: string) => PRECISION_TITLE[p] ?? p;

export interface CompareFilesIndex {
  /** cell key -> latent id -> relative paths */
  decoded: Record<string, Record<string, string>>;
  pixelmatch: Record<string, Record<string, string>>;
  heatmap: Record<string, Record<string, string>>;
}

export function reportObject(r: CompareResult, files: CompareFilesIndex, meta: { vaecheck: string; onnxruntime: string; createdAt: string; activations?: Record<string, string> }) {
  return {
    schema: COMPARE_SCHEMA,
    vaecheck: meta.vaecheck,
    onnxruntime: meta.onnxruntime,
    createdAt: meta.createdAt,
    ok: r.cells.every((c) => c.pass),
    reference: r.reference,
    thresholds: r.thresholds,
    vaes: r.vaes,
    precisions: r.precisions,
    latents: r.latents,
    warnings: r.warnings,
    cells: r.cells.map((c) => ({
      vae: c.vae,
      precision: c.precision,
      isReference: c.isReference,
      pass: c.pass,
      reasons: c.reasons,
      nonFiniteFraction: c.nonFiniteFraction,
      psnr: c.psnr,
      ssim: c.ssim,
      ...(c.psnrVsImage ? { psnrVsImage: c.psnrVsImage } : {}),
      // null for a whole decode; added after the first schema (readers that do not know it ignore it)
      tiling: c.tiling ?? null,
      seconds: c.seconds,
      items: c.items.map((it) => ({
        ...it,
        files: { decoded: files.decoded[c.key]?.[it.latent], pixelmatch: files.pixelmatch[c.key]?.[it.latent], heatmap: files.heatmap[c.key]?.[it.latent] },
      })),
    })),
    activations: (r.activations ?? []).map((a) => {
      let top = { name: '', maxAbs: 0 };
      for (const l of a.layers) if (l.nan + l.inf === 0 && l.maxAbs > top.maxAbs) top = l;
      return { vae: a.vae, precision: 'fp32', latent: a.latent, file: meta.activations?.[a.vae], largest: { op: top.name, maxAbs: top.maxAbs }, fp16Headroom: top.maxAbs > 0 ? 65504 / top.maxAbs : Infinity, layers: a.layers };
    }),
    seconds: r.seconds,
    // only in a shard's report: what vaecheck merge needs to join the shards
    ...(r.shard ? { shard: r.shard } : {}),
  };
}

/** A dB value in tables: two decimals, `inf` for identical images, `n/a` when not measurable. */
export const fmtDb = (x: number): string => db(x, NOT_AVAILABLE);

/** "PSNR ≥ 25 dB", plus "SSIM ≥ 0.9" only when SSIM is required (a 0 threshold is no threshold). */
export function thresholdText(t: { minPsnr: number; minSsim: number }): string {
  return `finite, PSNR ≥ ${t.minPsnr} dB${t.minSsim > 0 ? ` and SSIM ≥ ${t.minSsim}` : ''}`;
}

/** "42.87 ± 0.16"; the mean alone when the spread is not a number (one image, inf); "n/a" when the mean is not. */
export function fmtMeanStd(m: MeanStd, f: (x: number) => string): string {
  if (Number.isNaN(m.mean)) return NOT_AVAILABLE;
  if (m.n > 1 && Number.isFinite(m.mean) && Number.isFinite(m.std)) return `${f(m.mean)} ± ${f(m.std)}`;
  return f(m.mean);
}

/** The short text of a cell: "✅ 48.21 dB" / "⚠️ NaN 100.00%" / "✅ reference". */
export function cellSummary(c: CellResult): string {
  const mark = c.pass ? '✅' : '⚠️';
  if (c.nonFiniteFraction > 0) return `${mark} NaN/Inf ${percent(c.nonFiniteFraction)}%`;
  if (c.isReference) return `${mark} reference`;
  const n = c.psnr.n;
  const ps = n > 1 && Number.isFinite(c.psnr.mean) ? `${fmtDb(c.psnr.mean)} ± ${fmtDb(c.psnr.std)} dB` : `${fmtDb(c.psnr.mean)} dB`;
  return `${mark} ${ps}`;
}

export function toMarkdown(r: CompareResult, files: CompareFilesIndex): string {
  const out: string[] = [];
  out.push(`# vaecheck compare`, '');
  const failed = r.cells.filter((c) => !c.pass);
  out.push(failed.length === 0 ? `**PASSED**: all ${r.cells.length} cells pass.` : `**FAILED**: ${failed.length} of ${r.cells.length} cells fail (${failed.map((c) => c.key).join(', ')}).`, '');
  out.push(`Reference: **${r.reference.key}**. A cell is ✅ when its decode is ${thresholdText(r.thresholds)} against the reference; ⚠️ otherwise.`, '');
  out.push(`| VAE | ${r.precisions.map((p) => `decoding in ${precisionTitle(p)}`).join(' | ')} |`);
  out.push(`|---|${r.precisions.map(() => '---').join('|')}|`);
  for (const v of r.vaes) {
    const row = r.precisions.map((p) => cellSummary(r.cells.find((c) => c.vae === v.label && c.precision === p)!));
    out.push(`| ${v.label} | ${row.join(' | ')} |`);
  }
  out.push('');
  for (const [i, l] of r.latents.entries()) {
    out.push(`## ${l.id}`, '', `${l.origin}, latent [${l.shape.join(', ')}]`, '');
    const hasImage = r.cells.some((c) => c.items[i].psnrVsImage !== undefined);
    out.push(`| cell | verdict | NaN/Inf | PSNR (dB) | SSIM | max abs | mean abs | mismatched px |${hasImage ? ' PSNR vs image |' : ''}`);
    out.push(`|---|---|---|---|---|---|---|---|${hasImage ? '---|' : ''}`);
    for (const c of r.cells) {
      const it = c.items[i];
      const nf = it.nan + it.inf > 0 ? `${it.nan + it.inf} (${percent(it.nonFiniteFraction)}%)` : '0';
      out.push(`| ${c.key}${c.isReference ? ' (ref)' : ''} | ${it.pass ? '✅' : `⚠️ ${it.reasons.join('; ')}`} | ${nf} | ${fmtDb(it.psnr)} | ${ssimText(it.ssim, NOT_AVAILABLE)} | ${exponential(it.maxAbsError, 2, NOT_AVAILABLE)} | ${exponential(it.meanAbsError, 2, NOT_AVAILABLE)} | ${it.mismatchedPixels} (${percent(it.mismatchedFraction)}%) |${hasImage ? ` ${fmtDb(it.psnrVsImage!)} |` : ''}`);
    }
    out.push('');
  }
  if (r.latents.length > 1) {
    out.push('## Mean ± std over latents', '', '| cell | PSNR (dB) | SSIM |', '|---|---|---|');
    for (const c of r.cells) out.push(`| ${c.key} | ${fmtMeanStd(c.psnr, fmtDb)} | ${fmtMeanStd(c.ssim, (x) => ssimText(x, NOT_AVAILABLE))} |`);
    out.push('');
  }
  if (Object.keys(files.decoded).length) out.push('Decoded images, pixelmatch diffs and |difference| heatmaps are in `decoded/` and `diff/`; `matrix.png` shows the matrix.', '');
  return out.join('\n');
}

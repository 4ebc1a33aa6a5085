/** A self-contained HTML report: the matrix with decoded thumbnails and every table, images embedded as data URIs. */
import type { CompareResult } from '../compare/run-compare.js';
import { NOT_AVAILABLE, percent, ssimText } from '../format.js';
import { type CompareFilesIndex, cellSummary, fmtDb, precisionTitle } from './compare-report.js';

// check and warning signs that common fonts have (colour emoji fonts are often missing, e.g. headless)
const mark = (pass: boolean) => (pass ? '<span class="ok">✓</span>' : '<span class="warn">⚠</span>');
const summary = (c: Parameters<typeof cellSummary>[0]) => `${mark(c.pass)} ${esc(cellSummary(c).replace(/^(✅|⚠️)\s*/, ''))}`;
const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** @param images relative path -> PNG bytes, for embedding */
export function toHtml(r: CompareResult, files: CompareFilesIndex, images: ReadonlyMap<string, Uint8Array>): string {
  const uri = (path: string | undefined) => (path && images.has(path) ? `data:image/png;base64,${Buffer.from(images.get(path)!).toString('base64')}` : '');
  const first = r.latents[0]?.id;
  const matrix = [
    `<table class="matrix"><tr><th>VAE</th>${r.precisions.map((p) => `<th>decoding in ${precisionTitle(p)}</th>`).join('')}</tr>`,
    ...r.vaes.map((v) => {
      const tds = r.precisions.map((p) => {
        const c = r.cells.find((x) => x.vae === v.label && x.precision === p)!;
        const img = uri(files.decoded[c.key]?.[first]);
        return `<td class="${c.pass ? 'pass' : 'fail'}">${img ? `<img src="${img}" alt="${esc(c.key)}">` : ''}<div class="verdict">${summary(c)}</div>${c.reasons.length ? `<div class="reason">${esc(c.reasons.join('; '))}</div>` : ''}</td>`;
      });
      return `<tr><th>${esc(v.label)}</th>${tds.join('')}</tr>`;
    }),
    '</table>',
  ].join('\n');
  const tables = r.latents.map((l, i) => {
    const rows = r.cells.map((c) => {
      const it = c.items[i];
      const thumbs = [files.decoded[c.key]?.[l.id], files.pixelmatch[c.key]?.[l.id], files.heatmap[c.key]?.[l.id]].map((p) => (p ? `<img class="thumb" src="${uri(p)}" alt="${esc(p)}">` : '')).join('');
      return `<tr class="${it.pass ? 'pass' : 'fail'}"><td>${esc(c.key)}${c.isReference ? ' (ref)' : ''}</td><td>${mark(it.pass)} ${esc(it.reasons.join('; '))}</td><td>${it.nan + it.inf} (${percent(it.nonFiniteFraction)}%)</td><td>${fmtDb(it.psnr)}</td><td>${ssimText(it.ssim, NOT_AVAILABLE)}</td><td>${it.mismatchedPixels}</td>${it.psnrVsImage !== undefined ? `<td>${fmtDb(it.psnrVsImage)}</td>` : ''}<td>${thumbs}</td></tr>`;
    });
    const imgCol = r.cells.some((c) => c.items[i].psnrVsImage !== undefined) ? '<th>PSNR vs image</th>' : '';
    return `<h2>${esc(l.id)}</h2><p>${esc(l.origin)}, latent [${l.shape.join(', ')}]</p><table class="cells"><tr><th>cell</th><th>verdict</th><th>NaN/Inf</th><th>PSNR (dB)</th><th>SSIM</th><th>mismatched px</th>${imgCol}<th>decoded · pixelmatch · |diff|</th></tr>${rows.join('')}</table>`;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vaecheck compare</title>
<style>
body{font-family:system-ui,-apple-system,"DejaVu Sans",sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:12px 0}
th,td{border:1px solid #ccc;padding:6px 10px;text-align:center;vertical-align:middle}
.matrix img{width:192px;height:auto;image-rendering:pixelated;display:block;margin:0 auto 6px}
.matrix td.pass{background:#eefaf0}.matrix td.fail{background:#fff4e5}
.verdict{font-size:18px;font-weight:600}.reason{font-size:12px;color:#8a4b00}
.cells tr.fail{background:#fff4e5}.thumb{width:96px;margin:0 2px;image-rendering:pixelated}
.cells td:last-child{white-space:nowrap}.ok{color:#2e9e44;font-weight:bold}.warn{color:#e08a00;font-weight:bold}
</style></head><body>
<h1>vaecheck compare</h1>
<p>Reference: <b>${esc(r.reference.key)}</b>. ${mark(true)} finite, PSNR ≥ ${r.thresholds.minPsnr} dB and SSIM ≥ ${r.thresholds.minSsim}; ${mark(false)} otherwise.</p>
${matrix}
${tables.join('\n')}
</body></html>
`;
}

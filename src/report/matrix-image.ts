/**
 * matrix.png: the fp16-fix model card's table as a picture — rows the VAEs, columns the precisions,
 * each cell a decoded thumbnail with a pass mark (green check) or a warning (amber triangle) and its
 * number. Drawn as SVG with the thumbnails embedded, rendered to PNG by images/ (text needs fonts).
 */
import type { CompareResult } from '../compare/run-compare.js';
import { svgToPng } from '../images/sharp-io.js';
import { cellSummary, precisionTitle, thresholdText } from './compare-report.js';

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** @param thumbs cell key -> PNG bytes of its first decoded image */
export async function matrixPng(r: CompareResult, thumbs: ReadonlyMap<string, Uint8Array>): Promise<Buffer> {
  return svgToPng(matrixSvg(r, thumbs), 72);
}

/** The picture as SVG (what matrixPng renders). */
export function matrixSvg(r: Pick<CompareResult, 'reference' | 'precisions' | 'vaes' | 'cells' | 'thresholds' | 'latents'>, thumbs: ReadonlyMap<string, Uint8Array>): string {
  const T = 192;
  const labelW = 200;
  const headH = 70;
  const cellW = T + 40;
  const cellH = T + 70;
  const W = labelW + cellW * r.precisions.length + 20;
  const H = headH + cellH * r.vaes.length + 58;
  const font = 'font-family="DejaVu Sans, sans-serif"';
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="12" y="26" ${font} font-size="18" font-weight="bold">vaecheck · reference ${esc(r.reference.key)}</text>`,
  ];
  r.precisions.forEach((p, j) => {
    const x = labelW + j * cellW + cellW / 2;
    parts.push(`<text x="${x}" y="${headH - 12}" ${font} font-size="15" text-anchor="middle">decoding in ${precisionTitle(p)}</text>`);
  });
  r.vaes.forEach((v, i) => {
    const y0 = headH + i * cellH;
    parts.push(`<text x="12" y="${y0 + T / 2 + 6}" ${font} font-size="15" font-weight="bold">${esc(v.label)}</text>`);
    r.precisions.forEach((p, j) => {
      const c = r.cells.find((x) => x.vae === v.label && x.precision === p)!;
      const x0 = labelW + j * cellW + 20;
      parts.push(`<rect x="${x0 - 6}" y="${y0 - 6}" width="${T + 12}" height="${T + 58}" rx="6" fill="${c.pass ? '#eefaf0' : '#fff4e5'}" stroke="${c.pass ? '#2e9e44' : '#e08a00'}"/>`);
      const png = thumbs.get(c.key);
      if (png) parts.push(`<image x="${x0}" y="${y0}" width="${T}" height="${T}" preserveAspectRatio="xMidYMid meet" xlink:href="data:image/png;base64,${Buffer.from(png).toString('base64')}"/>`);
      const my = y0 + T + 26;
      if (c.pass) {
        parts.push(`<circle cx="${x0 + 12}" cy="${my - 5}" r="10" fill="#2e9e44"/><polyline points="${x0 + 6},${my - 5} ${x0 + 11},${my} ${x0 + 19},${my - 11}" fill="none" stroke="white" stroke-width="3"/>`);
      } else {
        parts.push(`<polygon points="${x0 + 12},${my - 17} ${x0 + 24},${my + 5} ${x0},${my + 5}" fill="#e08a00"/><rect x="${x0 + 11}" y="${my - 10}" width="2.5" height="9" fill="white"/><rect x="${x0 + 11}" y="${my + 1}" width="2.5" height="2.5" fill="white"/>`);
      }
      const text = cellSummary(c).replace(/^(✅|⚠️)\s*/, '');
      parts.push(`<text x="${x0 + 30}" y="${my}" ${font} font-size="14">${esc(text)}</text>`);
    });
  });
  parts.push(`<text x="12" y="${H - 32}" ${font} font-size="12" fill="#555">✓ ${esc(thresholdText(r.thresholds))} vs the reference; ⚠ NaN/Inf or below a threshold</text>`);
  // the picture shows one latent while the figures may summarise several: say which
  const first = r.latents[0];
  const n = r.latents.length;
  const shown = !first ? 'no latents in this run' : n === 1 ? `thumbnails and figures: latent ${first.id}` : `thumbnails: latent ${first.id} (the first of ${n}); figures: mean ± std over all ${n} latents`;
  parts.push(`<text x="12" y="${H - 14}" ${font} font-size="12" fill="#555">${esc(shown)}</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

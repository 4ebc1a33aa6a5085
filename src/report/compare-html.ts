/**
 * compare's self-contained HTML report (images embedded as data URIs), in the habits of image-diff
 * reports (jest-image-snapshot, BackstopJS): an overall PASSED/FAILED banner first, the metadata that
 * makes the report reproducible (vaecheck and onnxruntime versions, date, each VAE's sha256, the
 * thresholds), a legend for every column and image, the matrix with labelled thumbnails, the mean ±
 * std table, one activation figure per VAE, and the per-latent tables. Every image enlarges on click;
 * "compare" pins one image so that the next one opens beside it, with a blink toggle.
 */
import type { CompareResult } from '../compare/run-compare.js';
import { NOT_AVAILABLE, percent, ssimText } from '../format.js';
import { type CompareFilesIndex, cellSummary, fmtDb, fmtMeanStd, precisionTitle, thresholdText } from './compare-report.js';

export interface HtmlMeta {
  vaecheck: string;
  onnxruntime: string;
  createdAt: string;
  /** relative paths of the activation figures (SVG), per VAE label */
  activations: Record<string, string>;
  /** a line under the banner, e.g. why the demo's failure is the expected one */
  note?: string;
}

// check and warning signs that common fonts have (colour emoji fonts are often missing, e.g. headless)
const mark = (pass: boolean) => (pass ? '<span class="ok">✓</span>' : '<span class="warn">⚠</span>');
const summary = (c: Parameters<typeof cellSummary>[0]) => `${mark(c.pass)} ${esc(cellSummary(c).replace(/^(✅|⚠️)\s*/, ''))}`;
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** @param images relative path -> bytes (PNG, or SVG for the activation figures), for embedding */
export function toHtml(r: CompareResult, files: CompareFilesIndex, images: ReadonlyMap<string, Uint8Array>, meta: HtmlMeta): string {
  const uri = (path: string | undefined) => {
    if (!path || !images.has(path)) return '';
    const type = path.endsWith('.svg') ? 'image/svg+xml' : 'image/png';
    return `data:${type};base64,${Buffer.from(images.get(path)!).toString('base64')}`;
  };
  const img = (path: string | undefined, caption: string, cls = 'thumb') => {
    const src = uri(path);
    return src ? `<img class="${cls} zoomable" src="${src}" alt="${esc(caption)}" data-caption="${esc(caption)}" title="${esc(caption)} (click to enlarge)">` : '';
  };
  const failed = r.cells.filter((c) => !c.pass);
  const first = r.latents[0];
  const many = r.latents.length > 1;

  const banner = failed.length === 0
    ? `<div id="verdict" class="banner pass" role="status"><b>PASSED</b> · all ${r.cells.length} cells pass against ${esc(r.reference.key)}</div>`
    : `<div id="verdict" class="banner fail" role="status"><b>FAILED</b> · ${failed.length} of ${r.cells.length} cells fail: ${failed.map((c) => `${esc(c.key)} (${esc(c.reasons.join('; '))})`).join(', ')}</div>`;

  const metaRows: [string, string][] = [
    ['vaecheck', esc(meta.vaecheck)],
    ['onnxruntime', esc(meta.onnxruntime)],
    ['date', `<time datetime="${esc(meta.createdAt)}">${esc(meta.createdAt)}</time>`],
    ['reference', esc(r.reference.key)],
    ['thresholds', esc(thresholdText(r.thresholds))],
    ['latents', r.latents.map((l) => `${esc(l.id)} <span class="dim">[${l.shape.join(', ')}] ${esc(l.origin)}</span>`).join('<br>')],
  ];
  const vaeRows = r.vaes.map((v) => `<tr><td>${esc(v.label)}</td><td>${esc(v.source)}</td><td><code class="sha">${esc(v.sha256)}</code></td><td>${esc(v.naming)}</td><td>${esc(v.storageDtype)}</td></tr>`);
  const metadata = `<section id="metadata"><h2>Run</h2>
<table class="meta">${metaRows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('')}</table>
<table class="meta vaes"><tr><th>VAE</th><th>source</th><th>weights sha256</th><th>naming</th><th>stored as</th></tr>${vaeRows.join('')}</table></section>`;

  const legend = `<section id="legend"><h2>Legend</h2><dl>
<dt>${mark(true)} / ${mark(false)}</dt><dd>${mark(true)}: the decode is finite and meets the thresholds (${esc(thresholdText(r.thresholds))}) against the reference cell ${esc(r.reference.key)}; ${mark(false)}: it does not, with the reason.</dd>
<dt>NaN/Inf</dt><dd>non-finite values in the raw decoder output (a black or broken image), counted before any 8-bit conversion; any NaN/Inf fails the cell.</dd>
<dt>PSNR (dB)</dt><dd>peak signal-to-noise ratio against the reference on the displayed image ((x + 1) / 2 clamped to [0, 1], all channels pooled); inf = identical; n/a when a decode is not finite.</dd>
<dt>SSIM</dt><dd>structural similarity (Wang et al.: Gaussian window 11×11, σ 1.5), per channel then averaged; 1 = identical.</dd>
<dt>max / mean abs</dt><dd>largest and mean absolute difference on the displayed image, in [0, 1].</dd>
<dt>mismatched px</dt><dd>pixels pixelmatch counts as different (threshold 0.1) on the 8-bit images.</dd>
<dt>decoded</dt><dd>the cell's decode of that latent.</dd>
<dt>pixelmatch</dt><dd>red: mismatched pixels; yellow: anti-aliasing; faded grey: the same.</dd>
<dt>|diff|</dt><dd>|difference| to the reference amplified 10× (black = equal, through red and yellow to white = 0.1 of the range or more); magenta: NaN/Inf.</dd>
<dt>mean ± std</dt><dd>over the ${r.latents.length} latent(s), population standard deviation.</dd>
</dl><p class="dim">Click any image to enlarge it; in the enlarged view, “compare” pins it, and the next image you click opens beside it (“blink” flips between the two in place). Links: <code>#zoom=N</code> opens the N-th image, <code>#compare=N,M</code> two of them.</p></section>`;

  const matrix = [
    !first ? '<p class="dim">No latents in this run.</p>' : `<p class="dim">Thumbnails: latent <b>${esc(first.id)}</b>${many ? ` (the first of ${r.latents.length}; the figures are mean ± std over all of them; every latent's images are in its table below)` : ''}.</p>`,
    `<table class="matrix"><tr><th>VAE</th>${r.precisions.map((p) => `<th>decoding in ${precisionTitle(p)}</th>`).join('')}</tr>`,
    ...r.vaes.map((v) => {
      const tds = r.precisions.map((p) => {
        const c = r.cells.find((x) => x.vae === v.label && x.precision === p)!;
        const thumb = first ? `<figure>${img(files.decoded[c.key]?.[first.id], `${c.key} · ${first.id}`, 'cellimg')}<figcaption>${esc(first.id)}</figcaption></figure>` : '';
        return `<td class="${c.pass ? 'pass' : 'fail'}">${thumb}<div class="verdict">${summary(c)}</div>${c.reasons.length ? `<div class="reason">${esc(c.reasons.join('; '))}</div>` : ''}</td>`;
      });
      return `<tr><th>${esc(v.label)}</th>${tds.join('')}</tr>`;
    }),
    '</table>',
  ].join('\n');

  const meanTable = `<section id="means"><h2>Mean ± std over latents</h2><table class="cells means"><tr><th>cell</th><th>verdict</th><th>NaN/Inf</th><th>PSNR (dB)</th><th>SSIM</th>${r.cells.some((c) => c.psnrVsImage) ? '<th>PSNR vs image (dB)</th>' : ''}</tr>${r.cells
    .map((c) => `<tr class="${c.pass ? 'pass' : 'fail'}"><td>${esc(c.key)}${c.isReference ? ' (ref)' : ''}</td><td>${mark(c.pass)}</td><td>${percent(c.nonFiniteFraction)}%</td><td>${esc(fmtMeanStd(c.psnr, fmtDb))}</td><td>${esc(fmtMeanStd(c.ssim, (x) => ssimText(x, NOT_AVAILABLE)))}</td>${c.psnrVsImage ? `<td>${esc(fmtMeanStd(c.psnrVsImage, fmtDb))}</td>` : ''}</tr>`)
    .join('')}</table></section>`;

  const figures = (r.activations ?? []).map((a) => {
    const path = meta.activations[a.vae];
    let top = { name: '', maxAbs: 0 };
    for (const l of a.layers) if (l.nan + l.inf === 0 && l.maxAbs > top.maxAbs) top = l;
    const head = top.maxAbs > 0 ? ` Largest |x| ${top.maxAbs.toPrecision(5)} at ${top.name}: ${top.maxAbs > 65504 ? 'beyond' : 'within'} fp16's 65504 (headroom x${(65504 / top.maxAbs).toPrecision(3)}).` : '';
    return `<figure class="activation">${img(path, `${a.vae}: activations at fp32 on ${a.latent}`, 'plot')}<figcaption>${esc(a.vae)}: largest |x| per op, fp32 decode of ${esc(a.latent)}.${esc(head)}</figcaption></figure>`;
  });
  const activations = figures.length === 0 ? '' : `<section id="activations"><h2>Activations</h2><p class="dim">How close each VAE runs to fp16's largest finite value, 65504 (dashed): an fp32 run, so values beyond it show where fp16 would overflow. <code>vaecheck nan-scan</code> names the ops.</p>${figures.join('\n')}</section>`;

  const tables = r.latents.map((l, i) => {
    const rows = r.cells.map((c) => {
      const it = c.items[i];
      const thumbs = [
        img(files.decoded[c.key]?.[l.id], `${c.key} · ${l.id} · decoded`),
        img(files.pixelmatch[c.key]?.[l.id], `${c.key} · ${l.id} · pixelmatch vs ${r.reference.key}`),
        img(files.heatmap[c.key]?.[l.id], `${c.key} · ${l.id} · |diff| ×10 vs ${r.reference.key}`),
      ].join('');
      return `<tr class="${it.pass ? 'pass' : 'fail'}"><td>${esc(c.key)}${c.isReference ? ' (ref)' : ''}</td><td>${mark(it.pass)} ${esc(it.reasons.join('; '))}</td><td>${it.nan + it.inf} (${percent(it.nonFiniteFraction)}%)</td><td>${fmtDb(it.psnr)}</td><td>${ssimText(it.ssim, NOT_AVAILABLE)}</td><td>${it.mismatchedPixels}</td>${it.psnrVsImage !== undefined ? `<td>${fmtDb(it.psnrVsImage)}</td>` : ''}<td>${thumbs}</td></tr>`;
    });
    const imgCol = r.cells.some((c) => c.items[i].psnrVsImage !== undefined) ? '<th>PSNR vs image</th>' : '';
    return `<h2>${esc(l.id)}</h2><p>${esc(l.origin)}, latent [${l.shape.join(', ')}]</p><table class="cells"><tr><th>cell</th><th>verdict</th><th>NaN/Inf</th><th>PSNR (dB)</th><th>SSIM</th><th>mismatched px</th>${imgCol}<th>decoded · pixelmatch · |diff|</th></tr>${rows.join('')}</table>`;
  });

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vaecheck compare: ${failed.length === 0 ? 'PASSED' : 'FAILED'}</title>
<style>
body{font-family:system-ui,-apple-system,"DejaVu Sans",sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:12px 0}
th,td{border:1px solid #ccc;padding:6px 10px;text-align:center;vertical-align:middle}
.banner{padding:12px 16px;font-size:18px;border-radius:4px;margin:8px 0 16px}
.banner.pass{background:#2e9e44;color:#fff}.banner.fail{background:#c0392b;color:#fff}
.note{margin:-8px 0 16px;color:#444}
.meta th{text-align:left;background:#f6f6f6}.meta td{text-align:left}.sha{font-size:12px}.dim{color:#666;font-size:13px}
#legend dl{display:grid;grid-template-columns:max-content auto;gap:4px 12px;margin:8px 0}#legend dt{font-weight:600}#legend dd{margin:0}
.matrix figure{margin:0 auto 6px}.matrix figcaption{font-size:12px;color:#666}
.cellimg{width:192px;height:auto;image-rendering:pixelated;display:block;margin:0 auto}
.matrix td.pass{background:#eefaf0}.matrix td.fail{background:#fff4e5}
.verdict{font-size:18px;font-weight:600}.reason{font-size:12px;color:#8a4b00}
.cells tr.fail{background:#fff4e5}.thumb{width:96px;margin:0 2px;image-rendering:pixelated}
.cells td:last-child{white-space:nowrap}.ok{color:#2e9e44;font-weight:bold}.warn{color:#e08a00;font-weight:bold}
.zoomable{cursor:zoom-in}.activation{margin:12px 0}.plot{max-width:100%;border:1px solid #eee}
#zoom{max-width:96vw;max-height:96vh;border:0;padding:12px;box-shadow:0 4px 24px rgba(0,0,0,.4)}
#zoom .pair{display:flex;gap:12px;align-items:flex-start}#zoom figure{margin:0}
#zoom img{max-width:44vw;max-height:80vh;image-rendering:pixelated;min-width:256px}#zoom .single img{max-width:90vw}
#zoom .bar{display:flex;gap:8px;margin-top:8px}
</style></head><body>
<h1>vaecheck compare</h1>
${banner}
${meta.note ? `<p class="note">${esc(meta.note)}</p>` : ''}
${matrix}
${legend}
${metadata}
${meanTable}
${activations}
${tables.join('\n')}
<dialog id="zoom"><div id="zoom-body"></div><div class="bar"><button id="zoom-pin" type="button">compare</button><button id="zoom-blink" type="button" hidden>blink</button><button id="zoom-close" type="button">close</button></div></dialog>
<script>
(() => {
  const dlg = document.getElementById('zoom'), body = document.getElementById('zoom-body');
  const pinBtn = document.getElementById('zoom-pin'), blinkBtn = document.getElementById('zoom-blink');
  let pinned = null, current = null, pair = null, shown = 1;
  const fig = (im) => { const f = document.createElement('figure'); const i = document.createElement('img'); i.src = im.src; i.alt = im.alt; const c = document.createElement('figcaption'); c.textContent = im.dataset.caption; f.append(i, c); return f; };
  const show = (im) => {
    current = im; body.replaceChildren();
    if (pinned && pinned !== im) { pair = [pinned, im]; shown = 1; blinkBtn.textContent = 'blink'; const d = document.createElement('div'); d.className = 'pair'; d.append(fig(pinned), fig(im)); body.append(d); blinkBtn.hidden = false; pinned = null; pinBtn.textContent = 'compare'; }
    else { pair = null; const d = document.createElement('div'); d.className = 'single'; d.append(fig(im)); body.append(d); blinkBtn.hidden = true; }
    if (!dlg.open) dlg.showModal();
  };
  document.querySelectorAll('img.zoomable').forEach((im) => im.addEventListener('click', () => show(im)));
  pinBtn.addEventListener('click', () => { pinned = current; pinBtn.textContent = 'pinned: click another image'; dlg.close(); });
  blinkBtn.addEventListener('click', () => { if (!pair) return; shown = 1 - shown; body.querySelector('.pair').replaceChildren(fig(pair[shown])); blinkBtn.textContent = 'blink (' + (shown === 0 ? 'first' : 'second') + ')'; });
  document.getElementById('zoom-close').addEventListener('click', () => dlg.close());
  // deep links: #zoom=N opens the N-th image (from 1), #compare=N,M opens two side by side
  const imgs = [...document.querySelectorAll('img.zoomable')];
  const m = /^#(zoom|compare)=(\\d+)(?:,(\\d+))?$/.exec(location.hash);
  if (m && imgs[m[2] - 1]) { if (m[1] === 'compare' && imgs[m[3] - 1]) { pinned = imgs[m[2] - 1]; show(imgs[m[3] - 1]); } else show(imgs[m[2] - 1]); }
  dlg.addEventListener('click', (e) => { if (e.target === dlg) dlg.close(); });
})();
</script>
</body></html>
`;
}

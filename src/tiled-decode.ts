/**
 * Tiled decoding, the way diffusers' AutoencoderKL.tiled_decode does it, so that a latent far larger
 * than memory allows (2048x2048 images and up) still decodes, and decodes to what a diffusers user
 * with `vae.enable_tiling()` gets.
 *
 * diffusers' algorithm (autoencoder_kl.py, tiled_decode / blend_v / blend_h):
 *   tile_sample_min_size = config.sample_size (pixels), tile_latent_min_size = that / 2^(levels-1),
 *   overlap factor 0.25; latent tiles of tile_latent_min_size start every
 *   int(tile_latent_min_size * 0.75) rows / columns (edge tiles are cut short by the latent's end);
 *   each decoded tile is blended with the tile above it over the first
 *   blend = int(tile_sample_min_size * 0.25) rows (blend_v), then with the tile to its left over the
 *   first `blend` columns (blend_h), weights linear in the position: at offset y of the blend,
 *   b = a[-blend + y] * (1 - y / blend) + b[y] * (y / blend), with blend cut to the smaller tile;
 *   the tiles above / to the left are the already blended ones (diffusers blends in place). Each
 *   blended tile contributes its first tile_sample_min_size - blend rows and columns; the results are
 *   concatenated in order.
 *
 * The blend is computed as a GPU computes it in the decode's precision: each of the two products
 * and their sum is rounded to the tensor's type (float32, or float16 / bfloat16 under emulation),
 * the weights being float32 numbers.
 *
 * Tiling changes the output (each tile sees only its own context, and GroupNorm statistics are per
 * tile), so every result says whether it was tiled.
 */
import { type Precision, bf16BitsToFloat, f16BitsToFloat, floatToBf16Bits, floatToF16Bits } from './dtype.js';
import { UsageError } from './errors.js';
import type { Tensor } from './tensor.js';

/** diffusers' tile_overlap_factor */
export const TILE_OVERLAP = 0.25;
/**
 * Tile size when the VAE has no config.json: the sample_size of SDXL's, SD3's and FLUX's VAE configs
 * (SD 1.x uses 512; the weights alone cannot tell them apart).
 */
export const DEFAULT_TILE_SAMPLE_SIZE = 1024;
/**
 * 'auto' tiles a decode whose latent area exceeds this: 128x128 latents (1024x1024 SDXL images) are
 * the largest that decode whole within 4 GB; larger whole decodes grow with the area (and the mid-block
 * attention with its square).
 */
export const AUTO_TILE_LATENT_AREA = 128 * 128;

/** 'auto': only latents larger than AUTO_TILE_LATENT_AREA (and than one tile); 'always': as diffusers with enable_tiling(); 'never' */
export type TilingMode = 'auto' | 'always' | 'never';
export const TILING_MODES: readonly TilingMode[] = ['auto', 'always', 'never'];

export interface TileGeometry {
  /** tile_sample_min_size: tile side in pixels */
  sampleSize: number;
  /** tile_latent_min_size: tile side in latent cells */
  latentSize: number;
  /** overlap_size: latent cells from one tile's start to the next */
  stride: number;
  /** blend_extent: pixels blended with the neighbour above / to the left */
  blend: number;
  /** row_limit: pixels of each tile kept */
  keep: number;
}

/** What a tiled decode did, for reports. */
export interface TilingInfo {
  tileSampleSize: number;
  tileLatentSize: number;
  overlap: number;
  /** tiles per batch decode: rows x columns */
  rows: number;
  columns: number;
}

/** diffusers' tile sizes for a VAE whose decoder upsamples by 2^(levels-1). */
export function tileGeometry(sampleSize: number, levels: number, overlap = TILE_OVERLAP): TileGeometry {
  const latentSize = Math.trunc(sampleSize / 2 ** (levels - 1));
  const stride = Math.trunc(latentSize * (1 - overlap));
  const blend = Math.trunc(sampleSize * overlap);
  return { sampleSize, latentSize, stride, blend, keep: sampleSize - blend };
}

/**
 * Whether a latent of h x w is decoded in tiles under `mode`.
 * @throws UsageError for 'always' with tiles too small to advance (fewer than 2 latent cells)
 */
export function shouldTile(mode: TilingMode, h: number, w: number, g: TileGeometry): boolean {
  if (mode === 'never') return false;
  if (g.stride < 1) {
    if (mode === 'auto') return false;
    throw new UsageError(`tile size ${g.sampleSize} px is too small for this decoder: a tile must span at least 2 latent cells (${g.latentSize} here)`);
  }
  const larger = h > g.latentSize || w > g.latentSize; // diffusers tiles only then
  return mode === 'always' ? larger : larger && h * w > AUTO_TILE_LATENT_AREA;
}

/** Tile starts along one axis: range(0, n, stride). */
function starts(n: number, stride: number): number[] {
  const s: number[] = [];
  for (let i = 0; i < n; i += stride) s.push(i);
  return s;
}

/** The rounding of one arithmetic result to the decode's type. */
export function rounder(precision: Precision): (x: number) => number {
  if (precision === 'fp16') return (x) => f16BitsToFloat(floatToF16Bits(Math.fround(x)));
  if (precision === 'bf16') return (x) => bf16BitsToFloat(floatToBf16Bits(Math.fround(x)));
  return Math.fround;
}

/** z[:, :, y0:y1, x0:x1] as a new tensor. */
function crop(t: Tensor, y0: number, y1: number, x0: number, x1: number): Tensor {
  const [n, c, h, w] = t.shape;
  const ch = y1 - y0;
  const cw = x1 - x0;
  const out = new Float32Array(n * c * ch * cw);
  for (let p = 0; p < n * c; p++) {
    for (let y = 0; y < ch; y++) {
      const src = (p * h + y0 + y) * w + x0;
      out.set(t.data.subarray(src, src + cw), (p * ch + y) * cw);
    }
  }
  return { shape: [n, c, ch, cw], data: out };
}

/** blend_v: the first rows of b take in the last rows of a, in place. */
function blendV(a: Tensor, b: Tensor, extent: number, round: (x: number) => number): void {
  const [n, c, ha, w] = a.shape;
  const hb = b.shape[2];
  const e = Math.min(ha, hb, extent);
  for (let y = 0; y < e; y++) {
    const wb = Math.fround(y / e);
    const wa = Math.fround(1 - y / e);
    for (let p = 0; p < n * c; p++) {
      const ra = (p * ha + ha - e + y) * w;
      const rb = (p * hb + y) * w;
      for (let x = 0; x < w; x++) b.data[rb + x] = round(round(a.data[ra + x] * wa) + round(b.data[rb + x] * wb));
    }
  }
}

/** blend_h: the first columns of b take in the last columns of a, in place. */
function blendH(a: Tensor, b: Tensor, extent: number, round: (x: number) => number): void {
  const [n, c, h, wa] = a.shape;
  const wbLen = b.shape[3];
  const e = Math.min(wa, wbLen, extent);
  for (let x = 0; x < e; x++) {
    const wb = Math.fround(x / e);
    const wA = Math.fround(1 - x / e);
    for (let p = 0; p < n * c; p++) {
      for (let y = 0; y < h; y++) {
        const ia = (p * h + y) * wa + wa - e + x;
        const ib = (p * h + y) * wbLen + x;
        b.data[ib] = round(round(a.data[ia] * wA) + round(b.data[ib] * wb));
      }
    }
  }
}

/**
 * Decodes latents `z` [N, C, h, w] tile by tile with `decodeTile` and blends the tiles as diffusers
 * does. Only one row of decoded tiles is held besides the output.
 */
export async function tiledDecode(
  z: Tensor,
  g: TileGeometry,
  precision: Precision,
  decodeTile: (tile: Tensor) => Promise<Tensor>,
): Promise<{ output: Tensor; info: TilingInfo }> {
  const [, , h, w] = z.shape;
  const round = rounder(precision);
  const ys = starts(h, g.stride);
  const xs = starts(w, g.stride);
  let above: Tensor[] = [];
  const keptRows: Tensor[][] = [];
  for (let r = 0; r < ys.length; r++) {
    const row: Tensor[] = [];
    for (let c = 0; c < xs.length; c++) {
      const tile = await decodeTile(crop(z, ys[r], Math.min(h, ys[r] + g.latentSize), xs[c], Math.min(w, xs[c] + g.latentSize)));
      if (r > 0) blendV(above[c], tile, g.blend, round);
      if (c > 0) blendH(row[c - 1], tile, g.blend, round);
      row.push(tile);
    }
    // a tile's blended form serves its right neighbour (done) and the tile below (next row); only the
    // kept part reaches the output
    keptRows.push(row.map((t) => crop(t, 0, Math.min(g.keep, t.shape[2]), 0, Math.min(g.keep, t.shape[3]))));
    above = row;
  }
  return { output: assemble(keptRows), info: { tileSampleSize: g.sampleSize, tileLatentSize: g.latentSize, overlap: TILE_OVERLAP, rows: ys.length, columns: xs.length } };
}

/** One line for logs and reports: how a decode was tiled and what that means. */
export function describeTiling(t: TilingInfo): string {
  return `decoded in ${t.rows}x${t.columns} overlapping tiles of ${t.tileSampleSize} px (overlap ${t.overlap}, blended as diffusers' enable_tiling does); tiled output differs from a whole decode near tile seams`;
}

/** torch.cat of each row along width, then of the rows along height. */
function assemble(rows: Tensor[][]): Tensor {
  const [n, c] = rows[0][0].shape;
  const heights = rows.map((r) => r[0].shape[2]);
  const widths = rows[0].map((t) => t.shape[3]);
  const H = heights.reduce((a, b) => a + b, 0);
  const W = widths.reduce((a, b) => a + b, 0);
  const out = new Float32Array(n * c * H * W);
  let y0 = 0;
  for (let r = 0; r < rows.length; r++) {
    let x0 = 0;
    for (let k = 0; k < rows[r].length; k++) {
      const t = rows[r][k];
      const [, , th, tw] = t.shape;
      for (let p = 0; p < n * c; p++) {
        for (let y = 0; y < th; y++) out.set(t.data.subarray((p * th + y) * tw, (p * th + y + 1) * tw), (p * H + y0 + y) * W + x0);
      }
      x0 += tw;
    }
    y0 += heights[r];
  }
  return { shape: [n, c, H, W], data: out };
}

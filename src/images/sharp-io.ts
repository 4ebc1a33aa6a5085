/**
 * Images <-> tensors. The only module that imports sharp.
 *
 * Conventions (all exact, tested in test/images/sharp-io.test.ts):
 * - A decoded image is RGB, NCHW `[1, 3, H, W]`, float32, in [-1, 1]: `x = v / 127.5 - 1` for 8-bit `v`.
 * - EXIF orientation is applied; 16-bit, greyscale and CMYK inputs are converted to 8-bit sRGB.
 * - Alpha is DROPPED (the colour under a transparent pixel is kept), as diffusers' `load_image`
 *   does with PIL's `convert("RGB")`, so results match what a diffusers pipeline feeds the VAE.
 * - Resizing (when asked) is a centre crop to the target aspect ratio then a Lanczos-3 resample
 *   (sharp's `fit: 'cover', position: 'centre', kernel: 'lanczos3'`).
 */
import { stat } from 'node:fs/promises';
import sharp from 'sharp';
import { BadInputError, expected } from '../errors.js';
import type { Tensor } from '../tensor.js';


export interface ReadImageOptions {
  /**
   * Output size; default: the image's own size (after EXIF rotation). The image is centre-cropped
   * to this aspect ratio and resampled with Lanczos-3. Not checked against the VAE's multiple of 8:
   * the caller validates that.
   */
  size?: { height: number; width: number };
}

const READABLE = 'not a readable image (png, jpg, webp, tiff, gif, avif)';

function checkDim(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(expected('a positive integer', name, value));
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Reads an image file as an RGB NCHW float32 tensor [1, 3, H, W] in [-1, 1].
 *
 * @example const { shape, data } = await readImage('cat.png', { size: { height: 512, width: 512 } });
 * @throws {BadInputError} the file is missing, not a file, corrupt, truncated or not an image
 *   (message `<path>: <problem>`).
 * @throws {RangeError} `size` has a non-positive or non-integer side.
 */
export async function readImage(path: string, options: ReadImageOptions = {}): Promise<Tensor> {
  const { size } = options;
  if (size !== undefined) {
    checkDim(size.height, 'size.height');
    checkDim(size.width, 'size.width');
  }
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new BadInputError(path, 'not a file');
  } catch (err) {
    if (err instanceof BadInputError) throw err;
    throw new BadInputError(path, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : reason(err));
  }

  let pixels: Buffer;
  let width: number;
  let height: number;
  try {
    // Stage 1: decode, orient, drop alpha, 8-bit sRGB. Kept separate from the resize so that the
    // alpha channel never takes part in resampling (sharp would premultiply it).
    const decoded = await sharp(path, { failOn: 'error' })
      .autoOrient()
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (decoded.info.channels !== 3) {
      throw new Error(`decoded to ${decoded.info.channels} channels, expected 3`);
    }
    ({ data: pixels, info: { width, height } } = decoded);
    if (size !== undefined && (size.width !== width || size.height !== height)) {
      pixels = await sharp(pixels, { raw: { width, height, channels: 3 } })
        .resize(size.width, size.height, { fit: 'cover', position: 'centre', kernel: 'lanczos3' })
        .raw()
        .toBuffer();
      ({ width, height } = size);
    }
  } catch (err) {
    throw new BadInputError(path, `${READABLE}: ${reason(err)}`);
  }

  const plane = width * height;
  const data = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    data[i] = pixels[3 * i] / 127.5 - 1;
    data[plane + i] = pixels[3 * i + 1] / 127.5 - 1;
    data[2 * plane + i] = pixels[3 * i + 2] / 127.5 - 1;
  }
  return { shape: [1, 3, height, width], data };
}

/**
 * Converts one CHW image (at `offset` in `data`, e.g. `n * c * h * w` for image n of a batch) from
 * [-1, 1] to interleaved 8-bit RGB: `round((x + 1) / 2 * 255)` clamped to [0, 255] (halves round up).
 * `c` may be 3, or 1 (grey, replicated to RGB).
 *
 * NaN becomes 0 (black), +Inf 255, -Inf 0: this is where non-finite values disappear, so count
 * them (metrics/nonfinite) before calling this.
 *
 * @throws {RangeError} `c` is not 1 or 3, or `data` is too short for `offset + c*h*w`.
 */
export function tensorToRgb8(data: Float32Array, c: number, h: number, w: number, offset = 0): Uint8Array {
  if (c !== 1 && c !== 3) throw new RangeError(expected('1 or 3', 'channels', c));
  checkDim(h, 'height');
  checkDim(w, 'width');
  const plane = h * w;
  if (!Number.isInteger(offset) || offset < 0 || offset + c * plane > data.length) {
    throw new RangeError(expected(`an offset with offset + ${c * plane} <= ${data.length}`, 'offset', offset));
  }
  const out = new Uint8Array(3 * plane);
  for (let ch = 0; ch < 3; ch++) {
    const base = offset + (c === 1 ? 0 : ch) * plane;
    for (let i = 0; i < plane; i++) {
      const v = Math.round(((data[base + i] + 1) / 2) * 255);
      out[3 * i + ch] = v >= 255 ? 255 : v > 0 ? v : 0; // NaN fails both tests -> 0
    }
  }
  return out;
}

/**
 * Encodes interleaved 8-bit pixels as PNG bytes (for OutputSet's all-or-nothing writes).
 * @throws {RangeError} `pixels.length !== width * height * channels`.
 */
export async function encodePng(pixels: Uint8Array, width: number, height: number, channels: 3 | 4 = 3): Promise<Buffer> {
  checkDim(width, 'width');
  checkDim(height, 'height');
  if (pixels.length !== width * height * channels) {
    throw new RangeError(expected(`${width * height * channels} bytes (${width}x${height}x${channels})`, 'pixels', `${pixels.length} bytes`));
  }
  return sharp(pixels, { raw: { width, height, channels } }).png().toBuffer();
}

/** Renders SVG text to PNG bytes (text needs system fonts, e.g. Debian's fonts-dejavu-core). */
export async function svgToPng(svg: string, density = 144): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density }).png().toBuffer();
}

/**
 * Writes interleaved 8-bit pixels as a PNG (sharp's default PNG settings, no metadata).
 * Pass 8-bit data only: sharp reads raw Float32 input as 16-bit.
 *
 * @param channels 3 (RGB, default) or 4 (RGBA, e.g. pixelDiff's `diff`).
 * @throws {RangeError} `pixels.length !== width * height * channels`.
 * @throws {BadInputError} the file cannot be written (message `<path>: cannot write PNG: ...`).
 */
export async function writePng(path: string, pixels: Uint8Array, width: number, height: number, channels: 3 | 4 = 3): Promise<void> {
  checkDim(width, 'width');
  checkDim(height, 'height');
  if (channels !== 3 && channels !== 4) throw new RangeError(expected('3 or 4', 'channels', channels));
  if (pixels.length !== width * height * channels) {
    throw new RangeError(expected(`${width * height * channels} bytes (${width}x${height}x${channels})`, 'pixels', `${pixels.length} bytes`));
  }
  try {
    await sharp(pixels, { raw: { width, height, channels } }).png().toFile(path);
  } catch (err) {
    throw new BadInputError(path, `cannot write PNG: ${reason(err)}`);
  }
}

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp'; // only to make an EXIF-rotated JPEG; src/ reaches sharp through src/images
import { readImage, tensorToRgb8, writePng } from '../../src/images/sharp-io.js';
import { BadInputError, EXIT } from '../../src/errors.js';

const photos = fileURLToPath(new URL('../../fixtures/photos/', import.meta.url));
let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vaecheck-images-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function bytes(n: number, seed: number): Uint8Array {
  let s = seed;
  return Uint8Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0), s >>> 24));
}

test('PNG round trip is exact for 8-bit RGB (writePng -> readImage -> tensorToRgb8)', async () => {
  const [w, h] = [13, 7];
  const rgb = bytes(w * h * 3, 1);
  rgb.set([0, 255, 128], 0);
  const file = join(dir, 'rt.png');
  await writePng(file, rgb, w, h);
  const img = await readImage(file);
  assert.deepEqual(img.shape, [1, 3, h, w]);
  assert.deepEqual(tensorToRgb8(img.data, 3, h, w), rgb);
  assert.deepEqual([img.data[0], img.data[h * w], img.data[2 * h * w]], [-1, 1, Math.fround(128 / 127.5 - 1)]);
});

test('alpha is dropped, keeping the colour under transparent pixels', async () => {
  const rgba = Uint8Array.from([10, 20, 30, 0, 40, 50, 60, 128, 70, 80, 90, 255]);
  const file = join(dir, 'alpha.png');
  await writePng(file, rgba, 3, 1, 4);
  const img = await readImage(file);
  assert.deepEqual(Array.from(tensorToRgb8(img.data, 3, 1, 3)), [10, 20, 30, 40, 50, 60, 70, 80, 90]);
});

test('EXIF orientation is applied (orientation 6: 3x2 stored -> 2 wide, 3 high)', async () => {
  const file = join(dir, 'o6.jpg');
  await sharp(Buffer.from(bytes(3 * 2 * 3, 2)), { raw: { width: 3, height: 2, channels: 3 } })
    .jpeg()
    .withMetadata({ orientation: 6 })
    .toFile(file);
  assert.deepEqual((await readImage(file)).shape, [1, 3, 3, 2]);
});

for (const [name, size, shape] of [
  ['chelsea.png', undefined, [1, 3, 128, 128]],
  ['coffee-64.png', undefined, [1, 3, 64, 64]],
  ['rocket.png', { height: 64, width: 64 }, [1, 3, 64, 64]],
  ['astronaut.png', { height: 64, width: 32 }, [1, 3, 64, 32]],
] as const) {
  test(`readImage fixtures/photos/${name} ${JSON.stringify(size ?? 'own size')} -> [${shape}] in [-1, 1]`, async () => {
    const img = await readImage(join(photos, name), size ? { size } : {});
    assert.deepEqual(img.shape, shape);
    assert.equal(img.data.length, shape[1] * shape[2] * shape[3]);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of img.data) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    assert.ok(lo >= -1 && hi <= 1 && hi - lo > 1, `range [${lo}, ${hi}]`);
  });
}

test('resizing a photo to its own size changes nothing', async () => {
  const a = await readImage(join(photos, 'coffee.png'));
  const b = await readImage(join(photos, 'coffee.png'), { size: { height: 128, width: 128 } });
  assert.deepEqual(a.data, b.data);
});

for (const [label, make] of [
  ['random bytes', async (f: string) => writeFile(f, bytes(600, 3))],
  ['a truncated PNG', async (f: string) => writeFile(f, (await readFile(join(photos, 'chelsea.png'))).subarray(0, 5000))],
  ['a truncated JPEG', async (f: string) => {
    const jpg = await sharp(join(photos, 'chelsea.png')).jpeg().toBuffer();
    await writeFile(f, jpg.subarray(0, jpg.length >> 1));
  }],
  ['an empty file', async (f: string) => writeFile(f, '')],
  ['a missing file', async () => undefined],
  ['a directory', null],
] as const) {
  test(`readImage of ${label} throws BadInputError naming the file`, async () => {
    const file = make ? join(dir, `bad-${label.replace(/\W+/g, '-')}.png`) : dir;
    if (make) await make(file);
    await assert.rejects(readImage(file), (err: unknown) => {
      assert.ok(err instanceof BadInputError, String(err));
      assert.equal(err.file, file);
      assert.equal(err.exitCode, EXIT.badInput);
      assert.ok(err.message.startsWith(`${file}: `), err.message);
      return true;
    });
  });
}

test('readImage rejects a non-integer size', async () => {
  await assert.rejects(readImage(join(photos, 'chelsea.png'), { size: { height: 64.5, width: 64 } }), /size\.height/);
});

test('tensorToRgb8: rounding, clamping, NaN -> 0, batch offset, grey', () => {
  const data = new Float32Array([-1, 1, 0, NaN, Infinity, -Infinity, 2, -2, 2 / 255 - 1]);
  // c=1, h=1, w=9: grey replicated to RGB
  const grey = tensorToRgb8(data, 1, 1, 9);
  assert.deepEqual(Array.from(grey.filter((_, i) => i % 3 === 0)), [0, 255, 128, 0, 255, 0, 255, 0, 1]);
  // c=3, h=1, w=1, second item of a batch of 3 images
  assert.deepEqual(Array.from(tensorToRgb8(data, 3, 1, 1, 3)), [0, 255, 0]);
  assert.throws(() => tensorToRgb8(data, 2, 1, 1), /channels/);
  assert.throws(() => tensorToRgb8(data, 3, 1, 3, 1), /offset/);
});

test('writePng: wrong length -> RangeError; unwritable path -> BadInputError', async () => {
  await assert.rejects(writePng(join(dir, 'x.png'), new Uint8Array(5), 2, 1), RangeError);
  const bad = join(dir, 'no-such-dir', 'x.png');
  await assert.rejects(writePng(bad, new Uint8Array(6), 2, 1), (err: unknown) => err instanceof BadInputError && err.file === bad);
});

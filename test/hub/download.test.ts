/**
 * Downloads that go wrong, against the loopback fake Hub: a connection cut mid-body (resumed with
 * a Range request, in the same call or the next), bytes that do not match the Hub's sha256 (refused,
 * nothing cached), and a cache entry corrupted on disk (reported with the file to delete). Never a
 * partial file under a final name.
 */
import { BadInputError } from '../../src/errors.js';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DownloadProgress } from '../../src/hub/download.js';
import { HubCorruptBlobError } from '../../src/hub/hub-errors.js';
import { resolveHubVae } from '../../src/hub/resolve.js';
import { parseHubSpec } from '../../src/hub/spec.js';
import { FakeHub, commitOf, gitSha1, sha256 } from './fake-hub.js';
import { type RepoBytes, fakeRepos, repoBytes, testEnv } from './repos.js';
import { rejects } from './rejects.js';

let hub: FakeHub;
let b: RepoBytes;
const cleanups: (() => void)[] = [];

before(async () => {
  b = repoBytes();
  hub = await FakeHub.start(fakeRepos(b));
});
after(async () => {
  await hub.close();
  for (const c of cleanups) c();
});

function fresh() {
  const t = testEnv(hub.endpoint);
  cleanups.push(t.cleanup);
  return t;
}

const WEIGHTS = 'diffusion_pytorch_model.safetensors';
const spec = () => parseHubSpec('madebyollin/sdxl-vae-fp16-fix')!;
const blobsOf = (cache: string) => join(cache, 'models--madebyollin--sdxl-vae-fp16-fix', 'blobs');
const snapshotOf = (cache: string) => join(cache, 'models--madebyollin--sdxl-vae-fp16-fix', 'snapshots', commitOf('madebyollin/sdxl-vae-fp16-fix'));


test('resume after a cut connection: the part is kept, the next run continues with Range', async () => {
  const { env, cache } = fresh();
  const cut = 1_000_000;
  hub.cutDownload(WEIGHTS, cut);
  const etag = sha256(b.safe);
  const incomplete = join(blobsOf(cache), `${etag}.incomplete`);
  const n0 = hub.requests.length;
  await rejects(resolveHubVae(spec(), { env, retries: 0 }), /cut off at \d+ of \d+ bytes .*the next run resumes it/, 5);
  assert.ok(existsSync(incomplete), 'the part is kept as blobs/<etag>.incomplete');
  const kept = statSync(incomplete).size;
  assert.ok(kept > 0 && kept <= cut, `kept ${kept} bytes`);
  assert.deepEqual(readFileSync(incomplete), b.safe.subarray(0, kept), 'the part holds the first bytes');
  assert.ok(!existsSync(join(blobsOf(cache), etag)), 'no blob under its final name');
  assert.ok(!existsSync(join(snapshotOf(cache), WEIGHTS)), 'no snapshot link');
  assert.ok(!existsSync(join(cache, 'models--madebyollin--sdxl-vae-fp16-fix', 'refs', 'main')), 'no ref before the VAE is whole');
  assert.ok(hub.requests.slice(n0).every((q) => q.headers.range === undefined), 'the first attempt asked for the whole file');

  const events: DownloadProgress[] = [];
  const n1 = hub.requests.length;
  const r = await resolveHubVae(spec(), { env, retries: 0, onProgress: (e) => events.push(e) });
  const cdn = hub.requests.slice(n1).filter((q) => q.path.startsWith('/cdn/'));
  assert.equal(cdn.length, 1);
  assert.equal(cdn[0].headers.range, `bytes=${kept}-`, 'continued with a Range request');
  assert.deepEqual(readFileSync(join(blobsOf(cache), etag)), b.safe, 'the resumed blob is whole and right');
  assert.ok(!existsSync(incomplete));
  assert.deepEqual(r.downloaded, [WEIGHTS]);
  // progress: starts at what was kept, never goes back, ends at the total
  assert.deepEqual(events[0], { repo: 'madebyollin/sdxl-vae-fp16-fix', file: WEIGHTS, done: kept, total: b.safe.length, state: 'start' });
  assert.deepEqual(events.at(-1), { repo: 'madebyollin/sdxl-vae-fp16-fix', file: WEIGHTS, done: b.safe.length, total: b.safe.length, state: 'done' });
  for (let i = 1; i < events.length; i++) assert.ok(events[i].done >= events[i - 1].done);
});

test('a cut connection is retried within the same call, resuming with Range', async () => {
  const { env, cache } = fresh();
  hub.cutDownload(WEIGHTS, 300_000);
  const n = hub.requests.length;
  await resolveHubVae(spec(), { env });
  const cdn = hub.requests.slice(n).filter((q) => q.path.startsWith('/cdn/'));
  assert.equal(cdn.length, 2);
  assert.equal(cdn[0].headers.range, undefined);
  assert.match(cdn[1].headers.range ?? '', /^bytes=[1-9]\d*-$/);
  assert.deepEqual(readFileSync(join(blobsOf(cache), sha256(b.safe))), b.safe);
});

test('bytes that do not match the Hub\'s sha256 are refused: nothing cached, not even the part', async () => {
  const { env, cache } = fresh();
  hub.corruptDownload(WEIGHTS);
  const etag = sha256(b.safe);
  await rejects(resolveHubVae(spec(), { env }), new RegExp(`download of ${WEIGHTS} does not match the Hub's sha256 \\(got [0-9a-f]{64}, expected ${etag}\\): nothing was cached`), 5);
  assert.deepEqual(readdirSync(blobsOf(cache)), [gitSha1(b.tinyConfig)], 'only config.json\'s blob: no weights blob, no .incomplete');
  assert.ok(!existsSync(join(snapshotOf(cache), WEIGHTS)));
  // the next run downloads it afresh
  await resolveHubVae(spec(), { env });
  assert.deepEqual(readFileSync(join(blobsOf(cache), etag)), b.safe);
});

test('a corrupted cache entry is reported with the file to delete; deleting it fixes it', async () => {
  const { env, cache } = fresh();
  await resolveHubVae(spec(), { env });
  const blob = join(blobsOf(cache), sha256(b.safe));
  const bytes = readFileSync(blob);
  bytes[100] ^= 1;
  writeFileSync(blob, bytes);
  const n = hub.requests.length;
  const e = await rejects(resolveHubVae(spec(), { env }), /corrupted cache entry for madebyollin\/sdxl-vae-fp16-fix\/diffusion_pytorch_model\.safetensors: its sha256 is [0-9a-f]{64}, expected [0-9a-f]{64}; delete this file and run again/);
  assert.ok(e instanceof HubCorruptBlobError);
  assert.ok(e instanceof BadInputError);
  assert.equal(e.file, blob, 'the message starts with the blob to delete');
  assert.equal(hub.requests.length, n, 'found without the network');
  await rejects(resolveHubVae(spec(), { env: { ...env, HF_HUB_OFFLINE: '1' } }), /corrupted cache entry/);

  rmSync(blob);
  const r = await resolveHubVae(spec(), { env });
  assert.deepEqual(r.downloaded, [WEIGHTS], 'the dangling link is fetched again');
  assert.deepEqual(readFileSync(blob), b.safe);
});

test('a corrupted config.json blob (git blob sha1) is caught too', async () => {
  const { env, cache } = fresh();
  await resolveHubVae(spec(), { env });
  const blob = join(blobsOf(cache), gitSha1(b.tinyConfig));
  writeFileSync(blob, readFileSync(blob, 'utf8').replace('0.13025', '0.18215'));
  await rejects(resolveHubVae(spec(), { env }), /config\.json: its git blob sha1 is [0-9a-f]{40}, expected/);
});

test('a leftover .incomplete longer than the file is discarded, not trusted', async () => {
  const { env, cache } = fresh();
  const etag = sha256(b.safe);
  const incomplete = join(blobsOf(cache), `${etag}.incomplete`);
  await resolveHubVae(parseHubSpec('hf:madebyollin/sdxl-vae-fp16-fix/sdxl.vae.safetensors')!, { env }).then(() => rmSync(join(blobsOf(cache), etag)));
  writeFileSync(incomplete, Buffer.alloc(b.safe.length + 10, 7));
  await resolveHubVae(spec(), { env });
  assert.deepEqual(readFileSync(join(blobsOf(cache), etag)), b.safe);
  assert.ok(!existsSync(incomplete));
});

/**
 * Downloads into the Hugging Face cache layout and cache hits, against the loopback fake Hub.
 *
 * The layout checked is the one huggingface_hub documents ("Understand caching"):
 *   models--{owner}--{name}/blobs/{etag}, refs/{revision} (the commit hash, 40 bytes, no newline),
 *   snapshots/{commit}/{path} -> relative symlink ../../blobs/{etag} (one ../ more per folder level),
 * with the etag the sha256 for LFS files and the git blob sha1 for the others.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { resolveHubVae } from '../../src/hub/resolve.js';
import { resolveVaeArg, loadVaeArg } from '../../src/source/vae-source.js';
import { parseHubSpec } from '../../src/hub/spec.js';
import { loadVae } from '../../src/weights/load.js';
import { FakeHub, commitOf, gitSha1, sha256 } from './fake-hub.js';
import { type RepoBytes, fakeRepos, repoBytes, testEnv } from './repos.js';
import { outsideCheckout } from './outside-checkout.js';

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

function fresh(extra = {}) {
  const t = testEnv(hub.endpoint, extra);
  cleanups.push(t.cleanup);
  return t;
}

/** A port nothing listens on: an endpoint that cannot be reached. */
async function deadEndpoint(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

/** Every file under `dir`, relative, sorted. */
function tree(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const n of readdirSync(join(dir, rel)).sort()) {
    const r = rel ? `${rel}/${n}` : n;
    if (lstatSync(join(dir, r)).isDirectory()) out.push(...tree(dir, r));
    else out.push(r);
  }
  return out;
}

test('download into the documented layout: blobs by etag, refs/main, relative snapshot symlinks', async () => {
  const { env, cache } = fresh();
  const before = hub.requests.length;
  const r = await resolveHubVae(parseHubSpec('stabilityai/sdxl-vae')!, { env });
  const commit = commitOf('stabilityai/sdxl-vae');
  const repoDir = join(cache, 'models--stabilityai--sdxl-vae');
  const cfgEtag = gitSha1(b.tinyConfig);
  const wEtag = sha256(b.overflow);
  assert.equal(r.commit, commit);
  assert.equal(r.path, join(repoDir, 'snapshots', commit), 'the snapshot folder of a diffusers VAE');
  assert.deepEqual(r.downloaded, ['config.json', 'diffusion_pytorch_model.safetensors']);
  assert.deepEqual(tree(repoDir), [
    `blobs/${wEtag}`,
    `blobs/${cfgEtag}`,
    'refs/main',
    `snapshots/${commit}/config.json`,
    `snapshots/${commit}/diffusion_pytorch_model.safetensors`,
  ].sort());
  assert.equal(readFileSync(join(repoDir, 'refs', 'main'), 'utf8'), commit, 'refs/main holds the commit, no newline');
  for (const [file, etag] of [['config.json', cfgEtag], ['diffusion_pytorch_model.safetensors', wEtag]]) {
    const p = join(repoDir, 'snapshots', commit, file);
    assert.ok(lstatSync(p).isSymbolicLink(), `${file} is a symlink`);
    assert.equal(readlinkSync(p), `../../blobs/${etag}`);
  }
  assert.deepEqual(readFileSync(join(repoDir, 'blobs', wEtag)), b.overflow);
  assert.deepEqual(readFileSync(join(repoDir, 'blobs', cfgEtag)), b.tinyConfig);
  // one metadata call, one HEAD per file, config.json straight from resolve, the weights from the CDN
  const made = hub.requests.slice(before).map((q) => `${q.method} ${q.path.replace(/\?.*$/, '')}`);
  assert.deepEqual(made, [
    'GET /api/models/stabilityai/sdxl-vae/revision/main',
    `HEAD /stabilityai/sdxl-vae/resolve/${commit}/config.json`,
    `GET /stabilityai/sdxl-vae/resolve/${commit}/config.json`,
    `HEAD /stabilityai/sdxl-vae/resolve/${commit}/diffusion_pytorch_model.safetensors`,
    `GET /cdn/${wEtag}`,
  ]);
  const vae = loadVae(r.path);
  assert.equal(vae.weightsFile, join(r.path, 'diffusion_pytorch_model.safetensors'));
  assert.equal(vae.configFile, join(r.path, 'config.json'));
});

test('cache hit: the second resolve sends no request, and needs no network at all', async () => {
  const { env } = fresh();
  const first = await resolveHubVae(parseHubSpec('test/tiny-vae')!, { env });
  const n = hub.requests.length;
  const again = await resolveHubVae(parseHubSpec('test/tiny-vae')!, { env });
  assert.equal(hub.requests.length, n, 'the fake Hub was not contacted');
  assert.deepEqual(again.downloaded, []);
  assert.equal(again.path, first.path);
  // an endpoint nobody answers: still resolved from the cache
  const dead = await resolveHubVae(parseHubSpec('hf:test/tiny-vae')!, { env: { ...env, HF_ENDPOINT: await deadEndpoint() } });
  assert.equal(dead.path, first.path);
  // by commit hash too (no refs/ lookup)
  const byCommit = await resolveHubVae(parseHubSpec(`hf:test/tiny-vae@${commitOf('test/tiny-vae')}`)!, { env: { ...env, HF_ENDPOINT: await deadEndpoint() } });
  assert.equal(byCommit.path, first.path);
});

test('a cache written by diffusers / huggingface_hub is reused as it is, without a request', async () => {
  const { env, cache } = fresh();
  // what snapshot_download(..., allow_patterns=["vae/*"], variant fp16) leaves behind
  const repoDir = join(cache, 'models--test--pipeline');
  const commit = 'c0ffee'.padEnd(40, '0');
  mkdirSync(join(repoDir, 'blobs'), { recursive: true });
  mkdirSync(join(repoDir, 'refs'), { recursive: true });
  mkdirSync(join(repoDir, 'snapshots', commit, 'vae'), { recursive: true });
  writeFileSync(join(repoDir, 'refs', 'main'), commit);
  writeFileSync(join(repoDir, 'blobs', gitSha1(b.folderConfig)), b.folderConfig);
  writeFileSync(join(repoDir, 'blobs', sha256(b.folderF16)), b.folderF16);
  symlinkSync(`../../../blobs/${gitSha1(b.folderConfig)}`, join(repoDir, 'snapshots', commit, 'vae', 'config.json'));
  symlinkSync(`../../../blobs/${sha256(b.folderF16)}`, join(repoDir, 'snapshots', commit, 'vae', 'diffusion_pytorch_model.fp16.safetensors'));
  const n = hub.requests.length;
  const path = await resolveVaeArg('hf:test/pipeline/vae', { env, variant: 'fp16' });
  assert.equal(path, join(repoDir, 'snapshots', commit, 'vae'));
  const bare = await outsideCheckout(() => resolveVaeArg('test/pipeline', { env, variant: 'fp16' }));
  assert.equal(bare, path, 'a pipeline repo without a subfolder: its vae/');
  assert.equal(hub.requests.length, n, 'no request');
  const vae = await loadVaeArg('hf:test/pipeline/vae', { env, variant: 'fp16' });
  assert.equal(vae.storageDtype, 'F16');
  assert.equal(vae.source, 'hf:test/pipeline/vae');
  assert.equal(vae.label, 'pipeline');
});

test('subfolders: symlinks one ../ deeper; the variant picks the weights; blobs are shared', async () => {
  const { env, cache } = fresh();
  const r = await resolveHubVae(parseHubSpec('hf:test/pipeline/vae')!, { env });
  const commit = commitOf('test/pipeline');
  const repoDir = join(cache, 'models--test--pipeline');
  assert.equal(r.path, join(repoDir, 'snapshots', commit, 'vae'));
  assert.deepEqual(r.files, ['vae/config.json', 'vae/diffusion_pytorch_model.fp16.safetensors'], 'the only weights (fp16) are taken without --variant');
  assert.equal(readlinkSync(join(r.path, 'config.json')), `../../../blobs/${gitSha1(b.folderConfig)}`);
  assert.equal(readlinkSync(join(r.path, 'diffusion_pytorch_model.fp16.safetensors')), `../../../blobs/${sha256(b.folderF16)}`);
  assert.ok(!existsSync(join(repoDir, 'snapshots', commit, 'unet')), 'nothing but the VAE is fetched');

  // variant fp16 of test/tiny-vae: config.json already linked is not fetched again
  const tiny = await resolveHubVae(parseHubSpec('test/tiny-vae')!, { env });
  const n = hub.requests.length;
  const fp16 = await resolveHubVae(parseHubSpec('test/tiny-vae')!, { env, variant: 'fp16' });
  assert.deepEqual(fp16.downloaded, ['diffusion_pytorch_model.fp16.safetensors']);
  assert.equal(fp16.path, tiny.path);
  assert.ok(!hub.requests.slice(n).some((q) => q.path.includes('config.json')), 'config.json not asked for again');
  assert.equal(loadVae(fp16.path, { variant: 'fp16' }).weightsFile, join(fp16.path, 'diffusion_pytorch_model.fp16.safetensors'));
  assert.equal(loadVae(fp16.path).weightsFile, join(fp16.path, 'diffusion_pytorch_model.safetensors'));

  // a single file whose bytes are already a blob: linked, not downloaded
  const m = hub.requests.length;
  const single = await resolveHubVae(parseHubSpec('hf:test/tiny-vae/tiny_vae.safetensors')!, { env });
  assert.equal(single.path, join(tiny.path, 'tiny_vae.safetensors'));
  assert.deepEqual(single.downloaded, []);
  assert.equal(hub.requests.slice(m).filter((q) => q.path.startsWith('/cdn/')).length, 0);
  assert.equal(readlinkSync(single.path), `../../blobs/${sha256(b.f32)}`);
});

test('a repo with only a single-file VAE resolves to that file', async () => {
  const { env } = fresh();
  const path = await outsideCheckout(() => resolveVaeArg('test/single-file', { env }));
  assert.match(path, /snapshots\/[0-9a-f]{40}\/tiny_vae\.safetensors$/);
  const vae = loadVae(path);
  assert.equal(vae.storageDtype, 'BF16');
});

test('local paths are returned as they are', async () => {
  const { env } = fresh();
  const n = hub.requests.length;
  assert.equal(await resolveVaeArg('fixtures/demo/demo-sdxl-vae', { env }), 'fixtures/demo/demo-sdxl-vae');
  // a missing local path is said to be missing, and not looked for on the Hub
  await assert.rejects(resolveVaeArg('missing/vae.safetensors', { env }), /^BadInputError: missing\/vae\.safetensors: no such file or folder$/);
  assert.equal(hub.requests.length, n);
});

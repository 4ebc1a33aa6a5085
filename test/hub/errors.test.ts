/**
 * The Hub's environment and failures, against the loopback fake Hub: HF_HUB_OFFLINE (no request at
 * all), HF_TOKEN (sent as a Bearer header; 401 / 403 say how to set it), HF_ENDPOINT (a mirror under
 * a path), 404 repo / revision, a repo without VAE weights, an unreachable endpoint. Each failure is
 * one BadInputError line, exit 3.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { cli } from '../commands/cli.js';
import { join } from 'node:path';
import { resolveDefaultVaes } from '../../src/hub/default-pair.js';
import { HubNotCachedError } from '../../src/hub/hub-errors.js';
import { resolveHubVae } from '../../src/hub/resolve.js';
import { resolveVaeArg } from '../../src/source/vae-source.js';
import { parseHubSpec } from '../../src/hub/spec.js';
import { FakeHub, GOOD_TOKEN, UNGRANTED_TOKEN } from './fake-hub.js';
import { fakeRepos, repoBytes, testEnv } from './repos.js';
import type { Env } from '../../src/hub/env.js';
import { rejects } from './rejects.js';
import { outsideCheckout } from './outside-checkout.js';

let hub: FakeHub;
let mirror: FakeHub;
const cleanups: (() => void)[] = [];

before(async () => {
  const repos = fakeRepos(repoBytes());
  hub = await FakeHub.start(repos);
  mirror = await FakeHub.start(repos, { prefix: '/mirror/hf' });
});
after(async () => {
  await hub.close();
  await mirror.close();
  for (const c of cleanups) c();
});

function fresh(extra: Env = {}, endpoint = hub.endpoint) {
  const t = testEnv(endpoint, extra);
  cleanups.push(t.cleanup);
  return t;
}


const resolve = (spec: string, env: Env, variant?: string) => resolveHubVae(parseHubSpec(spec)!, { env, variant });

test('HF_HUB_OFFLINE with the VAE cached: resolved, no request', async () => {
  const { env } = fresh();
  const online = await resolve('test/tiny-vae', env);
  const n = hub.requests.length;
  const offline = await resolve('test/tiny-vae', { ...env, HF_HUB_OFFLINE: '1' });
  assert.equal(offline.path, online.path);
  assert.equal(hub.requests.length, n);
});

test('HF_HUB_OFFLINE without the cache: one message with the command that fetches it, no request', async () => {
  const { env, cache } = fresh({ HF_HUB_OFFLINE: '1' });
  const n = hub.requests.length;
  const e = await rejects(
    resolve('hf:test/pipeline/vae', env, 'fp16'),
    /^test\/pipeline\/vae: not in the Hugging Face cache \(.*\) and HF_HUB_OFFLINE is set: fetch it with `hf download test\/pipeline vae\/config\.json vae\/diffusion_pytorch_model\.fp16\.safetensors`.*huggingface-cli download.*run vaecheck once without HF_HUB_OFFLINE$/,
    5,
  );
  assert.ok(e instanceof HubNotCachedError);
  assert.ok(e.message.includes(cache), 'names the cache folder it looked in');
  assert.equal(hub.requests.length, n, 'offline: no request at all');
});

test('the default pair offline and absent: one message naming both, the commands, and --demo', async () => {
  const { env } = fresh({ HF_HUB_OFFLINE: '1' });
  await rejects(
    resolveDefaultVaes({ env }),
    /^stabilityai\/sdxl-vae, madebyollin\/sdxl-vae-fp16-fix: the default VAEs are not in the Hugging Face cache .* `hf download stabilityai\/sdxl-vae config\.json diffusion_pytorch_model\.safetensors && hf download madebyollin\/sdxl-vae-fp16-fix config\.json diffusion_pytorch_model\.safetensors`.*bundled miniature pair \(demo: no download\)/,
    5,
  );
  // one of them cached: only the other is named
  const online = { ...env, HF_HUB_OFFLINE: undefined };
  await resolve('madebyollin/sdxl-vae-fp16-fix', online);
  await rejects(resolveDefaultVaes({ env }), /^stabilityai\/sdxl-vae: the default VAE is not in the Hugging Face cache/, 5);
  await resolve('stabilityai/sdxl-vae', online);
  const pair = await resolveDefaultVaes({ env });
  assert.deepEqual(pair.map((p) => [p.label, p.spec]), [['sdxl-vae', 'stabilityai/sdxl-vae'], ['sdxl-vae-fp16-fix', 'madebyollin/sdxl-vae-fp16-fix']]);
});

test('private repo without a token: 401, and the message says how to set HF_TOKEN', async () => {
  const { env } = fresh();
  await rejects(resolve('hf:test/private', env), /^test\/private: the Hub answered HTTP 401: no such repo, or it is private or gated; if it exists, set HF_TOKEN to an access token \(from http:\/\/127\.0\.0\.1:\d+\/settings\/tokens\)/);
  // the bare form was a Hub id only because no such local path exists: the message says so first
  await rejects(resolve('test/private', env), /^test\/private: no such local file or folder, and the Hub answered HTTP 401: .*set HF_TOKEN/);
});

test('HF_TOKEN is sent as a Bearer header', async () => {
  const { env } = fresh({ HF_TOKEN: GOOD_TOKEN });
  const n = hub.requests.length;
  const r = await resolve('test/private', env);
  assert.deepEqual(r.downloaded, ['config.json', 'diffusion_pytorch_model.safetensors']);
  const made = hub.requests.slice(n);
  assert.ok(made.length >= 4);
  for (const q of made) assert.equal(q.headers.authorization, `Bearer ${GOOD_TOKEN}`, `${q.method} ${q.path}`);
});

test('HF_TOKEN does not follow the download to a CDN on another origin', async () => {
  const cdn = await FakeHub.start(fakeRepos(repoBytes()));
  const origin = await FakeHub.start(fakeRepos(repoBytes()), { cdnOrigin: cdn.origin });
  try {
    const { env } = fresh({ HF_TOKEN: GOOD_TOKEN }, origin.endpoint);
    await resolve('test/private', env);
    assert.ok(origin.requests.length >= 4);
    for (const q of origin.requests) assert.equal(q.headers.authorization, `Bearer ${GOOD_TOKEN}`, `${q.method} ${q.path}`);
    assert.equal(cdn.requests.length, 1);
    assert.match(cdn.requests[0].path, /^\/cdn\/[0-9a-f]{64}$/);
    assert.equal(cdn.requests[0].headers.authorization, undefined);
  } finally {
    await cdn.close();
    await origin.close();
  }
});

test('the token file of `hf auth login` ($HF_HOME/token) is used when HF_TOKEN is unset', async () => {
  const { env } = fresh();
  mkdirSync(env.HF_HOME!, { recursive: true });
  writeFileSync(join(env.HF_HOME!, 'token'), `${GOOD_TOKEN}\n`);
  const n = hub.requests.length;
  await resolve('test/private', env);
  assert.equal(hub.requests[n].headers.authorization, `Bearer ${GOOD_TOKEN}`);
});

test('a token the Hub refuses: said so', async () => {
  const { env } = fresh({ HF_TOKEN: 'hf_not_a_real_token' });
  await rejects(resolve('test/private', env), /^test\/private: the Hub refused the token from HF_TOKEN \(HTTP 401\)/);
});

test('gated repo: 401 without a token, 403 with a token that was not granted access', async () => {
  const { env } = fresh();
  await rejects(resolve('test/gated', env), /^test\/gated: gated repo: request access on http:\/\/127\.0\.0\.1:\d+\/test\/gated, then set HF_TOKEN/);
  const other = fresh({ HF_TOKEN: UNGRANTED_TOKEN }).env;
  await rejects(resolve('test/gated', other), /^test\/gated: gated repo, and the token from HF_TOKEN has no access to it: request access on/);
  const good = fresh({ HF_TOKEN: GOOD_TOKEN }).env;
  assert.ok((await resolve('test/gated', good)).path);
});

test('404: no such repo, no such revision', async () => {
  const { env } = fresh({ HF_TOKEN: GOOD_TOKEN });
  await rejects(resolve('hf:test/nope', env), /^test\/nope: no such repo on http:\/\/127\.0\.0\.1:\d+$/);
  await outsideCheckout(() => rejects(resolveVaeArg('test/nope', { env }), /^test\/nope: no such local file or folder, and no such repo on/));
  await rejects(resolve('hf:test/tiny-vae@v9', env), /^test\/tiny-vae@v9: revision "v9" does not exist in test\/tiny-vae$/);
});

test('a repo without VAE weights', async () => {
  const { env } = fresh();
  await rejects(resolve('test/no-vae', env), /^test\/no-vae: has no VAE weights in \.safetensors at the repo root, only pickle files \(pytorch_model\.bin\)/);
  await rejects(resolve('hf:test/pipeline/unet', env), /^test\/pipeline\/unet: has no VAE weights in unet\//);
  await rejects(resolve('hf:test/tiny-vae/missing.safetensors', env), /^test\/tiny-vae\/missing\.safetensors: has no file missing\.safetensors/);
});

test('HF_ENDPOINT is honoured, under a path and with a trailing slash', async () => {
  const { env } = fresh({}, `${mirror.endpoint}/`);
  const n = hub.requests.length;
  const r = await resolve('test/tiny-vae', env);
  assert.ok(r.path);
  assert.equal(hub.requests.length, n, 'the default fake Hub was not asked');
  const paths = mirror.requests.map((q) => q.path);
  assert.ok(paths.some((p) => p.startsWith('/mirror/hf/api/models/test/tiny-vae/revision/main')));
  assert.ok(paths.filter((p) => !p.startsWith('/cdn/')).every((p) => p.startsWith('/mirror/hf/')), paths.join(' '));
});

/** A loopback port nothing listens on (taken, then closed): connections to it are refused. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test('an endpoint that cannot be reached: one message, with HF_HUB_OFFLINE as the way out', async () => {
  const { env } = fresh({}, `http://127.0.0.1:${await closedPort()}`);
  await rejects(resolve('test/tiny-vae', env), /^test\/tiny-vae: cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\).*HF_HUB_OFFLINE=1/, 5);
  await rejects(resolveDefaultVaes({ env }), /cannot reach .*bundled miniature pair \(demo: no download\)/, 5);
});

test('no network is exit 5 on the command line, not bad input (3)', async () => {
  const { env } = fresh({}, `http://127.0.0.1:${await closedPort()}`);
  const r = cli(['info', 'hf:test/tiny-vae'], env as Record<string, string>);
  assert.equal(r.code, 5, r.stderr);
  assert.match(r.stderr, /^vaecheck: error: test\/tiny-vae: cannot reach http:\/\/127\.0\.0\.1:\d+/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('an endpoint that does not answer as the Hub: exit 5, said in words, no invented HTTP status', async () => {
  // answers every request with 200 and an empty JSON object: no commit hash
  const server = createHttpServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const { env } = fresh({}, endpoint);
    const e = await rejects(resolve('test/tiny-vae', env), /^test\/tiny-vae: http:\/\/127\.0\.0\.1:\d+ did not answer as a Hugging Face Hub: the repo metadata holds no commit hash/, 5);
    assert.doesNotMatch(e.message, /HTTP \d/);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

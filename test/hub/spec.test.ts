/**
 * Hub specs, the HF_* environment and the choice of a repo's VAE files: pure functions, no server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { hubCacheDir, hubEndpoint, hubOffline, hubToken } from '../../src/hub/env.js';
import { isHubSpec, parseHubSpec, specDisplay, specLabel } from '../../src/hub/spec.js';
import { chooseVaeFiles } from '../../src/hub/vae-files.js';
import { downloadCommand } from '../../src/hub/hub-errors.js';
import { repoFolderName } from '../../src/hub/cache-layout.js';

test('parseHubSpec: repo ids, hf: prefix, revision, subfolder, file', () => {
  assert.deepEqual(parseHubSpec('stabilityai/sdxl-vae'), { repo: 'stabilityai/sdxl-vae', revision: 'main', revisionGiven: false, subfolder: '', explicit: false, text: 'stabilityai/sdxl-vae' });
  const full = parseHubSpec('hf:stabilityai/stable-diffusion-xl-base-1.0@v1.0/vae')!;
  assert.equal(full.repo, 'stabilityai/stable-diffusion-xl-base-1.0');
  assert.equal(full.revision, 'v1.0');
  assert.equal(full.revisionGiven, true);
  assert.equal(full.subfolder, 'vae');
  assert.equal(full.explicit, true);
  assert.equal(parseHubSpec('hf:stabilityai/stable-diffusion-xl-base-1.0/vae/')!.subfolder, 'vae');
  assert.equal(parseHubSpec('hf:a/b@refs/pr/3/vae')!.revision, 'refs/pr/3');
  assert.equal(parseHubSpec('hf:a/b@refs/pr/3/vae')!.subfolder, 'vae');
  assert.equal(parseHubSpec('hf:madebyollin/sdxl-vae-fp16-fix/sdxl.vae.safetensors')!.subfolder, 'sdxl.vae.safetensors');
  const c = 'a'.repeat(40);
  assert.equal(parseHubSpec(`hf:o/n@${c}`)!.revision, c);
  for (const bad of ['hf:', 'hf:onlyname', 'hf:/x/y', 'hf:a--b/c', 'hf:a/b..c', 'hf:-a/b', 'hf:a/b@', 'hf:a/b/../c', 'a\\b', '/abs/path']) {
    assert.equal(parseHubSpec(bad), null, bad);
  }
  assert.equal(specDisplay(full), 'stabilityai/stable-diffusion-xl-base-1.0@v1.0/vae');
  assert.equal(specLabel(parseHubSpec('madebyollin/sdxl-vae-fp16-fix')!), 'sdxl-vae-fp16-fix');
  assert.equal(specLabel(parseHubSpec('hf:stabilityai/sdxl-vae/sdxl_vae.safetensors')!), 'sdxl-vae-sdxl_vae');
});

test('isHubSpec: a bare owner/name[@rev] is a Hub id only when it cannot be a local path (exists, ./ ../ / ~, extension, 3+ segments, first segment a local folder)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vaecheck-spec-'));
  const cwd = process.cwd();
  try {
    mkdirSync(join(dir, 'owner', 'name'), { recursive: true });
    process.chdir(dir);
    assert.equal(isHubSpec('owner/name'), false, 'an existing local folder wins');
    assert.equal(isHubSpec('owner/other'), false, 'owner/ is a local folder');
    assert.equal(isHubSpec('someone/other'), true);
    assert.equal(isHubSpec('stabilityai/stable-diffusion-xl-base-1.0/vae'), false, 'a bare spec has no subfolder: that needs hf:');
    assert.equal(isHubSpec('hf:stabilityai/stable-diffusion-xl-base-1.0/vae'), true);
    assert.equal(isHubSpec('owner/name@v1.0'), false, 'the local folder owner/ exists: a mistyped path, not a repo');
    assert.equal(isHubSpec('other/name@v1.0'), true, 'a bare owner/name@revision');
    assert.equal(isHubSpec('owner/nmae'), false, 'first segment is a local folder: a mistyped local path');
    assert.equal(isHubSpec('owner/name/vea'), false);
    assert.equal(isHubSpec('~/vae'), false);
    assert.equal(isHubSpec('../owner/name'), false);
    assert.equal(isHubSpec('hf:owner/name'), true, 'hf: is always the Hub');
    assert.equal(isHubSpec('./owner/other'), false);
    assert.equal(isHubSpec('dir/vae.safetensors'), false, 'a missing weights file stays a local path');
    assert.equal(isHubSpec('some/dir/model.onnx'), false);
    assert.equal(isHubSpec('vae.safetensors'), false);
  } finally {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cache folder: HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE, else HF_HOME/hub, else XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub', () => {
  assert.equal(hubCacheDir({ HF_HUB_CACHE: '/c', HF_HOME: '/h', HUGGINGFACE_HUB_CACHE: '/l' }), '/c');
  assert.equal(hubCacheDir({ HUGGINGFACE_HUB_CACHE: '/l', HF_HOME: '/h' }), '/l');
  assert.equal(hubCacheDir({ HF_HOME: '/h', XDG_CACHE_HOME: '/x' }), '/h/hub');
  assert.equal(hubCacheDir({ XDG_CACHE_HOME: '/x' }), '/x/huggingface/hub');
  assert.equal(hubCacheDir({}), join(homedir(), '.cache', 'huggingface', 'hub'));
  assert.equal(hubCacheDir({ HF_HOME: '~/hf' }), join(homedir(), 'hf', 'hub'));
  assert.equal(hubCacheDir({ HF_HUB_CACHE: '' }), join(homedir(), '.cache', 'huggingface', 'hub'), 'empty counts as unset');
  assert.equal(repoFolderName('stabilityai/sdxl-vae'), 'models--stabilityai--sdxl-vae');
});

test('HF_ENDPOINT, HF_HUB_OFFLINE and the token', () => {
  assert.equal(hubEndpoint({}), 'https://huggingface.co');
  assert.equal(hubEndpoint({ HF_ENDPOINT: 'http://mirror.local/hf/' }), 'http://mirror.local/hf');
  for (const v of ['1', 'true', 'TRUE', 'yes', 'on']) assert.equal(hubOffline({ HF_HUB_OFFLINE: v }), true, v);
  for (const v of [undefined, '', '0', 'false', 'no']) assert.equal(hubOffline({ HF_HUB_OFFLINE: v }), false, String(v));
  const home = mkdtempSync(join(tmpdir(), 'vaecheck-token-'));
  try {
    assert.equal(hubToken({ HF_HOME: home }), undefined);
    writeFileSync(join(home, 'token'), 'hf_from_file\n');
    assert.deepEqual(hubToken({ HF_HOME: home }), { token: 'hf_from_file', from: join(home, 'token') });
    assert.deepEqual(hubToken({ HF_HOME: home, HF_TOKEN: 'hf_env' }), { token: 'hf_env', from: 'HF_TOKEN' });
    assert.deepEqual(hubToken({ HF_HOME: home, HUGGING_FACE_HUB_TOKEN: 'hf_legacy' }), { token: 'hf_legacy', from: 'HUGGING_FACE_HUB_TOKEN' });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('chooseVaeFiles: diffusers layout first, variants, vae/ of a pipeline, single files, none', () => {
  const sdxlVae = ['.gitattributes', 'README.md', 'config.json', 'diffusion_pytorch_model.bin', 'diffusion_pytorch_model.safetensors', 'sdxl_vae.safetensors'];
  assert.deepEqual(chooseVaeFiles(sdxlVae, ''), {
    kind: 'diffusers', dir: '', files: ['config.json', 'diffusion_pytorch_model.safetensors'], weights: 'diffusion_pytorch_model.safetensors', fallback: false,
  });
  // fp16 asked for but absent: the full-precision weights, marked as a fallback
  const v = chooseVaeFiles(sdxlVae, '', 'fp16');
  assert.equal(v.kind === 'diffusers' && v.weights, 'diffusion_pytorch_model.safetensors');
  assert.equal(v.kind === 'diffusers' && v.fallback, true);
  const pipeline = ['model_index.json', 'unet/config.json', 'vae/config.json', 'vae/diffusion_pytorch_model.safetensors', 'vae/diffusion_pytorch_model.fp16.safetensors'];
  assert.deepEqual(chooseVaeFiles(pipeline, 'vae', 'fp16'), {
    kind: 'diffusers', dir: 'vae', files: ['vae/config.json', 'vae/diffusion_pytorch_model.fp16.safetensors'], weights: 'vae/diffusion_pytorch_model.fp16.safetensors', fallback: false,
  });
  assert.equal((chooseVaeFiles(pipeline, '') as { dir: string }).dir, 'vae', 'no subfolder: the pipeline\'s vae/');
  assert.deepEqual(chooseVaeFiles(['README.md', 'sdxl_vae.safetensors'], ''), { kind: 'single', dir: '', files: ['sdxl_vae.safetensors'], weights: 'sdxl_vae.safetensors', fallback: false });
  assert.equal((chooseVaeFiles(['model.safetensors', 'my_vae.safetensors'], '') as { weights: string }).weights, 'my_vae.safetensors');
  assert.equal((chooseVaeFiles(['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.fp16.safetensors'], '', 'fp16') as { weights: string }).weights, 'diffusion_pytorch_model.fp16.safetensors', 'no config.json: the variant\'s weights alone');
  assert.deepEqual(chooseVaeFiles(sdxlVae, 'sdxl_vae.safetensors'), { kind: 'single', dir: '', files: ['sdxl_vae.safetensors'], weights: 'sdxl_vae.safetensors', fallback: false });
  const none = (paths: string[], sub = '') => {
    const r = chooseVaeFiles(paths, sub, undefined, 'o/n');
    assert.equal(r.kind, 'none');
    return (r as { reason: string }).reason;
  };
  assert.match(none(['README.md', 'pytorch_model.bin']), /only pickle files \(pytorch_model\.bin\)/);
  assert.match(none(['README.md']), /no VAE weights at the repo root/);
  assert.match(none(pipeline, 'unet'), /no VAE weights in unet\//);
  assert.match(none(['a.safetensors', 'b.safetensors']), /several \.safetensors files .*hf:o\/n\/a\.safetensors/);
  assert.match(none(sdxlVae, 'missing.safetensors'), /has no file missing\.safetensors/);
});

test('downloadCommand: the hf CLI line that fetches exactly the files vaecheck needs', () => {
  assert.equal(downloadCommand(parseHubSpec('stabilityai/sdxl-vae')!), 'hf download stabilityai/sdxl-vae config.json diffusion_pytorch_model.safetensors');
  assert.equal(
    downloadCommand(parseHubSpec('hf:stabilityai/stable-diffusion-xl-base-1.0@v2/vae')!, 'fp16'),
    'hf download stabilityai/stable-diffusion-xl-base-1.0 --revision v2 vae/config.json vae/diffusion_pytorch_model.fp16.safetensors',
  );
  assert.equal(downloadCommand(parseHubSpec('hf:a/b/x/vae.safetensors')!), 'hf download a/b x/vae.safetensors');
});

/**
 * The fake Hub's repos, made of the seeded fixtures (fixtures/generate.ts via test/helpers), and the
 * per-test environment: a fresh cache folder and HF_HOME, the fake Hub as HF_ENDPOINT, no token.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TINY, diffusersConfigJson } from '../../fixtures/generate.js';
import { fixtures } from '../helpers/fixtures.js';
import type { Env } from '../../src/hub/env.js';
import type { FakeRepo } from './fake-hub.js';

const text = (s: string) => Buffer.from(s);

export interface RepoBytes {
  tinyConfig: Buffer;
  f32: Buffer;
  f16: Buffer;
  bf16: Buffer;
  folderConfig: Buffer;
  folderF16: Buffer;
  overflow: Buffer;
  safe: Buffer;
}

export function repoBytes(): RepoBytes {
  const fx = fixtures();
  return {
    tinyConfig: text(JSON.stringify(diffusersConfigJson(TINY), null, 2) + '\n'),
    f32: readFileSync(fx.path('tiny-diffusers-f32.safetensors')),
    f16: readFileSync(fx.path('tiny-original-f16.safetensors')),
    bf16: readFileSync(fx.path('tiny-original-bf16.safetensors')),
    folderConfig: readFileSync(fx.path('tiny-folder/config.json')),
    folderF16: readFileSync(fx.path('tiny-folder/diffusion_pytorch_model.fp16.safetensors')),
    overflow: readFileSync(fx.path('tiny-fp16-overflow.safetensors')),
    safe: readFileSync(fx.path('tiny-fp16-safe.safetensors')),
  };
}

/**
 *  test/tiny-vae        diffusers layout at the root (f32 weights, an fp16 variant) and a
 *                       single-file copy, as stabilityai/sdxl-vae has
 *  test/pipeline        a whole pipeline: the VAE in vae/ (fp16 variant only)
 *  test/single-file     one single-file VAE, no config.json
 *  test/no-vae          a README and a pickle
 *  test/private, test/gated   tiny-vae's files behind a token
 *  stabilityai/sdxl-vae, madebyollin/sdxl-vae-fp16-fix   the default pair (tiny stand-ins)
 */
export function fakeRepos(b: RepoBytes = repoBytes()): FakeRepo[] {
  const tiny = [
    { path: '.gitattributes', bytes: text('*.safetensors filter=lfs diff=lfs merge=lfs -text\n') },
    { path: 'README.md', bytes: text('# tiny VAE\n') },
    { path: 'config.json', bytes: b.tinyConfig },
    { path: 'diffusion_pytorch_model.safetensors', bytes: b.f32 },
    { path: 'diffusion_pytorch_model.fp16.safetensors', bytes: b.f16 },
    { path: 'tiny_vae.safetensors', bytes: b.f32 },
  ];
  return [
    { repo: 'test/tiny-vae', files: tiny },
    {
      repo: 'test/pipeline',
      files: [
        { path: 'model_index.json', bytes: text('{"_class_name": "StableDiffusionXLPipeline"}\n') },
        { path: 'unet/config.json', bytes: text('{"_class_name": "UNet2DConditionModel"}\n') },
        { path: 'vae/config.json', bytes: b.folderConfig },
        { path: 'vae/diffusion_pytorch_model.fp16.safetensors', bytes: b.folderF16 },
      ],
    },
    { repo: 'test/single-file', files: [{ path: 'README.md', bytes: text('# one file\n') }, { path: 'tiny_vae.safetensors', bytes: b.bf16 }] },
    { repo: 'test/no-vae', files: [{ path: 'README.md', bytes: text('# nothing here\n') }, { path: 'pytorch_model.bin', bytes: text('not really a pickle') }] },
    { repo: 'test/private', private: true, files: tiny },
    { repo: 'test/gated', gated: true, files: tiny },
    {
      repo: 'stabilityai/sdxl-vae',
      files: [
        { path: 'config.json', bytes: b.tinyConfig },
        { path: 'diffusion_pytorch_model.safetensors', bytes: b.overflow },
        { path: 'sdxl_vae.safetensors', bytes: b.overflow },
      ],
    },
    {
      repo: 'madebyollin/sdxl-vae-fp16-fix',
      files: [
        { path: 'config.json', bytes: b.tinyConfig },
        { path: 'diffusion_pytorch_model.safetensors', bytes: b.safe },
        { path: 'sdxl.vae.safetensors', bytes: b.safe },
      ],
    },
  ];
}

/** A fresh cache + HF_HOME for one test, and the environment that points vaecheck at `endpoint`. */
export function testEnv(endpoint: string, extra: Env = {}): { env: Env; cache: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'vaecheck-hub-'));
  const cache = join(root, 'hub');
  const env: Env = { HF_HOME: join(root, 'home'), HF_HUB_CACHE: cache, HF_ENDPOINT: endpoint, ...extra };
  return { env, cache, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

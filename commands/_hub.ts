/**
 * What the commands share for VAEs named on the Hugging Face Hub: the --variant flag, download
 * progress on stderr (bars on a terminal, one line per file otherwise), and loading a VAE argument
 * that may be a local path or a Hub spec.
 */
import { Flags } from '@oclif/core';
import { Progress, type ProgressFlags } from './_progress.js';
import type { DownloadProgress } from '../src/hub/download.js';
import { type DefaultVae, resolveDefaultVaes } from '../src/hub/default-pair.js';
import { type OpenedVae, type VaeTarget, loadVaeArg, openTarget, resolveVaeTarget as resolveTarget } from '../src/source/vae-source.js';

export type { VaeTarget };
import { type LatentSpaceFlagValues, latentSpaceFlags, latentSpaceRequest } from './_base.js';

export const variantFlag = Flags.string({
  description: 'weights variant of a diffusers VAE, e.g. fp16 for diffusion_pytorch_model.fp16.safetensors (local folders and Hub repos)',
});

/** Every flag that says how to read a VAE: the weights variant, and its family or latent factors. */
export const vaeLoadFlags = { variant: variantFlag, ...latentSpaceFlags };

export type VaeLoadFlagValues = LatentSpaceFlagValues & { variant?: string };

export const VAE_ARG_HELP = 'VAE: .safetensors file, diffusers folder, or Hugging Face Hub repo (owner/name, hf:owner/name[@revision][/subfolder])';

/** 1.2 kB, 5.63 MB, 334.6 MB */
const human = (n: number) => (n < 1e6 ? `${(n / 1e3).toFixed(1)} kB` : `${(n / 1e6).toFixed(n < 1e7 ? 2 : 1)} MB`);

/**
 * Progress of Hub downloads on stderr: a bar per file where bars are drawn (commands/_progress.ts),
 * otherwise one line per file unless --quiet. Call stop() when done (also on failure).
 */
export class HubProgress {
  private readonly bars: Progress;

  constructor(private readonly flags: ProgressFlags = {}) {
    this.bars = Progress.for(flags);
  }

  readonly onProgress = (e: DownloadProgress): void => {
    const key = `${e.repo}/${e.file}`;
    if (!this.bars.enabled) {
      if (e.state === 'start' && !this.flags.quiet) process.stderr.write(`vaecheck: downloading ${key} (${human(e.total)}${e.done > 0 ? `, resuming at ${human(e.done)}` : ''}) into the Hugging Face cache\n`);
      return;
    }
    this.bars.update({ task: `${e.repo.split('/')[1]}/${e.file}`, stage: 'downloading', done: e.done, total: e.total, amount: `${human(e.done)} / ${human(e.total)}` });
  };

  stop(): void {
    this.bars.stop();
  }
}

/** Loads a VAE named by a path or a Hub spec, showing download progress. */
export async function loadVaeFromArg(arg: string, flags: VaeLoadFlagValues, progress: ProgressFlags = {}): Promise<OpenedVae> {
  const p = new HubProgress(progress);
  try {
    return await loadVaeArg(arg, { variant: flags.variant, latentSpace: latentSpaceRequest(flags), onProgress: p.onProgress });
  } finally {
    p.stop();
  }
}

/** A VAE argument resolved to a local path (label and source set for Hub specs), showing download progress. */
export async function resolveVaeTarget(arg: string, variant?: string, progress: ProgressFlags = {}): Promise<VaeTarget> {
  const p = new HubProgress(progress);
  try {
    return await resolveTarget(arg, { variant, onProgress: p.onProgress });
  } finally {
    p.stop();
  }
}

export function loadTarget(t: VaeTarget, flags: VaeLoadFlagValues): OpenedVae {
  return openTarget(t, { variant: flags.variant, latentSpace: latentSpaceRequest(flags) });
}

/** stabilityai/sdxl-vae and madebyollin/sdxl-vae-fp16-fix as local paths, showing download progress. */
export async function defaultVaes(variant?: string, flags: ProgressFlags = {}): Promise<DefaultVae[]> {
  const p = new HubProgress(flags);
  try {
    return await resolveDefaultVaes({ variant, onProgress: p.onProgress });
  } finally {
    p.stop();
  }
}

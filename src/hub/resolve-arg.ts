/**
 * What every command does with a VAE argument: a local path is used as it is; a Hub spec
 * (`owner/name`, `hf:owner/name[@rev][/subfolder]`) is resolved through the Hugging Face cache,
 * downloading what is missing.
 */
import { type LoadOptions, type LoadedVae, loadVae } from '../weights/load.js';
import { type ResolveHubOptions, resolveHubVae } from './resolve.js';
import { isHubSpec, parseHubSpec, specLabel } from './spec.js';

export type ResolveArgOptions = ResolveHubOptions;

/** A local path loadVae accepts: `arg` itself, or the cached snapshot path of a Hub spec. */
export async function resolveVaeArg(arg: string, opts: ResolveArgOptions = {}): Promise<string> {
  if (!isHubSpec(arg)) return arg;
  return (await resolveHubVae(parseHubSpec(arg)!, opts)).path;
}

/**
 * resolveVaeArg, then loadVae with the same variant (and the stated latent space, if any). A Hub VAE keeps the user's words as its source
 * and the repo's name as its label.
 */
export async function loadVaeArg(arg: string, opts: ResolveArgOptions & LoadOptions = {}): Promise<LoadedVae> {
  const path = await resolveVaeArg(arg, opts);
  const vae = loadVae(path, { variant: opts.variant, latentSpace: opts.latentSpace });
  if (path !== arg) {
    vae.source = arg;
    vae.label = specLabel(parseHubSpec(arg)!);
  }
  return vae;
}

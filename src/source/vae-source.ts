/**
 * Where a VAE comes from, above hub/ and weights/: what every command and the library do with a VAE
 * argument. A local path is opened as it is (weights/load.ts reads safetensors, diffusers folders and
 * ONNX exports); a Hub spec (`owner/name`,
 * `hf:owner/name[@rev][/subfolder]`) is first resolved through the Hugging Face cache by hub/,
 * downloading what is missing, and then opened the same way. A Hub VAE keeps the user's words as
 * its source and the repo's name as its label.
 */
import { existsSync } from 'node:fs';
import { BadInputError } from '../errors.js';
import { recoverInterrupted } from '../io/output-files.js';
import { type ResolveHubOptions, resolveHubVae } from '../hub/resolve.js';
import { hubSpellingOf, isHubSpec, parseHubSpec, specLabel } from '../hub/spec.js';
import { type LoadOptions, type LoadedVae, loadVae } from '../weights/load.js';

export type ResolveArgOptions = ResolveHubOptions;

/** A VAE from any source (`onnx` is set for a VAE part exported to ONNX). */
export type OpenedVae = LoadedVae;

/** A VAE argument resolved to a local path, with the label and source a Hub spec gives it. */
export interface VaeTarget {
  path: string;
  /** set for Hub specs: the repo's name */
  label?: string;
  /** set for Hub specs: the spec as the user wrote it */
  source?: string;
}

/**
 * Opens a VAE at a local path: safetensors weights, a diffusers folder, or an ONNX export of its
 * decoder or encoder (weights/load.ts reads each).
 * @throws BadInputError naming the file
 */
export function openVae(path: string, opts: LoadOptions = {}): OpenedVae {
  return loadVae(path, opts);
}

/** A local path openVae accepts: `arg` itself, or the cached snapshot path of a Hub spec. */
export async function resolveVaeArg(arg: string, opts: ResolveArgOptions = {}): Promise<string> {
  return (await resolveVaeTarget(arg, opts)).path;
}

/** resolveVaeArg, keeping what a Hub spec says about the VAE's label and source. */
export async function resolveVaeTarget(arg: string, opts: ResolveArgOptions = {}): Promise<VaeTarget> {
  if (!isHubSpec(arg)) {
    // a mistyped local path is never looked up on the Hub (isHubSpec's rule): say it is missing
    // (after putting back an output whose swap a killed run cut short, as loadVae does)
    if (!existsSync(arg)) recoverInterrupted(arg);
    if (!existsSync(arg)) {
      const hub = hubSpellingOf(arg);
      throw new BadInputError(arg, `no such file or folder${hub ? ` (a subfolder of a Hugging Face Hub repo is written ${hub})` : ''}`);
    }
    return { path: arg };
  }
  const spec = parseHubSpec(arg)!;
  return { path: (await resolveHubVae(spec, opts)).path, label: specLabel(spec), source: arg };
}

/** Opens a resolved target, giving a Hub VAE its label and source. */
export function openTarget(t: VaeTarget, opts: LoadOptions = {}): OpenedVae {
  const vae = openVae(t.path, opts);
  if (t.label) vae.label = t.label;
  if (t.source) vae.source = t.source;
  return vae;
}

/** resolveVaeTarget, then openTarget with the same variant. */
export async function loadVaeArg(arg: string, opts: ResolveArgOptions & LoadOptions = {}): Promise<OpenedVae> {
  return openTarget(await resolveVaeTarget(arg, opts), { variant: opts.variant, latentSpace: opts.latentSpace });
}

/**
 * The Hub's failures as vaecheck's one-line errors; each names the repo (or the cached file) and
 * says what to do. Two kinds, by whether trying again can help:
 *
 *  - what the Hub says about what was named (no such repo, revision or file; access refused; a
 *    gated repo) and a corrupted file in the local cache: the input cannot be used, BadInputError
 *    (exit 3), as for a local path that does not exist;
 *  - the Hub could not be reached or did not deliver (no network, offline mode without a cached
 *    copy, a server error or an answer that is not the Hub's API, a download cut off or corrupted
 *    on the way): HubError (exit 5).
 */
import { BadInputError, HubError } from '../errors.js';
import { type HubSpec, specDisplay } from './spec.js';

/** The `hf download` command that puts a VAE into the cache (huggingface_hub's CLI). */
export function downloadCommand(spec: HubSpec, variant?: string): string {
  const sub = spec.subfolder;
  const files = /\.safetensors$/i.test(sub)
    ? [sub]
    : [`${sub ? `${sub}/` : ''}config.json`, `${sub ? `${sub}/` : ''}diffusion_pytorch_model${variant ? `.${variant}` : ''}.safetensors`];
  return `hf download ${spec.repo}${spec.revisionGiven ? ` --revision ${spec.revision}` : ''} ${files.join(' ')}`;
}

/** Offline (HF_HUB_OFFLINE) and the VAE is not in the cache. */
export class HubNotCachedError extends HubError {
  constructor(
    readonly spec: HubSpec,
    readonly cacheDir: string,
    readonly command: string,
  ) {
    super(
      specDisplay(spec),
      `not in the Hugging Face cache (${cacheDir}) and HF_HUB_OFFLINE is set: fetch it with \`${command}\` ` +
        '(`huggingface-cli download …` with huggingface_hub older than 1.0), or run vaecheck once without HF_HUB_OFFLINE',
    );
  }
}

/** A cached blob whose bytes do not match its name (the sha256 / git blob id). */
export class HubCorruptBlobError extends BadInputError {
  constructor(blob: string, repoFile: string, what: string) {
    super(blob, `corrupted cache entry for ${repoFile}: ${what}; delete this file and run again to download it anew`);
  }
}

export interface HttpFailure {
  status: number;
  /** the Hub's X-Error-Code header (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo) */
  errorCode?: string | null;
  /** the Hub's own message (X-Error-Message or the JSON body's error) */
  message?: string;
}

/**
 * The error for a failed Hub request about `spec` (file: the repo file concerned, if any): access
 * and not-found answers are bad input (exit 3), any other status a HubError (exit 5).
 */
export function hubHttpError(spec: HubSpec, f: HttpFailure, ctx: { endpoint: string; token?: { from: string }; file?: string }): BadInputError | HubError {
  const where = specDisplay(spec);
  const page = `${ctx.endpoint}/${spec.repo}`;
  const tokenHelp = `set HF_TOKEN to an access token (from ${ctx.endpoint}/settings/tokens) of an account that has access`;
  const code = f.errorCode ?? '';
  // a bare owner/name was taken for a Hub id because no such local path exists: say that too
  const notLocal = spec.explicit ? '' : 'no such local file or folder, and ';
  if (code === 'GatedRepo' || (f.status === 403 && /gated|restricted|access/i.test(f.message ?? ''))) {
    return new BadInputError(
      where,
      ctx.token
        ? `gated repo, and the token from ${ctx.token.from} has no access to it: request access on ${page} with that account`
        : `gated repo: request access on ${page}, then ${tokenHelp}`,
    );
  }
  if (f.status === 401 || f.status === 403) {
    if (ctx.token) {
      return new BadInputError(where, `the Hub refused the token from ${ctx.token.from} (HTTP ${f.status}): the token is invalid or expired, or its account cannot see this repo (private, or misspelt)`);
    }
    return new BadInputError(where, `${notLocal}the Hub answered HTTP ${f.status}: no such repo, or it is private or gated; if it exists, ${tokenHelp}`);
  }
  if (f.status === 404) {
    if (code === 'RevisionNotFound') return new BadInputError(where, `revision ${JSON.stringify(spec.revision)} does not exist in ${spec.repo}`);
    if (code === 'EntryNotFound' && ctx.file) return new BadInputError(where, `${ctx.file} is missing from ${spec.repo} at ${spec.revision}`);
    return new BadInputError(where, `${notLocal}no such repo on ${ctx.endpoint}${spec.explicit ? '' : ' (check the name)'}`);
  }
  return new HubError(where, `the Hub answered HTTP ${f.status}${f.message ? ` (${f.message})` : ''}${ctx.file ? ` for ${ctx.file}` : ''}; try again later`);
}

/**
 * An answer that is not what the Hub's API returns (no commit hash, no ETag or size, endless
 * redirects): HF_ENDPOINT is probably not a Hugging Face Hub, or a proxy is in the way.
 */
export function hubProtocolError(spec: HubSpec, endpoint: string, what: string, file?: string): HubError {
  return new HubError(specDisplay(spec), `${endpoint} did not answer as a Hugging Face Hub${file ? ` for ${file}` : ''}: ${what} (is HF_ENDPOINT a Hugging Face Hub?); try again later`);
}

/** A request that got no answer (no network, DNS, refused, reset). */
export class HubUnreachableError extends HubError {}

export function hubNetworkError(spec: HubSpec, endpoint: string, err: unknown): HubUnreachableError {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  const why = e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
  return new HubUnreachableError(
    specDisplay(spec),
    `cannot reach ${endpoint} (${why}): check the network (or HF_ENDPOINT), or set HF_HUB_OFFLINE=1 to use only what the Hugging Face cache holds`,
  );
}

/**
 * The VAEs `compare` and `nan-scan` use when given none: SDXL's own VAE and its fp16-safe
 * fine-tune, the pair the model card compares. Both come from the Hugging Face cache, or are
 * downloaded into it; offline and absent, one message names what is missing, the command that
 * fetches it, and --demo as the way to run without them.
 */
import { HubError, option } from '../errors.js';
import { hubCacheDir } from './env.js';
import { HubNotCachedError, HubUnreachableError, downloadCommand } from './hub-errors.js';
import { type ResolveHubOptions, resolveHubVae } from './resolve.js';
import { parseHubSpec } from './spec.js';

export const DEFAULT_VAES = [
  { label: 'sdxl-vae', spec: 'stabilityai/sdxl-vae' },
  { label: 'sdxl-vae-fp16-fix', spec: 'madebyollin/sdxl-vae-fp16-fix' },
] as const;

export interface DefaultVae {
  label: string;
  /** the Hub spec (shown as the VAE's source) */
  spec: string;
  /** the local path loadVae reads */
  path: string;
}

const DEMO_HINT = `or use the bundled miniature pair (${option('demo')}: no download), or name the VAEs (${option('vaes')})`;

/** Both default VAEs as local paths (from the cache, downloading what is missing). */
export async function resolveDefaultVaes(opts: ResolveHubOptions = {}): Promise<DefaultVae[]> {
  const out: DefaultVae[] = [];
  const missing: HubNotCachedError[] = [];
  for (const d of DEFAULT_VAES) {
    try {
      const r = await resolveHubVae(parseHubSpec(d.spec)!, opts);
      out.push({ label: d.label, spec: d.spec, path: r.path });
    } catch (e) {
      if (e instanceof HubNotCachedError) missing.push(e);
      else if (e instanceof HubUnreachableError) throw new HubUnreachableError(e.repo, `${e.problem}; ${DEMO_HINT}`);
      else throw e;
    }
  }
  if (missing.length > 0) {
    const names = missing.map((m) => m.spec.repo);
    const cmds = missing.map((m) => downloadCommand(m.spec, opts.variant)).join(' && ');
    throw new HubError(
      names.join(', '),
      `the default VAE${names.length > 1 ? 's are' : ' is'} not in the Hugging Face cache (${hubCacheDir(opts.env)}) and HF_HUB_OFFLINE is set: ` +
        `fetch ${names.length > 1 ? 'them' : 'it'} with \`${cmds}\` (\`huggingface-cli download …\` with huggingface_hub older than 1.0), ` +
        `or run once without HF_HUB_OFFLINE, ${DEMO_HINT}`,
    );
  }
  return out;
}

/**
 * The Hugging Face environment as Python's huggingface_hub reads it: the cache folder, the endpoint,
 * the token and offline mode. Every function takes the environment as an argument (default
 * process.env) so that tests and library users can point vaecheck elsewhere without touching it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export type Env = Record<string, string | undefined>;

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

/** `~` and `~/…` as the user's home folder (Python's os.path.expanduser). */
function expandUser(p: string): string {
  if (p === '~') return homedir();
  if (p.startsWith('~/')) return join(homedir(), p.slice(2));
  return p;
}

const nonEmpty = (v: string | undefined): string | undefined => (v !== undefined && v.trim() !== '' ? v : undefined);

/** `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`. */
export function hfHome(env: Env = process.env): string {
  const home = nonEmpty(env.HF_HOME);
  if (home) return expandUser(home);
  return join(expandUser(nonEmpty(env.XDG_CACHE_HOME) ?? join(homedir(), '.cache')), 'huggingface');
}

/**
 * The hub cache folder: `$HF_HUB_CACHE`, else the legacy `$HUGGINGFACE_HUB_CACHE`, else
 * `$HF_HOME/hub` (so `~/.cache/huggingface/hub` by default).
 */
export function hubCacheDir(env: Env = process.env): string {
  const dir = nonEmpty(env.HF_HUB_CACHE) ?? nonEmpty(env.HUGGINGFACE_HUB_CACHE);
  return dir ? expandUser(dir) : join(hfHome(env), 'hub');
}

/** `$HF_ENDPOINT` without trailing slashes, else https://huggingface.co. */
export function hubEndpoint(env: Env = process.env): string {
  return (nonEmpty(env.HF_ENDPOINT) ?? DEFAULT_ENDPOINT).trim().replace(/\/+$/, '');
}

/** huggingface_hub's truthy values: 1, ON, YES, TRUE (any case). */
export function isTrue(v: string | undefined): boolean {
  return v !== undefined && ['1', 'ON', 'YES', 'TRUE'].includes(v.trim().toUpperCase());
}

/** `HF_HUB_OFFLINE` set to a truthy value: no network at all, the cache only. */
export function hubOffline(env: Env = process.env): boolean {
  return isTrue(env.HF_HUB_OFFLINE);
}

/**
 * The access token: `$HF_TOKEN`, else the legacy `$HUGGING_FACE_HUB_TOKEN`, else the file that
 * `hf auth login` / `huggingface-cli login` writes (`$HF_TOKEN_PATH`, default `$HF_HOME/token`).
 */
export function hubToken(env: Env = process.env): { token: string; from: string } | undefined {
  for (const name of ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN']) {
    const v = nonEmpty(env[name]);
    if (v) return { token: v.trim(), from: name };
  }
  const file = nonEmpty(env.HF_TOKEN_PATH) ? expandUser(env.HF_TOKEN_PATH!) : join(hfHome(env), 'token');
  try {
    if (existsSync(file)) {
      const t = readFileSync(file, 'utf8').trim();
      if (t) return { token: t, from: file };
    }
  } catch {
    // an unreadable token file is as good as none
  }
  return undefined;
}

export interface HubEnv {
  cacheDir: string;
  endpoint: string;
  offline: boolean;
  token?: { token: string; from: string };
}

export function hubEnv(env: Env = process.env): HubEnv {
  return { cacheDir: hubCacheDir(env), endpoint: hubEndpoint(env), offline: hubOffline(env), token: hubToken(env) };
}

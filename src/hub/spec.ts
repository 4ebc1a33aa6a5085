/**
 * Hub specs: how a user names a VAE on the Hugging Face Hub.
 *
 *   stabilityai/sdxl-vae                          a repo (bare: only when it cannot be a local path, see isHubSpec)
 *   hf:stabilityai/sdxl-vae                       the same, explicitly
 *   hf:owner/repo@revision                        a branch, tag or commit (refs/pr/N works too)
 *   hf:stabilityai/stable-diffusion-xl-base-1.0/vae        a subfolder of the repo
 *   hf:owner/repo@revision/subfolder/name.safetensors      one single-file VAE inside the repo
 *
 * The bare form is `owner/name[@revision]` only: a subfolder or file inside the repo needs `hf:`, so
 * that a mistyped local path (`models/sdxl/vae`, `some/dir/vae.safetensors`) is reported as a missing
 * file, never looked up on the Hub. See isHubSpec for the whole rule.
 */
import { existsSync, statSync } from 'node:fs';

export interface HubSpec {
  /** `owner/name` */
  repo: string;
  /** the revision asked for (default `main`) */
  revision: string;
  /** whether the user gave one */
  revisionGiven: boolean;
  /** path inside the repo ('' for the root): a folder, or a file ending in .safetensors */
  subfolder: string;
  /** true for `hf:…`, false for the bare form */
  explicit: boolean;
  /** the text the user gave */
  text: string;
}

export const HF_PREFIX = 'hf:';

// huggingface_hub's validate_repo_id, for each half: word characters, '-' and '.', no '--' or '..',
// not starting or ending with '-' or '.', at most 96 characters
const PART = /^[A-Za-z0-9_](?:[\w.-]{0,94}[A-Za-z0-9_])?$/;
const validPart = (s: string) => PART.test(s) && !s.includes('--') && !s.includes('..');

const FILE_EXT = /\.(safetensors|ckpt|pt|pth|bin|onnx|npy|json|png|jpe?g|webp)$/i;

/**
 * Parses a Hub spec; null when `text` is not one (wrong shape or invalid repo id). Does not look at
 * the file system: see isHubSpec for the bare form's rule.
 */
export function parseHubSpec(text: string): HubSpec | null {
  const explicit = text.startsWith(HF_PREFIX);
  let rest = explicit ? text.slice(HF_PREFIX.length) : text;
  if (rest.includes('\\') || rest.startsWith('/')) return null;
  const slash = rest.indexOf('/');
  if (slash < 0) return null;
  const owner = rest.slice(0, slash);
  rest = rest.slice(slash + 1);
  const m = /^([^@/]+)(.*)$/.exec(rest);
  if (!m) return null;
  const name = m[1];
  rest = m[2];
  if (!validPart(owner) || !validPart(name)) return null;
  let revision = 'main';
  let revisionGiven = false;
  if (rest.startsWith('@')) {
    rest = rest.slice(1);
    const special = /^refs\/(?:pr|convert)\/[^/]+/.exec(rest);
    const rev = special ? special[0] : (/^[^/]+/.exec(rest)?.[0] ?? '');
    if (!rev) return null;
    revision = rev;
    revisionGiven = true;
    rest = rest.slice(rev.length);
  }
  if (rest !== '' && !rest.startsWith('/')) return null;
  const parts = rest.split('/').filter((p) => p !== '');
  if (parts.some((p) => p === '.' || p === '..')) return null;
  return { repo: `${owner}/${name}`, revision, revisionGiven, subfolder: parts.join('/'), explicit, text };
}

/**
 * Whether `arg` names a VAE on the Hub rather than a local path. `hf:…` is always the Hub (when it
 * parses). Anything that exists locally is local. So is, even when missing (a mistyped path must say
 * "no such file", not go looking on the Hub):
 *   - a path starting with `/`, `./`, `../` or `~`, or ending in a file extension;
 *   - more than two segments (`a/b/c`): Hub subfolders need `hf:`;
 *   - a path whose first segment is an existing local folder (`fixtures/demo-sdxl-vea`).
 * What remains, a bare `owner/name[@revision]` that parses as a repo id, is the Hub.
 */
export function isHubSpec(arg: string): boolean {
  if (arg.startsWith(HF_PREFIX)) return parseHubSpec(arg) !== null;
  return looksLikeHubId(arg) && parseHubSpec(arg) !== null;
}

/** The local-path rules of isHubSpec, without parsing: false when `arg` must be a local path. */
function looksLikeHubId(arg: string): boolean {
  if (existsSync(arg)) return false;
  if (/^(\.{1,2}|~)?[/\\]/.test(arg) || arg === '~' || FILE_EXT.test(arg)) return false;
  const segments = arg.split('/');
  if (segments.length > 2) return false;
  return !isDirectory(segments[0]);
}

/**
 * For a missing local path that would be a Hub repo's subfolder with `hf:` (`models/sdxl/vae`, no
 * local `models/`): the `hf:` spelling to suggest; null when it is plainly a local path.
 */
export function hubSpellingOf(arg: string): string | null {
  if (arg.startsWith(HF_PREFIX) || /^(\.{1,2}|~)?[/\\]/.test(arg) || arg.startsWith('~') || FILE_EXT.test(arg)) return null;
  const segments = arg.split('/');
  if (segments.length < 3 || isDirectory(segments[0])) return null;
  return parseHubSpec(`${HF_PREFIX}${arg}`) ? `${HF_PREFIX}${arg}` : null;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** How a spec is shown in messages: `owner/name[@rev][/subfolder]`. */
export function specDisplay(s: HubSpec): string {
  return `${s.repo}${s.revisionGiven ? `@${s.revision}` : ''}${s.subfolder ? `/${s.subfolder}` : ''}`;
}

/** A short label for reports: the repo's name (e.g. `sdxl-vae-fp16-fix`). */
export function specLabel(s: HubSpec): string {
  const name = s.repo.split('/')[1];
  const file = s.subfolder.endsWith('.safetensors') ? s.subfolder.split('/').pop()!.replace(/\.safetensors$/i, '') : '';
  return file ? `${name}-${file}` : name;
}

/** A 40-hex-digit git commit hash. */
export const isCommitHash = (rev: string) => /^[0-9a-f]{40}$/.test(rev);

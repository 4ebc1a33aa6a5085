/**
 * The two Hub requests vaecheck makes before downloading, at `HF_ENDPOINT`:
 *
 *  - the repo's metadata at a revision (`GET /api/models/{repo}/revision/{rev}`, through
 *    @huggingface/hub's modelInfo): the commit hash the revision points to and the repo's files;
 *  - a file's metadata (`HEAD /{repo}/resolve/{commit}/{path}`, as huggingface_hub's
 *    get_hf_file_metadata does): its etag (X-Linked-Etag for LFS files: their sha256; else ETag:
 *    the git blob id), its size (X-Linked-Size, else Content-Length) and where to download it (the
 *    Location of the redirect to the CDN for LFS files). Relative redirects (a renamed repo) are
 *    followed; absolute ones are where the bytes are.
 *
 * HF_TOKEN goes along as `Authorization: Bearer …` to the endpoint's own origin only.
 */
import { modelInfo } from '@huggingface/hub';
import { VaecheckError } from '../errors.js';
import { normalizeEtag } from './blob-hash.js';
import type { HubEnv } from './env.js';
import { type HttpFailure, hubHttpError, hubNetworkError, hubProtocolError } from './hub-errors.js';
import type { HubSpec } from './spec.js';

export const USER_AGENT = 'vaecheck (huggingface_hub-compatible cache)';

export interface HubContext {
  spec: HubSpec;
  env: HubEnv;
  /** the fetch to use (default: global fetch) */
  fetch?: typeof fetch;
}

/** Headers for a request to `url`: the token only for the endpoint's own origin. */
export function requestHeaders(url: string, env: HubEnv, extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { 'User-Agent': USER_AGENT, ...extra };
  if (env.token && new URL(url).origin === new URL(env.endpoint).origin) h.Authorization = `Bearer ${env.token.token}`;
  return h;
}

/** What a failed response says: status, X-Error-Code, and the Hub's message. */
async function failureOf(res: Response): Promise<HttpFailure> {
  let message = res.headers.get('x-error-message') ?? undefined;
  if (!message && res.headers.get('content-type')?.includes('json')) {
    try {
      const j = (await res.json()) as { error?: string; message?: string };
      message = j.error ?? j.message;
    } catch {
      // no JSON body
    }
  }
  return { status: res.status, errorCode: res.headers.get('x-error-code'), message };
}

/** fetch, with network failures turned into one clear HubUnreachableError (exit 5). */
export async function hubFetch(ctx: HubContext, url: string, init: RequestInit): Promise<Response> {
  try {
    return await (ctx.fetch ?? fetch)(url, init);
  } catch (e) {
    if (e instanceof VaecheckError || (e as Error)?.name === 'AbortError') throw e;
    throw hubNetworkError(ctx.spec, ctx.env.endpoint, e);
  }
}

export interface RepoRevision {
  /** the commit hash the revision points to */
  commit: string;
  /** every file of the repo at that commit (paths with '/') */
  files: string[];
}

/** The commit a revision points to and the repo's files there (one API call). */
export async function repoRevision(ctx: HubContext): Promise<RepoRevision> {
  const { spec, env } = ctx;
  let failure: HttpFailure | undefined;
  // modelInfo builds the URL and parses the answer; this fetch adds the token and keeps the Hub's
  // error code, which modelInfo's error does not carry
  const tracked = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const headers = { ...(init?.headers as Record<string, string> | undefined), ...requestHeaders(url, env, { Accept: 'application/json' }) };
    const res = await hubFetch(ctx, url, { ...init, headers });
    if (!res.ok) failure = await failureOf(res.clone());
    return res;
  };
  let info: { sha?: string; filePaths?: string[] };
  try {
    info = await modelInfo({ name: spec.repo, revision: spec.revision, hubUrl: env.endpoint, fetch: tracked as typeof fetch, additionalFields: ['sha', 'filePaths'] });
  } catch (e) {
    if (e instanceof VaecheckError) throw e;
    if (failure) throw hubHttpError(spec, failure, { endpoint: env.endpoint, token: env.token });
    throw hubNetworkError(spec, env.endpoint, e);
  }
  if (typeof info.sha !== 'string' || !/^[0-9a-f]{40}$/.test(info.sha)) {
    throw hubProtocolError(spec, env.endpoint, 'the repo metadata holds no commit hash');
  }
  return { commit: info.sha, files: info.filePaths ?? [] };
}

export interface FileMetadata {
  etag: string;
  size: number;
  /** where to GET the bytes (the CDN for LFS files) */
  location: string;
  commit?: string;
}

export const encodePath = (p: string) => p.split('/').map(encodeURIComponent).join('/');

export function resolveUrl(endpoint: string, repo: string, revision: string, file: string): string {
  return `${endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${encodePath(file)}`;
}

/** HEAD of a file at a commit: etag, size and download location. */
export async function fileMetadata(ctx: HubContext, commit: string, file: string): Promise<FileMetadata> {
  const { spec, env } = ctx;
  let url = resolveUrl(env.endpoint, spec.repo, commit, file);
  for (let hop = 0; hop < 10; hop++) {
    const res = await hubFetch(ctx, url, { method: 'HEAD', redirect: 'manual', headers: requestHeaders(url, env, { 'Accept-Encoding': 'identity' }) });
    const loc = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && loc && !/^[a-z][a-z0-9+.-]*:/i.test(loc)) {
      url = new URL(loc, url).href; // a relative redirect: the repo was renamed
      continue;
    }
    if (!(res.ok || (res.status >= 300 && res.status < 400))) {
      throw hubHttpError(spec, await failureOf(res), { endpoint: env.endpoint, token: env.token, file });
    }
    const etag = normalizeEtag(res.headers.get('x-linked-etag') ?? res.headers.get('etag'));
    const size = Number(res.headers.get('x-linked-size') ?? res.headers.get('content-length'));
    if (!etag || !Number.isSafeInteger(size) || size < 0) {
      throw hubProtocolError(spec, env.endpoint, 'no ETag or size', file);
    }
    return { etag, size, location: loc ? new URL(loc, url).href : url, commit: res.headers.get('x-repo-commit') ?? undefined };
  }
  throw hubProtocolError(spec, env.endpoint, 'more than 10 redirects', file);
}

/**
 * A loopback stand-in for the Hugging Face Hub (node:http on 127.0.0.1, a free port), serving fake
 * repos made of fixture files. It answers what vaecheck's client asks, the way the Hub does:
 *
 *  GET  /api/models/{owner}/{name}/revision/{rev}   {sha, siblings: [{rfilename}], …}
 *  HEAD /{owner}/{name}/resolve/{rev}/{path}       X-Repo-Commit; regular files: 200 with
 *  GET  …                                          ETag = git blob sha1 and Content-Length;
 *                                                  LFS files (*.safetensors, *.bin): 302 to
 *                                                  /cdn/{sha256} with X-Linked-Etag (the sha256)
 *                                                  and X-Linked-Size
 *  HEAD/GET /cdn/{sha256}                          the bytes, Range requests answered with 206
 *
 * Errors as the Hub sends them: 401 + X-Error-Code RepoNotFound for a private repo without a
 * valid token, 401/403 + GatedRepo for a gated one, 404 + RepoNotFound / RevisionNotFound /
 * EntryNotFound. Every request is logged (method, path, headers) so tests can count them.
 * Faults for tests: cut a download once after N bytes, or serve corrupted bytes.
 */
import { createHash } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeFile {
  path: string;
  bytes: Buffer;
}

export interface FakeRepo {
  repo: string;
  files: FakeFile[];
  /** needs a valid token to be seen at all */
  private?: boolean;
  /** metadata public, files need a token that was granted access */
  gated?: boolean;
}

export interface LoggedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
}

/** The token the fake Hub accepts (and grants gated access to). */
export const GOOD_TOKEN = 'hf_fake_good_token';
/** A valid token that was not granted access to gated repos. */
export const UNGRANTED_TOKEN = 'hf_fake_ungranted_token';

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
export const gitSha1 = (b: Uint8Array) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
export const commitOf = (repo: string) => createHash('sha1').update(`commit of ${repo}`).digest('hex');
export const isLfs = (path: string) => /\.(safetensors|bin)$/.test(path);

interface Fault {
  kind: 'cut' | 'corrupt';
  afterBytes: number;
  times: number;
}

export class FakeHub {
  readonly requests: LoggedRequest[] = [];
  private readonly faults = new Map<string, Fault>();
  private readonly byRepo = new Map<string, FakeRepo>();
  private readonly bySha = new Map<string, Buffer>();

  private constructor(
    private readonly server: Server,
    readonly origin: string,
    /** the path the Hub lives under (e.g. /mirror), '' at the root */
    readonly prefix: string,
    repos: FakeRepo[],
    /** where LFS redirects point (default: this server's own /cdn/) */
    private readonly cdnOrigin?: string,
  ) {
    for (const r of repos) {
      this.byRepo.set(r.repo, r);
      for (const f of r.files) if (isLfs(f.path)) this.bySha.set(sha256(f.bytes), f.bytes);
    }
  }

  /** The HF_ENDPOINT to use. */
  get endpoint(): string {
    return this.origin + this.prefix;
  }

  static async start(repos: FakeRepo[], opts: { prefix?: string; cdnOrigin?: string } = {}): Promise<FakeHub> {
    let hub: FakeHub | undefined;
    const server = createServer((req, res) => hub!.handle(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    hub = new FakeHub(server, `http://127.0.0.1:${port}`, opts.prefix ?? '', repos, opts.cdnOrigin);
    return hub;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** The next `times` GETs of this repo file's bytes stop after `afterBytes` bytes (socket destroyed). */
  cutDownload(path: string, afterBytes: number, times = 1): void {
    this.faults.set(path, { kind: 'cut', afterBytes, times });
  }

  /** The next `times` GETs of this repo file's bytes have one byte flipped (same size, same headers). */
  corruptDownload(path: string, times = 1): void {
    this.faults.set(path, { kind: 'corrupt', afterBytes: 0, times });
  }

  /** Requests whose path contains `part`. */
  count(part = ''): number {
    return this.requests.filter((r) => r.path.includes(part)).length;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.origin);
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname + url.search, headers: req.headers });
    const path = decodeURIComponent(url.pathname);
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(url.pathname);
    if (cdn) {
      const bytes = this.bySha.get(cdn[1]);
      if (!bytes) return this.fail(res, 404, 'EntryNotFound', 'no such object');
      const paths = [...this.byRepo.values()].flatMap((r) => r.files).filter((f) => isLfs(f.path) && sha256(f.bytes) === cdn[1]).map((f) => f.path);
      return this.sendBytes(req, res, bytes, paths, { ETag: `"${cdn[1]}"` });
    }
    if (!path.startsWith(`${this.prefix}/`)) return this.fail(res, 404, undefined, 'not under the endpoint');
    const rest = path.slice(this.prefix.length);
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/(.+)$/.exec(rest);
    if (api) return this.apiRevision(req, res, api[1], api[2]);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(rest);
    if (resolve) return this.resolveFile(req, res, resolve[1], resolve[2], resolve[3]);
    this.fail(res, 404, undefined, 'unknown endpoint');
  }

  private token(req: IncomingMessage): string | undefined {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    return m?.[1];
  }

  private fail(res: ServerResponse, status: number, code: string | undefined, message: string): void {
    const body = JSON.stringify({ error: message });
    const headers: Record<string, string> = { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)) };
    if (code) {
      headers['X-Error-Code'] = code;
      headers['X-Error-Message'] = message;
    }
    res.writeHead(status, headers);
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }

  /** The repo if the request may see it, else the error already sent. */
  private repoFor(req: IncomingMessage, res: ServerResponse, name: string): FakeRepo | undefined {
    const repo = this.byRepo.get(name);
    const token = this.token(req);
    const valid = token === GOOD_TOKEN || token === UNGRANTED_TOKEN;
    if (!repo || (repo.private && token !== GOOD_TOKEN)) {
      // the Hub does not tell a missing repo from a private one to those who cannot see it
      if (!valid) this.fail(res, 401, 'RepoNotFound', 'Repository Not Found');
      else this.fail(res, 404, 'RepoNotFound', 'Repository Not Found');
      return undefined;
    }
    return repo;
  }

  private apiRevision(req: IncomingMessage, res: ServerResponse, name: string, rev: string): void {
    const repo = this.repoFor(req, res, name);
    if (!repo) return;
    const commit = commitOf(repo.repo);
    if (rev !== 'main' && rev !== commit) return this.fail(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
    const body = JSON.stringify({
      _id: `id-${commit.slice(0, 8)}`,
      id: repo.repo,
      sha: commit,
      private: !!repo.private,
      gated: repo.gated ? 'manual' : false,
      downloads: 0,
      likes: 0,
      lastModified: '2024-01-01T00:00:00.000Z',
      siblings: repo.files.map((f) => ({ rfilename: f.path })),
    });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) });
    res.end(body);
  }

  private resolveFile(req: IncomingMessage, res: ServerResponse, name: string, rev: string, path: string): void {
    const repo = this.repoFor(req, res, name);
    if (!repo) return;
    if (repo.gated) {
      const token = this.token(req);
      if (token !== GOOD_TOKEN) {
        const msg = `Access to model ${repo.repo} is restricted. You must have access to it and be authenticated to access it. Please log in.`;
        return this.fail(res, token === UNGRANTED_TOKEN ? 403 : 401, 'GatedRepo', msg);
      }
    }
    const commit = commitOf(repo.repo);
    if (rev !== 'main' && rev !== commit) return this.fail(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
    const file = repo.files.find((f) => f.path === path);
    if (!file) return this.fail(res, 404, 'EntryNotFound', `${path} does not exist`);
    if (isLfs(path)) {
      const sha = sha256(file.bytes);
      res.writeHead(302, {
        Location: `${this.cdnOrigin ?? this.origin}/cdn/${sha}`,
        'X-Repo-Commit': commit,
        'X-Linked-Etag': `"${sha}"`,
        'X-Linked-Size': String(file.bytes.length),
        ETag: `"${gitSha1(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha}\nsize ${file.bytes.length}\n`))}"`,
        'Content-Length': '0',
      });
      return void res.end();
    }
    this.sendBytes(req, res, file.bytes, [file.path], { ETag: `"${gitSha1(file.bytes)}"`, 'X-Repo-Commit': commit });
  }

  private sendBytes(req: IncomingMessage, res: ServerResponse, bytes: Buffer, paths: string[], headers: Record<string, string>): void {
    const total = bytes.length;
    let start = 0;
    let status = 200;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      if (start >= total) {
        res.writeHead(416, { 'Content-Range': `bytes */${total}` });
        return void res.end();
      }
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${total - 1}/${total}`;
    }
    let body = bytes.subarray(start);
    res.writeHead(status, { ...headers, 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream', 'Content-Length': String(body.length) });
    if (req.method === 'HEAD') return void res.end();
    const fault = paths.map((p) => this.faults.get(p)).find((f) => f !== undefined && f.times > 0);
    if (fault) {
      fault.times--;
      if (fault.kind === 'corrupt') {
        body = Buffer.from(body);
        body[Math.floor(body.length / 2)] ^= 0xff;
      } else {
        const part = body.subarray(0, Math.min(fault.afterBytes, body.length));
        res.write(part, () => setTimeout(() => res.socket?.destroy(), 30));
        return;
      }
    }
    res.end(body);
  }
}

import * as http from 'node:http';
import * as https from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { commit, createRepo, downloadFile, HubApiError, listFiles, type CommitOperation } from '@huggingface/hub';
import { errorMessage } from '../format/error.js';
import { DiskBlob } from './disk-blob.js';
import { diagnoseHubFailure, HUB_RETRY, retryAfterMs, retryDelay, type HubOperation, type RetryPolicy } from './write-faults.js';

/**
 * The Hub's write API, through @huggingface/hub (commit, LFS and Xet are its business): the
 * repository's state, its creation, a file's text, and one atomic commit. Every request goes
 * through a fetch that retries 429 (after Retry-After) and 5xx; a failure becomes a
 * HubPublishError that says what to do.
 */

/** A file to commit: its path in the repository and where its bytes are (several sources are joined in order). */
export interface LocalFile {
  path: string;
  size: number;
  sha256: string;
  /** Absolute paths whose concatenation is the file (a zip's parts), or the text itself. */
  sources?: string[];
  text?: string;
}

/** A file of the repository's tree listing (GET /api/models/{repo}/tree/{rev}?recursive=true). */
export interface RemoteFile {
  path: string;
  size: number;
  /** Git blob id of the file, or of the LFS pointer when lfs is set. */
  oid?: string;
  lfs?: { oid: string; size: number };
}

export interface CommitPlan {
  upload: LocalFile[];
  delete: string[];
  /** Paths whose content is already in the repository. */
  unchanged: string[];
}

export interface HubTarget {
  repo: string;
  revision: string;
  /** The Hub or a mirror (HF_ENDPOINT), without a trailing slash. */
  endpoint: string;
  token: string;
}

export class HubPublishError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    /** How many times the failing request was sent (more than 1: an earlier try's answer was a 5xx or lost). */
    readonly attempts?: number,
  ) {
    super(message);
  }
}

export interface RepoState {
  exists: boolean;
  private?: boolean;
  /** The commit the branch points at (the new commit's parent); undefined for an empty repository. */
  head?: string;
  files: RemoteFile[];
}

export interface WriterOptions {
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  policy?: RetryPolicy;
  log?: (line: string) => void;
}

/** The address a fetch call asks for, whichever form it was given in. */
const urlOf = (input: Parameters<typeof fetch>[0]): string => (typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);

/** A fetch that asks again on 429 and 5xx and on dropped connections; counts the tries of the last request. */
export function retryingFetch(base: typeof fetch, options: Required<Omit<WriterOptions, 'fetch'>> & { tries: { last: number } }): typeof fetch {
  return async (input, init) => {
    for (let attempt = 1; ; attempt++) {
      options.tries.last = attempt;
      let response: Response | undefined;
      let failure: unknown;
      try {
        response = await base(input, init);
      } catch (error) {
        if ((error as Error)?.name === 'AbortError') throw error;
        failure = error;
      }
      const wait = retryDelay(response?.status, retryAfterMs(response?.headers.get('retry-after'), Date.now()), attempt, options.policy);
      if (response && (response.ok || wait === undefined)) return response;
      if (wait === undefined) throw failure;
      const url = urlOf(input);
      options.log(`${init?.method ?? 'GET'} ${url.replace(/\?.*$/, '')}: ${response ? `answered ${response.status}` : errorMessage(failure)}; trying again in ${Math.round(wait / 100) / 10} s (try ${attempt + 1} of ${options.policy.attempts}).`);
      await response?.body?.cancel().catch(() => undefined);
      await options.sleep(wait);
    }
  };
}

/**
 * A fetch whose PUT of a Blob (an LFS upload or one part of it) streams through node:http:
 * Node's fetch (undici) keeps a streamed request body in memory while it sends it, so five files
 * of five parts in flight would hold 25 parts of up to 64 MiB. Every other request goes to `base`.
 */
export function streamingPutFetch(base: typeof fetch): typeof fetch {
  return async (input, init) => {
    const body = init?.body;
    if (init?.method !== 'PUT' || !(body instanceof Blob)) return base(input, init);
    const url = new URL(urlOf(input));
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, key) => (headers[key] = value));
    headers['content-length'] = String(body.size);
    const client = url.protocol === 'https:' ? https : http;
    const answer = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const request = client.request(url, { method: 'PUT', headers, signal: init.signal ?? undefined }, resolve);
      request.on('error', reject);
      pipeline(Readable.fromWeb(body.stream() as import('node:stream/web').ReadableStream), request).catch(reject);
    });
    const chunks: Buffer[] = [];
    for await (const chunk of answer) chunks.push(chunk as Buffer);
    const responseHeaders = new Headers();
    for (const [key, value] of Object.entries(answer.headers)) {
      for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) responseHeaders.append(key, v);
    }
    const status = answer.statusCode ?? 0;
    const response = new Response([101, 204, 205, 304].includes(status) ? null : Buffer.concat(chunks), { status, statusText: answer.statusMessage, headers: responseHeaders });
    // createApiError names the URL that answered.
    Object.defineProperty(response, 'url', { value: url.href });
    return response;
  };
}

/** Which call of a commit failed, from the URL that answered. */
function operationOf(url: string | undefined): HubOperation {
  return url && /\/commit\//.test(url) ? 'commit' : 'upload';
}

export class HubWriter {
  private readonly fetch: typeof fetch;
  private readonly tries = { last: 0 };

  constructor(
    readonly target: HubTarget,
    options: WriterOptions = {},
  ) {
    this.fetch = retryingFetch(options.fetch ?? streamingPutFetch(fetch), {
      sleep: options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
      policy: options.policy ?? HUB_RETRY,
      log: options.log ?? (() => undefined),
      tries: this.tries,
    });
  }

  private get credentials() {
    return { repo: { type: 'model' as const, name: this.target.repo }, hubUrl: this.target.endpoint, accessToken: this.target.token, fetch: this.fetch };
  }

  private fail(operation: HubOperation, error: unknown): HubPublishError {
    if (error instanceof HubPublishError) return error;
    const status = error instanceof HubApiError ? error.statusCode : undefined;
    const op = operation === 'commit' || operation === 'upload' ? operationOf(error instanceof HubApiError ? error.url : undefined) : operation;
    const message = diagnoseHubFailure({ status, operation: op, repo: this.target.repo, revision: this.target.revision, message: errorMessage(error).replace(/\s*URL: .*$/, ''), attempts: this.tries.last });
    return new HubPublishError(message, status, this.tries.last);
  }

  private async getJson(path: string): Promise<{ status: number; json?: Record<string, unknown> }> {
    const response = await this.fetch(`${this.target.endpoint}${path}`, { headers: { authorization: `Bearer ${this.target.token}`, accept: 'application/json' } });
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      return { status: response.status };
    }
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  }

  /** Whether the repository exists, its visibility, the branch's commit and every file on it. */
  async state(): Promise<RepoState> {
    try {
      const repo = encodeURI(this.target.repo);
      const info = await this.getJson(`/api/models/${repo}`);
      if (info.status === 404) return { exists: false, files: [] };
      if (!info.json) throw new HubApiError(`${this.target.endpoint}/api/models/${repo}`, info.status);
      const revision = await this.getJson(`/api/models/${repo}/revision/${encodeURIComponent(this.target.revision)}`);
      if (revision.status === 404) throw new HubPublishError(`Publishing to the Hub repository ${this.target.repo} failed: it has no branch ${JSON.stringify(this.target.revision)} (hub-revision). Create the branch on the Hub, or use an existing one; nothing was committed.`, 404);
      const head = typeof revision.json?.sha === 'string' ? revision.json.sha : undefined;
      const files: RemoteFile[] = [];
      for await (const entry of listFiles({ ...this.credentials, recursive: true, revision: this.target.revision })) {
        if (entry.type !== 'file') continue;
        files.push({ path: entry.path, size: entry.size, oid: entry.oid, lfs: entry.lfs ? { oid: entry.lfs.oid, size: entry.lfs.size } : undefined });
      }
      return { exists: true, private: info.json.private === true, head, files };
    } catch (error) {
      throw this.fail('read the repository', error);
    }
  }

  async create(isPrivate: boolean): Promise<void> {
    try {
      await createRepo({ ...this.credentials, visibility: isPrivate ? 'private' : 'public' });
    } catch (error) {
      // Created meanwhile (a matrix job of another variant): the commit goes on top of it.
      if (error instanceof HubApiError && error.statusCode === 409) return;
      throw this.fail('create the repository', error);
    }
  }

  /** A small file's text on the branch, undefined when there is none. */
  async readText(path: string): Promise<string | undefined> {
    try {
      const blob = await downloadFile({ ...this.credentials, path, revision: this.target.revision });
      return blob ? await blob.text() : undefined;
    } catch (error) {
      if (error instanceof HubApiError && error.statusCode === 404) return undefined;
      throw this.fail('read the repository', error);
    }
  }

  /** A commit's page on the Hub, as its commit endpoint answers it. */
  commitUrl(oid: string): string {
    return `${this.target.endpoint}/${this.target.repo}/commit/${oid}`;
  }

  /** One commit of the plan: every upload and deletion, or nothing (the Hub applies a commit whole). */
  async commit(plan: CommitPlan, message: { title: string; description: string }, parent: string | undefined): Promise<{ oid: string; url: string }> {
    const operations: CommitOperation[] = [
      ...plan.upload.map((f): CommitOperation => ({ operation: 'addOrUpdate', path: f.path, content: f.text !== undefined ? new Blob([f.text]) : DiskBlob.of(f.sources ?? []) })),
      ...plan.delete.map((path): CommitOperation => ({ operation: 'delete', path })),
    ];
    try {
      const out = await commit({ ...this.credentials, title: message.title, description: message.description, operations, branch: this.target.revision, parentCommit: parent });
      if (!out?.commit.oid) throw new Error('the Hub answered the commit without a commit id');
      return out.commit;
    } catch (error) {
      throw this.fail('commit', error);
    }
  }
}

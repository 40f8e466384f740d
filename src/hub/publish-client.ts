import * as http from 'node:http';
import * as https from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createRepo, downloadFile, HubApiError, listFiles } from '@huggingface/hub';
import { errorMessage } from '../format/error.js';
import { DiskBlob } from './disk-blob.js';
import { diagnoseHubFailure, HUB_RETRY, retryAfterMs, retryDelay, type HubOperation, type RetryPolicy } from './write-faults.js';

/**
 * The Hub's write API: the repository's state, its creation and a file's text through
 * @huggingface/hub; one atomic commit through the Hub's own protocol (preupload, the LFS batch
 * API with its basic and multipart transfers, the NDJSON commit), because @huggingface/hub's
 * commit hashes every LFS file again and takes no known sha256, while packaging has them all.
 * The transfer is classic LFS, never Xet: the one the local stand-in Hub speaks and the tests
 * cover, and one the Hub still accepts (it moves the objects to Xet storage itself). Every
 * request goes through a fetch that retries 429 (after Retry-After) and 5xx; a failure becomes a
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

/** The LFS transfers the action offers: classic LFS, never `xet` (see the module's comment). */
export const LFS_TRANSFERS = ['basic', 'multipart'] as const;

/** Pure: the LFS batch request for files whose sha256 packaging computed (the Hub's batch takes up to 100 at a time). */
export function lfsBatchRequest(files: readonly LocalFile[], branch: string): { operation: 'upload'; transfers: string[]; hash_algo: 'sha_256'; ref: { name: string }; objects: { oid: string; size: number }[] } {
  return { operation: 'upload', transfers: [...LFS_TRANSFERS], hash_algo: 'sha_256', ref: { name: branch }, objects: files.map((f) => ({ oid: f.sha256, size: f.size })) };
}

/** The LFS batch API's answer (https://github.com/git-lfs/git-lfs/blob/main/docs/api/batch.md, with the Hub's multipart). */
export interface LfsBatchAnswer {
  transfer?: string;
  objects: { oid: string; size: number; error?: { code: number; message: string }; actions?: { upload?: { href: string; header?: Record<string, string> }; verify?: { href: string; header?: Record<string, string> } } }[];
}

/** What to send for one LFS file: nothing (the Hub has it), one PUT, or parts and a completion. */
export type LfsUpload =
  | { file: LocalFile; kind: 'present' }
  | { file: LocalFile; kind: 'basic'; href: string; verify?: { href: string; header: Record<string, string> } }
  | { file: LocalFile; kind: 'multipart'; parts: { number: number; href: string; start: number; end: number }[]; completion: string; verify?: { href: string; header: Record<string, string> } };

/** Pure: what the batch answer asks for each file, or why it cannot be followed (a per-object error, a transfer not offered, parts that do not cover the file). */
export function lfsUploads(files: readonly LocalFile[], answer: LfsBatchAnswer): LfsUpload[] | { error: string; status?: number } {
  const transfer = answer.transfer ?? 'basic';
  if (!(LFS_TRANSFERS as readonly string[]).includes(transfer)) return { error: `the LFS batch answered with the transfer ${JSON.stringify(transfer)}, which was not offered (${LFS_TRANSFERS.join(', ')})` };
  const byOid = new Map(answer.objects.map((o) => [o.oid, o]));
  const out: LfsUpload[] = [];
  for (const file of files) {
    const o = byOid.get(file.sha256);
    if (!o) return { error: `the LFS batch answer has no object for ${file.path} (sha256 ${file.sha256})` };
    if (o.error) return { error: `the LFS batch refused ${file.path}: ${o.error.message}`, status: o.error.code };
    const upload = o.actions?.upload;
    if (!upload) {
      out.push({ file, kind: 'present' });
      continue;
    }
    const verify = o.actions?.verify ? { href: o.actions.verify.href, header: o.actions.verify.header ?? {} } : undefined;
    const header = upload.header ?? {};
    if (header.chunk_size === undefined) {
      out.push({ file, kind: 'basic', href: upload.href, verify });
      continue;
    }
    const chunk = Number(header.chunk_size);
    const numbers = Object.keys(header).filter((k) => /^[0-9]+$/.test(k)).sort((a, b) => Number(a) - Number(b));
    const count = Math.ceil(file.size / chunk);
    if (!Number.isSafeInteger(chunk) || chunk <= 0 || numbers.length !== count || numbers.some((k, i) => Number(k) !== i + 1)) {
      return { error: `the LFS batch asked for ${numbers.length} parts of ${header.chunk_size} bytes for ${file.path} (${file.size} bytes)` };
    }
    const parts = numbers.map((k, i) => ({ number: i + 1, href: header[k] ?? '', start: i * chunk, end: Math.min((i + 1) * chunk, file.size) }));
    out.push({ file, kind: 'multipart', parts, completion: upload.href, verify });
  }
  return out;
}

/** Pure: the NDJSON body of the Hub's commit endpoint: LFS files by their sha256, the others inline (base64), the deletions. */
export function commitBody(input: { title: string; description: string; parent?: string; lfs: readonly LocalFile[]; inline: readonly { path: string; content: Uint8Array }[]; delete: readonly string[] }): string {
  return [
    { key: 'header', value: { summary: input.title, description: input.description, parentCommit: input.parent } },
    ...input.lfs.map((f) => ({ key: 'lfsFile', value: { path: f.path, algo: 'sha256', size: f.size, oid: f.sha256 } })),
    ...input.inline.map((f) => ({ key: 'file', value: { content: Buffer.from(f.content).toString('base64'), path: f.path, encoding: 'base64' } })),
    ...input.delete.map((path) => ({ key: 'deletedFile', value: { path } })),
  ].map((line) => JSON.stringify(line)).join('\n');
}

/** Pure: groups of at most `size`, in order (the Hub's preupload and batch take 100 files at a time). */
export function inGroups<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
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
 * Node's fetch (undici) keeps a streamed request body in memory while it sends it, so every part
 * in flight would be held whole (up to the Hub's part size each). A DiskBlob writes itself to the
 * request through two reused buffers (DiskBlob.writeTo). Every other request goes to `base`.
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
      if (body instanceof DiskBlob) body.writeTo(request).catch(reject);
      else pipeline(Readable.fromWeb(body.stream() as import('node:stream/web').ReadableStream), request).catch(reject);
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

/** PUTs in flight at once, over all LFS files and parts: the 5 of huggingface_hub and of @huggingface/hub per file (2, 4 and 8 measured alike on the local stand-in). */
export const LFS_PUTS = 5;

/** A file's bytes as a Blob: its text, or its sources on disk joined in order. */
function contentOf(f: LocalFile): Blob {
  return f.text !== undefined ? new Blob([f.text]) : DiskBlob.of(f.sources ?? []);
}

/** Runs tasks with at most `n` at once, in the order they asked. */
function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    while (active >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/** A refused request as @huggingface/hub reports one: a HubApiError with the Hub's message (its JSON `error`, or the storage's XML code) and the URL. */
async function apiError(response: Response, what?: string): Promise<HubApiError> {
  const requestId = response.headers.get('x-request-id') ?? undefined;
  const text = await response.text().catch(() => '');
  let message = `Api error with status ${response.status}${what ? `. Error while ${what}` : ''}`;
  if (response.headers.get('content-type')?.startsWith('application/json')) {
    try {
      const json = JSON.parse(text) as { error?: string; message?: string };
      message = json.error || json.message || message;
    } catch {
      // not JSON after all: the status says it
    }
  } else {
    // The storage's own (S3) error: <Code>BadDigest</Code><Message>...</Message>.
    const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
    const said = /<Message>([^<]*)<\/Message>/.exec(text)?.[1];
    if (code) message += `: ${code}${said ? `, ${said}` : ''}`;
  }
  return new HubApiError(response.url, response.status, requestId, message);
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

  private get auth(): Record<string, string> {
    return { authorization: `Bearer ${this.target.token}` };
  }

  /** POSTs JSON and reads the JSON answer; a refusal becomes a HubApiError with the Hub's message and the URL. */
  private async postJson<T>(url: string, body: unknown, headers: Record<string, string>, signal?: AbortSignal): Promise<T> {
    const response = await this.fetch(url, { method: 'POST', headers, body: JSON.stringify(body), signal });
    if (!response.ok) throw await apiError(response);
    return (await response.json()) as T;
  }

  /** Which files the Hub takes through LFS (preupload: its .gitattributes, the size, a sample of the first 512 bytes). */
  private async uploadModes(files: readonly LocalFile[]): Promise<Map<string, string>> {
    const modes = new Map<string, string>();
    for (const group of inGroups(files, 100)) {
      const payload = { files: await Promise.all(group.map(async (f) => ({ path: f.path, size: f.size, sample: Buffer.from(await contentOf(f).slice(0, 512).arrayBuffer()).toString('base64') }))) };
      const url = `${this.target.endpoint}/api/models/${this.target.repo}/preupload/${encodeURIComponent(this.target.revision)}`;
      const answer = await this.postJson<{ files: { path: string; uploadMode: string }[] }>(url, payload, { ...this.auth, 'content-type': 'application/json' });
      for (const f of answer.files) modes.set(f.path, f.uploadMode);
    }
    const missing = files.find((f) => !modes.has(f.path));
    if (missing) throw new Error(`the Hub's preupload answer leaves out ${missing.path}`);
    return modes;
  }

  /**
   * Sends the Hub the LFS files it does not have yet, by the sha256 packaging computed (no file is
   * read twice): the batch API, then one PUT per file or its parts and the completion, at most
   * LFS_PUTS at a time, file after file; the first failure stops the others.
   */
  private async uploadLfs(files: readonly LocalFile[]): Promise<void> {
    const lfsJson = { accept: 'application/vnd.git-lfs+json', 'content-type': 'application/vnd.git-lfs+json' };
    const url = `${this.target.endpoint}/${this.target.repo}.git/info/lfs/objects/batch`;
    const answer = await this.postJson<LfsBatchAnswer>(url, lfsBatchRequest(files, this.target.revision), { ...this.auth, ...lfsJson });
    const uploads = lfsUploads(files, answer);
    if (!Array.isArray(uploads)) throw uploads.status === undefined ? new Error(uploads.error) : new HubApiError(url, uploads.status, undefined, uploads.error);
    const abort = new AbortController();
    const slot = limiter(LFS_PUTS);
    const put = (href: string, body: Blob, what: string) =>
      slot(async () => {
        abort.signal.throwIfAborted();
        const response = await this.fetch(href, { method: 'PUT', body, signal: abort.signal });
        if (!response.ok) throw await apiError(response, `uploading ${what} to LFS storage`);
        await response.body?.cancel().catch(() => undefined);
        return response.headers.get('etag');
      });
    const send = async (u: LfsUpload): Promise<void> => {
      if (u.kind === 'present') return;
      const content = contentOf(u.file);
      if (u.kind === 'basic') {
        await put(u.href, content, u.file.path);
      } else {
        const etags = await Promise.all(u.parts.map((p) => put(p.href, content.slice(p.start, p.end), `part ${p.number} of ${u.file.path}`)));
        if (etags.some((e) => !e)) throw new Error(`the LFS storage answered a part of ${u.file.path} without an ETag`);
        await this.postJson(u.completion, { oid: u.file.sha256, parts: u.parts.map((p, i) => ({ partNumber: p.number, etag: etags[i] })) }, lfsJson, abort.signal);
      }
      // The token goes to the Hub's own host only, never to a host the batch answer names.
      const hubOwn = u.verify && new URL(u.verify.href).origin === new URL(this.target.endpoint).origin;
      if (u.verify) await this.postJson(u.verify.href, { oid: u.file.sha256, size: u.file.size }, { ...(hubOwn ? this.auth : {}), ...lfsJson, ...u.verify.header }, abort.signal);
    };
    try {
      await Promise.all(uploads.map(send));
    } catch (error) {
      abort.abort();
      throw error;
    }
  }

  /**
   * One commit of the plan: every upload and deletion, or nothing (the Hub applies a commit whole,
   * and uploads are not in the repository until it does).
   */
  async commit(plan: CommitPlan, message: { title: string; description: string }, parent: string | undefined): Promise<{ oid: string; url: string }> {
    try {
      const modes = await this.uploadModes(plan.upload);
      const lfs = plan.upload.filter((f) => modes.get(f.path) === 'lfs');
      // Files of the same content (one sha256) are one LFS object: sent once.
      const objects = [...new Map(lfs.map((f) => [f.sha256, f])).values()];
      for (const group of inGroups(objects, 100)) await this.uploadLfs(group);
      const inline = await Promise.all(plan.upload.filter((f) => modes.get(f.path) !== 'lfs').map(async (f) => ({ path: f.path, content: new Uint8Array(await contentOf(f).arrayBuffer()) })));
      const url = `${this.target.endpoint}/api/models/${this.target.repo}/commit/${encodeURIComponent(this.target.revision)}`;
      const body = commitBody({ title: message.title, description: message.description, parent, lfs, inline, delete: plan.delete });
      const response = await this.fetch(url, { method: 'POST', headers: { ...this.auth, 'content-type': 'application/x-ndjson' }, body });
      if (!response.ok) throw await apiError(response);
      const out = (await response.json()) as { commitOid?: string; commitUrl?: string };
      if (!out.commitOid) throw new Error('the Hub answered the commit without a commit id');
      return { oid: out.commitOid, url: out.commitUrl ?? this.commitUrl(out.commitOid) };
    } catch (error) {
      throw this.fail('commit', error);
    }
  }
}

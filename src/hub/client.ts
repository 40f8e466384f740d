import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import * as path from 'node:path';
import { HttpClient } from '@actions/http-client';
import { filesToFetch, pipelineComponents, repoFolder, type HubFile } from './files.js';
import { contentDigest, downloadOrder, expectedOf, IntegrityError, mismatch, resumeFrom } from './integrity.js';
import { BodyDropped, CertificateError, DirectHttp, proxiedGet, withCertificateProblem, type FileResponse } from './transfer.js';
import { errorMessage } from '../format/error.js';

/** public: anyone downloads; gated: a token whose account accepted the terms; private: a token with access. */
export type HubAccess = 'public' | 'gated' | 'private';

/** The YAML front matter of the repository's README (the Hub's `cardData`), or null when it has none. */
export type ModelCard = Record<string, unknown> | null;

/** The Hub answered a request with an error status. */
export class HubRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HubRequestError';
  }
}

/** The Hub API, through the toolkit's HTTP client with its retries (5xx, resets) in one place. */
export class HubClient {
  private readonly http: HttpClient;

  constructor(
    readonly endpoint: string,
    private readonly token: string,
  ) {
    this.http = new HttpClient('coreml-stable-diffusion-action', [], { allowRetries: true, maxRetries: 3 });
  }

  /** Asks without a token. */
  get anonymous(): boolean {
    return this.token === '';
  }

  private headers(): Record<string, string> {
    return this.token ? { Authorization: `Bearer ${this.token}` } : {};
  }

  /** A GET through the toolkit client; a refused TLS certificate is told with its host (Node gives only OpenSSL's words). */
  private async ask(url: string, headers: Record<string, string>) {
    try {
      return await this.http.get(url, headers);
    } catch (error) {
      throw withCertificateProblem(error, new URL(url));
    }
  }

  /** The commit a revision points at, the repository's files at that commit, and who may read them. */
  async resolve(id: string, revision: string): Promise<{ sha: string; files: HubFile[]; access: HubAccess; card: ModelCard }> {
    const url = `${this.endpoint}/api/models/${id}/revision/${encodeURIComponent(revision)}?blobs=true`;
    const response = await this.ask(url, this.headers());
    const body = await response.readBody();
    const status = response.message.statusCode ?? 0;
    if (status !== 200) throw new HubRequestError(status, `GET ${url} answered ${status}${status === 401 || status === 403 ? ' (the token has no access: gated or private model?)' : ''}`);
    const json = JSON.parse(body) as {
      sha?: string;
      gated?: unknown;
      private?: unknown;
      cardData?: unknown;
      siblings?: Array<{ rfilename: string; blobId?: string; size?: number; lfs?: { sha256?: string; size?: number } }>;
    };
    if (!json.sha) throw new Error(`GET ${url} gave no commit sha`);
    const files = (json.siblings ?? []).map((s) => ({ rfilename: s.rfilename, blobId: s.lfs?.sha256 ?? s.blobId, size: s.lfs?.size ?? s.size, lfs: s.lfs !== undefined }));
    // The Hub lists a gated repository's files to anyone (`gated`: "auto" or "manual"); downloads need a token.
    const access: HubAccess = json.private === true ? 'private' : json.gated !== undefined && json.gated !== false ? 'gated' : 'public';
    const card = json.cardData !== null && typeof json.cardData === 'object' && !Array.isArray(json.cardData) ? (json.cardData as Record<string, unknown>) : null;
    return { sha: json.sha, files, access, card };
  }

  /** A small JSON file of the repository at a commit (model_index.json, a config), parsed. */
  async readJson(id: string, revision: string, file: string): Promise<unknown> {
    const url = `${this.endpoint}/${id}/resolve/${encodeURIComponent(revision)}/${file}`;
    const response = await this.ask(url, this.headers());
    const body = await response.readBody();
    const status = response.message.statusCode ?? 0;
    if (status !== 200) throw new Error(`GET ${url} answered ${status}`);
    try {
      return JSON.parse(body) as unknown;
    } catch {
      throw new Error(`GET ${url} gave no JSON`);
    }
  }

  /**
   * Bytes [start, start + length) of a file at a commit, by a Range request: a safetensors header
   * without the weights. A server that answers with the whole file (200) is cut off, not read.
   */
  async readRange(id: string, revision: string, file: string, start: number, length: number): Promise<Buffer> {
    const url = `${this.endpoint}/${id}/resolve/${encodeURIComponent(revision)}/${file.split('/').map(encodeURIComponent).join('/')}`;
    const response = await this.ask(url, { ...this.headers(), Range: `bytes=${start}-${start + length - 1}` });
    const status = response.message.statusCode ?? 0;
    if (status !== 206) {
      response.message.destroy();
      throw new HubRequestError(status, `GET ${url} with a byte range answered ${status}${status === 200 ? ' (the whole file, not the range)' : ''}`);
    }
    const chunks: Buffer[] = [];
    for await (const chunk of response.message as AsyncIterable<Buffer>) chunks.push(chunk);
    return Buffer.concat(chunks).subarray(0, length);
  }

  /**
   * Puts the files the converter loads (or `only` these), at exactly this commit, into huggingface_hub's cache
   * layout (blobs, snapshots/<sha>, refs/<revision>), so that an offline converter loads that
   * commit. Blobs already there (from a restored cache of an older commit) are linked, not
   * downloaded. Downloads run several at a time, each checked against the listing before it
   * becomes a blob; one that fails stops the others, and no partial file stays.
   */
  async fill(hubCache: string, id: string, revision: string, sha: string, files: HubFile[], only?: readonly string[]): Promise<FillReport> {
    const repo = repoFolder(hubCache, id);
    // A killed run's partial files; this run's each go with their download (toBlob's finally).
    removePartials(path.join(repo, 'blobs'));
    const report: FillReport = { downloadedBytes: 0, downloadedFiles: 0, reusedFiles: 0, downloaded: [] };
    const missing = (only ?? []).filter((name) => !files.some((f) => f.rfilename === name));
    if (missing.length > 0) throw new Error(`${id}@${sha.slice(0, 12)} has no ${missing.join(', ')}`);
    const downloads = new DownloadClient(this.token);
    try {
      if (only) {
        await this.fetchFiles(downloads, repo, id, sha, files.filter((f) => only.includes(f.rfilename)), report);
      } else {
        // A pipeline's model_index.json first: the folders it names are the ones to fetch.
        const index = files.filter((f) => f.rfilename === 'model_index.json');
        await this.fetchFiles(downloads, repo, id, sha, index, report);
        const components = index.length > 0 ? pipelineComponents(readJsonFile(path.join(repo, 'snapshots', sha, 'model_index.json'))) : undefined;
        await this.fetchFiles(downloads, repo, id, sha, filesToFetch(files, components).filter((f) => f.rfilename !== 'model_index.json'), report);
      }
    } finally {
      downloads.dispose();
    }
    // The converter always loads `main`: offline, refs/main decides which commit that is.
    mkdirSync(path.join(repo, 'refs'), { recursive: true });
    for (const ref of new Set(['main', revision].filter((r) => !/^[0-9a-f]{40}$/.test(r)))) writeFileSync(path.join(repo, 'refs', ref), sha);
    return report;
  }

  /** Links what the cache has, downloads the rest several at a time (same content: one blob, several links). */
  private async fetchFiles(downloads: DownloadClient, repo: string, id: string, sha: string, wanted: HubFile[], report: FillReport): Promise<void> {
    const blobs = path.join(repo, 'blobs');
    const pending = new Map<string, { file: HubFile; links: string[] }>();
    for (const file of wanted) {
      const snapshotPath = path.join(repo, 'snapshots', sha, file.rfilename);
      if (hasSize(snapshotPath, file.size)) {
        report.reusedFiles += 1;
        continue;
      }
      if (file.blobId && hasSize(path.join(blobs, file.blobId), file.size)) {
        report.reusedFiles += 1;
        link(snapshotPath, path.join(blobs, file.blobId));
        continue;
      }
      const key = file.blobId ?? `path:${file.rfilename}`;
      const entry = pending.get(key) ?? { file, links: [] };
      entry.links.push(snapshotPath);
      pending.set(key, entry);
    }
    await inParallel(downloadOrder([...pending.values()].map((p) => ({ ...p, size: p.file.size }))), PARALLEL_DOWNLOADS, async ({ file, links }, signal) => {
      const url = `${this.endpoint}/${id}/resolve/${sha}/${file.rfilename.split('/').map(encodeURIComponent).join('/')}`;
      const blob = await downloads.toBlob(url, file, blobs, signal);
      for (const snapshotPath of links) link(snapshotPath, path.join(blobs, blob.name));
      report.downloadedBytes += blob.bytes;
      report.downloadedFiles += 1;
      report.downloaded.push({ blob: path.join(blobs, blob.name), links, bytes: blob.bytes });
    });
  }
}

export interface FillReport {
  downloadedBytes: number;
  downloadedFiles: number;
  reusedFiles: number;
  /** What this fill wrote: each blob with its snapshot links (the budget may let them go after conversion). */
  downloaded: DownloadedBlob[];
}

export interface DownloadedBlob {
  blob: string;
  links: string[];
  bytes: number;
}

/** huggingface_hub fetches 8 files at a time in snapshot_download; so does the action. */
const PARALLEL_DOWNLOADS = 8;
/** Tries per file: a dropped connection resumes where it stopped, a bad digest starts over once. */
const DOWNLOAD_TRIES = 5;
const PARTIAL = '.incomplete';

/** Redirects followed per download (the Hub to its CDN, the CDN's own). */
const MAX_REDIRECTS = 10;

/**
 * File downloads: redirects followed here (the Hub sends LFS and Xet files to its CDN; the token
 * is dropped on another host, as the CDN's signed URLs refuse a second credential), connections
 * kept alive across files, and retries done here rather than by the HTTP client, so a retry resumes.
 */
class DownloadClient {
  private readonly direct = new DirectHttp();
  /** For hosts behind a proxy (its settings are the toolkit client's: https_proxy, no_proxy). */
  private readonly proxied = new HttpClient('coreml-stable-diffusion-action', [], { allowRetries: false, allowRedirects: false, keepAlive: true, socketTimeout: 60_000 });

  constructor(private readonly token: string) {}

  dispose(): void {
    this.direct.dispose();
    this.proxied.dispose();
  }

  /** A GET, redirects followed; the token goes only to the host first asked. */
  private async get(url: string, range: string | undefined): Promise<FileResponse> {
    const first = new URL(url);
    let target = first;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = {};
      if (this.token && target.hostname === first.hostname) headers.Authorization = `Bearer ${this.token}`;
      if (range) headers.Range = range;
      let response: FileResponse;
      try {
        response = this.proxied.getAgentDispatcher(target.href) ? await proxiedGet(this.proxied, target, headers) : await this.direct.get(target, headers);
      } catch (error) {
        throw withCertificateProblem(error, target);
      }
      const location = response.header('location');
      if (![301, 302, 303, 307, 308].includes(response.status) || !location) return response;
      response.discard();
      if (hop === MAX_REDIRECTS) throw new Error(`GET ${url}: more than ${MAX_REDIRECTS} redirects`);
      target = new URL(location, target);
    }
  }

  async toBlob(url: string, file: HubFile, blobs: string, signal: AbortSignal): Promise<{ name: string; bytes: number }> {
    mkdirSync(blobs, { recursive: true });
    const expected = expectedOf(file);
    const partial = path.join(blobs, `${file.blobId ?? randomUUID()}${PARTIAL}`);
    const out = await open(partial, 'w');
    let written = 0;
    let digest = contentDigest(expected);
    let restartedForDigest = false;
    let lastProblem = '';
    const startOver = async () => {
      await out.truncate(0);
      written = 0;
      digest = contentDigest(expected);
    };
    const stopped = () => new Error(`${file.rfilename}: stopped, another download failed`);
    try {
      for (let attempt = 1; attempt <= DOWNLOAD_TRIES; attempt++) {
        if (signal.aborted) throw stopped();
        if (attempt > 1) await sleep(Math.min(500 * 2 ** (attempt - 2), 8_000), signal);
        let response;
        try {
          response = await this.get(url, written > 0 ? `bytes=${written}-` : undefined);
        } catch (error) {
          if (error instanceof CertificateError) throw new Error(`${file.rfilename}: ${error.message}`, { cause: error });
          lastProblem = errorMessage(error);
          continue;
        }
        const status = response.status;
        if (status === 429 || status >= 500) {
          response.discard();
          lastProblem = `answered ${status}`;
          const retryAfter = Number(response.header('retry-after'));
          if (status === 429 && retryAfter > 0) await sleep(Math.min(retryAfter, 60) * 1000, signal);
          continue;
        }
        if (status !== 200 && status !== 206) {
          response.discard();
          throw new Error(`GET ${url} answered ${status}${status === 401 || status === 403 ? ' (the token has no access: gated or private model?)' : ''}`);
        }
        const join = written === 0 && status === 200 ? 'append' : resumeFrom(status, response.header('content-range'), written);
        if (join !== 'append') {
          // A 200 is the whole file again; a range that does not join: take the whole file.
          if (join === 'refuse') response.discard();
          await startOver();
          if (join === 'refuse') {
            lastProblem = `answered ${status} with a range that does not start at byte ${written}`;
            continue;
          }
        }
        const total = expected?.size ?? totalOf(status, response, written);
        // Bytes are hashed as they arrive and written as they are; whatever arrived before a drop is
        // written (and hashed), so a retry resumes there.
        try {
          written += await response.saveTo(out, written, (bytes) => digest.update(bytes), signal);
        } catch (error) {
          if (signal.aborted) throw stopped();
          if (!(error instanceof BodyDropped)) throw error;
          written += error.written;
          lastProblem = `connection dropped after ${written} bytes (${error.message})`;
          continue;
        }
        if (total !== undefined && written < total) {
          lastProblem = `connection dropped after ${written} of ${total} bytes`;
          continue;
        }
        const hex = digest.digest('hex');
        const problem = mismatch(file.rfilename, expected, written, hex);
        if (problem) {
          // Bytes damaged in transit: fetch once more from zero; twice wrong is not chance.
          if (!restartedForDigest && attempt < DOWNLOAD_TRIES) {
            restartedForDigest = true;
            lastProblem = problem;
            await startOver();
            continue;
          }
          throw new IntegrityError(file.rfilename, `${problem}; the download was deleted, nothing of it was kept`);
        }
        await out.close();
        const name = expected?.hex ?? hex;
        renameSync(partial, path.join(blobs, name));
        return { name, bytes: written };
      }
      throw new Error(`GET ${url} failed ${DOWNLOAD_TRIES} times, the last time: ${lastProblem}`);
    } finally {
      await out.close().catch(() => undefined);
      rmSync(partial, { force: true });
    }
  }
}

/** The whole file's size from a response, when it says: Content-Range's total, else Content-Length. */
function totalOf(status: number, response: FileResponse, written: number): number | undefined {
  const ofRange = /\/(\d+)$/.exec(response.header('content-range') ?? '')?.[1];
  if (status === 206 && ofRange) return Number(ofRange);
  const length = response.header('content-length');
  return length !== undefined ? written + Number(length) : undefined;
}

/**
 * Runs work on items, at most `limit` at a time; the first failure aborts the signal the others
 * watch, and is what this rejects with once every started item has stopped.
 */
async function inParallel<T>(items: T[], limit: number, work: (item: T, signal: AbortSignal) => Promise<void>): Promise<void> {
  const controller = new AbortController();
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !controller.signal.aborted) {
      const item = items[next++] as T;
      try {
        await work(item, controller.signal);
      } catch (error) {
        failure ??= { error };
        controller.abort();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

/** A JSON file, parsed; undefined when it cannot be read or parsed (then nothing is narrowed by it). */
function readJsonFile(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function hasSize(file: string, size: number | undefined): boolean {
  try {
    const stat = statSync(file);
    return size === undefined || stat.size === size;
  } catch {
    return false;
  }
}

/** A snapshot entry as huggingface_hub makes it: a relative symlink to the blob (replacing a stale one). */
function link(snapshotPath: string, blob: string): void {
  mkdirSync(path.dirname(snapshotPath), { recursive: true });
  rmSync(snapshotPath, { force: true });
  symlinkSync(path.relative(path.dirname(snapshotPath), blob), snapshotPath);
}

/** Partial downloads left by a killed run: never cached, never a blob. */
function removePartials(blobs: string): void {
  if (!existsSync(blobs)) return;
  for (const name of readdirSync(blobs)) if (name.endsWith(PARTIAL)) rmSync(path.join(blobs, name), { force: true });
}

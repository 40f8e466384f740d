import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { HttpClient } from '@actions/http-client';
import { filesToFetch, repoFolder, type HubFile } from './files.js';

/** The Hub API, through the toolkit's HTTP client with its retries (5xx, resets) in one place. */
export class HubClient {
  private readonly http: HttpClient;

  constructor(
    readonly endpoint: string,
    private readonly token: string,
  ) {
    this.http = new HttpClient('coreml-stable-diffusion-action', [], { allowRetries: true, maxRetries: 3 });
  }

  private headers(): Record<string, string> {
    return this.token ? { Authorization: `Bearer ${this.token}` } : {};
  }

  /** The commit a revision points at, and the repository's files at that commit. */
  async resolve(id: string, revision: string): Promise<{ sha: string; files: HubFile[] }> {
    const url = `${this.endpoint}/api/models/${id}/revision/${encodeURIComponent(revision)}?blobs=true`;
    const response = await this.http.get(url, this.headers());
    const body = await response.readBody();
    const status = response.message.statusCode ?? 0;
    if (status !== 200) throw new Error(`GET ${url} answered ${status}${status === 401 || status === 403 ? ' (the token has no access: gated or private model?)' : ''}`);
    const json = JSON.parse(body) as { sha?: string; siblings?: Array<{ rfilename: string; blobId?: string; size?: number; lfs?: { sha256?: string; size?: number } }> };
    if (!json.sha) throw new Error(`GET ${url} gave no commit sha`);
    const files = (json.siblings ?? []).map((s) => ({ rfilename: s.rfilename, blobId: s.lfs?.sha256 ?? s.blobId, size: s.lfs?.size ?? s.size }));
    return { sha: json.sha, files };
  }

  /** A small JSON file of the repository at a commit (model_index.json, a config), parsed. */
  async readJson(id: string, revision: string, file: string): Promise<unknown> {
    const url = `${this.endpoint}/${id}/resolve/${encodeURIComponent(revision)}/${file}`;
    const response = await this.http.get(url, this.headers());
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
   * Puts the files the converter loads, at exactly this commit, into huggingface_hub's cache
   * layout (blobs, snapshots/<sha>, refs/<revision>), so that an offline converter loads that
   * commit. Blobs already there (from a restored cache of an older commit) are linked, not
   * downloaded. Each download goes to a temporary name first: no half file is ever a blob.
   */
  async fill(hubCache: string, id: string, revision: string, sha: string, files: HubFile[]): Promise<{ downloadedBytes: number; reusedFiles: number }> {
    const repo = repoFolder(hubCache, id);
    let downloadedBytes = 0;
    let reusedFiles = 0;
    for (const file of filesToFetch(files)) {
      const snapshotPath = path.join(repo, 'snapshots', sha, file.rfilename);
      if (existsSync(snapshotPath)) {
        reusedFiles += 1;
        continue;
      }
      let blobName = file.blobId;
      if (blobName && existsSync(path.join(repo, 'blobs', blobName))) {
        reusedFiles += 1;
      } else {
        const downloaded = await this.download(`${this.endpoint}/${id}/resolve/${sha}/${file.rfilename}`, path.join(repo, 'blobs'), blobName);
        blobName = downloaded.blobName;
        downloadedBytes += downloaded.bytes;
      }
      mkdirSync(path.dirname(snapshotPath), { recursive: true });
      symlinkSync(path.relative(path.dirname(snapshotPath), path.join(repo, 'blobs', blobName)), snapshotPath);
    }
    // The converter always loads `main`: offline, refs/main decides which commit that is.
    mkdirSync(path.join(repo, 'refs'), { recursive: true });
    for (const ref of new Set(['main', revision].filter((r) => !/^[0-9a-f]{40}$/.test(r)))) writeFileSync(path.join(repo, 'refs', ref), sha);
    return { downloadedBytes, reusedFiles };
  }

  private async download(url: string, blobs: string, blobName?: string): Promise<{ blobName: string; bytes: number }> {
    mkdirSync(blobs, { recursive: true });
    const partial = path.join(blobs, `.incomplete-${process.pid}-${Date.now()}`);
    const response = await this.http.get(url, this.headers());
    const status = response.message.statusCode ?? 0;
    if (status !== 200) {
      await response.readBody();
      throw new Error(`GET ${url} answered ${status}`);
    }
    const hash = createHash('sha256');
    let bytes = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        bytes += chunk.length;
        done(null, chunk);
      },
    });
    try {
      await pipeline(response.message, tap, createWriteStream(partial));
    } catch (error) {
      rmSync(partial, { force: true });
      throw error;
    }
    const expected = response.message.headers['content-length'];
    if (expected !== undefined && Number(expected) !== bytes) {
      rmSync(partial, { force: true });
      throw new Error(`GET ${url} ended after ${bytes} of ${expected} bytes`);
    }
    const name = blobName ?? hash.digest('hex');
    renameSync(partial, path.join(blobs, name));
    return { blobName: name, bytes };
  }
}

import { createReadStream } from 'node:fs';
import * as core from '@actions/core';
import type { GitHubContext } from '../config.js';
import { imageNames } from '../package/names.js';
import type { WrittenFile } from '../package/zip.js';
import { errorMessage } from '../format/error.js';
import { info } from '../log.js';

/**
 * The ONE module that talks to GitHub's releases API, through Octokit from @actions/github
 * (loaded when first needed, so that runs without a release never load it). It finds or creates
 * the release of a tag, puts this variant's section into its body, and uploads assets through the
 * release's upload_url, streamed from disk, retrying 5xx and dropped connections after deleting
 * whatever the failed attempt left; it never leaves a duplicate or a half-uploaded asset. The other
 * calls are retried by @octokit/plugin-retry (5xx and dropped connections only, as the uploads).
 * findRelease and readReleaseManifest serve the scheduled refresh as well.
 */

type Octokit = ReturnType<(typeof import('@actions/github'))['getOctokit']>;

export interface ReleaseInfo {
  id: number;
  tag: string;
  name: string | null;
  body: string | null;
  draft: boolean;
  prerelease: boolean;
  htmlUrl: string;
  uploadUrl: string;
}

export interface AssetInfo {
  id: number;
  name: string;
  size: number;
  state: string;
  /** `sha256:<hex>` when GitHub computed it. */
  digest: string | null;
  url: string;
}

export interface PublishedAsset {
  name: string;
  size: number;
  sha256: string;
  url: string;
}

export interface ReleaseResult {
  id: number;
  url: string;
  tag: string;
  draft: boolean;
  /** Whether this run created the release (else it existed, or another job created it first). */
  created: boolean;
  assets: PublishedAsset[];
  /** Names of assets that replaced earlier ones. */
  replaced: string[];
  /** Names kept as they were (identical, overwrite-assets false). */
  kept: string[];
  /** Names of this variant's earlier assets removed because this run does not publish them. */
  removed: string[];
}

export interface ReleaseRequest {
  tag: string;
  name: string;
  draft: boolean;
  prerelease: boolean;
  /** `<model>_<variant>`: the body section this run owns. */
  base: string;
  /** That section, as it must stand in the body afterwards. */
  section: string;
  /** The release body with this run's section put in (null: a new release's body). */
  mergeBody: (existing: string | null | undefined) => string;
  files: WrittenFile[];
  overwrite: boolean;
}

export class ReleaseError extends Error {
  constructor(
    message: string,
    /** The HTTP status that caused it, when one did. */
    readonly status?: number,
  ) {
    super(message);
  }
}

/** GitHub refuses a release body longer than this. */
export const BODY_LIMIT = 125_000;

export const PERMISSION_HINT =
  'The token may not write releases: give the job `permissions: contents: write` (a workflow or job with a `permissions:` block gets only what it lists), ' +
  'or pass a token that may write contents as `github-token`.';

/** GitHub's limit of assets per release. */
export const MAX_ASSETS = 1000;
/** Waits before each new attempt of an upload. */
const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000];
/** Every 4xx is an answer, not a fault: plugin-retry retries only what is not listed (5xx, dropped connections). */
const NOT_RETRIED = Array.from({ length: 100 }, (_, i) => 400 + i);
/**
 * plugin-retry waits retryCount² × the base before each retry: with 500 ms and 4 retries 0.5, 2,
 * 4.5 and 8 s, as many attempts and about as long as the uploads' waits.
 */
const API_RETRIES = 4;
const API_RETRY_BASE_MS = 500;
const MANIFEST_LIMIT = 16 * 1024 * 1024;

/** Pure: the name GitHub gives an uploaded file (special characters and edge periods become `.`/go). */
export function githubAssetName(name: string): string {
  return name.replace(/[^A-Za-z0-9._+-]/g, '.').replace(/^\.+|\.+$/g, '');
}

/** Pure: what an upload is sent as. */
export function contentType(name: string): string {
  if (name.endsWith('.zip')) return 'application/zip';
  if (name.endsWith('.json')) return 'application/json';
  if (/SHA256SUMS$/.test(name)) return 'text/plain; charset=utf-8';
  // The image check's images: shown by the release body's Markdown, which needs an image type.
  if (name.endsWith('.png')) return 'image/png';
  return 'application/octet-stream';
}

export interface AssetStep {
  file: Pick<WrittenFile, 'name' | 'size' | 'sha256'>;
  /** Assets of the same name to delete first (broken `starter` uploads, or the one being replaced). */
  remove: number[];
  action: 'upload' | 'keep';
  /** An uploaded asset of the same name is replaced. */
  replaces: boolean;
}

/** Pure: whether an asset name is one this variant publishes (`<base>_compiled.zip.002`, `<base>_SHA256SUMS`, `<base>.coreai.png`, ...). */
export function ownedBy(base: string, name: string): boolean {
  const stem = githubAssetName(base);
  if (Object.values(imageNames(stem)).includes(name)) return true;
  if (!name.startsWith(`${stem}_`)) return false;
  const rest = name.slice(stem.length + 1);
  return /^(compiled|packages)\.zip(\.\d{3,})?$/.test(rest) || rest === 'manifest.json' || rest === 'SHA256SUMS';
}

/**
 * Pure: what to do for each file given the release's assets. A same-named asset that is not
 * `uploaded` is a broken earlier upload and always goes; an uploaded one is replaced when
 * `overwrite`, kept when identical (same size and digest), and otherwise is a conflict. With
 * `overwrite`, this variant's assets that this run does not publish (a whole zip now in parts,
 * a part no longer needed) are stale and go too, once the new ones are up.
 */
export function planAssets(
  existing: readonly Pick<AssetInfo, 'id' | 'name' | 'size' | 'state' | 'digest'>[],
  files: readonly Pick<WrittenFile, 'name' | 'size' | 'sha256'>[],
  overwrite: boolean,
  base: string,
): { steps: AssetStep[]; conflicts: string[]; stale: Array<{ id: number; name: string }>; total: number } {
  const steps: AssetStep[] = [];
  const conflicts: string[] = [];
  for (const file of files) {
    const same = existing.filter((a) => a.name === githubAssetName(file.name));
    const broken = same.filter((a) => a.state !== 'uploaded').map((a) => a.id);
    const good = same.filter((a) => a.state === 'uploaded');
    if (good.length === 0) {
      steps.push({ file, remove: broken, action: 'upload', replaces: false });
    } else if (overwrite) {
      steps.push({ file, remove: [...broken, ...good.map((a) => a.id)], action: 'upload', replaces: true });
    } else if (good.length === 1 && good[0]?.size === file.size && good[0]?.digest === `sha256:${file.sha256}`) {
      steps.push({ file, remove: broken, action: 'keep', replaces: false });
    } else {
      conflicts.push(file.name);
    }
  }
  const ours = new Set(files.map((f) => githubAssetName(f.name)));
  const others = existing.filter((a) => !ours.has(a.name));
  const stale = overwrite ? others.filter((a) => ownedBy(base, a.name)).map(({ id, name }) => ({ id, name })) : [];
  const total = others.length - stale.length + files.length;
  return { steps, conflicts, stale, total };
}

const statusOf = (error: unknown): number | undefined => {
  const status = (error as { status?: unknown })?.status;
  return typeof status === 'number' ? status : undefined;
};

/** 5xx, and dropped connections (Octokit reports those as 500 too). */
export function isRetryable(error: unknown): boolean {
  const status = statusOf(error);
  if (status !== undefined) return status >= 500;
  return /ECONNRESET|EPIPE|ETIMEDOUT|ECONNREFUSED|socket hang up|other side closed|fetch failed/i.test(errorMessage(error));
}

/** Pure: the error a failed call becomes, with what to do about it. */
export function describeFailure(what: string, error: unknown): ReleaseError {
  const status = statusOf(error);
  const detail = `${what} failed${status ? ` (HTTP ${status})` : ''}: ${errorMessage(error)}`;
  if (status === 403) return new ReleaseError(`${detail}. ${PERMISSION_HINT}`, status);
  if (status === 401) return new ReleaseError(`${detail}. github-token was refused: pass a valid token (the default, \${{ github.token }}, is).`, status);
  if (status === 404) return new ReleaseError(`${detail}. The repository or release was not found with this token; a token that cannot see a private repository gets 404. ${PERMISSION_HINT}`, status);
  return new ReleaseError(detail, status);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class Releases {
  private constructor(
    private readonly octokit: Octokit,
    private readonly owner: string,
    private readonly repo: string,
  ) {}

  /**
   * A client for the repository of the workflow run. The token is masked here too.
   * `options.retryBaseMs`: plugin-retry's base wait (tests shorten it).
   */
  static async open(token: string, github: GitHubContext, options: { retryBaseMs?: number } = {}): Promise<Releases> {
    if (!github.repository || !github.repository.includes('/')) throw new ReleaseError('GITHUB_REPOSITORY is not set: the releases API needs owner/repo.');
    if (token) core.setSecret(token);
    const [{ getOctokit }, { retry }] = await Promise.all([import('@actions/github'), import('@octokit/plugin-retry')]);
    const [owner = '', repo = ''] = github.repository.split('/');
    const retryOptions = { retries: API_RETRIES, retryAfterBaseValue: options.retryBaseMs ?? API_RETRY_BASE_MS, doNotRetry: NOT_RETRIED };
    return new Releases(getOctokit(token, { baseUrl: github.apiUrl, retry: retryOptions }, retry), owner, repo);
  }

  /** Calls the API (plugin-retry has retried what it could); a failure says what to do about it. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw describeFailure(what, error);
    }
  }

  private static info(r: { id: number; tag_name: string; name?: string | null; body?: string | null; draft?: boolean; prerelease?: boolean; html_url: string; upload_url: string }): ReleaseInfo {
    return { id: r.id, tag: r.tag_name, name: r.name ?? null, body: r.body ?? null, draft: r.draft ?? false, prerelease: r.prerelease ?? false, htmlUrl: r.html_url, uploadUrl: r.upload_url };
  }

  /** The release of a tag, published or draft (drafts are not found by tag: the list is searched). */
  async findRelease(tag: string): Promise<ReleaseInfo | undefined> {
    const { owner, repo } = this;
    try {
      const found = await this.call(`Getting the release of ${tag}`, () => this.octokit.rest.repos.getReleaseByTag({ owner, repo, tag }));
      return Releases.info(found.data);
    } catch (error) {
      if (!(error instanceof ReleaseError) || error.status !== 404) throw error;
    }
    const pages = this.octokit.paginate.iterator(this.octokit.rest.repos.listReleases, { owner, repo, per_page: 100 });
    const iterator = pages[Symbol.asyncIterator]();
    for (;;) {
      const page = await this.call('Listing the releases', () => iterator.next());
      if (page.done) return undefined;
      const hit = page.value.data.find((r) => r.tag_name === tag);
      if (hit) return Releases.info(hit);
    }
  }

  async listAssets(releaseId: number): Promise<AssetInfo[]> {
    const { owner, repo } = this;
    const assets = await this.call('Listing the release assets', () => this.octokit.paginate(this.octokit.rest.repos.listReleaseAssets, { owner, repo, release_id: releaseId, per_page: 100 }));
    return assets.map((a) => ({ id: a.id, name: a.name, size: a.size, state: a.state, digest: (a as { digest?: string | null }).digest ?? null, url: a.browser_download_url }));
  }

  /**
   * The release's manifest.json, parsed: the asset named `assetName` (`<model>_<variant>_manifest.json`),
   * else `manifest.json`, else the only asset ending in `manifest.json`. Undefined when the
   * release or the asset is missing, ambiguous or unreadable.
   */
  async readReleaseManifest(tag: string, assetName?: string): Promise<Record<string, unknown> | undefined> {
    try {
      const release = await this.findRelease(tag);
      if (!release) return undefined;
      const assets = (await this.listAssets(release.id)).filter((a) => a.state === 'uploaded');
      const named = (n: string) => assets.filter((a) => a.name === githubAssetName(n));
      const candidates = assetName ? named(assetName) : named('manifest.json').length > 0 ? named('manifest.json') : assets.filter((a) => a.name.endsWith('manifest.json'));
      const asset = candidates.length === 1 ? candidates[0] : undefined;
      if (!asset || asset.size > MANIFEST_LIMIT) return undefined;
      const { owner, repo } = this;
      const response = await this.call(`Downloading ${asset.name}`, () =>
        this.octokit.rest.repos.getReleaseAsset({ owner, repo, asset_id: asset.id, headers: { accept: 'application/octet-stream' } }),
      );
      const data = response.data as unknown;
      const text = typeof data === 'string' ? data : Buffer.from(data as ArrayBuffer).toString('utf8');
      const parsed = JSON.parse(text) as unknown;
      return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
    } catch (error) {
      info(`No manifest read from the release ${tag}: ${errorMessage(error)}`);
      return undefined;
    }
  }

  private async deleteAsset(id: number, name: string): Promise<void> {
    const { owner, repo } = this;
    try {
      await this.call(`Deleting the asset ${name}`, () => this.octokit.rest.repos.deleteReleaseAsset({ owner, repo, asset_id: id }));
    } catch (error) {
      // Already gone (another attempt removed it) is what was wanted.
      if (!(error instanceof ReleaseError) || error.status !== 404) throw error;
    }
  }

  /** Deletes every asset of this name: what a failed upload left (`starter`), or a stored one that did not check out. */
  private async removeLeftovers(releaseId: number, name: string): Promise<void> {
    for (const a of await this.listAssets(releaseId)) if (a.name === githubAssetName(name)) await this.deleteAsset(a.id, a.name);
  }

  private async createOrFetch(request: ReleaseRequest, body: string, github: GitHubContext): Promise<{ release: ReleaseInfo; created: boolean }> {
    const { owner, repo } = this;
    try {
      const created = await this.call(`Creating the release ${request.tag}`, () =>
        this.octokit.rest.repos.createRelease({
          owner,
          repo,
          tag_name: request.tag,
          name: request.name || request.tag,
          body,
          draft: request.draft,
          prerelease: request.prerelease,
          ...(github.sha ? { target_commitish: github.sha } : {}),
        }),
      );
      return { release: Releases.info(created.data), created: true };
    } catch (error) {
      if (!(error instanceof ReleaseError) || error.status !== 422) throw error;
      // Another job of the matrix created it first: take theirs.
      for (const wait of [0, 1000, 2000, 4000]) {
        await sleep(wait);
        const theirs = await this.findRelease(request.tag);
        if (theirs) {
          info(`The release ${request.tag} was created meanwhile (another job): adding to it.`);
          return { release: theirs, created: false };
        }
      }
      throw error;
    }
  }

  /** One asset, streamed from disk; retried after removing what a failed attempt left. */
  private async upload(release: ReleaseInfo, file: WrittenFile): Promise<PublishedAsset> {
    for (let attempt = 0; ; attempt++) {
      const stream = createReadStream(file.path, { highWaterMark: 1024 * 1024 });
      try {
        // A stream body with its Content-Length (Octokit's undici refuses a Buffer plus an explicit one on Node 24).
        // retries: 0: the stream is spent, and what the attempt left must go first (below).
        const response = await this.octokit.request(`POST ${release.uploadUrl}`, {
          name: file.name,
          data: stream,
          headers: { 'content-type': contentType(file.name), 'content-length': file.size },
          request: { retries: 0 },
        });
        const a = response.data as { id: number; name: string; size: number; state: string; digest?: string | null; browser_download_url: string };
        if (a.state !== 'uploaded' || a.size !== file.size || (a.digest && a.digest !== `sha256:${file.sha256}`)) {
          throw Object.assign(new Error(`GitHub stored ${a.name} as ${a.state}, ${a.size} bytes, ${a.digest ?? 'no digest'}; sent ${file.size} bytes, sha256:${file.sha256}`), { status: 502 });
        }
        return { name: a.name, size: a.size, sha256: file.sha256, url: a.browser_download_url };
      } catch (error) {
        const delay = RETRY_DELAYS_MS[attempt];
        // Whatever this attempt left under the name goes, before a retry and before giving up
        // (a token refused outright left nothing).
        const status = statusOf(error);
        if (status !== 401 && status !== 403) await this.removeLeftovers(release.id, file.name).catch((e: unknown) => core.warning(`Could not remove what the failed upload of ${file.name} left: ${errorMessage(e)}`));
        if (!isRetryable(error) || delay === undefined) throw describeFailure(`Uploading ${file.name}`, error);
        info(`Uploading ${file.name} failed (${statusOf(error) ?? ''} ${errorMessage(error)}); removed what it left, retrying in ${delay / 1000} s.`);
        await sleep(delay);
      } finally {
        stream.destroy();
      }
    }
  }

  /** Puts this run's section into the body, and checks it stayed (another job may write at the same time). */
  private async updateBody(release: ReleaseInfo, request: ReleaseRequest): Promise<void> {
    const { owner, repo } = this;
    let current = release;
    for (let attempt = 0; attempt < 3; attempt++) {
      const body = request.mergeBody(current.body);
      if (body === (current.body ?? '').replace(/\r\n/g, '\n')) return;
      if (body.length > BODY_LIMIT) {
        core.warning(`The release body would be ${body.length} characters, over GitHub's ${BODY_LIMIT}: left as it is (the manifest and checksum assets hold the same facts).`);
        return;
      }
      await this.call(`Updating the body of the release ${request.tag}`, () => this.octokit.rest.repos.updateRelease({ owner, repo, release_id: release.id, body }));
      const read = await this.call(`Getting the release ${request.tag}`, () => this.octokit.rest.repos.getRelease({ owner, repo, release_id: release.id }));
      current = Releases.info(read.data);
      if ((current.body ?? '').replace(/\r\n/g, '\n').includes(request.section)) return;
    }
    core.warning(`The body of the release ${request.tag} kept changing under this job (other jobs writing it): its section for ${request.base} may be missing; the assets are complete.`);
  }

  /** Creates or reuses the release of the tag and publishes the files to it. */
  async publish(request: ReleaseRequest, github: GitHubContext): Promise<ReleaseResult> {
    const initialBody = request.mergeBody(null);
    let release = await this.findRelease(request.tag);
    let created = false;
    if (release) info(`Adding to the existing release ${request.tag} (id ${release.id}${release.draft ? ', draft' : ''}).`);
    else ({ release, created } = await this.createOrFetch(request, initialBody, github));

    const existing = await this.listAssets(release.id);
    const plan = planAssets(existing, request.files, request.overwrite, request.base);
    if (plan.conflicts.length > 0) {
      throw new ReleaseError(`The release ${request.tag} already has different assets named ${plan.conflicts.join(', ')}, and overwrite-assets is false: set overwrite-assets: true to replace them, or use another release-tag or asset-prefix.`);
    }
    if (plan.total > MAX_ASSETS) {
      throw new ReleaseError(`The release ${request.tag} would hold ${plan.total} assets, over GitHub's ${MAX_ASSETS}: raise max-asset-size or use another release-tag.`);
    }

    const assets: PublishedAsset[] = [];
    const replaced: string[] = [];
    const kept: string[] = [];
    for (const step of plan.steps) {
      const file = request.files.find((f) => f.name === step.file.name) as WrittenFile;
      for (const id of step.remove) await this.deleteAsset(id, file.name);
      if (step.action === 'keep') {
        const same = existing.find((a) => a.name === githubAssetName(file.name) && a.state === 'uploaded');
        assets.push({ name: file.name, size: file.size, sha256: file.sha256, url: same?.url ?? '' });
        kept.push(file.name);
        continue;
      }
      info(`Uploading ${file.name} (${file.size} bytes) to the release ${request.tag}.`);
      assets.push(await this.upload(release, file));
      if (step.replaces) replaced.push(file.name);
    }

    for (const old of plan.stale) {
      info(`Removing ${old.name}: an earlier run of this variant published it, this one does not.`);
      await this.deleteAsset(old.id, old.name);
    }
    if (!created) await this.updateBody(release, request);

    // The end state, as GitHub has it: one uploaded asset per file, of the right size.
    const final = await this.listAssets(release.id);
    for (const file of request.files) {
      const same = final.filter((a) => a.name === githubAssetName(file.name));
      if (same.length !== 1 || same[0]?.state !== 'uploaded' || same[0]?.size !== file.size) {
        throw new ReleaseError(`After publishing, the release ${request.tag} has ${same.map((a) => `${a.name} (${a.state}, ${a.size} bytes)`).join(', ') || `no ${file.name}`}: expected one uploaded asset of ${file.size} bytes.`);
      }
    }
    return { id: release.id, url: release.htmlUrl, tag: request.tag, draft: release.draft, created, assets, replaced, kept, removed: plan.stale.map((a) => a.name) };
  }
}

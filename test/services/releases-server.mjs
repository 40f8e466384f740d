// A local stand-in for the part of GitHub's REST API that publishing release assets uses, as
// strict as the real one where it matters: authentication, 422 `already_exists` on a duplicate
// published tag or asset name, uploads only through the release's `upload_url` (served here under
// /uploads, like uploads.github.com) with Content-Type and Content-Length, `starter` assets left
// behind by a failed upload, and 403 `Resource not accessible by integration`.
// Asset bytes are streamed to files in a temporary folder and hashed on the way.
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';

const MAX_ASSET_BYTES = 2 * 1024 ** 3; // an asset must be smaller than 2 GiB
const DOCS = 'https://docs.github.com/rest/releases';

/**
 * @typedef {{
 *   id: number, repo: string, tag_name: string, target_commitish: string, name: string | null,
 *   body: string | null, draft: boolean, prerelease: boolean, created_at: string,
 *   published_at: string | null
 * }} Release
 * @typedef {{
 *   id: number, releaseId: number, repo: string, name: string, label: string | null,
 *   content_type: string, size: number, state: 'starter' | 'uploaded', sha256: string | null,
 *   file: string, created_at: string, updated_at: string, download_count: number
 * }} Asset
 * @typedef {{ id: number, name: string, label: string | null, size: number, state: string, sha256: string | null, content_type: string }} AssetState
 * @typedef {{ id: number, repo: string, tag_name: string, name: string | null, body: string | null, draft: boolean, prerelease: boolean, assets: AssetState[] }} ReleaseState
 * @typedef {{ status?: number, afterBytes?: number, reset?: boolean }} UploadFailure
 * @typedef {{ status?: number, times?: number, reset?: boolean }} ApiFailure
 * @typedef {{
 *   apiUrl: string, origin: string, port: number, token: string, env: Record<string, string>,
 *   state: () => { releases: ReleaseState[] },
 *   stats: () => { requests: Record<string, number>, uploadedBytes: number, downloadedBytes: number, apiFaults: number },
 *   assetBytes: (id: number) => Buffer, assetPath: (id: number) => string,
 *   forbid: (on?: boolean) => void,
 *   failCreateOnce: (options?: { createOther?: boolean }) => void,
 *   failUploadOnce: (options?: UploadFailure) => void,
 *   failApiNext: (options?: ApiFailure) => void,
 *   reset: () => void, stop: () => Promise<void>
 * }} ReleasesServer
 */

/**
 * GitHub renames asset files with special characters and leading or trailing periods.
 * @param {string} name
 */
export function githubAssetName(name) {
  return name.replace(/[^A-Za-z0-9._+-]/g, '.').replace(/^\.+|\.+$/g, '');
}

/**
 * @param {{ token?: string, dir?: string }} [options]
 * @returns {Promise<ReleasesServer>}
 */
export async function startReleasesServer(options = {}) {
  const token = options.token ?? 'ghs_localtesttoken0000000000000000000000';
  const dir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), 'releases-'));
  const ownDir = !options.dir;
  /** @type {Map<number, Release>} */
  const releases = new Map();
  /** @type {Map<number, Asset>} */
  const assets = new Map();
  let nextReleaseId = 100_001;
  let nextAssetId = 500_001;
  let forbidden = false;
  /** @type {{ createOther: boolean } | null} */
  let createFailure = null;
  /** @type {Required<UploadFailure> | null} */
  let uploadFailure = null;
  /** @type {Required<ApiFailure>} The next `times` API requests (not uploads or public downloads) answer `status`, or drop the connection. */
  let apiFailure = { status: 502, times: 0, reset: false };
  let apiFaults = 0;
  /** @type {Record<string, number>} */
  let requests = {};
  let uploadedBytes = 0;
  let downloadedBytes = 0;
  let origin = '';

  const user = { login: 'github-actions[bot]', id: 41898282, type: 'Bot' };
  const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

  /** @param {Asset} a */
  const assetJson = (a) => ({
    url: `${origin}/repos/${a.repo}/releases/assets/${a.id}`,
    id: a.id, node_id: `RA_${a.id}`, name: a.name, label: a.label, uploader: user,
    content_type: a.content_type, state: a.state, size: a.size,
    digest: a.state === 'uploaded' && a.sha256 ? `sha256:${a.sha256}` : null,
    download_count: a.download_count, created_at: a.created_at, updated_at: a.updated_at,
    browser_download_url: `${origin}/${a.repo}/releases/download/${encodeURIComponent(releases.get(a.releaseId)?.tag_name ?? '')}/${encodeURIComponent(a.name)}`,
  });
  /** @param {Release} r */
  const releaseAssets = (r) => [...assets.values()].filter((a) => a.releaseId === r.id).sort((a, b) => a.id - b.id);
  /** @param {Release} r */
  const releaseJson = (r) => ({
    url: `${origin}/repos/${r.repo}/releases/${r.id}`,
    html_url: `https://github.com/${r.repo}/releases/${r.draft ? `untagged-${r.id}` : `tag/${encodeURIComponent(r.tag_name)}`}`,
    assets_url: `${origin}/repos/${r.repo}/releases/${r.id}/assets`,
    upload_url: `${origin}/uploads/repos/${r.repo}/releases/${r.id}/assets{?name,label}`,
    tarball_url: `${origin}/repos/${r.repo}/tarball/${encodeURIComponent(r.tag_name)}`,
    zipball_url: `${origin}/repos/${r.repo}/zipball/${encodeURIComponent(r.tag_name)}`,
    id: r.id, node_id: `RE_${r.id}`, tag_name: r.tag_name, target_commitish: r.target_commitish,
    name: r.name, body: r.body, draft: r.draft, prerelease: r.prerelease, immutable: false,
    created_at: r.created_at, published_at: r.published_at, author: user,
    assets: releaseAssets(r).map(assetJson),
  });

  /** @param {http.ServerResponse} res @param {number} status @param {unknown} [body] @param {Record<string, string>} [headers] */
  const send = (res, status, body, headers = {}) => {
    const data = body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body));
    res.writeHead(status, {
      ...(body === undefined ? {} : { 'Content-Type': 'application/json; charset=utf-8' }),
      'Content-Length': data.length, 'X-GitHub-Request-Id': `LOCAL:${Date.now().toString(16)}`,
      'X-GitHub-Api-Version-Selected': '2022-11-28', 'X-RateLimit-Limit': '5000', 'X-RateLimit-Remaining': '4999',
      ...headers,
    });
    res.end(data);
  };
  /** @param {http.ServerResponse} res @param {number} status @param {string} message @param {string} [doc] @param {object} [extra] */
  const fail = (res, status, message, doc = DOCS, extra = {}) => send(res, status, { message, ...extra, documentation_url: doc, status: String(status) });
  /** @param {http.ServerResponse} res @param {string} resource @param {string} code @param {string} field @param {string} doc */
  const validation = (res, resource, code, field, doc) => fail(res, 422, 'Validation Failed', doc, { errors: [{ resource, code, field }] });

  /** @param {http.IncomingMessage} req @returns {Promise<Record<string, unknown>>} */
  const jsonBody = async (req) => {
    /** @type {Buffer[]} */
    const chunks = [];
    for await (const c of req) chunks.push(/** @type {Buffer} */ (c));
    const text = Buffer.concat(chunks).toString('utf8');
    if (!text) return {};
    const parsed = JSON.parse(text);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new SyntaxError('not an object');
    return parsed;
  };
  /** @param {http.IncomingMessage} req */
  const drain = (req) => new Promise((resolve) => {
    req.on('end', resolve);
    req.on('close', resolve);
    req.resume();
  });
  /** @param {string} repo @param {string} tag */
  const publishedByTag = (repo, tag) => [...releases.values()].find((r) => r.repo === repo && r.tag_name === tag && !r.draft);

  /**
   * @param {Record<string, unknown>} body @param {string} repo
   * @returns {Release}
   */
  const createRelease = (body, repo) => {
    const draft = body.draft === true;
    /** @type {Release} */
    const r = {
      id: nextReleaseId++, repo, tag_name: String(body.tag_name), target_commitish: String(body.target_commitish ?? 'main'),
      name: typeof body.name === 'string' ? body.name : null, body: typeof body.body === 'string' ? body.body : null,
      draft, prerelease: body.prerelease === true, created_at: now(), published_at: draft ? null : now(),
    };
    releases.set(r.id, r);
    return r;
  };

  /**
   * Paginates like GitHub: per_page (default 30, max 100), page, and a Link header.
   * @param {URL} url @param {unknown[]} items
   */
  const paginate = (url, items) => {
    const perPage = Math.min(100, Math.max(1, Number(url.searchParams.get('per_page') ?? 30) || 30));
    const page = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1);
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const link = (/** @type {number} */ p) => {
      const u = new URL(url.pathname, origin);
      u.searchParams.set('per_page', String(perPage));
      u.searchParams.set('page', String(p));
      return u.href;
    };
    /** @type {string[]} */
    const rels = [];
    if (page < last) rels.push(`<${link(page + 1)}>; rel="next"`, `<${link(last)}>; rel="last"`);
    if (page > 1) rels.push(`<${link(1)}>; rel="first"`, `<${link(page - 1)}>; rel="prev"`);
    /** @type {Record<string, string>} */
    const headers = rels.length ? { Link: rels.join(', ') } : {};
    return { page: items.slice((page - 1) * perPage, page * perPage), headers };
  };

  /** @param {http.IncomingMessage} req @param {http.ServerResponse} res @param {string} repo @param {Release} rel @param {URL} url */
  const upload = async (req, res, repo, rel, url) => {
    const doc = `${DOCS}/assets#upload-a-release-asset`;
    const rawName = url.searchParams.get('name');
    const contentType = req.headers['content-type'];
    const lengthHeader = req.headers['content-length'];
    if (!rawName) {
      await drain(req);
      return validation(res, 'ReleaseAsset', 'missing_field', 'name', doc);
    }
    if (!contentType) {
      await drain(req);
      return fail(res, 400, 'Content-Type header is required', doc);
    }
    if (lengthHeader === undefined || !/^\d+$/.test(lengthHeader)) {
      await drain(req);
      return fail(res, 411, 'Length Required: Content-Length header is required', doc);
    }
    const length = Number(lengthHeader);
    if (length >= MAX_ASSET_BYTES) {
      await drain(req);
      return validation(res, 'ReleaseAsset', 'custom', 'size', doc);
    }
    const name = githubAssetName(rawName);
    if ([...assets.values()].some((a) => a.releaseId === rel.id && a.name === name)) {
      await drain(req);
      return validation(res, 'ReleaseAsset', 'already_exists', 'name', doc);
    }
    /** @type {Asset} */
    const asset = {
      id: nextAssetId++, releaseId: rel.id, repo, name, label: url.searchParams.get('label'), content_type: contentType,
      size: 0, state: 'starter', sha256: null, file: '', created_at: now(), updated_at: now(), download_count: 0,
    };
    asset.file = path.join(dir, `asset-${asset.id}`);
    assets.set(asset.id, asset);
    const failure = uploadFailure;
    uploadFailure = null;
    const hash = createHash('sha256');
    const out = createWriteStream(asset.file);
    let received = 0;
    let stored = 0;
    const done = new Promise((resolve) => {
      req.on('data', (/** @type {Buffer} */ chunk) => {
        received += chunk.length;
        uploadedBytes += chunk.length;
        let part = chunk;
        if (failure) {
          const room = Math.max(0, failure.afterBytes - stored);
          part = chunk.subarray(0, room);
          if (received >= failure.afterBytes && failure.reset) {
            out.write(part);
            stored += part.length;
            req.socket.destroy();
            return;
          }
        }
        if (part.length > 0) {
          out.write(part);
          hash.update(part);
          stored += part.length;
        }
      });
      req.on('end', () => resolve(true));
      req.on('close', () => resolve(false));
    });
    const complete = await done;
    await new Promise((resolve) => out.end(resolve));
    asset.size = stored;
    asset.updated_at = now();
    if (failure) {
      // GitHub leaves the asset behind in state `starter`; it must be deleted before a retry.
      if (!failure.reset && !res.destroyed) fail(res, failure.status, failure.status === 502 ? 'Bad Gateway' : 'Server Error', doc);
      return;
    }
    if (!complete || received !== length) return; // client gone: the asset stays a `starter`
    asset.state = 'uploaded';
    asset.sha256 = hash.digest('hex');
    send(res, 201, assetJson(asset));
  };

  /** @param {http.ServerResponse} res @param {Asset} a */
  const serveAsset = (res, a) => {
    res.writeHead(200, {
      'Content-Type': 'application/octet-stream', 'Content-Length': a.size,
      'Content-Disposition': `attachment; filename=${a.name}`, ETag: `"${a.sha256}"`,
    });
    a.download_count++;
    const stream = createReadStream(a.file);
    stream.on('data', (/** @type {Buffer | string} */ c) => {
      downloadedBytes += c.length;
    });
    stream.pipe(res);
  };

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = url.pathname;
    const method = req.method ?? 'GET';
    /** @param {string} route */
    const count = (route) => {
      requests[`${method} ${route}`] = (requests[`${method} ${route}`] ?? 0) + 1;
    };
    try {
      // Public download (browser_download_url): no authentication, like a public repository.
      let m = /^\/([^/]+\/[^/]+)\/releases\/download\/([^/]+)\/([^/]+)$/.exec(p);
      if (m && method === 'GET') {
        count('/{owner}/{repo}/releases/download/{tag}/{name}');
        const [, repo, tag, name] = m.map((s) => decodeURIComponent(s));
        const rel = publishedByTag(/** @type {string} */ (repo), /** @type {string} */ (tag));
        const a = rel && releaseAssets(rel).find((x) => x.name === name && x.state === 'uploaded');
        return a ? serveAsset(res, a) : fail(res, 404, 'Not Found');
      }

      const auth = /^(?:token|bearer) (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
      if (!req.headers.authorization) {
        await drain(req);
        return fail(res, 401, 'Requires authentication', 'https://docs.github.com/rest');
      }
      if (auth !== token) {
        await drain(req);
        return fail(res, 401, 'Bad credentials', 'https://docs.github.com/rest');
      }
      const write = method !== 'GET' && method !== 'HEAD';
      if (write && forbidden) {
        await drain(req);
        return fail(res, 403, 'Resource not accessible by integration', `${DOCS}/releases#create-a-release`);
      }
      if (apiFailure.times > 0 && !p.startsWith('/uploads/')) {
        apiFailure.times -= 1;
        apiFaults += 1;
        await drain(req);
        if (apiFailure.reset) return void req.socket.destroy();
        return fail(res, apiFailure.status, apiFailure.status === 502 ? 'Bad Gateway' : 'Server Error');
      }

      m = /^\/uploads\/repos\/([^/]+\/[^/]+)\/releases\/(\d+)\/assets$/.exec(p);
      if (m) {
        count('/uploads/repos/{owner}/{repo}/releases/{id}/assets');
        const rel = releases.get(Number(m[2]));
        if (method !== 'POST' || !rel || rel.repo !== m[1]) {
          await drain(req);
          return fail(res, 404, 'Not Found');
        }
        return await upload(req, res, /** @type {string} */ (m[1]), rel, url);
      }

      m = /^\/repos\/([^/]+\/[^/]+)\/releases(?:\/(.*))?$/.exec(p);
      if (!m) {
        await drain(req);
        count(p);
        return fail(res, 404, 'Not Found', 'https://docs.github.com/rest');
      }
      const repo = /** @type {string} */ (m[1]);
      const rest = m[2] ?? '';
      let t;
      if (rest === '') {
        count('/repos/{owner}/{repo}/releases');
        if (method === 'GET') {
          const list = [...releases.values()].filter((r) => r.repo === repo).sort((a, b) => b.id - a.id).map(releaseJson);
          const { page, headers } = paginate(url, list);
          return send(res, 200, page, headers);
        }
        if (method === 'POST') {
          let body;
          try {
            body = await jsonBody(req);
          } catch {
            return fail(res, 400, 'Problems parsing JSON', `${DOCS}/releases#create-a-release`);
          }
          const doc = `${DOCS}/releases#create-a-release`;
          if (typeof body.tag_name !== 'string' || !body.tag_name) return validation(res, 'Release', 'missing_field', 'tag_name', doc);
          if (createFailure) {
            // Another job won the race: its release exists, this create is refused.
            const { createOther } = createFailure;
            createFailure = null;
            if (createOther && !publishedByTag(repo, body.tag_name)) createRelease({ ...body, draft: false, body: 'created by another job' }, repo);
            return validation(res, 'Release', 'already_exists', 'tag_name', doc);
          }
          if (body.draft !== true && publishedByTag(repo, body.tag_name)) return validation(res, 'Release', 'already_exists', 'tag_name', doc);
          return send(res, 201, releaseJson(createRelease(body, repo)));
        }
      } else if ((t = /^tags\/(.+)$/.exec(rest))) {
        count('/repos/{owner}/{repo}/releases/tags/{tag}');
        // Only published releases are found by tag, as on GitHub.
        const rel = method === 'GET' ? publishedByTag(repo, decodeURIComponent(t[1] ?? '')) : undefined;
        return rel ? send(res, 200, releaseJson(rel)) : fail(res, 404, 'Not Found', `${DOCS}/releases#get-a-release-by-tag-name`);
      } else if ((t = /^assets\/(\d+)$/.exec(rest))) {
        count('/repos/{owner}/{repo}/releases/assets/{id}');
        const a = assets.get(Number(t[1]));
        if (!a || a.repo !== repo) {
          await drain(req);
          return fail(res, 404, 'Not Found', `${DOCS}/assets`);
        }
        if (method === 'GET') {
          if (/application\/octet-stream/.test(req.headers.accept ?? '')) {
            return a.state === 'uploaded' ? serveAsset(res, a) : fail(res, 404, 'Not Found', `${DOCS}/assets#get-a-release-asset`);
          }
          return send(res, 200, assetJson(a));
        }
        if (method === 'DELETE') {
          await drain(req);
          assets.delete(a.id);
          rmSync(a.file, { force: true });
          return send(res, 204);
        }
        if (method === 'PATCH') {
          const body = await jsonBody(req);
          if (typeof body.name === 'string') a.name = githubAssetName(body.name);
          if (typeof body.label === 'string') a.label = body.label;
          a.updated_at = now();
          return send(res, 200, assetJson(a));
        }
      } else if ((t = /^(\d+)(\/assets)?$/.exec(rest))) {
        const rel = releases.get(Number(t[1]));
        if (t[2]) {
          count('/repos/{owner}/{repo}/releases/{id}/assets');
          if (method !== 'GET' || !rel || rel.repo !== repo) {
            // Uploads go to upload_url (uploads.github.com), never to the API host.
            await drain(req);
            return fail(res, 404, 'Not Found', `${DOCS}/assets`);
          }
          const { page, headers } = paginate(url, releaseAssets(rel).map(assetJson));
          return send(res, 200, page, headers);
        }
        count('/repos/{owner}/{repo}/releases/{id}');
        if (!rel || rel.repo !== repo) {
          await drain(req);
          return fail(res, 404, 'Not Found', `${DOCS}/releases`);
        }
        if (method === 'GET') return send(res, 200, releaseJson(rel));
        if (method === 'PATCH') {
          const body = await jsonBody(req);
          const doc = `${DOCS}/releases#update-a-release`;
          const tag = typeof body.tag_name === 'string' ? body.tag_name : rel.tag_name;
          const draft = typeof body.draft === 'boolean' ? body.draft : rel.draft;
          const other = publishedByTag(repo, tag);
          if (!draft && other && other.id !== rel.id) return validation(res, 'Release', 'already_exists', 'tag_name', doc);
          rel.tag_name = tag;
          if (typeof body.name === 'string') rel.name = body.name;
          if (typeof body.body === 'string') rel.body = body.body;
          if (typeof body.prerelease === 'boolean') rel.prerelease = body.prerelease;
          if (typeof body.target_commitish === 'string') rel.target_commitish = body.target_commitish;
          if (rel.draft && !draft) rel.published_at = now();
          rel.draft = draft;
          return send(res, 200, releaseJson(rel));
        }
        if (method === 'DELETE') {
          await drain(req);
          for (const a of releaseAssets(rel)) {
            assets.delete(a.id);
            rmSync(a.file, { force: true });
          }
          releases.delete(rel.id);
          return send(res, 204);
        }
      }
      await drain(req);
      return fail(res, 404, 'Not Found', 'https://docs.github.com/rest');
    } catch (error) {
      if (!res.headersSent) fail(res, 500, `local releases server: ${/** @type {Error} */ (error)?.message ?? error}`);
      else res.destroy();
    }
  });

  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const port = /** @type {import('node:net').AddressInfo} */ (server.address()).port;
  origin = `http://127.0.0.1:${port}`;

  return {
    apiUrl: origin, origin, port, token,
    env: { GITHUB_API_URL: origin },
    state() {
      return {
        releases: [...releases.values()].map((r) => ({
          id: r.id, repo: r.repo, tag_name: r.tag_name, name: r.name, body: r.body, draft: r.draft, prerelease: r.prerelease,
          assets: releaseAssets(r).map((a) => ({ id: a.id, name: a.name, label: a.label, size: a.size, state: a.state, sha256: a.sha256, content_type: a.content_type })),
        })),
      };
    },
    stats: () => ({ requests: { ...requests }, uploadedBytes, downloadedBytes, apiFaults }),
    assetBytes(id) {
      const a = assets.get(id);
      if (!a) throw new Error(`no asset ${id}`);
      return readFileSync(a.file);
    },
    assetPath(id) {
      const a = assets.get(id);
      if (!a) throw new Error(`no asset ${id}`);
      return a.file;
    },
    forbid(on = true) {
      forbidden = on;
    },
    failCreateOnce({ createOther = true } = {}) {
      createFailure = { createOther };
    },
    failUploadOnce({ status = 502, afterBytes = 0, reset = false } = {}) {
      uploadFailure = { status, afterBytes, reset };
    },
    failApiNext({ status = 502, times = 1, reset = false } = {}) {
      apiFailure = { status, times, reset };
    },
    reset() {
      for (const a of assets.values()) rmSync(a.file, { force: true });
      releases.clear();
      assets.clear();
      forbidden = false;
      createFailure = null;
      uploadFailure = null;
      apiFailure = { status: 502, times: 0, reset: false };
      apiFaults = 0;
      requests = {};
      uploadedBytes = 0;
      downloadedBytes = 0;
    },
    async stop() {
      const closed = new Promise((resolve) => server.close(() => resolve(undefined)));
      server.closeAllConnections();
      await closed;
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

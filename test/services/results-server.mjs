// A local stand-in for GitHub's "results" service: the Twirp JSON services that @actions/cache 6
// (CacheService, cache protocol v2) and @actions/artifact 6 (ArtifactService) speak, issuing SAS
// URLs for blobs in Azurite. Blob traffic goes through a small counting gateway in front of
// Azurite (same bytes, same SAS; the signature does not cover the host), so stats() can say how
// many bytes were uploaded and downloaded.
import { Buffer } from 'node:buffer';
import { BlobServiceClient, BlobSASPermissions, StorageSharedKeyCredential, generateBlobSASQueryParameters } from '@azure/storage-blob';
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';

export const CACHE_SERVICE = 'github.actions.results.api.v1.CacheService';
export const ARTIFACT_SERVICE = 'github.actions.results.api.v1.ArtifactService';
const CACHE_CONTAINER = 'actions-cache';
const ARTIFACT_CONTAINER = 'actions-results';

/** Twirp error codes and their HTTP statuses (twirp spec v7). */
const TWIRP_STATUS = /** @type {const} */ ({
  invalid_argument: 400, malformed: 400, bad_route: 404, unauthenticated: 401, permission_denied: 403,
  not_found: 404, already_exists: 409, failed_precondition: 412, resource_exhausted: 429, internal: 500,
  unavailable: 503,
});
/** @typedef {keyof typeof TWIRP_STATUS} TwirpCode */

/** @type {Record<number, TwirpCode>} */
const CODE_FOR_STATUS = { 400: 'invalid_argument', 401: 'unauthenticated', 403: 'permission_denied', 404: 'not_found', 409: 'already_exists', 412: 'failed_precondition', 429: 'resource_exhausted', 500: 'internal', 502: 'unavailable', 503: 'unavailable', 504: 'unavailable' };

class TwirpError extends Error {
  /** @param {TwirpCode} code @param {string} msg */
  constructor(code, msg) {
    super(msg);
    this.code = code;
  }
}

/**
 * @typedef {{
 *   id: number, key: string, version: string, blobName: string, finalized: boolean,
 *   sizeBytes: number, createdAt: number, lastAccessedAt: number
 * }} CacheEntry
 * @typedef {{
 *   id: number, runBackendId: string, jobBackendId: string, name: string, blobName: string,
 *   mimeType: string, expiresAt: string | null, finalized: boolean, size: number, hash: string | null,
 *   createdAt: string
 * }} Artifact
 * @typedef {{ runBackendId: string, jobBackendId: string }} BackendIds
 * @typedef {{
 *   requests: Record<string, number>, statuses: Record<string, number>, injectedFailures: number,
 *   blob: { uploadedBytes: number, downloadedBytes: number, downloads: number,
 *           byContainer: Record<string, { uploadedBytes: number, downloadedBytes: number }> },
 *   cache: { entries: Omit<CacheEntry, 'blobName'>[], totalBytes: number, hits: number, misses: number, evicted: number },
 *   artifacts: Omit<Artifact, 'blobName'>[]
 * }} ResultsStats
 * @typedef {{
 *   url: string, origin: string, port: number, blobGatewayUrl: string, token: string,
 *   runId: string, runBackendId: string, jobBackendId: string, repository: string,
 *   env: Record<string, string>,
 *   mintToken: (jobBackendId?: string) => string,
 *   envFor: (token: string) => Record<string, string>,
 *   stats: () => ResultsStats, resetStats: () => void,
 *   failNext: (method: string, status?: number, count?: number) => void,
 *   clearFailures: () => void,
 *   down: () => Promise<void>, up: () => Promise<void>, isUp: () => boolean,
 *   stop: () => Promise<void>
 * }} ResultsServer
 */

/**
 * An unsigned JWT as the runner hands out in ACTIONS_RUNTIME_TOKEN: the clients only decode it.
 * @param {BackendIds} ids
 */
export function makeRuntimeToken(ids) {
  const b64 = (/** @type {object} */ o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const payload = {
    nameid: 'dddddddd-dddd-dddd-dddd-dddddddddddd',
    scp: `Actions.ExampleScope Actions.GenericRead:00000000-0000-0000-0000-000000000000 Actions.UploadArtifacts:${ids.runBackendId}:${ids.jobBackendId} Actions.Results:${ids.runBackendId}:${ids.jobBackendId}`,
    iss: 'vstoken.actions.githubusercontent.com', aud: 'vso:local-results-server',
    iat: now, nbf: now - 60, exp: now + 6 * 3600,
  };
  return `${b64({ typ: 'JWT', alg: 'none' })}.${b64(payload)}.unsigned`;
}

/**
 * @param {string} token
 * @returns {BackendIds | null} the ids of the `Actions.Results:<run>:<job>` scope
 */
export function backendIdsOf(token) {
  try {
    const part = token.split('.')[1] ?? '';
    const { scp } = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    for (const scope of String(scp).split(' ')) {
      const [name, run, job, ...rest] = scope.split(':');
      if (name === 'Actions.Results' && run && job && rest.length === 0) return { runBackendId: run, jobBackendId: job };
    }
  } catch {
    // not a JWT
  }
  return null;
}

/** Names the artifact service refuses (the client checks them too). */
const ARTIFACT_NAME_FORBIDDEN = /["':<>|*?\r\n\\/]/;

/** @param {http.IncomingMessage} req @returns {Promise<Buffer>} */
async function readBody(req) {
  /** @type {Buffer[]} */
  const chunks = [];
  for await (const chunk of req) chunks.push(/** @type {Buffer} */ (chunk));
  return Buffer.concat(chunks);
}

/** @param {unknown} v */
const str = (v) => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
/** A google.protobuf.StringValue / Int64Value travels as a plain JSON value; accept {value} too. */
const wrapped = (/** @type {unknown} */ v) => (v && typeof v === 'object' && 'value' in v ? str(/** @type {{value: unknown}} */ (v).value) : v === undefined || v === null ? null : str(v));

/**
 * Starts the Twirp server (and the counting blob gateway in front of Azurite).
 * @param {{
 *   azurite: { url: string, port: number, accountName: string, accountKey: string },
 *   repository?: string, runId?: string, runBackendId?: string, jobBackendId?: string,
 *   cacheLimitBytes?: number, sasTtlSeconds?: number
 * }} options
 * @returns {Promise<ResultsServer>}
 */
export async function startResultsServer(options) {
  const { azurite } = options;
  const repository = options.repository ?? 'octo-org/coreml-models';
  const runId = options.runId ?? String(4_200_000_000 + Math.floor(Math.random() * 1_000_000));
  const runBackendId = options.runBackendId ?? randomUUID();
  const jobBackendId = options.jobBackendId ?? randomUUID();
  const cacheLimitBytes = options.cacheLimitBytes ?? 10 * 1024 ** 3;
  const sasTtl = options.sasTtlSeconds ?? 6 * 3600;

  const credential = new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey);
  const blobService = new BlobServiceClient(azurite.url, credential);
  await blobService.getContainerClient(CACHE_CONTAINER).createIfNotExists();
  await blobService.getContainerClient(ARTIFACT_CONTAINER).createIfNotExists();

  // ---- blob gateway: a transparent proxy to Azurite that counts bytes ----
  /** @type {ResultsStats['blob']} */
  let blobStats = { uploadedBytes: 0, downloadedBytes: 0, downloads: 0, byContainer: {} };
  const gateway = http.createServer((req, res) => {
    const container = decodeURIComponent((req.url ?? '').split('?')[0]?.split('/')[2] ?? '');
    const slot = (blobStats.byContainer[container] ??= { uploadedBytes: 0, downloadedBytes: 0 });
    const upstream = http.request(
      { host: '127.0.0.1', port: azurite.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.statusMessage, up.rawHeaders);
        const counting = req.method === 'GET' && (up.statusCode ?? 0) < 300;
        if (counting) blobStats.downloads++;
        up.on('data', (/** @type {Buffer} */ chunk) => {
          if (counting) {
            blobStats.downloadedBytes += chunk.length;
            slot.downloadedBytes += chunk.length;
          }
        });
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    // Data PUTs only (Put Blob, Put Block), not the XML of Put Block List.
    const dataPut = req.method === 'PUT' && !/[?&]comp=blocklist\b/.test(req.url ?? '');
    req.on('data', (/** @type {Buffer} */ chunk) => {
      if (dataPut) {
        blobStats.uploadedBytes += chunk.length;
        slot.uploadedBytes += chunk.length;
      }
    });
    req.pipe(upstream);
  });
  await new Promise((resolve) => gateway.listen(0, '127.0.0.1', () => resolve(undefined)));
  const gatewayPort = /** @type {import('node:net').AddressInfo} */ (gateway.address()).port;
  const blobGatewayUrl = `http://127.0.0.1:${gatewayPort}/${azurite.accountName}`;

  /**
   * @param {string} container @param {string} blobName @param {string} permissions
   * @param {string} [contentDisposition]
   */
  const signedUrl = (container, blobName, permissions, contentDisposition) => {
    const startsOn = new Date(Date.now() - 5 * 60_000);
    const expiresOn = new Date(Date.now() + sasTtl * 1000);
    const sas = generateBlobSASQueryParameters(
      { containerName: container, blobName, permissions: BlobSASPermissions.parse(permissions), startsOn, expiresOn, contentDisposition },
      credential,
    ).toString();
    return `${blobGatewayUrl}/${container}/${blobName.split('/').map(encodeURIComponent).join('/')}?${sas}`;
  };
  /** @param {string} container @param {string} blobName @returns {Promise<number | null>} */
  const blobSize = async (container, blobName) => {
    try {
      const props = await blobService.getContainerClient(container).getBlobClient(blobName).getProperties();
      return props.contentLength ?? 0;
    } catch {
      return null;
    }
  };

  // ---- state ----
  const tokens = new Set();
  const token = makeRuntimeToken({ runBackendId, jobBackendId });
  tokens.add(token);
  /** @type {Map<string, CacheEntry>} key: version + NUL + key */
  const cache = new Map();
  /** @type {Map<number, Artifact>} */
  const artifacts = new Map();
  let nextCacheId = 1;
  let nextArtifactId = 1001;
  /** @type {Record<string, number>} */
  let requests = {};
  /** @type {Record<string, number>} */
  let statuses = {};
  let injectedFailures = 0;
  let hits = 0;
  let misses = 0;
  let evicted = 0;
  /** @type {Map<string, { status: number, count: number }>} */
  const failures = new Map();

  const cacheId = (/** @type {string} */ version, /** @type {string} */ key) => `${version}\u0000${key}`;

  /** @param {CacheEntry} keep */
  const evictIfNeeded = async (keep) => {
    let total = [...cache.values()].filter((e) => e.finalized).reduce((s, e) => s + e.sizeBytes, 0);
    const lru = [...cache.values()].filter((e) => e.finalized && e !== keep).sort((a, b) => a.lastAccessedAt - b.lastAccessedAt);
    while (total > cacheLimitBytes && lru.length > 0) {
      const victim = /** @type {CacheEntry} */ (lru.shift());
      cache.delete(cacheId(victim.version, victim.key));
      total -= victim.sizeBytes;
      evicted++;
      await blobService.getContainerClient(CACHE_CONTAINER).deleteBlob(victim.blobName).catch(() => undefined);
    }
  };

  /** @param {string} key */
  const checkKey = (key) => {
    if (!key) throw new TwirpError('invalid_argument', 'key is required');
    if (key.length > 512) throw new TwirpError('invalid_argument', `key ${key.slice(0, 40)}... is longer than 512 characters`);
    if (key.includes(',')) throw new TwirpError('invalid_argument', `key ${key} contains a comma`);
  };

  /** @type {Record<string, (body: Record<string, unknown>, ids: BackendIds) => Promise<object>>} */
  const cacheMethods = {
    async GetCacheEntryDownloadURL(body) {
      const key = str(body.key);
      const version = str(body.version);
      const restoreKeys = Array.isArray(body.restore_keys ?? body.restoreKeys) ? /** @type {unknown[]} */ (body.restore_keys ?? body.restoreKeys).map(str) : [];
      if (!version) throw new TwirpError('invalid_argument', 'version is required');
      checkKey(key);
      let match = cache.get(cacheId(version, key));
      if (match && !match.finalized) match = undefined;
      for (const prefix of match ? [] : restoreKeys) {
        const candidates = [...cache.values()]
          .filter((e) => e.finalized && e.version === version && e.key.startsWith(prefix))
          .sort((a, b) => b.createdAt - a.createdAt || b.id - a.id);
        if (candidates[0]) {
          match = candidates[0];
          break;
        }
      }
      if (!match) {
        misses++;
        return { ok: false, signed_download_url: '', matched_key: '' };
      }
      hits++;
      match.lastAccessedAt = Date.now();
      return { ok: true, signed_download_url: signedUrl(CACHE_CONTAINER, match.blobName, 'r'), matched_key: match.key };
    },
    async CreateCacheEntry(body) {
      const key = str(body.key);
      const version = str(body.version);
      checkKey(key);
      if (!version) throw new TwirpError('invalid_argument', 'version is required');
      if (cache.has(cacheId(version, key))) {
        // What GitHub answers (and @actions/cache 6 turns into an info line, not a warning).
        throw new TwirpError('already_exists', 'cache entry with the same key, version, and scope already exists');
      }
      const id = nextCacheId++;
      const now = Date.now();
      /** @type {CacheEntry} */
      const entry = { id, key, version, blobName: `entries/${id}/cache.tzst`, finalized: false, sizeBytes: 0, createdAt: now, lastAccessedAt: now };
      cache.set(cacheId(version, key), entry);
      return { ok: true, signed_upload_url: signedUrl(CACHE_CONTAINER, entry.blobName, 'cw') };
    },
    async FinalizeCacheEntryUpload(body) {
      const key = str(body.key);
      const version = str(body.version);
      const declared = Number(str(body.size_bytes ?? body.sizeBytes) || '0');
      const entry = cache.get(cacheId(version, key));
      if (!entry) throw new TwirpError('not_found', 'cache entry not found');
      if (entry.finalized) throw new TwirpError('already_exists', 'cache entry with the same key, version, and scope already exists');
      const size = await blobSize(CACHE_CONTAINER, entry.blobName);
      if (size === null) throw new TwirpError('not_found', 'cache entry upload not found');
      if (size !== declared) throw new TwirpError('invalid_argument', `size_bytes ${declared} does not match the uploaded size ${size}`);
      entry.finalized = true;
      entry.sizeBytes = size;
      entry.createdAt = Date.now();
      entry.lastAccessedAt = entry.createdAt;
      await evictIfNeeded(entry);
      return { ok: true, entry_id: String(entry.id) };
    },
  };

  /** @param {Record<string, unknown>} body @param {BackendIds} ids */
  const checkIds = (body, ids) => {
    const run = str(body.workflow_run_backend_id ?? body.workflowRunBackendId);
    const job = str(body.workflow_job_run_backend_id ?? body.workflowJobRunBackendId);
    if (run !== ids.runBackendId || job !== ids.jobBackendId) {
      throw new TwirpError('permission_denied', 'workflow_run_backend_id and workflow_job_run_backend_id do not match the token');
    }
    return { run, job };
  };
  /**
   * GetSignedArtifactURL and DeleteArtifact name an artifact of ANY job of the token's run: the
   * client sends the run and job ids ListArtifacts gave for that artifact (its uploader's job), as
   * @actions/artifact's downloadArtifact and deleteArtifact do. That is how a later job of the run
   * downloads what an earlier one uploaded (actions/download-artifact), and how a rerun's job,
   * with a new job id, replaces the artifact of the attempt before (overwrite). The run must be
   * the token's.
   * @param {Record<string, unknown>} body @param {BackendIds} ids
   */
  const checkRunOf = (body, ids) => {
    const run = str(body.workflow_run_backend_id ?? body.workflowRunBackendId);
    const job = str(body.workflow_job_run_backend_id ?? body.workflowJobRunBackendId);
    if (run !== ids.runBackendId) throw new TwirpError('permission_denied', 'workflow_run_backend_id does not match the token');
    return { run, job };
  };
  /** @param {string} run @param {string} name @param {string} [job] */
  const artifactByName = (run, name, job) => [...artifacts.values()].find((a) => a.runBackendId === run && a.name === name && (job === undefined || a.jobBackendId === job));
  /** @param {Artifact} a */
  const monolith = (a) => ({
    workflow_run_backend_id: a.runBackendId, workflow_job_run_backend_id: a.jobBackendId, database_id: String(a.id),
    name: a.name, size: String(a.size), created_at: a.createdAt, ...(a.hash ? { digest: a.hash } : {}),
  });

  /** @type {Record<string, (body: Record<string, unknown>, ids: BackendIds) => Promise<object>>} */
  const artifactMethods = {
    async CreateArtifact(body, ids) {
      const { run, job } = checkIds(body, ids);
      const name = str(body.name);
      if (!name || ARTIFACT_NAME_FORBIDDEN.test(name)) throw new TwirpError('invalid_argument', `invalid artifact name: ${JSON.stringify(name)}`);
      if (artifactByName(run, name)) throw new TwirpError('already_exists', 'an artifact with this name already exists on the workflow run');
      const id = nextArtifactId++;
      const mimeType = str(wrapped(body.mime_type ?? body.mimeType) ?? '') || 'application/zip';
      const blobName = `${run}/${id}/${mimeType === 'application/zip' && !name.toLowerCase().endsWith('.zip') ? `${name}.zip` : name}`;
      artifacts.set(id, {
        id, runBackendId: run, jobBackendId: job, name, blobName, mimeType,
        expiresAt: body.expires_at ? str(body.expires_at) : null, finalized: false, size: 0, hash: null, createdAt: new Date().toISOString(),
      });
      return { ok: true, signed_upload_url: signedUrl(ARTIFACT_CONTAINER, blobName, 'cw') };
    },
    async FinalizeArtifact(body, ids) {
      const { run, job } = checkIds(body, ids);
      const a = artifactByName(run, str(body.name), job);
      if (!a) throw new TwirpError('not_found', 'artifact not found');
      if (a.finalized) throw new TwirpError('failed_precondition', 'artifact is already finalized');
      const size = await blobSize(ARTIFACT_CONTAINER, a.blobName);
      if (size === null) throw new TwirpError('not_found', 'artifact upload not found in blob storage');
      a.finalized = true;
      a.size = Number(str(body.size) || '0');
      a.hash = wrapped(body.hash);
      return { ok: true, artifact_id: String(a.id) };
    },
    async ListArtifacts(body, ids) {
      const { run } = checkIds(body, ids);
      const nameFilter = wrapped(body.name_filter ?? body.nameFilter);
      const idFilter = wrapped(body.id_filter ?? body.idFilter);
      const list = [...artifacts.values()].filter((a) => a.finalized && a.runBackendId === run
        && (nameFilter === null || a.name === nameFilter) && (idFilter === null || String(a.id) === idFilter));
      return { artifacts: list.map(monolith) };
    },
    async GetSignedArtifactURL(body, ids) {
      const { run, job } = checkRunOf(body, ids);
      const a = artifactByName(run, str(body.name), job);
      if (!a || !a.finalized) throw new TwirpError('not_found', 'artifact not found');
      const file = a.blobName.split('/').pop() ?? a.name;
      const disposition = `attachment; filename="${file.replace(/[^\x20-\x7e]|"/g, '_')}"; filename*=UTF-8''${encodeURIComponent(file)}`;
      return { signed_url: signedUrl(ARTIFACT_CONTAINER, a.blobName, 'r', disposition) };
    },
    async DeleteArtifact(body, ids) {
      const { run, job } = checkRunOf(body, ids);
      const a = artifactByName(run, str(body.name), job);
      if (!a) throw new TwirpError('not_found', 'artifact not found');
      artifacts.delete(a.id);
      await blobService.getContainerClient(ARTIFACT_CONTAINER).deleteBlob(a.blobName).catch(() => undefined);
      return { ok: true, artifact_id: String(a.id) };
    },
  };

  /** @type {Record<string, Record<string, (body: Record<string, unknown>, ids: BackendIds) => Promise<object>>>} */
  const services = { [CACHE_SERVICE]: cacheMethods, [ARTIFACT_SERVICE]: artifactMethods };

  /**
   * @param {http.ServerResponse} res @param {number} status @param {object} body
   */
  const send = (res, status, body) => {
    const data = Buffer.from(JSON.stringify(body));
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': data.length });
    res.end(data);
  };
  /** @param {http.ServerResponse} res @param {TwirpCode} code @param {string} msg */
  const twirpError = (res, code, msg) => send(res, TWIRP_STATUS[code], { code, msg });

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const match = /^\/twirp\/([\w.]+)\/(\w+)$/.exec(url.pathname);
    const method = match?.[2] ?? `${req.method} ${url.pathname}`;
    requests[method] = (requests[method] ?? 0) + 1;
    res.on('finish', () => {
      const k = `${method} ${res.statusCode}`;
      statuses[k] = (statuses[k] ?? 0) + 1;
    });
    try {
      const body = await readBody(req);
      const failure = failures.get(method) ?? failures.get('*');
      if (failure && failure.count > 0) {
        failure.count--;
        injectedFailures++;
        if (failure.status === 0) {
          req.socket.destroy();
          return;
        }
        twirpError(res, CODE_FOR_STATUS[failure.status] ?? 'internal', `injected failure (${failure.status})`);
        return;
      }
      if (!match || req.method !== 'POST') return twirpError(res, 'bad_route', `no handler for ${req.method} ${url.pathname}`);
      const impl = services[match[1] ?? '']?.[match[2] ?? ''];
      if (!impl) return twirpError(res, 'bad_route', `no handler for ${url.pathname}`);
      const auth = req.headers.authorization ?? '';
      const bearer = /^Bearer (.+)$/.exec(auth)?.[1];
      const ids = bearer && tokens.has(bearer) ? backendIdsOf(bearer) : null;
      if (!ids) return twirpError(res, 'unauthenticated', bearer ? 'invalid runtime token' : 'missing Authorization: Bearer token');
      if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) return twirpError(res, 'bad_route', 'unexpected Content-Type (the JSON client is expected)');
      /** @type {Record<string, unknown>} */
      let parsed;
      try {
        parsed = JSON.parse(body.toString('utf8') || '{}');
      } catch {
        return twirpError(res, 'malformed', 'the JSON body could not be decoded');
      }
      send(res, 200, await impl(parsed, ids));
    } catch (error) {
      if (error instanceof TwirpError) return twirpError(res, /** @type {TwirpCode} */ (error.code), error.message);
      twirpError(res, 'internal', String(/** @type {Error} */ (error)?.message ?? error));
    }
  });

  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const port = /** @type {import('node:net').AddressInfo} */ (server.address()).port;
  const origin = `http://127.0.0.1:${port}`;
  let isUp = true;

  /** @param {string} t */
  const envFor = (t) => ({
    ACTIONS_CACHE_SERVICE_V2: 'true',
    ACTIONS_RESULTS_URL: `${origin}/`,
    ACTIONS_RUNTIME_TOKEN: t,
    // @actions/cache and @actions/artifact treat any other host than github.com, *.ghe.com and
    // *.localhost as GHES (cache falls back to protocol v1, artifact refuses).
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_REPOSITORY: repository,
    GITHUB_REPOSITORY_OWNER: repository.split('/')[0] ?? '',
    GITHUB_RUN_ID: runId,
    GITHUB_RUN_ATTEMPT: '1',
  });

  return {
    url: `${origin}/`, origin, port, blobGatewayUrl, token, runId, runBackendId, jobBackendId, repository,
    env: envFor(token),
    envFor,
    mintToken(job = randomUUID()) {
      const t = makeRuntimeToken({ runBackendId, jobBackendId: job });
      tokens.add(t);
      return t;
    },
    stats() {
      const entries = [...cache.values()].map(({ blobName: _b, ...e }) => ({ ...e }));
      return {
        requests: { ...requests }, statuses: { ...statuses }, injectedFailures,
        blob: JSON.parse(JSON.stringify(blobStats)),
        cache: { entries, totalBytes: entries.filter((e) => e.finalized).reduce((s, e) => s + e.sizeBytes, 0), hits, misses, evicted },
        artifacts: [...artifacts.values()].map(({ blobName: _b, ...a }) => ({ ...a })),
      };
    },
    resetStats() {
      requests = {};
      statuses = {};
      injectedFailures = 0;
      hits = 0;
      misses = 0;
      evicted = 0;
      blobStats = { uploadedBytes: 0, downloadedBytes: 0, downloads: 0, byContainer: {} };
    },
    failNext(method, status = 500, count = 1) {
      failures.set(method, { status, count });
    },
    clearFailures() {
      failures.clear();
    },
    async down() {
      if (!isUp) return;
      isUp = false;
      const closed = new Promise((resolve) => server.close(() => resolve(undefined)));
      server.closeAllConnections();
      await closed;
    },
    async up() {
      if (isUp) return;
      await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject);
          resolve(undefined);
        });
      });
      isUp = true;
    },
    isUp: () => isUp,
    async stop() {
      const closers = [gateway, ...(isUp ? [server] : [])].map((s) => new Promise((resolve) => {
        s.close(() => resolve(undefined));
        s.closeAllConnections();
      }));
      isUp = false;
      await Promise.all(closers);
    },
  };
}

// The stand-in Hub's write API, as @huggingface/hub (npm) and huggingface_hub (Python) speak it:
// repo creation, preupload (which files go to LFS), the LFS batch API (basic and multipart
// transfers, never Xet: a batch answer without `transfer: "xet"` makes @huggingface/hub fall back
// to classic LFS), uploads to a storage host that refuses credentials (as presigned S3 URLs do),
// verify, the NDJSON commit endpoint, paths-info, whoami-v2 with token roles, and the
// `/api/validate-yaml` check huggingface_hub runs on a README.md.
// LFS objects are written to a directory on disk, hashed while the body streams in; a repository
// only knows the objects uploaded to it (the batch answers "already there" for those: the Hub's
// content dedup). A commit is checked in full before anything changes (all files or none).
import { Buffer } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, openSync, closeSync, ftruncateSync, renameSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';

/**
 * @typedef {import('./hub-server.mjs').HubFile} HubFile
 * @typedef {import('./hub-server.mjs').Model} Model
 * @typedef {{ name: string, role: 'read' | 'write' }} TokenInfo
 * @typedef {{ status: number, count: number, retryAfter?: number, afterBytes?: number, afterApply?: boolean, before?: () => unknown }} Failure
 * @typedef {{
 *   oid: string, parent: string | null, title: string, description: string, date: string,
 *   added: string[], deleted: string[], changed: boolean
 * }} CommitRecord
 * @typedef {{ id: string, oid: string, size: number, partSize: number, multipart: boolean, tmp: string, parts: Map<number, string>, signature: string }} Upload
 * @typedef {{
 *   requests: Record<string, number>, lfsBytesReceived: number, lfsObjectsStored: number,
 *   lfsUploads: { oid: string, bytes: number, status: number }[], commits: Record<string, number>, emptyCommits: Record<string, number>,
 *   lfsBatches: { offered: string[], transfer: string }[]
 * }} WriteStats
 * @typedef {{
 *   models: Map<string, Model>, tokens: Map<string, TokenInfo>, storeDir: string, partSize: number, orgs: string[],
 *   endpoint: () => string, storageOrigin: () => string,
 *   injected: (kind: string) => Failure | undefined,
 *   hubError: (res: import('node:http').ServerResponse, status: number, code: string, message: string, head?: boolean, headers?: Record<string, string | number>) => void,
 *   json: (res: import('node:http').ServerResponse, value: unknown, headers?: Record<string, string>) => void,
 *   newModel: (id: string, isPrivate: boolean) => Model,
 *   fakeSha: (text: string) => string,
 *   digest: (path: string, f: HubFile) => { etag: string, sha256: string, gitSha1: string },
 *   entries: (m: Model, sha: string, paths: string[], expand: boolean) => object[],
 *   authorizeRead: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, id: string) => Model | null,
 * }} WriteContext
 */

/** The .gitattributes the Hub puts in a new repository's first commit (its LFS patterns). */
export const DEFAULT_GITATTRIBUTES = [
  '*.7z', '*.arrow', '*.bin', '*.bz2', '*.ckpt', '*.ftz', '*.gz', '*.h5', '*.joblib', '*.lfs.*', '*.mlmodel', '*.model',
  '*.msgpack', '*.npy', '*.npz', '*.onnx', '*.ot', '*.parquet', '*.pb', '*.pickle', '*.pkl', '*.pt', '*.pth', '*.rar',
  '*.safetensors', 'saved_model/**/*', '*.tar.*', '*.tar', '*.tflite', '*.tgz', '*.wasm', '*.xz', '*.zip', '*.zst', '*tfevents*',
].map((p) => `${p} filter=lfs diff=lfs merge=lfs -text\n`).join('');

/** Regular (git) files above this go to LFS, and the commit endpoint refuses them inline. */
export const REGULAR_MAX = 10 * 1024 * 1024;
const COMMIT_BODY_MAX = 64 * 1024 * 1024;
const JSON_BODY_MAX = 16 * 1024 * 1024;

/** @param {string} text @returns {string} git's blob sha1 of the text */
export function gitBlobSha1(text) {
  const b = Buffer.from(text);
  return createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
}

/** @param {string} oid @param {number} size @returns {string} the pointer git stores for an LFS file */
export function lfsPointer(oid, size) {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${oid}\nsize ${size}\n`;
}

/** @param {string} glob a .gitattributes pattern @returns {(p: string) => boolean} */
function globMatcher(glob) {
  const re = glob.split('**/').map((part) => part.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')).join('(?:.*/)?');
  const anchored = new RegExp(`^${re}$`);
  // A pattern without a slash matches the file's name at any depth, as git does.
  return glob.includes('/') ? (p) => anchored.test(p) : (p) => anchored.test(p.split('/').pop() ?? p);
}

/** @param {string} text @returns {(p: string) => boolean} whether .gitattributes sends a path to LFS */
function lfsTracked(text) {
  const matchers = text.split('\n').map((l) => l.trim().split(/\s+/)).filter((w) => w[0] && !w[0].startsWith('#') && w.includes('filter=lfs')).map((w) => globMatcher(w[0] ?? ''));
  return (p) => matchers.some((m) => m(p));
}

/** @param {string} p @returns {string | null} why a repository path is refused, or null */
function badPath(p) {
  if (typeof p !== 'string' || !p) return 'is empty';
  if (p.startsWith('/') || p.endsWith('/')) return 'starts or ends with "/"';
  if (p.split('/').some((s) => s === '' || s === '.' || s === '..')) return 'has an empty, "." or ".." segment';
  if (p === '.git' || p.startsWith('.git/')) return 'is inside .git';
  return null;
}

/**
 * Reads a request body up to `max` bytes.
 * @param {import('node:http').IncomingMessage} req @param {number} max @returns {Promise<Buffer | null>} null when too large
 */
function readBody(req, max) {
  return new Promise((resolve, reject) => {
    /** @type {Buffer[]} */
    const chunks = [];
    let n = 0;
    let over = false;
    req.on('data', (/** @type {Buffer} */ c) => {
      n += c.length;
      if (n > max) over = true;
      else chunks.push(c);
    });
    req.on('end', () => resolve(over ? null : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** @param {WriteContext} ctx */
export function createWriteApi(ctx) {
  const { models, tokens, hubError, json } = ctx;
  mkdirSync(path.join(ctx.storeDir, 'objects'), { recursive: true });
  mkdirSync(path.join(ctx.storeDir, 'tmp'), { recursive: true });
  /** @type {Map<string, Upload>} */
  const uploads = new Map();
  /** @returns {WriteStats} */
  const emptyStats = () => ({ requests: {}, lfsBytesReceived: 0, lfsObjectsStored: 0, lfsUploads: [], commits: {}, emptyCommits: {}, lfsBatches: [] });
  let stats = emptyStats();
  let commitCounter = 0;
  /** Commits to apply and then answer with a fault (failNext(..., { afterApply: true })). @type {WeakMap<import('node:http').IncomingMessage, Failure>} */
  const lostAnswers = new WeakMap();
  const objectPath = (/** @type {string} */ oid) => path.join(ctx.storeDir, 'objects', oid);

  /** @param {string} kind */
  const count = (kind) => {
    stats.requests[kind] = (stats.requests[kind] ?? 0) + 1;
  };
  /**
   * An injected failure: the status (0 resets the connection), with Retry-After when set.
   * @param {import('node:http').ServerResponse} res @param {Failure} f
   */
  const fail = (res, f) => {
    if (f.status === 0) return void res.socket?.destroy();
    /** @type {Record<string, string>} */
    const retry = f.retryAfter !== undefined ? { 'Retry-After': String(f.retryAfter) } : {};
    const message = f.status === 429 ? `Too many requests: you have been rate limited, retry after ${f.retryAfter ?? 1} s` : 'injected failure';
    hubError(res, f.status, '', message, false, retry);
  };

  /**
   * The token's user when it may write; answers 401/403 otherwise. Read tokens get 403 with the
   * role named, so a client can tell the user which scope is missing.
   * @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res @param {string} what
   * @returns {TokenInfo | null}
   */
  const writer = (req, res, what) => {
    const header = req.headers.authorization;
    if (!header) {
      hubError(res, 401, '', `You must be authenticated to ${what}: pass a token with write access (Authorization: Bearer hf_...)`);
      return null;
    }
    const info = tokens.get(/^Bearer (.+)$/i.exec(header)?.[1] ?? '');
    if (!info) {
      hubError(res, 401, '', 'Invalid credentials in Authorization header');
      return null;
    }
    if (info.role !== 'write') {
      hubError(res, 403, '', `You don't have the rights to ${what}: the access token "${info.name}" has the "${info.role}" role; a "write" token (or a fine-grained token with write access to the repository) is needed`);
      return null;
    }
    return info;
  };
  /** @param {import('node:http').ServerResponse} res @param {string} id @returns {Model | null} */
  const repoOf = (res, id) => {
    const m = models.get(id);
    if (!m) hubError(res, 404, 'RepoNotFound', `Repository not found: ${id}`);
    return m ?? null;
  };
  /** @param {import('node:http').ServerResponse} res @param {Model} m @param {string} rev @returns {string | null} */
  const headOf = (res, m, rev) => {
    const sha = m.refs.get(rev);
    if (!sha) hubError(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
    return sha ?? null;
  };
  /** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res @param {number} max */
  const jsonBody = async (req, res, max = JSON_BODY_MAX) => {
    const body = await readBody(req, max);
    if (!body) return void hubError(res, 413, '', `Request body larger than ${max} bytes`);
    try {
      return /** @type {any} */ (JSON.parse(body.toString('utf8')));
    } catch {
      return void hubError(res, 400, '', 'Request body is not valid JSON');
    }
  };
  /** @param {Model} m */
  const gitattributesOf = (m, sha = m.refs.get('main') ?? '') => {
    const f = m.commits.get(sha)?.get('.gitattributes');
    return f?.content ? f.content.toString('utf8') : '';
  };

  // ---- repo creation ---------------------------------------------------------------------------
  /** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res */
  const createRepo = async (req, res) => {
    if (!writer(req, res, 'create a repository')) return;
    const body = await jsonBody(req, res);
    if (!body) return;
    const type = body.type ?? 'model';
    if (type !== 'model') return hubError(res, 400, '', `The stand-in Hub serves models only, not ${type}s`);
    const name = body.name;
    const org = body.organization ?? 'local-user';
    if (typeof name !== 'string' || !/^[\w.-]{1,96}$/.test(name) || !/^[\w.-]+$/.test(org)) {
      return hubError(res, 400, '', `Invalid repository name: ${org}/${name}`);
    }
    const id = `${org}/${name}`;
    if (models.has(id)) {
      const value = Buffer.from(JSON.stringify({ error: 'You already created this model repo', url: `${ctx.endpoint()}/${id}` }));
      res.writeHead(409, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': value.length, 'X-Error-Message': 'You already created this model repo' });
      return res.end(value);
    }
    const isPrivate = body.visibility === 'private' || body.private === true;
    const sha = ctx.fakeSha(`${id}:initial:${Date.now()}:${commitCounter++}`);
    const attrs = Buffer.from(DEFAULT_GITATTRIBUTES);
    const date = new Date().toISOString();
    const lastCommit = { id: sha, title: 'initial commit', date };
    /** @type {Map<string, HubFile>} */
    const files = new Map([['.gitattributes', { content: attrs, size: attrs.length, lfs: false, lastCommit }]]);
    for (const f of Array.isArray(body.files) ? body.files : []) {
      const why = badPath(f?.path);
      if (why) return hubError(res, 400, '', `repos/create: file path ${JSON.stringify(f?.path)} ${why}`);
      const content = Buffer.from(f.content ?? '', f.encoding === 'base64' ? 'base64' : 'utf8');
      files.set(f.path, { content, size: content.length, lfs: false, lastCommit });
    }
    const m = ctx.newModel(id, isPrivate);
    m.commits.set(sha, files);
    m.refs.set('main', sha);
    m.log.push({ oid: sha, parent: null, title: 'initial commit', description: '', date, added: [...files.keys()], deleted: [], changed: true });
    json(res, { url: `${ctx.endpoint()}/${id}`, name: id, id: ctx.fakeSha(id).slice(0, 24) });
  };

  // ---- preupload -------------------------------------------------------------------------------
  /** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res @param {string} id @param {string} rev */
  const preupload = async (req, res, id, rev) => {
    if (!writer(req, res, `upload to ${id}`)) return;
    const m = repoOf(res, id);
    if (!m) return;
    const sha = headOf(res, m, rev);
    if (!sha) return;
    const body = await jsonBody(req, res);
    if (!body) return;
    if (!Array.isArray(body.files)) return hubError(res, 400, '', 'preupload: "files" must be an array of {path, size, sample}');
    const tree = /** @type {Map<string, HubFile>} */ (m.commits.get(sha));
    const tracked = lfsTracked(typeof body.gitAttributes === 'string' ? body.gitAttributes : gitattributesOf(m, sha));
    const out = [];
    for (const f of body.files) {
      const why = badPath(f?.path);
      if (why) return hubError(res, 400, '', `preupload: path ${JSON.stringify(f?.path)} ${why}`);
      if (!Number.isSafeInteger(f.size) || f.size < 0) return hubError(res, 400, '', `preupload: size of ${f.path} must be a non-negative integer`);
      if (typeof f.sample !== 'string') return hubError(res, 400, '', `preupload: sample of ${f.path} must be base64 of the first 512 bytes`);
      const sample = Buffer.from(f.sample, 'base64');
      const lfs = f.size > 0 && (f.size >= REGULAR_MAX || tracked(f.path) || sample.includes(0));
      const existing = tree.get(f.path);
      /** @type {Record<string, unknown>} */
      const entry = { path: f.path, uploadMode: lfs ? 'lfs' : 'regular', shouldIgnore: false };
      // The oid of the file already there (sha256 for LFS, git sha1 otherwise): clients compare it to skip unchanged files.
      if (existing) entry.oid = existing.lfs ? existing.sha256 ?? ctx.digest(f.path, existing).sha256 : existing.gitSha1 ?? ctx.digest(f.path, existing).gitSha1;
      out.push(entry);
    }
    json(res, { files: out, commitOid: sha });
  };

  // ---- LFS batch, uploads, verify --------------------------------------------------------------
  /** @param {string} id @param {string} oid @param {number} size */
  const newUpload = (id, oid, size) => {
    const uploadId = randomBytes(12).toString('hex');
    const multipart = size > ctx.partSize;
    /** @type {Upload} */
    const up = { id, oid, size, partSize: multipart ? ctx.partSize : size, multipart, tmp: path.join(ctx.storeDir, 'tmp', uploadId), parts: new Map(), signature: randomBytes(16).toString('hex') };
    uploads.set(uploadId, up);
    const base = `${ctx.storageOrigin()}/lfs-upload/${uploadId}`;
    if (!multipart) return { href: `${base}?X-Amz-Signature=${up.signature}`, uploadId };
    /** @type {Record<string, string>} */
    const header = { chunk_size: String(ctx.partSize) };
    const n = Math.ceil(size / ctx.partSize);
    for (let i = 1; i <= n; i++) header[String(i).padStart(5, '0')] = `${base}/${i}?X-Amz-Signature=${up.signature}`;
    return { href: `${ctx.endpoint()}/api/complete_multipart?uploadId=${uploadId}&X-Amz-Signature=${up.signature}`, header, uploadId };
  };

  /** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res @param {string} id */
  const batch = async (req, res, id) => {
    if (!writer(req, res, `upload to ${id}`)) return;
    const m = repoOf(res, id);
    if (!m) return;
    const body = await jsonBody(req, res);
    if (!body) return;
    if (body.operation !== 'upload') return hubError(res, 400, '', 'LFS batch: only "upload" is served here (downloads go through /resolve)');
    if (body.hash_algo !== undefined && body.hash_algo !== 'sha256' && body.hash_algo !== 'sha_256') return hubError(res, 400, '', `LFS batch: unsupported hash_algo ${body.hash_algo}`);
    if (!Array.isArray(body.objects) || body.objects.length === 0) return hubError(res, 400, '', 'LFS batch: "objects" must be a non-empty array of {oid, size}');
    const transfers = Array.isArray(body.transfers) ? body.transfers : ['basic'];
    const objects = [];
    let anyMultipart = false;
    for (const o of body.objects) {
      if (!/^[0-9a-f]{64}$/.test(o?.oid ?? '') || !Number.isSafeInteger(o.size) || o.size < 0) {
        objects.push({ oid: o?.oid, size: o?.size, error: { code: 422, message: 'oid must be 64 hex digits (sha256) and size a non-negative integer' } });
        continue;
      }
      if (m.lfsKnown.has(o.oid) && existsSync(objectPath(o.oid)) && statSync(objectPath(o.oid)).size === o.size) {
        objects.push({ oid: o.oid, size: o.size }); // already uploaded to this repository: no actions
        continue;
      }
      if (o.size > ctx.partSize && !transfers.includes('multipart')) {
        objects.push({ oid: o.oid, size: o.size, error: { code: 422, message: `objects above ${ctx.partSize} bytes need the multipart transfer` } });
        continue;
      }
      const up = newUpload(id, o.oid, o.size);
      anyMultipart ||= up.header !== undefined;
      objects.push({
        oid: o.oid, size: o.size, authenticated: true,
        actions: {
          upload: { href: up.href, ...(up.header ? { header: up.header } : {}), expires_in: 86400 },
          verify: { href: `${ctx.endpoint()}/${id}.git/info/lfs/objects/verify`, header: {}, expires_in: 86400 },
        },
      });
    }
    // The transfer negotiated, recorded for the tests: what the client offered, what was answered.
    const transfer = anyMultipart ? 'multipart' : 'basic';
    stats.lfsBatches.push({ offered: transfers.map(String), transfer });
    const value = Buffer.from(JSON.stringify({ transfer, objects }));
    res.writeHead(200, { 'Content-Type': 'application/vnd.git-lfs+json', 'Content-Length': value.length, 'X-Request-Id': randomBytes(8).toString('hex') });
    res.end(value);
  };

  /** @param {import('node:http').ServerResponse} res @param {number} status @param {string} code @param {string} message */
  const s3Error = (res, status, code, message) => {
    const body = Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`);
    res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': body.length, Connection: 'close' });
    res.end(body);
  };

  /** Moves a verified upload into the store and lets its repository know the object. @param {Upload} up @param {string} uploadId */
  const store = (up, uploadId) => {
    renameSync(up.tmp, objectPath(up.oid));
    uploads.delete(uploadId);
    models.get(up.id)?.lfsKnown.add(up.oid);
    stats.lfsObjectsStored++;
  };

  /**
   * A PUT to the storage host: a whole object, or one part of a multipart upload (written at its
   * offset, hashed once whole on completion). The body streams to disk; a single PUT is hashed on the way and refused (400
   * BadDigest / IncompleteBody) unless its sha256 and size are the ones announced.
   * @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res @param {URL} url
   */
  const put = (req, res, url) => {
    const m = /^\/lfs-upload\/([0-9a-f]{24})(?:\/(\d+))?$/.exec(url.pathname);
    if (!m) return s3Error(res, 404, 'NoSuchUpload', 'unknown upload');
    count('lfs-upload');
    const uploadId = m[1] ?? '';
    const up = uploads.get(uploadId);
    if (!up || url.searchParams.get('X-Amz-Signature') !== up.signature) return s3Error(res, 403, 'SignatureDoesNotMatch', 'unknown upload or bad signature');
    if (req.headers.authorization) return s3Error(res, 400, 'InvalidArgument', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified');
    const part = m[2] ? Number(m[2]) : 0;
    const parts = Math.ceil(up.size / up.partSize);
    if (up.multipart !== (part > 0) || part > parts) return s3Error(res, 400, 'InvalidPart', `part ${part} of an upload of ${parts} part(s)`);
    const expected = up.multipart ? Math.min(up.partSize, up.size - (part - 1) * up.partSize) : up.size;
    const start = up.multipart ? (part - 1) * up.partSize : 0;
    if (up.multipart && !existsSync(up.tmp)) {
      const fd = openSync(up.tmp, 'w');
      ftruncateSync(fd, up.size);
      closeSync(fd);
    }
    const fault = ctx.injected('lfs-upload');
    const sha = createHash('sha256');
    const out = createWriteStream(up.tmp, { flags: up.multipart ? 'r+' : 'w', start, highWaterMark: 4 << 20 });
    // A destroyed stream (a dropped connection) may still have writes queued: their error is expected.
    out.on('error', () => undefined);
    let received = 0;
    let failed = false;
    const record = { oid: up.oid, bytes: 0, status: 0 };
    stats.lfsUploads.push(record);
    req.on('data', (/** @type {Buffer} */ chunk) => {
      received += chunk.length;
      stats.lfsBytesReceived += chunk.length;
      record.bytes += chunk.length;
      if (fault && !failed && received > (fault.afterBytes ?? 0)) {
        failed = true;
        if (fault.status === 0) {
          // The connection drops mid-body.
          out.destroy();
          req.socket.destroy();
        }
      }
      if (failed) return;
      if (!up.multipart) sha.update(chunk);
      if (!out.write(chunk)) {
        req.pause();
        out.once('drain', () => req.resume());
      }
    });
    req.on('end', () => {
      if (failed && fault) {
        record.status = fault.status;
        return out.end(() => {
          if (!up.multipart) rmSync(up.tmp, { force: true });
          fail(res, fault);
        });
      }
      out.end(() => {
        if (received !== expected) {
          if (!up.multipart) rmSync(up.tmp, { force: true });
          record.status = 400;
          return s3Error(res, 400, 'IncompleteBody', `expected ${expected} bytes, received ${received}`);
        }
        // Any opaque ETag does (clients hand it back on completion); S3's md5 would cost a hash pass.
        const etag = `"${randomBytes(16).toString('hex')}"`;
        if (up.multipart) {
          up.parts.set(part, etag);
        } else {
          const got = sha.digest('hex');
          if (got !== up.oid) {
            rmSync(up.tmp, { force: true });
            record.status = 400;
            return s3Error(res, 400, 'BadDigest', `sha256 of the body is ${got}, the upload was announced as ${up.oid}`);
          }
          store(up, uploadId);
        }
        record.status = 200;
        res.writeHead(200, { ETag: etag, 'Content-Length': 0 });
        res.end();
      });
    });
    req.on('close', () => {
      if (req.complete) return;
      // The connection dropped mid-body: nothing of it is kept.
      out.destroy();
      if (!up.multipart) rmSync(up.tmp, { force: true });
    });
  };

  /** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res @param {URL} url */
  const completeMultipart = async (req, res, url) => {
    const uploadId = url.searchParams.get('uploadId') ?? '';
    const up = uploads.get(uploadId);
    if (!up || url.searchParams.get('X-Amz-Signature') !== up.signature || !up.multipart) return hubError(res, 404, '', 'Unknown multipart upload');
    const body = await jsonBody(req, res);
    if (!body) return;
    const n = Math.ceil(up.size / up.partSize);
    if (body.oid !== up.oid) return hubError(res, 400, '', `complete_multipart: oid ${body.oid} is not this upload's (${up.oid})`);
    if (!Array.isArray(body.parts) || body.parts.length !== n) return hubError(res, 400, '', `complete_multipart: ${n} parts expected`);
    for (const p of body.parts) {
      const etag = up.parts.get(p?.partNumber);
      if (!etag) return hubError(res, 400, '', `complete_multipart: part ${p?.partNumber} was not uploaded`);
      if (String(p.etag).replace(/"/g, '') !== etag.replace(/"/g, '')) return hubError(res, 400, '', `complete_multipart: ETag of part ${p.partNumber} does not match`);
    }
    // The parts were written in place; the whole object is hashed once, here.
    const sha = createHash('sha256');
    await new Promise((resolve, reject) => {
      createReadStream(up.tmp, { highWaterMark: 1 << 20 }).on('data', (c) => sha.update(c)).on('end', () => resolve(undefined)).on('error', reject);
    });
    const got = sha.digest('hex');
    if (got !== up.oid) {
      rmSync(up.tmp, { force: true });
      uploads.delete(uploadId);
      return hubError(res, 400, '', `complete_multipart: sha256 of the assembled object is ${got}, not ${up.oid}`);
    }
    store(up, uploadId);
    json(res, { success: true });
  };

  /** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res @param {string} id */
  const verify = async (req, res, id) => {
    if (!writer(req, res, `upload to ${id}`)) return;
    const m = repoOf(res, id);
    if (!m) return;
    const body = await jsonBody(req, res);
    if (!body) return;
    const p = objectPath(String(body.oid ?? ''));
    if (!/^[0-9a-f]{64}$/.test(body.oid ?? '') || !m.lfsKnown.has(body.oid) || !existsSync(p)) return hubError(res, 404, '', `LFS object ${body.oid} was not uploaded to ${id}`);
    if (statSync(p).size !== body.size) return hubError(res, 422, '', `LFS object ${body.oid} has ${statSync(p).size} bytes, not ${body.size}`);
    json(res, { success: true });
  };

  // ---- commit ----------------------------------------------------------------------------------
  /**
   * Parses and checks the whole NDJSON payload before touching the repository.
   * @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res @param {string} id @param {string} rev @param {URL} url
   */
  const commit = async (req, res, id, rev, url) => {
    if (!writer(req, res, `commit to ${id}`)) return;
    const m = repoOf(res, id);
    if (!m) return;
    const head = headOf(res, m, rev);
    if (!head) return;
    if (url.searchParams.get('create_pr')) return hubError(res, 400, '', 'The stand-in Hub does not open pull requests (create_pr)');
    if (!/^application\/x-ndjson/.test(req.headers['content-type'] ?? '')) return hubError(res, 415, '', 'commit: the body must be NDJSON (Content-Type: application/x-ndjson)');
    const body = await readBody(req, COMMIT_BODY_MAX);
    if (!body) return hubError(res, 413, '', `commit: payload larger than ${COMMIT_BODY_MAX} bytes`);
    const lines = body.toString('utf8').split('\n').filter((l) => l.trim() !== '');
    /** @type {{ key: string, value: any }[]} */
    const ops = [];
    for (const [i, line] of lines.entries()) {
      let op;
      try {
        op = JSON.parse(line);
      } catch {
        return hubError(res, 400, '', `commit: line ${i + 1} is not valid JSON`);
      }
      if (!op || typeof op.key !== 'string' || typeof op.value !== 'object' || op.value === null) return hubError(res, 400, '', `commit: line ${i + 1} must be {"key": ..., "value": {...}}`);
      ops.push(op);
    }
    const [header, ...changes] = ops;
    if (header?.key !== 'header' || typeof header.value.summary !== 'string' || !header.value.summary.trim()) return hubError(res, 400, '', 'commit: the first line must be the header, with a non-empty "summary"');
    const parent = header.value.parentCommit;
    if (parent !== undefined && parent !== null) {
      if (!/^[0-9a-f]{40}$/.test(parent) || !m.commits.has(parent)) return hubError(res, 400, '', `commit: parentCommit ${parent} is not a commit of ${id}`);
      if (parent !== head) return hubError(res, 412, '', `commit: a commit has happened since ${parent} on ${rev} (now ${head}); refresh and retry`);
    }
    const date = new Date().toISOString();
    const oid = ctx.fakeSha(`${id}:${head}:${commitCounter++}:${header.value.summary}:${date}`);
    const lastCommit = { id: oid, title: header.value.summary, date };
    const tree = new Map(/** @type {Map<string, HubFile>} */ (m.commits.get(head)));
    /** @type {string[]} */
    const added = [];
    /** @type {string[]} */
    const deleted = [];
    /** @type {string[]} */
    const lfsPaths = [];
    for (const [i, { key, value }] of changes.entries()) {
      const where = `commit: operation ${i + 1} (${key} ${JSON.stringify(value.path)})`;
      if (key === 'deletedFolder') {
        const dir = String(value.path ?? '').replace(/\/+$/, '');
        const inside = [...tree.keys()].filter((p) => p.startsWith(`${dir}/`));
        if (!dir || inside.length === 0) return hubError(res, 404, 'EntryNotFound', `${where}: A folder with this name doesn't exist`);
        for (const p of inside) tree.delete(p);
        deleted.push(...inside);
        continue;
      }
      const why = badPath(value.path);
      if (why) return hubError(res, 400, '', `${where}: the path ${why}`);
      if (value.oldPath !== undefined) return hubError(res, 400, '', `${where}: renames (oldPath) are not served by the stand-in Hub`);
      if (key === 'deletedFile') {
        if (!tree.has(value.path)) return hubError(res, 404, 'EntryNotFound', `${where}: A file with this name doesn't exist`);
        tree.delete(value.path);
        deleted.push(value.path);
      } else if (key === 'file') {
        if (typeof value.content !== 'string') return hubError(res, 400, '', `${where}: "content" must be a string`);
        if (value.encoding !== undefined && value.encoding !== 'base64' && value.encoding !== 'utf-8') return hubError(res, 400, '', `${where}: encoding must be base64 or utf-8`);
        if (value.encoding === 'base64' && !/^[A-Za-z0-9+/]*={0,2}$/.test(value.content)) return hubError(res, 400, '', `${where}: content is not base64`);
        const content = Buffer.from(value.content, value.encoding === 'base64' ? 'base64' : 'utf8');
        if (content.length > REGULAR_MAX) return hubError(res, 400, '', `${where}: Your push was rejected because it contains files larger than 10 MiB; upload them with LFS`);
        const sha256 = createHash('sha256').update(content).digest('hex');
        const gitSha1 = createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
        tree.set(value.path, { content, size: content.length, lfs: false, sha256, gitSha1, etag: gitSha1, lastCommit });
        added.push(value.path);
      } else if (key === 'lfsFile') {
        if (value.algo !== undefined && value.algo !== 'sha256') return hubError(res, 400, '', `${where}: algo must be sha256`);
        if (!/^[0-9a-f]{64}$/.test(value.oid ?? '')) return hubError(res, 400, '', `${where}: oid must be 64 hex digits`);
        const p = objectPath(value.oid);
        if (!m.lfsKnown.has(value.oid) || !existsSync(p)) {
          return hubError(res, 400, '', `${where}: Your push was rejected because an LFS pointer pointed to a file that does not exist (oid ${value.oid} was not uploaded to ${id})`);
        }
        const size = statSync(p).size;
        if (value.size !== undefined && value.size !== size) return hubError(res, 400, '', `${where}: size ${value.size} does not match the uploaded object (${size} bytes)`);
        const pointer = lfsPointer(value.oid, size);
        tree.set(value.path, { content: null, diskPath: p, size, lfs: true, sha256: value.oid, gitSha1: gitBlobSha1(pointer), etag: value.oid, pointerSize: Buffer.byteLength(pointer), lastCommit });
        added.push(value.path);
        lfsPaths.push(value.path);
      } else {
        return hubError(res, 400, '', `commit: operation ${i + 1} has an unknown key ${JSON.stringify(key)} (file, lfsFile, deletedFile, deletedFolder)`);
      }
    }
    // As the Hub does: LFS files that .gitattributes does not track get a line of their own.
    const attrsFile = tree.get('.gitattributes');
    const attrs = attrsFile?.content?.toString('utf8') ?? '';
    const tracked = lfsTracked(attrs);
    const untracked = lfsPaths.filter((p) => !tracked(p));
    if (untracked.length) {
      const next = Buffer.from(`${attrs}${attrs && !attrs.endsWith('\n') ? '\n' : ''}${untracked.map((p) => `${p.replace(/ /g, '\\ ')} filter=lfs diff=lfs merge=lfs -text\n`).join('')}`);
      tree.set('.gitattributes', { content: next, size: next.length, lfs: false, lastCommit });
    }
    const before = /** @type {Map<string, HubFile>} */ (m.commits.get(head));
    const changed = before.size !== tree.size || [...tree].some(([p, f]) => {
      const old = before.get(p);
      return !old || old.size !== f.size || ctx.digest(p, old).sha256 !== ctx.digest(p, f).sha256;
    });
    // Unchanged files keep the commit that last touched them.
    for (const [p, f] of tree) {
      const old = before.get(p);
      if (old && old !== f && old.size === f.size && ctx.digest(p, old).sha256 === ctx.digest(p, f).sha256) tree.set(p, old);
    }
    m.commits.set(oid, tree);
    m.refs.set(rev, oid);
    m.log.push({ oid, parent: head, title: header.value.summary, description: String(header.value.description ?? ''), date, added, deleted, changed });
    stats.commits[id] = (stats.commits[id] ?? 0) + 1;
    if (!changed) stats.emptyCommits[id] = (stats.emptyCommits[id] ?? 0) + 1;
    // A fault after the commit: the branch has moved, but the client never hears so.
    const lost = lostAnswers.get(req);
    if (lost) return fail(res, lost);
    json(res, { success: true, commitOid: oid, commitUrl: `${ctx.endpoint()}/${id}/commit/${oid}`, hookOutput: '' });
  };

  // ---- paths-info ------------------------------------------------------------------------------
  /** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res @param {string} id @param {string} rev */
  const pathsInfo = async (req, res, id, rev) => {
    const m = ctx.authorizeRead(req, res, id);
    if (!m) return;
    const sha = m.commits.has(rev) ? rev : m.refs.get(rev);
    if (!sha) return hubError(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
    const body = await readBody(req, JSON_BODY_MAX);
    if (!body) return hubError(res, 413, '', 'paths-info: body too large');
    /** @type {{ paths: unknown, expand: boolean }} */
    let asked;
    if (/^application\/json/.test(req.headers['content-type'] ?? '')) {
      try {
        const v = JSON.parse(body.toString('utf8'));
        asked = { paths: v.paths, expand: v.expand === true };
      } catch {
        return hubError(res, 400, '', 'paths-info: body is not valid JSON');
      }
    } else {
      // huggingface_hub posts a form: paths=a&paths=b&expand=True
      const form = new URL(`http://x/?${body.toString('utf8')}`).searchParams;
      asked = { paths: form.getAll('paths'), expand: /^true$/i.test(form.get('expand') ?? '') };
    }
    const { paths, expand } = asked;
    if (!Array.isArray(paths) || paths.some((p) => typeof p !== 'string')) return hubError(res, 400, '', 'paths-info: "paths" must be an array of strings');
    json(res, ctx.entries(m, sha, /** @type {string[]} */ (paths), expand));
  };

  // ---- whoami ----------------------------------------------------------------------------------
  /** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res @param {boolean} head */
  const whoami = (req, res, head) => {
    const info = tokens.get(/^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '');
    if (!info) return hubError(res, 401, '', 'Invalid credentials in Authorization header', head);
    json(res, {
      type: 'user', id: ctx.fakeSha('local-user').slice(0, 24), name: 'local-user', fullname: 'Local User', email: 'local@example.invalid',
      emailVerified: true, isPro: false, canPay: false, periodEnd: null, avatarUrl: '',
      orgs: ctx.orgs.map((name) => ({ type: 'org', id: ctx.fakeSha(name).slice(0, 24), name, fullname: name, roleInOrg: 'write' })),
      auth: { type: 'access_token', accessToken: { displayName: info.name, role: info.role, createdAt: '2026-01-01T00:00:00.000Z' } },
    });
  };

  /**
   * Takes the write routes on the Hub's host; false for anything else.
   * @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res @param {URL} url
   * @returns {boolean}
   */
  const handle = (req, res, url) => {
    const p = url.pathname;
    const dec = decodeURIComponent;
    /** @type {[string, () => unknown] | null} */
    let route = null;
    /** @type {RegExpExecArray | null} */
    let m;
    if (p === '/api/whoami-v2' && (req.method === 'GET' || req.method === 'HEAD')) route = ['whoami', () => whoami(req, res, req.method === 'HEAD')];
    // Xet's token endpoints (GET, with or without the revision): counted, so a test can tell that no client asked; refused.
    else if (/^\/api\/models\/[^/]+\/[^/]+\/xet-(write|read)-token(\/|$)/.test(p)) route = ['xet-token', () => hubError(res, 404, '', 'The stand-in Hub does not speak Xet: upload through the LFS batch API (basic or multipart)', req.method === 'HEAD')];
    else if (req.method !== 'POST') return false;
    else if (p === '/api/repos/create') route = ['create', () => createRepo(req, res)];
    else if (p === '/api/validate-yaml') route = ['validate-yaml', () => json(res, { errors: [], warnings: [] })];
    else if (p === '/api/complete_multipart') route = ['lfs-complete', () => completeMultipart(req, res, url)];
    else if ((m = /^\/api\/models\/([^/]+\/[^/]+)\/preupload\/([^/]+)$/.exec(p))) route = ['preupload', () => preupload(req, res, dec(m?.[1] ?? ''), dec(m?.[2] ?? ''))];
    else if ((m = /^\/api\/models\/([^/]+\/[^/]+)\/commit\/([^/]+)$/.exec(p))) route = ['commit', () => commit(req, res, dec(m?.[1] ?? ''), dec(m?.[2] ?? ''), url)];
    else if ((m = /^\/api\/models\/([^/]+\/[^/]+)\/paths-info\/([^/]+)$/.exec(p))) route = ['paths-info', () => pathsInfo(req, res, dec(m?.[1] ?? ''), dec(m?.[2] ?? ''))];
    else if ((m = /^\/([^/]+\/[^/]+)\.git\/info\/lfs\/objects\/batch$/.exec(p))) route = ['lfs-batch', () => batch(req, res, dec(m?.[1] ?? ''))];
    else if ((m = /^\/([^/]+\/[^/]+)\.git\/info\/lfs\/objects\/verify$/.exec(p))) route = ['lfs-verify', () => verify(req, res, dec(m?.[1] ?? ''))];
    else if (/^\/api\/(datasets|spaces)\//.test(p)) route = ['other', () => hubError(res, 400, '', 'The stand-in Hub serves models only')];
    if (!route) return false;
    const [kind, run] = route;
    count(kind);
    const f = ctx.injected(kind);
    if (f && !f.afterApply) {
      // Read the body first so the client sees the answer, not a reset, as behind a real proxy.
      const ended = new Promise((resolve) => req.on('end', resolve));
      req.resume();
      Promise.all([ended, f.before?.()]).then(() => fail(res, f), (/** @type {Error} */ e) => hubError(res, 500, '', `stand-in Hub: the fault's before hook failed: ${e.message}`));
      return true;
    }
    if (f) lostAnswers.set(req, f);
    Promise.resolve(f?.before?.()).then(run).catch((/** @type {Error} */ e) => {
      if (!res.headersSent) hubError(res, 500, '', `stand-in Hub error: ${e.message}`);
      else res.destroy();
    });
    return true;
  };

  /** Takes PUTs on the storage host. @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res @param {URL} url */
  const handleStorage = (req, res, url) => {
    if (req.method !== 'PUT' || !url.pathname.startsWith('/lfs-upload/')) return false;
    put(req, res, url);
    return true;
  };

  return {
    handle, handleStorage,
    stats: () => /** @type {WriteStats} */ (JSON.parse(JSON.stringify(stats))),
    resetStats() {
      stats = emptyStats();
    },
    /** @param {string} id @returns {CommitRecord[]} oldest first */
    commits: (id) => JSON.parse(JSON.stringify(models.get(id)?.log ?? [])),
    /** @param {string} oid */
    hasObject: (oid) => existsSync(objectPath(oid)),
    /** @param {string} id forget what a repository was sent (its next upload of the same content sends the bytes again) */
    forgetObjects(id) {
      models.get(id)?.lfsKnown.clear();
    },
    close() {
      rmSync(ctx.storeDir, { recursive: true, force: true });
    },
  };
}

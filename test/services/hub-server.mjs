// A stand-in Hugging Face Hub for HF_ENDPOINT: the model API (`/api/models/<id>[/revision/<rev>]`,
// `/api/models/<id>/tree/<rev>`), and file downloads (`/<id>/resolve/<rev|sha>/<path>`, HEAD and
// GET, with the headers huggingface_hub reads: ETag, X-Repo-Commit, Content-Length; Range
// honoured). A gated model is listed to anyone (with `gated: "manual"`), as the Hub does, and its
// files download only with the token; a private one is unknown without the token. A model stored as 'lfs' or 'xet' has its LFS files answered with a 302 to a CDN on
// another host (127.0.0.2), as the Hub sends them to its LFS CDN or its Xet bridge; the CDN
// refuses a request that carries an Authorization header, as signed URLs do. Gated models need `Authorization: Bearer <token>`; errors carry the
// X-Error-Code header huggingface_hub maps to its exceptions. Bytes served are counted per model.
// Files are Buffers/strings, or a size: then the content is generated (deterministic from path and
// size, so an unchanged file keeps its bytes and ETag across commits, as on the Hub).
import { Buffer } from 'node:buffer';
import { createCipheriv, createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { createWriteApi, lfsPointer } from './hub-write.mjs';

/**
 * @typedef {Buffer | string | number} FileInput a file's bytes, text, or a size to generate
 * @typedef {{
 *   content: Buffer | null, size: number, lfs: boolean, etag?: string, sha256?: string, gitSha1?: string,
 *   diskPath?: string, pointerSize?: number, lastCommit?: { id: string, title: string, date: string }
 * }} HubFile a file of a commit: bytes in memory, on disk (uploaded LFS objects), or generated
 * @typedef {{
 *   id: string, revisions?: Record<string, string>, files: Record<string, FileInput>,
 *   gated?: boolean, private?: boolean, pipelineTag?: string, libraryName?: string, storage?: 'git' | 'lfs' | 'xet',
 *   cardData?: Record<string, unknown> | null
 * }} ModelSpec
 * @typedef {{
 *   id: string, gated: boolean, private: boolean, storage: 'git' | 'lfs' | 'xet', pipelineTag: string, libraryName: string,
 *   cardData: Record<string, unknown> | null, refs: Map<string, string>, commits: Map<string, Map<string, HubFile>>, createdAt: string,
 *   log: import('./hub-write.mjs').CommitRecord[], lfsKnown: Set<string>
 * }} Model
 * @typedef {{ model: string, path: string, revision: string, sha: string, status: number, start: number, bytes: number }} Download
 * @typedef {{
 *   bytesServed: Record<string, number>, totalBytes: number,
 *   requests: { api: number, tree: number, head: number, get: number, other: number },
 *   downloads: Download[], maxInFlight: number, write: import('./hub-write.mjs').WriteStats
 * }} HubStats
 * @typedef {'api' | 'resolve' | 'cdn' | 'whoami' | 'create' | 'preupload' | 'lfs-batch' | 'lfs-upload' | 'lfs-complete' | 'lfs-verify' | 'commit' | 'paths-info' | '*'} FailKind
 * @typedef {{
 *   url: string, endpoint: string, port: number, token: string, writeToken: string, readToken: string, env: Record<string, string>,
 *   addModel: (spec: ModelSpec) => void,
 *   setRevision: (id: string, rev: string, sha?: string, changes?: Record<string, FileInput | null>) => string,
 *   resolve: (id: string, rev?: string) => string,
 *   setGated: (id: string, gated: boolean) => void,
 *   stats: () => HubStats, resetStats: () => void,
 *   files: (id: string, rev?: string) => Record<string, { size: number, etag: string, sha256: string, lfs: boolean }>,
 *   commits: (id: string) => import('./hub-write.mjs').CommitRecord[],
 *   hasObject: (oid: string) => boolean, forgetObjects: (id: string) => void,
 *   failNext: (kind: FailKind, status?: number, count?: number, options?: { retryAfter?: number, afterBytes?: number, afterApply?: boolean, before?: () => unknown }) => void,
 *   dropNext: (path: string, afterBytes: number, count?: number) => void,
 *   corruptNext: (path: string, count?: number) => void,
 *   down: () => Promise<void>, up: () => Promise<void>,
 *   stop: () => Promise<void>
 * }} HubServer
 */

export const CLIP_MODEL_ID = 'openai/clip-vit-base-patch32';
const LFS_SUFFIXES = /\.(safetensors|bin|ckpt|pt|pth|onnx|msgpack|h5|mlmodel|weight|mlpackage)$/i;
const LFS_MIN_SIZE = 10 * 1024 * 1024;
const CHUNK = 256 * 1024;
/** Another host than the Hub's (all of 127/8 is loopback), so clients must drop the token there. */
const CDN_HOST = '127.0.0.2';

/** @param {string} text @returns {string} a 40-hex sha1 (commit-like) */
export function fakeSha(text) {
  return createHash('sha1').update(text).digest('hex');
}

/** GPT-2's byte-to-unicode table, as CLIP's tokenizer builds it. @returns {string[]} */
function byteChars() {
  /** @type {number[]} */
  const bs = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  return cs.map((c) => String.fromCodePoint(c));
}

/**
 * Synthetic CLIP tokenizer files shaped like openai/clip-vit-base-patch32's: a vocabulary of
 * 49408 entries (256 byte characters, the same with `</w>`, 48894 merges, two specials) and a
 * merges.txt of `#version: 0.2` plus those 48894 merges, consistent with each other.
 * @returns {{ vocab: Buffer, merges: Buffer }}
 */
export function clipTokenizerFiles() {
  const chars = byteChars();
  const tokens = [...chars, ...chars.map((c) => `${c}</w>`)];
  /** @type {string[]} */
  const merges = [];
  const want = 49408 - 512 - 2;
  outer: for (const a of chars) {
    for (const b of chars) {
      merges.push(`${a} ${b}`);
      tokens.push(a + b);
      if (merges.length === want) break outer;
    }
  }
  tokens.push('<|startoftext|>', '<|endoftext|>');
  /** @type {Record<string, number>} */
  const vocab = {};
  tokens.forEach((t, i) => {
    vocab[t] = i;
  });
  return {
    vocab: Buffer.from(JSON.stringify(vocab)),
    merges: Buffer.from(`#version: 0.2\n${merges.join('\n')}\n`),
  };
}

/**
 * Deterministic bytes [start, end) of a generated file (AES-128-CTR keystream, seekable).
 * @param {string} seed @param {number} start @param {number} end
 * @returns {Generator<Buffer>}
 */
function* generated(seed, start, end) {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const iv = Buffer.alloc(16);
  let counter = BigInt(Math.floor(start / 16));
  for (let i = 15; i >= 0; i--) {
    iv[i] = Number(counter & 0xffn);
    counter >>= 8n;
  }
  const cipher = createCipheriv('aes-128-ctr', key, iv);
  let skip = start % 16;
  let pos = start;
  const zeros = Buffer.alloc(CHUNK + 16);
  while (pos < end) {
    const n = Math.min(CHUNK, end - pos);
    const out = cipher.update(zeros.subarray(0, n + skip)).subarray(skip);
    skip = 0;
    pos += n;
    yield out;
  }
}

/** @param {string} path @param {HubFile} f @param {number} start @param {number} end @returns {Iterable<Buffer>} */
function bytesOf(path, f, start, end) {
  if (f.diskPath) return fromDisk(f.diskPath, start, end);
  return f.content ? [f.content.subarray(start, end)] : generated(`${path}:${f.size}`, start, end);
}

/** Bytes [start, end) of a file on disk, a chunk at a time. @param {string} file @param {number} start @param {number} end */
function* fromDisk(file, start, end) {
  const fd = openSync(file, 'r');
  try {
    for (let pos = start; pos < end;) {
      const chunk = Buffer.allocUnsafe(Math.min(CHUNK, end - pos));
      const n = readSync(fd, chunk, 0, chunk.length, pos);
      if (n === 0) throw new Error(`${file} is shorter than expected`);
      pos += n;
      yield chunk.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}

/** @param {string} path @param {FileInput} input @returns {HubFile} */
function makeFile(path, input) {
  const content = typeof input === 'number' ? null : Buffer.isBuffer(input) ? input : Buffer.from(input);
  const size = content ? content.length : /** @type {number} */ (input);
  return { content, size, lfs: LFS_SUFFIXES.test(path) || size >= LFS_MIN_SIZE };
}

/** Computes (once) the sha256 and git blob sha1 of a file; the ETag is the sha256 for LFS files. @param {string} path @param {HubFile} f */
function digestOf(path, f) {
  if (!f.etag) {
    const sha256 = createHash('sha256');
    const sha1 = createHash('sha1').update(`blob ${f.size}\0`);
    for (const chunk of bytesOf(path, f, 0, f.size)) {
      sha256.update(chunk);
      sha1.update(chunk);
    }
    f.sha256 = sha256.digest('hex');
    f.gitSha1 = sha1.digest('hex');
    f.etag = f.lfs ? f.sha256 : f.gitSha1;
  }
  return { etag: /** @type {string} */ (f.etag), sha256: /** @type {string} */ (f.sha256), gitSha1: /** @type {string} */ (f.gitSha1) };
}

/** @param {string} path */
function contentType(path) {
  if (path.endsWith('.json')) return 'application/json; charset=utf-8';
  if (/\.(txt|md|py|yaml|yml)$/.test(path)) return 'text/plain; charset=utf-8';
  return 'application/octet-stream';
}

/**
 * @param {{
 *   models?: ModelSpec[], token?: string, readToken?: string, clip?: boolean,
 *   storeDir?: string, partSize?: number, orgs?: string[], tls?: { key: string | Buffer, cert: string | Buffer }
 * }} [options]
 *   `clip` (default true) adds openai/clip-vit-base-patch32 with synthetic vocab.json and merges.txt;
 *   `token` has the write role, `readToken` the read role; `storeDir` (default: a new temp dir,
 *   removed by stop()) holds uploaded LFS objects; objects above `partSize` (default 64 MiB) are
 *   uploaded in parts of that size (the multipart transfer); `tls` serves the Hub and its CDN over
 *   HTTPS with that key and certificate (which must name 127.0.0.1 and 127.0.0.2)
 * @returns {Promise<HubServer>}
 */
export async function startHubServer(options = {}) {
  const token = options.token ?? 'hf_localtesttoken000000000000000000';
  const readToken = options.readToken ?? 'hf_localreadtoken00000000000000000';
  /** @type {Map<string, import('./hub-write.mjs').TokenInfo>} */
  const tokens = new Map([[token, { name: 'local-write', role: 'write' }], [readToken, { name: 'local-read', role: 'read' }]]);
  /** @type {Map<string, Model>} */
  const models = new Map();
  /** @type {Omit<HubStats, 'write'>} */
  let stats = { bytesServed: {}, totalBytes: 0, requests: { api: 0, tree: 0, head: 0, get: 0, other: 0 }, downloads: [], maxInFlight: 0 };
  let inFlight = 0;
  /** @type {Map<string, import('./hub-write.mjs').Failure>} */
  const failures = new Map();
  const scheme = options.tls ? 'https' : 'http';
  /** @param {http.RequestListener} handler */
  const createServer = (handler) => (options.tls ? https.createServer(options.tls, handler) : http.createServer(handler));

  /** @param {ModelSpec} spec */
  const addModel = (spec) => {
    if (!/^[\w.-]+\/[\w.-]+$/.test(spec.id)) throw new Error(`model id must be owner/name: ${spec.id}`);
    const files = new Map(Object.entries(spec.files).map(([p, v]) => [p, makeFile(p, v)]));
    const revisions = spec.revisions ?? { main: fakeSha(`${spec.id}@main`) };
    /** @type {Model} */
    const model = {
      id: spec.id, gated: spec.gated ?? false, private: spec.private ?? false, storage: spec.storage ?? 'git', pipelineTag: spec.pipelineTag ?? 'text-to-image', libraryName: spec.libraryName ?? 'diffusers',
      // The README's metadata; null for a repository without any (torch2coreml reads ControlNets' base_model from it).
      cardData: spec.cardData === undefined ? { library_name: spec.libraryName ?? 'diffusers' } : spec.cardData,
      refs: new Map(), commits: new Map(), createdAt: new Date().toISOString(), log: [], lfsKnown: new Set(),
    };
    for (const [rev, sha] of Object.entries(revisions)) {
      if (!/^[0-9a-f]{40}$/.test(sha)) throw new Error(`revision sha must be 40 hex digits: ${sha}`);
      model.refs.set(rev, sha);
      model.commits.set(sha, new Map(files));
    }
    models.set(spec.id, model);
  };
  for (const spec of options.models ?? []) addModel(spec);
  if (options.clip ?? true) {
    const { vocab, merges } = clipTokenizerFiles();
    addModel({ id: CLIP_MODEL_ID, files: { 'vocab.json': vocab, 'merges.txt': merges }, pipelineTag: 'zero-shot-image-classification', libraryName: 'transformers' });
  }

  /** @param {string} id */
  const mustModel = (id) => {
    const m = models.get(id);
    if (!m) throw new Error(`unknown model ${id}`);
    return m;
  };
  /** @param {Model} m @param {string} rev @returns {string | undefined} */
  const shaOf = (m, rev) => (m.commits.has(rev) ? rev : m.refs.get(rev));

  /**
   * @param {http.ServerResponse} res @param {number} status @param {string} code @param {string} message
   * @param {boolean} head @param {Record<string, string | number>} [headers]
   */
  const hubError = (res, status, code, message, head = false, headers = {}) => {
    const body = Buffer.from(JSON.stringify({ error: message }));
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.length,
      ...(code ? { 'X-Error-Code': code } : {}), 'X-Error-Message': message.replace(/[^\x20-\x7e]/g, '?'), ...headers,
    });
    res.end(head ? undefined : body);
  };
  /** @param {http.ServerResponse} res @param {unknown} value @param {Record<string, string>} [headers] */
  const json = (res, value, headers = {}) => {
    const body = Buffer.from(JSON.stringify(value));
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.length, ...headers });
    res.end(body);
  };

  /**
   * Authentication as the Hub does it: a wrong token is refused everywhere; an unknown or private
   * model is 401 anonymously and 404 with a token; a gated model's files need the token (`files`),
   * its listing does not.
   * @param {http.IncomingMessage} req @param {http.ServerResponse} res @param {string} id @param {boolean} head
   * @param {boolean} [files]
   * @returns {Model | null}
   */
  const authorize = (req, res, id, head, files = false) => {
    const header = req.headers.authorization;
    const bearer = header ? /^Bearer (.+)$/i.exec(header)?.[1] : undefined;
    if (header && !tokens.has(bearer ?? '')) {
      hubError(res, 401, '', 'Invalid credentials in Authorization header', head);
      return null;
    }
    const m = models.get(id);
    if (!m || (m.private && !bearer)) {
      hubError(res, bearer ? 404 : 401, 'RepoNotFound', 'Repository not found', head);
      return null;
    }
    if (files && m.gated && !bearer) {
      hubError(res, 401, 'GatedRepo', `Access to model ${id} is restricted. You must have access to it and be authenticated to access it. Please log in.`, head);
      return null;
    }
    return m;
  };

  /** @param {string} kind @returns {import('./hub-write.mjs').Failure | undefined} the failure to answer with, if one is due */
  const injected = (kind) => {
    const f = failures.get(kind) ?? failures.get('*');
    if (f && f.count > 0) {
      f.count--;
      return { ...f };
    }
    return undefined;
  };
  /** @param {http.ServerResponse} res @param {import('./hub-write.mjs').Failure} f @param {boolean} head */
  const injectedError = (res, f, head) => {
    if (f.status === 0) return void res.socket?.destroy();
    hubError(res, f.status, '', f.status === 429 ? 'Too many requests: you have been rate limited' : 'injected failure', head, f.retryAfter !== undefined ? { 'Retry-After': f.retryAfter } : {});
  };

  /**
   * A tree entry as the Hub lists it (tree and paths-info); with `expand`, the commit that last
   * touched the file.
   * @param {Model} model @param {string} sha @param {string} path @param {HubFile} f @param {boolean} expand
   */
  const fileEntry = (model, sha, path, f, expand) => {
    const d = digestOf(path, f);
    return {
      type: 'file', oid: d.gitSha1, size: f.size, path,
      ...(f.lfs ? { lfs: { oid: d.sha256, size: f.size, pointerSize: f.pointerSize ?? 134 } } : {}),
      ...(expand ? { lastCommit: f.lastCommit ?? { id: sha, title: model.log.find((c) => c.oid === sha)?.title ?? 'initial commit', date: model.createdAt } } : {}),
    };
  };
  /** @param {Model} model @param {string} sha @param {string[]} paths @param {boolean} expand */
  const entriesOf = (model, sha, paths, expand) => {
    const files = /** @type {Map<string, HubFile>} */ (model.commits.get(sha));
    return paths.flatMap((p) => {
      const clean = p.replace(/\/+$/, '');
      const f = files.get(clean);
      if (f) return [fileEntry(model, sha, clean, f, expand)];
      if ([...files.keys()].some((k) => k.startsWith(`${clean}/`))) return [{ type: 'directory', oid: fakeSha(`${sha}:${clean}`), size: 0, path: clean }];
      return [];
    });
  };

  /** @type {Map<string, { afterBytes: number, count: number }>} */
  const drops = new Map();
  /** @type {Map<string, number>} */
  const corruptions = new Map();
  /** @param {Map<string, any>} faults @param {string} path */
  const takeFault = (faults, path) => {
    const f = faults.get(path);
    const count = typeof f === 'number' ? f : f?.count ?? 0;
    if (count <= 0) return undefined;
    if (typeof f === 'number') faults.set(path, count - 1);
    else f.count--;
    return f;
  };

  /** @param {string} s */
  const dec = (s) => decodeURIComponent(s);

  /**
   * Sends a file's bytes (the range asked for), counting them, with the faults set for its path.
   * @param {http.IncomingMessage} req @param {http.ServerResponse} res @param {boolean} head
   * @param {{ id: string, path: string, rev: string, sha: string, f: HubFile }} file @param {Record<string, string | number>} headers
   */
  const serveBytes = (req, res, head, { id, path, rev, sha, f }, headers) => {
    let start = 0;
    let end = f.size;
    let code = 200;
    const range = req.headers.range;
    if (range) {
      const r = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
      if (!r || (!r[1] && !r[2])) {
        res.writeHead(416, { 'Content-Range': `bytes */${f.size}` });
        return res.end();
      }
      if (r[1]) {
        start = Number(r[1]);
        end = r[2] ? Math.min(Number(r[2]) + 1, f.size) : f.size;
      } else {
        start = Math.max(0, f.size - Number(r[2]));
      }
      if (start >= f.size || start >= end) {
        res.writeHead(416, { 'Content-Range': `bytes */${f.size}` });
        return res.end();
      }
      code = 206;
      headers['Content-Range'] = `bytes ${start}-${end - 1}/${f.size}`;
    }
    headers['Content-Length'] = end - start;
    res.writeHead(code, headers);
    if (head) return res.end();
    const drop = takeFault(drops, path);
    const corrupt = takeFault(corruptions, path) !== undefined;
    /** @type {Download} */
    const dl = { model: id, path, revision: rev, sha, status: code, start, bytes: 0 };
    stats.downloads.push(dl);
    const count = (/** @type {number} */ n) => {
      dl.bytes += n;
      stats.bytesServed[id] = (stats.bytesServed[id] ?? 0) + n;
      stats.totalBytes += n;
    };
    const iterator = bytesOf(path, f, start, end)[Symbol.iterator]();
    let first = true;
    const pump = () => {
      for (;;) {
        const next = iterator.next();
        if (next.done) return res.end();
        let chunk = next.value;
        if (corrupt && first) chunk = Buffer.concat([Buffer.from([(chunk[0] ?? 0) ^ 0xff]), chunk.subarray(1)]);
        first = false;
        if (drop && dl.bytes + chunk.length > drop.afterBytes) {
          // A dropped connection: part of the body, then the socket is gone.
          const n = Math.max(0, drop.afterBytes - dl.bytes);
          count(n);
          res.write(chunk.subarray(0, n), () => res.destroy());
          return;
        }
        count(chunk.length);
        if (!res.write(chunk)) return res.once('drain', pump);
      }
    };
    inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, inFlight);
    res.on('close', () => {
      inFlight--;
      iterator.return?.();
    });
    return pump();
  };

  const write = createWriteApi({
    models, tokens, storeDir: options.storeDir ?? mkdtempSync(joinPath(tmpdir(), 'hub-store-')), partSize: options.partSize ?? 64 * 1024 * 1024,
    orgs: options.orgs ?? ['acme'],
    endpoint: () => endpoint, storageOrigin: () => `${scheme}://${CDN_HOST}:${cdnPort}`,
    injected, hubError, json, fakeSha, digest: digestOf, entries: entriesOf,
    authorizeRead: (req, res, id) => authorize(req, res, id, false),
    newModel(id, isPrivate) {
      // A new repository: no commit until the write API makes its first (with .gitattributes).
      addModel({ id, files: {}, revisions: {}, private: isPrivate, storage: 'lfs', cardData: null, libraryName: '', pipelineTag: '' });
      return mustModel(id);
    },
  });

  /**
   * The model and revision an API route names (match groups 1 and 2), after the injected 'api'
   * faults and authorization; null when it has answered.
   * @param {http.IncomingMessage} req @param {http.ServerResponse} res @param {RegExpExecArray} m @param {boolean} head
   */
  const modelAt = (req, res, m, head) => {
    const failure = injected('api');
    if (failure) return void injectedError(res, failure, head);
    const id = dec(m[1] ?? '');
    const model = authorize(req, res, id, head);
    if (!model) return null;
    const rev = dec(m[2] ?? 'main');
    const sha = shaOf(model, rev);
    if (!sha) return void hubError(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`, head);
    return { id, model, rev, sha, files: /** @type {Map<string, HubFile>} */ (model.commits.get(sha)) };
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = url.pathname;
    const head = req.method === 'HEAD';
    if (p === '/api/whoami-v2') stats.requests.api++; // counted with the model API, as before the write API
    if (write.handle(req, res, url)) return;
    if (req.method !== 'GET' && !head) {
      stats.requests.other++;
      return hubError(res, 405, '', 'Method not allowed');
    }
    let m;
    if ((m = /^\/api\/models\/([^/]+\/[^/]+)(?:\/revision\/([^/]+))?\/?$/.exec(p))) {
      stats.requests.api++;
      const at = modelAt(req, res, m, head);
      if (!at) return;
      const { id, model, sha, files } = at;
      const blobs = url.searchParams.get('blobs') === 'true' || url.searchParams.get('blobs') === 'True';
      const siblings = [...files.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([rfilename, f]) => {
        if (!blobs) return { rfilename };
        const d = digestOf(rfilename, f);
        return { rfilename, size: f.size, blobId: d.gitSha1, ...(f.lfs ? { lfs: { sha256: d.sha256, size: f.size, pointerSize: 134 } } : {}) };
      });
      const [author] = id.split('/');
      return json(res, {
        _id: fakeSha(id).slice(0, 24), id, modelId: id, author, sha, lastModified: new Date().toISOString(),
        private: model.private, disabled: false, gated: model.gated ? 'manual' : false, downloads: 0, likes: 0,
        ...(model.libraryName ? { library_name: model.libraryName } : {}), tags: model.libraryName ? [model.libraryName] : [],
        ...(model.pipelineTag ? { pipeline_tag: model.pipelineTag } : {}),
        siblings, spaces: [], createdAt: model.createdAt,
        ...(model.cardData ? { cardData: model.cardData } : {}),
        usedStorage: [...files.values()].reduce((s, f) => s + f.size, 0),
      });
    }
    if ((m = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)(?:\/(.*))?$/.exec(p))) {
      stats.requests.tree++;
      const at = modelAt(req, res, m, head);
      if (!at) return;
      const { model, rev, sha, files } = at;
      const base = m[3] ? dec(m[3]).replace(/\/+$/, '') : '';
      const recursive = /^(true|1)$/i.test(url.searchParams.get('recursive') ?? '');
      const expand = /^(true|1)$/i.test(url.searchParams.get('expand') ?? '');
      const prefix = base ? `${base}/` : '';
      if (base && !files.has(base) && ![...files.keys()].some((f) => f.startsWith(prefix))) {
        return hubError(res, 404, 'EntryNotFound', `${base} does not exist on "${rev}"`, head);
      }
      /** @type {Map<string, object>} */
      const entries = new Map();
      for (const [path, f] of [...files.entries()].sort(([a], [b]) => a.localeCompare(b))) {
        if (!path.startsWith(prefix)) continue;
        const parts = path.slice(prefix.length).split('/');
        // Folders on the way down (all of them when recursive, the first level otherwise).
        for (let i = 1; i < parts.length && (recursive || i === 1); i++) {
          const dir = prefix + parts.slice(0, i).join('/');
          if (!entries.has(dir)) entries.set(dir, { type: 'directory', oid: fakeSha(`${sha}:${dir}`), size: 0, path: dir });
        }
        if (!recursive && parts.length > 1) continue;
        entries.set(path, fileEntry(model, sha, path, f, expand));
      }
      return json(res, [...entries.values()]);
    }
    if ((m = /^\/([^/]+\/[^/]+)\/(resolve|raw)\/([^/]+)\/(.+)$/.exec(p))) {
      if (head) stats.requests.head++;
      else stats.requests.get++;
      const failure = injected('resolve');
      if (failure) return injectedError(res, failure, head);
      const id = dec(m[1] ?? '');
      const model = authorize(req, res, id, head, true);
      if (!model) return;
      const raw = m[2] === 'raw';
      const rev = dec(m[3] ?? '');
      const path = (m[4] ?? '').split('/').map(dec).join('/');
      const sha = shaOf(model, rev);
      if (!sha) return hubError(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`, head);
      const stored = model.commits.get(sha)?.get(path);
      if (!stored) return hubError(res, 404, 'EntryNotFound', 'Entry not found', head);
      // raw: what git stores, the pointer for an LFS file.
      const pointer = raw && stored.lfs ? Buffer.from(lfsPointer(digestOf(path, stored).sha256, stored.size)) : null;
      const f = pointer ? { content: pointer, size: pointer.length, lfs: false } : stored;
      const d = digestOf(path, f);
      const name = path.split('/').pop() ?? path;
      /** @type {Record<string, string | number>} */
      const headers = {
        'Content-Type': contentType(path), ETag: `"${d.etag}"`, 'X-Repo-Commit': sha, 'Accept-Ranges': 'bytes',
        'Content-Disposition': `inline; filename*=UTF-8''${encodeURIComponent(name)}; filename="${name.replace(/[^\x20-\x7e]|"/g, '_')}"`,
        'Cache-Control': 'private, max-age=0, must-revalidate',
        'Access-Control-Expose-Headers': 'X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,X-Total-Count,ETag,Link,Accept-Ranges,Content-Range,X-Linked-Size,X-Linked-ETag',
        ...(f.lfs ? { 'X-Linked-Size': f.size, 'X-Linked-Etag': `"${d.etag}"` } : {}),
      };
      if (f.lfs && model.storage !== 'git') {
        // The Hub sends LFS (and Xet) files to its CDN, with the file's facts on the redirect.
        const signature = fakeSha(`${id}:${path}:${sha}`);
        const where = model.storage === 'xet' ? 'xet-bridge' : 'cdn-lfs';
        const location = `${scheme}://${CDN_HOST}:${cdnPort}/${where}/${d.sha256}?X-Amz-Signature=${signature}&model=${encodeURIComponent(id)}&path=${encodeURIComponent(path)}&sha=${sha}&rev=${encodeURIComponent(rev)}`;
        res.writeHead(302, {
          Location: location, 'X-Repo-Commit': sha, 'X-Linked-Size': f.size, 'X-Linked-Etag': `"${d.sha256}"`, ETag: `"${d.gitSha1}"`,
          'Content-Length': 0, ...(model.storage === 'xet' ? { 'X-Xet-Hash': d.sha256.slice(0, 64) } : {}),
        });
        return res.end();
      }
      return serveBytes(req, res, head, { id, path, rev, sha, f }, headers);
    }
    stats.requests.other++;
    hubError(res, 404, '', 'Not found', head);
  });

  // The CDN: signed URLs, no credentials (a second one is refused, as S3 does), Range honoured.
  const cdn = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (write.handleStorage(req, res, url)) return;
    const head = req.method === 'HEAD';
    if (head) stats.requests.head++;
    else stats.requests.get++;
    if (!/^\/(cdn-lfs|xet-bridge)\/[0-9a-f]{64}$/.test(url.pathname) || !url.searchParams.get('X-Amz-Signature')) return hubError(res, 403, '', 'AccessDenied', head);
    if (req.headers.authorization) return hubError(res, 400, '', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified', head);
    const failure = injected('cdn');
    if (failure) return injectedError(res, failure, head);
    const id = url.searchParams.get('model') ?? '';
    const path = url.searchParams.get('path') ?? '';
    const sha = url.searchParams.get('sha') ?? '';
    const f = models.get(id)?.commits.get(sha)?.get(path);
    if (!f || digestOf(path, f).sha256 !== url.pathname.slice(-64)) return hubError(res, 404, '', 'NoSuchKey', head);
    serveBytes(req, res, head, { id, path, rev: url.searchParams.get('rev') ?? sha, sha, f }, {
      'Content-Type': 'application/octet-stream', ETag: `"${digestOf(path, f).sha256}"`, 'Accept-Ranges': 'bytes',
    });
  });
  await new Promise((resolve) => cdn.listen(0, CDN_HOST, () => resolve(undefined)));
  const cdnPort = /** @type {import('node:net').AddressInfo} */ (cdn.address()).port;

  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const port = /** @type {import('node:net').AddressInfo} */ (server.address()).port;
  const endpoint = `${scheme}://127.0.0.1:${port}`;
  let isUp = true;

  return {
    url: endpoint, endpoint, port, token, writeToken: token, readToken,
    env: { HF_ENDPOINT: endpoint },
    addModel,
    setRevision(id, rev, sha, changes = {}) {
      const model = mustModel(id);
      const newSha = sha ?? fakeSha(`${id}@${rev}:${Date.now()}:${Math.random()}`);
      if (!/^[0-9a-f]{40}$/.test(newSha)) throw new Error(`revision sha must be 40 hex digits: ${newSha}`);
      if (!model.commits.has(newSha)) {
        const base = model.commits.get(model.refs.get(rev) ?? model.refs.get('main') ?? '') ?? new Map();
        const files = new Map(base);
        for (const [p, v] of Object.entries(changes)) {
          if (v === null) files.delete(p);
          else files.set(p, makeFile(p, v));
        }
        model.commits.set(newSha, files);
      }
      model.refs.set(rev, newSha);
      return newSha;
    },
    resolve(id, rev = 'main') {
      const sha = shaOf(mustModel(id), rev);
      if (!sha) throw new Error(`unknown revision ${rev} of ${id}`);
      return sha;
    },
    files(id, rev = 'main') {
      const model = mustModel(id);
      const files = model.commits.get(shaOf(model, rev) ?? '') ?? new Map();
      return Object.fromEntries([...files.entries()].map(([p, f]) => {
        const d = digestOf(p, f);
        return [p, { size: f.size, etag: d.etag, sha256: d.sha256, lfs: f.lfs }];
      }));
    },
    commits: (id) => write.commits(id),
    hasObject: (oid) => write.hasObject(oid),
    forgetObjects: (id) => write.forgetObjects(id),
    setGated(id, gated) {
      mustModel(id).gated = gated;
    },
    stats: () => ({ ...JSON.parse(JSON.stringify(stats)), write: write.stats() }),
    resetStats() {
      stats = { bytesServed: {}, totalBytes: 0, requests: { api: 0, tree: 0, head: 0, get: 0, other: 0 }, downloads: [], maxInFlight: 0 };
      write.resetStats();
    },
    failNext(kind, status = 500, count = 1, { retryAfter, afterBytes, afterApply, before } = {}) {
      if (afterApply && kind !== 'commit') throw new Error(`failNext: afterApply is for 'commit' only, not ${JSON.stringify(kind)}`);
      failures.set(kind, { status, count, retryAfter, afterBytes, afterApply, before });
    },
    dropNext(path, afterBytes, count = 1) {
      drops.set(path, { afterBytes, count });
    },
    corruptNext(path, count = 1) {
      corruptions.set(path, count);
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
      await new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(undefined)));
      isUp = true;
    },
    async stop() {
      await new Promise((resolve) => {
        cdn.close(() => resolve(undefined));
        cdn.closeAllConnections();
      });
      if (!options.storeDir) write.close();
      if (!isUp) return;
      isUp = false;
      const closed = new Promise((resolve) => server.close(() => resolve(undefined)));
      server.closeAllConnections();
      await closed;
    },
  };
}

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import * as http from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { HttpClient } from '@actions/http-client';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { HubClient } from '../../src/hub/client.js';
import { filesToFetch, repoFolder } from '../../src/hub/files.js';
import { IntegrityError } from '../../src/hub/integrity.js';
import { BodyDropped, DirectHttp, proxiedGet } from '../../src/hub/transfer.js';
import { startHubServer, type HubServer } from '../services/hub-server.mjs';

/**
 * The action's Hub downloads against the stand-in Hub, faults included: every file checked
 * against the listing (sha256 of LFS files, git blob id of the others), several at a time, a
 * dropped connection resumed with Range, LFS and Xet files fetched from the CDN the Hub redirects
 * to (which refuses the token), and the cache read back by the real huggingface_hub offline.
 */
const UNET = 'unet/diffusion_pytorch_model.fp16.safetensors';
const MB = 1024 * 1024;
const pipelineFiles = {
  'model_index.json': '{"_class_name":"StableDiffusionPipeline","_diffusers_version":"0.30.2"}',
  'unet/config.json': '{"_class_name":"UNet2DConditionModel"}',
  [UNET]: 24 * MB,
  'unet/diffusion_pytorch_model.safetensors': 48 * MB,
  'text_encoder/config.json': '{"architectures":["CLIPTextModel"]}',
  'text_encoder/model.fp16.safetensors': 6 * MB,
  'vae/config.json': '{"_class_name":"AutoencoderKL"}',
  'vae/diffusion_pytorch_model.fp16.safetensors': 3 * MB,
  'safety_checker/config.json': '{"architectures":["StableDiffusionSafetyChecker"]}',
  'safety_checker/model.fp16.safetensors': 5 * MB,
  'feature_extractor/preprocessor_config.json': '{"crop_size":224}',
  'scheduler/scheduler_config.json': '{"_class_name":"PNDMScheduler"}',
  'tokenizer/vocab.json': '{"a</w>":0}',
  'tokenizer/merges.txt': '#version: 0.2\n',
  'tokenizer/tokenizer_config.json': '{}',
  // Same bytes at two paths: one blob, two links.
  'tokenizer/special_tokens_map.json': '{}',
};
const MODELS = { git: 'acme/sd-git', lfs: 'acme/sd-lfs', xet: 'acme/sd-xet', gated: 'acme/sd-gated' } as const;

const root = path.join(os.tmpdir(), `coreml-hub-downloads-${process.pid}`);
let hub: HubServer;
let cache: string;

beforeAll(async () => {
  hub = await startHubServer({
    clip: false,
    models: [
      { id: MODELS.git, files: pipelineFiles },
      { id: MODELS.lfs, files: pipelineFiles, storage: 'lfs' },
      { id: MODELS.xet, files: pipelineFiles, storage: 'xet' },
      { id: MODELS.gated, files: pipelineFiles, storage: 'xet', gated: true },
    ],
  });
});
afterAll(async () => {
  await hub?.stop();
  rmSync(root, { recursive: true, force: true });
});
beforeEach(() => {
  cache = path.join(root, `hub-${Date.now()}-${Math.random().toString(16).slice(2)}`);
  mkdirSync(cache, { recursive: true });
  hub.resetStats();
});

async function fill(id: string, token = '') {
  const client = new HubClient(hub.endpoint, token);
  const { sha, files } = await client.resolve(id, 'main');
  const report = await client.fill(cache, id, 'main', sha, files);
  return { sha, files, report };
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const gitBlob = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const downloadsOf = (file: string) => hub.stats().downloads.filter((d) => d.path === file);

/** Every blob is named by its content's sha256 (LFS) or git blob id, as huggingface_hub names them; nothing else is in blobs/. */
function checkBlobs(id: string) {
  const blobs = path.join(repoFolder(cache, id), 'blobs');
  const names = readdirSync(blobs);
  for (const name of names) {
    const bytes = readFileSync(path.join(blobs, name));
    expect([sha256(bytes), gitBlob(bytes)], name).toContain(name);
  }
  return names;
}

describe('Hub downloads', () => {
  it.each(['git', 'lfs', 'xet'] as const)('fills the cache from a %s-stored repository, each blob checked, several files at a time', async (storage) => {
    const { sha, files, report } = await fill(MODELS[storage]);
    const wanted = filesToFetch(files);
    expect(report.reusedFiles).toBe(0);
    // special_tokens_map.json and tokenizer_config.json have the same bytes: one download.
    expect(report.downloadedFiles).toBe(wanted.length - 1);
    const names = checkBlobs(MODELS[storage]);
    expect(names).toHaveLength(wanted.length - 1);
    for (const f of wanted) expect(readFileSync(path.join(repoFolder(cache, MODELS[storage]), 'snapshots', sha, f.rfilename)).length).toBe(f.size);
    expect(hub.stats().maxInFlight).toBeGreaterThan(1);
    if (storage !== 'git') expect(hub.stats().downloads.find((d) => d.path === UNET)?.status).toBe(200);
  });

  it('drops the token on the way to the CDN (which refuses a second credential) and keeps it for the Hub', async () => {
    const { report } = await fill(MODELS.gated, hub.token);
    expect(report.downloadedBytes).toBeGreaterThan(30 * MB);
    // The Hub lists a gated repository to anyone; its files need the token.
    cache = path.join(root, `hub-anonymous-${Date.now()}`);
    await expect(fill(MODELS.gated, '')).rejects.toThrow(/answered 401 \(the token has no access/);
    expect(readdirSync(path.join(repoFolder(cache, MODELS.gated), 'blobs')).filter((b) => b.includes('incomplete'))).toEqual([]);
  });

  it.each(['git', 'xet'] as const)('resumes a dropped connection with a Range request (%s), downloading no byte twice', async (storage) => {
    hub.dropNext(UNET, 5 * MB + 123, 2);
    await fill(MODELS[storage]);
    const unet = downloadsOf(UNET);
    expect(unet.map((d) => d.status)).toEqual([200, 206, 206]);
    // Each try asks from the byte the one before got to (the server counts what it sent; a few
    // KB may not arrive before the drop): nothing is fetched twice beyond that.
    const [first, second, last] = unet as [(typeof unet)[0], (typeof unet)[0], (typeof unet)[0]];
    expect(first.start).toBe(0);
    expect(second.start).toBeGreaterThan(5 * MB - 256 * 1024);
    expect(second.start).toBeLessThanOrEqual(first.bytes);
    expect(last.start).toBeGreaterThan(second.start + 5 * MB - 256 * 1024);
    expect(last.start + last.bytes).toBe(24 * MB);
    checkBlobs(MODELS[storage]);
  });

  it('retries a CDN that answers 503, then succeeds', async () => {
    hub.failNext('cdn', 503, 2);
    await fill(MODELS.xet);
    checkBlobs(MODELS.xet);
  });

  it('fetches again from zero when the bytes do not match the listing once', async () => {
    hub.corruptNext(UNET, 1);
    await fill(MODELS.lfs);
    expect(downloadsOf(UNET).map((d) => d.bytes)).toEqual([24 * MB, 24 * MB]);
    checkBlobs(MODELS.lfs);
  });

  it('fails naming the file when the bytes differ from the listing twice, and keeps nothing of it', async () => {
    hub.corruptNext('text_encoder/model.fp16.safetensors', 2);
    const error: unknown = await fill(MODELS.git).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IntegrityError);
    expect((error as IntegrityError).file).toBe('text_encoder/model.fp16.safetensors');
    expect((error as Error).message).toMatch(/^text_encoder\/model\.fp16\.safetensors: the downloaded bytes have sha256 [0-9a-f]{64}, the Hub lists [0-9a-f]{64}/);
    const repo = repoFolder(cache, MODELS.git);
    const blobs = readdirSync(path.join(repo, 'blobs'));
    expect(blobs.filter((b) => b.includes('incomplete'))).toEqual([]);
    checkBlobs(MODELS.git);
    const { files } = await new HubClient(hub.endpoint, '').resolve(MODELS.git, 'main');
    const encoder = files.find((f) => f.rfilename === 'text_encoder/model.fp16.safetensors');
    expect(blobs).not.toContain(encoder?.blobId);
  });

  it('links blobs a restored cache already has, removes a killed run\'s partial file, and re-downloads a blob of the wrong size', async () => {
    const first = await fill(MODELS.git);
    const repo = repoFolder(cache, MODELS.git);
    rmSync(path.join(repo, 'snapshots'), { recursive: true });
    const unetBlob = first.files.find((f) => f.rfilename === UNET)?.blobId ?? '';
    writeFileSync(path.join(repo, 'blobs', unetBlob), 'truncated');
    writeFileSync(path.join(repo, 'blobs', `${unetBlob}.incomplete`), 'left by a killed run');
    hub.resetStats();
    const again = await fill(MODELS.git);
    expect(again.report.downloadedFiles).toBe(1);
    expect(hub.stats().downloads.map((d) => d.path)).toEqual([UNET]);
    expect(existsSync(path.join(repo, 'blobs', `${unetBlob}.incomplete`))).toBe(false);
    checkBlobs(MODELS.git);
  });

  it('gives a cache the real huggingface_hub loads offline, for an Xet-stored repository', async () => {
    const { sha, files } = await fill(MODELS.xet);
    const wanted = filesToFetch(files).map((f) => f.rfilename);
    const script = [
      'import json, sys, os',
      'from huggingface_hub import snapshot_download',
      'p = snapshot_download(sys.argv[1], cache_dir=sys.argv[2], allow_patterns=json.loads(sys.argv[3]))',
      'print(json.dumps({"path": p, "sizes": {f: os.path.getsize(os.path.join(p, f)) for f in json.loads(sys.argv[3])}}))',
    ].join('\n');
    const out = execFileSync(inject('realPython'), ['-c', script, MODELS.xet, cache, JSON.stringify(wanted)], {
      env: { ...process.env, HF_HUB_OFFLINE: '1', HF_ENDPOINT: hub.endpoint, HF_HUB_DISABLE_TELEMETRY: '1' },
      encoding: 'utf8',
    });
    const read = JSON.parse(out) as { path: string; sizes: Record<string, number> };
    expect(read.path.endsWith(path.join('snapshots', sha))).toBe(true);
    expect(read.sizes).toEqual(Object.fromEntries(filesToFetch(files).map((f) => [f.rfilename, f.size])));
  });
});

/**
 * The action's own HTTP/1.1 download sockets against a plain Node server, for what the stand-in
 * Hub does not send: chunked bodies, a keep-alive connection the server closed while idle, a
 * chunked body cut short, and a relative redirect.
 */
describe('the download connections', () => {
  let server: http.Server;
  let base: URL;
  let connections = 0;
  const payload = Buffer.alloc(3 * MB + 17);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 7) & 0xff;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/moved') return res.writeHead(302, { Location: '/chunked' }).end();
      // No Content-Length: Node sends the chunked coding, in pieces of uneven sizes.
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      const cut = req.url === '/cut' ? MB + 5 : payload.length;
      let at = 0;
      const next = () => {
        if (at >= cut) return req.url === '/cut' ? res.destroy() : res.end();
        const n = Math.min(1 + ((at * 7) % 200_000), cut - at);
        res.write(payload.subarray(at, at + n), next);
        at += n;
      };
      next();
    });
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  async function save(direct: DirectHttp, pathname: string): Promise<{ status: number; bytes: Buffer; hashed: string; error?: unknown }> {
    const file = path.join(root, `direct-${Math.random().toString(16).slice(2)}`);
    mkdirSync(root, { recursive: true });
    const out = await open(file, 'w');
    const hash = createHash('sha256');
    let response = await direct.get(new URL(pathname, base), {});
    if (response.status === 302) {
      response.discard();
      response = await direct.get(new URL(response.header('location') ?? '', base), {});
    }
    let error: unknown;
    let written = 0;
    try {
      written = await response.saveTo(out, 0, (b) => hash.update(b), new AbortController().signal);
    } catch (e) {
      error = e;
    }
    await out.close();
    const bytes = readFileSync(file);
    if (error instanceof BodyDropped) written = error.written;
    expect(bytes.length).toBe(written);
    return { status: response.status, bytes, hashed: hash.digest('hex'), error };
  }

  it('reads a chunked body, follows a relative redirect on the same connection, and hashes exactly what it writes', async () => {
    const direct = new DirectHttp();
    connections = 0;
    try {
      const got = await save(direct, '/moved');
      expect(got.status).toBe(200);
      expect(got.bytes.equals(payload)).toBe(true);
      expect(got.hashed).toBe(sha256(payload));
      expect(connections).toBe(1);
    } finally {
      direct.dispose();
    }
  });

  it('asks again on a new connection when the server closed the idle one', async () => {
    const direct = new DirectHttp();
    connections = 0;
    try {
      await save(direct, '/chunked');
      server.closeIdleConnections();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const again = await save(direct, '/chunked');
      expect(again.bytes.equals(payload)).toBe(true);
      expect(connections).toBe(2);
    } finally {
      direct.dispose();
    }
  });

  it('reports a chunked body cut short as dropped, with the bytes before the drop written and hashed', async () => {
    const direct = new DirectHttp();
    try {
      const got = await save(direct, '/cut');
      expect(got.error).toBeInstanceOf(BodyDropped);
      expect(got.bytes.length).toBeGreaterThan(0);
      expect(got.bytes.equals(payload.subarray(0, got.bytes.length))).toBe(true);
      expect(got.hashed).toBe(sha256(got.bytes));
    } finally {
      direct.dispose();
    }
  });
});

/**
 * Behind a proxy (https_proxy / http_proxy, as a self-hosted runner may have) downloads go
 * through the toolkit's HTTP client, which tunnels with CONNECT. The toolkit never proxies
 * loopback hosts, so the file server listens on this machine's other address (skipped without one).
 */
const outside = Object.values(os.networkInterfaces()).flat().find((i) => i?.family === 'IPv4' && !i.internal)?.address;
describe.skipIf(!outside)('downloads behind a proxy', () => {
  const payload = Buffer.alloc(2 * MB + 5);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 13 + 1) & 0xff;
  let files: http.Server;
  let proxy: http.Server;
  let tunnels = 0;
  const saved = { http_proxy: process.env.http_proxy, no_proxy: process.env.no_proxy };

  beforeAll(async () => {
    files = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Length': payload.length });
      if (req.url === '/cut') res.write(payload.subarray(0, MB + 3), () => res.destroy());
      else res.end(payload);
    });
    await new Promise<void>((resolve) => files.listen(0, outside, resolve));
    proxy = http.createServer((_req, res) => res.writeHead(405).end());
    proxy.on('connect', (req: http.IncomingMessage, client: Socket, head: Buffer) => {
      tunnels++;
      const [host = '', port = ''] = (req.url ?? '').split(':');
      const upstream = connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    process.env.http_proxy = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    delete process.env.no_proxy;
  });
  afterAll(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    files.closeAllConnections();
    files.close();
    proxy.closeAllConnections();
    proxy.close();
  });

  async function save(pathname: string) {
    const client = new HttpClient('test', [], { allowRetries: false, allowRedirects: false, keepAlive: true });
    const url = new URL(`http://${outside}:${(files.address() as AddressInfo).port}${pathname}`);
    expect(client.getAgentDispatcher(url.href)).toBeDefined();
    const file = path.join(root, `proxied-${Math.random().toString(16).slice(2)}`);
    mkdirSync(root, { recursive: true });
    const out = await open(file, 'w');
    const hash = createHash('sha256');
    const response = await proxiedGet(client, url, {});
    let written = -1;
    let error: unknown;
    try {
      written = await response.saveTo(out, 0, (b) => void hash.update(b), new AbortController().signal);
    } catch (e) {
      error = e;
    }
    await out.close();
    client.dispose();
    return { written, error, bytes: readFileSync(file), hashed: hash.digest('hex') };
  }

  it('saves through the tunnel, hashing what it writes', async () => {
    tunnels = 0;
    const got = await save('/file');
    expect(tunnels).toBe(1);
    expect(got.written).toBe(payload.length);
    expect(got.bytes.equals(payload)).toBe(true);
    expect(got.hashed).toBe(sha256(payload));
  });

  it('reports a dropped body with the bytes before the drop written and hashed', async () => {
    const got = await save('/cut');
    expect(got.error).toBeInstanceOf(BodyDropped);
    expect((got.error as BodyDropped).written).toBe(got.bytes.length);
    expect(got.bytes.equals(payload.subarray(0, got.bytes.length))).toBe(true);
    expect(got.hashed).toBe(sha256(got.bytes));
  });
});

import { HubApiError, commit, createRepo, listFiles, pathsInfo, uploadFiles, whoAmI } from '@huggingface/hub';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { REPO_ROOT } from '../support/action-runner.mjs';
import { startHubServer, type HubServer } from '../services/hub-server.mjs';
import { HubWriter, LFS_TRANSFERS, type LocalFile } from '../../src/hub/publish-client.js';

/**
 * The stand-in Hub's write API, proven with the real clients: @huggingface/hub 2.17.5 (the one
 * the action uploads with, unmodified, pointed at the stand-in with `hubUrl`) writes, and the real
 * huggingface_hub 0.24.6 reads back what was committed (snapshot_download) and writes with its
 * own upload_folder (the benchmark's baseline). Strictness is checked with plain HTTP. The
 * action's own commit (HubWriter: classic LFS by the packaging's sha256) is proven here too.
 */

const MiB = 1024 * 1024;
const PART = 4 * MiB;
const run = promisify(execFile);

let hub: HubServer;
let tmp: string;
let folder: string;

/** sha256 of every file under dir, by its path relative to dir (with `/`). */
function shas(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const full = path.join(e.parentPath, e.name);
    out[path.relative(dir, full).split(path.sep).join('/')] = createHash('sha256').update(readFileSync(full)).digest('hex');
  }
  return out;
}

/** A small variant folder: a text file, a small binary (LFS by .gitattributes) and a multipart-sized weight. */
function makeFolder(dir: string): Record<string, string> {
  mkdirSync(path.join(dir, 'Unet.mlmodelc', 'weights'), { recursive: true });
  writeFileSync(path.join(dir, 'merges.txt'), 'a b\nc d\n');
  writeFileSync(path.join(dir, 'Unet.mlmodelc', 'model.mil'), 'program(1.0)\n');
  writeFileSync(path.join(dir, 'Unet.mlmodelc', 'coremldata.bin'), randomBytes(50_000));
  writeFileSync(path.join(dir, 'Unet.mlmodelc', 'weights', 'weight.bin'), randomBytes(11 * MiB)); // 3 parts of 4 MiB
  return shas(dir);
}

const auth = () => ({ accessToken: hub.writeToken, hubUrl: hub.endpoint });
const prefixed = (files: Record<string, string>, prefix: string) => Object.fromEntries(Object.entries(files).map(([p, s]) => [`${prefix}/${p}`, s]));
const remoteShas = (id: string) => Object.fromEntries(Object.entries(hub.files(id)).map(([p, f]) => [p, f.sha256]));

async function failure(p: Promise<unknown>): Promise<HubApiError> {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(HubApiError);
  return e as HubApiError;
}

/** Reads the repo back with the real huggingface_hub: {sha, files: {path: sha256}}. */
async function readBack(id: string, cache: string): Promise<{ sha: string; files: Record<string, string> }> {
  const env: NodeJS.ProcessEnv = { ...process.env, HF_HUB_DISABLE_TELEMETRY: '1', HF_HUB_DISABLE_PROGRESS_BARS: '1' };
  delete env.HF_HUB_OFFLINE;
  delete env.HF_TOKEN;
  const { stdout } = await run(inject('realPython'), [path.join(REPO_ROOT, 'test/python/hub_readback.py'), hub.endpoint, id, cache], { env });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
}

/** A raw NDJSON commit, as a client would send it. */
function rawCommit(id: string, lines: unknown[], token = hub.writeToken): Promise<Response> {
  return fetch(`${hub.endpoint}/api/models/${id}/commit/main`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/x-ndjson' },
    body: lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n'),
  });
}
const header = (summary = 'raw', extra: object = {}) => ({ key: 'header', value: { summary, ...extra } });

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hub-write-'));
  folder = path.join(tmp, 'variant');
  hub = await startHubServer({ clip: false, partSize: PART, storeDir: path.join(tmp, 'store') });
});

afterAll(async () => {
  await hub?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('the stand-in Hub with @huggingface/hub', () => {
  const ID = 'acme/coreml-sd-mini';
  /** What the repository should hold after each step: repo path -> sha256. */
  let expected: Record<string, string>;
  const sha256 = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

  test('whoami-v2 gives each token its role; a wrong token is 401 with the Hub message', async () => {
    expect((await whoAmI(auth())).auth.accessToken?.role).toBe('write');
    const read = await whoAmI({ accessToken: hub.readToken, hubUrl: hub.endpoint });
    expect(read.auth.accessToken).toMatchObject({ role: 'read', displayName: 'local-read' });
    const e = await failure(whoAmI({ accessToken: 'hf_wrong', hubUrl: hub.endpoint }));
    expect(e.statusCode).toBe(401);
    expect(e.message).toMatch(/^Invalid credentials in Authorization header/);
  });

  test('createRepo makes the repository with the Hub\'s .gitattributes; a second create is 409', async () => {
    const made = await createRepo({ ...auth(), repo: ID });
    expect(made.repoUrl).toBe(`${hub.endpoint}/${ID}`);
    expect(Object.keys(hub.files(ID))).toEqual(['.gitattributes']);
    expect((await failure(createRepo({ ...auth(), repo: ID }))).statusCode).toBe(409);
    expect(hub.commits(ID)).toHaveLength(1);
  });

  test('uploadFiles commits a tree with LFS files (multipart above the part size) in one commit, readable as committed', async () => {
    const local = makeFolder(folder);
    expected = prefixed(local, 'original/compiled');
    hub.resetStats();
    const out = await uploadFiles({ ...auth(), repo: ID, commitTitle: 'Add original/compiled', files: [{ path: 'original/compiled', content: pathToFileURL(folder) }] });
    expect(out?.commit.oid).toBe(hub.resolve(ID));
    const w = hub.stats().write;
    expect(w.commits[ID]).toBe(1);
    // Classic LFS, no Xet: the 11 MiB weight in 3 parts, the 50 kB binary in one PUT; the text files inline.
    // @huggingface/hub offers xet by default (useXet); the stand-in never answers it, so the client falls back.
    expect(w.lfsBatches).toEqual([{ offered: ['basic', 'multipart', 'xet'], transfer: 'multipart' }]);
    expect(w.requests['xet-token']).toBeUndefined();
    expect(w.requests['lfs-upload']).toBe(4);
    expect(w.requests['lfs-complete']).toBe(1);
    expect(w.lfsBytesReceived).toBe(11 * MiB + 50_000);
    const files = hub.files(ID);
    expect(files['original/compiled/Unet.mlmodelc/weights/weight.bin']?.lfs).toBe(true);
    expect(files['original/compiled/Unet.mlmodelc/coremldata.bin']?.lfs).toBe(true);
    expect(files['original/compiled/merges.txt']?.lfs).toBe(false);
    expect(remoteShas(ID)).toMatchObject(expected);
    const listed = [];
    for await (const f of listFiles({ ...auth(), repo: ID, recursive: true, expand: true })) listed.push(f);
    const weight = listed.find((f) => f.path.endsWith('weight.bin'));
    expect(weight?.lfs?.oid).toBe(local['Unet.mlmodelc/weights/weight.bin']);
    expect(weight?.oid).not.toBe(weight?.lfs?.oid); // the git oid of an LFS file is its pointer's
    expect(weight?.lastCommit?.id).toBe(out?.commit.oid);
    const info = await pathsInfo({ ...auth(), repo: ID, paths: ['original/compiled/merges.txt', 'original/compiled/Unet.mlmodelc', 'missing.txt'] });
    expect(info.map((i) => [i.path, i.type])).toEqual([['original/compiled/merges.txt', 'file'], ['original/compiled/Unet.mlmodelc', 'directory']]);
  });

  test('uploading the same files again sends no LFS byte (the batch knows them) and the Hub still records a commit, marked unchanged', async () => {
    hub.resetStats();
    const before = hub.commits(ID).length;
    await uploadFiles({ ...auth(), repo: ID, files: [{ path: 'original/compiled', content: pathToFileURL(folder) }] });
    const w = hub.stats().write;
    expect(w.lfsBytesReceived).toBe(0);
    expect(w.requests['lfs-upload']).toBeUndefined();
    // As on the Hub, the client does not skip a no-op commit: the caller must compare first.
    expect(hub.commits(ID)).toHaveLength(before + 1);
    expect(hub.commits(ID).at(-1)?.changed).toBe(false);
    expect(w.emptyCommits[ID]).toBe(1);
  });

  test('a commit with a deletion and a replacement is one commit; the old file is gone', async () => {
    const changed = Buffer.from('e f\n');
    const out = await commit({
      ...auth(), repo: ID, title: 'Replace merges, drop model.mil',
      operations: [
        { operation: 'delete', path: 'original/compiled/Unet.mlmodelc/model.mil' },
        { operation: 'addOrUpdate', path: 'original/compiled/merges.txt', content: new Blob([changed]) },
      ],
    });
    const last = hub.commits(ID).at(-1);
    expect(last).toMatchObject({ oid: out?.commit.oid, deleted: ['original/compiled/Unet.mlmodelc/model.mil'], added: ['original/compiled/merges.txt'], changed: true });
    const files = hub.files(ID);
    expect(files['original/compiled/Unet.mlmodelc/model.mil']).toBeUndefined();
    expect(files['original/compiled/merges.txt']?.sha256).toBe(sha256(changed));
    delete expected['original/compiled/Unet.mlmodelc/model.mil'];
    expected['original/compiled/merges.txt'] = sha256(changed);
  });

  test('a read token gets 403 naming its role, and nothing is committed', async () => {
    const before = hub.commits(ID).length;
    const e = await failure(uploadFiles({ accessToken: hub.readToken, hubUrl: hub.endpoint, repo: ID, files: [{ path: 'x.txt', content: new Blob(['x']) }] }));
    expect(e.statusCode).toBe(403);
    expect(e.message).toMatch(/"read" role.*"write" token/);
    expect((await failure(createRepo({ accessToken: hub.readToken, hubUrl: hub.endpoint, repo: 'acme/other' }))).statusCode).toBe(403);
    expect(hub.commits(ID)).toHaveLength(before);
  });

  test('429 with Retry-After reaches the caller (the client does not retry); a fetch that waits for it gets the commit through once', async () => {
    const before = hub.commits(ID).length;
    hub.failNext('commit', 429, 1, { retryAfter: 1 });
    const e = await failure(uploadFiles({ ...auth(), repo: ID, files: [{ path: 'notes.txt', content: new Blob(['one']) }] }));
    expect(e.statusCode).toBe(429);
    expect(hub.commits(ID)).toHaveLength(before);

    hub.failNext('preupload', 429, 1, { retryAfter: 1 });
    hub.failNext('commit', 429, 1, { retryAfter: 1 });
    const waits: string[] = [];
    const patient: typeof fetch = async (input, init) => {
      for (;;) {
        const res = await fetch(input, init);
        const after = res.headers.get('retry-after');
        if (res.status !== 429 || after === null) return res;
        waits.push(after);
        await new Promise((r) => setTimeout(r, Number(after) * 1000));
      }
    };
    const started = Date.now();
    await uploadFiles({ ...auth(), fetch: patient, repo: ID, files: [{ path: 'notes.txt', content: new Blob(['one']) }] });
    expect(waits).toEqual(['1', '1']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    expect(hub.commits(ID)).toHaveLength(before + 1);
    expected['notes.txt'] = sha256('one');
  });

  test('a 502 in the middle of an LFS upload fails the call, keeps no partial object and makes no commit; the retry sends it all', async () => {
    const big = Buffer.alloc(3 * MiB, 7);
    const oid = sha256(big);
    const before = hub.commits(ID).length;
    hub.resetStats();
    hub.failNext('lfs-upload', 502, 1, { afterBytes: MiB });
    const e = await failure(uploadFiles({ ...auth(), repo: ID, files: [{ path: 'extra/blob.bin', content: new Blob([big]) }] }));
    expect(e.statusCode).toBe(502);
    expect(hub.hasObject(oid)).toBe(false);
    expect(hub.commits(ID)).toHaveLength(before);
    await uploadFiles({ ...auth(), repo: ID, files: [{ path: 'extra/blob.bin', content: new Blob([big]) }] });
    expect(hub.stats().write.lfsUploads.map((u) => u.status)).toEqual([502, 200]);
    expect(hub.files(ID)['extra/blob.bin']?.sha256).toBe(oid);
    expected['extra/blob.bin'] = oid;
  });

  test('a connection dropped in the middle of an LFS upload fails the call (a network error, not an API one) and keeps nothing', async () => {
    const big = Buffer.alloc(3 * MiB, 9);
    const before = hub.commits(ID).length;
    hub.failNext('lfs-upload', 0, 1, { afterBytes: MiB });
    const e = await uploadFiles({ ...auth(), repo: ID, files: [{ path: 'extra/dropped.bin', content: new Blob([big]) }] }).then(() => null, (err: unknown) => err);
    expect(e).toBeInstanceOf(TypeError); // undici's "fetch failed"
    expect(hub.hasObject(sha256(big))).toBe(false);
    expect(readdirSync(path.join(tmp, 'store', 'tmp'))).toEqual([]);
    expect(hub.commits(ID)).toHaveLength(before);
  });

  test('the real huggingface_hub reads the repository back: every file has the sha256 that was uploaded', async () => {
    const back = await readBack(ID, path.join(tmp, 'cache'));
    expect(back.sha).toBe(hub.resolve(ID));
    expect(back.files).toEqual({ ...expected, '.gitattributes': hub.files(ID)['.gitattributes']?.sha256 });
  });
});

describe('the stand-in Hub refuses what the Hub refuses, and a refused commit changes nothing', () => {
  const ID = 'acme/strict';
  let head: string;

  beforeAll(async () => {
    await createRepo({ ...auth(), repo: ID });
    head = hub.resolve(ID);
  });

  test.each([
    ['malformed NDJSON', [header(), '{"key": "file", '], 400, /line 2 is not valid JSON/],
    ['no header first', [{ key: 'file', value: { path: 'a.txt', content: 'YQ==', encoding: 'base64' } }], 400, /first line must be the header/],
    ['an LFS file never uploaded', [header(), { key: 'file', value: { path: 'ok.txt', content: 'b2s=', encoding: 'base64' } }, { key: 'lfsFile', value: { path: 'w.bin', algo: 'sha256', oid: 'a'.repeat(64), size: 5 } }], 400, /LFS pointer pointed to a file that does not exist/],
    ['an unknown parentCommit', [header('raw', { parentCommit: 'b'.repeat(40) }), { key: 'file', value: { path: 'ok.txt', content: 'b2s=', encoding: 'base64' } }], 400, /is not a commit of/],
    ['deleting a file that is not there', [header(), { key: 'deletedFile', value: { path: 'nope.txt' } }], 404, /A file with this name doesn't exist/],
    ['a path with ..', [header(), { key: 'file', value: { path: 'a/../b.txt', content: 'b2s=', encoding: 'base64' } }], 400, /segment/],
    ['an unknown operation', [header(), { key: 'renameFile', value: { path: 'a.txt' } }], 400, /unknown key/],
  ])('%s', async (_name, lines, status, message) => {
    const res = await rawCommit(ID, lines as unknown[]);
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: string }).error).toMatch(message);
    expect(hub.resolve(ID)).toBe(head);
    expect(Object.keys(hub.files(ID))).toEqual(['.gitattributes']);
  });

  test('a stale parentCommit is 412; the current one commits', async () => {
    const first = await rawCommit(ID, [header('one', { parentCommit: head }), { key: 'file', value: { path: 'a.txt', content: 'a', encoding: 'utf-8' } }]);
    expect(first.status).toBe(200);
    const stale = await rawCommit(ID, [header('two', { parentCommit: head }), { key: 'file', value: { path: 'b.txt', content: 'b', encoding: 'utf-8' } }]);
    expect(stale.status).toBe(412);
    expect(hub.files(ID)['b.txt']).toBeUndefined();
    head = hub.resolve(ID);
  });

  test('afterApply: the commit lands and then the answer is 502 or a dropped connection; a before hook runs first (someone else\'s commit)', async () => {
    const file = (name: string) => ({ key: 'file', value: { path: name, content: name, encoding: 'utf-8' } });
    hub.failNext('commit', 502, 1, { afterApply: true });
    const lost = await rawCommit(ID, [header('lost', { parentCommit: head }), file('c.txt')]);
    expect(lost.status).toBe(502);
    expect(hub.commits(ID).at(-1)).toMatchObject({ title: 'lost', parent: head, added: ['c.txt'] });
    expect(hub.resolve(ID)).not.toBe(head);
    head = hub.resolve(ID);

    hub.failNext('commit', 0, 1, { afterApply: true });
    await expect(rawCommit(ID, [header('dropped', { parentCommit: head }), file('d.txt')])).rejects.toThrow();
    expect(hub.commits(ID).at(-1)).toMatchObject({ title: 'dropped', parent: head, added: ['d.txt'] });
    head = hub.resolve(ID);

    // Without afterApply the fault answers without committing, after the hook has run.
    hub.failNext('commit', 502, 1, { before: () => rawCommit(ID, [header('theirs'), file('e.txt')]) });
    const raced = await rawCommit(ID, [header('ours', { parentCommit: head }), file('f.txt')]);
    expect(raced.status).toBe(502);
    expect(hub.commits(ID).at(-1)).toMatchObject({ title: 'theirs', parent: head, added: ['e.txt'] });
    expect(hub.files(ID)['f.txt']).toBeUndefined();
    // The retry of "ours" now carries a stale parent.
    expect((await rawCommit(ID, [header('ours', { parentCommit: head }), file('f.txt')])).status).toBe(412);
    head = hub.resolve(ID);
    expect(() => hub.failNext('preupload', 502, 1, { afterApply: true })).toThrow(/afterApply is for 'commit' only/);
  });

  test('an LFS PUT whose bytes are not the announced sha256 or size is refused and not stored', async () => {
    const content = Buffer.from('the real bytes');
    const oid = createHash('sha256').update(content).digest('hex');
    const batch = async () => {
      const res = await fetch(`${hub.endpoint}/${ID}.git/info/lfs/objects/batch`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${hub.writeToken}`, 'Content-Type': 'application/vnd.git-lfs+json' },
        body: JSON.stringify({ operation: 'upload', transfers: ['basic', 'multipart', 'xet'], objects: [{ oid, size: content.length }] }),
      });
      const body = (await res.json()) as { transfer: string; objects: { actions?: { upload: { href: string } } }[] };
      expect(body.transfer).toBe('basic');
      return body.objects[0]?.actions?.upload.href ?? '';
    };
    const short = await fetch(await batch(), { method: 'PUT', body: Buffer.from('other bytes, same n') });
    expect([short.status, await short.text()]).toEqual([400, expect.stringContaining('IncompleteBody')]);
    const forged = await fetch(await batch(), { method: 'PUT', body: Buffer.from('the fake bytes') });
    expect([forged.status, await forged.text()]).toEqual([400, expect.stringContaining('BadDigest')]);
    expect(hub.hasObject(oid)).toBe(false);
    const withToken = await fetch(await batch(), { method: 'PUT', body: content, headers: { Authorization: `Bearer ${hub.writeToken}` } });
    expect(withToken.status).toBe(400);
    const ok = await fetch(await batch(), { method: 'PUT', body: content });
    expect(ok.status).toBe(200);
    expect(hub.hasObject(oid)).toBe(true);
    const res = await rawCommit(ID, [header(), { key: 'lfsFile', value: { path: 'w.bin', algo: 'sha256', oid, size: content.length + 1 } }]);
    expect(res.status).toBe(400);
    expect(hub.resolve(ID)).toBe(head);
  });

  test('a multipart upload completes only with every part, ETags as given, and the announced sha256; then verify knows it', async () => {
    const content = randomBytes(PART + 1000);
    const oid = createHash('sha256').update(content).digest('hex');
    const lfs = { Authorization: `Bearer ${hub.writeToken}`, 'Content-Type': 'application/vnd.git-lfs+json' };
    const start = async () => {
      const res = await fetch(`${hub.endpoint}/${ID}.git/info/lfs/objects/batch`, { method: 'POST', headers: lfs, body: JSON.stringify({ operation: 'upload', transfers: ['basic', 'multipart'], objects: [{ oid, size: content.length }] }) });
      const body = (await res.json()) as { transfer: string; objects: { actions: { upload: { href: string; header: Record<string, string> } } }[] };
      expect(body.transfer).toBe('multipart');
      return body.objects[0]?.actions.upload ?? { href: '', header: {} };
    };
    const putPart = async (url: string, bytes: Uint8Array) => {
      const res = await fetch(url, { method: 'PUT', body: new Blob([new Uint8Array(bytes)]) });
      expect(res.status).toBe(200);
      return res.headers.get('etag') ?? '';
    };
    const complete = (href: string, parts: { partNumber: number; etag: string }[]) => fetch(href, { method: 'POST', headers: { 'Content-Type': 'application/vnd.git-lfs+json' }, body: JSON.stringify({ oid, parts }) });
    const verify = () => fetch(`${hub.endpoint}/${ID}.git/info/lfs/objects/verify`, { method: 'POST', headers: lfs, body: JSON.stringify({ oid, size: content.length }) });

    const first = await start();
    expect(first.header.chunk_size).toBe(String(PART));
    expect(Object.keys(first.header).filter((k) => /^\d+$/.test(k))).toEqual(['00001', '00002']);
    const e2 = await putPart(first.header['00002'] ?? '', content.subarray(PART)); // out of order is fine
    expect((await complete(first.href, [{ partNumber: 2, etag: e2 }])).status).toBe(400);
    const e1 = await putPart(first.header['00001'] ?? '', content.subarray(0, PART));
    expect(e1).not.toBe(e2);
    expect((await complete(first.href, [{ partNumber: 1, etag: '"nope"' }, { partNumber: 2, etag: e2 }])).status).toBe(400);
    expect((await verify()).status).toBe(404);

    const second = await start();
    const bad = Buffer.from(content.subarray(0, PART));
    bad[0] = (bad[0] ?? 0) ^ 0xff;
    const parts = [{ partNumber: 1, etag: await putPart(second.header['00001'] ?? '', bad) }, { partNumber: 2, etag: await putPart(second.header['00002'] ?? '', content.subarray(PART)) }];
    const forged = await complete(second.href, parts);
    expect([forged.status, ((await forged.json()) as { error: string }).error]).toEqual([400, expect.stringMatching(/sha256 of the assembled object/)]);
    expect(hub.hasObject(oid)).toBe(false);

    const third = await start();
    const good = [{ partNumber: 1, etag: await putPart(third.header['00001'] ?? '', content.subarray(0, PART)) }, { partNumber: 2, etag: await putPart(third.header['00002'] ?? '', content.subarray(PART)) }];
    expect((await complete(third.href, good)).status).toBe(200);
    expect((await verify()).status).toBe(200);
    expect(hub.hasObject(oid)).toBe(true);
    // Now known to this repository: a new batch asks for nothing.
    const again = await fetch(`${hub.endpoint}/${ID}.git/info/lfs/objects/batch`, { method: 'POST', headers: lfs, body: JSON.stringify({ operation: 'upload', objects: [{ oid, size: content.length }] }) });
    expect(((await again.json()) as { objects: { actions?: unknown }[] }).objects[0]?.actions).toBeUndefined();
  });
});

describe("the action's HubWriter: one commit over classic LFS, by the sha256 packaging computed", () => {
  const ID = 'acme/writer';
  let dir: string;
  /** The variant's files as packaging hands them over: a zip in two parts on disk (committed whole), a small binary, the card's text. */
  let files: LocalFile[];
  const writer = () => new HubWriter({ repo: ID, revision: 'main', endpoint: hub.endpoint, token: hub.writeToken });
  const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

  beforeAll(async () => {
    dir = path.join(tmp, 'writer');
    mkdirSync(dir, { recursive: true });
    const zip = randomBytes(2 * PART + 12_345); // 3 parts of the stand-in's part size
    writeFileSync(path.join(dir, 'zip.001'), zip.subarray(0, PART + 7));
    writeFileSync(path.join(dir, 'zip.002'), zip.subarray(PART + 7));
    const small = randomBytes(50_000);
    writeFileSync(path.join(dir, 'small.zip'), small);
    const card = '# card\n';
    files = [
      { path: 'v/model_compiled.zip', size: zip.length, sha256: sha256(zip), sources: [path.join(dir, 'zip.001'), path.join(dir, 'zip.002')] },
      { path: 'v/model_small.zip', size: small.length, sha256: sha256(small), sources: [path.join(dir, 'small.zip')] },
      { path: 'README.md', size: Buffer.byteLength(card), sha256: sha256(card), text: card },
      // The same bytes under another path: one LFS object, sent once.
      { path: 'v/copy_small.zip', size: small.length, sha256: sha256(small), sources: [path.join(dir, 'small.zip')] },
    ];
    await createRepo({ ...auth(), repo: ID });
  });

  test('offers basic and multipart only, gets them, asks no Xet endpoint, sends every byte once and commits the files whole', async () => {
    hub.resetStats();
    const head = hub.resolve(ID);
    const out = await writer().commit({ upload: files, delete: [], unchanged: [] }, { title: 'Add v', description: 'd' }, head);
    expect(out.oid).toBe(hub.resolve(ID));
    const w = hub.stats().write;
    expect(w.lfsBatches).toEqual([{ offered: [...LFS_TRANSFERS], transfer: 'multipart' }]);
    expect(w.lfsBatches.flatMap((b) => b.offered)).not.toContain('xet');
    expect(w.requests['xet-token']).toBeUndefined();
    // The zip in 3 parts and its completion, the small zip in one PUT; each object verified; the card inline.
    expect([w.requests['lfs-upload'], w.requests['lfs-complete'], w.requests['lfs-verify']]).toEqual([4, 1, 2]);
    expect(w.lfsBytesReceived).toBe(files[0]!.size + files[1]!.size);
    expect(hub.commits(ID).at(-1)).toMatchObject({ parent: head, title: 'Add v', added: ['v/model_compiled.zip', 'v/model_small.zip', 'v/copy_small.zip', 'README.md'] });
    const remote = hub.files(ID);
    for (const f of files) expect(remote[f.path]).toMatchObject({ sha256: f.sha256, size: f.size, lfs: f.text === undefined });
  });

  test('the Hub already holding the objects: no byte is sent, and a deletion goes in the same commit', async () => {
    hub.resetStats();
    const out = await writer().commit({ upload: files.slice(0, 2), delete: ['README.md'], unchanged: [] }, { title: 'Again', description: '' }, hub.resolve(ID));
    const w = hub.stats().write;
    expect([w.lfsBytesReceived, w.requests['lfs-upload']]).toEqual([0, undefined]);
    expect(hub.commits(ID).at(-1)).toMatchObject({ oid: out.oid, deleted: ['README.md'] });
  });

  test('the sha256 sent is the one packaging gave, not one computed again: a wrong one is refused by the storage, and nothing is committed', async () => {
    const content = randomBytes(3 * PART);
    writeFileSync(path.join(dir, 'other.zip'), content);
    const before = hub.commits(ID).length;
    for (const [name, size] of [['basic', 1000], ['multipart', content.length]] as const) {
      writeFileSync(path.join(dir, `${name}.zip`), content.subarray(0, size));
      const wrong: LocalFile = { path: `v/${name}.zip`, size, sha256: sha256(`not the bytes of ${name}`), sources: [path.join(dir, `${name}.zip`)] };
      const e = await writer().commit({ upload: [wrong], delete: [], unchanged: [] }, { title: 'Wrong', description: '' }, hub.resolve(ID)).then(() => null, (err: unknown) => err as Error);
      expect(e?.message).toMatch(name === 'basic' ? /failed to upload: the Hub answered 400 \(Api error with status 400\. Error while uploading v\/basic\.zip to LFS storage: BadDigest, sha256 of the body is [0-9a-f]{64}, the upload was announced as/ : /failed to upload: the Hub answered 400 \(complete_multipart: sha256 of the assembled object is [0-9a-f]{64}, not/);
      expect(hub.hasObject(wrong.sha256)).toBe(false);
    }
    expect(hub.commits(ID)).toHaveLength(before);
  });

  test('a 502 on one part is retried alone; the commit has the file whole', async () => {
    const content = randomBytes(2 * PART + 1);
    writeFileSync(path.join(dir, 'retried.zip'), content);
    const file: LocalFile = { path: 'v/retried.zip', size: content.length, sha256: sha256(content), sources: [path.join(dir, 'retried.zip')] };
    hub.resetStats();
    hub.failNext('lfs-upload', 502, 1, { afterBytes: 65_536 });
    const w = new HubWriter({ repo: ID, revision: 'main', endpoint: hub.endpoint, token: hub.writeToken }, { sleep: async () => undefined });
    await w.commit({ upload: [file], delete: [], unchanged: [] }, { title: 'Retried', description: '' }, hub.resolve(ID));
    const stats = hub.stats().write;
    expect(stats.lfsUploads.map((u) => u.status).sort()).toEqual([200, 200, 200, 502]);
    expect(hub.files(ID)['v/retried.zip']).toMatchObject({ sha256: file.sha256, size: file.size });
  });
});

test('huggingface_hub\'s own upload_folder works against the stand-in too, and skips its no-op commit', async () => {
  const dir = path.join(tmp, 'py');
  const local = makeFolder(dir);
  const script = [
    'import sys',
    'from huggingface_hub import HfApi',
    'api = HfApi(endpoint=sys.argv[1], token=sys.argv[2])',
    "api.create_repo('acme/py', exist_ok=True)",
    "for _ in range(2): api.upload_folder(repo_id='acme/py', folder_path=sys.argv[3], path_in_repo='split_einsum/compiled')",
  ].join('\n');
  const env: NodeJS.ProcessEnv = { ...process.env, HF_HUB_DISABLE_TELEMETRY: '1', HF_HUB_DISABLE_PROGRESS_BARS: '1' };
  delete env.HF_HUB_OFFLINE;
  await run(inject('realPython'), ['-c', script, hub.endpoint, hub.writeToken, dir], { env });
  expect(remoteShas('acme/py')).toMatchObject(prefixed(local, 'split_einsum/compiled'));
  // The initial commit and one upload: its second upload_folder compared preupload oids and stopped.
  expect(hub.commits('acme/py').map((c) => c.changed)).toEqual([true, true]);
});

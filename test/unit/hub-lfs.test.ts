// The Hub commit's protocol as the action speaks it (issue 19, item 6): the LFS batch request by the
// packaging's sha256, offering classic LFS only (basic, multipart; never Xet), what its answer asks
// for each file, and the NDJSON commit body; DiskBlob.writeTo, which sends a file's bytes to an
// upload through two reused buffers.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { DiskBlob } from '../../src/hub/disk-blob.js';
import { commitBody, HubWriter, inGroups, LFS_TRANSFERS, lfsBatchRequest, lfsUploads, type LfsBatchAnswer, type LocalFile } from '../../src/hub/publish-client.js';

const zip: LocalFile = { path: 'v/model_compiled.zip', size: 10, sha256: 'a'.repeat(64), sources: ['/tmp/zip.001', '/tmp/zip.002'] };
const big: LocalFile = { path: 'v/model_packages.zip', size: 250, sha256: 'b'.repeat(64), sources: ['/tmp/packages.zip'] };
const card: LocalFile = { path: 'README.md', size: 6, sha256: 'c'.repeat(64), text: 'hello\n' };

describe('lfsBatchRequest', () => {
  it('offers basic and multipart only, never xet, and names each file by the sha256 it was given', () => {
    expect(LFS_TRANSFERS).toEqual(['basic', 'multipart']);
    const request = lfsBatchRequest([zip, big], 'main');
    expect(request).toEqual({
      operation: 'upload', transfers: ['basic', 'multipart'], hash_algo: 'sha_256', ref: { name: 'main' },
      objects: [{ oid: zip.sha256, size: 10 }, { oid: big.sha256, size: 250 }],
    });
    expect(request.transfers).not.toContain('xet');
  });
});

describe('lfsUploads', () => {
  const multipartAnswer = (header: Record<string, string>): LfsBatchAnswer => ({
    transfer: 'multipart',
    objects: [
      { oid: zip.sha256, size: 10 },
      { oid: big.sha256, size: 250, actions: { upload: { href: 'https://hub/complete?id=1', header }, verify: { href: 'https://hub/verify', header: { x: 'y' } } } },
    ],
  });

  it('leaves out what the Hub has, and cuts a multipart file into the byte ranges of its parts, in order', () => {
    const plan = lfsUploads([zip, big], multipartAnswer({ chunk_size: '100', '00003': 'https://s3/p3', '00001': 'https://s3/p1', '00002': 'https://s3/p2' }));
    expect(plan).toEqual([
      { file: zip, kind: 'present' },
      {
        file: big, kind: 'multipart', completion: 'https://hub/complete?id=1', verify: { href: 'https://hub/verify', header: { x: 'y' } },
        parts: [
          { number: 1, href: 'https://s3/p1', start: 0, end: 100 },
          { number: 2, href: 'https://s3/p2', start: 100, end: 200 },
          { number: 3, href: 'https://s3/p3', start: 200, end: 250 },
        ],
      },
    ]);
  });

  it('sends a file without chunk_size in one PUT (basic)', () => {
    const answer: LfsBatchAnswer = { transfer: 'basic', objects: [{ oid: zip.sha256, size: 10, actions: { upload: { href: 'https://s3/one' } } }] };
    expect(lfsUploads([zip], answer)).toEqual([{ file: zip, kind: 'basic', href: 'https://s3/one', verify: undefined }]);
    // No transfer named: git-lfs's default, basic.
    expect(lfsUploads([zip], { objects: answer.objects })).toEqual([{ file: zip, kind: 'basic', href: 'https://s3/one', verify: undefined }]);
  });

  it('refuses an answer in a transfer it did not offer (xet): nothing is uploaded', () => {
    const answer: LfsBatchAnswer = { transfer: 'xet', objects: [{ oid: zip.sha256, size: 10, actions: { upload: { href: 'https://hub/api/models/a/b/xet-write-token/main' } } }] };
    expect(lfsUploads([zip], answer)).toEqual({ error: 'the LFS batch answered with the transfer "xet", which was not offered (basic, multipart)' });
  });

  it('reports an object the batch refused with its code, and one it left out', () => {
    const refused: LfsBatchAnswer = { transfer: 'basic', objects: [{ oid: zip.sha256, size: 10, error: { code: 422, message: 'too big' } }] };
    expect(lfsUploads([zip], refused)).toEqual({ error: 'the LFS batch refused v/model_compiled.zip: too big', status: 422 });
    expect(lfsUploads([zip, big], { transfer: 'basic', objects: [{ oid: zip.sha256, size: 10 }] })).toEqual({ error: `the LFS batch answer has no object for v/model_packages.zip (sha256 ${big.sha256})` });
  });

  it('refuses parts that do not cover the file (a count or numbering that does not match chunk_size)', () => {
    expect(lfsUploads([big], multipartAnswer({ chunk_size: '100', '00001': 'p1', '00002': 'p2' }))).toHaveProperty('error', 'the LFS batch asked for 2 parts of 100 bytes for v/model_packages.zip (250 bytes)');
    expect(lfsUploads([big], multipartAnswer({ chunk_size: '100', '00001': 'p1', '00002': 'p2', '00004': 'p4' }))).toHaveProperty('error');
    expect(lfsUploads([big], multipartAnswer({ chunk_size: 'x', '00001': 'p1' }))).toHaveProperty('error');
  });
});

describe('commitBody', () => {
  it('is NDJSON: the header with the parent, LFS files by sha256 and size, small files inline in base64, the deletions', () => {
    const body = commitBody({ title: 'Core ML', description: 'what changed', parent: 'f'.repeat(40), lfs: [zip], inline: [{ path: card.path, content: Buffer.from('hello\n') }], delete: ['v/old.zip'] });
    expect(body.split('\n').map((l) => JSON.parse(l))).toEqual([
      { key: 'header', value: { summary: 'Core ML', description: 'what changed', parentCommit: 'f'.repeat(40) } },
      { key: 'lfsFile', value: { path: zip.path, algo: 'sha256', size: 10, oid: zip.sha256 } },
      { key: 'file', value: { content: Buffer.from('hello\n').toString('base64'), path: 'README.md', encoding: 'base64' } },
      { key: 'deletedFile', value: { path: 'v/old.zip' } },
    ]);
  });

  it('leaves parentCommit out for a repository created empty', () => {
    const [header] = commitBody({ title: 't', description: '', lfs: [], inline: [], delete: ['x'] }).split('\n');
    expect(JSON.parse(header ?? '{}')).toEqual({ key: 'header', value: { summary: 't', description: '' } });
  });
});

describe('inGroups', () => {
  it('keeps the order, at most n a group', () => {
    expect(inGroups([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(inGroups([], 100)).toEqual([]);
  });
});

describe('DiskBlob.writeTo', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'disk-blob-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const a = randomBytes(2.5 * 1024 * 1024);
  const b = randomBytes(1.5 * 1024 * 1024 + 3);
  writeFileSync(path.join(dir, 'a'), a);
  writeFileSync(path.join(dir, 'b'), b);
  const whole = Buffer.concat([a, b]);

  /** A sink that hands a chunk on late (its callback a few ticks after the write) and copies it only then, as a socket would send it. */
  function slowSink(): { sink: Writable; received: () => Buffer; writes: () => number } {
    const got: Buffer[] = [];
    const sink = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _encoding, callback) {
        setTimeout(() => {
          got.push(Buffer.from(chunk));
          callback();
        }, 2);
      },
    });
    return { sink, received: () => Buffer.concat(got), writes: () => got.length };
  }

  it('writes the files joined, a slice of them exactly, and ends the sink; no buffer is read into before the sink handed it on', async () => {
    const blob = DiskBlob.of([path.join(dir, 'a'), path.join(dir, 'b')]);
    const all = slowSink();
    await blob.writeTo(all.sink);
    await new Promise((resolve) => all.sink.on('finish', resolve));
    expect(all.received().equals(whole)).toBe(true);
    expect(all.writes()).toBeGreaterThan(2); // in chunks, through the two buffers
    const start = 2 * 1024 * 1024 + 17;
    const end = whole.length - 5;
    const part = slowSink();
    await blob.slice(start, end).writeTo(part.sink);
    expect(part.received().equals(whole.subarray(start, end))).toBe(true);
  });

  it('stops when the sink is destroyed (an aborted or failed upload)', async () => {
    const blob = DiskBlob.of([path.join(dir, 'a'), path.join(dir, 'b')]);
    let writes = 0;
    const sink = new Writable({
      write(_chunk, _encoding, callback) {
        if (++writes === 2) sink.destroy(new Error('connection reset'));
        callback();
      },
    });
    sink.on('error', () => undefined);
    await blob.writeTo(sink);
    expect(writes).toBe(2);
    expect(sink.writableEnded).toBe(false);
  });
});

describe('HubWriter.commit, against a scripted Hub', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hub-writer-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('sends the token to the Hub only: not to the storage, nor to a verify URL on another host; the Hub\'s own verify gets it', async () => {
    const bytes = randomBytes(300);
    writeFileSync(path.join(dir, 'w.zip'), bytes);
    const files: LocalFile[] = ['a', 'b'].map((n) => ({ path: `v/${n}.zip`, size: 300, sha256: n.repeat(64), sources: [path.join(dir, 'w.zip')] }));
    const seen: { method: string; url: string; auth: string | null }[] = [];
    const json = (value: unknown) => new Response(JSON.stringify(value), { headers: { 'content-type': 'application/json' } });
    const scripted = (async (input: string | URL | Request, init?: RequestInit) => {
      const url = String(input);
      seen.push({ method: init?.method ?? 'GET', url, auth: new Headers(init?.headers).get('authorization') });
      if (url.includes('/preupload/')) return json({ files: files.map((f) => ({ path: f.path, uploadMode: 'lfs' })) });
      if (url.endsWith('/objects/batch')) {
        return json({
          transfer: 'basic',
          objects: [
            { oid: files[0]!.sha256, size: 300, actions: { upload: { href: 'https://storage.example/put/a' }, verify: { href: 'https://hub.example/acme/m.git/info/lfs/objects/verify' } } },
            { oid: files[1]!.sha256, size: 300, actions: { upload: { href: 'https://storage.example/put/b' }, verify: { href: 'https://elsewhere.example/verify' } } },
          ],
        });
      }
      if (init?.method === 'PUT') return new Response(null, { status: 200, headers: { etag: '"e"' } });
      if (url.includes('/verify')) return json({ success: true });
      if (url.includes('/commit/')) return json({ commitOid: 'c'.repeat(40), commitUrl: 'https://hub.example/acme/m/commit/ccc' });
      return new Response('unexpected', { status: 500 });
    }) as typeof fetch;
    const writer = new HubWriter({ repo: 'acme/m', revision: 'main', endpoint: 'https://hub.example', token: 'hf_secret' }, { fetch: scripted });
    const out = await writer.commit({ upload: files, delete: [], unchanged: [] }, { title: 't', description: 'd' }, undefined);
    expect(out.oid).toBe('c'.repeat(40));
    const authOf = (part: string) => seen.filter((r) => r.url.includes(part)).map((r) => r.auth);
    expect(authOf('storage.example')).toEqual([null, null]);
    expect(authOf('elsewhere.example')).toEqual([null]);
    expect(authOf('hub.example/acme/m.git/info/lfs/objects/verify')).toEqual(['Bearer hf_secret']);
    expect(authOf('/commit/main')).toEqual(['Bearer hf_secret']);
    // preupload, batch, then the uploads and verifies, then the commit last.
    expect(seen[0]?.url).toBe('https://hub.example/api/models/acme/m/preupload/main');
    expect(seen[1]?.url).toBe('https://hub.example/acme/m.git/info/lfs/objects/batch');
    expect(seen.at(-1)?.url).toBe('https://hub.example/api/models/acme/m/commit/main');
  });
});

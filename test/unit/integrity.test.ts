import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { contentDigest, downloadOrder, expectedOf, mismatch, resumeFrom } from '../../src/hub/integrity.js';

describe('what the listing promises', () => {
  it('checks LFS files by sha256 and the others by git blob id', () => {
    const bytes = Buffer.from('{"_class_name":"UNet2DConditionModel"}');
    const gitId = createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
    const small = expectedOf({ rfilename: 'unet/config.json', blobId: gitId, size: bytes.length });
    expect(small?.algorithm).toBe('git-blob-sha1');
    expect(contentDigest(small).update(bytes).digest('hex')).toBe(gitId);
    const lfs = expectedOf({ rfilename: 'unet/w.safetensors', blobId: 'a'.repeat(64), size: 10, lfs: true });
    expect(lfs?.algorithm).toBe('sha256');
    expect(contentDigest(lfs).update(bytes).digest('hex')).toBe(createHash('sha256').update(bytes).digest('hex'));
  });

  it('has nothing to check a file against without its id and size', () => {
    expect(expectedOf({ rfilename: 'x.json', blobId: 'b'.repeat(40) })).toBeUndefined();
    expect(expectedOf({ rfilename: 'x.json', size: 3 })).toBeUndefined();
    expect(mismatch('x.json', undefined, 3, 'c')).toBeUndefined();
  });

  it('names the file, what was got and what is listed', () => {
    const expected = { algorithm: 'sha256' as const, hex: 'a'.repeat(64), size: 10 };
    expect(mismatch('vae/w.safetensors', expected, 9, 'a'.repeat(64))).toBe('vae/w.safetensors: downloaded 9 bytes, the Hub lists 10');
    expect(mismatch('vae/w.safetensors', expected, 10, 'b'.repeat(64))).toBe(`vae/w.safetensors: the downloaded bytes have sha256 ${'b'.repeat(64)}, the Hub lists ${'a'.repeat(64)}`);
    expect(mismatch('vae/w.safetensors', expected, 10, 'a'.repeat(64))).toBeUndefined();
  });
});

describe('resuming', () => {
  it('appends a 206 that starts where the file stopped, starts over on a 200, refuses other ranges', () => {
    expect(resumeFrom(206, 'bytes 1000-1999/2000', 1000)).toBe('append');
    expect(resumeFrom(206, 'bytes 0-1999/2000', 1000)).toBe('refuse');
    expect(resumeFrom(206, undefined, 1000)).toBe('refuse');
    expect(resumeFrom(200, undefined, 1000)).toBe('restart');
    expect(resumeFrom(416, 'bytes */2000', 1000)).toBe('refuse');
  });

  it('fetches the largest files first', () => {
    expect(downloadOrder([{ size: 2 }, {}, { size: 30 }, { size: 5 }]).map((f) => f.size)).toEqual([30, 5, 2, undefined]);
  });
});

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { releaseDownloads } from '../../src/budget/release.js';

/** The Hub files a run downloaded, let go after conversion: only those, with their links. */
describe('releaseDownloads', () => {
  const roots: string[] = [];
  afterEach(() => roots.splice(0).forEach((r) => rmSync(r, { recursive: true, force: true })));

  function cache() {
    const root = mkdtempSync(path.join(os.tmpdir(), 'budget-release-'));
    roots.push(root);
    const repo = path.join(root, 'models--acme--sd');
    mkdirSync(path.join(repo, 'blobs'), { recursive: true });
    mkdirSync(path.join(repo, 'snapshots', 'c0ffee', 'unet'), { recursive: true });
    const blob = (name: string, text: string, link: string) => {
      writeFileSync(path.join(repo, 'blobs', name), text);
      const at = path.join(repo, 'snapshots', 'c0ffee', link);
      symlinkSync(path.relative(path.dirname(at), path.join(repo, 'blobs', name)), at);
      return { blob: path.join(repo, 'blobs', name), links: [at], bytes: text.length };
    };
    return { repo, blob };
  }

  it('removes the blobs this run downloaded and their snapshot links, and nothing the cache held before', () => {
    const { repo, blob } = cache();
    const downloaded = blob('aaa', 'unet weights', 'unet/diffusion_pytorch_model.fp16.safetensors');
    const kept = blob('bbb', '{"a": 1}', 'model_index.json');
    expect(releaseDownloads([downloaded])).toBe('unet weights'.length);
    expect(existsSync(downloaded.blob)).toBe(false);
    expect(existsSync(downloaded.links[0]!)).toBe(false);
    expect(readFileSync(kept.links[0]!, 'utf8')).toBe('{"a": 1}');
    expect(existsSync(path.join(repo, 'snapshots', 'c0ffee', 'unet'))).toBe(true);
  });

  it('leaves a file that took a link\'s place (not the action\'s), and counts nothing already gone', () => {
    const { blob } = cache();
    const downloaded = blob('ccc', 'vae', 'model_index.json');
    rmSync(downloaded.links[0]!);
    writeFileSync(downloaded.links[0]!, 'a file the user put there');
    rmSync(downloaded.blob);
    expect(releaseDownloads([downloaded])).toBe(0);
    expect(readFileSync(downloaded.links[0]!, 'utf8')).toBe('a file the user put there');
  });
});

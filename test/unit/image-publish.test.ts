// The end-to-end image check (Core AI) where a person looks before downloading gigabytes: its two
// images' published names, packaged beside the zips and inside the bundle's zip (the workflow
// artifact), the release section and its asset URLs, the Hub's files, card and front matter, and
// manifest.json's `backend` and `imageCheck`. Core ML's sections stay as they were.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { IMAGE_CHECK_DIR, IMAGE_FILES, IMAGE_RECORD, type ImageCheckResult } from '../../src/backends/core-ai/image.js';
import type { BackendName, Config } from '../../src/config.js';
import { RESOURCES_DIR } from '../../src/converter/vocabulary.js';
import { contentType, ownedBy as releaseOwnedBy, planAssets } from '../../src/github/releases.js';
import { parseInputs } from '../../src/inputs/parse.js';
import { listTree } from '../../src/package/listing.js';
import { buildManifest, manifestJson, publishedIdentity, type ManifestInput } from '../../src/package/manifest.js';
import { imageNames, isJunk, publishedNames } from '../../src/package/names.js';
import { packageOutputs, PackageError, zipSources, type PackageResult } from '../../src/package/stage.js';
import type { ZipResult } from '../../src/package/zip.js';
import { mergeCard, renderCardSection, splitCard, type CardInput } from '../../src/publish/hub/card.js';
import { commitMessage, ownedBy as hubOwnedBy } from '../../src/publish/hub/plan.js';
import { cardImage, hubFiles } from '../../src/publish/hub/stage.js';
import { markdownText, mergeBody, releaseAssetUrl, renderSection, urlSegment, type ImageSection, type SectionInput } from '../../src/publish/notes.js';
import { ctx, raw } from './fixtures.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'image-publish-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const sha = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const GITHUB_ENV = { GITHUB_REPOSITORY: 'octo/models', GITHUB_API_URL: 'https://api.github.com', GITHUB_RUN_ID: '7' };
const names = publishedNames({ conversion: { modelVersion: 'acme/sd', attention: 'SPLIT_EINSUM', chunkUnet: false, unetSupportControlnet: false } });

const result = (overrides: Partial<ImageCheckResult> = {}): ImageCheckResult => ({
  psnr: 31.42,
  identical: false,
  minPsnr: 30,
  passed: true,
  prompt: 'a photo of an astronaut riding a horse',
  seed: 93,
  steps: 20,
  guidance: 7.5,
  height: 512,
  width: 512,
  scheduler: 'pndm',
  coreaiSeconds: 12.5,
  diffusersSeconds: 30.25,
  images: { coreai: '/w/out/image-check/coreai.png', diffusers: '/w/out/image-check/diffusers.png' },
  ...overrides,
});

/**
 * GFM's table row split (cmark-gfm's table extension): a backslash escapes the next character,
 * an unescaped `|` ends a cell. The cells keep their escapes.
 */
function cells(row: string): string[] {
  const out: string[] = [];
  let cell = '';
  for (let i = 0; i < row.length; i++) {
    const c = row[i] as string;
    if (c === '\\' && i + 1 < row.length) {
      cell += c + row[i + 1];
      i++;
    } else if (c === '|') {
      out.push(cell);
      cell = '';
    } else cell += c;
  }
  out.push(cell);
  return out.map((x) => x.trim());
}

/** What a cell's text renders as: GFM takes `\|` for `|`, then CommonMark's backslash escapes of punctuation. */
const rendered = (cell: string) => cell.replaceAll('\\|', '|').replace(/\\([!-/:-@[-`{-~])/g, '$1');

describe('the images\' published names', () => {
  it('are <base>.coreai.png and <base>.diffusers.png, kept by GitHub and the artifact service as they are', () => {
    expect(names.images).toEqual({ coreai: 'sd_split_einsum.coreai.png', diffusers: 'sd_split_einsum.diffusers.png' });
    expect(imageNames('sd21_original_6bit')).toEqual({ coreai: 'sd21_original_6bit.coreai.png', diffusers: 'sd21_original_6bit.diffusers.png' });
    for (const n of Object.values(names.images)) expect(n).toMatch(/^[A-Za-z0-9._-]+$/);
  });

  it('belong to their variant only: the release and the Hub repository own them, never another variant\'s', () => {
    expect(releaseOwnedBy(names.base, names.images.coreai)).toBe(true);
    expect(releaseOwnedBy(names.base, names.images.diffusers)).toBe(true);
    expect(releaseOwnedBy(names.base, 'sd_split_einsum_6bit.coreai.png')).toBe(false);
    expect(releaseOwnedBy('sd_split', 'sd_split_einsum.coreai.png')).toBe(false);
    expect(releaseOwnedBy(names.base, 'sd_split_einsum.other.png')).toBe(false);
    const owned = hubOwnedBy('split_einsum', names);
    expect(owned('split_einsum/sd_split_einsum.coreai.png')).toBe(true);
    expect(owned('split_einsum/sd_split_einsum.diffusers.png')).toBe(true);
    expect(owned('sd_split_einsum.coreai.png')).toBe(false);
    expect(owned('split_einsum/sd_split_einsum_6bit.coreai.png')).toBe(false);
  });

  it('upload as image/png (the release body shows them), replaced like the others and removed when a run publishes none', () => {
    expect(contentType(names.images.coreai)).toBe('image/png');
    const asset = (id: number, name: string) => ({ id, name, state: 'uploaded', size: 10, digest: `sha256:${'1'.repeat(64)}` });
    const png = { name: names.images.coreai, size: 10, sha256: '2'.repeat(64) };
    const again = planAssets([asset(1, names.images.coreai)], [png], true, names.base);
    expect(again.steps.map((s) => [s.action, s.remove, s.replaces])).toEqual([['upload', [1], true]]);
    expect(planAssets([asset(1, names.images.coreai)], [png], false, names.base).conflicts).toEqual([names.images.coreai]);
    const none = planAssets([asset(1, names.images.coreai), asset(2, names.images.diffusers), asset(3, 'sd_original.coreai.png')], [{ name: names.manifest, size: 1, sha256: '3'.repeat(64) }], true, names.base);
    expect(none.stale).toEqual([
      { id: 1, name: names.images.coreai },
      { id: 2, name: names.images.diffusers },
    ]);
  });
});

describe('packaging the image check (the workflow artifact holds package-dir\'s files)', () => {
  const pngA = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(600, 1)]);
  const pngB = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(700, 2)]);

  function setUp(name: string, withImages: boolean): { out: string; config: (backend: BackendName) => Config; image: ImageCheckResult } {
    const root = path.join(tmp, name);
    const out = path.join(root, 'out');
    mkdirSync(path.join(out, RESOURCES_DIR, 'Unet.aimodel'), { recursive: true });
    writeFileSync(path.join(out, RESOURCES_DIR, 'Unet.aimodel', 'main.mlirb'), Buffer.alloc(4000, 5));
    writeFileSync(path.join(out, RESOURCES_DIR, 'metadata.json'), '{}');
    const images = path.join(out, IMAGE_CHECK_DIR);
    if (withImages) {
      mkdirSync(images, { recursive: true });
      writeFileSync(path.join(images, IMAGE_FILES.coreai), pngA);
      writeFileSync(path.join(images, IMAGE_FILES.diffusers), pngB);
      writeFileSync(path.join(images, IMAGE_RECORD), '{"psnr": 31.42}\n');
    }
    const parsed = parseInputs(raw(), ctx({ env: GITHUB_ENV }));
    if (!parsed.config) throw new Error(parsed.errors.join('\n'));
    const base = parsed.config;
    mkdirSync(path.join(root, 'temp'), { recursive: true });
    const config = (backend: BackendName): Config => ({
      ...base,
      backend,
      conversion: { ...base.conversion, outputDir: out, bundleResources: true },
      runner: { ...base.runner, temp: path.join(root, 'temp') },
    });
    return { out, config, image: result({ images: { coreai: path.join(images, IMAGE_FILES.coreai), diffusers: path.join(images, IMAGE_FILES.diffusers) } }) };
  }

  it('output-dir/image-check/ is no junk: the packaging filter keeps all of it', () => {
    for (const p of ['image-check', 'image-check/coreai.png', 'image-check/diffusers.png', 'image-check/image-check.json']) expect(isJunk(p), p).toBe(false);
    const { out } = setUp('listing', true);
    const listing = listTree([path.join(out, IMAGE_CHECK_DIR)], 'top');
    expect(listing.skipped).toEqual([]);
    expect(listing.entries.map((e) => e.name)).toEqual(['top/', 'top/image-check/', 'top/image-check/coreai.png', 'top/image-check/diffusers.png', 'top/image-check/image-check.json']);
  });

  it('puts image-check/ into the bundle\'s zip, and the two images beside the zips, in the checksums and the manifest', async () => {
    const { config, image } = setUp('core-ai', true);
    const c = config('core-ai');
    expect(zipSources(c, publishedNames({ conversion: c.conversion }), true)[0]?.roots.map((r) => path.basename(r))).toEqual(['Unet.aimodel', 'metadata.json', IMAGE_CHECK_DIR]);

    const packaged: PackageResult = await packageOutputs({ config: c, models: [], verdicts: [], image });
    const n = packaged.names;
    const zip = path.join(packaged.dir, n.compiled);
    const entries = execFileSync('unzip', ['-Z1', zip], { encoding: 'utf8' }).trim().split('\n');
    const top = n.compiled.replace(/\.zip$/, '');
    for (const e of [`${top}/image-check/`, `${top}/image-check/coreai.png`, `${top}/image-check/diffusers.png`, `${top}/image-check/image-check.json`, `${top}/metadata.json`]) expect(entries).toContain(e);
    expect(execFileSync('unzip', ['-p', zip, `${top}/image-check/coreai.png`])).toEqual(pngA);

    // Beside the zips, under their published names: what the artifact, the release and the Hub publish.
    expect(packaged.files.map((f) => f.name)).toEqual([n.compiled, n.images.coreai, n.images.diffusers, n.manifest, n.sums]);
    expect(readFileSync(path.join(packaged.dir, n.images.coreai))).toEqual(pngA);
    expect(readFileSync(path.join(packaged.dir, n.images.diffusers))).toEqual(pngB);
    expect(packaged.image?.coreai).toMatchObject({ name: n.images.coreai, path: path.join(packaged.dir, n.images.coreai), size: pngA.length, sha256: sha(pngA) });
    expect(packaged.sums).toContain(`${sha(pngA)}  ${n.images.coreai}\n`);
    expect(packaged.sums).toContain(`${sha(pngB)}  ${n.images.diffusers}\n`);
    expect(execFileSync('sha256sum', ['-c', n.sums], { cwd: packaged.dir, encoding: 'utf8' })).toContain(`${n.images.diffusers}: OK`);

    const manifest = JSON.parse(readFileSync(path.join(packaged.dir, n.manifest), 'utf8')) as Record<string, unknown>;
    expect(manifest.backend).toBe('core-ai');
    expect(manifest.imageCheck).toEqual({ psnr: 31.42, identical: false, minPsnr: 30, passed: true, prompt: image.prompt, seed: 93, steps: 20, guidance: 7.5, scheduler: 'pndm', height: 512, width: 512, images: n.images });
    expect((manifest.files as Array<{ name: string }>).map((f) => f.name)).toEqual([n.compiled, n.images.coreai, n.images.diffusers]);
  });

  it('without the image check: no images, no image-check/ in the zip (a stale folder is not published), imageCheck null', async () => {
    const { config } = setUp('core-ml', true);
    const packaged = await packageOutputs({ config: config('core-ml'), models: [], verdicts: [] });
    const n = packaged.names;
    expect(packaged.files.map((f) => f.name)).toEqual([n.compiled, n.manifest, n.sums]);
    expect(packaged.image).toBeUndefined();
    const entries = execFileSync('unzip', ['-Z1', path.join(packaged.dir, n.compiled)], { encoding: 'utf8' });
    expect(entries).not.toContain('image-check');
    expect(packaged.manifest).toMatchObject({ backend: 'core-ml', imageCheck: null });
  });

  it('refuses to publish an image check whose folder or image is missing, leaving nothing half-written', async () => {
    const { config, image } = setUp('missing', false);
    await expect(packageOutputs({ config: config('core-ai'), models: [], verdicts: [], image })).rejects.toThrow(PackageError);
    await expect(packageOutputs({ config: config('core-ai'), models: [], verdicts: [], image })).rejects.toThrow(/image check's folder .*image-check is missing/);
    const { out, config: again, image: image2 } = setUp('missing-one', true);
    rmSync(path.join(out, IMAGE_CHECK_DIR, IMAGE_FILES.diffusers));
    await expect(packageOutputs({ config: again('core-ai'), models: [], verdicts: [], image: image2 })).rejects.toThrow(/image check's image .*diffusers\.png is missing/);
    const packages = path.join(tmp, 'missing-one', 'temp', 'coreml-packages');
    expect(readdirSync(packages)).toEqual([]);
  });
});

describe('manifest.json', () => {
  const zip: ZipResult = { name: 'sd_x_compiled.zip', size: 300, sha256: 'a'.repeat(64), entries: 3, method: 'store', files: [{ name: 'sd_x_compiled.zip', path: '/p/sd_x_compiled.zip', size: 300, sha256: 'a'.repeat(64) }], sources: [] };
  const input: ManifestInput = {
    action: { name: 'owner/coreml-action', version: '1.2.3', major: 'v1', ref: 'v1' },
    model: { id: 'acme/sd', revision: 'main', sha: 'f'.repeat(40), local: false },
    models: [{ id: 'acme/sd', sha: 'f'.repeat(40) }],
    converterInputs: { 'model-version': 'acme/sd' },
    environment: { packages: null, python: null, macos: null, xcode: null },
    verdicts: [],
    bundle: null,
    archives: [zip],
    run: { repository: 'o/r', runId: '42', runAttempt: '1', commit: null },
  };

  it('records the backend (core-ml when not said), and imageCheck null without the image check', () => {
    const m = buildManifest(input);
    expect(m.backend).toBe('core-ml');
    expect(m.imageCheck).toBeNull();
    expect(m.files.map((f) => f.name)).toEqual(['sd_x_compiled.zip']);
    expect(buildManifest({ ...input, backend: 'core-ai' }).backend).toBe('core-ai');
  });

  it('records the image check: its facts, its threshold and verdict, the images\' names (sizes and sha256s in files), no paths nor timings', () => {
    const files = { coreai: { name: 'sd_x.coreai.png', size: 10, sha256: 'c'.repeat(64) }, diffusers: { name: 'sd_x.diffusers.png', size: 11, sha256: 'd'.repeat(64) } };
    const m = buildManifest({ ...input, backend: 'core-ai', image: { result: result({ psnr: null, identical: true }), files: { coreai: { ...files.coreai, path: '/p/a.png' } as never, diffusers: files.diffusers } } });
    expect(m.imageCheck).toEqual({
      psnr: null,
      identical: true,
      minPsnr: 30,
      passed: true,
      prompt: 'a photo of an astronaut riding a horse',
      seed: 93,
      steps: 20,
      guidance: 7.5,
      scheduler: 'pndm',
      height: 512,
      width: 512,
      images: { coreai: 'sd_x.coreai.png', diffusers: 'sd_x.diffusers.png' },
    });
    expect(m.files).toEqual([{ name: 'sd_x_compiled.zip', size: 300, sha256: 'a'.repeat(64) }, files.coreai, files.diffusers]);
    const text = manifestJson(m);
    expect(text).not.toContain('/p/');
    expect(text).not.toContain('/w/out');
    expect(text).not.toContain('Seconds');
    // The scheduled refresh still reads it.
    expect(publishedIdentity(JSON.parse(text))).toMatchObject({ actionMajor: 'v1', models: [{ id: 'acme/sd', revision: 'f'.repeat(40) }] });
  });
});

const file = (name: string, size = 10, hash = 'a') => ({ name, path: `/p/${name}`, size, sha256: hash.repeat(64) });

function sectionInput(): SectionInput {
  const compiled: ZipResult = { name: names.compiled, size: 105, sha256: 'd'.repeat(64), files: [file(names.compiled, 105, 'd')], sources: [], entries: 4, method: 'store' };
  const files = [file(names.compiled, 105, 'd'), file(names.images.coreai, 20, '1'), file(names.images.diffusers, 21, '2'), file(names.manifest, 7, 'e')];
  return {
    names,
    model: { id: 'acme/sd', revision: 'main', sha: 'f'.repeat(40), local: false },
    options: { 'model-version': 'acme/sd', 'attention-implementation': 'SPLIT_EINSUM' },
    verdicts: [{ part: 'unet', check: 'unet', psnr: 61.24, threshold: 40, passed: true, step: 'unet' }],
    archives: [compiled],
    files: [...files, file(names.sums, 3, '0')],
    sums: files.map((f) => `${f.sha256}  ${f.name}\n`).join(''),
    action: { name: 'owner/coreml-action', version: '1.0.0' },
  };
}

const github = { serverUrl: 'https://github.com', repository: 'octo/models' };
const releaseImage = (tag: string, overrides: Partial<ImageCheckResult> = {}): ImageSection => ({
  result: result(overrides),
  urls: { coreai: releaseAssetUrl(github, tag, names.images.coreai), diffusers: releaseAssetUrl(github, tag, names.images.diffusers) },
});

describe('the release section', () => {
  it('Core ML: unchanged whether the backend is said or not, and without images', () => {
    const plain = renderSection(sectionInput());
    expect(renderSection({ ...sectionInput(), backend: 'core-ml' })).toBe(plain);
    expect(plain).toContain('**PSNR** (Core ML against PyTorch)');
    expect(plain).toContain("Core ML conversion of [`acme/sd`](https://huggingface.co/acme/sd)");
    expect(plain).toContain("with Apple's torch2coreml.");
    expect(plain).not.toContain('End-to-end image');
    expect(plain).not.toContain('![');
  });

  it('Core AI: says what made it and what its per-part PSNR compared', () => {
    const s = renderSection({ ...sectionInput(), backend: 'core-ai' });
    expect(s).toContain('**PSNR** (Core AI runtime (coreai-core) against PyTorch)');
    expect(s).toContain("Core AI conversion of [`acme/sd`](https://huggingface.co/acme/sd)");
    expect(s).toContain("with Apple's coreai-torch.");
    expect(s).not.toContain('Core ML');
    expect(s).not.toContain('torch2coreml');
  });

  it('shows the two images side by side from the release\'s download URLs, with what made them and the PSNR against its threshold', () => {
    const s = renderSection({ ...sectionInput(), backend: 'core-ai', image: releaseImage('models/v1+1') });
    const lines = s.split('\n');
    const at = lines.indexOf('| Core AI runtime (coreai-core) | diffusers (PyTorch) |');
    expect(at).toBeGreaterThan(0);
    expect(lines[at + 1]).toBe('| --- | --- |');
    expect(lines[at + 2]).toBe(
      '| ![Core AI](https://github.com/octo/models/releases/download/models%2Fv1%2B1/sd_split_einsum.coreai.png) | ![diffusers](https://github.com/octo/models/releases/download/models%2Fv1%2B1/sd_split_einsum.diffusers.png) |',
    );
    expect(s).toContain('| Prompt | a photo of an astronaut riding a horse |');
    expect(s).toContain('| Seed | 93 |');
    expect(s).toContain('| Steps | 20 |');
    expect(s).toContain('| Guidance | 7.5 |');
    expect(s).toContain('| Scheduler | pndm |');
    expect(s).toContain('| Size | 512×512 |');
    expect(s).toContain('| PSNR (8-bit RGB) | 31.4 dB against a threshold of 30 dB: pass |');
    // Before the files a person would download; the images are among them.
    expect(s.indexOf('End-to-end image')).toBeLessThan(s.indexOf('**Files**'));
    expect(s).toContain(`| \`${names.images.coreai}\` | 20 B |`);
    const failed = renderSection({ ...sectionInput(), backend: 'core-ai', image: releaseImage('v1', { psnr: 12.04, passed: false }) });
    expect(failed).toContain('| PSNR (8-bit RGB) | 12.0 dB against a threshold of 30 dB: FAIL |');
    const same = renderSection({ ...sectionInput(), backend: 'core-ai', image: releaseImage('v1', { psnr: null, identical: true }) });
    expect(same).toContain('| PSNR (8-bit RGB) | identical images (infinite) against a threshold of 30 dB: pass |');
  });

  it('builds asset URLs with every part encoded as one path segment, the name as GitHub stores it', () => {
    expect(releaseAssetUrl({ serverUrl: 'https://ghe.example.com/', repository: 'my-org/my.repo' }, 'v1', 'a.png')).toBe('https://ghe.example.com/my-org/my.repo/releases/download/v1/a.png');
    expect(releaseAssetUrl(github, 'release (1)#x', 'a b.png')).toBe('https://github.com/octo/models/releases/download/release%20%281%29%23x/a.b.png');
    expect(urlSegment("it's(*)!")).toBe('it%27s%28%2A%29%21');
  });

  it('a hostile prompt stays one table cell of literal text, and cannot move the section\'s markers', () => {
    const prompt = `a | b \`code\` *bold* [link](http://e.x) <img src=x> \\| <!-- coreml-action:end ${names.base} --> & ~x~\tend\r`;
    const s = renderSection({ ...sectionInput(), backend: 'core-ai', image: releaseImage('v1', { prompt, scheduler: 'euler | a' }) });
    const row = s.split('\n').find((l) => l.startsWith('| Prompt |')) as string;
    const parts = cells(row);
    expect(parts).toHaveLength(4);
    expect(parts[0]).toBe('');
    expect(parts[3]).toBe('');
    expect(rendered(parts[2] as string)).toBe(prompt.replace(/\s+/g, ' ').trim());
    // No construct can start: every backtick, star, bracket and angle bracket is escaped.
    expect(parts[2]).not.toMatch(/(^|[^\\])(\\\\)*[`*[<_~&]/);
    expect(cells(s.split('\n').find((l) => l.startsWith('| Scheduler |')) as string)).toHaveLength(4);
    // One end marker: a second run replaces this section whole.
    expect(s.split(`<!-- coreml-action:end ${names.base} -->`)).toHaveLength(2);
    const body = mergeBody(mergeBody('Intro.', names.base, s, ''), names.base, renderSection(sectionInput()), '');
    expect(body).toBe(`Intro.\n\n${renderSection(sectionInput())}\n`);
  });

  it('markdownText escapes every ASCII punctuation character but `|`, and folds whitespace', () => {
    expect(markdownText('a.b-c_d')).toBe('a\\.b\\-c\\_d');
    expect(markdownText('x|y')).toBe('x|y');
    expect(markdownText('one\ttwo\n\nthree')).toBe('one two three');
    expect(markdownText('back\\slash')).toBe('back\\\\slash');
  });
});

describe('the Hugging Face Hub', () => {
  const written = (name: string, size: number, hash: string) => ({ name, path: `/t/pkg/${name}`, size, sha256: hash.repeat(64) });
  const packaged = (withImage: boolean): PackageResult => {
    const compiled: ZipResult = { name: names.compiled, size: 105, sha256: 'd'.repeat(64), files: [written(`${names.compiled}.001`, 100, 'b'), written(`${names.compiled}.002`, 5, 'c')], sources: [], entries: 4, method: 'store' };
    const images = withImage ? { result: result(), coreai: written(names.images.coreai, 20, '1'), diffusers: written(names.images.diffusers, 21, '2') } : undefined;
    const manifest = written(names.manifest, 7, 'e');
    return {
      dir: '/t/pkg',
      names,
      archives: [compiled],
      manifest: {} as never,
      files: [...compiled.files, ...(images ? [images.coreai, images.diffusers] : []), manifest, written(names.sums, 3, '0')],
      ...(images ? { image: images } : {}),
      sums: '',
      durationMs: 1,
    };
  };

  it('commits the two images into the variant\'s folder beside the zips, in its checksums', () => {
    const { payload, manifest, sums } = hubFiles(packaged(true), 'split_einsum');
    expect(payload.map((f) => f.path)).toEqual([`split_einsum/${names.compiled}`, `split_einsum/${names.images.coreai}`, `split_einsum/${names.images.diffusers}`]);
    expect(payload[1]).toEqual({ path: `split_einsum/${names.images.coreai}`, size: 20, sha256: '1'.repeat(64), sources: [`/t/pkg/${names.images.coreai}`] });
    expect(manifest.path).toBe(`split_einsum/${names.manifest}`);
    expect(sums.text?.split('\n').filter(Boolean).map((l) => l.split('  ')[1])).toEqual([names.images.coreai, names.images.diffusers, names.compiled, names.manifest]);
    const without = hubFiles(packaged(false), 'split_einsum');
    expect(without.payload.map((f) => f.path)).toEqual([`split_einsum/${names.compiled}`]);
    expect(without.sums.text).not.toContain('.png');
  });

  it('links the images relative to the card, each path segment encoded', () => {
    expect(cardImage(packaged(false), 'x')).toBeUndefined();
    expect(cardImage(packaged(true), 'coreai/split_einsum')?.urls).toEqual({ coreai: `coreai/split_einsum/${names.images.coreai}`, diffusers: `coreai/split_einsum/${names.images.diffusers}` });
    expect(cardImage(packaged(true), '')?.urls.coreai).toBe(names.images.coreai);
  });

  const cardInput = (overrides: Partial<CardInput> = {}): CardInput => ({
    repo: 'acme/coreai-sd',
    names,
    variant: 'split_einsum',
    folder: 'split_einsum',
    model: { id: 'acme/sd', revision: 'main', sha: 'd'.repeat(40), local: false, access: 'public', card: { license: 'creativeml-openrail-m' } },
    options: { 'model-version': 'acme/sd' },
    verdicts: [{ part: 'unet', check: 'unet', psnr: 42.5, threshold: 35, passed: true, step: 'unet' }],
    files: hubFiles(packaged(true), 'split_einsum').payload,
    xl: false,
    action: { name: 'owner/coreml-action', version: '1.0.0' },
    ...overrides,
  });

  it('Core ML\'s card section is unchanged whether the backend is said or not', () => {
    const plain = cardInput({ files: hubFiles(packaged(false), 'split_einsum').payload });
    expect(renderCardSection({ ...plain, backend: 'core-ml' })).toBe(renderCardSection(plain));
    expect(renderCardSection(plain)).toContain('### PSNR (Core ML against PyTorch)');
    expect(renderCardSection(plain)).not.toContain('End-to-end image');
  });

  it('the Core AI section: what compared, the images with relative links and the same facts, the runtime that loads it, every file', () => {
    const s = renderCardSection(cardInput({ backend: 'core-ai', image: cardImage(packaged(true), 'split_einsum') }));
    expect(s).toContain("Core AI conversion of [`acme/sd`](https://huggingface.co/acme/sd)");
    expect(s).toContain('### PSNR (Core AI runtime (coreai-core) against PyTorch)');
    expect(s).toContain(`| ![Core AI](split_einsum/${names.images.coreai}) | ![diffusers](split_einsum/${names.images.diffusers}) |`);
    expect(s).toContain('| Prompt | a photo of an astronaut riding a horse |');
    expect(s).toContain('| PSNR (8-bit RGB) | 31.4 dB against a threshold of 30 dB: pass |');
    expect(s).toContain(`| \`split_einsum/${names.images.diffusers}\` | 21 B |`);
    expect(s).toContain("Apple's Core AI diffusion runtime");
    expect(s).not.toMatch(/Mochi|Guernika|torch2coreml/);
  });

  it('front matter: coreai for Core AI (no library_name of its own), coreml kept for Core ML, both when a repository holds both', () => {
    const ai = cardInput({ backend: 'core-ai', image: cardImage(packaged(true), 'split_einsum') });
    const fresh = parseYaml(splitCard(mergeCard(undefined, ai)).yaml as string) as Record<string, unknown>;
    expect(fresh.tags).toEqual(['coreai', 'stable-diffusion', 'text-to-image', 'split_einsum']);
    expect(fresh).not.toHaveProperty('library_name');
    expect(fresh).toMatchObject({ pipeline_tag: 'text-to-image', base_model: 'acme/sd' });
    expect(mergeCard(undefined, ai)).toContain('Core AI conversions of');

    const other = publishedNames({ conversion: { modelVersion: 'acme/sd', attention: 'ORIGINAL', chunkUnet: false, unetSupportControlnet: false } });
    const ml = mergeCard(undefined, cardInput({ names: other, variant: 'original', folder: 'original', backend: 'core-ml', files: [] }));
    const both = parseYaml(splitCard(mergeCard(ml, ai)).yaml as string) as Record<string, unknown>;
    expect(both.library_name).toBe('coreml');
    expect(both.tags).toEqual(['coreai', 'stable-diffusion', 'text-to-image', 'coreml', 'original', 'split_einsum']);
    const mlAgain = parseYaml(splitCard(mergeCard(mergeCard(ml, ai), cardInput({ names: other, variant: 'original', folder: 'original', files: [] }))).yaml as string) as Record<string, unknown>;
    expect(mlAgain.library_name).toBe('coreml');
    expect(mlAgain.tags).toEqual(['coreml', 'stable-diffusion', 'text-to-image', 'coreai', 'original', 'split_einsum']);
  });

  it('the commit says Core AI for a Core AI variant', () => {
    const plan = { upload: [], delete: [], unchanged: [] };
    const model = { id: 'acme/sd', sha: 'c'.repeat(40), revision: 'main', local: false };
    expect(commitMessage({ base: names.base, model, plan, action: { name: 'act', version: '1' }, backend: 'core-ai' }).title).toBe(`Core AI ${names.base} from acme/sd@${'c'.repeat(40)}`);
    expect(commitMessage({ base: names.base, model, plan, action: { name: 'act', version: '1' } }).title).toBe(`Core ML ${names.base} from acme/sd@${'c'.repeat(40)}`);
  });
});

// Packaging: the names, the entry order and junk filter, the split plan at its edges, the
// manifest and SHA256SUMS, and the streaming zip writer checked with the system's unzip,
// sha256sum and Python's zipfile.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ATTENTION_IMPLEMENTATIONS, QUANTIZE_NBITS } from '../../src/converter/vocabulary.js';
import { listTree } from '../../src/package/listing.js';
import { buildManifest, majorOf, parseFreeze, parseXcodeVersion, sha256sums, type ManifestInput } from '../../src/package/manifest.js';
import { baseName, compareEntryPaths, isJunk, modelName, publishedNames, topFolder, variantName, type NamingInput } from '../../src/package/names.js';
import { ASSET_LIMIT, DEFAULT_MAX_ASSET_SIZE, GIB, MIN_PART_SIZE, joinCommand, maxAssetSizeProblem, parseSize, partName } from '../../src/package/split.js';
import { spaceProblem } from '../../src/package/stage.js';
import { BufferPool, ZIP_DATE, writeZip, zipEntry, type ZipResult } from '../../src/package/zip.js';
import type { PsnrVerdict } from '../../src/verify/psnr.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'packaging-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const sha = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const conversion = (o: Partial<NamingInput['conversion']> = {}): NamingInput['conversion'] => ({
  modelVersion: 'stabilityai/stable-diffusion-2-1-base',
  attention: 'SPLIT_EINSUM',
  quantizeNbits: undefined,
  latentH: undefined,
  latentW: undefined,
  chunkUnet: false,
  unetSupportControlnet: false,
  ...o,
});

describe('names', () => {
  it('takes <model> from the Hub id or the last folder of a local path, made name-safe', () => {
    expect(modelName('stabilityai/stable-diffusion-2-1-base')).toBe('stable-diffusion-2-1-base');
    expect(modelName('runwayml/stable-diffusion-v1-5')).toBe('stable-diffusion-v1-5');
    expect(modelName('./models/My Model (v2)/')).toBe('My-Model-v2');
    expect(modelName('/abs/path/sd.local')).toBe('sd.local');
    expect(modelName('..')).toBe('model');
  });

  it('uses the names Apple and the apps use for the attention variants, in lower case', () => {
    expect(ATTENTION_IMPLEMENTATIONS.map((attention) => variantName(conversion({ attention })))).toEqual(['original', 'split_einsum', 'split_einsum_v2']);
    const names = publishedNames({ conversion: conversion({ attention: 'ORIGINAL' }) });
    expect(names).toEqual({
      base: 'stable-diffusion-2-1-base_original',
      compiled: 'stable-diffusion-2-1-base_original_compiled.zip',
      packages: 'stable-diffusion-2-1-base_original_packages.zip',
      manifest: 'stable-diffusion-2-1-base_original_manifest.json',
      sums: 'stable-diffusion-2-1-base_original_SHA256SUMS',
      images: { coreai: 'stable-diffusion-2-1-base_original.coreai.png', diffusers: 'stable-diffusion-2-1-base_original.diffusers.png' },
    });
    expect(topFolder(names.compiled)).toBe('stable-diffusion-2-1-base_original_compiled');
  });

  it('adds suffixes for bits, image size, chunks and ControlNet support; asset-prefix replaces <model>', () => {
    expect(variantName(conversion({ quantizeNbits: 6 }))).toBe('split_einsum_6bit');
    expect(variantName(conversion({ latentW: 96, latentH: 64 }))).toBe('split_einsum_768x512');
    expect(variantName(conversion({ latentW: 96 }))).toBe('split_einsum_w768');
    expect(variantName(conversion({ latentH: 64 }))).toBe('split_einsum_h512');
    expect(variantName(conversion({ attention: 'SPLIT_EINSUM_V2', quantizeNbits: 4, latentW: 64, latentH: 96, chunkUnet: true, unetSupportControlnet: true }))).toBe(
      'split_einsum_v2_4bit_512x768_chunked_controlnet',
    );
    expect(baseName({ conversion: conversion(), assetPrefix: 'coreml-sd21' })).toBe('coreml-sd21_split_einsum');
  });

  it('gives every combination of the options a matrix varies its own name', () => {
    const seen = new Map<string, string>();
    for (const attention of ATTENTION_IMPLEMENTATIONS) {
      for (const quantizeNbits of [undefined, ...QUANTIZE_NBITS]) {
        for (const latent of [{}, { latentW: 64, latentH: 64 }, { latentW: 96, latentH: 64 }, { latentW: 64, latentH: 96 }, { latentW: 96 }, { latentH: 96 }]) {
          for (const chunkUnet of [false, true]) {
            for (const unetSupportControlnet of [false, true]) {
              const o = conversion({ attention, quantizeNbits, ...latent, chunkUnet, unetSupportControlnet });
              const name = publishedNames({ conversion: o }).compiled;
              const key = JSON.stringify(o);
              expect(seen.get(name), `${name} for ${key} and ${seen.get(name)}`).toBeUndefined();
              seen.set(name, key);
              // Names GitHub keeps as they are, and the artifact service accepts.
              expect(name).toMatch(/^[A-Za-z0-9._-]+$/);
            }
          }
        }
      }
    }
    expect(seen.size).toBe(3 * 6 * 6 * 2 * 2);
  });

  it('leaves Finder litter, resource forks and the action state out, at any depth', () => {
    for (const junk of ['.DS_Store', 'Unet.mlmodelc/.DS_Store', '._vocab.json', 'a/._weight.bin', '__MACOSX/x', 'x/__MACOSX/y', '.coreml-action/state.json', 'Thumbs.db']) {
      expect(isJunk(junk), junk).toBe(true);
    }
    for (const kept of ['Unet.mlmodelc/weights/weight.bin', 'vocab.json', '_leading_underscore', '.hidden-but-not-junk', 'a.DS_Store.txt']) {
      expect(isJunk(kept), kept).toBe(false);
    }
  });

  it('orders entries as a tree: a folder before its content, names by code unit', () => {
    const paths = ['top/a.b', 'top/a/b', 'top/', 'top/a-b', 'top/a/', 'top/B', 'top/a/a/', 'top/a/a/z'];
    expect([...paths].sort(compareEntryPaths)).toEqual(['top/', 'top/B', 'top/a/', 'top/a/a/', 'top/a/a/z', 'top/a/b', 'top/a-b', 'top/a.b']);
  });
});

describe('max-asset-size and the split plan', () => {
  it('reads bytes and units', () => {
    expect(parseSize('1.9GiB')).toBe(Math.floor(1.9 * GIB));
    expect(parseSize('1.9 GiB')).toBe(DEFAULT_MAX_ASSET_SIZE);
    expect(parseSize('1500MB')).toBe(1_500_000_000);
    expect(parseSize('64mib')).toBe(64 * 1024 ** 2);
    expect(parseSize('1048576')).toBe(1_048_576);
    for (const bad of ['', 'big', '-1', '1e9', 'GiB', '1.9 GiBs', '1,5GB']) expect(parseSize(bad), bad).toBeUndefined();
  });

  it('accepts 1 MiB up to one byte under 2 GiB', () => {
    expect(maxAssetSizeProblem(ASSET_LIMIT)).toMatch(/under 2 GiB/);
    expect(maxAssetSizeProblem(ASSET_LIMIT - 1)).toBeUndefined();
    expect(maxAssetSizeProblem(DEFAULT_MAX_ASSET_SIZE)).toBeUndefined();
    expect(maxAssetSizeProblem(MIN_PART_SIZE)).toBeUndefined();
    expect(maxAssetSizeProblem(MIN_PART_SIZE - 1)).toMatch(/at least 1 MiB/);
  });

  it('names parts .001, .002, ... and joins them with cat', () => {
    expect(partName('m.zip', 12)).toBe('m.zip.012');
    expect(joinCommand('m.zip', ['m.zip.001', 'm.zip.002'])).toBe('cat m.zip.001 m.zip.002 > m.zip');
  });

  it('refuses a 1000th part, whose name would sort before .101, naming max-asset-size', () => {
    expect(partName('m.zip', 999)).toBe('m.zip.999');
    expect(() => partName('m.zip', 1000)).toThrow(/m\.zip would need more than 999 parts, .*raise `max-asset-size`/);
    expect(['m.zip.101', 'm.zip.1000'].sort()).toEqual(['m.zip.1000', 'm.zip.101']);
  });
});

describe('SHA256SUMS, pip freeze, Xcode', () => {
  it('writes what sha256sum -c checks, sorted by name', () => {
    const dir = path.join(tmp, 'sums');
    mkdirSync(dir);
    const files = [
      { name: 'b_packages.zip', data: 'bbb' },
      { name: 'a_compiled.zip.002', data: 'a2' },
      { name: 'a_compiled.zip.001', data: 'a1' },
    ];
    for (const f of files) writeFileSync(path.join(dir, f.name), f.data);
    const text = sha256sums(files.map((f) => ({ name: f.name, size: f.data.length, sha256: sha(f.data) })));
    expect(text.split('\n').slice(0, 3).map((l) => l.split('  ')[1])).toEqual(['a_compiled.zip.001', 'a_compiled.zip.002', 'b_packages.zip']);
    expect(text).toMatch(/^([0-9a-f]{64} {2}\S+\n){3}$/);
    writeFileSync(path.join(dir, 'SUMS'), text);
    expect(execFileSync('sha256sum', ['-c', 'SUMS'], { cwd: dir, encoding: 'utf8' })).toContain('b_packages.zip: OK');
    writeFileSync(path.join(dir, 'b_packages.zip'), 'tampered');
    expect(() => execFileSync('sha256sum', ['-c', '--quiet', 'SUMS'], { cwd: dir, stdio: 'pipe' })).toThrow();
    expect(() => sha256sums([{ name: 'x', size: 1, sha256: 'nope' }])).toThrow(/no sha256/);
  });

  it('reads pip freeze and xcodebuild -version', () => {
    const freeze = ['# comment', 'torch==2.5.0', 'coremltools==8.0', 'diffusers[torch]==0.30.2', 'python_coreml_stable_diffusion @ git+https://github.com/apple/ml-stable-diffusion@e12202c', '-e /src/x', ''].join('\n');
    expect(parseFreeze(freeze)).toEqual({
      torch: '2.5.0',
      coremltools: '8.0',
      diffusers: '0.30.2',
      python_coreml_stable_diffusion: '@ git+https://github.com/apple/ml-stable-diffusion@e12202c',
    });
    expect(parseXcodeVersion('Xcode 16.2\nBuild version 16C5032a\n')).toBe('16.2 (16C5032a)');
    expect(parseXcodeVersion('xcode-select: error: tool xcodebuild requires Xcode')).toBeUndefined();
    expect(majorOf('1.4.2')).toBe('v1');
  });
});

describe('manifest.json', () => {
  const zip = (name: string, parts: number): ZipResult => ({
    name,
    size: 300,
    sha256: 'a'.repeat(64),
    entries: 3,
    method: 'store',
    files: parts === 1 ? [{ name, path: `/p/${name}`, size: 300, sha256: 'a'.repeat(64) }] : Array.from({ length: parts }, (_, i) => ({ name: partName(name, i + 1), path: '/p', size: 100, sha256: String(i).repeat(64) })),
    sources: [{ name: `${name.replace('.zip', '')}/vocab.json`, size: 10, sha256: 'c'.repeat(64) }],
  });
  const verdict: PsnrVerdict = { part: 'unet', check: 'unet baseline PyTorch to reference CoreML', psnr: 61.2, threshold: 35, passed: true, step: 'unet' };
  const input: ManifestInput = {
    action: { name: 'owner/coreml-action', version: '1.2.3', major: 'v1', ref: 'v1' },
    model: { id: 'acme/sd', revision: 'main', sha: 'f'.repeat(40), local: false },
    models: [{ id: 'acme/sd', sha: 'f'.repeat(40) }, { id: 'acme/vae', sha: null }],
    converterInputs: { 'model-version': 'acme/sd', 'attention-implementation': 'ORIGINAL' },
    environment: { packages: { torch: '2.5.0' }, python: '3.11.9', macos: null, xcode: null },
    verdicts: [verdict],
    bundle: null,
    archives: [zip('sd_original_compiled.zip', 3), zip('sd_original_packages.zip', 1)],
    run: { repository: 'o/r', runId: '42', runAttempt: '1', commit: null },
  };
  const manifest = buildManifest(input);

  it('records the model, every converter input, the environment and the PSNR verdicts', () => {
    expect(manifest.schemaVersion).toBe(1);
    expect(manifest.action.major).toBe('v1');
    expect(manifest.model).toEqual(input.model);
    expect(manifest.models).toEqual(input.models);
    expect(manifest.converterInputs).toEqual(input.converterInputs);
    expect(manifest.environment).toEqual({ packages: { torch: '2.5.0' }, python: '3.11.9', macos: null, xcode: null });
    expect(manifest.psnr).toEqual([{ part: 'unet', check: verdict.check, psnr: 61.2, threshold: 35, passed: true }]);
  });

  it('lists each archive with its parts and sources, and every published zip file', () => {
    const [compiled, packages] = manifest.archives;
    expect(compiled).toMatchObject({ name: 'sd_original_compiled.zip', topFolder: 'sd_original_compiled', size: 300, method: 'store', entries: 3 });
    expect(compiled?.parts.map((p) => p.name)).toEqual(['sd_original_compiled.zip.001', 'sd_original_compiled.zip.002', 'sd_original_compiled.zip.003']);
    expect(packages?.parts).toEqual([]);
    expect(compiled?.sources).toEqual([{ name: 'sd_original_compiled/vocab.json', size: 10, sha256: 'c'.repeat(64) }]);
    expect(manifest.files.map((f) => f.name)).toEqual(['sd_original_compiled.zip.001', 'sd_original_compiled.zip.002', 'sd_original_compiled.zip.003', 'sd_original_packages.zip']);
    expect(JSON.stringify(manifest)).not.toContain('/p/');
  });
});

/** Files with given contents under `root`; returns their absolute paths. */
function makeTree(root: string, files: Record<string, string | Buffer>): void {
  rmSync(root, { recursive: true, force: true });
  for (const [rel, data] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), data);
  }
}

const resources = (seed: string): Record<string, string | Buffer> => ({
  'Unet.mlmodelc/weights/weight.bin': Buffer.alloc(300_000, seed),
  'Unet.mlmodelc/metadata.json': '[{"ok": true}]',
  'Unet.mlmodelc/model.mil': 'program(1.0)\n'.repeat(500),
  'Unet.mlmodelc/analytics/coremldata.bin': Buffer.from([1, 2, 3]),
  'TextEncoder.mlmodelc/weights/weight.bin': Buffer.alloc(70_000, 7),
  'vocab.json': '{"a": 1}',
  'merges.txt': '#version: 0.2\n',
  'empty.txt': '',
  '.DS_Store': 'junk',
  'Unet.mlmodelc/._weight.bin': 'fork',
  '__MACOSX/Unet.mlmodelc/x': 'junk',
});

async function zipFolder(src: string, out: string, name: string, level = 0, maxPartSize = 1 << 30) {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const listing = listTree(readdirSync(src).map((n) => path.join(src, n)), topFolder(name));
  return { listing, result: await writeZip({ entries: listing.entries, dir: out, name, level, maxPartSize }) };
}

/** Python: the sha256 of every file entry of a zip, by name, as JSON. */
const INFLATED_DIGESTS =
  'import hashlib, json, sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); ' +
  'print(json.dumps({i.filename: hashlib.sha256(z.read(i)).hexdigest() for i in z.infolist() if not i.is_dir()}))';

describe('the zip writer', () => {
  const src = path.join(tmp, 'Resources');
  const out = path.join(tmp, 'out');

  it('writes a zip unzip -t and Python accept, with one top folder, junk left out, in tree order', async () => {
    makeTree(src, resources('x'));
    mkdirSync(path.join(src, 'controlnet'));
    const { listing, result } = await zipFolder(src, out, 'sd_split_einsum_compiled.zip');
    const file = path.join(out, 'sd_split_einsum_compiled.zip');
    expect(result.files).toEqual([{ name: 'sd_split_einsum_compiled.zip', path: file, size: result.size, sha256: sha(readFileSync(file)) }]);
    expect(execFileSync('unzip', ['-t', file], { encoding: 'utf8' })).toContain('No errors detected');
    const names = execFileSync('unzip', ['-Z1', file], { encoding: 'utf8' }).trim().split('\n');
    expect(names[0]).toBe('sd_split_einsum_compiled/');
    expect(names.every((n) => n.startsWith('sd_split_einsum_compiled/'))).toBe(true);
    expect(names).toContain('sd_split_einsum_compiled/controlnet/');
    expect(names).toContain('sd_split_einsum_compiled/empty.txt');
    expect(names.some((n) => /DS_Store|__MACOSX|\/\._/.test(n))).toBe(false);
    expect(names).toEqual([...names].sort(compareEntryPaths));
    expect(listing.skipped.sort()).toEqual(['.DS_Store', 'Unet.mlmodelc/._weight.bin', '__MACOSX'].sort());
    // Stored (no compression), fixed time, fixed modes.
    const verbose = execFileSync('zipinfo', ['-v', file], { encoding: 'utf8' });
    expect(verbose).not.toMatch(/compression method:\s+deflated/);
    expect(verbose).toMatch(/compression method:\s+none \(stored\)/);
    expect(verbose).toMatch(/file last modified on \(DOS date\/time\):\s+1980 Jan 1 00:00:00/);
    const py = execFileSync('python3', ['-c', 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(z.testzip()); print(sum(i.file_size for i in z.infolist()))', file], { encoding: 'utf8' });
    expect(py.trim().split('\n')).toEqual(['None', String(listing.bytes)]);
    expect(ZIP_DATE.toISOString()).toBe('1980-01-01T00:00:00.000Z');
  });

  it('hashes every source file on the way, and extracts to the same bytes', async () => {
    const { result } = await zipFolder(src, out, 'm_compiled.zip');
    const unpacked = path.join(tmp, 'unpacked');
    rmSync(unpacked, { recursive: true, force: true });
    execFileSync('unzip', ['-q', path.join(out, 'm_compiled.zip'), '-d', unpacked]);
    for (const s of result.sources) {
      const data = readFileSync(path.join(unpacked, s.name));
      expect(s.sha256, s.name).toBe(sha(data));
      expect(s.size).toBe(data.length);
      expect(data.equals(readFileSync(path.join(src, s.name.replace(/^m_compiled\//, ''))))).toBe(true);
    }
    expect(result.sources.map((s) => s.name)).toContain('m_compiled/Unet.mlmodelc/weights/weight.bin');
  });

  it('gives the same bytes for the same tree whatever its times, modes and creation order', async () => {
    const first = await zipFolder(src, out, 'm_compiled.zip');
    const bytes = readFileSync(path.join(out, 'm_compiled.zip'));
    // The same content, written in another order, with other times and modes.
    const other = path.join(tmp, 'Resources-again');
    const files = resources('x');
    makeTree(other, Object.fromEntries(Object.entries(files).reverse()));
    mkdirSync(path.join(other, 'controlnet'));
    utimesSync(path.join(other, 'vocab.json'), new Date('2031-05-05'), new Date('2031-05-05'));
    chmodSync(path.join(other, 'merges.txt'), 0o600);
    const second = await zipFolder(other, path.join(tmp, 'out2'), 'm_compiled.zip');
    expect(second.result.sha256).toBe(first.result.sha256);
    expect(readFileSync(path.join(tmp, 'out2', 'm_compiled.zip')).equals(bytes)).toBe(true);
    // And a changed byte changes the zip.
    writeFileSync(path.join(other, 'vocab.json'), '{"a": 2}');
    expect((await zipFolder(other, path.join(tmp, 'out2'), 'm_compiled.zip')).result.sha256).not.toBe(first.result.sha256);
  });

  it('cuts parts of at most max bytes that cat joins into the whole zip, each hashed', async () => {
    const whole = await zipFolder(src, out, 'm_compiled.zip');
    const wholeBytes = readFileSync(path.join(out, 'm_compiled.zip'));
    const max = 100_000;
    const split = await zipFolder(src, path.join(tmp, 'parts'), 'm_compiled.zip', 0, max);
    // Every part but the last is max bytes; the last holds the rest.
    const count = Math.ceil(whole.result.size / max);
    expect(count).toBeGreaterThan(2);
    expect(split.result.files.map((f) => [f.name, f.size])).toEqual(
      Array.from({ length: count }, (_, i) => [`m_compiled.zip.${String(i + 1).padStart(3, '0')}`, i < count - 1 ? max : whole.result.size - (count - 1) * max]),
    );
    for (const f of split.result.files) expect(f.sha256).toBe(sha(readFileSync(f.path)));
    const joined = Buffer.concat(split.result.files.map((f) => readFileSync(f.path)));
    expect(joined.equals(wholeBytes)).toBe(true);
    expect(split.result.sha256).toBe(whole.result.sha256);
    const cat = path.join(tmp, 'joined.zip');
    execFileSync('sh', ['-c', `cat "$@" > ${cat}`, 'sh', ...split.result.files.map((f) => f.path)]);
    expect(execFileSync('unzip', ['-t', cat], { encoding: 'utf8' })).toContain('No errors detected');
  });

  it('keeps a zip of exactly max bytes whole, and makes a 1-byte last part at max - 1', async () => {
    const { result } = await zipFolder(src, out, 'm_compiled.zip');
    const exact = await zipFolder(src, path.join(tmp, 'exact'), 'm_compiled.zip', 0, result.size);
    expect(exact.result.files.map((f) => f.name)).toEqual(['m_compiled.zip']);
    expect(readdirSync(path.join(tmp, 'exact'))).toEqual(['m_compiled.zip']);
    const under = await zipFolder(src, path.join(tmp, 'under'), 'm_compiled.zip', 0, result.size - 1);
    expect(under.result.files.map((f) => [f.name, f.size])).toEqual([
      ['m_compiled.zip.001', result.size - 1],
      ['m_compiled.zip.002', 1],
    ]);
    expect(under.result.files[1]?.sha256).toBe(sha(readFileSync(under.result.files[1]?.path ?? '')));
  });

  it('deflates at compression-level 1-9, still valid', async () => {
    const stored = await zipFolder(src, out, 'm.zip', 0);
    const deflated = await zipFolder(src, path.join(tmp, 'deflated'), 'm.zip', 6);
    expect(deflated.result.method).toBe('deflate');
    expect(deflated.result.size).toBeLessThan(stored.result.size / 2);
    expect(execFileSync('unzip', ['-t', path.join(tmp, 'deflated', 'm.zip')], { encoding: 'utf8' })).toContain('No errors detected');
    // The digests are of the files packaged, whatever the compression: Python's zipfile inflates the same bytes.
    expect(deflated.result.sources).toEqual(stored.result.sources);
    const inflated = execFileSync('python3', ['-c', INFLATED_DIGESTS, path.join(tmp, 'deflated', 'm.zip')], { encoding: 'utf8' });
    expect(JSON.parse(inflated)).toEqual(Object.fromEntries(stored.result.sources.map((s) => [s.name, s.sha256])));
  });

  it('follows links to files, skips links to folders, and fails on a file that changes', async () => {
    const linked = path.join(tmp, 'linked');
    makeTree(linked, { 'real/a.bin': 'abc' });
    symlinkSync(path.join(linked, 'real', 'a.bin'), path.join(linked, 'link.bin'));
    symlinkSync(path.join(linked, 'real'), path.join(linked, 'loop'));
    const listing = listTree(readdirSync(linked).map((n) => path.join(linked, n)), 't');
    expect(listing.entries.map((e) => [e.name, e.size])).toEqual([
      ['t/', 0],
      ['t/link.bin', 3],
      ['t/real/', 0],
      ['t/real/a.bin', 3],
    ]);
    expect(listing.skipped).toEqual(['loop']);
    const wrong = listing.entries.map((e) => (e.name === 't/link.bin' ? { ...e, size: 4 } : e));
    const dir = path.join(tmp, 'changed');
    mkdirSync(dir, { recursive: true });
    await expect(writeZip({ entries: wrong, dir, name: 't.zip', level: 0, maxPartSize: 1 << 20 })).rejects.toThrow(/changed while it was packaged/);
  });

  it('gives a file of 4 GiB or more a ZIP64 field in its local header', () => {
    expect(zipEntry('t/small.bin', 0xffffffff, 0).getLocalFileDataExtra()).toHaveLength(0);
    const big = zipEntry('t/big.bin', 5_140_000_000, 0);
    const extra = big.getLocalFileDataExtra();
    expect(extra.readUInt16LE(0)).toBe(0x0001);
    expect(extra.readUInt16LE(2)).toBe(16);
    expect(big.isZip64()).toBe(true);
    expect(big.getMethod()).toBe(0);
    expect(zipEntry('t/x.bin', 10, 9).getMethod()).toBe(8);
    expect(zipEntry('t/dir/', 0, 9).getMethod()).toBe(0);
  });

  it('reads stored entries into a fixed pool: a reader waits for a buffer the writer gives back', async () => {
    const pool = new BufferPool(2, 16);
    const a = await pool.acquire();
    const b = await pool.acquire();
    expect(pool.available).toBe(0);
    let third: Buffer | undefined;
    const waiting = pool.acquire().then((x) => (third = x));
    await Promise.resolve();
    expect(third).toBeUndefined();
    pool.release(Buffer.alloc(16)); // not the pool's: ignored
    await Promise.resolve();
    expect(third).toBeUndefined();
    pool.release(a.subarray(0, 5)); // the tail of a file: gives back the whole buffer
    await waiting;
    expect(third).toBe(a);
    pool.release(b);
    expect(pool.available).toBe(1);
  });

  it('refuses to start without room for the zips', () => {
    expect(spaceProblem(4 * GIB, 10 * GIB, '/tmp')).toBeUndefined();
    expect(spaceProblem(4 * GIB, 4 * GIB, '/tmp')).toMatch(/needs about 4\.0 GiB in \/tmp, and only 4\.0 GiB is free/);
  });
});

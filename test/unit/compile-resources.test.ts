import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ConversionOptions } from '../../src/config.js';
import { CompileError, compileResources } from '../../src/converter/compile.js';
import { checkBundle } from '../../src/verify/bundle/check.js';
import { expectationsFor } from '../../src/verify/bundle/expect.js';
import { readBundle } from '../../src/verify/bundle/read.js';
import { HTML_PAGE, MERGES, clipVocab } from './bundle-fixtures.js';
import { ROOT, options } from './fixtures.js';

/**
 * compile.ts for real, as the finishing job runs it: packages written by the stand-in converter
 * (test/standin), compiled by the stand-in xcrun (test/standin/bin/xcrun, found on PATH through the
 * action's allow-listed child environment, as the e2e jobs put it there), the tokenizer files from a
 * local HTTP server; the Resources folder is then read and checked by src/verify/bundle, and its
 * compiled models compared with what the stand-in converter's own bundling writes.
 */

const STANDIN = path.join(ROOT, 'test', 'standin');
const SD = 'runwayml/stable-diffusion-v1-5';
const PARTS = ['--convert-unet', '--chunk-unet', '--convert-text-encoder', '--convert-vae-decoder', '--convert-vae-encoder'];

let work: string;
let packages: string;
let server: Server;
let base: string;

function convert(out: string, ...more: string[]): void {
  execFileSync('python3', ['-m', 'python_coreml_stable_diffusion.torch2coreml', '--model-version', SD, ...PARTS, ...more, '-o', out], {
    env: { PATH: process.env.PATH, HOME: work, PYTHONPATH: STANDIN, HF_TOKEN: 'hf_standin', PYTHONDONTWRITEBYTECODE: '1' },
    stdio: 'pipe',
  });
}

function tree(root: string): string[] {
  return (readdirSync(root, { recursive: true, withFileTypes: true }) as Array<{ isFile(): boolean; parentPath: string; name: string }>)
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
    .sort();
}

const conversion = (out: string, over: Partial<ConversionOptions> = {}): ConversionOptions =>
  options({
    modelVersion: SD,
    outputDir: out,
    parts: ['text_encoder', 'vae_decoder', 'vae_encoder', 'unet'],
    chunkUnet: true,
    attention: 'SPLIT_EINSUM',
    urls: { vocabulary: `${base}/vocab.json`, merges: `${base}/merges.txt` },
    ...over,
  });

/** A fresh copy of the converted packages (the hand-off as the finishing job has it). */
function handoff(name: string): string {
  const out = path.join(work, name);
  cpSync(packages, out, { recursive: true });
  return out;
}

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'compile-resources-'));
  packages = path.join(work, 'packages');
  convert(packages);
  server = createServer((request, response) => {
    const body = request.url === '/vocab.json' ? clipVocab() : request.url === '/merges.txt' ? MERGES : undefined;
    response.writeHead(body === undefined ? 404 : 200, { 'content-type': body === undefined ? 'text/html' : 'application/octet-stream' });
    response.end(body ?? HTML_PAGE);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(work, { recursive: true, force: true });
});

afterEach(() => {
  vi.unstubAllEnvs();
});

const onPath = () => {
  vi.stubEnv('PATH', `${path.join(STANDIN, 'bin')}:${process.env.PATH ?? ''}`);
  vi.stubEnv('NO_PROXY', '127.0.0.1');
  vi.stubEnv('no_proxy', '127.0.0.1');
};

describe('compile.ts with the stand-in xcrun: a Resources folder the bundle check accepts', () => {
  it('compiles, names and fetches what the converter bundles, and src/verify/bundle passes it', async () => {
    onPath();
    const out = handoff('good');
    const dump = path.join(work, 'env.jsonl');
    vi.stubEnv('STANDIN_ENV_DUMP', dump);
    vi.stubEnv('HF_TOKEN', 'hf_never_given_to_xcrun');
    const report = await compileResources(conversion(out));
    expect(report.compiled.map((t) => t.target)).toEqual([
      'Resources/TextEncoder.mlmodelc',
      'Resources/VAEDecoder.mlmodelc',
      'Resources/VAEEncoder.mlmodelc',
      'Resources/Unet.mlmodelc',
      'Resources/UnetChunk1.mlmodelc',
      'Resources/UnetChunk2.mlmodelc',
    ]);
    const resources = path.join(out, 'Resources');
    const verdict = checkBundle(readBundle(resources), expectationsFor(conversion(out), (pkg) => existsSync(path.join(out, pkg))));
    expect(verdict.findings).toEqual([]);
    expect(verdict.passed).toBe(true);
    expect(verdict.facts).toMatchObject({ kind: 'sd', attention: 'split_einsum', chunked: true, vocabularySize: 49408, latent: { h: 64, w: 64 } });
    expect(readdirSync(path.join(out, '.coreml-action'))).toEqual([]);
    // Six xcrun processes, each with the allow-listed environment: no Hub token.
    const envs = readFileSync(dump, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { module: string; env: Record<string, string> });
    expect(envs.map((e) => e.module)).toEqual(Array(6).fill('xcrun.coremlcompiler'));
    for (const e of envs) {
      expect(Object.keys(e.env).filter((k) => k.startsWith('HF_') || k.startsWith('HUGGING'))).toEqual([]);
      expect(e.env.PATH?.split(':')).toContain(path.join(STANDIN, 'bin'));
    }

    // The same compiled models, byte for byte, as the stand-in converter's own bundling writes.
    const bundled = handoff('bundled');
    convert(bundled, '--bundle-resources-for-swift-cli');
    for (const model of report.compiled.map((t) => t.target)) {
      const [mine, theirs] = [path.join(out, model), path.join(bundled, model)];
      expect(tree(mine)).toEqual(tree(theirs));
      for (const file of tree(mine)) expect(readFileSync(path.join(mine, file)).equals(readFileSync(path.join(theirs, file))), `${model}/${file}`).toBe(true);
    }
  });

  it('a second run keeps the compiled models and writes the tokenizer files again', async () => {
    onPath();
    const out = handoff('again');
    await compileResources(conversion(out));
    const invocations = path.join(work, 'again.jsonl');
    vi.stubEnv('STANDIN_INVOCATIONS', invocations);
    const second = await compileResources(conversion(out));
    expect(second.compiled).toEqual([]);
    expect(second.kept).toHaveLength(6);
    expect(second.tokenizer).toEqual(['Resources/vocab.json', 'Resources/merges.txt']);
    expect(existsSync(invocations)).toBe(false);
  });

  it('an error page is refused, not written', async () => {
    onPath();
    const out = handoff('error-page');
    const error = (await compileResources(conversion(out, { urls: { vocabulary: `${base}/gone/vocab.json` } })).catch((e: unknown) => e)) as CompileError;
    expect(error).toBeInstanceOf(CompileError);
    expect(error.diagnosis.title).toBe(`GET ${base}/gone/vocab.json answered 404, so vocab.json was not written (the converter would have written the error page into it).`);
    expect(readdirSync(path.join(out, 'Resources')).filter((f) => !f.endsWith('.mlmodelc'))).toEqual([]);
  });

  it("no Xcode selected, or no xcrun at all: the missing coremlcompiler's diagnosis, nothing compiled", async () => {
    onPath();
    const out = handoff('no-xcode');
    vi.stubEnv('STANDIN_NO_COREMLCOMPILER', '1');
    const noTool = (await compileResources(conversion(out)).catch((e: unknown) => e)) as CompileError;
    expect(noTool.diagnosis.title).toBe("Xcode's coremlcompiler was not found, so the Resources could not be compiled.");
    vi.unstubAllEnvs();
    vi.stubEnv('PATH', path.join(work, 'nowhere'));
    const noXcrun = (await compileResources(conversion(out)).catch((e: unknown) => e)) as CompileError;
    expect(noXcrun.diagnosis).toEqual(noTool.diagnosis);
    expect(readdirSync(path.join(out, 'Resources'))).toEqual([]);
    expect(readdirSync(path.join(out, '.coreml-action'))).toEqual([]);
  });

  it("a half-written package fails with coremlcompiler's status and line (the converter would go on)", async () => {
    onPath();
    const out = handoff('half');
    const unet = `Stable_Diffusion_version_${SD.replace('/', '_')}_unet.mlpackage`;
    rmSync(path.join(out, unet, 'Data', 'com.apple.CoreML', 'weights'), { recursive: true });
    const error = (await compileResources(conversion(out)).catch((e: unknown) => e)) as CompileError;
    expect(error.diagnosis.title).toBe(`coremlcompiler exited with code 1 compiling ${unet}: coremlcompiler: error: Failed to read model package at ${path.join(out, unet)}`);
    expect(readdirSync(path.join(out, 'Resources')).sort()).toEqual(['TextEncoder.mlmodelc', 'VAEDecoder.mlmodelc', 'VAEEncoder.mlmodelc']);
  });
});

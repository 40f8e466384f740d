import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CompileError,
  compileCommand,
  compiledName,
  compileFailure,
  compileRefusal,
  compileResources,
  resourceTargets,
  tokenizerDownloads,
  type CompileDeps,
} from '../../src/converter/compile.js';
import { diagnose } from '../../src/converter/diagnose.js';
import type { ProcessResult, RunOptions } from '../../src/process.js';
import { options } from './fixtures.js';

const SD = 'runwayml/stable-diffusion-v1-5';
const pkg = (part: string, model = SD) => `Stable_Diffusion_version_${model.replaceAll('/', '_')}_${part}.mlpackage`;

describe('resourceTargets: the packages bundling compiles and their Resources names', () => {
  it('names each as the converter does, in its order, and only what is there', () => {
    const present = [
      'Resources',
      pkg('vae_decoder'),
      pkg('unet_chunk2'),
      pkg('text_encoder_2'),
      pkg('unet'),
      pkg('mmdit'),
      pkg('unet_chunk1'),
      pkg('text_encoder'),
      pkg('refiner'),
      pkg('refiner_chunk1'),
      pkg('control-unet'),
      pkg('control-unet_chunk2'),
      pkg('safety_checker'),
      pkg('vae_encoder'),
      'ControlNet_lllyasviel_sd-controlnet-mlsd.mlpackage',
      'ControlNet_lllyasviel_control_v11p_sd15_canny.mlpackage',
      pkg('unet', 'other/model'),
      pkg('unet_chunked_pipeline'),
      'notes.txt',
    ];
    const targets = resourceTargets({ modelVersion: SD, controlnets: ['lllyasviel/sd-controlnet-mlsd', 'lllyasviel/control_v11p_sd15_canny', 'absent/net'] }, present);
    expect(targets.map((t) => [t.package.replace(`Stable_Diffusion_version_runwayml_stable-diffusion-v1-5_`, ''), t.target])).toEqual([
      ['text_encoder.mlpackage', 'Resources/TextEncoder.mlmodelc'],
      ['text_encoder_2.mlpackage', 'Resources/TextEncoder2.mlmodelc'],
      ['vae_decoder.mlpackage', 'Resources/VAEDecoder.mlmodelc'],
      ['vae_encoder.mlpackage', 'Resources/VAEEncoder.mlmodelc'],
      ['unet.mlpackage', 'Resources/Unet.mlmodelc'],
      ['unet_chunk1.mlpackage', 'Resources/UnetChunk1.mlmodelc'],
      ['unet_chunk2.mlpackage', 'Resources/UnetChunk2.mlmodelc'],
      ['refiner.mlpackage', 'Resources/UnetRefiner.mlmodelc'],
      ['refiner_chunk1.mlpackage', 'Resources/UnetRefinerChunk1.mlmodelc'],
      ['mmdit.mlpackage', 'Resources/MultiModalDiffusionTransformer.mlmodelc'],
      ['control-unet.mlpackage', 'Resources/ControlledUnet.mlmodelc'],
      ['control-unet_chunk2.mlpackage', 'Resources/ControlledUnetChunk2.mlmodelc'],
      ['safety_checker.mlpackage', 'Resources/SafetyChecker.mlmodelc'],
      ['ControlNet_lllyasviel_sd-controlnet-mlsd.mlpackage', 'Resources/controlnet/LllyasvielSdControlnetMlsd.mlmodelc'],
      ['ControlNet_lllyasviel_control_v11p_sd15_canny.mlpackage', 'Resources/controlnet/LllyasvielControlV11PSd15Canny.mlmodelc'],
    ]);
  });

  it('takes the model-version as the converter names packages after it (every / made _)', () => {
    expect(resourceTargets({ modelVersion: './models/sd', controlnets: [] }, ['Stable_Diffusion_version_._models_sd_unet.mlpackage'])).toEqual([
      { package: 'Stable_Diffusion_version_._models_sd_unet.mlpackage', target: 'Resources/Unet.mlmodelc' },
    ]);
    expect(resourceTargets({ modelVersion: SD, controlnets: [] }, [])).toEqual([]);
  });
});

describe('the compile command and what it writes', () => {
  it('is an argv: a path with spaces or shell characters stays one argument', () => {
    const hostile = '/w/out dir/Stable_Diffusion_version_a;rm -rf ~_unet.mlpackage';
    expect(compileCommand(hostile, '/w/out dir/.coreml-action/compile-x')).toEqual(['xcrun', 'coremlcompiler', 'compile', hostile, '/w/out dir/.coreml-action/compile-x']);
  });

  it('names the compiled model after the package', () => {
    expect(compiledName(pkg('unet_chunk1'))).toBe('Stable_Diffusion_version_runwayml_stable-diffusion-v1-5_unet_chunk1.mlmodelc');
    expect(compiledName('ControlNet_a_b.mlpackage')).toBe('ControlNet_a_b.mlmodelc');
  });
});

describe('tokenizerDownloads', () => {
  it("takes the converter's CLIP defaults where no URL is configured", () => {
    expect(tokenizerDownloads({})).toEqual([
      { file: 'vocab.json', url: 'https://huggingface.co/openai/clip-vit-base-patch32/resolve/main/vocab.json' },
      { file: 'merges.txt', url: 'https://huggingface.co/openai/clip-vit-base-patch32/resolve/main/merges.txt' },
    ]);
    expect(tokenizerDownloads({ vocabulary: 'https://example.com/v.json', merges: 'https://example.com/m.txt' }).map((d) => d.url)).toEqual(['https://example.com/v.json', 'https://example.com/m.txt']);
  });
});

describe('compileRefusal', () => {
  it('refuses include-t5, which only the converter bundles', () => {
    expect(compileRefusal({ includeT5: false })).toBeUndefined();
    expect(compileRefusal({ includeT5: true })).toMatch(/^include-t5: .*TextEncoderT5\.mlmodelc/);
  });
});

describe('compileFailure: the exit status is checked (the converter ignores it)', () => {
  const end = (exitCode: number | null, tail: string[], signal: NodeJS.Signals | null = null) => ({ exitCode, signal, tail });
  const missingCompiler = diagnose(end(1, ['xcrun: error: unable to find utility "coremlcompiler", not a developer tool or in PATH']));

  it('passes a clean exit that wrote the model', () => {
    expect(compileFailure(end(0, []), pkg('unet'), true)).toBeUndefined();
  });

  it('fails a clean exit that wrote nothing', () => {
    expect(compileFailure(end(0, []), pkg('unet'), false)?.title).toBe(`coremlcompiler exited 0 but wrote no ${compiledName(pkg('unet'))} for ${pkg('unet')}.`);
  });

  it('gives no xcrun at all (ENOENT) the diagnosis of a missing coremlcompiler', () => {
    expect(missingCompiler.hints.join('\n')).toMatch(/xcode-select/);
    // runProcess's report of a command that cannot start.
    expect(compileFailure(end(127, ['xcrun: spawn xcrun ENOENT']), pkg('unet'), false)).toEqual(missingCompiler);
    expect(compileFailure(end(72, ['xcrun: error: unable to find utility "coremlcompiler", not a developer tool or in PATH']), pkg('unet'), false)).toEqual(missingCompiler);
  });

  it("names the package and coremlcompiler's last line otherwise", () => {
    const d = compileFailure(end(1, ['coremlcompiler: error: Failed to read model package at /w/out/x.mlpackage', '']), pkg('unet'), false);
    expect(d?.title).toBe(`coremlcompiler exited with code 1 compiling ${pkg('unet')}: coremlcompiler: error: Failed to read model package at /w/out/x.mlpackage`);
    expect(compileFailure(end(null, [], 'SIGKILL'), pkg('unet'), false)?.title).toMatch(/ran out of memory/);
    expect(compileFailure(end(null, [], 'SIGTERM'), pkg('unet'), true)?.title).toBe(`coremlcompiler was killed by SIGTERM compiling ${pkg('unet')}.`);
  });
});

describe('compileResources with a fake coremlcompiler and a fake HTTP', () => {
  let out: string;
  const calls: string[][] = [];
  const fetched: string[] = [];
  const ok = (over: Partial<ProcessResult> = {}): ProcessResult => ({ exitCode: 0, signal: null, tail: [], durationMs: 1, ...over });
  /** Writes `<dir>/<stem>.mlmodelc/model.mil` as coremlcompiler would, unless told to fail. */
  const fakeRun =
    (fail?: (argv: readonly string[]) => ProcessResult | undefined) =>
    async (argv: readonly string[], opts: RunOptions): Promise<ProcessResult> => {
      calls.push([...argv]);
      expect(opts.env).toEqual({ PATH: '/usr/bin' });
      const failed = fail?.(argv);
      if (failed) return failed;
      const made = path.join(argv[4] ?? '', compiledName(path.basename(argv[3] ?? '')));
      mkdirSync(made, { recursive: true });
      writeFileSync(path.join(made, 'model.mil'), `compiled ${path.basename(argv[3] ?? '')}`);
      return ok();
    };
  const fakeFetch =
    (status = 200) =>
    async (url: string) => {
      fetched.push(url);
      return { status, body: Buffer.from(status === 200 ? `body of ${url}` : '<!DOCTYPE html><html><title>Error</title></html>') };
    };
  const deps = (over: CompileDeps = {}): CompileDeps => ({ run: fakeRun(), fetch: fakeFetch(), env: { PATH: '/usr/bin' }, ...over });
  const opts = () => ({ ...options({ modelVersion: SD, outputDir: out }), urls: { vocabulary: 'https://example.com/vocab.json' } });

  beforeEach(() => {
    out = mkdtempSync(path.join(tmpdir(), 'compile-'));
    calls.length = 0;
    fetched.length = 0;
    for (const part of ['unet', 'unet_chunk1', 'unet_chunk2', 'text_encoder']) mkdirSync(path.join(out, pkg(part)));
  });
  afterEach(() => rmSync(out, { recursive: true, force: true }));

  it('compiles each into a fresh folder, renames it into Resources, keeps what is there, and writes the tokenizer files', async () => {
    mkdirSync(path.join(out, 'Resources', 'UnetChunk1.mlmodelc'), { recursive: true });
    writeFileSync(path.join(out, 'Resources', 'UnetChunk1.mlmodelc', 'model.mil'), 'from before');
    const report = await compileResources(opts(), deps());
    expect(report.compiled.map((t) => t.target)).toEqual(['Resources/TextEncoder.mlmodelc', 'Resources/Unet.mlmodelc', 'Resources/UnetChunk2.mlmodelc']);
    expect(report.kept.map((t) => t.target)).toEqual(['Resources/UnetChunk1.mlmodelc']);
    expect(report.tokenizer).toEqual(['Resources/vocab.json', 'Resources/merges.txt']);
    expect(calls.map((c) => c.slice(0, 4))).toEqual(['text_encoder', 'unet', 'unet_chunk2'].map((p) => ['xcrun', 'coremlcompiler', 'compile', path.join(out, pkg(p))]));
    const scratch = new Set(calls.map((c) => c[4]));
    expect(scratch.size).toBe(3);
    for (const dir of scratch) expect(path.dirname(dir ?? '')).toBe(path.join(out, '.coreml-action'));
    expect(readdirSync(path.join(out, '.coreml-action'))).toEqual([]);
    expect(readFileSync(path.join(out, 'Resources', 'Unet.mlmodelc', 'model.mil'), 'utf8')).toBe(`compiled ${pkg('unet')}`);
    expect(readFileSync(path.join(out, 'Resources', 'UnetChunk1.mlmodelc', 'model.mil'), 'utf8')).toBe('from before');
    expect(fetched).toEqual(['https://example.com/vocab.json', 'https://huggingface.co/openai/clip-vit-base-patch32/resolve/main/merges.txt']);
    expect(readFileSync(path.join(out, 'Resources', 'vocab.json'), 'utf8')).toBe('body of https://example.com/vocab.json');
    expect(readdirSync(path.join(out, 'Resources')).sort()).toEqual(['TextEncoder.mlmodelc', 'Unet.mlmodelc', 'UnetChunk1.mlmodelc', 'UnetChunk2.mlmodelc', 'merges.txt', 'vocab.json']);
  });

  it('stops at a failed compile with its diagnosis, leaving no compiled model of it and no scratch folder', async () => {
    const run = fakeRun((argv) => (argv[3]?.endsWith('_unet.mlpackage') ? ok({ exitCode: 1, tail: ['coremlcompiler: error: Failed to read model package at x'] }) : undefined));
    const error = await compileResources(opts(), deps({ run })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CompileError);
    expect((error as CompileError).diagnosis.title).toBe(`coremlcompiler exited with code 1 compiling ${pkg('unet')}: coremlcompiler: error: Failed to read model package at x`);
    expect(readdirSync(path.join(out, 'Resources'))).toEqual(['TextEncoder.mlmodelc']);
    expect(readdirSync(path.join(out, '.coreml-action'))).toEqual([]);
    expect(fetched).toEqual([]);
  });

  it('a clean exit without the compiled model fails too', async () => {
    const run = fakeRun(() => ok());
    const error = (await compileResources(opts(), deps({ run })).catch((e: unknown) => e)) as CompileError;
    expect(error.diagnosis.title).toMatch(/^coremlcompiler exited 0 but wrote no .*_text_encoder\.mlmodelc/);
    expect(existsSync(path.join(out, 'Resources', 'TextEncoder.mlmodelc'))).toBe(false);
  });

  it('an error status never lands in vocab.json', async () => {
    writeFileSync(path.join(out, 'keep.txt'), 'the user');
    const error = (await compileResources(opts(), deps({ fetch: fakeFetch(404) })).catch((e: unknown) => e)) as CompileError;
    expect(error.diagnosis.title).toBe('GET https://example.com/vocab.json answered 404, so vocab.json was not written (the converter would have written the error page into it).');
    expect(readdirSync(path.join(out, 'Resources')).filter((f) => !f.endsWith('.mlmodelc'))).toEqual([]);
    const failing = async () => {
      throw new Error('getaddrinfo ENOTFOUND example.com');
    };
    const thrown = (await compileResources(opts(), deps({ fetch: failing })).catch((e: unknown) => e)) as CompileError;
    expect(thrown.diagnosis.title).toBe('Downloading vocab.json from https://example.com/vocab.json failed: getaddrinfo ENOTFOUND example.com');
    expect(readFileSync(path.join(out, 'keep.txt'), 'utf8')).toBe('the user');
  });

  it('refuses include-t5 before running anything', async () => {
    const error = (await compileResources({ ...opts(), includeT5: true }, deps()).catch((e: unknown) => e)) as CompileError;
    expect(error.diagnosis.title).toMatch(/^The Resources cannot be bundled here: include-t5/);
    expect(calls).toEqual([]);
    expect(existsSync(path.join(out, 'Resources'))).toBe(false);
  });
});

import { rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ActionRun } from '../support/action-runner.mjs';
import { freshRunner, type FreshRunner } from '../support/fresh-runner.mjs';
import { startAll } from '../services/index.mjs';

/**
 * Caching end to end: the bundle, the real @actions/cache against Azurite and the local Twirp
 * server, a stand-in Hub (HF_ENDPOINT) serving a small diffusers-shaped model, the stand-in
 * converter, and the stand-in conda of test/standin/bin (no conda installs here). Each run is
 * a fresh "runner" on the same paths: the test wipes everything the previous job left.
 */
const MODEL = 'acme/sd-tiny';
const MB = 1024 * 1024;
const FILES = {
  'model_index.json': JSON.stringify({ _class_name: 'StableDiffusionPipeline', unet: ['diffusers', 'UNet2DConditionModel'], vae: ['diffusers', 'AutoencoderKL'], text_encoder: ['transformers', 'CLIPTextModel'] }),
  'unet/config.json': JSON.stringify({ sample_size: 64, in_channels: 4 }),
  'unet/diffusion_pytorch_model.fp16.safetensors': 3 * MB,
  'unet/diffusion_pytorch_model.safetensors': 6 * MB,
  'vae/config.json': JSON.stringify({ latent_channels: 4 }),
  'vae/diffusion_pytorch_model.fp16.safetensors': MB,
  'text_encoder/config.json': JSON.stringify({ hidden_size: 768 }),
  'text_encoder/model.fp16.safetensors': MB,
  'tokenizer/vocab.json': '{}',
  'README.md': '# tiny',
};
const FP16_BYTES = 5 * MB;

let services: Awaited<ReturnType<typeof startAll>>;
let runner: FreshRunner;
const root = path.join(os.tmpdir(), `coreml-cache-e2e-${process.pid}`);

beforeAll(async () => {
  services = await startAll({ models: [{ id: MODEL, files: FILES }] });
  runner = freshRunner(root, services);
});
afterAll(async () => {
  await services?.stop();
  rmSync(root, { recursive: true, force: true });
});

/** A new job on a new runner: nothing from the previous one but what the caches hold. */
function job(inputs: Record<string, string> = {}) {
  return runner.job({
    'model-version': MODEL,
    'hf-token': services.hfToken,
    'ml-stable-diffusion': inject('standinWheel'),
    // Packaging and publishing have their own suite (publish.test.ts); an artifact upload to a
    // results service these tests take down would fail the step, as it should.
    package: 'false',
    ...inputs,
  });
}

const warnings = (run: ActionRun) => run.annotations.filter((a) => a.level === 'warning').map((a) => a.message);

describe('caches across jobs', () => {
  it('a cold job downloads the fp16 files only, converts, and saves every cache', async () => {
    services.hub.resetStats();
    const { run, converterCalls, condaCalls } = await job();
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.outputs['model-revision-sha']).toBe(services.hub.resolve(MODEL));
    expect(condaCalls).toBe(1);
    expect(converterCalls).toBeGreaterThan(0);
    // The action's own download: fp16 weights and configs, not the float32 weights or README.
    const served = services.hub.stats().bytesServed[MODEL] ?? 0;
    expect(served).toBeGreaterThanOrEqual(FP16_BYTES);
    expect(served).toBeLessThan(FP16_BYTES + MB);
    for (const name of ['cache-hit-env', 'cache-hit-hf', 'cache-hit-outputs']) expect(run.outputs[name], name).toBe('false');
    expect(run.summary).toContain('### Caches');
    expect(run.summary).toMatch(/\| Hugging Face \| miss \| – \| [^|]+ \| saved, [\d.]+ MiB \|/);
    expect(run.summary).toMatch(/\| outputs \| miss \|.*\| saved/);
  });

  it('a second job restores the env and the Hub files: no conda, no pip, no model bytes, converter offline', async () => {
    services.hub.resetStats();
    const { run, converterCalls, condaCalls } = await job({ 'cache-outputs': 'false' });
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.outputs['cache-hit-env']).toBe('true');
    expect(run.outputs['cache-hit-hf']).toBe('true');
    expect(condaCalls).toBe(0);
    expect(run.stdout).not.toContain('-m pip install');
    expect(services.hub.stats().bytesServed[MODEL] ?? 0).toBe(0);
    expect(converterCalls).toBeGreaterThan(0);
    expect(run.outputs['psnr-passed']).toBe('true');
  });

  it('a third job restores the finished conversion and skips setup and the converter', async () => {
    const { run, converterCalls, condaCalls } = await job();
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.outputs['cache-hit-outputs']).toBe('true');
    expect(converterCalls).toBe(0);
    expect(condaCalls).toBe(0);
    const psnr = JSON.parse(run.outputs.psnr ?? '[]') as Array<{ part: string; passed: boolean }>;
    expect(psnr.map((r) => r.part).sort()).toEqual(['text_encoder', 'unet', 'unet', 'vae_decoder']);
    expect(run.outputs['psnr-passed']).toBe('true');
    expect(JSON.parse(run.outputs.mlpackages ?? '[]')).toHaveLength(3);
  });

  it('a new commit misses the outputs, restores the older Hub files by the restore key and downloads only what changed', async () => {
    const sha = services.hub.setRevision(MODEL, 'main', undefined, { 'unet/diffusion_pytorch_model.fp16.safetensors': 2 * MB });
    services.hub.resetStats();
    const { run, converterCalls } = await job();
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.outputs['model-revision-sha']).toBe(sha);
    expect(run.outputs['cache-hit-outputs']).toBe('false');
    expect(run.outputs['cache-hit-hf']).toBe('false');
    expect(run.summary).toMatch(/\| Hugging Face \| partial hit \|/);
    const served = services.hub.stats().bytesServed[MODEL] ?? 0;
    expect(served).toBeGreaterThanOrEqual(2 * MB);
    expect(served).toBeLessThan(3 * MB);
    expect(converterCalls).toBeGreaterThan(0);
  });
});

describe('a failing cache service', () => {
  it('down: warnings, and the job still converts', async () => {
    await services.results.down();
    try {
      const { run, converterCalls } = await job({ 'cache-outputs': 'false' });
      expect(run.exitCode, run.stdout).toBe(0);
      expect(converterCalls).toBeGreaterThan(0);
      expect(warnings(run).some((w) => /cache/i.test(w))).toBe(true);
      expect(run.outputs['cache-hit-env']).toBe('false');
    } finally {
      await services.results.up();
    }
  });

  it('answering 500: warnings, and the job still converts', async () => {
    services.results.failNext('*', 500, 1000);
    try {
      const { run, converterCalls } = await job({ 'cache-outputs': 'false' });
      expect(run.exitCode, run.stdout).toBe(0);
      expect(converterCalls).toBeGreaterThan(0);
      expect(warnings(run).some((w) => /cache/i.test(w))).toBe(true);
    } finally {
      services.results.clearFailures();
    }
  }, 600_000);
});

describe('a Hub that cannot be asked', () => {
  // huggingface_hub falls back to the cached files of `main` when the Hub cannot be reached: the
  // Hub files restored by the restore key let the converter run all the same.
  it('warns, keys by the revision name, and converts from the files the restore key brought', async () => {
    await services.hub.down();
    try {
      const { run } = await job({ 'cache-outputs': 'false' });
      expect(warnings(run).some((w) => w.includes(`Could not resolve ${MODEL}@main`))).toBe(true);
      expect(run.outputs['model-revision-sha']).toBe('main');
      expect(run.summary).toMatch(/\| Hugging Face \| partial hit \|/);
      expect(run.exitCode, run.stdout).toBe(0);
    } finally {
      await services.hub.up();
    }
  });
});

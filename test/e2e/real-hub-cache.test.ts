import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from '../support/action-runner.mjs';
import { freshRunner } from '../support/fresh-runner.mjs';
import { startAll } from '../services/index.mjs';
import { filesOf } from '../support/files.mjs';

/**
 * The Hugging Face cache the action fills, read by the real loaders: tiny pipelines written by
 * real diffusers (test/python/tiny_pipeline.py) are served by the stand-in Hub as stabilityai
 * lays its repositories out (plus what a real repository also holds and the converter never
 * loads); the bundle fills the cache; then real diffusers loads from it offline with the calls
 * torch2coreml makes (test/python/load_like_converter.py), recording every file it reads.
 */
const SD = 'acme/tiny-sd';
const SDXL = 'acme/tiny-sdxl';
const REFINER = 'acme/tiny-refiner';
const CONTROLNET = 'acme/tiny-controlnet';
/** SD without any fp16 file (plain safetensors only). */
const PLAIN = 'acme/tiny-sd-fp32';
/** SDXL with its second text encoder in fp16 shards (transformers' names) and a folder model_index.json does not name. */
const SHARDED = 'acme/tiny-sdxl-sharded';
const SHARD_TEXT_ENCODER_2 = [
  'import sys, torch',
  'from transformers import CLIPTextModelWithProjection',
  'm = CLIPTextModelWithProjection.from_pretrained(sys.argv[1], variant="fp16", torch_dtype=torch.float16)',
  'm.save_pretrained(sys.argv[2], safe_serialization=True, variant="fp16", max_shard_size="20KB")',
].join('\n');

/** Files a real repository has beside the diffusers layout, none of which the converter loads. */
const EXTRAS = {
  pipeline: {
    'README.md': '# tiny\n',
    '.gitattributes': '*.safetensors filter=lfs diff=lfs merge=lfs -text\n',
    'v1-5-pruned-emaonly.safetensors': 4096,
    'unet/diffusion_pytorch_model.bin': 4096,
    'unet/diffusion_pytorch_model.fp16.bin': 4096,
    'text_encoder/pytorch_model.bin': 4096,
  },
  controlnet: { 'README.md': '# tiny\n', 'diffusion_pytorch_model.bin': 4096, 'diffusion_pytorch_model.fp16.bin': 4096 },
};

const root = path.join(os.tmpdir(), `coreml-real-cache-${process.pid}`);
let services: Awaited<ReturnType<typeof startAll>>;

beforeAll(async () => {
  rmSync(root, { recursive: true, force: true });
  const models = path.join(root, 'models');
  execFileSync(inject('realPython'), [path.join(REPO_ROOT, 'test/python/tiny_pipeline.py'), models, '--kind', 'sd,sdxl,refiner,controlnet'], { stdio: ['ignore', 'ignore', 'ignore'] });
  const repo = (kind: string, extras: Record<string, string | number>) => ({ ...filesOf(path.join(models, kind)), ...extras });
  execFileSync(inject('realPython'), [path.join(REPO_ROOT, 'test/python/tiny_pipeline.py'), path.join(models, 'plain'), '--kind', 'sd', '--variants', 'fp32'], { stdio: ['ignore', 'ignore', 'ignore'] });
  const shards = path.join(root, 'shards');
  execFileSync(inject('realPython'), ['-c', SHARD_TEXT_ENCODER_2, path.join(models, 'sdxl', 'text_encoder_2'), shards], { stdio: ['ignore', 'ignore', 'ignore'] });
  const sharded: Record<string, Buffer | string | number> = repo('sdxl', EXTRAS.pipeline);
  delete sharded['text_encoder_2/model.fp16.safetensors'];
  for (const [name, bytes] of Object.entries(filesOf(shards))) if (name !== 'config.json') sharded[`text_encoder_2/${name}`] = bytes;
  for (const [name, bytes] of Object.entries(filesOf(path.join(models, 'sdxl', 'vae')))) sharded[`vae_1_0/${name}`] = bytes;
  services = await startAll({
    models: [
      { id: SD, files: repo('sd', EXTRAS.pipeline) },
      { id: SDXL, files: repo('sdxl', EXTRAS.pipeline) },
      { id: REFINER, files: repo('refiner', EXTRAS.pipeline) },
      { id: CONTROLNET, files: repo('controlnet', EXTRAS.controlnet) },
      { id: SHARDED, files: sharded },
      { id: PLAIN, files: repo('plain', {}) },
    ],
  });
}, 300_000);
afterAll(async () => {
  await services?.stop();
  rmSync(root, { recursive: true, force: true });
});

/**
 * What the cache may hold that no loader opened: a tokenizer's special_tokens_map.json, which
 * transformers 4.44 takes from tokenizer_config.json when that has the tokens (a few hundred bytes;
 * diffusers' own download fetches it too).
 */
const unread = (result: Loaded) => result.cached.filter((f) => !result.read.includes(f));
const TOKENIZER_MAPS = /^acme\/[\w-]+\/tokenizer(_2)?\/special_tokens_map\.json$/;

interface Loaded {
  loaded: Record<string, { class: string; components?: string[]; dtypes?: string[] }>;
  cached: string[];
  read: string[];
}

/** A job on a fresh runner with its own Hub cache, then the real loader on that cache, offline. */
async function fillThenLoad(name: string, inputs: Record<string, string>, loaderArgs: string[]): Promise<Loaded & { jobLog: string }> {
  const runner = freshRunner(path.join(root, name), services);
  const hubCache = path.join(runner.root, 'hub-cache');
  const { run } = await runner.job(
    { 'ml-stable-diffusion': inject('standinWheel'), 'hf-token': services.hfToken, package: 'false', cache: 'false', ...inputs },
    { env: { HF_HUB_CACHE: hubCache } },
  );
  expect(run.exitCode, run.stderr + run.stdout.slice(-3000)).toBe(0);
  // No token and no Hub: what the cache holds is all the loader can have.
  const env = { PATH: process.env.PATH ?? '', HOME: runner.home, HF_HUB_CACHE: hubCache, HF_HUB_OFFLINE: '1', HF_ENDPOINT: 'http://127.0.0.1:9', HF_HUB_DISABLE_TELEMETRY: '1' };
  const loader = spawnSync(inject('realPython'), [path.join(REPO_ROOT, 'test/python/load_like_converter.py'), ...loaderArgs], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  expect(loader.status, loader.stderr).toBe(0);
  const out = loader.stdout;
  // The filled cache carries transformers' version.txt: no false "cache seems outdated" warning offline.
  expect(readFileSync(path.join(hubCache, 'version.txt'), 'utf8')).toBe('1');
  expect(loader.stderr).not.toMatch(/You are offline and the cache for model files in Transformers/);
  return { ...(JSON.parse(out) as Loaded), jobLog: run.stdout };
}

describe('the filled Hub cache, read by real diffusers offline', () => {
  it('SD 1.x with a ControlNet: the pipeline loads in fp16 and the ControlNet from its plain weights; every cached file but the tokenizer maps is read', async () => {
    const result = await fillThenLoad('sd', { 'model-version': SD, 'convert-controlnet': CONTROLNET, 'unet-support-controlnet': 'true', 'convert-unet': 'true' }, ['--model', SD, '--controlnet', CONTROLNET]);
    expect(result.loaded.pipeline).toMatchObject({ class: 'StableDiffusionPipeline', dtypes: ['torch.float16'] });
    expect(result.loaded.pipeline!.components).toEqual(expect.arrayContaining(['text_encoder', 'tokenizer', 'unet', 'vae', 'scheduler']));
    expect(result.loaded[CONTROLNET]).toEqual({ class: 'ControlNetModel' });
    for (const file of unread(result)) expect(file).toMatch(TOKENIZER_MAPS);
    expect(result.cached).toContain(`${SD}/unet/diffusion_pytorch_model.fp16.safetensors`);
    expect(result.cached).toContain(`${CONTROLNET}/diffusion_pytorch_model.safetensors`);
    for (const file of result.cached) expect(file).not.toMatch(/README|\.gitattributes|\.bin$|pruned/);
  });

  it('SDXL with a sharded fp16 text encoder: shards and index are fetched and loaded; vae_1_0/, which model_index.json does not name, is not fetched', async () => {
    const result = await fillThenLoad('sharded', { 'model-version': SHARDED, 'xl-version': 'true', 'convert-unet': 'true', 'convert-text-encoder': 'true' }, ['--model', SHARDED]);
    expect(result.loaded.pipeline).toMatchObject({ class: 'StableDiffusionXLPipeline', dtypes: ['torch.float16'] });
    const te2 = result.cached.filter((f) => f.startsWith(`${SHARDED}/text_encoder_2/`));
    expect(te2).toContain(`${SHARDED}/text_encoder_2/model.safetensors.index.fp16.json`);
    expect(te2.filter((f) => /model\.fp16-\d{5}-of-\d{5}\.safetensors$/.test(f)).length).toBeGreaterThan(1);
    expect(result.cached.filter((f) => f.includes('/vae_1_0/'))).toEqual([]);
    for (const file of unread(result)) expect(file).toMatch(TOKENIZER_MAPS);
  });

  it('SD without fp16 files, run offline: no fp16 copy is made, and diffusers loads the plain safetensors from the cache as float16', async () => {
    const result = await fillThenLoad('plain', { 'model-version': PLAIN, 'convert-unet': 'true' }, ['--model', PLAIN]);
    expect(result.jobLog).toMatch(/prepare-fp16: not needed, the converter runs offline from the filled cache/);
    expect(result.loaded.pipeline).toMatchObject({ class: 'StableDiffusionPipeline', dtypes: ['torch.float16'] });
    expect(result.cached).toContain(`${PLAIN}/unet/diffusion_pytorch_model.safetensors`);
    for (const file of unread(result)) expect(file).toMatch(TOKENIZER_MAPS);
  });

  it('SDXL with its refiner: both load in fp16 with both text encoders; every cached file but the tokenizer maps is read', async () => {
    const result = await fillThenLoad('sdxl', { 'model-version': SDXL, 'xl-version': 'true', 'refiner-version': REFINER, 'convert-unet': 'true', 'convert-text-encoder': 'true' }, ['--model', SDXL, '--refiner', REFINER]);
    expect(result.loaded.pipeline).toMatchObject({ class: 'StableDiffusionXLPipeline', dtypes: ['torch.float16'] });
    expect(result.loaded.pipeline!.components).toEqual(expect.arrayContaining(['text_encoder', 'text_encoder_2', 'tokenizer', 'tokenizer_2']));
    expect(result.loaded.refiner).toMatchObject({ class: 'StableDiffusionXLImg2ImgPipeline' });
    for (const file of unread(result)) expect(file).toMatch(TOKENIZER_MAPS);
    expect(result.cached.filter((f) => f.startsWith(`${REFINER}/`))).toContain(`${REFINER}/text_encoder_2/model.fp16.safetensors`);
  });
});

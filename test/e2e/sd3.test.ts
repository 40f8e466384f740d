import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import * as os from 'node:os';
import * as path from 'node:path';
import { rmSync } from 'node:fs';
import { freshRunner } from '../support/fresh-runner.mjs';
import { startAll } from '../services/index.mjs';

/**
 * sd3-version fetches what each library loads, and nothing else: DiffusionKit's one checkpoint
 * (sd3_medium.safetensors) of the SD3 repository, not its other multi-GB root files; and the SDXL
 * base pipeline the converter loads through diffusers for the text encoders, in fp16, only the
 * folders its model_index.json names. Then the converter runs offline (the stand-in loads both
 * from the cache, as diffusers and DiffusionKit's hf_hub_download would).
 */
const SD3 = 'stabilityai/stable-diffusion-3-medium';
const SDXL_BASE = 'stabilityai/stable-diffusion-xl-base-1.0';
const MB = 1024 * 1024;
const COMPONENTS = ['text_encoder', 'text_encoder_2', 'tokenizer', 'tokenizer_2', 'unet', 'vae', 'scheduler'];
const sdxlIndex = {
  _class_name: 'StableDiffusionXLPipeline',
  _diffusers_version: '0.19.0.dev0',
  force_zeros_for_empty_prompt: true,
  scheduler: ['diffusers', 'EulerDiscreteScheduler'],
  text_encoder: ['transformers', 'CLIPTextModel'],
  text_encoder_2: ['transformers', 'CLIPTextModelWithProjection'],
  tokenizer: ['transformers', 'CLIPTokenizer'],
  tokenizer_2: ['transformers', 'CLIPTokenizer'],
  unet: ['diffusers', 'UNet2DConditionModel'],
  vae: ['diffusers', 'AutoencoderKL'],
};
const sdxlFiles: Record<string, string | number> = {
  'model_index.json': JSON.stringify(sdxlIndex),
  'README.md': '# SDXL\n',
  'sd_xl_base_1.0.safetensors': 3 * MB,
  'scheduler/scheduler_config.json': '{"_class_name":"EulerDiscreteScheduler"}',
  'text_encoder/config.json': '{"architectures":["CLIPTextModel"],"hidden_size":768}',
  'text_encoder/model.fp16.safetensors': MB,
  'text_encoder/model.safetensors': 2 * MB,
  'text_encoder_2/config.json': '{"architectures":["CLIPTextModelWithProjection"],"hidden_size":1280}',
  'text_encoder_2/model.fp16.safetensors': MB + 7,
  'tokenizer/vocab.json': '{"a":0}',
  'tokenizer/merges.txt': '#version: 0.2\n',
  'tokenizer_2/vocab.json': '{"b":0}',
  'tokenizer_2/merges.txt': '#version: 0.2\nb c\n',
  'unet/config.json': '{"_class_name":"UNet2DConditionModel"}',
  'unet/diffusion_pytorch_model.fp16.safetensors': 2 * MB,
  'vae/config.json': '{"_class_name":"AutoencoderKL"}',
  'vae/diffusion_pytorch_model.fp16.safetensors': MB + 3,
  'vae_1_0/config.json': '{"_class_name":"AutoencoderKL","version":"1.0"}',
  'vae_1_0/diffusion_pytorch_model.fp16.safetensors': MB + 5,
};
const sd3Files: Record<string, string | number> = {
  'README.md': '---\nlicense: other\n---\n# SD3 Medium\n',
  'LICENSE': 'STABILITY AI NON-COMMERCIAL RESEARCH COMMUNITY LICENSE\n',
  'sd3_medium.safetensors': 2 * MB,
  'sd3_medium_incl_clips.safetensors': 3 * MB,
  'sd3_medium_incl_clips_t5xxlfp16.safetensors': 5 * MB,
  'sd3_medium_incl_clips_t5xxlfp8.safetensors': 4 * MB,
  'text_encoders/clip_g.safetensors': MB,
  'text_encoders/clip_l.safetensors': MB,
};

const root = path.join(os.tmpdir(), `coreml-sd3-${process.pid}`);
let services: Awaited<ReturnType<typeof startAll>>;

beforeAll(async () => {
  services = await startAll({ models: [{ id: SD3, files: sd3Files, gated: true }, { id: SDXL_BASE, files: sdxlFiles }] });
}, 120_000);
afterAll(async () => {
  await services?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('sd3-version', () => {
  it('downloads sd3_medium.safetensors and the SDXL base pipeline in fp16, nothing else, and converts offline', async () => {
    const runner = freshRunner(path.join(root, 'job'), services);
    const { run } = await runner.job({
      'model-version': SD3,
      'sd3-version': 'true',
      'hf-token': services.hfToken,
      'ml-stable-diffusion': inject('standinWheel'),
      package: 'false',
      cache: 'false',
    });
    expect(run.exitCode, run.stdout.slice(-4000)).toBe(0);
    const downloads = services.hub.stats().downloads;
    expect(downloads.filter((d) => d.model === SD3).map((d) => d.path)).toEqual(['sd3_medium.safetensors']);
    const sdxl = downloads.filter((d) => d.model === SDXL_BASE).map((d) => d.path).sort();
    expect(sdxl).toEqual(['model_index.json', ...Object.keys(sdxlFiles).filter((f) => COMPONENTS.includes(f.split('/')[0] ?? '') && !/model\.safetensors$/.test(f))].sort());
    expect(run.stdout).not.toMatch(/runs online/);
    const packages = (JSON.parse(run.outputs.mlpackages ?? '[]') as string[]).map((p) => path.basename(p));
    expect(packages).toContain('Stable_Diffusion_version_stabilityai_stable-diffusion-3-medium_mmdit.mlpackage');
  });
});

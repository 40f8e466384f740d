import { describe, expect, it } from 'vitest';
import { filesToFetch, pipelineComponents } from '../../src/hub/files.js';
import { filesDiffusionKitLoads, SD3_SDXL_BASE } from '../../src/converter/diffusionkit.js';
import { parseInputs } from '../../src/inputs/parse.js';
import { ctx, raw } from './fixtures.js';

const names = (list: string[], components?: string[]) => filesToFetch(list.map((rfilename) => ({ rfilename })), components).map((f) => f.rfilename).sort();

describe('what a pipeline load reads', () => {
  it('takes sharded fp16 weights and their index, as transformers and diffusers name them', () => {
    const picked = names([
      'model_index.json',
      'text_encoder/config.json',
      'text_encoder/model.safetensors',
      'text_encoder/model.fp16-00001-of-00002.safetensors',
      'text_encoder/model.fp16-00002-of-00002.safetensors',
      'text_encoder/model.safetensors.index.fp16.json',
      'unet/config.json',
      'unet/diffusion_pytorch_model-00001-of-00002.fp16.safetensors',
      'unet/diffusion_pytorch_model-00002-of-00002.fp16.safetensors',
      'unet/diffusion_pytorch_model.safetensors.fp16.index.json',
      'unet/diffusion_pytorch_model-00001-of-00003.safetensors',
      'unet/diffusion_pytorch_model.safetensors.index.json',
    ]);
    expect(picked).toEqual([
      'model_index.json',
      'text_encoder/config.json',
      'text_encoder/model.fp16-00001-of-00002.safetensors',
      'text_encoder/model.fp16-00002-of-00002.safetensors',
      'text_encoder/model.safetensors.index.fp16.json',
      'unet/config.json',
      'unet/diffusion_pytorch_model-00001-of-00002.fp16.safetensors',
      'unet/diffusion_pytorch_model-00002-of-00002.fp16.safetensors',
      'unet/diffusion_pytorch_model.safetensors.fp16.index.json',
    ]);
  });

  it('takes plain (sharded) safetensors where a folder has no fp16, and no other variant', () => {
    expect(names(['model_index.json', 'vae/config.json', 'vae/diffusion_pytorch_model-00001-of-00002.safetensors', 'vae/diffusion_pytorch_model-00002-of-00002.safetensors', 'vae/diffusion_pytorch_model.safetensors.index.json', 'vae/diffusion_pytorch_model.ema.safetensors', 'vae/diffusion_pytorch_model.bin'])).toEqual([
      'model_index.json',
      'vae/config.json',
      'vae/diffusion_pytorch_model-00001-of-00002.safetensors',
      'vae/diffusion_pytorch_model-00002-of-00002.safetensors',
      'vae/diffusion_pytorch_model.safetensors.index.json',
    ]);
  });

  it('skips folders model_index.json does not name (SDXL base vae_1_0/) and [null, null] components', () => {
    const index = { _class_name: 'StableDiffusionXLPipeline', _diffusers_version: '0.19.0', unet: ['diffusers', 'UNet2DConditionModel'], vae: ['diffusers', 'AutoencoderKL'], image_encoder: [null, null] };
    const components = pipelineComponents(index);
    expect(components).toEqual(['unet', 'vae']);
    expect(names(['model_index.json', 'unet/config.json', 'vae/config.json', 'vae_1_0/config.json', 'vae_1_0/diffusion_pytorch_model.fp16.safetensors', 'image_encoder/config.json'], components)).toEqual(['model_index.json', 'unet/config.json', 'vae/config.json']);
  });

  it('narrows nothing when model_index.json names no component or is not an object', () => {
    expect(pipelineComponents({ _class_name: 'StableDiffusionPipeline' })).toBeUndefined();
    expect(pipelineComponents(['unet'])).toBeUndefined();
    expect(names(['model_index.json', 'vae_1_0/config.json'], pipelineComponents(null))).toEqual(['model_index.json', 'vae_1_0/config.json']);
  });
});

describe('what a model load (ControlNet, custom VAE) reads', () => {
  it('takes the plain safetensors, sharded with their index, not the fp16 ones nor .bin', () => {
    expect(names(['config.json', 'diffusion_pytorch_model-00001-of-00002.safetensors', 'diffusion_pytorch_model-00002-of-00002.safetensors', 'diffusion_pytorch_model.safetensors.index.json', 'diffusion_pytorch_model.fp16.safetensors', 'diffusion_pytorch_model.bin', 'diffusion_pytorch_model.bin.index.json'])).toEqual([
      'config.json',
      'diffusion_pytorch_model-00001-of-00002.safetensors',
      'diffusion_pytorch_model-00002-of-00002.safetensors',
      'diffusion_pytorch_model.safetensors.index.json',
    ]);
  });

  it('falls back to .bin where there are no plain safetensors', () => {
    expect(names(['config.json', 'diffusion_pytorch_model.bin', 'diffusion_pytorch_model.fp16.safetensors'])).toEqual(['config.json', 'diffusion_pytorch_model.bin']);
  });
});

describe('under sd3-version', () => {
  it('fetches only the checkpoint DiffusionKit downloads from the SD3 repository, and the SDXL base whole', () => {
    const conversion = { sd3Version: true, modelVersion: 'stabilityai/stable-diffusion-3-medium' };
    expect(filesDiffusionKitLoads(conversion, 'stabilityai/stable-diffusion-3-medium')).toEqual(['sd3_medium.safetensors']);
    expect(filesDiffusionKitLoads(conversion, SD3_SDXL_BASE)).toBeUndefined();
    expect(filesDiffusionKitLoads({ ...conversion, sd3Version: false }, 'stabilityai/stable-diffusion-3-medium')).toBeUndefined();
  });

  it('adds the SDXL base, whose pipeline the converter loads, to the models to resolve and fetch', () => {
    const parsed = parseInputs(raw({ 'model-version': 'stabilityai/stable-diffusion-3-medium', 'sd3-version': 'true' }), ctx());
    expect(parsed.errors).toEqual([]);
    expect(parsed.config?.conversion.hubIds).toEqual(['stabilityai/stable-diffusion-3-medium', SD3_SDXL_BASE]);
    expect(parseInputs(raw({}), ctx()).config?.conversion.hubIds).not.toContain(SD3_SDXL_BASE);
  });
});

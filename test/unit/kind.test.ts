// SDXL detection before any setup: which file lists lead to reading model_index.json, and the error.
import { describe, expect, it } from 'vitest';
import { mayBeSdxl, pipelineClass, xlVersionProblem } from '../../src/hub/kind.js';
import { options } from './fixtures.js';

const sd = { conversion: options() };

describe('SDXL detection', () => {
  it('reads model_index.json only for pipelines with a second text encoder', () => {
    expect(mayBeSdxl(['model_index.json', 'text_encoder/config.json', 'unet/config.json'])).toBe(false);
    expect(mayBeSdxl(['model_index.json', 'text_encoder_2/config.json'])).toBe(true);
    expect(mayBeSdxl(['tokenizer_2/vocab.json'])).toBe(true);
    expect(mayBeSdxl([])).toBe(false);
  });

  it('takes _class_name from model_index.json', () => {
    expect(pipelineClass({ _class_name: 'StableDiffusionXLPipeline', unet: ['diffusers', 'UNet2DConditionModel'] })).toBe('StableDiffusionXLPipeline');
    expect(pipelineClass({ unet: [] })).toBeUndefined();
    expect(pipelineClass('x')).toBeUndefined();
    expect(pipelineClass(null)).toBeUndefined();
  });

  it('an SDXL pipeline (base or refiner) without xl-version is an error naming xl-version and why', () => {
    const message = xlVersionProblem('StableDiffusionXLPipeline', sd, 'acme/sdxl@0123456789ab');
    expect(message).toBe(
      'Input `xl-version` is false, but acme/sdxl@0123456789ab is a Stable Diffusion XL pipeline (its model_index.json has _class_name StableDiffusionXLPipeline): ' +
        'set `xl-version: true` (or `preset: xl-macos` or `xl-ios`). Without it the converter loads the model as SD 1.x/2.x and the conversion crashes.',
    );
    expect(xlVersionProblem('StableDiffusionXLImg2ImgPipeline', sd, 'r')).toMatch(/^Input `xl-version` is false/);
  });

  it('no error with xl-version, with sd3-version, or for other pipelines', () => {
    expect(xlVersionProblem('StableDiffusionXLPipeline', { conversion: options({ xlVersion: true }) }, 'm')).toBeUndefined();
    expect(xlVersionProblem('StableDiffusion3Pipeline', sd, 'm')).toBeUndefined();
    expect(xlVersionProblem('StableDiffusionPipeline', sd, 'm')).toBeUndefined();
    expect(xlVersionProblem(undefined, sd, 'm')).toBeUndefined();
  });
});

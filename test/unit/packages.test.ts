// Package file names -> parts (for the summary rows), and what a failed gate removes.
import { describe, expect, it } from 'vitest';
import { packageParts, packagesToRemoveFor } from '../../src/verify/packages.js';
import { HUB_MODEL, options } from './fixtures.js';

const pkg = (part: string) => `Stable_Diffusion_version_${HUB_MODEL.replaceAll('/', '_')}_${part}.mlpackage`;
const CN = 'lllyasviel/sd-controlnet-mlsd';
const CN_PKG = 'ControlNet_lllyasviel_sd-controlnet-mlsd.mlpackage';

describe('packageParts', () => {
  const o = options({ controlnets: [CN] });

  it('names each package after its part, chunks as <part>_chunks, ControlNets as controlnet', () => {
    const files = [pkg('unet'), pkg('unet_chunk1'), pkg('unet_chunk2'), pkg('text_encoder_2'), pkg('control-unet'), pkg('refiner_chunk2'), CN_PKG];
    expect(packageParts(o, files)).toEqual({
      [pkg('unet')]: 'unet',
      [pkg('unet_chunk1')]: 'unet_chunks',
      [pkg('unet_chunk2')]: 'unet_chunks',
      [pkg('text_encoder_2')]: 'text_encoder_2',
      [pkg('control-unet')]: 'control-unet',
      [pkg('refiner_chunk2')]: 'refiner_chunks',
      [CN_PKG]: 'controlnet',
    });
  });

  it('keeps an unknown package under its own name', () => {
    expect(packageParts(o, ['Other.mlpackage'])).toEqual({ 'Other.mlpackage': 'Other' });
  });
});

describe('packagesToRemoveFor', () => {
  const o = options({ controlnets: [CN] });

  it('a failed unet takes its chunks along, and nothing else', () => {
    expect(packagesToRemoveFor(o, ['unet']).sort()).toEqual(
      [pkg('unet'), pkg('unet_chunk1'), pkg('unet_chunk2'), 'Resources/Unet.mlmodelc', 'Resources/UnetChunk1.mlmodelc', 'Resources/UnetChunk2.mlmodelc'].sort(),
    );
  });

  it('failed chunks remove the chunks only', () => {
    expect(packagesToRemoveFor(o, ['unet_chunks']).sort()).toEqual(
      [pkg('unet_chunk1'), pkg('unet_chunk2'), 'Resources/UnetChunk1.mlmodelc', 'Resources/UnetChunk2.mlmodelc'].sort(),
    );
  });

  it('text_encoder does not take text_encoder_2 along', () => {
    expect(packagesToRemoveFor(o, ['text_encoder'])).toEqual([pkg('text_encoder'), 'Resources/TextEncoder.mlmodelc']);
  });

  it('a failed controlnet check removes the ControlNet packages', () => {
    expect(packagesToRemoveFor(o, ['controlnet'])).toEqual([CN_PKG, 'Resources/controlnet/LllyasvielSdControlnetMlsd.mlmodelc']);
  });

  it('nothing failed, nothing removed', () => {
    expect(packagesToRemoveFor(o, [])).toEqual([]);
  });
});

// The converter's naming rules (shared/reference/torch2coreml.md, "Output names" and "Resources").
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  chunkPackageName,
  compiledResources,
  controlNetPackageName,
  controlNetResourceName,
  packageName,
  quantizedPackages,
} from '../../src/converter/vocabulary.js';
import { ROOT } from './fixtures.js';

describe('packageName', () => {
  it('Stable_Diffusion_version_{model}_{part}.mlpackage with every / made _', () => {
    expect(packageName('stabilityai/stable-diffusion-2-1-base', 'unet')).toBe(
      'Stable_Diffusion_version_stabilityai_stable-diffusion-2-1-base_unet.mlpackage',
    );
  });

  it('replaces / across the whole name, including a local path', () => {
    expect(packageName('./m', 'unet')).toBe('Stable_Diffusion_version_._m_unet.mlpackage');
    expect(packageName('models/sd/v1', 'text_encoder_2')).toBe('Stable_Diffusion_version_models_sd_v1_text_encoder_2.mlpackage');
    expect(packageName('a/b', 'x')).not.toContain('/');
  });

  it('names chunks after the part, and control-unet with its dash', () => {
    expect(chunkPackageName('o/m', 'unet', 1)).toBe('Stable_Diffusion_version_o_m_unet_chunk1.mlpackage');
    expect(chunkPackageName('o/m', 'refiner', 2)).toBe('Stable_Diffusion_version_o_m_refiner_chunk2.mlpackage');
    expect(chunkPackageName('o/m', 'control-unet', 2)).toBe('Stable_Diffusion_version_o_m_control-unet_chunk2.mlpackage');
  });

  it('names ControlNet packages ControlNet_{id with / as _}', () => {
    expect(controlNetPackageName('lllyasviel/sd-controlnet-mlsd')).toBe('ControlNet_lllyasviel_sd-controlnet-mlsd.mlpackage');
  });
});

describe('controlNetResourceName', () => {
  // Expected values are Python's "".join(w.title() for w in re.split('_|-', id.replace('/', '_'))).
  const cases: Array<[string, string]> = [
    ['lllyasviel/sd-controlnet-mlsd', 'LllyasvielSdControlnetMlsd'],
    ['control_v11p_sd15_canny', 'ControlV11PSd15Canny'],
    ['lllyasviel/control_v11p_sd15_canny', 'LllyasvielControlV11PSd15Canny'],
    ['CiaraRowles/TemporalNet', 'CiararowlesTemporalnet'],
    ['thibaud/controlnet-sd21-openpose-diffusers', 'ThibaudControlnetSd21OpenposeDiffusers'],
    ['x/3d_a1b', 'X3DA1B'],
    ['monster-labs/control_v1p_sd15_qrcode_monster', 'MonsterLabsControlV1PSd15QrcodeMonster'],
  ];
  for (const [id, name] of cases) {
    it(`${id} -> ${name}`, () => expect(controlNetResourceName(id)).toBe(name));
  }

  it('follows str.title for digits: sd15 -> Sd15, v11p -> V11P', () => {
    expect(controlNetResourceName('sd15')).toBe('Sd15');
    expect(controlNetResourceName('v11p')).toBe('V11P');
  });
});

describe('compiledResources', () => {
  const model = 'stabilityai/stable-diffusion-xl-base-1.0';
  const map = compiledResources(model, ['lllyasviel/sd-controlnet-mlsd']);
  const pkg = (part: string) => `Stable_Diffusion_version_stabilityai_stable-diffusion-xl-base-1.0_${part}.mlpackage`;

  it('maps each package to the compiled model the converter makes of it in Resources', () => {
    // The converter's own table (bundle_resources_for_swift_cli), as the stand-in converter that
    // the e2e suite runs spells it in Python: a second source, not a copy of RESOURCE_NAMES.
    const standin = readFileSync(path.join(ROOT, 'test/standin/python_coreml_stable_diffusion/torch2coreml.py'), 'utf8');
    const start = standin.indexOf('def bundle_resources_for_swift_cli');
    const table = standin.slice(start, standin.indexOf('source_path = _get_out_path', start));
    const expected = [...table.matchAll(/\("([\w-]+)", "(\w+)"\)/g)].map(([, part = '', target = '']) => [part, target] as const);
    expect(expected.length).toBe(15);
    for (const [part, target] of expected) expect(map.get(pkg(part)), part).toBe(`Resources/${target}.mlmodelc`);
  });

  it('puts ControlNets under Resources/controlnet with the titled name', () => {
    expect(map.get('ControlNet_lllyasviel_sd-controlnet-mlsd.mlpackage')).toBe('Resources/controlnet/LllyasvielSdControlnetMlsd.mlmodelc');
  });

  it('has nothing else (15 parts and the one ControlNet)', () => {
    expect(map.size).toBe(16);
  });
});

describe('quantizedPackages', () => {
  it('lists what --quantize-nbits rewrites: text encoders, unet, refiner, control-unet and the ControlNets, never chunks or VAEs', () => {
    const list = quantizedPackages('o/m', ['a/cn']);
    const pkg = (part: string) => `Stable_Diffusion_version_o_m_${part}.mlpackage`;
    expect([...list].sort()).toEqual(
      [pkg('text_encoder'), pkg('text_encoder_2'), pkg('unet'), pkg('refiner'), pkg('control-unet'), 'ControlNet_a_cn.mlpackage'].sort(),
    );
  });
});

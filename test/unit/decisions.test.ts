// prepareStep: what to skip, remove or hide before a process runs, where the converter would
// otherwise be wrong about what an earlier run left (it skips existing packages and compiled models,
// and quantizes whatever is there).
import { describe, expect, it } from 'vitest';
import { prepareStep } from '../../src/convert/decisions.js';
import { makePlan, type ChunkStep, type ParityStep, type Step, type Torch2CoreMLStep } from '../../src/plan/plan.js';
import { stepArguments } from '../../src/converter/commands.js';
import { HUB_MODEL, options } from './fixtures.js';

const CN = 'lllyasviel/sd-controlnet-mlsd';
const pkg = (part: string) => `Stable_Diffusion_version_${HUB_MODEL.replaceAll('/', '_')}_${part}.mlpackage`;
const CN_PKG = 'ControlNet_lllyasviel_sd-controlnet-mlsd.mlpackage';

const snapshot = (...entries: string[]) => new Map(entries.map((e) => [e, '1:1']));
const set = (...entries: string[]) => new Set(entries);

function torch2coreml(fields: Partial<Torch2CoreMLStep>): Torch2CoreMLStep {
  return { kind: 'torch2coreml', label: 't', convert: [], controlnets: [], refiner: false, checkCorrectness: false, quantize: false, chunkUnet: false, bundle: false, lean: false, ...fields };
}

describe('prepareStep: chunk steps', () => {
  const o = options({ chunkUnet: true });
  const step: ChunkStep = { kind: 'chunk', label: 'Chunk unet', part: 'unet', checkCorrectness: true };
  const chunks = [pkg('unet_chunk1'), pkg('unet_chunk2')];

  it('skips when both chunks exist and the unet did not change this run', () => {
    const prep = prepareStep(step, o, snapshot(pkg('unet'), ...chunks), set(), set());
    expect(prep.skip).toBeDefined();
    expect(prep.remove).toEqual([]);
  });

  it('removes the stale chunks and runs when the unet changed this run', () => {
    const prep = prepareStep(step, o, snapshot(pkg('unet'), ...chunks), set(pkg('unet')), set());
    expect(prep.skip).toBeUndefined();
    expect([...prep.remove].sort()).toEqual([...chunks].sort());
  });

  it('removes a lone chunk left by an interrupted run and runs', () => {
    const prep = prepareStep(step, o, snapshot(pkg('unet'), chunks[0]!), set(), set());
    expect(prep.skip).toBeUndefined();
    expect(prep.remove).toEqual([chunks[0]]);
  });

  it('runs with nothing to remove when there are no chunks', () => {
    expect(prepareStep(step, o, snapshot(pkg('unet')), set(), set())).toEqual({ remove: [], hide: [] });
  });

  it('looks at the chunks of the part it splits (refiner, control-unet)', () => {
    const refiner: ChunkStep = { ...step, part: 'refiner' };
    const unetChunks = snapshot(pkg('refiner'), ...chunks);
    expect(prepareStep(refiner, o, unetChunks, set(), set()).skip).toBeUndefined();
    const refinerChunks = snapshot(pkg('refiner'), pkg('refiner_chunk1'), pkg('refiner_chunk2'));
    expect(prepareStep(refiner, o, refinerChunks, set(), set()).skip).toBeDefined();
    expect(prepareStep(refiner, o, refinerChunks, set(pkg('refiner')), set()).remove.sort()).toEqual([pkg('refiner_chunk1'), pkg('refiner_chunk2')]);
  });
});

describe('prepareStep: parity steps (python/parity.py)', () => {
  const o = options();
  const unet: ParityStep = { kind: 'parity', label: 'Check unet', part: 'unet' };

  it('runs when its package was converted in this run, and would remove it if the check fails', () => {
    expect(prepareStep(unet, o, snapshot(pkg('unet')), set(pkg('unet')), set())).toEqual({ remove: [], hide: [], removeOnFailure: [pkg('unet')] });
  });

  it('is skipped when the converter skipped the existing package: its earlier checks stand', () => {
    const prep = prepareStep(unet, o, snapshot(pkg('unet')), set(pkg('vae_decoder')), set());
    expect(prep.skip).toMatch(/no package of unet was converted in this run/);
    expect(prep.removeOnFailure).toBeUndefined();
    expect(prepareStep(unet, o, snapshot(), set(pkg('unet')), set()).skip).toBeDefined();
  });

  it('text_encoder judges text_encoder_2 too, when SDXL made one', () => {
    const te: ParityStep = { kind: 'parity', label: 'Check text_encoder', part: 'text_encoder' };
    const both = [pkg('text_encoder'), pkg('text_encoder_2')];
    expect(prepareStep(te, o, snapshot(...both), set(...both), set()).removeOnFailure).toEqual(both);
    expect(prepareStep(te, o, snapshot(pkg('text_encoder')), set(pkg('text_encoder')), set()).removeOnFailure).toEqual([pkg('text_encoder')]);
  });

  it('the refiner judges the refiner package (named after the base model)', () => {
    const refiner: ParityStep = { kind: 'parity', label: 'Check refiner', part: 'refiner' };
    expect(prepareStep(refiner, o, snapshot(pkg('unet'), pkg('refiner')), set(pkg('refiner')), set()).removeOnFailure).toEqual([pkg('refiner')]);
  });
});

describe('prepareStep: the quantize step', () => {
  const o = options({ quantizeNbits: 6, controlnets: [CN] });
  const step = torch2coreml({ quantize: true, controlnets: [CN] });
  const now = snapshot(pkg('text_encoder'), pkg('unet'), pkg('vae_decoder'), CN_PKG);

  it('hides packages quantized by an earlier run that did not change since', () => {
    const prep = prepareStep(step, o, now, set(pkg('unet')), set(pkg('text_encoder'), pkg('unet')));
    expect(prep.skip).toBeUndefined();
    expect(prep.hide).toEqual([pkg('text_encoder')]);
  });

  it('does not hide a package that was quantized before but rewritten this run', () => {
    const prep = prepareStep(step, o, now, set(pkg('text_encoder'), pkg('unet')), set(pkg('text_encoder'), pkg('unet')));
    expect(prep.hide).toEqual([]);
  });

  it('is skipped when every package it would quantize is quantized already', () => {
    const prep = prepareStep(step, o, now, set(), set(pkg('text_encoder'), pkg('unet'), CN_PKG));
    expect(prep.skip).toBeDefined();
  });

  it('runs and hides nothing on a first run', () => {
    expect(prepareStep(step, o, now, set(pkg('text_encoder'), pkg('unet'), CN_PKG), set())).toEqual({ remove: [], hide: [] });
  });

  it('never hides packages quantization does not touch (VAEs)', () => {
    const prep = prepareStep(step, o, now, set(), set(pkg('vae_decoder'), pkg('unet')));
    expect(prep.hide).not.toContain(pkg('vae_decoder'));
  });

  // The per-component quantize step passes --convert-controlnet (quantize_weights needs the ids);
  // upstream converts every listed ControlNet whose package is missing, so a hidden ControlNet is
  // converted again in float16 and quantized, and moving the hidden one back then collides with it.
  it('hides no package that the same process would convert (a quantized ControlNet, per-component)', () => {
    const plan = makePlan(options({ quantizeNbits: 6, controlnets: [CN] }), true);
    const quantize = plan.find((s): s is Torch2CoreMLStep => s.kind === 'torch2coreml' && s.quantize)!;
    expect(stepArguments(quantize, o)).toContain('--convert-controlnet');
    const prep = prepareStep(quantize, o, now, set(pkg('unet')), set(pkg('text_encoder'), pkg('unet'), CN_PKG));
    expect(prep.hide).not.toContain(CN_PKG);
  });
});

describe('prepareStep: single-process steps that convert and quantize', () => {
  const o = options({ quantizeNbits: 6 });
  const [step] = makePlan(o, false) as [Step];

  // One process converts and quantizes. When the text encoder was quantized by an earlier run and
  // the unet package is gone (removed after failing the gate, or a part newly selected), the step
  // is skipped as "everything quantized already", so the missing part is never converted.
  it('is not skipped while a part it converts has no package', () => {
    const now = snapshot(pkg('text_encoder'), pkg('vae_decoder'));
    const prep = prepareStep(step, o, now, set(), set(pkg('text_encoder'), pkg('unet')));
    expect(prep.skip).toBeUndefined();
  });

  // Hiding the text encoder from a process that passes --convert-text-encoder makes upstream
  // convert it again from scratch (and moving the hidden one back then collides with the new one).
  it('hides no package of a part the same process converts', () => {
    expect(stepArguments(step, o)).toContain('--convert-text-encoder');
    const now = snapshot(pkg('text_encoder'), pkg('unet'), pkg('vae_decoder'));
    const prep = prepareStep(step, o, now, set(), set(pkg('text_encoder')));
    expect(prep.skip).toBeUndefined();
    expect(prep.hide).not.toContain(pkg('text_encoder'));
  });
});

describe('prepareStep: the bundle step', () => {
  const o = options({ controlnets: [CN], chunkUnet: true });
  const step = torch2coreml({ bundle: true, controlnets: [CN] });
  const now = snapshot(
    pkg('unet'),
    pkg('text_encoder'),
    pkg('unet_chunk1'),
    CN_PKG,
    'Resources/Unet.mlmodelc',
    'Resources/TextEncoder.mlmodelc',
    'Resources/UnetChunk1.mlmodelc',
    'Resources/controlnet/LllyasvielSdControlnetMlsd.mlmodelc',
  );

  it('removes the compiled models of packages that changed this run, and only those', () => {
    const prep = prepareStep(step, o, now, set(pkg('unet'), pkg('unet_chunk1'), CN_PKG), set());
    expect(prep.skip).toBeUndefined();
    expect([...prep.remove].sort()).toEqual(
      ['Resources/Unet.mlmodelc', 'Resources/UnetChunk1.mlmodelc', 'Resources/controlnet/LllyasvielSdControlnetMlsd.mlmodelc'].sort(),
    );
  });

  it('removes nothing when nothing changed, or when the changed package was never compiled', () => {
    expect(prepareStep(step, o, now, set(), set()).remove).toEqual([]);
    expect(prepareStep(step, o, now, set(pkg('vae_decoder')), set()).remove).toEqual([]);
  });

  it('is never skipped (it also refreshes the tokenizer files)', () => {
    expect(prepareStep(step, o, now, set(), set()).skip).toBeUndefined();
  });
});

describe('prepareStep: plain conversion steps', () => {
  it('touch nothing', () => {
    const step = torch2coreml({ convert: ['unet'], checkCorrectness: true });
    expect(prepareStep(step, options(), snapshot(pkg('unet')), set(pkg('unet')), set(pkg('unet')))).toEqual({ remove: [], hide: [] });
  });
});

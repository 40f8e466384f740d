// One list says what identifies a conversion (src/converter/identity.ts): the manifest's
// converterInputs, the output folder's fingerprint and the converter's managed flags come from it.
import { describe, expect, it } from 'vitest';
import { MANAGED_FLAGS, stepArguments } from '../../src/converter/commands.js';
import {
  CONVERTER_FLAGS,
  IDENTITY,
  canonical,
  converterInputs,
  folderInputs,
  type IdentitySource,
} from '../../src/converter/identity.js';
import type { ConversionOptions } from '../../src/config.js';
import { INPUT_NAMES } from '../../src/inputs/names.js';
import { makePlan } from '../../src/plan/plan.js';
import { identitySource } from './fixtures.js';

/** A single-file model-version in the base, so that the single-file, model-config and lora changes each change one entry. */
const SINGLE_FILE: NonNullable<IdentitySource['singleFile']> = { checkpoint: { where: 'hub', input: 'a/b/m.safetensors', repo: 'a/b', revision: 'main', file: 'm.safetensors' }, loras: [], allowPickle: false, helper: '/a/python/single_file.py' };
const base: IdentitySource = { ...identitySource({ extraArgs: ['--a'] }), singleFile: SINGLE_FILE };
const conversion = (overrides: Partial<ConversionOptions>) => (s: IdentitySource): IdentitySource => ({
  ...s,
  conversion: { ...s.conversion, ...overrides },
});

/** One change per entry of IDENTITY, away from `base`: a new entry fails below until it has one. */
const CHANGES: Record<string, (s: IdentitySource) => IdentitySource> = {
  'model-version': conversion({ modelVersion: 'runwayml/stable-diffusion-v1-5' }),
  'model-revision': conversion({ modelRevision: '0123456789abcdef0123456789abcdef01234567' }),
  'single-file': (s) => ({ ...s, singleFile: { ...SINGLE_FILE, checkpoint: { where: 'local', input: 'm.safetensors', path: '/w/m.safetensors' } } }),
  'model-config': (s) => ({ ...s, singleFile: { ...SINGLE_FILE, modelConfig: { where: 'hub', id: 'stabilityai/stable-diffusion-2-1-base' } } }),
  lora: (s) => ({ ...s, singleFile: { ...SINGLE_FILE, loras: [{ source: { where: 'hub', input: 'a/b/l.safetensors', repo: 'a/b', revision: 'main', file: 'l.safetensors' }, scale: 0.5 }] } }),
  'convert-text-encoder': conversion({ parts: ['vae_decoder', 'unet'] }),
  'convert-vae-decoder': conversion({ parts: ['text_encoder', 'unet'] }),
  'convert-vae-encoder': conversion({ parts: ['text_encoder', 'vae_decoder', 'unet', 'vae_encoder'] }),
  'convert-unet': conversion({ parts: ['text_encoder', 'vae_decoder'] }),
  'convert-safety-checker': conversion({ parts: ['text_encoder', 'vae_decoder', 'unet', 'safety_checker'] }),
  'convert-mmdit': conversion({ parts: ['text_encoder', 'vae_decoder', 'unet', 'mmdit'] }),
  'convert-controlnet': conversion({ controlnets: ['lllyasviel/sd-controlnet-mlsd'] }),
  'refiner-version': conversion({ refinerVersion: 'stabilityai/stable-diffusion-xl-refiner-1.0' }),
  'custom-vae-version': conversion({ customVaeVersion: 'madebyollin/sdxl-vae-fp16-fix' }),
  'compute-unit': conversion({ computeUnit: 'ALL' }),
  'latent-h': conversion({ latentH: 96 }),
  'latent-w': conversion({ latentW: 96 }),
  'text-token-sequence-length': conversion({ textTokenSequenceLength: 154 }),
  'text-encoder-hidden-size': conversion({ textEncoderHiddenSize: 1024 }),
  'attention-implementation': conversion({ attention: 'ORIGINAL' }),
  'check-output-correctness': conversion({ checkOutputCorrectness: false }),
  'chunk-unet': conversion({ chunkUnet: true }),
  'quantize-nbits': conversion({ quantizeNbits: 6 }),
  'unet-support-controlnet': conversion({ unetSupportControlnet: true }),
  'unet-batch-one': conversion({ unetBatchOne: true }),
  'include-t5': conversion({ includeT5: true }),
  'bundle-resources-for-swift-cli': conversion({ bundleResources: false }),
  'text-encoder-vocabulary-url': conversion({ urls: { vocabulary: 'https://example.com/vocab.json' } }),
  'text-encoder-merges-url': conversion({ urls: { merges: 'https://example.com/merges.txt' } }),
  'text-encoder-t5-url': conversion({ urls: { t5: 'https://example.com/t5.zip' } }),
  'text-encoder-t5-config-url': conversion({ urls: { t5Config: 'https://example.com/t5.json' } }),
  'text-encoder-t5-data-url': conversion({ urls: { t5Data: 'https://example.com/t5.bin' } }),
  'min-deployment-target': conversion({ minDeploymentTarget: 'macOS14' }),
  'xl-version': conversion({ xlVersion: true }),
  'sd3-version': conversion({ sd3Version: true }),
  'extra-args': conversion({ extraArgs: ['--b'] }),
  'ml-stable-diffusion': (s) => ({ ...s, setup: { ...s.setup, requirement: '/local/ml-stable-diffusion' } }),
  'python-version': (s) => ({ ...s, setup: { ...s.setup, pythonVersion: '3.10' } }),
  'prepare-fp16': (s) => ({ ...s, prepareFp16: { ...s.prepareFp16, mode: 'never' } }),
};

/**
 * The converter skips a package that exists, so these change what packages already in the output
 * folder would have to be; parts, ControlNets, checks, chunking and bundling add to a folder instead.
 */
const FOLDER_ENTRIES = [
  'model-version', 'model-revision', 'single-file', 'model-config', 'lora', 'refiner-version', 'custom-vae-version', 'latent-h', 'latent-w',
  'text-token-sequence-length', 'text-encoder-hidden-size', 'attention-implementation', 'quantize-nbits',
  'unet-support-controlnet', 'unet-batch-one', 'min-deployment-target', 'xl-version', 'sd3-version', 'extra-args',
];

const changed = (before: Record<string, string>, after: Record<string, string>) =>
  Object.keys({ ...before, ...after }).filter((key) => before[key] !== after[key]);

describe('the identity list', () => {
  it('has one change case per entry, and names each entry once', () => {
    const names = IDENTITY.map((field) => field.name);
    expect(new Set(names).size).toBe(names.length);
    expect(Object.keys(CHANGES).sort()).toEqual([...names].sort());
  });

  it.each(IDENTITY.map((field) => field.name))(
    '%s: its change changes converterInputs there only, and the fingerprint exactly when it is a folder entry',
    (name) => {
      const after = CHANGES[name]!(base);
      expect(changed(converterInputs(base), converterInputs(after))).toEqual([name]);
      expect(changed(folderInputs(base), folderInputs(after))).toEqual(FOLDER_ENTRIES.includes(name) ? [name] : []);
    },
  );

  it('the fingerprint is the folder entries of converterInputs, with the same strings', () => {
    const all = converterInputs(base);
    const folder = folderInputs(base);
    expect(Object.keys(folder).sort()).toEqual([...FOLDER_ENTRIES].sort());
    for (const [key, value] of Object.entries(folder)) expect(value).toBe(all[key]);
  });

  it('extra-args joins one way, one argument a line, in the manifest and the state file alike', () => {
    const split = identitySource({ extraArgs: ['--a', 'b'] });
    const spaced = identitySource({ extraArgs: ['--a b'] });
    expect(converterInputs(split)['extra-args']).toBe('--a\nb');
    expect(folderInputs(split)['extra-args']).toBe('--a\nb');
    // A space join would make these two the same conversion; the converter sees different argv.
    expect(folderInputs(spaced)['extra-args']).not.toBe(folderInputs(split)['extra-args']);
    expect(converterInputs(spaced)['extra-args']).not.toBe(converterInputs(split)['extra-args']);
  });

  it('canonical strings: empty when unset, switches true/false, numbers as written', () => {
    expect([canonical(undefined), canonical(true), canonical(false), canonical(6), canonical([])]).toEqual(['', 'true', 'false', '6', '']);
  });

  it('ControlNets in any order are the same conversion', () => {
    const ab = identitySource({ controlnets: ['b/cn', 'a/cn'] });
    const ba = identitySource({ controlnets: ['a/cn', 'b/cn'] });
    expect(converterInputs(ab)).toEqual(converterInputs(ba));
  });
});

describe('the converter flags come from the list', () => {
  it('each flag entry is a managed flag named like its input, an input of action.yml', () => {
    for (const field of IDENTITY.filter((f) => f.passed !== undefined)) {
      expect(MANAGED_FLAGS.get(`--${field.name}`)).toBe(field.name);
      expect(INPUT_NAMES).toContain(field.name);
    }
    expect([...MANAGED_FLAGS.keys()].sort()).toEqual(['-o', ...CONVERTER_FLAGS.keys()].sort());
  });

  it('with everything asked for, every flag reaches some torch2coreml command (in one of the plan shapes)', () => {
    const everything = identitySource({
      modelVersion: 'stabilityai/stable-diffusion-xl-base-1.0',
      xlVersion: true,
      sd3Version: true,
      parts: ['text_encoder', 'vae_decoder', 'vae_encoder', 'unet', 'safety_checker', 'mmdit'],
      controlnets: ['a/cn'],
      refinerVersion: 'stabilityai/stable-diffusion-xl-refiner-1.0',
      customVaeVersion: 'madebyollin/sdxl-vae-fp16-fix',
      latentH: 96,
      latentW: 96,
      textTokenSequenceLength: 154,
      textEncoderHiddenSize: 1024,
      chunkUnet: true,
      quantizeNbits: 6,
      unetSupportControlnet: true,
      unetBatchOne: true,
      includeT5: true,
      urls: { vocabulary: 'v', merges: 'm', t5: 't', t5Config: 'c', t5Data: 'd' },
    }).conversion;
    // --chunk-unet goes to the converter only in one process without quantizing (else chunk_mlprogram chunks).
    const shapes = [everything, { ...everything, quantizeNbits: undefined }];
    const argv = shapes.flatMap((o) => [true, false].flatMap((perComponent) => makePlan(o, perComponent).flatMap((step) => stepArguments(step, o))));
    for (const flag of CONVERTER_FLAGS.keys()) expect(argv, flag).toContain(flag);
  });
});

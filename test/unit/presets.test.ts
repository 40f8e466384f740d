// Presets: explicit input -> preset -> built-in default, and what each preset sets.
import { describe, expect, it } from 'vitest';
import { converterInputs } from '../../src/converter/identity.js';
import { parseInputs } from '../../src/inputs/parse.js';
import { BUILT_IN_DEFAULTS, PRESETS, PRESET_INPUTS, PRESET_NAMES, withPreset, type PresetName } from '../../src/inputs/presets.js';
import { ctx, raw } from './fixtures.js';

const parse = (overrides: Parameters<typeof raw>[0] = {}) => parseInputs(raw(overrides), ctx());

describe('presets', () => {
  it('are the four of the issue, each setting only inputs with an empty action.yml default', () => {
    expect(PRESET_NAMES).toEqual(['macos', 'ios', 'xl-macos', 'xl-ios']);
    for (const name of PRESET_NAMES) {
      for (const input of Object.keys(PRESETS[name].inputs)) expect(PRESET_INPUTS, `${name} sets ${input}`).toContain(input);
    }
  });

  it.each([
    ['macos', { attention: 'ORIGINAL', computeUnit: 'CPU_AND_GPU', chunkUnet: false, xlVersion: false, latentH: undefined }],
    ['ios', { attention: 'SPLIT_EINSUM_V2', computeUnit: 'CPU_AND_NE', chunkUnet: true, xlVersion: false, latentH: undefined }],
    ['xl-macos', { attention: 'ORIGINAL', computeUnit: 'ALL', chunkUnet: false, xlVersion: true, latentH: undefined }],
    ['xl-ios', { attention: 'SPLIT_EINSUM', computeUnit: 'CPU_AND_NE', chunkUnet: true, xlVersion: true, latentH: 96, latentW: 96 }],
  ] as const)('%s alone sets Apple\'s guidance and the built-in defaults elsewhere', (preset, expected) => {
    const result = parse({ preset });
    expect(result.errors).toEqual([]);
    expect(result.config?.preset).toBe(preset);
    expect(result.config?.conversion).toMatchObject(expected);
  });

  it('without a preset, the built-in defaults of the old action.yml apply', () => {
    const c = parse().config!;
    expect(c.preset).toBeUndefined();
    expect(c.conversion).toMatchObject({ attention: 'SPLIT_EINSUM', computeUnit: 'ALL', chunkUnet: false, xlVersion: false, latentH: undefined, latentW: undefined });
    expect(BUILT_IN_DEFAULTS['attention-implementation']).toBe('SPLIT_EINSUM');
  });

  it('an explicit input wins over the preset, input by input', () => {
    const c = parse({ preset: 'xl-ios', 'attention-implementation': 'ORIGINAL', 'latent-h': '128', 'chunk-unet': 'false' }).config!;
    expect(c.conversion.attention).toBe('ORIGINAL');
    expect(c.conversion.latentH).toBe(128);
    expect(c.conversion.chunkUnet).toBe(false);
    // The rest still comes from the preset.
    expect(c.conversion).toMatchObject({ computeUnit: 'CPU_AND_NE', latentW: 96, xlVersion: true });
  });

  it('an explicit false wins over a preset true (xl-version)', () => {
    expect(parse({ preset: 'xl-macos', 'xl-version': 'false' }).config?.conversion.xlVersion).toBe(false);
  });

  it('blank explicit inputs count as not given', () => {
    const lookup = withPreset((name: string) => (name === 'compute-unit' ? '   ' : ''), 'ios');
    expect(lookup('compute-unit')).toBe('CPU_AND_NE');
    expect(lookup('quantize-nbits')).toBe('');
    expect(withPreset((name: string) => name, undefined)('x')).toBe('x');
  });

  it('an unknown preset is an error naming `preset` and the presets, before anything else', () => {
    const result = parse({ preset: 'iphone' });
    expect(result.config).toBeUndefined();
    expect(result.errors).toEqual(['Input `preset` must be one of macos, ios, xl-macos, xl-ios, got "iphone".']);
  });

  it('a bad explicit value is reported against its own input, preset or not', () => {
    const result = parse({ preset: 'ios', 'compute-unit': 'GPU' });
    expect(result.errors).toEqual(['Input `compute-unit` must be one of ALL, CPU_AND_GPU, CPU_ONLY, CPU_AND_NE, got "GPU".']);
  });

  it('an iOS preset chunks on purpose: no chunk warning for the default macOS13 target; an explicit chunk-unet still warns', () => {
    expect(parse({ preset: 'ios' }).warnings).toEqual([]);
    expect(parse({ preset: 'macos', 'chunk-unet': 'true' }).warnings.some((w) => w.startsWith('Input `chunk-unet` is true with min-deployment-target macOS13'))).toBe(true);
    expect(parse({ 'chunk-unet': 'true' }).warnings.some((w) => w.startsWith('Input `chunk-unet`'))).toBe(true);
  });

  it('quantizing for iPhone and iPad below iOS 17 warns, naming min-deployment-target and why; iOS17 or a macOS preset does not', () => {
    const warned = (overrides: Parameters<typeof raw>[0]) => parse(overrides).warnings.filter((w) => w.startsWith('Input `min-deployment-target`'));
    for (const preset of ['ios', 'xl-ios']) {
      const [w, ...rest] = warned({ preset, 'quantize-nbits': '6' });
      expect(rest).toEqual([]);
      expect(w).toContain(`is macOS13 for 6-bit weights on iPhone and iPad (preset ${preset})`);
      expect(w).toContain('iOS 17 and macOS 14');
      expect(w).toContain('Give min-deployment-target: iOS17');
    }
    expect(warned({ 'quantize-nbits': '4', 'min-deployment-target': 'iOS16' })[0]).toContain('is iOS16 for 4-bit weights');
    expect(warned({ preset: 'ios', 'quantize-nbits': '6', 'min-deployment-target': 'iOS17' })).toEqual([]);
    expect(warned({ preset: 'ios', 'quantize-nbits': '6', 'min-deployment-target': 'iOS18' })).toEqual([]);
    expect(warned({ preset: 'ios' })).toEqual([]);
    expect(warned({ preset: 'macos', 'quantize-nbits': '6' })).toEqual([]);
    expect(warned({ 'quantize-nbits': '6' })).toEqual([]);
  });

  it('a preset and the same inputs given explicitly record the same converter inputs (what manifests compare)', () => {
    for (const name of PRESET_NAMES as PresetName[]) {
      const viaPreset = parse({ preset: name }).config!;
      const explicit = parse({ ...PRESETS[name].inputs }).config!;
      expect(converterInputs(viaPreset), name).toEqual(converterInputs(explicit));
    }
    expect(converterInputs(parse({ preset: 'macos' }).config!)).not.toEqual(converterInputs(parse({ preset: 'ios' }).config!));
  });
});

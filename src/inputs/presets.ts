import type { PresetName } from '../config.js';
import type { InputName } from './names.js';

/**
 * Presets that encode Apple's guidance for where the models will run. A preset only fills in
 * inputs left empty: an input given in the workflow always wins, and an input neither given nor
 * set by the preset takes its built-in default (BUILT_IN_DEFAULTS). The runner passes every
 * declared input with its action.yml default, so the inputs below have empty defaults in
 * action.yml and their built-in defaults live here.
 */
export const PRESET_INPUTS = ['attention-implementation', 'compute-unit', 'chunk-unet', 'latent-h', 'latent-w', 'xl-version'] as const satisfies readonly InputName[];
export type PresetInput = (typeof PRESET_INPUTS)[number];

/** What an input a preset may set takes when neither the workflow nor the preset sets it ('' = the model's own). */
export const BUILT_IN_DEFAULTS: Readonly<Record<PresetInput, string>> = {
  'attention-implementation': 'SPLIT_EINSUM',
  'compute-unit': 'ALL',
  'chunk-unet': 'false',
  'latent-h': '',
  'latent-w': '',
  'xl-version': 'false',
};

export interface Preset {
  /** Where the models run: an iOS preset chunks the unet for the Neural Engine on purpose. */
  platform: 'macOS' | 'iOS';
  description: string;
  inputs: Readonly<Partial<Record<PresetInput, string>>>;
}

export const PRESETS = {
  macos: {
    platform: 'macOS',
    description: 'GPU of a Mac: ORIGINAL attention, CPU_AND_GPU',
    inputs: { 'attention-implementation': 'ORIGINAL', 'compute-unit': 'CPU_AND_GPU' },
  },
  ios: {
    platform: 'iOS',
    description: 'Neural Engine of iPhone and iPad: SPLIT_EINSUM_V2, CPU_AND_NE, unet in two chunks',
    inputs: { 'attention-implementation': 'SPLIT_EINSUM_V2', 'compute-unit': 'CPU_AND_NE', 'chunk-unet': 'true' },
  },
  'xl-macos': {
    platform: 'macOS',
    description: 'SDXL on the GPU of a Mac: ORIGINAL attention, xl-version',
    inputs: { 'attention-implementation': 'ORIGINAL', 'xl-version': 'true' },
  },
  'xl-ios': {
    platform: 'iOS',
    description: 'SDXL on the Neural Engine of iPhone and iPad: SPLIT_EINSUM, CPU_AND_NE, unet in two chunks, latent 96x96 (768x768 images), xl-version',
    inputs: {
      'attention-implementation': 'SPLIT_EINSUM',
      'compute-unit': 'CPU_AND_NE',
      'chunk-unet': 'true',
      'latent-h': '96',
      'latent-w': '96',
      'xl-version': 'true',
    },
  },
} as const satisfies Record<PresetName, Preset>;

export type { PresetName };
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

export function isPresetName(value: string): value is PresetName {
  return Object.prototype.hasOwnProperty.call(PRESETS, value);
}

/**
 * The raw inputs as the preset completes them: a non-empty input as given, else the preset's
 * value, else what the runner passed (empty: the parser's built-in default applies). Pure.
 */
export function withPreset<N extends string>(raw: (name: N) => string, preset: PresetName | undefined): (name: N) => string {
  if (preset === undefined) return raw;
  const values: Partial<Record<string, string>> = PRESETS[preset].inputs;
  return (name) => {
    const given = raw(name);
    if (given.trim() !== '') return given;
    return values[name] ?? given;
  };
}

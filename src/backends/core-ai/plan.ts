import * as path from 'node:path';
import type { Config } from '../../config.js';
import { STATE_DIR } from '../../convert/state.js';
import type { PsnrPart } from '../../converter/vocabulary.js';
import { IMAGE_CHECK_DIR, IMAGE_RECORD } from './image.js';

/** The parts python/coreai_export.py exports, in the order the plan takes them (the unet, the largest, last). */
export const CORE_AI_PARTS = ['text_encoder', 'vae_decoder', 'vae_encoder', 'unet'] as const;
export type CoreAiPart = (typeof CORE_AI_PARTS)[number];

/** The parts compression applies to; the VAE stays float16 (its outputs are pixels: 4 bits show). */
export const COMPRESSED_PARTS: readonly CoreAiPart[] = ['text_encoder', 'unet'];

/** Where the bundle the apps load is written, in output-dir. */
export const BUNDLE_DIR = 'Bundle';

/**
 * One process exporting one part to its .aimodel, then checking it with coreai-core's runtime against
 * PyTorch. A twin is the part exported again in float32 outside the bundle, for the checks alone
 * (check-precision float32): the bundle's own export is then saved unchecked.
 */
export interface CoreAiExportStep {
  kind: 'coreai-export';
  label: string;
  part: CoreAiPart;
  twin?: true;
}
/** One process writing the bundle's metadata and tokenizer files, once every part is there. */
export interface CoreAiBundleStep {
  kind: 'coreai-bundle';
  label: string;
}
/** One process generating an image with the bundle and one with diffusers, from the same latents. */
export interface CoreAiImageStep {
  kind: 'coreai-image';
  label: string;
}
export type CoreAiStep = CoreAiExportStep | CoreAiBundleStep | CoreAiImageStep;

/** Stands for the model's folder in the plan's commands until the Hub stage (or the single-file step) has made it. */
export const MODEL_PLACEHOLDER = '<model folder>';

/** The parts the image check runs (what the Swift runtime loads for text to image). */
const IMAGE_PARTS: readonly CoreAiPart[] = ['text_encoder', 'unet', 'vae_decoder'];

/**
 * Pure: the precision coreai-core runs the models in for the checks. auto is float32 on Linux, where
 * coreai-core's runtime computes float16 through software conversions one element at a time (the
 * full-size SD 1.5 text encoder: 560 s a call in float16, 1.4 s in float32; the unet: not ended in
 * 31 min, 4.3 min), and float16 (the bundle itself) elsewhere.
 */
export function checkPrecisionOf(config: Config): 'float16' | 'float32' {
  const asked = config.coreAi?.checkPrecision ?? 'auto';
  if (asked !== 'auto') return asked;
  return config.runner.os === 'Linux' ? 'float32' : 'float16';
}

/** Pure: whether a part gets a float32 twin: float32 checks, and a check that runs the part (its parity, or the image). */
function needsTwin(config: Config, part: CoreAiPart): boolean {
  if (checkPrecisionOf(config) !== 'float32') return false;
  return config.conversion.checkOutputCorrectness || (config.coreAi?.image !== undefined && IMAGE_PARTS.includes(part));
}

/** Pure: the processes of a Core AI conversion, one per part (and its float32 twin), then the bundle, then the image check. */
export function coreAiPlan(config: Config): CoreAiStep[] {
  const parts = CORE_AI_PARTS.filter((p) => config.conversion.parts.includes(p));
  const steps: CoreAiStep[] = parts.flatMap((part): CoreAiExportStep[] => [
    { kind: 'coreai-export', label: `Export ${part}`, part },
    ...(needsTwin(config, part) ? [{ kind: 'coreai-export', label: `Export ${part}'s float32 twin and check it`, part, twin: true } as const] : []),
  ]);
  if (parts.length > 0) steps.push({ kind: 'coreai-bundle', label: 'Write the bundle (metadata, tokenizer)' });
  if (config.coreAi?.image) steps.push({ kind: 'coreai-image', label: 'Image check (Core AI runtime against diffusers)' });
  return steps;
}

/** Pure: the compression a part gets. */
export function compressionOf(config: Config, part: CoreAiPart): string {
  const asked = config.coreAi?.compression ?? 'none';
  return COMPRESSED_PARTS.includes(part) ? asked : 'none';
}

/** Pure: the PSNR gate's name for a part's check: a compressed part is judged as Core ML's quantized ones are (quantized-min-psnr). */
export function psnrPartOf(config: Config, part: CoreAiPart): PsnrPart {
  if (compressionOf(config, part) === 'none') return part;
  return part === 'unet' ? 'unet_quantized' : 'text_encoder_quantized';
}

/** The image size the export and the image check use: latent-h/latent-w times 8, else 512. */
export function imageSize(config: Config): { height: number; width: number } {
  const { latentH, latentW } = config.conversion;
  return { height: (latentH ?? 64) * 8, width: (latentW ?? 64) * 8 };
}

export const parityRecord = (outputDir: string, part: CoreAiPart, twin = false) => path.join(outputDir, STATE_DIR, 'coreai', `${part}${twin ? '.twin' : ''}.parity.json`);
/** Where the float32 twins are written: never in the bundle, deleted once the checks have run. */
export const twinsDir = (outputDir: string) => path.join(outputDir, STATE_DIR, 'coreai', 'twins');
export const imageRecord = (outputDir: string) => path.join(outputDir, IMAGE_CHECK_DIR, IMAGE_RECORD);

/** Pure: a step's command line after the interpreter. */
export function coreAiArguments(step: CoreAiStep, config: Config, model: string = MODEL_PLACEHOLDER): string[] {
  const entry = config.coreAi;
  if (!entry) throw new Error('internal: a Core AI step without Config.coreAi');
  const { outputDir } = config.conversion;
  const bundle = path.join(outputDir, BUNDLE_DIR);
  const { height, width } = imageSize(config);
  const size = ['--height', String(height), '--width', String(width)];
  switch (step.kind) {
    case 'coreai-export': {
      const twin = step.twin === true;
      // The bundle's own export is checked unless check-output-correctness is false or its float32 twin is checked instead.
      const checked = config.conversion.checkOutputCorrectness && (twin || !needsTwin(config, step.part));
      return [entry.exportEntry, 'export', '--model', model, '--part', step.part, '--bundle', twin ? twinsDir(outputDir) : bundle, '--compression', compressionOf(config, step.part), ...size,
        ...(twin ? ['--precision', 'float32'] : []), '--parity-json', parityRecord(outputDir, step.part, twin), ...(checked ? [] : ['--skip-parity'])];
    }
    case 'coreai-bundle': {
      const parts = CORE_AI_PARTS.filter((p) => config.conversion.parts.includes(p));
      const source = config.conversion.modelIsLocal || config.singleFile ? [] : ['--model-id', config.conversion.modelVersion];
      return [entry.exportEntry, 'finish', '--model', model, '--bundle', bundle, ...size, '--parts', parts.join(','), '--compression', entry.compression, ...source];
    }
    case 'coreai-image': {
      const image = entry.image;
      if (!image) throw new Error('internal: an image step without image options');
      const twins = checkPrecisionOf(config) === 'float32' ? ['--assets', twinsDir(outputDir)] : [];
      return [entry.imageEntry, '--bundle', bundle, ...twins, '--model', model, `--prompt=${image.prompt}`, '--seed', String(image.seed), '--steps', String(image.steps), '--guidance', String(image.guidance), ...size,
        '--out-dir', path.join(outputDir, IMAGE_CHECK_DIR), '--json', imageRecord(outputDir), '--min-psnr', String(image.minPsnr)];
    }
  }
}

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

/** One process exporting one part to its .aimodel, then checking it with coreai-core's runtime against PyTorch. */
export interface CoreAiExportStep {
  kind: 'coreai-export';
  label: string;
  part: CoreAiPart;
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

/** Pure: the processes of a Core AI conversion, one per part, then the bundle, then the image check. */
export function coreAiPlan(config: Config): CoreAiStep[] {
  const parts = CORE_AI_PARTS.filter((p) => config.conversion.parts.includes(p));
  const steps: CoreAiStep[] = parts.map((part) => ({ kind: 'coreai-export', label: `Export ${part}`, part }));
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

export const parityRecord = (outputDir: string, part: CoreAiPart) => path.join(outputDir, STATE_DIR, 'coreai', `${part}.parity.json`);
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
    case 'coreai-export':
      return [entry.exportEntry, 'export', '--model', model, '--part', step.part, '--bundle', bundle, '--compression', compressionOf(config, step.part), ...size, '--parity-json', parityRecord(outputDir, step.part),
        // check-output-correctness: false saves each part unchecked (the runtime's check is slow on Linux at full size).
        ...(config.conversion.checkOutputCorrectness ? [] : ['--skip-parity'])];
    case 'coreai-bundle': {
      const parts = CORE_AI_PARTS.filter((p) => config.conversion.parts.includes(p));
      const source = config.conversion.modelIsLocal || config.singleFile ? [] : ['--model-id', config.conversion.modelVersion];
      return [entry.exportEntry, 'finish', '--model', model, '--bundle', bundle, ...size, '--parts', parts.join(','), '--compression', entry.compression, ...source];
    }
    case 'coreai-image': {
      const image = entry.image;
      if (!image) throw new Error('internal: an image step without image options');
      return [entry.imageEntry, '--bundle', bundle, '--model', model, `--prompt=${image.prompt}`, '--seed', String(image.seed), '--steps', String(image.steps), '--guidance', String(image.guidance), ...size,
        '--out-dir', path.join(outputDir, IMAGE_CHECK_DIR), '--json', imageRecord(outputDir), '--min-psnr', String(image.minPsnr)];
    }
  }
}

import * as path from 'node:path';
import type { ConversionOptions } from '../inputs/config.js';
import type { InputName } from '../inputs/names.js';
import type { Step } from '../plan/plan.js';
import { CHUNK_MODULE, CONVERT_MODULE, packageName, type SelectablePart } from './vocabulary.js';

/** Flags of torch2coreml, each with the input that sets it (extra-args may not set these). */
export const MANAGED_FLAGS: ReadonlyMap<string, InputName> = new Map<string, InputName>([
  ['--model-version', 'model-version'],
  ['-o', 'output-dir'],
  ['--convert-text-encoder', 'convert-text-encoder'],
  ['--convert-vae-decoder', 'convert-vae-decoder'],
  ['--convert-vae-encoder', 'convert-vae-encoder'],
  ['--convert-unet', 'convert-unet'],
  ['--convert-safety-checker', 'convert-safety-checker'],
  ['--convert-mmdit', 'convert-mmdit'],
  ['--convert-controlnet', 'convert-controlnet'],
  ['--refiner-version', 'refiner-version'],
  ['--custom-vae-version', 'custom-vae-version'],
  ['--compute-unit', 'compute-unit'],
  ['--latent-h', 'latent-h'],
  ['--latent-w', 'latent-w'],
  ['--text-token-sequence-length', 'text-token-sequence-length'],
  ['--text-encoder-hidden-size', 'text-encoder-hidden-size'],
  ['--attention-implementation', 'attention-implementation'],
  ['--check-output-correctness', 'check-output-correctness'],
  ['--chunk-unet', 'chunk-unet'],
  ['--quantize-nbits', 'quantize-nbits'],
  ['--unet-support-controlnet', 'unet-support-controlnet'],
  ['--unet-batch-one', 'unet-batch-one'],
  ['--include-t5', 'include-t5'],
  ['--bundle-resources-for-swift-cli', 'bundle-resources-for-swift-cli'],
  ['--text-encoder-vocabulary-url', 'text-encoder-vocabulary-url'],
  ['--text-encoder-merges-url', 'text-encoder-merges-url'],
  ['--text-encoder-t5-url', 'text-encoder-t5-url'],
  ['--text-encoder-t5-config-url', 'text-encoder-t5-config-url'],
  ['--text-encoder-t5-data-url', 'text-encoder-t5-data-url'],
  ['--min-deployment-target', 'min-deployment-target'],
  ['--xl-version', 'xl-version'],
  ['--sd3-version', 'sd3-version'],
]);

const PART_SWITCH: Record<SelectablePart, string> = {
  text_encoder: '--convert-text-encoder',
  vae_decoder: '--convert-vae-decoder',
  vae_encoder: '--convert-vae-encoder',
  unet: '--convert-unet',
  safety_checker: '--convert-safety-checker',
  mmdit: '--convert-mmdit',
};

function valueFlag(flag: string, value: string | number | undefined): string[] {
  return value === undefined ? [] : [flag, String(value)];
}

function switchFlag(flag: string, on: boolean): string[] {
  return on ? [flag] : [];
}

/**
 * Flags every torch2coreml process gets, whatever its step (the quantize/bundle entry parses the
 * same line): each converting process loads the pipeline again, so each must load it the same
 * way, and every process must name outputs the same way.
 */
function sharedFlags(o: ConversionOptions): string[] {
  return [
    '--model-version', o.modelVersion,
    '-o', o.outputDir,
    '--compute-unit', o.computeUnit,
    '--attention-implementation', o.attention,
    '--min-deployment-target', o.minDeploymentTarget,
    ...valueFlag('--custom-vae-version', o.customVaeVersion),
    ...valueFlag('--latent-h', o.latentH),
    ...valueFlag('--latent-w', o.latentW),
    ...valueFlag('--text-token-sequence-length', o.textTokenSequenceLength),
    ...valueFlag('--text-encoder-hidden-size', o.textEncoderHiddenSize),
    ...switchFlag('--unet-support-controlnet', o.unetSupportControlnet),
    ...switchFlag('--unet-batch-one', o.unetBatchOne),
    ...switchFlag('--xl-version', o.xlVersion),
    ...switchFlag('--sd3-version', o.sd3Version),
  ];
}

function bundleFlags(o: ConversionOptions): string[] {
  return [
    '--bundle-resources-for-swift-cli',
    ...valueFlag('--text-encoder-vocabulary-url', o.urls.vocabulary),
    ...valueFlag('--text-encoder-merges-url', o.urls.merges),
    ...switchFlag('--include-t5', o.includeT5),
    ...valueFlag('--text-encoder-t5-url', o.urls.t5),
    ...valueFlag('--text-encoder-t5-config-url', o.urls.t5Config),
    ...valueFlag('--text-encoder-t5-data-url', o.urls.t5Data),
  ];
}

/**
 * The action's entry for the steps that need no pipeline (python/quantize_bundle.py): it parses the
 * converter's own command line and calls its quantize_weights / bundle_resources_for_swift_cli.
 * torch2coreml's main loads the whole pipeline first whatever it does, and with --convert-controlnet
 * asks the Hub for each card (fails offline): see test/fixtures/real-converter/README.md.
 */
export const QUANTIZE_BUNDLE_ENTRY = 'python/quantize_bundle.py';

/** A torch2coreml step that only quantizes or bundles packages already written (ControlNet ids name them). */
export function needsNoPipeline(step: Step): boolean {
  return step.kind === 'torch2coreml' && step.convert.length === 0 && !step.refiner && (step.quantize || step.bundle);
}

/**
 * The argv of a step after the interpreter: `-m <module> <flags>`, or for a step that needs no
 * pipeline `<action>/python/quantize_bundle.py <the same flags>`.
 */
export function stepArguments(step: Step, o: ConversionOptions): string[] {
  if (step.kind === 'chunk') {
    return [
      '-m', CHUNK_MODULE,
      '--mlpackage-path', path.join(o.outputDir, packageName(o.modelVersion, step.part)),
      '-o', o.outputDir,
      ...switchFlag('--check-output-correctness', step.checkCorrectness),
    ];
  }
  return [
    ...(needsNoPipeline(step) ? [o.quantizeBundleEntry] : ['-m', CONVERT_MODULE]),
    ...sharedFlags(o),
    ...step.convert.map((part) => PART_SWITCH[part]),
    ...(step.controlnets.length > 0 ? ['--convert-controlnet', ...step.controlnets] : []),
    ...valueFlag('--refiner-version', step.refiner ? o.refinerVersion : undefined),
    ...switchFlag('--check-output-correctness', step.checkCorrectness),
    ...switchFlag('--chunk-unet', step.chunkUnet),
    ...valueFlag('--quantize-nbits', step.quantize ? o.quantizeNbits : undefined),
    ...(step.bundle ? bundleFlags(o) : []),
    ...o.extraArgs,
  ];
}

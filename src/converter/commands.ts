import * as path from 'node:path';
import type { ConversionOptions } from '../config.js';
import type { InputName } from '../inputs/names.js';
import type { Step } from '../plan/plan.js';
import { CONVERTER_FLAGS, PART_INPUT, converterFlag, passedFlags } from './identity.js';
import { CHUNK_MODULE, CONVERT_MODULE, packageName } from './vocabulary.js';
import { PARITY_ENTRY, parityArguments } from './parity.js';

/** Flags of torch2coreml, each with the input that sets it (extra-args may not set these). */
export const MANAGED_FLAGS: ReadonlyMap<string, InputName> = new Map<string, InputName>([['-o', 'output-dir'], ...CONVERTER_FLAGS]);

function valueFlag(flag: string, value: string | number | undefined): string[] {
  return value === undefined ? [] : [flag, String(value)];
}

function switchFlag(flag: string, on: boolean): string[] {
  return on ? [flag] : [];
}

/** Flags every torch2coreml process gets, whatever its step (the quantize/bundle entry parses the same line). */
function sharedFlags(o: ConversionOptions): string[] {
  return [...passedFlags(o, 'every-process'), '-o', o.outputDir];
}

/**
 * The action's entry for the steps that need no pipeline (python/quantize_bundle.py): it parses the
 * converter's own command line and calls its quantize_weights / bundle_resources_for_swift_cli.
 * torch2coreml's main loads the whole pipeline first whatever it does, and with --convert-controlnet
 * asks the Hub for each card (fails offline): see test/fixtures/real-converter/README.md.
 */
export const QUANTIZE_BUNDLE_ENTRY = 'python/quantize_bundle.py';

/**
 * The action's entry for one part per process (python/lean_convert.py): it parses the converter's own
 * command line and calls its per-part function (convert_unet(pipe, args), ...) with only that
 * component loaded; same packages, less memory (bench/convert-memory.mjs). The plan marks the steps
 * it runs (plan.ts `lean`, from converter/order.ts convertsLean).
 */
export const LEAN_CONVERT_ENTRY = 'python/lean_convert.py';

/** A lean step as planned, checked again: one part, nothing else in the process. */
export function runsLean(step: Step): boolean {
  return (
    step.kind === 'torch2coreml' &&
    step.lean &&
    step.convert.length === 1 &&
    step.controlnets.length === 0 &&
    !step.refiner &&
    !step.quantize &&
    !step.bundle &&
    !step.chunkUnet
  );
}

/** How a step runs, as the plan prints it. */
export function routeOf(step: Step): string {
  if (step.kind === 'chunk') return `-m ${CHUNK_MODULE}`;
  if (step.kind === 'parity') return `entry ${PARITY_ENTRY}`;
  if (runsLean(step)) return `lean entry ${LEAN_CONVERT_ENTRY}`;
  if (needsNoPipeline(step)) return `entry ${QUANTIZE_BUNDLE_ENTRY}`;
  return `converter command line -m ${CONVERT_MODULE}`;
}

/** A torch2coreml step that only quantizes or bundles packages already written (ControlNet ids name them). */
export function needsNoPipeline(step: Step): boolean {
  return step.kind === 'torch2coreml' && step.convert.length === 0 && !step.refiner && (step.quantize || step.bundle);
}

/**
 * The argv of a step after the interpreter: `-m <module> <flags>`, for a step that needs no
 * pipeline `<action>/python/quantize_bundle.py <the same flags>`, for a lean one
 * `<action>/python/lean_convert.py <the same flags>`, for a parity step
 * `<action>/python/parity.py <flags>` (converter/parity.ts).
 */
export function stepArguments(step: Step, o: ConversionOptions): string[] {
  if (step.kind === 'parity') return parityArguments(step, o);
  if (step.kind === 'chunk') {
    return [
      '-m', CHUNK_MODULE,
      '--mlpackage-path', path.join(o.outputDir, packageName(o.modelVersion, step.part)),
      '-o', o.outputDir,
      ...switchFlag('--check-output-correctness', step.checkCorrectness),
    ];
  }
  return [
    ...(runsLean(step) ? [o.leanConvertEntry] : needsNoPipeline(step) ? [o.quantizeBundleEntry] : ['-m', CONVERT_MODULE]),
    ...sharedFlags(o),
    ...step.convert.map((part) => converterFlag(PART_INPUT[part])),
    ...(step.controlnets.length > 0 ? [converterFlag('convert-controlnet'), ...step.controlnets] : []),
    ...valueFlag(converterFlag('refiner-version'), step.refiner ? o.refinerVersion : undefined),
    ...switchFlag(converterFlag('check-output-correctness'), step.checkCorrectness),
    ...switchFlag(converterFlag('chunk-unet'), step.chunkUnet),
    ...valueFlag(converterFlag('quantize-nbits'), step.quantize ? o.quantizeNbits : undefined),
    ...(step.bundle ? [converterFlag('bundle-resources-for-swift-cli'), ...passedFlags(o, 'bundle')] : []),
    ...o.extraArgs,
  ];
}

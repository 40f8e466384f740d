import type { ConversionOptions, SplitMode } from '../config.js';
import type { ChunkablePart, SelectablePart } from '../converter/vocabulary.js';
import { CONTROLNETS, CONVERSION_ORDER, chunkableParts, convertsLean, ownChunksStayFloat16, unetPart } from '../converter/order.js';
import { parityCovers, parityParts, type ParityStep } from '../converter/parity.js';
import type { CoreAiStep } from '../backends/core-ai/plan.js';

export type { ParityStep } from '../converter/parity.js';

/**
 * The plan: which converter processes run, in which order. Pure data, printed by dry-run and
 * asserted by tests; src/converter/commands.ts turns each step into an argv array.
 */
export type Step = Torch2CoreMLStep | ChunkStep | ParityStep;

/** A process of either backend's plan (each backend's folder has its own kinds). */
export type AnyStep = Step | CoreAiStep;

/** Pure: the Core ML steps of a plan (the Core ML stages take only those). */
export function coreMlSteps(steps: readonly AnyStep[]): Step[] {
  return steps.filter((s): s is Step => s.kind === 'torch2coreml' || s.kind === 'chunk' || s.kind === 'parity');
}

/** One torch2coreml process: what it converts, and which of the later phases it also does. */
export interface Torch2CoreMLStep {
  kind: 'torch2coreml';
  label: string;
  convert: SelectablePart[];
  /** ControlNet ids passed with --convert-controlnet (quantize and bundle need them too). */
  controlnets: string[];
  /** Pass --refiner-version: the refiner's unet is converted (with --convert-unet). */
  refiner: boolean;
  /** The parity checks run in the steps that convert. */
  checkCorrectness: boolean;
  quantize: boolean;
  /** Chunk inside this process (only when nothing is quantized after the unet is made). */
  chunkUnet: boolean;
  bundle: boolean;
  /** Run through the action's lean entry (python/lean_convert.py) rather than the converter's command line. */
  lean: boolean;
}

/** One chunk_mlprogram process, splitting a finished (and, if asked, quantized) unet. */
export interface ChunkStep {
  kind: 'chunk';
  label: string;
  part: ChunkablePart;
  checkCorrectness: boolean;
}

function torch2coreml(label: string, fields: Partial<Torch2CoreMLStep>): Torch2CoreMLStep {
  return {
    kind: 'torch2coreml',
    label,
    convert: [],
    controlnets: [],
    refiner: false,
    checkCorrectness: false,
    quantize: false,
    chunkUnet: false,
    bundle: false,
    lean: false,
    ...fields,
  };
}

/**
 * The converter's own chunks of a run that quantizes stay float16 (converter/order.ts): whenever
 * both are asked, chunks are made in a later process from the quantized unet. Quantization
 * rewrites every existing package in place, so it runs exactly once, in a process of its own.
 */
export function makePlan(options: ConversionOptions, processPerComponent: boolean): Step[] {
  const parts = CONVERSION_ORDER.filter((p): p is SelectablePart => p !== CONTROLNETS && options.parts.includes(p));
  const check = options.checkOutputCorrectness;
  const quantize = options.quantizeNbits !== undefined;
  const refiner = options.refinerVersion !== undefined && parts.includes('unet');
  const checkedApart = !processPerComponent && parityInOneProcess(options, parts, refiner);
  // A unet checked apart is chunked (and the Resources compiled) only once its check has passed.
  const chunkLater = options.chunkUnet && (processPerComponent || ownChunksStayFloat16(quantize) || checkedApart);
  const convertStep = (label: string, fields: Partial<Torch2CoreMLStep>) => torch2coreml(label, { checkCorrectness: check, ...fields });
  const controlnets = options.controlnets;
  const steps: Step[] = [];

  if (processPerComponent) {
    // One process per part (and ControlNet), in the order one converter run takes them; a part
    // parity.py covers is checked by a process of its own right after it (convertThenCheck).
    for (const item of CONVERSION_ORDER) {
      if (item === CONTROLNETS) {
        for (const id of controlnets) steps.push(convertStep(`Convert ControlNet ${id}`, { controlnets: [id] }));
      } else if (parts.includes(item)) {
        steps.push(...convertThenCheck(options, convertStep(`Convert ${item === 'unet' ? unetPart(options) : item}`, { convert: [item], lean: convertsLean(item, options) })));
      }
    }
    if (refiner) steps.push(...convertThenCheck(options, convertStep('Convert refiner', { convert: ['unet'], refiner: true })));
  } else {
    const all = convertStep('Convert all parts', {
      convert: parts,
      controlnets,
      refiner,
      chunkUnet: options.chunkUnet && !chunkLater,
      bundle: options.bundleResources && !chunkLater && !quantize && !checkedApart,
    });
    steps.push(...(checkedApart ? convertThenCheck(options, all) : [all]));
  }
  // Always a process of its own: upstream quantizes every package it finds, so the action must
  // be able to keep already quantized ones out of it (see src/convert/decisions.ts).
  // With check-output-correctness the action's quantize entry checks each package it quantizes.
  if (quantize) steps.push(torch2coreml(`Quantize to ${options.quantizeNbits} bits`, { controlnets, quantize: true, checkCorrectness: check }));

  if (chunkLater) {
    for (const part of chunkableParts(options)) {
      steps.push({ kind: 'chunk', label: `Chunk ${part}`, part, checkCorrectness: check });
    }
  }
  const bundled = steps.some((s) => s.kind === 'torch2coreml' && s.bundle);
  if (options.bundleResources && !bundled) {
    steps.push(torch2coreml('Bundle Resources', { controlnets, bundle: true }));
  }
  return steps;
}

/**
 * Pure: one process converting every part checks them apart only when parity.py covers them all
 * (the converter's --check-output-correctness is one switch for the whole process).
 */
function parityInOneProcess(options: ConversionOptions, parts: readonly SelectablePart[], refiner: boolean): boolean {
  return (
    options.checkOutputCorrectness &&
    options.controlnets.length === 0 &&
    parts.every((p) => parityCovers(options, p)) &&
    (!refiner || parityCovers(options, 'refiner')) &&
    parityParts(options, parts, refiner).length > 0
  );
}

/**
 * Pure: a conversion step whose parts parity.py checks, without --check-output-correctness,
 * followed by one parity step per part; a step with a part it does not cover, as it is.
 */
export function convertThenCheck(options: ConversionOptions, step: Torch2CoreMLStep): Step[] {
  const checked = parityParts(options, step.convert, step.refiner);
  const uncovered = step.convert.some((p) => !parityCovers(options, p)) || step.controlnets.length > 0 || (step.refiner && !parityCovers(options, 'refiner'));
  if (!step.checkCorrectness || checked.length === 0 || uncovered) return [step];
  // The refiner step converts --convert-unet too, but its unet package exists by then: only the refiner is new.
  const parts = step.refiner && step.convert.length === 1 ? checked.filter((p) => p === 'refiner') : checked;
  return [{ ...step, checkCorrectness: false }, ...parts.map((part): ParityStep => ({ kind: 'parity', label: `Check ${part} (Core ML on ${options.checkComputeUnit})`, part }))];
}

/**
 * Pure: the processes of one half of a split conversion (split-rules.ts has refused what cannot be
 * split). Converting (Linux): every conversion, quantization and chunking, with no check that needs
 * Core ML and no Resources; each parity step runs its PyTorch half only. Finishing (macOS): the Core
 * ML half of each parity step, on the packages handed off; the Resources are compiled by the action
 * afterwards (converter/compile.ts), not by a converter process.
 */
export function splitPlan(steps: readonly Step[], mode: SplitMode): Step[] {
  if (mode === 'none') return [...steps];
  if (mode === 'finish') return steps.flatMap((s): Step[] => (s.kind === 'parity' ? [{ ...s, half: 'check' }] : []));
  return steps.flatMap((s): Step[] => {
    if (s.kind === 'parity') return [{ ...s, half: 'reference', label: `Reference outputs of ${s.part} (PyTorch, for the finishing job's check)` }];
    if (s.kind === 'chunk') return [{ ...s, checkCorrectness: false }];
    const step = { ...s, bundle: false, checkCorrectness: false };
    // A process that only bundled has nothing left to do here.
    return step.convert.length === 0 && step.controlnets.length === 0 && !step.quantize ? [] : [step];
  });
}

import type { ConversionOptions } from '../config.js';
import { PART_INPUT, converterFlag, passedFlags } from './identity.js';
import { packageName, type ComputeUnit, type SelectablePart } from './vocabulary.js';

/**
 * The converter's parity check (--check-output-correctness) in a process of its own: the action's
 * python/parity.py parses the converter's command line, computes the PyTorch reference of a
 * converted part on the converter's sample inputs, lets the model go, then runs the Core ML package
 * on them and compares with the converter's own report_correctness (same lines, same 35 dB floor).
 * The two models are never in memory together, and the Core ML half runs on the compute unit the
 * action chooses (check-compute-unit), not necessarily the one given to the converter.
 */
export const PARITY_ENTRY = 'python/parity.py';

/** The parts parity.py checks, by its --parity-part names (text_encoder covers text_encoder_2). */
export type ParityPart = 'vae_decoder' | 'vae_encoder' | 'unet' | 'text_encoder' | 'refiner';

const COVERED = ['vae_decoder', 'vae_encoder', 'unet', 'text_encoder'] as const satisfies readonly SelectablePart[];
const isCovered = (part: SelectablePart): part is (typeof COVERED)[number] => (COVERED as readonly string[]).includes(part);

/** One parity.py process, after the conversion of its part. */
export interface ParityStep {
  kind: 'parity';
  label: string;
  part: ParityPart;
  /** One half only (a split conversion): the PyTorch reference (converting job) or the Core ML check (finishing job); undefined runs both. */
  half?: ParityHalf;
}

export type ParityHalf = 'reference' | 'check';

/**
 * Pure: whether parity.py checks this part of this configuration. Not covered (the converter keeps
 * its in-process check): the safety checker, ControlNets, the control-unet (unet-support-controlnet),
 * and everything under sd3-version (DiffusionKit checks SD3's parts itself).
 */
export function parityCovers(o: ConversionOptions, part: SelectablePart | 'refiner'): boolean {
  if (!o.checkOutputCorrectness || o.sd3Version) return false;
  if (part === 'refiner' || part === 'unet') return !o.unetSupportControlnet;
  return isCovered(part);
}

/** Pure: the parity processes a conversion step that converts `parts` (and the refiner) is followed by, in the converter's order. */
export function parityParts(o: ConversionOptions, parts: readonly SelectablePart[], refiner: boolean): ParityPart[] {
  const found: ParityPart[] = COVERED.filter((p) => parts.includes(p) && parityCovers(o, p));
  if (refiner && parityCovers(o, 'refiner')) found.push('refiner');
  return found;
}

/** The packages a parity step judges, by file name (text_encoder: text_encoder_2's too, when SDXL makes one). */
export function parityPackages(o: ConversionOptions, part: ParityPart): string[] {
  return part === 'text_encoder' ? [packageName(o.modelVersion, 'text_encoder'), packageName(o.modelVersion, 'text_encoder_2')] : [packageName(o.modelVersion, part)];
}

/**
 * Pure: the default of check-compute-unit. GitHub's hosted macOS VMs have no Neural Engine and no
 * Metal for MPS (a Core ML load for CPU_AND_NE has been seen to hang there): CPU_ONLY, also when
 * the runner does not say what it is (RUNNER_ENVIRONMENT unset). A self-hosted runner checks where
 * the converter would: compute-unit.
 */
export function defaultCheckComputeUnit(runnerEnvironment: string | undefined, computeUnit: ComputeUnit): ComputeUnit {
  return runnerEnvironment === 'self-hosted' ? computeUnit : 'CPU_ONLY';
}

/** The argv of a parity step after the interpreter: `<action>/python/parity.py <the converter's flags> <its own>`. */
export function parityArguments(step: ParityStep, o: ConversionOptions): string[] {
  const unet = step.part === 'refiner' ? 'unet' : step.part;
  return [
    o.parityEntry,
    ...passedFlags(o, 'every-process'),
    '-o',
    o.outputDir,
    converterFlag(PART_INPUT[unet]),
    ...(step.part === 'refiner' && o.refinerVersion ? [converterFlag('refiner-version'), o.refinerVersion] : []),
    ...o.extraArgs,
    '--parity-part',
    step.part,
    '--check-compute-unit',
    o.checkComputeUnit,
    ...(step.half ? ['--parity-half', step.half] : []),
  ];
}

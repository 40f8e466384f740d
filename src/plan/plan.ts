import type { ConversionOptions } from '../inputs/config.js';
import type { ChunkablePart, SelectablePart } from '../converter/vocabulary.js';

/**
 * The plan: which converter processes run, in which order. Pure data, printed by dry-run and
 * asserted by tests; src/converter/commands.ts turns each step into an argv array.
 */
export type Step = Torch2CoreMLStep | ChunkStep;

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
}

/** One chunk_mlprogram process, splitting a finished (and, if asked, quantized) unet. */
export interface ChunkStep {
  kind: 'chunk';
  label: string;
  part: ChunkablePart;
  checkCorrectness: boolean;
}

const UPSTREAM_ORDER: readonly SelectablePart[] = ['vae_decoder', 'vae_encoder', 'unet', 'text_encoder', 'safety_checker', 'mmdit'];

export function unetPart(options: ConversionOptions): 'unet' | 'control-unet' {
  return options.unetSupportControlnet ? 'control-unet' : 'unet';
}

/** The unet-like packages this configuration makes, which chunking splits. */
export function chunkableParts(options: ConversionOptions): ChunkablePart[] {
  if (!options.parts.includes('unet')) return [];
  return options.refinerVersion ? [unetPart(options), 'refiner'] : [unetPart(options)];
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
    ...fields,
  };
}

/**
 * Upstream quantizes after chunking, so chunks stay float16 while the app loads them in preference
 * to the quantized Unet: whenever both are asked, chunks are made in a later process from the
 * quantized unet. Quantization rewrites every existing package in place, so it runs exactly once.
 */
export function makePlan(options: ConversionOptions, processPerComponent: boolean): Step[] {
  const parts = UPSTREAM_ORDER.filter((p) => options.parts.includes(p));
  const check = options.checkOutputCorrectness;
  const quantize = options.quantizeNbits !== undefined;
  const chunkLater = options.chunkUnet && (quantize || processPerComponent);
  const controlnets = options.controlnets;
  const steps: Step[] = [];

  if (processPerComponent) {
    for (const part of parts) {
      if (part === 'unet') {
        // Upstream converts ControlNets between the VAEs and the unet.
        controlnets.forEach((id) => steps.push(torch2coreml(`Convert ControlNet ${id}`, { controlnets: [id], checkCorrectness: check })));
      }
      steps.push(torch2coreml(`Convert ${part === 'unet' ? unetPart(options) : part}`, { convert: [part], checkCorrectness: check }));
    }
    if (!parts.includes('unet')) {
      controlnets.forEach((id) => steps.push(torch2coreml(`Convert ControlNet ${id}`, { controlnets: [id], checkCorrectness: check })));
    }
    if (options.refinerVersion && parts.includes('unet')) {
      steps.push(torch2coreml('Convert refiner', { convert: ['unet'], refiner: true, checkCorrectness: check }));
    }
    if (quantize) {
      steps.push(torch2coreml(`Quantize to ${options.quantizeNbits} bits`, { controlnets, quantize: true }));
    }
  } else {
    steps.push(
      torch2coreml('Convert all parts', {
        convert: parts,
        controlnets,
        refiner: options.refinerVersion !== undefined && parts.includes('unet'),
        checkCorrectness: check,
        quantize,
        chunkUnet: options.chunkUnet && !chunkLater,
        bundle: options.bundleResources && !chunkLater,
      }),
    );
  }

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

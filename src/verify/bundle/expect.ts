import type { ConversionOptions } from '../../config.js';
import {
  COMPILED_SUFFIX,
  CONTROLNET_RESOURCES_DIR,
  QUANTIZED_PARTS,
  RESOURCES_DIR,
  compiledResources,
  T5_RESOURCES,
  compiledModel,
  controlNetResourceName,
  type AttentionImplementation,
  type ChunkablePart,
} from '../../converter/vocabulary.js';
import { chunkableParts } from '../../converter/order.js';

/** What a Resources folder must hold and be, derived from what was asked. Pure. */
export type ModelKind = 'sd' | 'sdxl' | 'sd3';
export const MODEL_KINDS: readonly ModelKind[] = ['sd', 'sdxl', 'sd3'];

export interface Requirement {
  /** Satisfied when every path of one alternative exists (paths relative to Resources). */
  alternatives: string[][];
  /** Why it is needed, for the message. */
  why: string;
  /** A warning where the converter itself may legitimately leave it out. */
  severity: 'error' | 'warning';
  /**
   * The action's own run: the package in output-dir that bundling compiles into each path, and
   * whether it is there (undefined: not looked at).
   */
  sources?: Record<string, { package: string; present?: boolean }>;
}

export interface BundleExpectations {
  kind: ModelKind;
  required: Requirement[];
  /** When set, these models (where present) must carry palettized weights of this many bits. */
  quantize?: { nbits: number; models: string[] };
  attention?: AttentionImplementation;
  /** The latent size asked for (image size / 8). */
  latent?: { h: number; w: number };
}

export const KIND_LABELS: Record<ModelKind, string> = { sd: 'SD 1.x/2.x', sdxl: 'SDXL', sd3: 'SD3' };

const isChunkable = (part: string): part is ChunkablePart => part === 'unet' || part === 'refiner' || part === 'control-unet';
const chunks = (part: ChunkablePart) => [compiledModel(`${part}_chunk1`), compiledModel(`${part}_chunk2`)];
const controlNetModel = (id: string) => `${CONTROLNET_RESOURCES_DIR}/${controlNetResourceName(id)}${COMPILED_SUFFIX}`;
const need = (paths: string[], why: string, severity: 'error' | 'warning' = 'error'): Requirement => ({ alternatives: [paths], why, severity });

/** Every model --quantize-nbits palettizes, and the chunks made from them. */
function quantizedModels(controlnets: readonly string[]): string[] {
  return [
    ...QUANTIZED_PARTS.flatMap((part) => [compiledModel(part), ...(isChunkable(part) ? chunks(part) : [])]),
    ...controlnets.map(controlNetModel),
  ];
}

export function kindOf(o: Pick<ConversionOptions, 'xlVersion' | 'sd3Version'>): ModelKind {
  return o.sd3Version ? 'sd3' : o.xlVersion ? 'sdxl' : 'sd';
}

/**
 * The action's own run: exactly what its converter processes compile into Resources.
 * `hasPackage` tells whether output-dir holds a package (by file name).
 */
export function expectationsFor(o: ConversionOptions, hasPackage?: (file: string) => boolean): BundleExpectations {
  const packageOf = new Map([...compiledResources(o.modelVersion, o.controlnets)].map(([pkg, target]) => [target.slice(RESOURCES_DIR.length + 1), pkg]));
  const withSources = (r: Requirement): Requirement => ({
    ...r,
    sources: Object.fromEntries(
      r.alternatives.flat().flatMap((p) => {
        const pkg = packageOf.get(p);
        return pkg === undefined ? [] : [[p, { package: pkg, present: hasPackage?.(pkg) }]];
      }),
    ),
  });
  const kind = kindOf(o);
  const required: Requirement[] = [];
  if (o.parts.includes('text_encoder')) {
    required.push(need([compiledModel('text_encoder')], 'convert-text-encoder is true'));
    if (kind !== 'sd') required.push(need([compiledModel('text_encoder_2')], `${KIND_LABELS[kind]} has a second text encoder (the Swift pipeline loads it for --xl and SD3)`));
  }
  if (o.parts.includes('vae_decoder')) required.push(need([compiledModel('vae_decoder')], 'convert-vae-decoder is true'));
  if (o.parts.includes('vae_encoder')) required.push(need([compiledModel('vae_encoder')], 'convert-vae-encoder is true'));
  if (o.parts.includes('safety_checker')) {
    required.push(need([compiledModel('safety_checker')], 'convert-safety-checker is true (the converter skips it, with a warning, when the pipeline has no safety checker)', 'warning'));
  }
  if (o.parts.includes('mmdit')) required.push(need([compiledModel('mmdit')], 'convert-mmdit is true'));
  for (const part of chunkableParts(o)) {
    const why = part === 'refiner' ? 'refiner-version is set' : part === 'control-unet' ? 'unet-support-controlnet is true' : 'convert-unet is true';
    required.push(need([compiledModel(part)], why));
    // The converter keeps the full package after chunking, so both are bundled.
    if (o.chunkUnet) required.push(need(chunks(part), 'chunk-unet is true'));
  }
  for (const id of o.controlnets) required.push(need([controlNetModel(id)], `convert-controlnet lists ${id}`));
  if (o.includeT5) required.push(need([...T5_RESOURCES], 'include-t5 is true'));
  return {
    kind,
    required: required.map(withSources),
    quantize: o.quantizeNbits === undefined ? undefined : { nbits: o.quantizeNbits, models: quantizedModels(o.controlnets) },
    attention: o.attention,
    latent: o.latentH !== undefined && o.latentW !== undefined ? { h: o.latentH, w: o.latentW } : undefined,
  };
}

/** What the standalone entry is told about a bundle converted elsewhere. */
export interface VerifyAsked {
  kind: ModelKind;
  attention?: AttentionImplementation;
  quantizeNbits?: number;
  chunked: boolean;
  controlnets: string[];
}

/**
 * A bundle made by hand: the models a text-to-image pipeline of that kind loads. The unet may be
 * the full model or its chunks (the Swift pipeline takes either), unless chunks were asked for.
 */
export function expectationsForBundle(asked: VerifyAsked): BundleExpectations {
  const { kind } = asked;
  const required: Requirement[] = [need([compiledModel('text_encoder')], 'every pipeline encodes the prompt with it'), need([compiledModel('vae_decoder')], 'every pipeline decodes the image with it')];
  if (kind !== 'sd') required.push(need([compiledModel('text_encoder_2')], `${KIND_LABELS[kind]} has a second text encoder`));
  if (kind === 'sd3') {
    required.push(need([compiledModel('mmdit')], 'SD3 denoises with the MMDiT'));
  } else {
    const part: ChunkablePart = asked.controlnets.length > 0 ? 'control-unet' : 'unet';
    const why = part === 'control-unet' ? 'ControlNets need the ControlledUnet' : 'the pipeline denoises with the unet';
    required.push({
      alternatives: asked.chunked ? [chunks(part)] : [[compiledModel(part)], chunks(part)],
      why: asked.chunked ? `${why}, and chunked is true` : why,
      severity: 'error',
    });
  }
  for (const id of asked.controlnets) required.push(need([controlNetModel(id)], `controlnets lists ${id}`));
  return {
    kind,
    required,
    quantize: asked.quantizeNbits === undefined ? undefined : { nbits: asked.quantizeNbits, models: quantizedModels(asked.controlnets) },
    attention: kind === 'sd3' ? undefined : asked.attention,
  };
}

import type { ConversionOptions } from '../config.js';
import type { ChunkablePart, PsnrPart, SelectablePart } from './vocabulary.js';

/**
 * How one torch2coreml run works (main; /work/shared/reference/torch2coreml.md, "Order of work"):
 * after loading the pipeline it converts the VAEs, the ControlNets, the unet (and chunks it, with
 * --chunk-unet), the text encoders, the safety checker, the refiner, the MMDiT; then it quantizes
 * every package in -o in place (QUANTIZED_PARTS and the ControlNets, never the chunks); then it
 * bundles. What the action makes of this (one process per part, quantizing once) is src/plan/.
 */

/** Where the ControlNets come in CONVERSION_ORDER. */
export const CONTROLNETS = 'controlnets';

/** The order one run converts in: the selectable parts, and the ControlNets between the VAEs and the unet. */
export const CONVERSION_ORDER: ReadonlyArray<SelectablePart | typeof CONTROLNETS> = [
  'vae_decoder',
  'vae_encoder',
  CONTROLNETS,
  'unet',
  'text_encoder',
  'safety_checker',
  'mmdit',
];

/**
 * Whether the chunks --chunk-unet makes stay float16: the run chunks right after converting the
 * unet and quantizes only after every conversion, sparing the chunks, which the apps load in
 * preference to the quantized unet.
 */
export function ownChunksStayFloat16(quantizing: boolean): boolean {
  return quantizing;
}

/** The unet's package: with --unet-support-controlnet the converter writes control-unet instead. */
export function unetPart(options: ConversionOptions): 'unet' | 'control-unet' {
  return options.unetSupportControlnet ? 'control-unet' : 'unet';
}

/** The unet-like packages this configuration makes, which chunking splits. */
export function chunkableParts(options: ConversionOptions): ChunkablePart[] {
  if (!options.parts.includes('unet')) return [];
  return options.refinerVersion ? [unetPart(options), 'refiner'] : [unetPart(options)];
}

/**
 * The parity checks of the converted parts a run prints with --check-output-correctness: SD3's VAE
 * decoder and MMDiT print DiffusionKit's (diffusionkit.ts); text_encoder_2 exists only in SDXL
 * pipelines, which only the log tells, so it is not listed. The chunks are checked by coremltools
 * (`<part>_chunks`), not listed here either.
 */
export function conversionChecks(o: ConversionOptions): PsnrPart[] {
  if (!o.checkOutputCorrectness) return [];
  const parts: PsnrPart[] = [];
  if (o.parts.includes('text_encoder')) parts.push('text_encoder');
  if (o.parts.includes('vae_decoder')) parts.push('vae_decoder');
  if (o.parts.includes('mmdit')) parts.push('mmdit');
  if (o.parts.includes('vae_encoder')) parts.push('vae_encoder');
  if (o.parts.includes('unet')) parts.push(unetPart(o));
  if (chunkableParts(o).includes('refiner')) parts.push('refiner');
  if (o.parts.includes('safety_checker')) parts.push('safety_checker');
  if (o.controlnets.length > 0) parts.push('controlnet');
  return parts;
}

/**
 * The parts the action's python/lean_convert.py converts (one per process) through the converter's
 * own per-part functions, holding only that part: convert_text_encoder (text_encoder and, for SDXL,
 * text_encoder_2, one after the other), convert_vae_decoder, convert_vae_encoder, convert_unet (the
 * control-unet too). The safety checker, ControlNets, refiner and SD3's parts (DiffusionKit, and the
 * SDXL base's text encoders) keep the converter's command line.
 */
export const LEAN_PARTS: readonly SelectablePart[] = ['text_encoder', 'vae_decoder', 'vae_encoder', 'unet'];

/** Pure: whether a process converting `part` alone goes through the lean entry. */
export function convertsLean(part: SelectablePart, options: Pick<ConversionOptions, 'leanConversion' | 'sd3Version'>): boolean {
  return options.leanConversion && !options.sd3Version && LEAN_PARTS.includes(part);
}

import type { PsnrGate } from '../inputs/config.js';
import type { ConversionOptions } from '../inputs/config.js';
import { isQuantizedCheck, type PsnrPart } from '../converter/vocabulary.js';
import { chunkableParts, unetPart } from '../plan/plan.js';
import type { PsnrResult } from '../convert/run.js';

/** One row of the `psnr` output. */
export interface PsnrVerdict {
  part: PsnrPart;
  check: string;
  /** null for nan and inf, which fail here although upstream lets nan pass. */
  psnr: number | null;
  threshold: number;
  passed: boolean;
  step: string;
}

/** psnr-thresholds' line for the part, else quantized-min-psnr for a quantized check, else min-psnr. */
export function thresholdFor(part: PsnrPart, gate: PsnrGate): number {
  return gate.thresholds[part] ?? (isQuantizedCheck(part) ? gate.quantizedMinPsnr : gate.minPsnr);
}

export function judgePsnr(results: PsnrResult[], gate: PsnrGate): PsnrVerdict[] {
  return results.map((r) => {
    const threshold = thresholdFor(r.part, gate);
    return { part: r.part, check: r.check, psnr: r.psnr, threshold, passed: r.psnr !== null && r.psnr >= threshold, step: r.step };
  });
}

/**
 * Parts that should have reported a check and did not. Chunk checks are left out: coremltools
 * prints only low figures. text_encoder_2 exists only for SDXL pipelines, which the log tells.
 * SD3's VAE decoder and MMDiT report DiffusionKit's check.
 */
export function expectedPsnrParts(o: ConversionOptions): PsnrPart[] {
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

export function missingChecks(o: ConversionOptions, verdicts: PsnrVerdict[]): PsnrPart[] {
  const seen = new Set(verdicts.map((v) => v.part));
  return expectedPsnrParts(o).filter((p) => !seen.has(p));
}

export function formatPsnr(value: number | null): string {
  return value === null ? 'nan/inf' : `${value.toFixed(1)} dB`;
}

export function failureMessage(v: PsnrVerdict): string {
  return `PSNR of ${v.part} is ${formatPsnr(v.psnr)} (${v.check}), under the threshold of ${v.threshold} dB.`;
}

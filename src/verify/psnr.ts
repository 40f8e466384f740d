import type { PsnrGate } from '../config.js';
import type { ConversionOptions } from '../config.js';
import { isQuantizedCheck, type PsnrPart } from '../converter/vocabulary.js';
import { conversionChecks } from '../converter/order.js';
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
 * Parts that should have reported a check and did not: those the converter prints for what it
 * converted. Chunk checks are not demanded: coremltools prints only low figures.
 */
export function missingChecks(o: ConversionOptions, verdicts: PsnrVerdict[]): PsnrPart[] {
  const seen = new Set(verdicts.map((v) => v.part));
  return conversionChecks(o).filter((p) => !seen.has(p));
}

export function formatPsnr(value: number | null): string {
  return value === null ? 'nan/inf' : `${value.toFixed(1)} dB`;
}

export function failureMessage(v: PsnrVerdict): string {
  return `PSNR of ${v.part} is ${formatPsnr(v.psnr)} (${v.check}), under the threshold of ${v.threshold} dB.`;
}

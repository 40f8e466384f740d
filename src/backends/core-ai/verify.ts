import { existsSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import * as core from '@actions/core';
import type { Config } from '../../config.js';
import type { ConversionResult } from '../../convert/run.js';
import type { PsnrPart } from '../../converter/vocabulary.js';
import { judgeConversion, type GateReport } from '../../verify/stage.js';
import { formatPsnr } from '../../verify/psnr.js';
import { info } from '../../log.js';
import type { ImageCheckResult } from './image.js';
import { readJson } from './run.js';
import { BUNDLE_DIR, CORE_AI_PARTS, parityRecord, psnrPartOf, type CoreAiPart } from './plan.js';

/** Pure: the checks a Core AI conversion must report: one per exported part, under the gate's name. */
export function expectedChecks(config: Config): PsnrPart[] {
  if (!config.conversion.checkOutputCorrectness) return [];
  return CORE_AI_PARTS.filter((p) => config.conversion.parts.includes(p)).map((p) => psnrPartOf(config, p));
}

/** Pure: the image check's verdict, as a message failing the step, or undefined when it passed or did not run. */
export function imageProblem(image: ImageCheckResult | undefined, asked: boolean, failedEarlier: boolean): string | undefined {
  if (!asked || failedEarlier) return undefined;
  if (!image) return 'The image check did not report: no image was compared.';
  if (image.passed) return undefined;
  return `The image check's PSNR (the bundle's image with coreai-core's runtime against diffusers', ${image.steps} steps, seed ${image.seed}) is ${formatPsnr(image.psnr)}, under image-min-psnr ${image.minPsnr} dB.`;
}

/** The .aimodel a part wrote, as its parity record names it (relative to output-dir). */
function componentOf(outputDir: string, part: CoreAiPart): string | undefined {
  const component = readJson<{ component?: unknown }>(parityRecord(outputDir, part))?.component;
  return typeof component === 'string' && /^[\w.-]+$/.test(component) ? path.join(BUNDLE_DIR, component) : undefined;
}

/**
 * The gate of the Core AI backend: each part's parity PSNR against its threshold (min-psnr,
 * psnr-thresholds, quantized-min-psnr for a compressed part), and the image check against
 * image-min-psnr. A part that failed is removed from the bundle, so that it is neither published
 * nor taken as finished by a rerun.
 */
export function verifyCoreAi(config: Config, conversion: ConversionResult): GateReport {
  const gate = judgeConversion(config, conversion, expectedChecks(config));
  for (const a of gate.annotations) (a.level === 'error' ? core.error : core.warning)(a.message, { title: a.title });
  const { outputDir } = config.conversion;
  const failedParts = CORE_AI_PARTS.filter((p) => gate.verdicts.some((v) => !v.passed && v.part === psnrPartOf(config, p)));
  const doomed = failedParts.map((p) => componentOf(outputDir, p)).filter((c): c is string => c !== undefined && existsSync(path.join(outputDir, c)));
  for (const entry of doomed) rmSync(path.join(outputDir, entry), { recursive: true, force: true });
  if (doomed.length > 0) info(`Removed the models that failed the PSNR gate: ${doomed.join(', ')}.`);
  const image = imageProblem(conversion.image, config.coreAi?.image !== undefined, conversion.failure !== undefined);
  if (image) core.error(image, { title: 'Image check' });
  return { verdicts: gate.verdicts, missing: gate.missing, problems: image ? [...gate.problems, image] : gate.problems, image: conversion.image };
}

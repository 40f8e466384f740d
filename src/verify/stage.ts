import { existsSync } from 'node:fs';
import { removeConverterEntries } from '../convert/snapshot.js';
import * as path from 'node:path';
import * as core from '@actions/core';
import type { Config } from '../config.js';
import type { PsnrPart } from '../converter/vocabulary.js';
import { RESOURCES_DIR } from '../converter/vocabulary.js';
import type { ConversionResult } from '../convert/run.js';
import { setOutput } from '../outputs.js';
import { failureMessage, judgePsnr, missingChecks, type PsnrVerdict } from './psnr.js';
import { packagesToRemoveFor } from './packages.js';
import { bundleProblem, verifyConversion } from './bundle/stage.js';
import type { BundleReport } from './bundle/check.js';
import { info } from '../log.js';
import type { ImageCheckResult } from '../backends/core-ai/image.js';
import { BUNDLE_DIR } from '../backends/core-ai/plan.js';

export interface Annotation {
  level: 'error' | 'warning';
  message: string;
  title: string;
}

/** What the PSNR gate decides about a conversion. */
export interface GateDecision {
  verdicts: PsnrVerdict[];
  missing: PsnrPart[];
  /** In the order they are written to the log. */
  annotations: Annotation[];
  /** The messages that fail the step. */
  problems: string[];
  /** Relative to output-dir: the packages of the parts that failed, and the models compiled from them. */
  remove: string[];
}

/**
 * Pure: the gate's verdicts, annotations and failures, and what must go from output-dir. `expected`:
 * the checks the backend must report (Core ML's: those the converter prints for what it converted).
 */
export function judgeConversion(config: Config, conversion: ConversionResult, expected?: readonly PsnrPart[]): GateDecision {
  const verdicts = judgePsnr(conversion.psnr, config.gate);
  // A part whose process never ran (an earlier one failed) is not "not reported": the failure says why.
  const neverRan = new Set(conversion.steps.filter((s) => s.status === 'not run').flatMap((s) => s.parts ?? []));
  const seen = new Set(verdicts.map((v) => v.part));
  // The converting half of a split conversion reports no Core ML check: the finishing job demands them.
  const demanded = expected ? expected.filter((p) => !seen.has(p)) : config.split.mode === 'convert' ? [] : missingChecks(config.conversion, verdicts);
  const missing = demanded.filter((p) => !neverRan.has(p));
  const annotations: Annotation[] = [];
  const problems: string[] = [];
  const failed = verdicts.filter((v) => !v.passed);
  for (const v of failed) {
    const message = failureMessage(v);
    annotations.push({ level: 'error', message, title: `PSNR gate: ${v.part}` });
    problems.push(message);
  }
  for (const part of missing) annotations.push({ level: 'warning', message: `No PSNR check was reported for ${part}.`, title: 'PSNR gate' });
  if (conversion.failure) {
    const { step, diagnosis, removed, unchecked } = conversion.failure;
    const removedNote =
      removed.length === 0
        ? ''
        : unchecked
          ? ` Removed what it was checking, so that a rerun converts and checks it again: ${removed.join(', ')}.`
          : ` Removed what it left half-written, so that a rerun converts it again: ${removed.join(', ')}.`;
    const message = `${step} failed. ${diagnosis.title}${removedNote}`;
    // The converter's own `dB is too low!` is already told by the gate's message for that part.
    if (!(conversion.converterRejectedPsnr && problems.length > 0)) {
      annotations.push({ level: 'error', message: `${message}\n${diagnosis.hints.map((h) => `- ${h}`).join('\n')}`, title: `Conversion failed: ${step}` });
      problems.push(message);
    }
  }
  // A package that failed the gate must not be skipped as finished by the next run, nor published.
  const remove = packagesToRemoveFor(config.conversion, failed.map((v) => v.part));
  return { verdicts, missing, annotations, problems, remove };
}

export interface GateReport {
  verdicts: PsnrVerdict[];
  missing: PsnrPart[];
  problems: string[];
  /** The bundle check, when Resources were verified. */
  bundle?: BundleReport;
  /** The Core AI backend's end-to-end image check, when it ran. */
  image?: ImageCheckResult;
}

/**
 * The verify stage: annotates the gate's findings, removes the packages that failed it, and checks
 * the bundle before anything is published (a bundle the apps cannot load as asked fails the step).
 */
export function verifyStage(config: Config, conversion: ConversionResult): GateReport {
  const gate = judgeConversion(config, conversion);
  for (const a of gate.annotations) (a.level === 'error' ? core.error : core.warning)(a.message, { title: a.title });
  const { outputDir } = config.conversion;
  const doomed = removeConverterEntries(outputDir, gate.remove.filter((p) => existsSync(path.join(outputDir, p))));
  if (doomed.length > 0) info(`Removed the packages that failed the PSNR gate: ${doomed.join(', ')}.`);
  // Resources are compiled by the finishing job of a split conversion, and verified there.
  const bundle = config.split.mode === 'convert' ? undefined : verifyConversion(config, conversion);
  const bundleFailure = bundleProblem(bundle);
  return { verdicts: gate.verdicts, missing: gate.missing, problems: bundleFailure ? [...gate.problems, bundleFailure] : gate.problems, bundle };
}

/**
 * Pure: psnr-passed, true only when checks ran and every one passed: no check (check-output-correctness
 * false, a dry run, nothing converted, the converting half of a split conversion) is not a pass.
 */
export function psnrPassed(config: Config, gate?: Pick<GateReport, 'verdicts' | 'missing'>, conversion?: ConversionResult): boolean {
  const verdicts = gate?.verdicts ?? [];
  // The converting half of a split conversion has not run the Core ML checks: the finishing job passes or fails them.
  return verdicts.length > 0 && verdicts.every((v) => v.passed) && (gate?.missing ?? []).length === 0 && !conversion?.converterRejectedPsnr && !config.dryRun && config.split.mode !== 'convert';
}

/** The outputs of what the conversion left and what the gate said (a dry run: empty, not passed). */
export function setConversionOutputs(config: Config, packages: string[], gate?: GateReport, conversion?: ConversionResult): void {
  const resources = path.join(config.conversion.outputDir, RESOURCES_DIR);
  setOutput('resources-dir', config.conversion.bundleResources && existsSync(resources) ? resources : '');
  setOutput('mlpackages', packages);
  setOutput('psnr', gate?.verdicts ?? []);
  setOutput('psnr-passed', psnrPassed(config, gate, conversion));
  const bundle = path.join(config.conversion.outputDir, BUNDLE_DIR);
  setOutput('bundle-dir', config.backend === 'core-ai' && existsSync(path.join(bundle, 'metadata.json')) ? bundle : '');
  setOutput('image-check', gate?.image);
}

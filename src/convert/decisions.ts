import * as path from 'node:path';
import type { ConversionOptions } from '../config.js';
import type { Step } from '../plan/plan.js';
import { chunkPackageName, compiledResources, controlNetPackageName, packageName, quantizedPackages } from '../converter/vocabulary.js';
import type { Snapshot } from './snapshot.js';
import { parityPackages } from '../converter/parity.js';

/**
 * Pure decisions taken before a step runs, where the converter would otherwise be silently wrong
 * about what an earlier run left in the folder. Paths are relative to -o.
 */
export interface StepPreparation {
  /** Skip the step: its work is done and still valid. */
  skip?: string;
  /**
   * Remove when the step fails: packages made earlier in this run that it judged (a parity
   * process), so that they are not taken as checked and finished by the next run.
   */
  removeOnFailure?: string[];
  /** Remove before running: results of an earlier run made from packages that changed since. */
  remove: string[];
  /** Move aside while the step runs: already quantized packages that must not be quantized again. */
  hide: string[];
  /**
   * The ControlNet ids to pass, when not the step's own: a listed ControlNet whose package is
   * missing gets converted again, so quantized ones are left off the list instead of hidden.
   */
  controlnets?: string[];
}

export function prepareStep(
  step: Step,
  options: ConversionOptions,
  now: Snapshot,
  changedThisRun: ReadonlySet<string>,
  alreadyQuantized: ReadonlySet<string>,
): StepPreparation {
  const none: StepPreparation = { remove: [], hide: [] };
  if (step.kind === 'parity' && step.half === 'check') {
    // The finishing job of a split conversion: every package handed off is checked here, once.
    const judged = parityPackages(options, step.part).filter((p) => now.has(p));
    if (judged.length === 0) return { ...none, skip: `the hand-off holds no package of ${step.part}` };
    return { ...none, removeOnFailure: judged };
  }
  if (step.kind === 'parity') {
    // The converter skipped an existing package without checking it: the earlier run's checks stand.
    const judged = parityPackages(options, step.part).filter((p) => now.has(p) && changedThisRun.has(p));
    if (judged.length === 0) return { ...none, skip: `no package of ${step.part} was converted in this run (its earlier checks stand)` };
    return { ...none, removeOnFailure: judged };
  }
  if (step.kind === 'chunk') {
    const source = packageName(options.modelVersion, step.part);
    const chunks = [1, 2].map((n) => chunkPackageName(options.modelVersion, step.part, n as 1 | 2));
    const present = chunks.filter((c) => now.has(c));
    if (present.length === 2 && !changedThisRun.has(source)) return { ...none, skip: `the chunks of ${source} exist and it has not changed` };
    return { ...none, remove: present };
  }
  const prep: StepPreparation = { remove: [], hide: [] };
  if (step.quantize) {
    const done = (p: string) => alreadyQuantized.has(p) && !changedThisRun.has(p);
    const targets = quantizedPackages(options.modelVersion, options.controlnets).filter((p) => now.has(p));
    if (targets.length > 0 && targets.every(done)) {
      return { ...none, skip: 'every package it would quantize is quantized already' };
    }
    const controlNetDone = (id: string) => done(controlNetPackageName(id));
    prep.hide = quantizedPackages(options.modelVersion, []).filter((p) => now.has(p) && done(p));
    if (step.controlnets.some(controlNetDone)) prep.controlnets = step.controlnets.filter((id) => !controlNetDone(id));
  }
  if (step.bundle) {
    // Upstream never recompiles an existing .mlmodelc: drop those whose package changed.
    for (const [pkg, compiled] of compiledResources(options.modelVersion, options.controlnets)) {
      if (changedThisRun.has(pkg) && now.has(path.normalize(compiled))) prep.remove.push(path.normalize(compiled));
    }
  }
  return prep;
}

/** Pure: which quantized packages the state should list after a successful quantize step. */
export function quantizedAfter(options: ConversionOptions, now: Snapshot): string[] {
  return quantizedPackages(options.modelVersion, options.controlnets).filter((p) => now.has(p));
}

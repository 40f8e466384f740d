import type { Config } from '../config.js';
import type { Rule } from './rule.js';
import { finishProblem, linuxConvertProblem, type RunnerPlatform } from '../setup/locks.js';
import { compileRefusal } from '../converter/compile.js';
import { artifactServiceProblem } from '../publish/artifact.js';

/** Pure: why this runner cannot run the converting half, or undefined (Linux x64, or an Apple-silicon Mac). */
export function convertRunnerProblem(runner: RunnerPlatform): string | undefined {
  if (runner.os !== 'Linux' && runner.os !== 'macOS') return `a ${runner.os} runner cannot run the conversion: the converter runs on Linux x64 and macOS only. Run the convert half on \`runs-on: ubuntu-latest\`.`;
  return linuxConvertProblem(runner);
}

/**
 * Pure: what a split conversion cannot check across two jobs. The converting half runs where Core ML
 * may not (Linux): every check must be one parity.py splits into its PyTorch half (there) and its
 * Core ML half (the finishing job).
 */
export function uncheckableInSplit(c: Config): string[] {
  const o = c.conversion;
  if (!o.checkOutputCorrectness) return [];
  const found: string[] = [];
  if (o.parts.includes('safety_checker')) found.push('convert-safety-checker (the converter checks it in its own process, with Core ML)');
  if (o.controlnets.length > 0) found.push('convert-controlnet (the same)');
  if (o.unetSupportControlnet && o.parts.includes('unet')) found.push('unet-support-controlnet (the same, for the control-unet)');
  if (o.quantizeNbits !== undefined) {
    found.push('quantize-nbits (its check runs each package before and after quantization in Core ML, in the process that quantizes: the two halves would need both packages)');
  }
  return found;
}

export const SPLIT_RULES: readonly Rule[] = [
  {
    input: 'split',
    severity: 'error',
    check: (c) => {
      const problem = c.split.mode === 'convert' && !c.dryRun ? convertRunnerProblem(c.runner) : undefined;
      return problem && `is convert, and ${problem}`;
    },
  },
  {
    input: 'split',
    severity: 'error',
    check: (c) => {
      const problem = c.split.mode === 'finish' && !c.dryRun ? finishProblem(c.runner) : undefined;
      return problem && `is finish, and ${problem}`;
    },
  },
  {
    input: 'split',
    severity: 'error',
    check: (c) =>
      c.split.mode !== 'none' && c.conversion.sd3Version
        ? `is ${c.split.mode}, with sd3-version: DiffusionKit checks SD3's parts in the process that converts them, with Core ML, so they cannot be converted on Linux. Use one macOS job (split: none).`
        : undefined,
  },
  {
    input: 'split',
    severity: 'error',
    check: (c) => {
      if (c.split.mode === 'none' || c.conversion.sd3Version) return undefined;
      const found = uncheckableInSplit(c);
      return found.length === 0
        ? undefined
        : `is ${c.split.mode}, with check-output-correctness and ${found.join('; ')}. Split, only the text encoders, the VAEs and the unet are checked (PyTorch on the converting job, Core ML on the finishing one): convert those parts here, or use one macOS job (split: none), or set check-output-correctness: false.`;
    },
  },
  {
    input: 'split',
    severity: 'error',
    check: (c) => {
      const refusal = c.split.mode !== 'none' && c.conversion.bundleResources ? compileRefusal(c.conversion) : undefined;
      return refusal ? `is ${c.split.mode}, with ${refusal}. Use one macOS job (split: none).` : undefined;
    },
  },
  {
    input: 'split',
    severity: 'error',
    check: (c) => {
      // The converting job uploads the hand-off; the finishing job downloads it, unless handoff names a folder.
      const needsService = !c.dryRun && (c.split.mode === 'convert' || (c.split.mode === 'finish' && !(c.split.handoff && 'path' in c.split.handoff)));
      const problem = needsService ? artifactServiceProblem(c.runner.artifactServiceUnset, c.publish.github) : undefined;
      return problem && `is ${c.split.mode}, but ${problem}: the hand-off between the two jobs is a workflow artifact.${c.split.mode === 'finish' ? ' Give `handoff` the folder it was downloaded to.' : ''}`;
    },
  },
];

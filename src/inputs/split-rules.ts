import type { Config } from '../config.js';
import type { Rule } from './rule.js';
import { compileRefusal } from '../converter/compile.js';

const LINUX_NO_WHEEL = 'coremltools 8.3, which the converter is pinned to, publishes Linux wheels for x86_64 only (none for arm64), and the converter cannot run without it';
const CONVERT_RUNNERS = 'a Linux x64 runner (`runs-on: ubuntu-latest`, or a larger Linux x64 runner for more memory) or an Apple silicon macOS runner';

/** Pure: why this runner cannot run the converting half, or undefined. */
export function convertRunnerProblem(os: string, arch: string): string | undefined {
  const a = arch.toUpperCase();
  if (os === 'Linux' && a !== 'X64') return `is convert on a Linux ${arch} runner: ${LINUX_NO_WHEEL}. Use ${CONVERT_RUNNERS}.`;
  if (os === 'macOS' && a !== 'ARM64') return undefined; // the install rule names Intel Macs
  if (os !== 'Linux' && os !== 'macOS') return `is convert on a ${os} runner: the converter runs on Linux x64 and macOS only. Use ${CONVERT_RUNNERS}.`;
  return undefined;
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
    check: (c) => (c.split.mode === 'convert' && !c.dryRun ? convertRunnerProblem(c.runner.os, c.runner.arch) : undefined),
  },
  {
    input: 'split',
    severity: 'error',
    check: (c) =>
      c.split.mode === 'finish' && !c.dryRun && c.runner.os !== 'macOS'
        ? `is finish on a ${c.runner.os} runner: the finishing job runs Core ML (the parity check) and Xcode's coremlcompiler (the Resources), which need macOS. Use \`runs-on: macos-latest\`.`
        : undefined,
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
];

import type { Config } from '../../config.js';
import type { SelectablePart } from '../../converter/vocabulary.js';
import type { InputName } from '../../inputs/names.js';
import type { Rule } from '../../inputs/rule.js';

/**
 * The Python of the shipped locks (constraints/coreai/*-py3.11.txt); index.ts's CORE_AI_PYTHON is the
 * same (a unit test holds them together: index.ts imports this file, so this file cannot import it).
 */
export const CORE_AI_LOCKED_PYTHON = '3.11';
/** coreai-core 1.0.0b3 publishes wheels for CPython 3.11 to 3.13 (Linux x86_64 and macOS arm64). */
export const CORE_AI_PYTHONS = { min: [3, 11], max: [3, 13] } as const;

/** The refusal of an SDXL model with backend core-ai (`what` says what the model is and how it was told). */
export function coreAiSdxlProblem(what: string): string {
  return `Input \`model-version\`: ${what}, and backend core-ai converts SD 1.x and 2.x only for now (its export takes one text encoder and no added conditioning). Use backend: core-ml with xl-version: true for SDXL.`;
}

/** The parts python/coreai_export.py exports, each with the input that selects it. */
export const CORE_AI_PART_INPUTS: ReadonlyArray<readonly [SelectablePart, InputName]> = [
  ['text_encoder', 'convert-text-encoder'],
  ['unet', 'convert-unet'],
  ['vae_decoder', 'convert-vae-decoder'],
  ['vae_encoder', 'convert-vae-encoder'],
];
/** What a bundle needs to load in Apple's runtime (and what the image check runs: the text encoder, the unet's steps, the VAE decoder). */
const IMAGE_PARTS: readonly SelectablePart[] = ['text_encoder', 'unet', 'vae_decoder'];

/**
 * Pure: why this runner cannot run the Core AI backend, or undefined. coreai-core (the runtime the
 * checks run on, and a dependency of coreai-torch) has wheels for Linux x86_64 (glibc 2.34 or newer)
 * and macOS 26 or newer on arm64 only: no Linux arm64, Intel macOS or Windows wheel, and the locks
 * install wheels only. Self-hosted or not, the runner's OS and arch decide (as for core-ml).
 */
export function coreAiRunnerProblem(runner: { os: string; arch: string }): string | undefined {
  const arch = runner.arch.toUpperCase();
  if ((runner.os === 'Linux' && arch === 'X64') || (runner.os === 'macOS' && arch === 'ARM64')) return undefined;
  return (
    `a ${runner.os} ${runner.arch} runner cannot install it: coreai-core, Apple's Core AI runtime that coreai-torch needs and the checks run on, ` +
    'publishes wheels for Linux x86_64 (glibc 2.34 or newer) and macOS 26 or newer on arm64 only (no Linux arm64, Intel macOS or Windows wheel). ' +
    'Use `runs-on: ubuntu-latest` (or ubuntu-24.04, ubuntu-22.04), or `runs-on: macos-26` (Apple silicon); on other runners only `dry-run: true` works.'
  );
}

function compareVersion(version: string, [major, minor]: readonly number[]): number {
  const [a = 0, b = 0] = version.split('.').map(Number);
  return a - (major ?? 0) || b - (minor ?? 0);
}

const inCoreAiRange = (version: string) => compareVersion(version, CORE_AI_PYTHONS.min) >= 0 && compareVersion(version, CORE_AI_PYTHONS.max) <= 0;
const RANGE = `${CORE_AI_PYTHONS.min.join('.')} to ${CORE_AI_PYTHONS.max.join('.')}`;

/** The Config's latent side an input sets. */
const latentOf = (c: Config, input: 'latent-h' | 'latent-w') => (input === 'latent-h' ? c.conversion.latentH : c.conversion.latentW);

/** Checks across inputs when backend is core-ai (src/inputs/ runs them with the common rules). */
export const CORE_AI_RULES: readonly Rule[] = [
  {
    input: 'backend',
    severity: 'error',
    check: (c) => {
      const problem = c.dryRun ? undefined : coreAiRunnerProblem(c.runner);
      return problem && `is core-ai, and ${problem}`;
    },
  },
  {
    input: 'python-version',
    severity: 'error',
    check: (c) => {
      if (c.setup.python !== undefined || c.setup.pythonVersion === CORE_AI_LOCKED_PYTHON) return undefined;
      if (!c.setup.pinsFromInput) {
        return `is ${c.setup.pythonVersion}, but backend core-ai ships its locks (constraints/coreai) for Python ${CORE_AI_LOCKED_PYTHON} only: use ${CORE_AI_LOCKED_PYTHON}, or give pip-constraints a lock of your own for ${c.setup.pythonVersion} (coreai-core has wheels for ${RANGE}).`;
      }
      return inCoreAiRange(c.setup.pythonVersion) ? undefined : `is ${c.setup.pythonVersion}, but coreai-core, which backend core-ai installs, has wheels for Python ${RANGE} only.`;
    },
  },
  {
    input: 'python',
    severity: 'error',
    check: (c) =>
      c.setup.pythonProbed !== undefined && !inCoreAiRange(c.setup.pythonProbed)
        ? `is Python ${c.setup.pythonProbed}, but coreai-core, which backend core-ai installs, has wheels for Python ${RANGE} only: give the path of a Python ${RANGE}, or leave python empty to install ${CORE_AI_LOCKED_PYTHON}.`
        : undefined,
  },
  {
    input: 'convert-unet',
    severity: 'error',
    check: (c) => {
      // Apple's Swift runtime loads a bundle only with these three (PipelineDescriptor+CoreAI.swift at 86b363d).
      const missing = CORE_AI_PART_INPUTS.filter(([part]) => IMAGE_PARTS.includes(part) && !c.conversion.parts.includes(part)).map(([, input]) => input);
      return missing.length > 0
        ? `and the other convert-* inputs leave out ${missing.join(', ')}: a Core AI bundle loads only with the text encoder, the unet and the VAE decoder (Apple's diffusion runtime refuses it otherwise), so backend core-ai exports all three (convert-vae-encoder adds the encoder).`
        : undefined;
    },
  },
  {
    input: 'custom-vae-version',
    severity: 'error',
    check: (c) =>
      c.conversion.customVaeVersion !== undefined
        ? 'is not supported yet with backend core-ai: its export and its image check load the pipeline\'s own VAE. Leave custom-vae-version empty, or use backend: core-ml.'
        : undefined,
  },
  // The export's resolution is latent * 8 on each side, one size for both (python/coreai_export.py).
  ...(['latent-h', 'latent-w'] as const).map(
    (input): Rule => ({
      input,
      severity: 'error',
      check: (c) => {
        const other = input === 'latent-h' ? 'latent-w' : 'latent-h';
        const [mine, theirs] = [latentOf(c, input), latentOf(c, other)];
        if (mine !== undefined || theirs === undefined) return undefined;
        return `is empty, but ${other} is ${theirs}: backend core-ai exports square images (latent * 8 pixels on each side). Give latent-h and latent-w the same value, or leave both empty.`;
      },
    }),
  ),
  {
    input: 'latent-w',
    severity: 'error',
    check: (c) => {
      const { latentH, latentW } = c.conversion;
      return latentH !== undefined && latentW !== undefined && latentH !== latentW
        ? `is ${latentW}, but latent-h is ${latentH}: backend core-ai exports square images (latent * 8 pixels on each side), so the two must be equal.`
        : undefined;
    },
  },
];

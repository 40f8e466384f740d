// Shared builders for the unit tests (not a test file itself).
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { IdentitySource } from '../../src/converter/identity.js';
import type { ConversionOptions } from '../../src/config.js';
import type { InputName } from '../../src/inputs/names.js';
import type { ParseContext } from '../../src/inputs/parse.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ActionMeta {
  inputs: Record<string, { default?: unknown; required?: boolean } | null>;
  outputs: Record<string, unknown>;
}

export const ACTION = parse(readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as ActionMeta;

/** What the runner puts in place of `${{ github.token }}`: the job's token (a made-up one here). */
export const RUNNER_GITHUB_TOKEN = 'ghs_jobTokenTheRunnerSubstitutes0';

/** action.yml's default of every input, as the runner passes it ('' when absent; expressions evaluated). */
export function actionDefaults(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(ACTION.inputs).map(([name, spec]) => [name, spec?.default === undefined ? '' : String(spec.default).replace('${{ github.token }}', RUNNER_GITHUB_TOKEN)]),
  );
}

export const WORKSPACE = '/home/runner/work/repo/repo';
export const ACTION_ROOT = '/home/runner/work/_actions/owner/coreml/v1';
export const HUB_MODEL = 'stabilityai/stable-diffusion-2-1-base';

/**
 * Raw inputs: action.yml's defaults, a Hub model and a token, overridden by `overrides`.
 * Every input is read through this function, so a name outside action.yml is a test error.
 */
export function raw(overrides: Partial<Record<InputName, string>> = {}): (name: InputName) => string {
  const values: Record<string, string> = { ...actionDefaults(), 'model-version': HUB_MODEL, 'hf-token': 'hf_secret', ...overrides };
  return (name) => {
    if (!(name in ACTION.inputs)) throw new Error(`parseInputs read ${name}, which action.yml does not declare`);
    return values[name] ?? '';
  };
}

/**
 * A macOS runner with the given folders and files (absolute, or relative to the workspace). Each
 * of `dirs` is a model folder (it holds model_index.json and config.json); `bareDirs` hold nothing.
 */
export function ctx(
  options: { env?: Record<string, string | undefined>; dirs?: string[]; bareDirs?: string[]; files?: string[] } = {},
): ParseContext {
  const abs = (p: string) => path.resolve(WORKSPACE, p);
  const modelDirs = (options.dirs ?? []).map(abs);
  const dirs = new Set([...modelDirs, ...(options.bareDirs ?? []).map(abs)]);
  const files = new Set([...(options.files ?? []).map(abs), ...modelDirs.flatMap((d) => [path.join(d, 'model_index.json'), path.join(d, 'config.json')])]);
  return {
    env: {
      RUNNER_OS: 'macOS',
      RUNNER_ARCH: 'ARM64',
      RUNNER_TEMP: '/Users/runner/work/_temp',
      RUNNER_TOOL_CACHE: '/Users/runner/hostedtoolcache',
      GITHUB_WORKSPACE: WORKSPACE,
      ...options.env,
    },
    actionRoot: ACTION_ROOT,
    isDirectory: (p) => dirs.has(path.resolve(p)),
    isFile: (p) => files.has(path.resolve(p)),
  };
}

export const OUT = '/w/out';

/** ConversionOptions for plan and command tests: SD 2.1 base, the three default parts, bundled. */
export function options(overrides: Partial<ConversionOptions> = {}): ConversionOptions {
  return {
    modelVersion: HUB_MODEL,
    modelIsLocal: false,
    parts: ['text_encoder', 'vae_decoder', 'unet'],
    controlnets: [],
    computeUnit: 'CPU_AND_NE',
    attention: 'SPLIT_EINSUM_V2',
    checkOutputCorrectness: true,
    hubIds: [HUB_MODEL],
    modelRevision: 'main',
    chunkUnet: false,
    unetSupportControlnet: false,
    unetBatchOne: false,
    includeT5: false,
    bundleResources: true,
    urls: {},
    minDeploymentTarget: 'iOS17',
    xlVersion: false,
    sd3Version: false,
    outputDir: OUT,
    extraArgs: [],
    quantizeBundleEntry: path.join(ACTION_ROOT, 'python/quantize_bundle.py'),
    checkComputeUnit: 'CPU_ONLY',
    parityEntry: path.join(ACTION_ROOT, 'python/parity.py'),
    // The command line unless a test asks for the lean entry (the action's default is lean: inputs.test).
    leanConversion: false,
    leanConvertEntry: path.join(ACTION_ROOT, 'python/lean_convert.py'),
    ...overrides,
  };
}

/** What converter/identity.ts reads: `options(overrides)` and the setup and prepare-fp16 defaults. */
export function identitySource(overrides: Partial<ConversionOptions> = {}): IdentitySource {
  return {
    conversion: options(overrides),
    setup: { pythonVersion: '3.11', requirement: 'python_coreml_stable_diffusion @ git+https://github.com/apple/ml-stable-diffusion@e12202c', pinsFile: '/pins.txt', pinsFromInput: false },
    prepareFp16: { mode: 'auto', helper: path.join(ACTION_ROOT, 'python/prepare_fp16.py') },
  };
}

import * as os from 'node:os';
import * as path from 'node:path';
import { hubCacheDir, hubEndpoint } from '../hub/files.js';
import {
  ATTENTION_IMPLEMENTATIONS,
  COMPUTE_UNITS,
  DEPLOYMENT_TARGETS,
  PSNR_PARTS,
  QUANTIZE_NBITS,
  type PsnrPart,
  type SelectablePart,
} from '../converter/vocabulary.js';
import { DEFAULT_PYTHON, DEFAULT_REQUIREMENT } from '../converter/install.js';
import { SD3_SDXL_BASE } from '../converter/diffusionkit.js';
import type { RunnerPlatform } from '../setup/locks.js';
import { BACKENDS, BACKEND_NAMES } from '../backends/registry.js';
import { LEAN_CONVERT_ENTRY, MANAGED_FLAGS, QUANTIZE_BUNDLE_ENTRY } from '../converter/commands.js';
import { PREPARE_FP16_HELPER } from '../fp16/decide.js';
import { PARITY_ENTRY, defaultCheckComputeUnit } from '../converter/parity.js';
import type { BackendName, Config, PsnrGate, SplitMode } from '../config.js';
import { FieldReader, PLAIN_DECIMAL, isHubId, resolveIn, screenProblem } from './fields.js';
import { INPUT_DEFAULTS, MAIN_INPUT_SCREEN, type InputName } from './names.js';
import { foreignInputs, foreignMessage, withoutForeign } from './backend.js';
import { readCoreAi } from './core-ai.js';
import { outputDirVerdict } from './output-dir.js';
import { judgeProbe, type ProbeOutcome } from './python-probe.js';
import { RULES } from './rules.js';
import { readPublishOptions } from './publish.js';
import { PRESET_NAMES, withPreset } from './presets.js';
import { readSingleFile } from './single-file.js';
import { readSplit } from './split.js';
import { modelNameOf } from '../single-file/source.js';

/** What parsing needs from the world, injected so that parsing stays pure. */
export interface ParseContext {
  env: Readonly<Record<string, string | undefined>>;
  /** The folder holding action.yml (for the shipped constraints file). */
  actionRoot: string;
  isDirectory(p: string): boolean;
  isFile(p: string): boolean;
  /** A path resolved through symlinks (the nearest existing ancestor's real path, then the rest); identity when left out. */
  realPath?(p: string): string;
  /** Runs the `python` input with -c (python-probe.ts); left out, the input is only checked to be a file. */
  probePython?(file: string): ProbeOutcome;
}

export interface ParseResult {
  config?: Config;
  errors: string[];
  warnings: string[];
  /** The tokens as given (those that passed the screen), to mask before anything is logged. */
  secrets: string[];
}

/** Input, part, default, default with sd3-version (SD3 denoises with the MMDiT, not a unet). */
const PART_SWITCHES: ReadonlyArray<readonly [InputName, SelectablePart, boolean, boolean]> = [
  ['convert-vae-decoder', 'vae_decoder', true, true],
  ['convert-vae-encoder', 'vae_encoder', false, false],
  ['convert-unet', 'unet', true, false],
  ['convert-text-encoder', 'text_encoder', true, true],
  ['convert-safety-checker', 'safety_checker', false, false],
  ['convert-mmdit', 'mmdit', false, true],
];

/** Reads every input into one Config; reports every problem at once, before anything runs. */
export function parseInputs(raw: (name: InputName) => string, ctx: ParseContext): ParseResult {
  // The backend first: an input only another backend reads is refused by name, and then read as its
  // default by everything below (the preset included, so a preset refused fills nothing).
  const backendReader = new FieldReader(raw, MAIN_INPUT_SCREEN);
  const backend: BackendName = backendReader.oneOf('backend', BACKEND_NAMES, INPUT_DEFAULTS.backend);
  // A misspelt backend is reported alone, not with the inputs and rules of the backend it fell back to.
  const backendKnown = backendReader.errors.length === 0;
  const foreign = backendKnown ? foreignInputs(raw, backend) : [];
  const own = withoutForeign(raw, foreign);
  // Explicit input, else the preset's value, else the built-in default (each reader's fallback).
  const presetReader = new FieldReader(own, MAIN_INPUT_SCREEN);
  const preset = presetReader.oneOf('preset', PRESET_NAMES);
  const read = new FieldReader(withPreset(own, preset), MAIN_INPUT_SCREEN);
  read.errors.push(...backendReader.errors, ...foreign.map((f) => foreignMessage(f, backend)), ...presetReader.errors);
  const runner = {
    os: ctx.env.RUNNER_OS ?? process.platform,
    environment: ctx.env.RUNNER_ENVIRONMENT || undefined,
    arch: ctx.env.RUNNER_ARCH ?? process.arch,
    temp: ctx.env.RUNNER_TEMP ?? '/tmp',
    toolCache: ctx.env.RUNNER_TOOL_CACHE ?? path.join(ctx.env.RUNNER_TEMP ?? '/tmp', 'tool-cache'),
    workspace: ctx.env.GITHUB_WORKSPACE ?? process.cwd(),
    hubEndpoint: hubEndpoint(ctx.env),
    hubCache: hubCacheDir(ctx.env, ctx.env.HOME || os.homedir()),
    conda: ctx.env.CONDA || undefined,
    stepSummary: Boolean(ctx.env.GITHUB_STEP_SUMMARY),
    artifactServiceUnset: ['ACTIONS_RUNTIME_TOKEN', 'ACTIONS_RESULTS_URL'].filter((name) => !ctx.env[name]),
  };

  const modelRevision = readRevision(read);
  const checkpoint = readSingleFile(read, { ...ctx, workspace: runner.workspace, endpoint: runner.hubEndpoint }, modelRevision);
  // A single file converts as the diffusers folder made of it, named after the file (src/single-file/).
  const singleFile = checkpoint && 'singleFile' in checkpoint ? checkpoint.singleFile : undefined;
  const model = singleFile ? { value: modelNameOf(singleFile.checkpoint), isLocal: true } : checkpoint ? undefined : readModel(read, 'model-version', runner.workspace, ctx, true);
  const controlnets = read.list('convert-controlnet');
  controlnets.forEach((id) => {
    // The converter reads each ControlNet's model card from the Hub, so a local folder fails there.
    if (!isHubId(id) || ctx.isDirectory(resolveIn(runner.workspace, id))) {
      read.fail('convert-controlnet', `lists ${JSON.stringify(id)}, which is not a Hub id (owner/name): the converter reads every ControlNet's model card from the Hub.`);
    }
  });
  const refiner = readModel(read, 'refiner-version', runner.workspace, ctx, false);
  const customVae = readModel(read, 'custom-vae-version', runner.workspace, ctx, false);

  const outputDirInput = read.text('output-dir') || 'coreml-models';
  const outputDir = resolveIn(runner.workspace, outputDirInput);
  const parseWarnings: string[] = [];
  if (!read.wasRefused('output-dir')) {
    const real = ctx.realPath ?? ((p: string) => p);
    const home = ctx.env.HOME || undefined;
    const verdict = outputDirVerdict({
      real: real(outputDir),
      workspace: real(runner.workspace),
      home: home && real(home),
      temp: real(runner.temp),
      toolCache: real(runner.toolCache),
      isFile: ctx.isFile(outputDir),
    });
    if (verdict.error) read.fail('output-dir', verdict.error);
    if (verdict.warning) parseWarnings.push(`Input \`output-dir\` ${verdict.warning}`);
  }

  const pythonVersion = readPythonVersion(read);
  const token = read.text('hf-token') || readEnvToken(read, ctx.env.HF_TOKEN);
  const sd3Version = read.bool('sd3-version', false);
  const computeUnit = read.oneOf('compute-unit', COMPUTE_UNITS, 'ALL');
  const split = readSplit(read, { workspace: runner.workspace, temp: runner.temp, isDirectory: ctx.isDirectory, isFile: ctx.isFile, realPath: ctx.realPath ?? ((p: string) => p) });
  const python = readPython(read, runner.workspace, ctx);
  const config: Config = {
    backend,
    coreAi: backend === 'core-ai' ? readCoreAi(read, ctx.actionRoot) : undefined,
    conversion: {
      modelVersion: model?.value ?? '',
      modelIsLocal: model?.isLocal ?? false,
      parts: PART_SWITCHES.filter(([input, , fallback, sd3Fallback]) => read.bool(input, sd3Version ? sd3Fallback : fallback)).map(([, part]) => part),
      controlnets,
      refinerVersion: refiner?.value,
      customVaeVersion: customVae?.value,
      computeUnit,
      attention: read.oneOf('attention-implementation', ATTENTION_IMPLEMENTATIONS, 'SPLIT_EINSUM'),
      latentH: read.positiveInteger('latent-h', 8, ' (image height / 8)'),
      latentW: read.positiveInteger('latent-w', 8, ' (image width / 8)'),
      textTokenSequenceLength: read.positiveInteger('text-token-sequence-length'),
      textEncoderHiddenSize: read.positiveInteger('text-encoder-hidden-size'),
      checkOutputCorrectness: read.bool('check-output-correctness', true),
      chunkUnet: read.bool('chunk-unet', false),
      quantizeNbits: read.oneOf('quantize-nbits', QUANTIZE_NBITS),
      unetSupportControlnet: read.bool('unet-support-controlnet', false),
      unetBatchOne: read.bool('unet-batch-one', false),
      includeT5: read.bool('include-t5', false),
      bundleResources: read.bool('bundle-resources-for-swift-cli', true),
      urls: {
        vocabulary: read.httpUrl('text-encoder-vocabulary-url'),
        merges: read.httpUrl('text-encoder-merges-url'),
        t5: read.httpUrl('text-encoder-t5-url'),
        t5Config: read.httpUrl('text-encoder-t5-config-url'),
        t5Data: read.httpUrl('text-encoder-t5-data-url'),
      },
      minDeploymentTarget: read.oneOf('min-deployment-target', DEPLOYMENT_TARGETS, 'macOS13'),
      xlVersion: read.bool('xl-version', false),
      sd3Version,
      outputDir,
      extraArgs: readExtraArgs(read),
      hubIds: [model, refiner, customVae]
        .filter((m): m is { value: string; isLocal: boolean } => m !== undefined && !m.isLocal)
        .map((m) => m.value)
        .concat(controlnets)
        // Under sd3-version the converter loads the SDXL base's pipeline for the text encoders.
        .concat(sd3Version ? [SD3_SDXL_BASE] : []),
      modelRevision,
      quantizeBundleEntry: path.join(ctx.actionRoot, QUANTIZE_BUNDLE_ENTRY),
      checkComputeUnit: read.oneOf('check-compute-unit', COMPUTE_UNITS) ?? defaultCheckComputeUnit(runner.environment, computeUnit),
      parityEntry: path.join(ctx.actionRoot, PARITY_ENTRY),
      leanConversion: read.bool('lean-conversion', true),
      leanConvertEntry: path.join(ctx.actionRoot, LEAN_CONVERT_ENTRY),
    },
    setup: {
      pythonVersion,
      python: python?.file,
      pythonProbed: python?.version,
      // With core-ai, ml-stable-diffusion is foreign (read as its default) and the lock is the whole install.
      requirement: readRequirement(read, runner.workspace, ctx),
      ...readPins(read, runner.workspace, ctx, { backend, pythonVersion, runner: { os: runner.os, arch: runner.arch }, half: split.mode }),
    },
    gate: readGate(read),
    processPerComponent: read.bool('process-per-component', true),
    dryRun: read.bool('dry-run', false),
    budget: { overBudget: read.oneOf('over-budget', ['fail', 'warn'] as const, 'fail'), runnerMemory: readMemory(read) },
    hfToken: token,
    runner,
    verifyBundle: read.bool('verify-bundle', true),
    caching: { enabled: read.bool('cache', true), outputs: read.bool('cache-outputs', true) },
    preset,
    skipIfUnchanged: read.bool('skip-if-unchanged', false),
    publish: readPublishOptions(read, ctx.env),
    singleFile,
    prepareFp16: {
      mode: ({ auto: 'auto', true: 'always', false: 'never' } as const)[read.oneOf('prepare-fp16', ['auto', 'true', 'false'] as const, 'auto')],
      helper: path.join(ctx.actionRoot, PREPARE_FP16_HELPER),
    },
    split,
  };

  // Every field has a fallback, so the rules can judge the rest even when some inputs failed.
  const errors = [...read.errors];
  const warnings: string[] = [...parseWarnings];
  for (const rule of [...RULES, ...(backendKnown ? BACKENDS[backend].rules : [])]) {
    const message = rule.check(config);
    if (message) (rule.severity === 'error' ? errors : warnings).push(`Input \`${rule.input}\` ${message}`);
  }
  const secrets = [...presetReader.secrets, ...read.secrets];
  return errors.length === 0 ? { config, errors, warnings, secrets } : { errors, warnings, secrets };
}

/** HF_TOKEN from the environment, when hf-token is empty: screened as the input is (named hf-token, without its value). */
function readEnvToken(read: FieldReader, value: string | undefined): string {
  const token = (value ?? '').trim();
  if (token === '') return '';
  const problem = screenProblem(token, { lines: false, tabs: false, secret: true, freeText: false });
  if (problem) {
    read.fail('hf-token', `is empty and the environment's HF_TOKEN, which stands in for it, ${problem}.`);
    return '';
  }
  read.secrets.push(token);
  return token;
}

/** The `python` input: an existing file that runs as a Python 3 interpreter (probed, when the context can), and its version. */
function readPython(read: FieldReader, workspace: string, ctx: ParseContext): { file: string; version?: string } | undefined {
  const file = readExistingFile(read, 'python', workspace, ctx, 'an existing Python interpreter');
  if (file === undefined || !ctx.probePython) return file === undefined ? undefined : { file };
  const verdict = judgeProbe(file, ctx.probePython(file));
  return 'problem' in verdict ? read.fail('python', verdict.problem) : { file, version: verdict.version };
}

function readModel(
  read: FieldReader,
  name: InputName,
  workspace: string,
  ctx: ParseContext,
  required: boolean,
): { value: string; isLocal: boolean } | undefined {
  const value = read.text(name);
  if (value === '') {
    return required ? read.fail(name, 'is required: a Hub id such as stabilityai/stable-diffusion-2-1-base, a folder of a diffusers checkpoint in the workspace, or a single-file checkpoint (.safetensors in the workspace or on the Hub).') : undefined;
  }
  // diffusers loads a local folder in preference to a Hub id of the same spelling.
  const folder = resolveIn(workspace, value);
  if (ctx.isDirectory(folder)) {
    // A pipeline folder has model_index.json; a VAE folder (custom-vae-version) its config.json.
    const marker = name === 'custom-vae-version' ? 'config.json' : 'model_index.json';
    if (!ctx.isFile(path.join(folder, marker))) {
      return read.fail(name, `is the folder ${folder}, which has no ${marker}: it must be a diffusers ${name === 'custom-vae-version' ? 'VAE (AutoencoderKL) folder' : 'pipeline folder (save_pretrained writes model_index.json)'}.`);
    }
    return { value, isLocal: true };
  }
  if (isHubId(value)) return { value, isLocal: false };
  return read.fail(name, `must be a Hub id (owner/name) or an existing folder, got ${JSON.stringify(value)} (no such folder in ${workspace}).`);
}

const MEMORY_UNITS: Record<string, number> = { '': 2 ** 30, gib: 2 ** 30, gb: 1e9, mib: 2 ** 20, mb: 1e6 };

/** runner-memory: a number of GiB, or with a unit (GB, GiB, MB, MiB); empty reads the runner's. */
function readMemory(read: FieldReader): number | undefined {
  const value = read.text('runner-memory');
  if (value === '') return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value);
  const unit = MEMORY_UNITS[(m?.[2] ?? '').toLowerCase()];
  const bytes = m && unit ? Number(m[1]) * unit : NaN;
  if (!(bytes > 0)) {
    read.fail('runner-memory', `must be the runner's memory as a number of GiB, or with a unit (7GB, 6.5GiB, 4096MiB), got ${JSON.stringify(value)}.`);
    return undefined;
  }
  return Math.round(bytes);
}

function readRevision(read: FieldReader): string {
  const value = read.text('model-revision') || 'main';
  // Branch and tag names of git, or a commit sha; no spaces, no `..`, no leading `-`.
  if (!/^[\w][\w./-]*$/.test(value) || value.includes('..')) {
    read.fail('model-revision', `must be a branch, tag or commit sha of the model repository, got ${JSON.stringify(value)}.`);
    return 'main';
  }
  return value;
}

function readExistingFile(
  read: FieldReader,
  name: InputName,
  workspace: string,
  ctx: ParseContext,
  what: string,
): string | undefined {
  const value = read.text(name);
  if (value === '') return undefined;
  const resolved = resolveIn(workspace, value);
  return ctx.isFile(resolved) ? resolved : read.fail(name, `must be the path of ${what}, but ${resolved} is not a file.`);
}

/** The user's pins file, or the lock the backend ships for this Python version, runner and half. */
function readPins(
  read: FieldReader,
  workspace: string,
  ctx: ParseContext,
  on: { backend: BackendName; pythonVersion: string; runner: RunnerPlatform; half: SplitMode },
): { pinsFile: string; pinsFromInput: boolean } {
  const given = readExistingFile(read, 'pip-constraints', workspace, ctx, 'an existing pip lock (with hashes) or constraints file');
  if (given) return { pinsFile: given, pinsFromInput: true };
  return { pinsFile: path.join(ctx.actionRoot, BACKENDS[on.backend].shippedLock(on.pythonVersion, on.runner, on.half)), pinsFromInput: false };
}

function readPythonVersion(read: FieldReader): string {
  const value = read.text('python-version') || DEFAULT_PYTHON;
  if (!/^3\.\d{1,2}$/.test(value)) {
    read.fail('python-version', `must be a Python version such as 3.11, got ${JSON.stringify(value)}.`);
    return DEFAULT_PYTHON;
  }
  return value;
}

function readRequirement(read: FieldReader, workspace: string, ctx: ParseContext): string {
  const value = read.text('ml-stable-diffusion');
  if (value === '') return DEFAULT_REQUIREMENT;
  if (value.startsWith('-')) {
    read.fail('ml-stable-diffusion', `must be a pip requirement (a name, URL or path), not an option: ${JSON.stringify(value)}.`);
    return DEFAULT_REQUIREMENT;
  }
  // A local path (a checkout or a wheel) is resolved and must exist.
  if (/^(\.{1,2}\/|\/|~)/.test(value) || /\.(whl|tar\.gz|zip)$/.test(value)) {
    const resolved = resolveIn(workspace, value);
    if (!ctx.isFile(resolved) && !ctx.isDirectory(resolved)) {
      read.fail('ml-stable-diffusion', `names a local path, but ${resolved} does not exist.`);
    }
    return resolved;
  }
  return value;
}

/**
 * The managed flag an argument would set, as argparse reads it: `-ox` and `-o x` (one argv
 * element) set -o, and a long option may be abbreviated to any unambiguous prefix.
 */
export function managedFlagOf(arg: string): string | undefined {
  if (!arg.startsWith('-')) return undefined;
  if (!arg.startsWith('--')) return MANAGED_FLAGS.has(arg.slice(0, 2)) ? arg.slice(0, 2) : undefined;
  const name = arg.split(/[=\s]/)[0] ?? arg;
  return [...MANAGED_FLAGS.keys()].find((flag) => flag.startsWith('--') && flag.startsWith(name));
}

/** Pure: why one line of extra-args cannot be passed (completing "Input `extra-args` ..."), given the line before it. */
export function extraArgProblem(arg: string, previous: string | undefined): string | undefined {
  if (!/^[\x20-\x7e]*$/.test(arg)) {
    return `holds a line with a character outside printable ASCII (a typographic dash such as \u2013 or \u2014 pasted for --, or a non-breaking space): torch2coreml's flags are ASCII, and argparse would take it as a value. Line ${JSON.stringify(arg.replace(/[^\x20-\x7e]/g, '?'))}.`;
  }
  const flag = managedFlagOf(arg);
  if (flag) return `must not set ${flag} (${JSON.stringify(arg)}): the action plans it from the input \`${MANAGED_FLAGS.get(flag)}\`.`;
  const name = arg.split('=')[0] ?? arg;
  if (arg === '-h' || (name.length >= 3 && '--help'.startsWith(name))) {
    return `must not ask for help (${JSON.stringify(arg)}): torch2coreml would print its usage and exit 0 without converting anything.`;
  }
  if (arg.startsWith('-')) {
    return /^--[a-z0-9][a-z0-9-]*(=.*)?$/i.test(arg)
      ? undefined
      : `takes --flags (two ASCII hyphens, then letters, digits and -) and their values, one a line; ${JSON.stringify(arg)} is not one (torch2coreml has no short options but -h and -o, which the action manages or refuses).`;
  }
  // A value: only right after a flag that has no `=value` of its own.
  if (previous === undefined || !previous.startsWith('-') || previous.includes('=')) {
    return `holds ${JSON.stringify(arg)}, which is neither a --flag nor the value of the --flag on the line before it: give one argument a line, each value after its flag.`;
  }
  return undefined;
}

function readExtraArgs(read: FieldReader): string[] {
  const args = read.lines('extra-args');
  args.forEach((arg, i) => {
    const problem = extraArgProblem(arg, args[i - 1]);
    if (problem) read.fail('extra-args', problem);
  });
  return args;
}

function readGate(read: FieldReader): PsnrGate {
  const minPsnr = read.positiveNumber('min-psnr', 35);
  const quantizedMinPsnr = read.positiveNumber('quantized-min-psnr', 20);
  const thresholds: Partial<Record<PsnrPart, number>> = {};
  for (const entry of read.lines('psnr-thresholds').flatMap((line) => line.split(','))) {
    const match = /^\s*([\w.-]+)\s*=\s*(\S+)\s*$/.exec(entry);
    if (!match) {
      read.fail('psnr-thresholds', `takes lines of part=dB (e.g. unet=40), got ${JSON.stringify(entry.trim())}.`);
      continue;
    }
    const [, part = '', figure = ''] = match;
    const value = PLAIN_DECIMAL.test(figure) ? Number(figure) : NaN;
    if (!(PSNR_PARTS as readonly string[]).includes(part)) {
      read.fail('psnr-thresholds', `names an unknown part ${JSON.stringify(part)}; parts with a PSNR check: ${PSNR_PARTS.join(', ')}.`);
    } else if (!Number.isFinite(value) || value <= 0) {
      read.fail('psnr-thresholds', `gives ${part} a threshold that is not a positive number of dB: ${JSON.stringify(figure)}.`);
    } else {
      thresholds[part as PsnrPart] = value;
    }
  }
  return { minPsnr, quantizedMinPsnr, thresholds };
}

import * as core from '@actions/core';
import type { Config } from '../config.js';
import { CompileError, compileResources } from '../converter/compile.js';
import { coreMlSteps, type AnyStep } from '../plan/plan.js';
import type { HubClient } from '../hub/client.js';
import type { ModelRevision } from '../hub/models.js';
import { downloadModels } from '../hub/stage.js';
import type { CacheReport } from '../cache/cache.js';
import { conversionFromCache, restoreOutputs } from '../cache/outputs.js';
import { environmentIdentity, setupConverter } from '../setup/setup.js';
import { prepareFp16, type ResolvedModel } from '../fp16/prepare.js';
import { prepareSingleFile } from '../single-file/prepare.js';
import type { SingleFileCheck } from '../single-file/check.js';
import { readSingleFileRecord } from '../single-file/record.js';
import type { SingleFileRecord } from '../package/manifest.js';
import { recordEnvironment, recordFinishingEnvironment } from '../package/environment.js';
import { Halt } from '../halt.js';
import { setOutput } from '../outputs.js';
import { runConversion, type ConversionResult } from './run.js';
import { info } from '../log.js';
import { releaseDownloads } from '../budget/release.js';

export interface ConvertInput {
  config: Config;
  steps: AnyStep[];
  /** The plan's commands (planStage), with `python` for the interpreter. */
  commands: string[][];
  models: ModelRevision[];
  hub: HubClient;
  caching: boolean;
  /** model-version was a single file: what the single-file stage found (the helper makes its folder). */
  singleFile?: SingleFileCheck;
  /** The budget's choice: remove the Hub files this run downloaded once the conversion has finished. */
  releaseDownloads?: boolean;
}

export interface ConvertOutcome {
  conversion: ConversionResult;
  /** The commands as they ran: with setup's interpreter, unless the outputs cache held the conversion. */
  commands: string[][];
  /** The setup and Hub caches, in the order they were used. */
  caches: CacheReport[];
  /** The outputs cache, restored before anything else; saved or not once the gate has judged. */
  outputsCache?: CacheReport;
  /** What the single file's folder was made of (read back from output-dir, also after a cache hit). */
  singleFile?: SingleFileRecord;
}

/** Pure: the plan's commands with setup's interpreter in place of `python`. */
export function withInterpreter(commands: readonly string[][], python: string): string[][] {
  return commands.map(([, ...args]) => [python, ...args]);
}

/** Pure: the main model at the commit the Hub stage resolved (prepare-fp16 copies that commit), and whether the converter loads it offline. */
export function resolvedMainModel(config: Config, models: readonly ModelRevision[], offline = false): ResolvedModel | undefined {
  const main = models.find((m) => m.id === config.conversion.modelVersion && m.resolved);
  return main && { revision: main.revision, files: main.files.map((f) => f.rfilename), offline };
}

/** Pure: manifest.json's environment is recorded only for a finished conversion that is packaged. */
export function recordsEnvironment(config: Config, conversion: ConversionResult): boolean {
  return !conversion.failure && config.publish.package;
}

/**
 * The convert stage: the outputs cache's finished conversion when it has one for this key, else
 * setup, the Hub download, the fp16 copy and the converter. Halts when prepare-fp16 fails.
 */
export async function convertStage(input: ConvertInput): Promise<ConvertOutcome> {
  const { config, models, hub, caching } = input;
  const steps = coreMlSteps(input.steps);
  if (config.split.mode === 'finish') return finishChecks(input);
  const outputsCache = caching ? await restoreOutputs(config, models, environmentIdentity(config), input.singleFile) : undefined;
  if (outputsCache?.restored === 'exact') {
    info('The finished conversion came from the outputs cache: the converter does not run.');
    return { conversion: conversionFromCache(config, steps), commands: input.commands, caches: [], outputsCache, singleFile: singleFileRecord(config) };
  }
  const setup = await setupConverter(config, caching);
  const caches = [...setup.caches];
  const commands = withInterpreter(input.commands, setup.python);
  setOutput('plan', commands);
  const download = await downloadModels(config, models, hub, caching);
  if (download.cache) caches.push(download.cache);
  // A single file becomes a diffusers folder, saved in fp16: prepare-fp16 has nothing left to do.
  const single = input.singleFile && (await prepareSingleFile(config, setup.python, input.singleFile, hub, caching));
  if (single?.cache) caches.push(single.cache);
  const fp16 = single ?? (await prepareFp16(config, setup.python, resolvedMainModel(config, models, download.offline), hub));
  if (fp16.failure) throw new Halt([fp16.failure], input.singleFile ? 'Single-file checkpoint' : 'prepare-fp16');
  let conversion: ConversionResult;
  try {
    conversion = await runConversion(config, steps, setup.python, fp16.cwd, download.env);
  } finally {
    fp16.cleanup();
  }
  if (input.releaseDownloads && !conversion.failure) releaseDownloads(download.downloaded);
  // Kept in output-dir (so in the outputs cache) for manifest.json: pip freeze, Python, macOS, Xcode.
  if (recordsEnvironment(config, conversion)) await recordEnvironment(config.conversion.outputDir, setup.python, config.runner.workspace);
  return { conversion, commands, caches, outputsCache, singleFile: singleFileRecord(config) };
}

const singleFileRecord = (config: Config) => (config.singleFile ? readSingleFileRecord(config.conversion.outputDir) : undefined);

/**
 * The finishing job of a split conversion: the hand-off is in output-dir already (handoff/stage.ts).
 * Setup installs what the Core ML half of the parity check needs (no torch, no converter), and the
 * plan's steps are those checks; nothing is downloaded, nothing converted. Its outputs cache would
 * hold what the hand-off holds: the converting job caches the conversion.
 */
async function finishChecks(input: ConvertInput): Promise<ConvertOutcome> {
  const { config } = input;
  const steps = coreMlSteps(input.steps);
  const setup = await setupConverter(config, input.caching);
  const commands = withInterpreter(input.commands, setup.python);
  setOutput('plan', commands);
  const conversion = await runConversion(config, steps, setup.python);
  if (recordsEnvironment(config, conversion)) await recordFinishingEnvironment(config.conversion.outputDir, setup.python, config.runner.workspace);
  return { conversion, commands, caches: [...setup.caches], singleFile: singleFileRecord(config) };
}

export const COMPILE_STEP = 'Compile Resources';

/**
 * The finishing job of a split conversion, once the checks passed: the Resources compiled from the
 * handed-off packages by the action itself (converter/compile.ts: xcrun coremlcompiler as an argv,
 * its exit status checked; the tokenizer files fetched with a status check), reported as one more
 * step; a failure is the conversion's failure, which the verify stage reports as any other.
 */
export async function compileStage(config: Config, conversion: ConversionResult): Promise<ConversionResult> {
  if (!config.conversion.bundleResources || conversion.failure) return conversion;
  const started = Date.now();
  const step = (status: 'done' | 'failed', note?: string) => ({ label: COMPILE_STEP, argv: ['xcrun', 'coremlcompiler', 'compile'], status, ...(note ? { note } : {}), durationMs: Date.now() - started, partTimes: {} });
  try {
    const report = await core.group(COMPILE_STEP, () => compileResources(config.conversion));
    const note = report.kept.length > 0 ? `${report.kept.length} compiled model(s) already there, kept` : undefined;
    return { ...conversion, steps: [...conversion.steps, step('done', note)] };
  } catch (error) {
    if (!(error instanceof CompileError)) throw error;
    return { ...conversion, steps: [...conversion.steps, step('failed')], failure: { step: COMPILE_STEP, diagnosis: error.diagnosis, removed: [] } };
  }
}

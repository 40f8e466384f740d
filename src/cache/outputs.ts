import type { Config } from '../config.js';
import type { Step } from '../plan/plan.js';
import type { ConversionResult } from '../convert/run.js';
import { readState } from '../convert/state.js';
import type { ModelRevision } from '../hub/models.js';
import { CACHE_NAMES, restore, save, type CacheReport } from './cache.js';
import { outputsKey, type EnvironmentIdentity, type ResolvedModel } from './keys.js';
import type { SingleFileCheck } from '../single-file/check.js';
import { describeSource } from '../single-file/source.js';
import { info } from '../log.js';

/**
 * Pure: the options that determine the output folder's content, for its key. Paths are left out
 * (the cache version already hashes the folder's path) and so is the token.
 */
export function outputOptions(config: Config): Record<string, string> {
  const { outputDir: _outputDir, modelIsLocal: _local, ...conversion } = config.conversion;
  return {
    conversion: JSON.stringify(conversion),
    processPerComponent: String(config.processPerComponent),
    prepareFp16: config.prepareFp16.mode,
    // Only for core-ai, so that the keys of Core ML conversions stay what they were (entry paths left out).
    ...(config.coreAi ? { backend: config.backend, coreAi: JSON.stringify({ compression: config.coreAi.compression, image: config.coreAi.image ?? null }) } : {}),
  };
}

/**
 * Pure: a single-file model-version's content as the key's models, the checkpoint first: each file
 * keyed by its sha256 (with its scale for a LoRA), the config repository by its commit. A string
 * when one of them has nothing to key on.
 */
export function singleFileModels(check: SingleFileCheck): ResolvedModel[] | string {
  const files = [{ file: check.checkpoint, scale: undefined as number | undefined }, ...check.loras.map((l) => ({ file: l, scale: l.scale }))];
  const unknown = files.find(({ file }) => file.sha256 === undefined);
  if (unknown) return `${describeSource(unknown.file.source)} has no sha256 in the Hub's listing (not an LFS file) to key on`;
  if (check.config.where === 'local') return 'model-config is a local folder, whose content has no commit to key on';
  const keyed = files.map(({ file, scale }) => ({ id: `${describeSource(file.source)}${scale === undefined ? '' : `:${scale}`}`, revision: file.sha256 ?? '', resolved: true }));
  return [...keyed, { id: check.config.id, revision: check.config.commit, resolved: true }];
}

/** Pure: why the outputs cache cannot be used, if it cannot. */
export function outputsCacheBlocker(config: Config, models: readonly ResolvedModel[], singleFile?: SingleFileCheck): string | undefined {
  if (!config.caching.enabled || !config.caching.outputs) return 'turned off';
  if (config.singleFile) {
    const keyed = singleFile ? singleFileModels(singleFile) : 'the single file was not checked';
    if (typeof keyed === 'string') return keyed;
  } else if (config.conversion.modelIsLocal) {
    return 'the model is a local folder, whose content has no commit to key on';
  }
  if (!models.every((m) => m.resolved)) return 'the Hub could not be asked for the commits to key on';
  return undefined;
}

export async function restoreOutputs(config: Config, models: ModelRevision[], identity: EnvironmentIdentity, singleFile?: SingleFileCheck): Promise<CacheReport | undefined> {
  const blocker = outputsCacheBlocker(config, models, singleFile);
  if (blocker) {
    info(`Outputs cache not used: ${blocker}.`);
    return undefined;
  }
  const keyed = singleFile ? singleFileModels(singleFile) : [];
  return restore(CACHE_NAMES.outputs, [config.conversion.outputDir], outputsKey([...(typeof keyed === 'string' ? [] : keyed), ...models], outputOptions(config), identity));
}

/** A restored folder stands for a finished conversion: its PSNR checks come from its state file. */
export function conversionFromCache(config: Config, steps: ReadonlyArray<Pick<Step, 'label'>>): ConversionResult {
  const state = readState(config.conversion.outputDir);
  return {
    steps: steps.map((s) => ({ label: s.label, argv: [], status: 'skipped', note: 'restored from the outputs cache', durationMs: 0, partTimes: {} })),
    psnr: (state?.psnr ?? []).map((c) => ({ ...c, step: 'earlier run' })),
    converterRejectedPsnr: false,
  };
}

/** Pure: only a conversion that passed every gate is worth keeping, and a restored one is kept already. */
export function shouldSaveOutputs(report: CacheReport, passed: boolean): boolean {
  return passed && report.restored !== 'exact';
}

/** After the gate: saves output-dir when it is worth keeping; the outputs cache's report either way. */
export async function finishOutputsCache(config: Config, report: CacheReport | undefined, passed: boolean): Promise<CacheReport | undefined> {
  if (!report) return undefined;
  return shouldSaveOutputs(report, passed) ? save(report, [config.conversion.outputDir]) : report;
}

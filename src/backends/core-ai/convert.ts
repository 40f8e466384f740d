import * as path from 'node:path';
import type { Config } from '../../config.js';
import type { ConvertInput, ConvertOutcome } from '../../convert/stage.js';
import type { ModelRevision } from '../../hub/models.js';
import { repoFolder } from '../../hub/files.js';
import { downloadModels } from '../../hub/stage.js';
import { conversionFromCache, restoreOutputs } from '../../cache/outputs.js';
import { environmentIdentity, setupConverter } from '../../setup/setup.js';
import { prepareSingleFile } from '../../single-file/prepare.js';
import { readSingleFileRecord } from '../../single-file/record.js';
import { recordEnvironment } from '../../package/environment.js';
import { releaseDownloads } from '../../budget/release.js';
import { Halt } from '../../halt.js';
import { setOutput } from '../../outputs.js';
import { info } from '../../log.js';
import { imageResultFromFolder, runCoreAi } from './run.js';
import { coreAiArguments, type CoreAiStep } from './plan.js';

/**
 * Pure: the local folder the Core AI helpers load the model from: the single file's diffusers folder
 * (staged under `staged`), a local model-version, or the Hub cache's snapshot at the resolved commit.
 * undefined when a Hub model's files are not in the cache (the helpers never download).
 */
export function modelFolder(config: Config, models: readonly ModelRevision[], filled: boolean, staged?: string): string | undefined {
  const { modelVersion, modelIsLocal } = config.conversion;
  if (staged) return path.join(staged, modelVersion);
  if (modelIsLocal) return path.resolve(config.runner.workspace, modelVersion);
  const main = models.find((m) => m.id === modelVersion && m.resolved);
  return main && filled ? path.join(repoFolder(config.runner.hubCache, main.id), 'snapshots', main.revision) : undefined;
}

/**
 * The convert stage of the Core AI backend: the outputs cache's finished conversion when it has one,
 * else setup (the Core AI lock), the Hub download, the single file's folder, then one process per part,
 * the bundle and the image check (./run.ts).
 */
export async function convertCoreAi(input: ConvertInput, steps: readonly CoreAiStep[]): Promise<ConvertOutcome> {
  const { config, models, hub, caching } = input;
  const singleFileRecord = () => (config.singleFile ? readSingleFileRecord(config.conversion.outputDir) : undefined);
  const outputsCache = caching ? await restoreOutputs(config, models, environmentIdentity(config), input.singleFile) : undefined;
  if (outputsCache?.restored === 'exact') {
    info('The finished conversion came from the outputs cache: nothing is exported.');
    const image = imageResultFromFolder(config);
    return { conversion: { ...conversionFromCache(config, input.steps), ...(image ? { image } : {}) }, commands: input.commands, caches: [], outputsCache, singleFile: singleFileRecord() };
  }
  const setup = await setupConverter(config, caching);
  const caches = [...setup.caches];
  const download = await downloadModels(config, models, hub, caching);
  if (download.cache) caches.push(download.cache);
  const single = input.singleFile && (await prepareSingleFile(config, setup.python, input.singleFile, hub, caching));
  if (single?.cache) caches.push(single.cache);
  if (single?.failure) throw new Halt([single.failure], 'Single-file checkpoint');
  try {
    const filled = models.length > 0 && download.offline;
    const model = modelFolder(config, models, filled, single?.cwd);
    if (!model) {
      throw new Halt([`The files of ${config.conversion.modelVersion} could not be put in the Hub cache (see the warning above), and the Core AI backend converts from local files only: rerun once the Hub answers.`], 'Hugging Face downloads');
    }
    // The plan's commands with the interpreter and the model's folder, as runCoreAi runs them.
    const commands = steps.map((step) => [setup.python, ...coreAiArguments(step, config, model)]);
    setOutput('plan', commands);
    const conversion = await runCoreAi(config, steps, setup.python, model);
    if (input.releaseDownloads && !conversion.failure) releaseDownloads(download.downloaded);
    if (!conversion.failure && config.publish.package) await recordEnvironment(config.conversion.outputDir, setup.python, config.runner.workspace);
    return { conversion, commands, caches, outputsCache, singleFile: singleFileRecord() };
  } finally {
    single?.cleanup();
  }
}

import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../config.js';
import type { HubClient } from './client.js';
import type { ModelRevision } from './models.js';
import { checkControlNetBases } from './controlnet.js';
import { errorMessage } from '../format/error.js';
import { coreAiSdxlProblem } from '../backends/core-ai/rules.js';

/**
 * SDXL detection, before anything is installed: the converter given an SDXL checkpoint without
 * --xl-version loads it as SD 1.x/2.x and crashes an hour later. The pipeline's class in
 * model_index.json (`StableDiffusionXLPipeline`, `StableDiffusionXLImg2ImgPipeline`, ...) tells.
 */

/** Pure: only a pipeline with a second text encoder can be SDXL, so only then is model_index.json fetched. */
export function mayBeSdxl(files: readonly string[]): boolean {
  return files.some((f) => f.startsWith('text_encoder_2/') || f.startsWith('tokenizer_2/'));
}

/** Pure: model_index.json's `_class_name`, if it has one. */
export function pipelineClass(modelIndex: unknown): string | undefined {
  if (modelIndex === null || typeof modelIndex !== 'object' || Array.isArray(modelIndex)) return undefined;
  const name = (modelIndex as { _class_name?: unknown })._class_name;
  return typeof name === 'string' ? name : undefined;
}

/** Pure: the error when the model is SDXL and xl-version is false, else undefined. */
export function xlVersionProblem(className: string | undefined, config: Pick<Config, 'conversion'> & Partial<Pick<Config, 'backend'>>, where: string): string | undefined {
  const o = config.conversion;
  if (o.xlVersion || o.sd3Version || className === undefined || !className.includes('StableDiffusionXL')) return undefined;
  if (config.backend === 'core-ai') return coreAiSdxlProblem(`${where} is a Stable Diffusion XL pipeline (its model_index.json has _class_name ${className})`);
  return (
    `Input \`xl-version\` is false, but ${where} is a Stable Diffusion XL pipeline (its model_index.json has _class_name ${className}): ` +
    'set `xl-version: true` (or `preset: xl-macos` or `xl-ios`). Without it the converter loads the model as SD 1.x/2.x and the conversion crashes.'
  );
}

export interface KindCheck {
  error?: string;
  warning?: string;
}

/**
 * What the models are, before any setup: SDXL without xl-version, and ControlNets whose model
 * cards the converter would refuse (checkControlNetBases).
 */
export async function checkModelKind(config: Config, models: readonly ModelRevision[], hub: HubClient): Promise<KindCheck> {
  const controlnets = checkControlNetBases(config, models);
  const kind = await checkPipelineKind(config, models, hub);
  const errors = [kind.error, ...controlnets.errors].filter((e): e is string => e !== undefined);
  const warnings = [kind.warning, ...controlnets.warnings].filter((w): w is string => w !== undefined);
  return { error: errors.length > 0 ? errors.join('\n') : undefined, warning: warnings.length > 0 ? warnings.join('\n') : undefined };
}

/** The thin part: reads model_index.json of a local folder, or from the Hub at the resolved commit. */
async function checkPipelineKind(config: Config, models: readonly ModelRevision[], hub: HubClient): Promise<KindCheck> {
  const o = config.conversion;
  if (o.xlVersion || o.sd3Version) return {};
  if (o.modelIsLocal) {
    const file = path.join(path.resolve(config.runner.workspace, o.modelVersion), 'model_index.json');
    let index: unknown;
    try {
      index = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    } catch {
      return {}; // no or no readable model_index.json: the converter says what it misses
    }
    return { error: xlVersionProblem(pipelineClass(index), config, o.modelVersion) };
  }
  const main = models.find((m) => m.id === o.modelVersion);
  if (!main?.resolved) {
    return { warning: `Could not check whether ${o.modelVersion} is an SDXL pipeline: the Hub could not be asked for its commit. If it is, set \`xl-version: true\`.` };
  }
  if (!mayBeSdxl(main.files.map((f) => f.rfilename))) return {};
  let index: unknown;
  try {
    index = await hub.readJson(o.modelVersion, main.revision, 'model_index.json');
  } catch (error) {
    return { warning: `Could not read model_index.json of ${o.modelVersion}@${main.revision.slice(0, 12)} (${errorMessage(error)}), so SDXL was not checked for. If it is SDXL, set \`xl-version: true\`.` };
  }
  return { error: xlVersionProblem(pipelineClass(index), config, `${o.modelVersion}@${main.revision.slice(0, 12)}`) };
}

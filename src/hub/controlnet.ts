import type { Config } from '../config.js';
import type { ModelRevision } from './models.js';

/**
 * torch2coreml's ControlNet check, done before anything is installed: for each --convert-controlnet
 * it reads `model_info(id).cardData.get("base_model")` (`_get_controlnet_base_model`, e12202c
 * L1312) and raises when that differs from --model-version, in every process that converts a
 * ControlNet, after the other parts were converted. A card with no metadata crashes it
 * (None.get); no base_model only warns unless model-version is runwayml/stable-diffusion-v1-5.
 */
export const CONTROLNET_DEFAULT_BASE = 'runwayml/stable-diffusion-v1-5';

export interface ControlNetCheck {
  errors: string[];
  warnings: string[];
}

/** Pure: what the converter will say of each ControlNet's card, now. */
export function checkControlNetBases(config: Pick<Config, 'conversion'>, models: readonly ModelRevision[]): ControlNetCheck {
  const o = config.conversion;
  const result: ControlNetCheck = { errors: [], warnings: [] };
  for (const id of o.controlnets) {
    const model = models.find((m) => m.id === id);
    if (!model?.resolved || model.card === undefined) continue; // not asked: the converter will say
    const where = `Input \`convert-controlnet\` names ${id}`;
    if (model.card === null) {
      result.errors.push(`${where}, whose Hub repository has no model card metadata (README.md front matter): the converter reads the ControlNet's base_model from it and crashes without (AttributeError: 'NoneType' object has no attribute 'get'). Use a ControlNet whose card names its base_model.`);
      continue;
    }
    const base = model.card.base_model;
    if (base === undefined || base === null) {
      if (o.modelVersion !== CONTROLNET_DEFAULT_BASE) result.warnings.push(`The model card of ControlNet ${id} names no base_model: the converter converts it, but it may not fit ${o.modelVersion} (the original ControlNets were trained on Stable Diffusion v1.5).`);
      continue;
    }
    if (typeof base !== 'string') {
      result.errors.push(`${where}, whose model card lists base_model as ${JSON.stringify(base)}: the converter compares that with model-version as one string, so it refuses this ControlNet whatever model-version is.`);
    } else if (base !== o.modelVersion) {
      result.errors.push(`${where}, which its model card says was trained on ${base}, but \`model-version\` is ${o.modelVersion}: the converter refuses it (after converting the other parts). Set \`model-version: ${base}\`, or use a ControlNet trained on ${o.modelVersion}.`);
    }
  }
  return result;
}

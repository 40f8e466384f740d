import { parse } from 'yaml';
import { INPUT_NAMES, type InputName } from '../inputs/names.js';
import { PRESET_NAMES, isPresetName, type PresetName } from '../inputs/presets.js';

/**
 * Pure: the list of models of plan/action.yml's `models` input, read and checked. YAML or JSON
 * (JSON is YAML). Each entry is a model id, or a mapping:
 *
 *   - stabilityai/stable-diffusion-2-1-base          # the default variants (input `preset`)
 *   - model-version: stabilityai/stable-diffusion-xl-base-1.0
 *     custom-vae-version: madebyollin/sdxl-vae-fp16-fix   # any main-action input: all variants
 *     variants:
 *       - xl-macos                                   # a preset
 *       - name: xl-ios-6bit                          # explicit inputs, on top of a preset or not
 *         preset: xl-ios
 *         quantize-nbits: 6
 *
 * Every problem names the entry (its 1-based position and model) and what is accepted.
 */

/** A variant of a model: a name, a preset or none, and explicit inputs of the main action. */
export interface VariantSpec {
  name: string;
  preset?: PresetName;
  inputs: Partial<Record<InputName, string>>;
}

export interface ModelSpec {
  /** 1-based position in the list, for messages. */
  position: number;
  modelVersion: string;
  /** Inputs for every variant of this model (a variant's own inputs win). */
  inputs: Partial<Record<InputName, string>>;
  /** undefined: the plan's default variants. */
  variants?: VariantSpec[];
}

/** Inputs the list must not carry: secrets come from the workflow, and these are the list's own words. */
const SECRET = 'a secret: pass it in the job that runs the main action, never through the matrix (the matrix is printed in the log)';
const NOT_IN_LIST: ReadonlyMap<string, string> = new Map([
  ['hf-token', SECRET],
  ['github-token', SECRET],
  ['hub-token', SECRET],
  ['preset', 'set presets per variant, in `variants`'],
]);

const VARIANT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const isInputName = (key: string): key is InputName => (INPUT_NAMES as readonly string[]).includes(key);

type Value = string | number | boolean | null | undefined | Value[] | { [key: string]: Value };

/** A scalar as an input string; arrays of scalars one a line (convert-controlnet, extra-args, psnr-thresholds). */
function inputValue(value: Value): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null) return '';
  if (Array.isArray(value) && value.every((v) => typeof v === 'string' || typeof v === 'number')) return value.map(String).join('\n');
  return undefined;
}

export function parseModelList(text: string, source: string): { models?: ModelSpec[]; errors: string[] } {
  const errors: string[] = [];
  let document: Value;
  try {
    document = parse(text) as Value;
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return { errors: [`Input \`models\` (${source}) is neither YAML nor JSON: ${message}`] };
  }
  if (!Array.isArray(document) || document.length === 0) {
    return { errors: [`Input \`models\` (${source}) must be a non-empty list (YAML or JSON) of model ids or mappings with model-version, got ${document === null || document === undefined ? 'nothing' : Array.isArray(document) ? 'an empty list' : typeof document === 'object' ? 'a mapping' : JSON.stringify(document)}.`] };
  }
  const models: ModelSpec[] = [];
  document.forEach((item, i) => {
    const position = i + 1;
    const where = (id?: string) => `Input \`models\`, entry ${position}${id ? ` (${id})` : ''}`;
    if (typeof item === 'string') {
      if (item.trim() === '') errors.push(`${where()}: is empty; give a Hub id (owner/name) or a mapping with model-version.`);
      else models.push({ position, modelVersion: item.trim(), inputs: {} });
      return;
    }
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      errors.push(`${where()}: must be a model id or a mapping with model-version, got ${JSON.stringify(item)}.`);
      return;
    }
    const id = typeof item['model-version'] === 'string' ? item['model-version'].trim() : '';
    if (id === '') {
      errors.push(`${where()}: has no model-version (a Hub id such as stabilityai/stable-diffusion-2-1-base, or a folder in the workspace).`);
      return;
    }
    const spec: ModelSpec = { position, modelVersion: id, inputs: {} };
    for (const [key, value] of Object.entries(item)) {
      if (key === 'model-version') continue;
      if (key === 'variants') {
        spec.variants = readVariants(value, where(id), errors);
        continue;
      }
      const problem = keyProblem(key);
      if (problem) {
        errors.push(`${where(id)}: \`${key}\` ${problem}.`);
        continue;
      }
      const text = inputValue(value);
      if (text === undefined) errors.push(`${where(id)}: \`${key}\` must be a string, number, boolean or list of strings, got ${JSON.stringify(value)}.`);
      else spec.inputs[key as InputName] = text;
    }
    models.push(spec);
  });
  return errors.length > 0 ? { errors } : { models, errors };
}

function keyProblem(key: string): string | undefined {
  const reason = NOT_IN_LIST.get(key);
  if (reason) return `cannot be set in the list: ${reason}`;
  if (!isInputName(key)) return 'is not an input of the main action (action.yml); an entry takes model-version, variants, and the inputs of action.yml';
  return undefined;
}

function readVariants(value: Value, where: string, errors: string[]): VariantSpec[] | undefined {
  const items = typeof value === 'string' ? value.split(/[\s,]+/).filter((v) => v !== '') : value;
  if (!Array.isArray(items) || items.length === 0) {
    errors.push(`${where}: \`variants\` must be a non-empty list of preset names (${PRESET_NAMES.join(', ')}) or mappings of inputs.`);
    return undefined;
  }
  const variants: VariantSpec[] = [];
  items.forEach((v, j) => {
    const at = `${where}, variant ${j + 1}`;
    if (typeof v === 'string') {
      if (isPresetName(v)) variants.push({ name: v, preset: v, inputs: {} });
      else errors.push(`${at}: ${JSON.stringify(v)} is not a preset; presets: ${PRESET_NAMES.join(', ')} (or give a mapping of inputs).`);
      return;
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      errors.push(`${at}: must be a preset name or a mapping of inputs, got ${JSON.stringify(v)}.`);
      return;
    }
    const variant: VariantSpec = { name: '', inputs: {} };
    for (const [key, raw] of Object.entries(v)) {
      if (key === 'name') {
        if (typeof raw === 'string' && VARIANT_NAME.test(raw)) variant.name = raw;
        else errors.push(`${at}: \`name\` must be letters, digits, '.', '_' or '-' (up to 64), got ${JSON.stringify(raw)}.`);
      } else if (key === 'preset') {
        if (typeof raw === 'string' && isPresetName(raw)) variant.preset = raw;
        else errors.push(`${at}: \`preset\` must be one of ${PRESET_NAMES.join(', ')}, got ${JSON.stringify(raw)}.`);
      } else if (key === 'model-version' || key === 'variants') {
        errors.push(`${at}: \`${key}\` belongs to the model entry, not to a variant.`);
      } else {
        const problem = NOT_IN_LIST.has(key) ? `cannot be set in the list: ${NOT_IN_LIST.get(key)}` : isInputName(key) ? undefined : 'is not an input of the main action (action.yml); a variant takes name, preset, and the inputs of action.yml';
        if (problem) {
          errors.push(`${at}: \`${key}\` ${problem}.`);
          continue;
        }
        const text = inputValue(raw);
        if (text === undefined) errors.push(`${at}: \`${key}\` must be a string, number, boolean or list of strings, got ${JSON.stringify(raw)}.`);
        else variant.inputs[key as InputName] = text;
      }
    }
    // Unnamed: the preset's name when it is only a preset, else its position.
    if (variant.name === '') variant.name = variant.preset && Object.keys(variant.inputs).length === 0 ? variant.preset : `variant-${j + 1}`;
    variants.push(variant);
  });
  const seen = new Set<string>();
  for (const v of variants) {
    if (seen.has(v.name)) errors.push(`${where}: two variants are named ${JSON.stringify(v.name)}; give each a distinct \`name\`.`);
    seen.add(v.name);
  }
  return variants;
}

import * as path from 'node:path';
import { FieldReader, screenProblem } from '../inputs/fields.js';
import { PLAN_INPUT_SCREEN, type PlanInputName } from '../inputs/names.js';
import { isWithin } from '../inputs/output-dir.js';
import { PRESET_NAMES, isPresetName, type PresetName } from '../inputs/presets.js';

/** plan/action.yml's inputs, read into one typed config before anything is asked of a service. Pure. */
export interface PlanConfig {
  /** The list's text, and where it came from (for messages). */
  listText: string;
  listSource: string;
  presets: PresetName[];
  releaseTag: string;
  skipIfUnchanged: boolean;
  /** Each entry is two jobs: converted on Linux x64 (split: convert), finished on macOS (split: finish). */
  split: boolean;
  hfToken: string;
  githubToken: string;
}

export interface PlanContext {
  env: Readonly<Record<string, string | undefined>>;
  isFile(p: string): boolean;
  readFile(p: string): string;
  /** A path resolved through symlinks (identity when left out). */
  realPath?(p: string): string;
}

/** A single line ending in .yml, .yaml or .json names a file in the workspace; anything else is the list itself. */
export function isListPath(value: string): boolean {
  return !value.includes('\n') && /\.(ya?ml|json)$/i.test(value) && !/^[[{-]/.test(value);
}

export function parsePlanInputs(raw: (name: PlanInputName) => string, ctx: PlanContext): { config?: PlanConfig; errors: string[]; secrets: string[] } {
  const read = new FieldReader<PlanInputName>(raw, PLAN_INPUT_SCREEN);
  const workspace = ctx.env.GITHUB_WORKSPACE ?? process.cwd();
  const models = read.text('models');
  let listText = models;
  let listSource = 'inline';
  if (models === '') {
    read.fail('models', 'is required: a YAML or JSON list of models, inline or as the path of a .yml, .yaml or .json file in the workspace.');
  } else if (isListPath(models)) {
    const file = path.resolve(workspace, models);
    listSource = models;
    const real = ctx.realPath ?? ((p: string) => p);
    if (!isWithin(real(workspace), real(file))) {
      read.fail('models', `names the list file ${file}, which is outside the workspace (${workspace}) once its symlinks are followed: the list is read from the checked-out repository only.`);
    } else if (!ctx.isFile(file)) read.fail('models', `names a list file, but ${file} is not a file (check out the repository before the plan step).`);
    else listText = ctx.readFile(file);
  }
  const presets: PresetName[] = [];
  for (const name of read.list('preset')) {
    if (isPresetName(name)) presets.push(name);
    else read.fail('preset', `lists ${JSON.stringify(name)}; the presets are ${PRESET_NAMES.join(', ')} (separated by spaces, commas or new lines).`);
  }
  const releaseTag = read.text('release-tag');
  const skipIfUnchanged = read.bool('skip-if-unchanged', false);
  const split = read.bool('split', false);
  if (skipIfUnchanged && releaseTag === '') {
    read.fail('skip-if-unchanged', 'is true, but `release-tag` is empty: there is no release to compare with.');
  }
  const envToken = (ctx.env.HF_TOKEN ?? '').trim();
  const envProblem = envToken === '' ? undefined : screenProblem(envToken, { lines: false, tabs: false, secret: true, freeText: false });
  if (envProblem && read.text('hf-token') === '') read.fail('hf-token', `is empty and the environment's HF_TOKEN, which stands in for it, ${envProblem}.`);
  const hfToken = read.text('hf-token') || (envProblem ? '' : envToken);
  const githubToken = read.text('github-token');
  if (skipIfUnchanged && githubToken === '') {
    read.fail('github-token', 'is empty, but skip-if-unchanged reads the releases: pass `${{ github.token }}` (the default) or a token that can read them.');
  }
  const secrets = [...read.secrets, ...(hfToken && hfToken === envToken ? [hfToken] : [])];
  if (read.errors.length > 0) return { errors: read.errors, secrets };
  return { config: { listText, listSource, presets: [...new Set(presets)], releaseTag, skipIfUnchanged, split, hfToken, githubToken }, errors: [], secrets };
}

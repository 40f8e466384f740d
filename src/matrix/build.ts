import type { Config } from '../config.js';
import type { InputName } from '../inputs/names.js';
import { parseInputs, type ParseContext } from '../inputs/parse.js';
import type { PresetName } from '../inputs/presets.js';
import { modelName, publishedNames } from '../package/names.js';
import type { ModelSpec, VariantSpec } from './list.js';

/**
 * Pure: the matrix of plan/action.yml, one entry per model and variant. Each entry is checked the
 * way the main action checks its inputs (parseInputs), so a bad value fails the plan job, naming
 * the entry, instead of one job of the matrix an hour later; and each gets the names it
 * publishes under, which must not collide.
 */

/** GitHub runs at most this many jobs of one matrix. */
export const MAX_MATRIX_JOBS = 256;
/** What parseInputs gets for the tokens: the list never holds them, the job passes them. */
const TOKEN_PLACEHOLDERS: Partial<Record<string, string>> = { 'hf-token': 'hf_token_passed_by_the_job', 'github-token': 'github_token_passed_by_the_job' };
/** The runner the matrix's convert jobs run on (the README's workflows: macos-latest), whatever the plan job's. */
export const CONVERT_JOB_RUNNER = { RUNNER_OS: 'macOS', RUNNER_ARCH: 'ARM64' } as const;
/** With split: the runners of the two jobs of an entry, as the matrix names them. */
/** What every job of the matrix has, and the plan job may not: the runner's artifact service (the hand-off's). */
const JOB_SERVICES = { ACTIONS_RUNTIME_TOKEN: 'given-to-each-job', ACTIONS_RESULTS_URL: 'https://results-receiver.actions.githubusercontent.com/' } as const;
export const SPLIT_JOB_RUNNERS = {
  convert: { env: { RUNNER_OS: 'Linux', RUNNER_ARCH: 'X64', ...JOB_SERVICES }, key: 'convert-runner', label: 'ubuntu-latest' },
  finish: { env: { ...CONVERT_JOB_RUNNER, ...JOB_SERVICES }, key: 'finish-runner', label: 'macos-latest' },
} as const;
export const RELEASE_TAG_PLACEHOLDERS = ['{model}', '{owner}', '{variant}'] as const;

export interface PlanOptions {
  /** Variants of a model without `variants`: one per preset; none: one variant `default`, no preset. */
  presets: PresetName[];
  /** release-tag, with placeholders; '' publishes no release. */
  releaseTag: string;
  /** Each entry is two jobs, split: convert on Linux x64 and split: finish on macOS. */
  split?: boolean;
}

export interface PlannedEntry {
  /** "entry 2 (acme/sd), variant ios", for messages. */
  label: string;
  /** What goes into `strategy.matrix.include`: every value a string. */
  matrix: Record<string, string>;
  config: Config;
  releaseTag?: string;
  /** The name of this variant's manifest among the release's assets. */
  manifestName: string;
}

export function defaultVariants(presets: readonly PresetName[]): VariantSpec[] {
  return presets.length === 0 ? [{ name: 'default', inputs: {} }] : presets.map((p) => ({ name: p, preset: p, inputs: {} }));
}

/** `{model}`, `{owner}` and `{variant}` filled in; undefined with a reason when the result is no tag. */
export function expandReleaseTag(template: string, modelVersion: string, variant: string): { tag?: string; problem?: string } {
  const unknown = template.match(/\{[^}]*\}/g)?.filter((p) => !(RELEASE_TAG_PLACEHOLDERS as readonly string[]).includes(p));
  if (unknown && unknown.length > 0) return { problem: `has ${unknown.join(', ')}; the placeholders are ${RELEASE_TAG_PLACEHOLDERS.join(', ')}` };
  const owner = modelVersion.includes('/') ? (modelVersion.split('/').at(-2) ?? '') : '';
  const tag = template
    .replaceAll('{model}', modelName(modelVersion))
    .replaceAll('{owner}', owner.replace(/[^A-Za-z0-9._-]+/g, '-'))
    .replaceAll('{variant}', variant);
  // git's rules for a tag name, as far as a release tag meets them.
  if (!/^[A-Za-z0-9_][\w./+-]*$/.test(tag) || tag.includes('..') || tag.includes('//') || /[./]$/.test(tag) || tag.endsWith('.lock')) {
    return { problem: `gives ${JSON.stringify(tag)}, which is not a valid tag name (letters, digits, '.', '_', '-', '+', '/'; no '..')` };
  }
  return { tag };
}

export function buildMatrix(models: readonly ModelSpec[], options: PlanOptions, ctx: ParseContext): { entries?: PlannedEntry[]; errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  const entries: PlannedEntry[] = [];
  // The plan job may run anywhere (ubuntu-latest, arm64 Linux, a Mac); the jobs of its matrix run
  // on the Apple-silicon macOS runners the action needs: each entry is judged as such a job.
  const macCtx: ParseContext = { ...ctx, env: { ...ctx.env, ...CONVERT_JOB_RUNNER } };
  for (const model of models) {
    for (const variant of model.variants ?? defaultVariants(options.presets)) {
      const label = `Input \`models\`, entry ${model.position} (${model.modelVersion}), variant ${variant.name}`;
      const inputs: Record<string, string> = { ...model.inputs, ...variant.inputs, 'model-version': model.modelVersion };
      if (variant.preset) inputs.preset = variant.preset;
      const template = inputs['release-tag'] ?? options.releaseTag;
      delete inputs['release-tag'];
      let releaseTag: string | undefined;
      if (template !== '') {
        const expanded = expandReleaseTag(template, model.modelVersion, variant.name);
        if (expanded.problem) errors.push(`${label}: input \`release-tag\` ${JSON.stringify(template)} ${expanded.problem}.`);
        releaseTag = expanded.tag;
        if (releaseTag !== undefined) inputs['release-tag'] = releaseTag;
      }
      const raw = (name: InputName) => TOKEN_PLACEHOLDERS[name] ?? inputs[name] ?? '';
      // Split: the entry is judged as each of its two jobs (the converting one first: its runner refuses more).
      const jobs = options.split
        ? (['convert', 'finish'] as const).map((mode) => ({
            tag: ` (the ${mode === 'convert' ? 'converting' : 'finishing'} job, split: ${mode}, ${SPLIT_JOB_RUNNERS[mode].label})`,
            parsed: parseInputs((name: InputName) => (name === 'split' ? mode : raw(name)), { ...ctx, env: { ...ctx.env, ...SPLIT_JOB_RUNNERS[mode].env } }),
          }))
        : [{ tag: '', parsed: parseInputs(raw, macCtx) }];
      for (const job of jobs) {
        job.parsed.errors.forEach((e) => errors.push(`${label}${job.tag}: ${e}`));
        job.parsed.warnings.forEach((w) => warnings.push(`${label}${job.tag}: ${w}`));
      }
      const parsed = jobs[jobs.length - 1]!.parsed;
      if (jobs.some((job) => !job.parsed.config) || !parsed.config) continue;
      const names = publishedNames({ conversion: parsed.config.conversion, assetPrefix: parsed.config.publish.assetPrefix, coreAi: parsed.config.coreAi });
      const matrix: Record<string, string> = {
        name: `${modelName(model.modelVersion)} ${variant.name}`,
        variant: variant.name,
        'artifact-name': parsed.config.publish.artifactName ?? names.base,
        ...(options.split ? { [SPLIT_JOB_RUNNERS.convert.key]: SPLIT_JOB_RUNNERS.convert.label, [SPLIT_JOB_RUNNERS.finish.key]: SPLIT_JOB_RUNNERS.finish.label } : {}),
        ...inputs,
      };
      entries.push({ label, matrix, config: parsed.config, releaseTag, manifestName: names.manifest });
    }
  }
  errors.push(...collisions(entries));
  if (errors.length === 0 && entries.length > MAX_MATRIX_JOBS) {
    errors.push(`Input \`models\` gives ${entries.length} jobs; GitHub runs at most ${MAX_MATRIX_JOBS} in one matrix: split the list over two plan steps.`);
  }
  return errors.length > 0 ? { errors, warnings } : { entries, errors, warnings };
}

/** Two entries under one artifact name, or one release asset name, would overwrite each other. */
function collisions(entries: readonly PlannedEntry[]): string[] {
  const errors: string[] = [];
  const check = (what: string, keyOf: (e: PlannedEntry) => string | undefined, fix: string) => {
    const first = new Map<string, PlannedEntry>();
    for (const e of entries) {
      const key = keyOf(e);
      if (key === undefined) continue;
      const earlier = first.get(key);
      if (earlier) errors.push(`${e.label}: ${what} ${key} is also that of ${earlier.label.replace(/^Input `models`, /, '')}; ${fix}.`);
      else first.set(key, e);
    }
  };
  check('the artifact name', (e) => e.matrix['artifact-name'], 'give one of them its own `artifact-name`, or make the variants differ in what names them (attention, quantize-nbits, latent size, chunk-unet)');
  check(
    'the release assets',
    (e) => (e.releaseTag === undefined ? undefined : `${e.releaseTag}: ${e.manifestName.replace(/_manifest\.json$/, '_*')}`),
    'give one of them its own `asset-prefix`, or put `{variant}` or `{model}` in `release-tag`',
  );
  return errors;
}

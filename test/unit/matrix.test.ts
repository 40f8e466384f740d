// plan/action.yml, pure: the list of models, the matrix it gives, and the plan's own inputs.
import { describe, expect, it } from 'vitest';
import { converterInputs } from '../../src/converter/identity.js';
import type { InputName } from '../../src/inputs/names.js';
import { parseInputs } from '../../src/inputs/parse.js';
import { buildMatrix, expandReleaseTag, MAX_MATRIX_JOBS, type PlanOptions } from '../../src/matrix/build.js';
import { isListPath, parsePlanInputs } from '../../src/matrix/inputs.js';
import { parseModelList } from '../../src/matrix/list.js';
import { ACTION, actionDefaults, ctx, WORKSPACE } from './fixtures.js';

const FIVE = `
- stabilityai/stable-diffusion-2-1-base
- stable-diffusion-v1-5/stable-diffusion-v1-5
- model-version: acme/sd-turbo
  model-revision: v2
- model-version: acme/sd-fine
  min-psnr: 40
  convert-vae-encoder: true
- model-version: acme/sd-quant
  quantize-nbits: 6
`;

/** The plan job's runner: GITHUB_REPOSITORY names where releases go. */
const runner = () => ctx({ env: { GITHUB_REPOSITORY: 'acme/models' } });

function plan(text: string, options: Partial<PlanOptions> = {}, context = runner()) {
  const list = parseModelList(text, 'inline');
  if (!list.models) return { errors: list.errors, warnings: [] as string[] };
  return buildMatrix(list.models, { presets: ['macos', 'ios'], releaseTag: '', ...options }, context);
}

describe('buildMatrix: 5 models x 2 variants', () => {
  const result = plan(FIVE, { releaseTag: 'coreml-{model}' });
  const entries = result.entries ?? [];
  const matrix = entries.map((e) => e.matrix);

  it('gives 10 entries, one per model and variant, without errors', () => {
    expect(result.errors).toEqual([]);
    expect(entries).toHaveLength(10);
    expect(matrix.map((m) => `${m['model-version']} ${m.variant}`)).toEqual([
      'stabilityai/stable-diffusion-2-1-base macos',
      'stabilityai/stable-diffusion-2-1-base ios',
      'stable-diffusion-v1-5/stable-diffusion-v1-5 macos',
      'stable-diffusion-v1-5/stable-diffusion-v1-5 ios',
      'acme/sd-turbo macos',
      'acme/sd-turbo ios',
      'acme/sd-fine macos',
      'acme/sd-fine ios',
      'acme/sd-quant macos',
      'acme/sd-quant ios',
    ]);
  });

  it('names are unique: artifact names, job names, and release assets per tag', () => {
    const artifacts = matrix.map((m) => m['artifact-name']);
    expect(new Set(artifacts).size).toBe(10);
    expect(new Set(matrix.map((m) => m.name)).size).toBe(10);
    expect(artifacts.slice(0, 2)).toEqual(['stable-diffusion-2-1-base_original', 'stable-diffusion-2-1-base_split_einsum_v2_chunked']);
    expect(artifacts.slice(8)).toEqual(['sd-quant_original_6bit', 'sd-quant_split_einsum_v2_6bit_chunked']);
    expect(new Set(entries.map((e) => `${e.releaseTag} ${e.manifestName}`)).size).toBe(10);
  });

  it('passes every input through as a string, with the preset of the variant and the expanded release tag', () => {
    expect(matrix[0]).toEqual({
      name: 'stable-diffusion-2-1-base macos',
      variant: 'macos',
      'artifact-name': 'stable-diffusion-2-1-base_original',
      'model-version': 'stabilityai/stable-diffusion-2-1-base',
      preset: 'macos',
      'release-tag': 'coreml-stable-diffusion-2-1-base',
    });
    expect(matrix[4]).toMatchObject({ 'model-revision': 'v2', preset: 'macos' });
    expect(matrix[7]).toMatchObject({ 'min-psnr': '40', 'convert-vae-encoder': 'true', preset: 'ios' });
    expect(matrix[9]).toMatchObject({ 'quantize-nbits': '6' });
    for (const m of matrix) for (const v of Object.values(m)) expect(typeof v).toBe('string');
  });

  it('each entry parses, in the main action, to the Config the plan compared (same converter inputs)', () => {
    for (const e of entries) {
      const inRunner = parseInputs((name: InputName) => (name === 'hf-token' ? 'hf_x' : (e.matrix[name] ?? actionDefaults()[name] ?? '')), runner());
      expect(inRunner.errors, e.label).toEqual([]);
      expect(converterInputs(inRunner.config!), e.label).toEqual(converterInputs(e.config));
    }
    expect(entries[1]!.config.conversion).toMatchObject({ attention: 'SPLIT_EINSUM_V2', computeUnit: 'CPU_AND_NE', chunkUnet: true });
    expect(entries[8]!.config.conversion.quantizeNbits).toBe(6);
  });

  it('is a JSON object for strategy.matrix with fromJSON', () => {
    const json = JSON.parse(JSON.stringify({ include: matrix })) as { include: unknown[] };
    expect(json.include).toHaveLength(10);
  });
});

describe('buildMatrix judges the entries as the macOS arm64 convert jobs, whatever runner the plan job is on', () => {
  const kinds = [
    { RUNNER_OS: 'Linux', RUNNER_ARCH: 'X64' },
    { RUNNER_OS: 'Linux', RUNNER_ARCH: 'ARM64' },
    { RUNNER_OS: 'macOS', RUNNER_ARCH: 'ARM64' },
    { RUNNER_OS: 'macOS', RUNNER_ARCH: 'X64' },
  ];
  for (const env of kinds) {
    it(`${env.RUNNER_OS} ${env.RUNNER_ARCH}: the same 10 entries, no errors`, () => {
      const result = plan(FIVE, { releaseTag: 'coreml-{model}' }, ctx({ env: { GITHUB_REPOSITORY: 'acme/models', ...env } }));
      expect(result.errors).toEqual([]);
      expect(result.entries?.map((e) => e.matrix)).toEqual(plan(FIVE, { releaseTag: 'coreml-{model}' }).entries?.map((e) => e.matrix));
      expect(result.entries?.every((e) => e.config.runner.os === 'macOS' && e.config.runner.arch === 'ARM64')).toBe(true);
    });
  }
});

describe('buildMatrix: variants', () => {
  it('takes the model\'s own variants: presets, and mappings of inputs on a preset or none', () => {
    const result = plan(`
- model-version: stabilityai/stable-diffusion-xl-base-1.0
  custom-vae-version: madebyollin/sdxl-vae-fp16-fix
  variants:
    - xl-macos
    - name: xl-ios-6bit
      preset: xl-ios
      quantize-nbits: 6
    - attention-implementation: ORIGINAL
      compute-unit: CPU_AND_GPU
      xl-version: true
      latent-h: 128
      latent-w: 128
`);
    expect(result.errors).toEqual([]);
    const m = result.entries!.map((e) => e.matrix);
    expect(m.map((x) => x.variant)).toEqual(['xl-macos', 'xl-ios-6bit', 'variant-3']);
    expect(m[1]).toMatchObject({ preset: 'xl-ios', 'quantize-nbits': '6', 'custom-vae-version': 'madebyollin/sdxl-vae-fp16-fix' });
    expect(m[2]).not.toHaveProperty('preset');
    expect(result.entries![1]!.config.conversion).toMatchObject({ latentH: 96, quantizeNbits: 6, xlVersion: true, chunkUnet: true });
    expect(m.map((x) => x['artifact-name'])).toEqual([
      'stable-diffusion-xl-base-1.0_original',
      'stable-diffusion-xl-base-1.0_split_einsum_6bit_768x768_chunked',
      'stable-diffusion-xl-base-1.0_original_1024x1024',
    ]);
  });

  it('without presets and variants: one entry named default, built-in defaults', () => {
    const result = plan('["acme/one", "acme/two"]', { presets: [] });
    expect(result.entries!.map((e) => e.matrix.variant)).toEqual(['default', 'default']);
    expect(result.entries![0]!.matrix).not.toHaveProperty('preset');
    expect(result.entries![0]!.config.conversion.attention).toBe('SPLIT_EINSUM');
  });

  it('reads JSON as well as YAML, with lists for list inputs', () => {
    const result = plan('[{"model-version": "acme/cn-base", "convert-controlnet": ["lllyasviel/a", "lllyasviel/b"], "unet-support-controlnet": true, "variants": ["macos"]}]');
    expect(result.errors).toEqual([]);
    expect(result.entries![0]!.matrix['convert-controlnet']).toBe('lllyasviel/a\nlllyasviel/b');
    expect(result.entries![0]!.config.conversion.controlnets).toEqual(['lllyasviel/a', 'lllyasviel/b']);
  });

  it('release-tag placeholders: {model}, {owner}, {variant}; an entry may set its own', () => {
    const result = plan('- acme/sd\n- model-version: other/sd-x\n  release-tag: fixed-{variant}\n', { releaseTag: '{owner}-{model}-{variant}' });
    expect(result.errors).toEqual([]);
    expect(result.entries!.map((e) => e.releaseTag)).toEqual(['acme-sd-macos', 'acme-sd-ios', 'fixed-macos', 'fixed-ios']);
    expect(expandReleaseTag('v1', 'acme/sd', 'ios')).toEqual({ tag: 'v1' });
    expect(expandReleaseTag('{name}', 'acme/sd', 'ios').problem).toBe('has {name}; the placeholders are {model}, {owner}, {variant}');
  });
});

describe('buildMatrix: errors name the entry', () => {
  const errorsOf = (text: string, options: Partial<PlanOptions> = {}) => plan(text, options).errors;

  it('not a list, not YAML, empty', () => {
    expect(errorsOf('models: [a/b]')[0]).toMatch(/^Input `models` \(inline\) must be a non-empty list .* got a mapping\.$/);
    expect(errorsOf('[]')[0]).toMatch(/got an empty list\.$/);
    expect(errorsOf('- a: [b\n')[0]).toMatch(/^Input `models` \(inline\) is neither YAML nor JSON: /);
  });

  it('an entry without model-version, of the wrong type, with an unknown or forbidden key', () => {
    expect(errorsOf('- variants: [ios]')).toEqual(['Input `models`, entry 1: has no model-version (a Hub id such as stabilityai/stable-diffusion-2-1-base, or a folder in the workspace).']);
    expect(errorsOf('- acme/a\n- 42')).toEqual(['Input `models`, entry 2: must be a model id or a mapping with model-version, got 42.']);
    expect(errorsOf('- model-version: acme/a\n  attention: ORIGINAL')).toEqual([
      'Input `models`, entry 1 (acme/a): `attention` is not an input of the main action (action.yml); an entry takes model-version, variants, and the inputs of action.yml.',
    ]);
    expect(errorsOf('- model-version: acme/a\n  hf-token: hf_abc')[0]).toMatch(/^Input `models`, entry 1 \(acme\/a\): `hf-token` cannot be set in the list: a secret/);
    expect(errorsOf('- model-version: acme/a\n  hub-token: hf_write')[0]).toMatch(/^Input `models`, entry 1 \(acme\/a\): `hub-token` cannot be set in the list: a secret/);
    expect(errorsOf('- model-version: acme/a\n  min-psnr: {a: 1}')[0]).toBe('Input `models`, entry 1 (acme/a): `min-psnr` must be a string, number, boolean or list of strings, got {"a":1}.');
  });

  it('variants: an unknown preset, a bad mapping key, two of one name', () => {
    expect(errorsOf('- model-version: acme/a\n  variants: [iphone]')).toEqual([
      'Input `models`, entry 1 (acme/a), variant 1: "iphone" is not a preset; presets: macos, ios, xl-macos, xl-ios (or give a mapping of inputs).',
    ]);
    expect(errorsOf('- model-version: acme/a\n  variants:\n    - {preset: ios, bits: 6}')[0]).toMatch(/^Input `models`, entry 1 \(acme\/a\), variant 1: `bits` is not an input of the main action/);
    expect(errorsOf('- model-version: acme/a\n  variants: [ios, {name: ios, quantize-nbits: 6}]')).toEqual([
      'Input `models`, entry 1 (acme/a): two variants are named "ios"; give each a distinct `name`.',
    ]);
  });

  it('a bad input value fails the plan, naming the entry, the variant and the input', () => {
    expect(errorsOf('- acme/a\n- model-version: acme/b\n  quantize-nbits: 5', { presets: ['ios'] })).toEqual([
      'Input `models`, entry 2 (acme/b), variant ios: Input `quantize-nbits` must be one of 1, 2, 4, 6, 8, got "5".',
    ]);
    expect(errorsOf('- model-version: acme/b\n  sd3-version: true\n  variants: [xl-macos]')[0]).toMatch(/^Input `models`, entry 1 \(acme\/b\), variant xl-macos: Input `sd3-version` and `xl-version` are both true/);
  });

  it('two entries under one artifact name, or one set of release assets', () => {
    const errors = errorsOf('- acme/sd\n- other/sd', { presets: ['macos'] });
    expect(errors).toEqual([
      'Input `models`, entry 2 (other/sd), variant macos: the artifact name sd_original is also that of entry 1 (acme/sd), variant macos; give one of them its own `artifact-name`, or make the variants differ in what names them (attention, quantize-nbits, latent size, chunk-unet).',
    ]);
    const sameRelease = errorsOf('- model-version: acme/sd\n  variants: [macos, {name: gpu-all, attention-implementation: ORIGINAL}]', { releaseTag: 'v1-{model}' });
    expect(sameRelease.some((e) => e.includes('the release assets v1-sd: sd_original_* is also that of entry 1 (acme/sd), variant macos'))).toBe(true);
    expect(errorsOf('- acme/sd', { releaseTag: '{model}..x' })[0]).toMatch(/input `release-tag` "\{model\}..x" gives "sd..x", which is not a valid tag name/);
  });

  it(`more than ${MAX_MATRIX_JOBS} jobs`, () => {
    const list = Array.from({ length: 129 }, (_, i) => `- acme/m${i}`).join('\n');
    expect(errorsOf(list)).toEqual([`Input \`models\` gives 258 jobs; GitHub runs at most ${MAX_MATRIX_JOBS} in one matrix: split the list over two plan steps.`]);
  });
});

describe('the matrix passes inputs that are not wired as empty strings', () => {
  it('every input of action.yml reads the same empty as with its default', () => {
    // `${{ matrix.x }}` of an entry without x is '': it must mean what the default means.
    const empty = parseInputs((name) => (name === 'model-version' ? 'acme/a' : name === 'hf-token' ? 'hf_x' : ''), ctx());
    const defaults = parseInputs((name) => (name === 'model-version' ? 'acme/a' : name === 'hf-token' ? 'hf_x' : (actionDefaults()[name] ?? '')), ctx());
    expect(empty.errors).toEqual([]);
    // github-token is never in the list (a secret): the job passes it, or its default applies.
    const withoutToken = (c: typeof empty.config) => c && { ...c, publish: { ...c.publish, githubToken: '' } };
    expect(withoutToken(empty.config)).toEqual(withoutToken(defaults.config));
    expect(Object.keys(ACTION.inputs).length).toBeGreaterThan(40);
  });
});

describe('parsePlanInputs', () => {
  const files: Record<string, string> = { [`${WORKSPACE}/models.yml`]: '- acme/a\n' };
  const planCtx = { env: { GITHUB_WORKSPACE: WORKSPACE }, isFile: (p: string) => p in files, readFile: (p: string) => files[p] ?? '' };
  const read = (values: Record<string, string>) => parsePlanInputs((name) => values[name] ?? '', planCtx);

  it('a .yml path is read from the workspace; anything else is the list itself', () => {
    expect(read({ models: 'models.yml' }).config).toMatchObject({ listText: '- acme/a\n', listSource: 'models.yml' });
    expect(read({ models: '- acme/b' }).config).toMatchObject({ listText: '- acme/b', listSource: 'inline' });
    expect(isListPath('["a/b.json"]')).toBe(false);
    expect(read({ models: 'missing.yaml' }).errors).toEqual([`Input \`models\` names a list file, but ${WORKSPACE}/missing.yaml is not a file (check out the repository before the plan step).`]);
  });

  it('preset is a list of presets; skip-if-unchanged needs a release-tag and a token', () => {
    expect(read({ models: '- a/b', preset: 'macos, ios' }).config?.presets).toEqual(['macos', 'ios']);
    expect(read({ models: '- a/b', preset: 'macos tv' }).errors).toEqual(['Input `preset` lists "tv"; the presets are macos, ios, xl-macos, xl-ios (separated by spaces, commas or new lines).']);
    expect(read({ models: '- a/b', 'skip-if-unchanged': 'true', 'github-token': 't' }).errors).toEqual([
      'Input `skip-if-unchanged` is true, but `release-tag` is empty: there is no release to compare with.',
    ]);
    expect(read({ models: '- a/b', 'skip-if-unchanged': 'true', 'release-tag': 'v1' }).errors[0]).toMatch(/^Input `github-token` is empty, but skip-if-unchanged reads the releases/);
    expect(read({ models: '' }).errors[0]).toMatch(/^Input `models` is required/);
  });
});

describe('plan/action.yml', () => {
  it('declares PLAN_INPUT_NAMES, in order, and runs dist/plan', async () => {
    const { readFileSync } = await import('node:fs');
    const { parse } = await import('yaml');
    const { PLAN_INPUT_NAMES } = await import('../../src/inputs/names.js');
    const { ROOT } = await import('./fixtures.js');
    const plan = parse(readFileSync(`${ROOT}/plan/action.yml`, 'utf8')) as { inputs: Record<string, { required?: boolean }>; runs: { using: string; main: string } };
    expect(Object.keys(plan.inputs)).toEqual([...PLAN_INPUT_NAMES]);
    expect(plan.inputs.models?.required).toBe(true);
    expect(plan.runs).toEqual({ using: 'node24', main: '../dist/plan/index.js' });
  });
});

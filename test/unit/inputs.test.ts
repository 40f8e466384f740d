// parseInputs: action.yml's defaults, every kind of bad input, warnings, and the list/threshold syntaxes.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseInputs } from '../../src/inputs/parse.js';
import type { InputName } from '../../src/inputs/names.js';
import { ACTION, ACTION_ROOT, HUB_MODEL, ROOT, WORKSPACE, actionDefaults, ctx, raw } from './fixtures.js';
import { BUILT_IN_DEFAULTS, PRESET_INPUTS } from '../../src/inputs/presets.js';

const bool = (value: string) => value === 'true';

/** The message of an error that starts by naming the input, as every input error must. */
function errorFor(errors: string[], name: string): string | undefined {
  return errors.find((e) => e.startsWith(`Input \`${name}\``));
}

describe('parseInputs: action.yml defaults', () => {
  // The inputs a preset may set have empty defaults in action.yml; their built-in defaults apply.
  const defaults: Record<string, string> = { ...actionDefaults(), ...BUILT_IN_DEFAULTS };
  it('leaves the action.yml default of every input a preset may set empty', () => {
    for (const name of PRESET_INPUTS) expect(actionDefaults()[name], name).toBe('');
    expect(BUILT_IN_DEFAULTS).toMatchObject({ 'attention-implementation': 'SPLIT_EINSUM', 'compute-unit': 'ALL', 'chunk-unet': 'false', 'xl-version': 'false' });
  });
  const result = parseInputs(raw(), ctx());

  it('gives a Config and neither errors nor warnings', () => {
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
    expect(result.config).toBeDefined();
  });

  it('selects exactly the parts whose convert-* input defaults to true, and the unet (empty: true unless sd3-version)', () => {
    const expected = Object.keys(ACTION.inputs)
      .filter((name) => name.startsWith('convert-') && name !== 'convert-controlnet' && bool(defaults[name] ?? ''))
      .map((name) => name.slice('convert-'.length).replaceAll('-', '_'));
    // The issue: text encoder, VAE decoder and unet default to true.
    expect([...expected].sort()).toEqual(['text_encoder', 'vae_decoder']);
    expect([defaults['convert-unet'], defaults['convert-mmdit']]).toEqual(['', '']);
    expect([...(result.config?.conversion.parts ?? [])].sort()).toEqual([...expected, 'unet'].sort());
    expect(result.config?.conversion.controlnets).toEqual([]);
  });

  it('maps every other default onto the conversion options', () => {
    const c = result.config!.conversion;
    expect(c.modelVersion).toBe(HUB_MODEL);
    expect(c.modelIsLocal).toBe(false);
    expect(c.computeUnit).toBe(defaults['compute-unit']);
    expect(c.attention).toBe(defaults['attention-implementation']);
    expect(c.minDeploymentTarget).toBe(defaults['min-deployment-target']);
    expect(c.checkOutputCorrectness).toBe(bool(defaults['check-output-correctness']!));
    expect(c.bundleResources).toBe(bool(defaults['bundle-resources-for-swift-cli']!));
    expect(c.chunkUnet).toBe(bool(defaults['chunk-unet']!));
    expect(c.unetSupportControlnet).toBe(bool(defaults['unet-support-controlnet']!));
    expect(c.unetBatchOne).toBe(bool(defaults['unet-batch-one']!));
    expect(c.includeT5).toBe(bool(defaults['include-t5']!));
    expect(c.xlVersion).toBe(bool(defaults['xl-version']!));
    expect(c.sd3Version).toBe(bool(defaults['sd3-version']!));
    // Empty defaults take the converter's own: nothing is set.
    expect(c.quantizeNbits).toBeUndefined();
    expect(c.latentH).toBeUndefined();
    expect(c.latentW).toBeUndefined();
    expect(c.textTokenSequenceLength).toBeUndefined();
    expect(c.textEncoderHiddenSize).toBeUndefined();
    expect(c.refinerVersion).toBeUndefined();
    expect(c.customVaeVersion).toBeUndefined();
    expect(Object.values(c.urls).filter((u) => u !== undefined)).toEqual([]);
    expect(c.extraArgs).toEqual([]);
    expect(c.outputDir).toBe(path.join(WORKSPACE, defaults['output-dir']!));
  });

  it('maps the setup, gate and mode defaults', () => {
    const config = result.config!;
    expect(config.setup.pythonVersion).toBe(defaults['python-version']);
    expect(config.setup.python).toBeUndefined();
    // The pinned commit e12202c of apple/ml-stable-diffusion as a git URL.
    expect(config.setup.requirement).toMatch(/git\+https:\/\/github\.com\/apple\/ml-stable-diffusion(\.git)?@e12202c/);
    // The lock shipped with the action for the default Python, which must exist in this repository.
    expect(config.setup.pinsFile.startsWith(`${ACTION_ROOT}/`)).toBe(true);
    expect(config.setup.pinsFile).toMatch(new RegExp(`macos-arm64-py${defaults['python-version']!.replace('.', '\\.')}\\.txt$`));
    expect(config.setup.pinsFromInput).toBe(false);
    expect(existsSync(path.join(ROOT, path.relative(ACTION_ROOT, config.setup.pinsFile)))).toBe(true);
    expect(config.gate).toEqual({ minPsnr: Number(defaults['min-psnr']), quantizedMinPsnr: Number(defaults['quantized-min-psnr']), thresholds: {} });
    expect(config.processPerComponent).toBe(bool(defaults['process-per-component']!));
    expect(config.dryRun).toBe(bool(defaults['dry-run']!));
    expect(config.hfToken).toBe('hf_secret');
    expect(config.runner).toMatchObject({ os: 'macOS', arch: 'ARM64', workspace: WORKSPACE });
  });
});

interface BadCase {
  title: string;
  inputs: Partial<Record<InputName, string>>;
  env?: Record<string, string | undefined>;
  /** The input the error must name first. */
  input: InputName;
  /** What the message must say is accepted (or why). */
  says: RegExp[];
}

const noParts: Partial<Record<InputName, string>> = {
  'convert-text-encoder': 'false',
  'convert-vae-decoder': 'false',
  'convert-vae-encoder': 'false',
  'convert-unet': 'false',
  'convert-safety-checker': 'false',
  'convert-mmdit': 'false',
  'convert-controlnet': '',
};

const SD3 = 'stabilityai/stable-diffusion-3-medium';
const SD3_INPUTS: Partial<Record<InputName, string>> = { 'model-version': SD3, 'sd3-version': 'true' };

const BAD: BadCase[] = [
  { title: 'unknown compute-unit', inputs: { 'compute-unit': 'GPU' }, input: 'compute-unit', says: [/"GPU"/, /ALL/, /CPU_AND_GPU/, /CPU_ONLY/, /CPU_AND_NE/] },
  { title: 'lower-case compute-unit', inputs: { 'compute-unit': 'all' }, input: 'compute-unit', says: [/CPU_AND_NE/] },
  {
    title: 'unknown attention-implementation',
    inputs: { 'attention-implementation': 'FLASH' },
    input: 'attention-implementation',
    says: [/ORIGINAL/, /SPLIT_EINSUM\b/, /SPLIT_EINSUM_V2/],
  },
  { title: 'quantize-nbits 3', inputs: { 'quantize-nbits': '3' }, input: 'quantize-nbits', says: [/\b1\b.*\b2\b.*\b4\b.*\b6\b.*\b8\b/] },
  { title: 'latent-h 0', inputs: { 'latent-h': '0' }, input: 'latent-h', says: [/positive/, /multiple of 8/] },
  { title: 'latent-w 100 (not a multiple of 8)', inputs: { 'latent-w': '100' }, input: 'latent-w', says: [/multiple of 8/] },
  { title: 'latent-h -8', inputs: { 'latent-h': '-8' }, input: 'latent-h', says: [/positive/] },
  { title: 'latent-w 64.5', inputs: { 'latent-w': '64.5' }, input: 'latent-w', says: [/multiple of 8/] },
  { title: 'text-token-sequence-length abc', inputs: { 'text-token-sequence-length': 'abc' }, input: 'text-token-sequence-length', says: [/whole number/] },
  { title: 'xl-version with sd3-version', inputs: { 'model-version': SD3, 'xl-version': 'true', 'sd3-version': 'true' }, input: 'sd3-version', says: [/xl-version/] },
  {
    title: 'sd3-version with a model DiffusionKit 0.4.0 cannot load (SD3.5)',
    inputs: { 'model-version': 'stabilityai/stable-diffusion-3.5-medium', 'sd3-version': 'true' },
    input: 'model-version',
    says: [/"stabilityai\/stable-diffusion-3\.5-medium"/, /sd3_medium\.safetensors/, /stabilityai\/stable-diffusion-3-medium or argmaxinc\/mlx-stable-diffusion-3-medium/],
  },
  {
    title: 'sd3-version with the -diffusers layout (no sd3_medium.safetensors)',
    inputs: { 'model-version': 'stabilityai/stable-diffusion-3-medium-diffusers', 'sd3-version': 'true' },
    input: 'model-version',
    says: [/DiffusionKit 0\.4\.0/],
  },
  { title: 'sd3-version with convert-unet: true (the SDXL base unet)', inputs: { ...SD3_INPUTS, 'convert-unet': 'true' }, input: 'convert-unet', says: [/`sd3-version: true`/, /stable-diffusion-xl-base-1\.0/, /MMDiT/] },
  { title: 'sd3-version with convert-vae-encoder', inputs: { ...SD3_INPUTS, 'convert-vae-encoder': 'true' }, input: 'convert-vae-encoder', says: [/`sd3-version: true`/, /16-channel/] },
  { title: 'sd3-version with convert-safety-checker', inputs: { ...SD3_INPUTS, 'convert-safety-checker': 'true' }, input: 'convert-safety-checker', says: [/`sd3-version: true`/, /no safety checker/] },
  {
    title: 'sd3-version with refiner-version (one error, not also "needs convert-unet")',
    inputs: { ...SD3_INPUTS, 'refiner-version': 'stabilityai/stable-diffusion-xl-refiner-1.0' },
    input: 'refiner-version',
    says: [/`sd3-version: true`/],
  },
  { title: 'no part selected', inputs: noParts, input: 'convert-unet', says: [/at least one/, /convert-controlnet/] },
  { title: 'model-version with spaces', inputs: { 'model-version': 'not a model' }, input: 'model-version', says: [/Hub id/, /folder/] },
  { title: 'model-version with two slashes', inputs: { 'model-version': 'a/b/c' }, input: 'model-version', says: [/Hub id/, /folder/] },
  { title: 'empty model-version', inputs: { 'model-version': '' }, input: 'model-version', says: [/required/] },
  { title: 'refiner-version not a Hub id', inputs: { 'refiner-version': 'x y' }, input: 'refiner-version', says: [/Hub id/] },
  { title: 'ControlNet not a Hub id', inputs: { 'convert-controlnet': 'lllyasviel/sd-controlnet-mlsd not/a/model' }, input: 'convert-controlnet', says: [/not\/a\/model/] },
  { title: 'threshold not a number', inputs: { 'psnr-thresholds': 'unet=abc' }, input: 'psnr-thresholds', says: [/number/, /abc/] },
  { title: 'threshold line without =', inputs: { 'psnr-thresholds': 'unet 40' }, input: 'psnr-thresholds', says: [/part=dB/] },
  { title: 'unknown part in thresholds', inputs: { 'psnr-thresholds': 'vae=40' }, input: 'psnr-thresholds', says: [/"vae"/, /vae_decoder/, /unet/] },
  { title: 'min-psnr not a number', inputs: { 'min-psnr': 'high' }, input: 'min-psnr', says: [/number/] },
  { title: 'bad boolean', inputs: { 'chunk-unet': 'yes' }, input: 'chunk-unet', says: [/true or false/] },
  { title: 'bad boolean for dry-run', inputs: { 'dry-run': '1' }, input: 'dry-run', says: [/true or false/] },
  {
    title: 'non-http vocabulary URL',
    inputs: { 'text-encoder-vocabulary-url': 'ftp://example.com/vocab.json' },
    input: 'text-encoder-vocabulary-url',
    says: [/http/],
  },
  { title: 'merges URL that is no URL', inputs: { 'text-encoder-merges-url': 'merges.txt' }, input: 'text-encoder-merges-url', says: [/http/] },
  { title: 'unknown min-deployment-target', inputs: { 'min-deployment-target': 'macOS12' }, input: 'min-deployment-target', says: [/macOS13/, /iOS18/] },
  { title: 'extra-args sets --chunk-unet', inputs: { 'extra-args': '--chunk-unet' }, input: 'extra-args', says: [/--chunk-unet/, /`chunk-unet`/] },
  { title: 'extra-args sets -o on its own line', inputs: { 'extra-args': '-o\nx' }, input: 'extra-args', says: [/-o\b/, /output-dir/] },
  { title: 'extra-args sets --quantize-nbits=4', inputs: { 'extra-args': '--quantize-nbits=4' }, input: 'extra-args', says: [/quantize-nbits/] },
  { title: 'a Linux runner without dry-run', inputs: {}, env: { RUNNER_OS: 'Linux' }, input: 'dry-run', says: [/macOS/, /dry-run: true/] },
  {
    title: 'an Intel (X64) macOS runner without dry-run',
    inputs: {},
    env: { RUNNER_ARCH: 'X64' },
    input: 'dry-run',
    says: [/Intel \(X64\) macOS/, /torch 2\.5\.0/, /mlx/, /macos-latest/, /dry-run: true/],
  },
  { title: 'a Windows runner without dry-run', inputs: {}, env: { RUNNER_OS: 'Windows' }, input: 'dry-run', says: [/macOS/] },
  { title: 'python-version 3.12 with the default requirement', inputs: { 'python-version': '3.12' }, input: 'python-version', says: [/3\.11/, /numpy/] },
  { title: 'python-version that is no version', inputs: { 'python-version': 'latest' }, input: 'python-version', says: [/3\.11/] },
  { title: 'python pointing at a missing file', inputs: { python: '/opt/missing/bin/python' }, input: 'python', says: [/\/opt\/missing\/bin\/python/, /interpreter/] },
  { title: 'pip-constraints pointing at a missing file', inputs: { 'pip-constraints': 'c.txt' }, input: 'pip-constraints', says: [/constraints/] },
  { title: 'ml-stable-diffusion local path that does not exist', inputs: { 'ml-stable-diffusion': './ml-sd' }, input: 'ml-stable-diffusion', says: [/does not exist/] },
  { title: 'ml-stable-diffusion given as a pip option', inputs: { 'ml-stable-diffusion': '--pre' }, input: 'ml-stable-diffusion', says: [/requirement/] },
  {
    title: 'refiner-version without convert-unet',
    inputs: { 'refiner-version': 'stabilityai/stable-diffusion-xl-refiner-1.0', 'convert-unet': 'false' },
    input: 'refiner-version',
    says: [/convert-unet/],
  },
  {
    title: 'ControlNet with unet-batch-one (the converter converts ControlNets at batch 2)',
    inputs: { 'convert-controlnet': 'lllyasviel/sd-controlnet-mlsd', 'unet-batch-one': 'true' },
    input: 'convert-controlnet',
    says: [/`unet-batch-one: true`/, /batch size 2/],
  },
  {
    title: 'ControlNet with xl-version (controlnet.py has SD 1.x/2.x only)',
    inputs: { 'convert-controlnet': 'diffusers/controlnet-canny-sdxl-1.0', 'xl-version': 'true' },
    input: 'convert-controlnet',
    says: [/`xl-version: true`/, /SD 1\.x and 2\.x/],
  },
  {
    title: 'ControlNet with sd3-version',
    inputs: { ...SD3_INPUTS, 'convert-controlnet': 'lllyasviel/sd-controlnet-mlsd' },
    input: 'convert-controlnet',
    says: [/`sd3-version: true`/, /SD 1\.x and 2\.x/],
  },
  { title: 'convert-mmdit without sd3-version', inputs: { 'convert-mmdit': 'true' }, input: 'convert-mmdit', says: [/sd3-version/] },
  {
    title: 'output-dir with a space (bundling hands it to a shell unquoted)',
    inputs: { 'output-dir': 'coreml models' },
    input: 'output-dir',
    says: [/resolves to ".*\/coreml models", which holds a space/, /os\.system, unquoted/, /letters, digits/],
  },
  { title: 'output-dir with shell metacharacters', inputs: { 'output-dir': 'out$(id);x' }, input: 'output-dir', says: [/"\$", "\(", "\)", ";"/] },
  { title: 'output-dir is the workspace', inputs: { 'output-dir': '.' }, input: 'output-dir', says: [/workspace/] },
];

describe('parseInputs: bad inputs', () => {
  it('covers at least 14 distinct inputs', () => {
    expect(new Set(BAD.map((c) => c.input)).size).toBeGreaterThanOrEqual(14);
  });

  for (const c of BAD) {
    it(`${c.title}: one error naming \`${c.input}\` and what it accepts, no Config`, () => {
      const result = parseInputs(raw(c.inputs), ctx({ env: c.env }));
      expect(result.config).toBeUndefined();
      expect(result.errors, result.errors.join('\n')).toHaveLength(1);
      const message = errorFor(result.errors, c.input);
      expect(message, `no error starts with Input \`${c.input}\`: ${result.errors.join(' / ')}`).toBeDefined();
      for (const pattern of c.says) expect(message).toMatch(pattern);
    });
  }

  // argparse reads a single argv element "-o x" as -o with the value " x" (a short option takes
  // the rest of its element as its value), so this line silently moves the converter's output.
  it('extra-args line `-o x` (one argv element) is refused: argparse reads it as -o " x"', () => {
    const result = parseInputs(raw({ 'extra-args': '-o x' }), ctx());
    expect(errorFor(result.errors, 'extra-args')).toMatch(/-o\b/);
  });

  // torch2coreml's ArgumentParser() keeps allow_abbrev=True: `--chunk` is --chunk-unet.
  it('extra-args `--chunk` (an argparse abbreviation of --chunk-unet) is refused', () => {
    const result = parseInputs(raw({ 'extra-args': '--chunk' }), ctx());
    expect(errorFor(result.errors, 'extra-args')).toMatch(/chunk-unet/);
  });

  it('accepts extra-args that set no managed flag, one argument a line, comments skipped', () => {
    const result = parseInputs(raw({ 'extra-args': '# later flags\n--some-new-flag\n  value with spaces  \n' }), ctx());
    expect(result.errors).toEqual([]);
    expect(result.config?.conversion.extraArgs).toEqual(['--some-new-flag', 'value with spaces']);
  });

  it('reports several bad inputs together, each naming its input', () => {
    const result = parseInputs(
      raw({ 'compute-unit': 'GPU', 'quantize-nbits': '3', 'latent-w': '100', 'chunk-unet': 'yes', 'psnr-thresholds': 'vae=40' }),
      ctx(),
    );
    expect(result.config).toBeUndefined();
    for (const name of ['compute-unit', 'quantize-nbits', 'latent-w', 'chunk-unet', 'psnr-thresholds']) {
      expect(errorFor(result.errors, name), name).toBeDefined();
    }
    expect(result.errors).toHaveLength(5);
  });

  it('reports several cross-input problems together', () => {
    const result = parseInputs(
      raw({ 'hf-token': '', 'xl-version': 'true', 'sd3-version': 'true', 'convert-mmdit': 'true', 'python-version': '3.12' }),
      ctx({ env: { RUNNER_OS: 'Linux' } }),
    );
    expect(result.config).toBeUndefined();
    for (const name of ['dry-run', 'sd3-version', 'python-version']) {
      expect(errorFor(result.errors, name), name).toBeDefined();
    }
  });

  it('reports every bad threshold line, not only the first', () => {
    const result = parseInputs(raw({ 'psnr-thresholds': 'vae=40\nunet=abc\ntext_encoder=36' }), ctx());
    expect(result.errors.filter((e) => e.startsWith('Input `psnr-thresholds`'))).toHaveLength(2);
  });
});

describe('parseInputs: the token', () => {
  it('takes HF_TOKEN from the environment when hf-token is empty', () => {
    const result = parseInputs(raw({ 'hf-token': '' }), ctx({ env: { HF_TOKEN: 'hf_from_env' } }));
    expect(result.errors).toEqual([]);
    expect(result.config?.hfToken).toBe('hf_from_env');
  });

  it('prefers the hf-token input to HF_TOKEN', () => {
    const result = parseInputs(raw({ 'hf-token': 'hf_input' }), ctx({ env: { HF_TOKEN: 'hf_from_env' } }));
    expect(result.config?.hfToken).toBe('hf_input');
  });

  it('needs none for a local-folder model with no Hub ids', () => {
    const result = parseInputs(raw({ 'model-version': './models/sd', 'hf-token': '' }), ctx({ dirs: ['models/sd'] }));
    expect(result.errors).toEqual([]);
    expect(result.config?.conversion.modelIsLocal).toBe(true);
    expect(result.config?.conversion.modelVersion).toBe('./models/sd');
    expect(result.config?.hfToken).toBe('');
  });

  it('is not required to parse, for Hub models either: public ones load without (the Hub stage refuses gated and private ones)', () => {
    for (const inputs of [{ 'hf-token': '' }, { 'model-version': './models/sd', 'hf-token': '', 'convert-controlnet': 'lllyasviel/sd-controlnet-mlsd' }]) {
      const result = parseInputs(raw(inputs), ctx({ dirs: ['models/sd'], env: { HF_TOKEN: undefined } }));
      expect(result.errors).toEqual([]);
      expect(result.config?.hfToken).toBe('');
    }
  });

  it('takes a local folder in preference to a Hub id of the same spelling', () => {
    const result = parseInputs(raw({ 'model-version': 'owner/model' }), ctx({ dirs: ['owner/model'] }));
    expect(result.config?.conversion.modelIsLocal).toBe(true);
  });
});

describe('parseInputs: runner and setup', () => {
  it('allows a dry run, or a converter of your own, on an Intel (X64) macOS runner', () => {
    expect(parseInputs(raw({ 'dry-run': 'true' }), ctx({ env: { RUNNER_ARCH: 'X64' } })).errors).toEqual([]);
    const own = parseInputs(raw({ 'ml-stable-diffusion': 'python_coreml_stable_diffusion @ git+https://example.com/fork.git@abc' }), ctx({ env: { RUNNER_ARCH: 'X64' } }));
    expect(own.errors).toEqual([]);
  });

  it('refuses a local model-version with a space when bundling (package names hold it), not otherwise', () => {
    const local = { 'model-version': 'models/my sd' };
    const result = parseInputs(raw(local), ctx({ dirs: ['models/my sd'] }));
    expect(result.errors).toEqual([expect.stringMatching(/^Input `model-version` is "models\/my sd", which holds a space: with bundle-resources-for-swift-cli/)]);
    const unbundled = parseInputs(raw({ ...local, 'bundle-resources-for-swift-cli': 'false', 'output-dir': 'a b' }), ctx({ dirs: ['models/my sd'] }));
    expect(unbundled.errors).toEqual([]);
  });

  it('allows a dry run on a Linux runner', () => {
    const result = parseInputs(raw({ 'dry-run': 'true' }), ctx({ env: { RUNNER_OS: 'Linux' } }));
    expect(result.errors).toEqual([]);
    expect(result.config?.dryRun).toBe(true);
    expect(result.config?.runner.os).toBe('Linux');
  });

  it('accepts python-version 3.12 with an interpreter of its own, resolved against the workspace', () => {
    const result = parseInputs(raw({ 'python-version': '3.12', python: 'venv/bin/python' }), ctx({ files: ['venv/bin/python'] }));
    expect(result.errors).toEqual([]);
    expect(result.config?.setup.python).toBe(path.join(WORKSPACE, 'venv/bin/python'));
  });

  it('accepts python-version 3.12 with a requirement other than the pinned converter', () => {
    const result = parseInputs(raw({ 'python-version': '3.12', 'ml-stable-diffusion': 'python_coreml_stable_diffusion==1.1.0' }), ctx());
    expect(result.errors).toEqual([]);
    expect(result.config?.setup.requirement).toBe('python_coreml_stable_diffusion==1.1.0');
  });

  it('resolves a local wheel requirement and a constraints file against the workspace', () => {
    const result = parseInputs(
      raw({ 'ml-stable-diffusion': 'dist/conv-1.0-py3-none-any.whl', 'pip-constraints': 'ci/constraints.txt' }),
      ctx({ files: ['dist/conv-1.0-py3-none-any.whl', 'ci/constraints.txt'] }),
    );
    expect(result.errors).toEqual([]);
    expect(result.config?.setup.requirement).toBe(path.join(WORKSPACE, 'dist/conv-1.0-py3-none-any.whl'));
    expect(result.config?.setup.pinsFile).toBe(path.join(WORKSPACE, 'ci/constraints.txt'));
    expect(result.config?.setup.pinsFromInput).toBe(true);
  });

  it('takes the shipped lock of the requested Python version', () => {
    for (const version of ['3.9', '3.10']) {
      const result = parseInputs(raw({ 'python-version': version }), ctx());
      expect(result.config?.setup.pinsFile).toBe(path.join(ACTION_ROOT, `constraints/ml-stable-diffusion-e12202c/macos-arm64-py${version}.txt`));
      expect(existsSync(path.join(ROOT, path.relative(ACTION_ROOT, result.config!.setup.pinsFile)))).toBe(true);
    }
  });
});

describe('parseInputs: warnings do not block', () => {
  const cases: Array<{ title: string; inputs: Partial<Record<InputName, string>>; input: InputName }> = [
    { title: 'SPLIT_EINSUM_V2 with SDXL', inputs: { 'attention-implementation': 'SPLIT_EINSUM_V2', 'xl-version': 'true' }, input: 'attention-implementation' },
    { title: 'chunking with a macOS target', inputs: { 'chunk-unet': 'true', 'min-deployment-target': 'macOS14' }, input: 'chunk-unet' },
    { title: 'min-psnr below 35', inputs: { 'min-psnr': '30' }, input: 'min-psnr' },
  ];
  for (const c of cases) {
    it(`${c.title}: a warning naming \`${c.input}\`, and a Config`, () => {
      const result = parseInputs(raw(c.inputs), ctx());
      expect(result.errors).toEqual([]);
      expect(result.config).toBeDefined();
      expect(errorFor(result.warnings, c.input), result.warnings.join('\n')).toBeDefined();
    });
  }

  it('does not warn about chunking for an iOS target', () => {
    const result = parseInputs(raw({ 'chunk-unet': 'true', 'min-deployment-target': 'iOS17' }), ctx());
    expect(errorFor(result.warnings, 'chunk-unet')).toBeUndefined();
  });

  it('does not warn about SPLIT_EINSUM_V2 without SDXL', () => {
    const result = parseInputs(raw({ 'attention-implementation': 'SPLIT_EINSUM_V2' }), ctx());
    expect(errorFor(result.warnings, 'attention-implementation')).toBeUndefined();
  });
});

describe('parseInputs: sd3-version', () => {
  it('converts the text encoders, the VAE decoder and the MMDiT by default, and no unet', () => {
    for (const model of [SD3, 'argmaxinc/mlx-stable-diffusion-3-medium']) {
      const result = parseInputs(raw({ ...SD3_INPUTS, 'model-version': model }), ctx());
      expect(result.errors).toEqual([]);
      expect([...(result.config?.conversion.parts ?? [])].sort()).toEqual(['mmdit', 'text_encoder', 'vae_decoder']);
    }
  });

  it('takes convert-mmdit: false and convert-unet: false as given', () => {
    const result = parseInputs(raw({ ...SD3_INPUTS, 'convert-mmdit': 'false', 'convert-unet': 'false' }), ctx());
    expect(result.errors).toEqual([]);
    expect([...(result.config?.conversion.parts ?? [])].sort()).toEqual(['text_encoder', 'vae_decoder']);
  });

  it('refuses a local folder: DiffusionKit downloads its checkpoint from the Hub', () => {
    const result = parseInputs(raw({ ...SD3_INPUTS, 'model-version': 'models/sd3' }), ctx({ dirs: ['models/sd3'] }));
    expect(result.errors).toEqual([expect.stringMatching(/^Input `model-version` is "models\/sd3", but with sd3-version/)]);
  });
});

describe('parseInputs: lists and thresholds', () => {
  it('parses psnr-thresholds lines, with spaces around = and decimals', () => {
    const result = parseInputs(raw({ 'psnr-thresholds': 'unet=40\ntext_encoder = 36.5\n' }), ctx());
    expect(result.errors).toEqual([]);
    expect(result.config?.gate.thresholds).toEqual({ unet: 40, text_encoder: 36.5 });
  });

  it('parses comma-separated psnr-thresholds', () => {
    const result = parseInputs(raw({ 'psnr-thresholds': 'unet=40, vae_decoder=38,text_encoder_2=37', 'min-psnr': '36' }), ctx());
    expect(result.errors).toEqual([]);
    expect(result.config?.gate).toEqual({ minPsnr: 36, quantizedMinPsnr: 20, thresholds: { unet: 40, vae_decoder: 38, text_encoder_2: 37 } });
  });

  it('splits ControlNet lists on spaces, commas and new lines', () => {
    const list = 'lllyasviel/sd-controlnet-mlsd, lllyasviel/sd-controlnet-canny\nlllyasviel/control_v11p_sd15_openpose  lllyasviel/sd-controlnet-depth,\n';
    const result = parseInputs(raw({ 'convert-controlnet': list }), ctx());
    expect(result.errors).toEqual([]);
    expect(result.config?.conversion.controlnets).toEqual([
      'lllyasviel/sd-controlnet-mlsd',
      'lllyasviel/sd-controlnet-canny',
      'lllyasviel/control_v11p_sd15_openpose',
      'lllyasviel/sd-controlnet-depth',
    ]);
  });

  it('counts a ControlNet list alone as a selected part', () => {
    const result = parseInputs(raw({ ...noParts, 'convert-controlnet': 'lllyasviel/sd-controlnet-mlsd' }), ctx());
    expect(result.errors).toEqual([]);
    expect(result.config?.conversion.parts).toEqual([]);
  });

  it('resolves output-dir against GITHUB_WORKSPACE', () => {
    const rel = parseInputs(raw({ 'output-dir': 'build/models' }), ctx());
    expect(rel.config?.conversion.outputDir).toBe(path.join(WORKSPACE, 'build/models'));
    const other = parseInputs(raw({ 'output-dir': 'm' }), ctx({ env: { GITHUB_WORKSPACE: '/elsewhere/ws' } }));
    expect(other.config?.conversion.outputDir).toBe('/elsewhere/ws/m');
    const abs = parseInputs(raw({ 'output-dir': '/Volumes/big/out' }), ctx());
    expect(abs.config?.conversion.outputDir).toBe('/Volumes/big/out');
  });

  it('reads numbers, enums and switches as typed values', () => {
    const result = parseInputs(
      raw({
        'latent-h': '96',
        'latent-w': '64',
        'quantize-nbits': '6',
        'compute-unit': 'CPU_AND_NE',
        'attention-implementation': 'ORIGINAL',
        'min-deployment-target': 'iOS18',
        'chunk-unet': 'True',
        'text-encoder-vocabulary-url': 'https://example.com/vocab.json',
      }),
      ctx(),
    );
    expect(result.errors).toEqual([]);
    expect(result.config?.conversion).toMatchObject({
      latentH: 96,
      latentW: 64,
      quantizeNbits: 6,
      computeUnit: 'CPU_AND_NE',
      attention: 'ORIGINAL',
      minDeploymentTarget: 'iOS18',
      chunkUnet: true,
      urls: { vocabulary: 'https://example.com/vocab.json' },
    });
  });
});

describe('parseInputs: the Hub the stages use', () => {
  it("takes HF_ENDPOINT and huggingface_hub's cache folder from the runner's environment, so no stage reads process.env", () => {
    const hub = (env: Record<string, string>) => parseInputs(raw(), ctx({ env })).config?.runner;
    expect(hub({ HF_ENDPOINT: 'http://127.0.0.1:8080/', HF_HUB_CACHE: '/c/hub', HOME: '/Users/runner' })).toMatchObject({ hubEndpoint: 'http://127.0.0.1:8080', hubCache: '/c/hub' });
    expect(hub({ HOME: '/Users/runner' })).toMatchObject({ hubEndpoint: 'https://huggingface.co', hubCache: '/Users/runner/.cache/huggingface/hub' });
    expect(hub({ HF_HOME: '/hf', HOME: '/Users/runner' })?.hubCache).toBe('/hf/hub');
  });
});

describe('parseInputs: what else the runner tells the stages', () => {
  const runner = (env: Record<string, string>) => parseInputs(raw(), ctx({ env })).config?.runner;

  it("the runner's conda (CONDA) and whether it keeps a step summary (GITHUB_STEP_SUMMARY)", () => {
    expect(runner({ CONDA: '/usr/share/miniconda', GITHUB_STEP_SUMMARY: '/t/summary.md' })).toMatchObject({ conda: '/usr/share/miniconda', stepSummary: true });
    const bare = runner({});
    expect(bare?.conda).toBeUndefined();
    expect(bare?.stepSummary).toBe(false);
  });

  it('which of the artifact service variables are unset, never their values', () => {
    expect(runner({})?.artifactServiceUnset).toEqual(['ACTIONS_RUNTIME_TOKEN', 'ACTIONS_RESULTS_URL']);
    const withService = runner({ ACTIONS_RUNTIME_TOKEN: 'secret-token', ACTIONS_RESULTS_URL: 'https://results/' });
    expect(withService?.artifactServiceUnset).toEqual([]);
    expect(JSON.stringify(withService)).not.toContain('secret-token');
  });
});

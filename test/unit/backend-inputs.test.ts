// The `backend` input and the Core AI inputs: their defaults, the Config they make, the inputs one
// backend reads refused under the other (generically over BACKENDS), and the Core AI rules.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { CORE_AI, CORE_AI_PYTHON } from '../../src/backends/core-ai/index.js';
import { CORE_AI_LOCKED_PYTHON } from '../../src/backends/core-ai/rules.js';
import { CORE_ML } from '../../src/backends/core-ml/index.js';
import { BACKENDS, BACKEND_NAMES } from '../../src/backends/registry.js';
import { foreignInputs, isGiven } from '../../src/inputs/backend.js';
import { IMAGE_DEFAULTS, MAX_PROMPT_CHARACTERS, promptProblem } from '../../src/inputs/core-ai.js';
import { INPUT_DEFAULTS, INPUT_NAMES, type InputName } from '../../src/inputs/names.js';
import { parseInputs, type ParseContext } from '../../src/inputs/parse.js';
import { ACTION, ACTION_ROOT, ROOT, ctx, raw } from './fixtures.js';

type Inputs = Partial<Record<InputName, string>>;

const LINUX = { RUNNER_OS: 'Linux', RUNNER_ARCH: 'X64', RUNNER_TEMP: '/home/runner/work/_temp', RUNNER_TOOL_CACHE: '/opt/hostedtoolcache' };
const MAC = { RUNNER_OS: 'macOS', RUNNER_ARCH: 'ARM64' };

/** parseInputs with backend core-ai on a Linux x64 runner unless said otherwise. */
function coreAi(inputs: Inputs = {}, env: Record<string, string> = LINUX, extra: Partial<ParseContext> = {}) {
  return parseInputs(raw({ backend: 'core-ai', ...inputs }), { ...ctx({ env }), ...extra });
}

const errorsFor = (errors: string[], input: InputName) => errors.filter((e) => e.startsWith(`Input \`${input}\``));

describe('INPUT_DEFAULTS', () => {
  it('is action.yml: every input, in order, with the default the runner passes for it', () => {
    expect(Object.keys(INPUT_DEFAULTS)).toEqual(Object.keys(ACTION.inputs));
    expect([...INPUT_NAMES]).toEqual(Object.keys(ACTION.inputs));
    for (const [name, spec] of Object.entries(ACTION.inputs)) {
      expect(INPUT_DEFAULTS[name as InputName], name).toBe(spec?.default === undefined ? '' : String(spec.default));
    }
  });

  it('an input counts as given when it is neither empty nor its default', () => {
    expect(isGiven('split', 'none')).toBe(false);
    expect(isGiven('split', ' none ')).toBe(false);
    expect(isGiven('split', '')).toBe(false);
    expect(isGiven('split', 'convert')).toBe(true);
    expect(isGiven('compute-unit', 'ALL')).toBe(true);
  });
});

describe('the backends own their inputs', () => {
  it('each own input is an input of action.yml, owned by one backend only; backend and the model inputs by none', () => {
    const owned = Object.values(BACKENDS).flatMap((b) => [...b.ownInputs]);
    expect(owned.filter((name) => !(name in ACTION.inputs))).toEqual([]);
    expect(new Set(owned).size).toBe(owned.length);
    for (const common of ['backend', 'model-version', 'model-config', 'lora', 'latent-h', 'output-dir', 'pip-constraints', 'dry-run'] as const) {
      expect(owned, common).not.toContain(common);
    }
    expect(BACKEND_NAMES).toEqual(['core-ml', 'core-ai']);
    expect(INPUT_DEFAULTS.backend).toBe(BACKEND_NAMES[0]);
  });

  it('Core AI takes Python 3.11, the version of its locks, and a lock exists for each runner it takes', () => {
    expect(CORE_AI_LOCKED_PYTHON).toBe(CORE_AI_PYTHON);
    for (const runner of [{ os: 'Linux', arch: 'X64' }, { os: 'macOS', arch: 'ARM64' }]) {
      expect(existsSync(path.join(ROOT, CORE_AI.shippedLock(CORE_AI_PYTHON, runner, 'none'))), runner.os).toBe(true);
    }
  });
});

describe('backend: the default and core-ai', () => {
  it('defaults to core-ml, without Core AI options', () => {
    const { config, errors } = parseInputs(raw(), ctx());
    expect(errors).toEqual([]);
    expect(config?.backend).toBe('core-ml');
    expect(config?.coreAi).toBeUndefined();
    expect(config?.setup.pinsFile).toBe(path.join(ACTION_ROOT, CORE_ML.shippedLock('3.11', { os: 'macOS', arch: 'ARM64' }, 'none')));
  });

  it('core-ai on Linux x64: the Core AI options at their defaults, and the Linux lock of constraints/coreai', () => {
    const { config, errors, warnings } = coreAi();
    // No core-ml rule applies: on Linux, core-ml would ask for dry-run or split.
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    expect(config?.backend).toBe('core-ai');
    expect(config?.coreAi).toEqual({
      compression: 'none',
      checkPrecision: 'auto',
      exportEntry: path.join(ACTION_ROOT, 'python/coreai_export.py'),
      imageEntry: path.join(ACTION_ROOT, 'python/coreai_image.py'),
      image: { prompt: 'a photo of a cat', seed: 0, steps: 20, guidance: 7.5, minPsnr: 30 },
    });
    expect(IMAGE_DEFAULTS).toEqual(config?.coreAi?.image);
    expect(config?.setup.pinsFile).toBe(path.join(ACTION_ROOT, 'constraints/coreai/linux-x86_64-py3.11.txt'));
    expect(config?.setup.pinsFromInput).toBe(false);
    expect(config?.conversion.parts.sort()).toEqual(['text_encoder', 'unet', 'vae_decoder']);
  });

  it('core-ai on macOS arm64 takes the macOS lock; pip-constraints still wins', () => {
    expect(coreAi({}, MAC).config?.setup.pinsFile).toBe(path.join(ACTION_ROOT, 'constraints/coreai/macos-arm64-py3.11.txt'));
    const own = parseInputs(raw({ backend: 'core-ai', 'pip-constraints': 'my.lock' }), ctx({ env: LINUX, files: ['my.lock'] }));
    expect(own.errors).toEqual([]);
    expect(own.config?.setup).toMatchObject({ pinsFile: path.join(ctx().env.GITHUB_WORKSPACE!, 'my.lock'), pinsFromInput: true });
  });

  it('reads every Core AI input; image-check false leaves the image out', () => {
    const inputs: Inputs = { compression: 'palettize4', 'image-prompt': '  un chat, 猫, "quoted" & $(not a shell)  ', 'image-seed': '4294967295', 'image-steps': '1', 'image-guidance': '0', 'image-min-psnr': '27.5' };
    const { config, errors } = coreAi(inputs);
    expect(errors).toEqual([]);
    expect(config?.coreAi).toMatchObject({ compression: 'palettize4', image: { prompt: 'un chat, 猫, "quoted" & $(not a shell)', seed: 2 ** 32 - 1, steps: 1, guidance: 0, minPsnr: 27.5 } });
    expect(coreAi({ 'image-check': 'false' }).config?.coreAi?.image).toBeUndefined();
    expect(coreAi({ 'image-check': 'false', compression: 'int4' }).config?.coreAi).toMatchObject({ compression: 'int4' });
  });

  it.each<[string, Inputs, InputName, RegExp]>([
    ['backend misspelt', { backend: 'coreai' }, 'backend', /must be one of core-ml, core-ai, got "coreai"/],
    ['compression unknown', { compression: 'int8' }, 'compression', /must be one of none, int4, palettize4, got "int8"/],
    ['image-check not a bool', { 'image-check': 'yes' }, 'image-check', /must be true or false/],
    ['image-seed 2**32', { 'image-seed': '4294967296' }, 'image-seed', /whole number from 0 to 4294967295/],
    ['image-seed negative', { 'image-seed': '-1' }, 'image-seed', /whole number from 0 to 4294967295, got "-1"/],
    ['image-steps 0', { 'image-steps': '0' }, 'image-steps', /whole number from 1 to 200, got "0"/],
    ['image-steps 201', { 'image-steps': '201' }, 'image-steps', /from 1 to 200/],
    ['image-steps 2.5', { 'image-steps': '2.5' }, 'image-steps', /whole number/],
    ['image-guidance 30.5', { 'image-guidance': '30.5' }, 'image-guidance', /plain decimal number from 0 to 30/],
    ['image-guidance with an exponent', { 'image-guidance': '1e1' }, 'image-guidance', /plain decimal/],
    ['image-min-psnr 0', { 'image-min-psnr': '0' }, 'image-min-psnr', /positive number of dB/],
    ['image-min-psnr hex', { 'image-min-psnr': '0x1e' }, 'image-min-psnr', /plain decimal/],
  ])('%s is refused by name', (_title, inputs, input, says) => {
    const { config, errors } = coreAi(inputs);
    expect(config).toBeUndefined();
    expect(errors).toHaveLength(1);
    expect(errors[0]!.startsWith(`Input \`${input}\` `)).toBe(true);
    expect(errors[0]).toMatch(says);
  });

  it('a misspelt backend is reported alone, not with every input of the backend it falls back to', () => {
    // On Linux, where core-ml's rules would ask for macOS.
    expect(parseInputs(raw({ backend: 'coreai', compression: 'int4', 'image-steps': '10' }), ctx({ env: LINUX })).errors).toEqual([
      'Input `backend` must be one of core-ml, core-ai, got "coreai".',
    ]);
  });
});

describe('image-prompt: free text, one argv element, never a line of its own', () => {
  it.each([
    ['a line feed', 'a cat\n::error::forged'],
    ['a carriage return', 'a cat\rforged'],
    ['NUL', 'a cat\u0000'],
    ['an escape sequence', '\u001b[31mred'],
    ['DEL', 'a cat\u007f'],
  ])('refuses %s (the screen of every input), without showing the value', (_what, prompt) => {
    const { errors } = coreAi({ 'image-prompt': prompt });
    expect(errorsFor(errors, 'image-prompt')).toHaveLength(1);
    expect(errors.join('\n')).not.toContain('forged');
    expect(errors.join('\n')).not.toContain('a cat');
  });

  it.each([
    ['NEL (a C1 control)', 'a cat\u0085forged'],
    ['the line separator', 'a cat\u2028forged'],
    ['the paragraph separator', 'a cat\u2029forged'],
    ['a right-to-left override', 'a cat\u202eforged'],
    ['a bidirectional isolate', 'a cat\u2066forged\u2069'],
  ])('refuses %s, without showing the value', (_what, prompt) => {
    const { errors } = coreAi({ 'image-prompt': prompt });
    expect(errors).toEqual(['Input `image-prompt` ' + promptProblem(prompt)!]);
    expect(errors[0]).toMatch(/control character, a line or paragraph separator, or a bidirectional override/);
    expect(errors[0]).not.toContain('forged');
  });

  it(`takes ${MAX_PROMPT_CHARACTERS} characters (counted as characters, not UTF-16 units), and refuses one more`, () => {
    const longest = '猫'.repeat(MAX_PROMPT_CHARACTERS - 1) + '😺';
    expect(coreAi({ 'image-prompt': longest }).config?.coreAi?.image?.prompt).toBe(longest);
    const { errors } = coreAi({ 'image-prompt': `${longest}x` });
    expect(errors).toEqual([`Input \`image-prompt\` is ${MAX_PROMPT_CHARACTERS + 1} characters long, more than ${MAX_PROMPT_CHARACTERS}: the text encoder reads the first 77 tokens only, and the prompt is quoted in the summary and the release notes.`]);
  });
});

describe('inputs of the other backend are refused by name', () => {
  it('core-ai: a core-ml input given, named with its backend and how to go on', () => {
    expect(coreAi({ 'compute-unit': 'ALL' }).errors).toEqual([
      'Input `compute-unit` is read by backend core-ml only, for Core ML packages (torch2coreml); backend is core-ai, which has no use for it: remove it, or set `backend: core-ml`.',
    ]);
  });

  it('core-ml: a core-ai input given', () => {
    expect(parseInputs(raw({ compression: 'int4' }), ctx()).errors).toEqual([
      'Input `compression` is read by backend core-ai only, for Core AI bundle (coreai-torch); backend is core-ml, which has no use for it: remove it, or set `backend: core-ai`.',
    ]);
  });

  it('every own input of the other backend, each once, and nothing else (a refused input is read as its default)', () => {
    // A value no reader takes: were it read after the refusal, its reader would complain too.
    const junk = (inputs: readonly InputName[]) => Object.fromEntries(inputs.map((name) => [name, 'junk\u202e'])) as Inputs;
    const underCoreAi = coreAi(junk(CORE_ML.ownInputs));
    expect(underCoreAi.errors.map((e) => /^Input `([^`]+)`/.exec(e)?.[1])).toEqual([...CORE_ML.ownInputs]);
    expect(underCoreAi.errors.every((e) => e.includes('backend core-ml only') && !e.includes('junk'))).toBe(true);
    const underCoreMl = parseInputs(raw(junk(CORE_AI.ownInputs)), ctx());
    expect(underCoreMl.errors.map((e) => /^Input `([^`]+)`/.exec(e)?.[1])).toEqual([...CORE_AI.ownInputs]);
  });

  it('the PSNR gate is both backends\': min-psnr, psnr-thresholds and quantized-min-psnr (compressed parts) are read under core-ai', () => {
    const { config, errors } = coreAi({ 'min-psnr': '33', 'psnr-thresholds': 'vae_decoder=40', 'quantized-min-psnr': '10', compression: 'int4' });
    expect(errors).toEqual([]);
    expect(config?.gate).toEqual({ minPsnr: 33, quantizedMinPsnr: 10, thresholds: { vae_decoder: 40 } });
  });

  it('an input of the other backend left at its default, spelled out or empty, is not given', () => {
    const atDefaults: Inputs = { split: 'none', 'verify-bundle': 'true', 'min-deployment-target': 'macOS13', 'prepare-fp16': 'auto', 'compute-unit': '', 'quantize-nbits': ' ' };
    expect(coreAi(atDefaults).errors).toEqual([]);
    expect(parseInputs(raw({ compression: '', 'image-check': '' }), ctx()).errors).toEqual([]);
  });

  it('a preset is refused with core-ai before it fills anything', () => {
    // Filled by xl-ios, latent-w would be 96; refused, it stays empty.
    const { errors } = coreAi({ preset: 'xl-ios', 'latent-h': '64' });
    expect(errors).toEqual([
      'Input `preset` is read by backend core-ml only, for Core ML packages (torch2coreml); backend is core-ai, which has no use for it: remove it, or set `backend: core-ml`.',
      'Input `latent-w` is empty, but latent-h is 64: backend core-ai exports square images (latent * 8 pixels on each side). Give latent-h and latent-w the same value, or leave both empty.',
    ]);
  });

  it('under core-ml, what a preset fills trips nothing', () => {
    for (const preset of ['macos', 'ios', 'xl-macos', 'xl-ios']) {
      const { config, errors } = parseInputs(raw({ preset }), ctx());
      expect(errors, preset).toEqual([]);
      expect(config?.preset).toBe(preset);
    }
  });

  it('generically: a third backend is checked with no change, both ways', () => {
    const third: Backend = { ...CORE_AI, name: 'core-ml', label: 'Third things (third-tool)', ownInputs: ['image-seed'] };
    const registry = { 'core-ml': CORE_ML, 'core-ai': { ...CORE_AI, ownInputs: ['compression'] }, third: { ...third, name: 'third' as never } } as Record<string, Backend>;
    const given = raw({ compression: 'int4', 'image-seed': '7', 'compute-unit': 'ALL' });
    const names = (chosen: string) => foreignInputs(given, chosen as never, registry).map((f) => `${f.input}:${f.owner.label}`);
    expect(names('core-ml')).toEqual(['compression:Core AI bundle (coreai-torch)', 'image-seed:Third things (third-tool)']);
    expect(names('core-ai')).toEqual(['compute-unit:Core ML packages (torch2coreml)', 'image-seed:Third things (third-tool)']);
    expect(names('third')).toEqual(['compute-unit:Core ML packages (torch2coreml)', 'compression:Core AI bundle (coreai-torch)']);
  });
});

describe('Core AI rules', () => {
  describe('runner: Linux x64 or macOS arm64 (coreai-core has wheels for those only)', () => {
    it.each([
      ['Windows', 'X64', {}],
      ['Linux', 'ARM64', {}],
      ['Linux', 'ARM64', { RUNNER_ENVIRONMENT: 'self-hosted' }],
      ['macOS', 'X64', {}],
    ])('%s %s %j is refused, naming the runs-on to use; with dry-run it is not', (os, arch, more) => {
      const env = { ...LINUX, RUNNER_OS: os, RUNNER_ARCH: arch, ...more };
      const { errors } = coreAi({}, env);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(new RegExp(`^Input \`backend\` is core-ai, and a ${os} ${arch} runner cannot install it: coreai-core`));
      expect(errors[0]).toContain('`runs-on: ubuntu-latest`');
      expect(errors[0]).toContain('`runs-on: macos-26`');
      expect(coreAi({ 'dry-run': 'true' }, env).errors).toEqual([]);
    });

    it.each([
      ['Linux', 'X64'],
      ['macOS', 'ARM64'],
      ['macOS', 'arm64'],
    ])('%s %s runs it', (os, arch) => {
      expect(coreAi({}, { ...LINUX, RUNNER_OS: os, RUNNER_ARCH: arch }).errors).toEqual([]);
    });
  });

  describe('Python', () => {
    const probing = (version: string): Partial<ParseContext> => ({
      isFile: (p) => p === '/usr/bin/python3',
      probePython: () => ({ status: 0, stdout: `coreml-action-python-probe ${version.split('.').join(' ')}\n` }),
    });

    it('python-version other than 3.11 is refused: the locks are for 3.11', () => {
      expect(coreAi({ 'python-version': '3.12' }).errors).toEqual([
        'Input `python-version` is 3.12, but backend core-ai ships its locks (constraints/coreai) for Python 3.11 only: use 3.11, or give pip-constraints a lock of your own for 3.12 (coreai-core has wheels for 3.11 to 3.13).',
      ]);
      expect(coreAi({ 'python-version': '3.10' }).errors).toHaveLength(1);
    });

    it('with a lock of the user\'s, 3.11 to 3.13 (coreai-core\'s wheels)', () => {
      const own = (version: string) => parseInputs(raw({ backend: 'core-ai', 'python-version': version, 'pip-constraints': 'my.lock' }), ctx({ env: LINUX, files: ['my.lock'] })).errors;
      expect(own('3.13')).toEqual([]);
      expect(own('3.14')).toEqual(['Input `python-version` is 3.14, but coreai-core, which backend core-ai installs, has wheels for Python 3.11 to 3.13 only.']);
    });

    it('with python given: the probed version must be 3.11 to 3.13; python-version is then not used', () => {
      expect(coreAi({ python: '/usr/bin/python3', 'python-version': '3.9' }, LINUX, probing('3.13.1')).errors).toEqual([]);
      expect(coreAi({ python: '/usr/bin/python3' }, LINUX, probing('3.11.9')).config?.setup).toMatchObject({ python: '/usr/bin/python3', pythonProbed: '3.11.9' });
      const { errors } = coreAi({ python: '/usr/bin/python3' }, LINUX, probing('3.10.12'));
      expect(errors).toEqual([
        'Input `python` is Python 3.10.12, but coreai-core, which backend core-ai installs, has wheels for Python 3.11 to 3.13 only: give the path of a Python 3.11 to 3.13, or leave python empty to install 3.11.',
      ]);
      // core-ml does not care for the probe's minor version beyond Python 3.
      expect(parseInputs(raw({ python: '/usr/bin/python3' }), { ...ctx(), ...probing('3.10.12') }).errors).toEqual([]);
    });
  });

  it('parts: the text encoder, unet and VAE decoder, without which Apple\'s runtime does not load a bundle', () => {
    const none = { 'convert-text-encoder': 'false', 'convert-unet': 'false', 'convert-vae-decoder': 'false', 'convert-vae-encoder': 'false', 'image-check': 'false' };
    expect(coreAi(none).errors).toEqual([
      'Input `convert-unet` and the other convert-* inputs leave out convert-text-encoder, convert-unet, convert-vae-decoder: a Core AI bundle loads only with the text encoder, the unet and the VAE decoder (Apple\'s diffusion runtime refuses it otherwise), so backend core-ai exports all three (convert-vae-encoder adds the encoder).',
    ]);
    expect(errorsFor(coreAi({ 'convert-unet': 'false' }).errors, 'convert-unet')[0]).toContain('leave out convert-unet:');
    expect(coreAi({ 'convert-vae-encoder': 'true' }).errors).toEqual([]);
  });

  it('custom-vae-version is not supported yet', () => {
    expect(coreAi({ 'custom-vae-version': 'madebyollin/sd-vae-ft-mse' }).errors).toEqual([
      "Input `custom-vae-version` is not supported yet with backend core-ai: its export and its image check load the pipeline's own VAE. Leave custom-vae-version empty, or use backend: core-ml.",
    ]);
  });

  it('latent-h and latent-w: both or neither, equal (square images of latent * 8 pixels)', () => {
    expect(coreAi({ 'latent-h': '96', 'latent-w': '96' }).errors).toEqual([]);
    expect(coreAi({ 'latent-h': '64', 'latent-w': '96' }).errors).toEqual([
      'Input `latent-w` is 96, but latent-h is 64: backend core-ai exports square images (latent * 8 pixels on each side), so the two must be equal.',
    ]);
    expect(errorsFor(coreAi({ 'latent-w': '64' }).errors, 'latent-h')[0]).toMatch(/^Input `latent-h` is empty, but latent-w is 64/);
    expect(coreAi({ 'latent-h': '60', 'latent-w': '60' }).errors.map((e) => e.slice(0, 16))).toEqual(['Input `latent-h`', 'Input `latent-w`']);
    // core-ml converts non-square sizes.
    expect(parseInputs(raw({ 'latent-h': '64', 'latent-w': '96', 'attention-implementation': 'ORIGINAL' }), ctx()).errors).toEqual([]);
  });

  it('model-config is kept (a single file\'s configs do not depend on the backend)', () => {
    const single = parseInputs(raw({ backend: 'core-ai', 'model-version': 'm.safetensors', 'model-config': 'stabilityai/stable-diffusion-2-1-base' }), ctx({ env: LINUX, files: ['m.safetensors'] }));
    expect(single.errors).toEqual([]);
    expect(single.config?.singleFile?.modelConfig).toEqual({ where: 'hub', id: 'stabilityai/stable-diffusion-2-1-base' });
  });

});

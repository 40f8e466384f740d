import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { REPO_ROOT, actionDefaults, makeWorkspace, runAction, runnerCommands, type ActionRun } from '../support/action-runner.mjs';

/**
 * Issue 20: inputs as a careless or hostile user gives them, through the bundle as the runner runs
 * it, against the stand-in converter (test/standin). What must hold: nothing outside the
 * converter's own entries is removed, no value writes a workflow command, no token is split or
 * handed on, and mistakes are refused before anything is installed.
 */
const MODEL = 'stabilityai/stable-diffusion-2-1-base';
const TOKEN = 'hf_e2eHostileTokenValue42';
const pkg = (part: string) => `Stable_Diffusion_version_stabilityai_stable-diffusion-2-1-base_${part}.mlpackage`;
const VERIFY_ENTRY = path.join(REPO_ROOT, 'dist', 'verify', 'index.js');
const VERIFY_DEFAULTS = actionDefaults(path.join(REPO_ROOT, 'verify', 'action.yml'));

function baseInputs(extra: Record<string, string> = {}): Record<string, string> {
  return { 'model-version': MODEL, 'hf-token': TOKEN, python: inject('venvPython'), 'ml-stable-diffusion': inject('standinWheel'), ...extra };
}

const errors = (run: ActionRun) => run.annotations.filter((a) => a.level === 'error').map((a) => a.message);

/** Everything a reader of the run sees: the log (without the mask commands the runner consumes), the summary and the outputs. */
function visible(run: ActionRun): string {
  const log = (run.stdout + run.stderr)
    .split('\n')
    .filter((l) => !l.startsWith('::add-mask::'))
    .join('\n');
  return [log, run.summary, JSON.stringify(run.outputs)].join('\n');
}

/** The runner's own credentials, as a hosted runner sets them for the action's process. */
const RUNNER_CREDENTIALS: Record<string, string> = {
  ACTIONS_RUNTIME_TOKEN: 'runtimeTokenValue0123456789',
  ACTIONS_RESULTS_URL: 'http://127.0.0.1:9/results/',
  ACTIONS_CACHE_URL: 'http://127.0.0.1:9/cache/',
  ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'idTokenRequestTokenValue0123',
  ACTIONS_ID_TOKEN_REQUEST_URL: 'http://127.0.0.1:9/id-token',
  GITHUB_TOKEN: 'ghs_githubTokenInTheEnvironment0',
};

describe('a converter process killed with output-dir beside the user\'s files', () => {
  it('removes the half-written package only: files another process wrote into output-dir meanwhile, and the rest of the workspace, stay', async () => {
    const workspace = makeWorkspace();
    const out = path.join(workspace, 'models');
    mkdirSync(path.join(out, 'notes'), { recursive: true });
    writeFileSync(path.join(out, 'notes', 'keep.txt'), 'mine\n');
    writeFileSync(path.join(out, 'README.md'), 'my models\n');
    writeFileSync(path.join(workspace, 'train.py'), 'print(1)\n');
    // A log the user (here: the stand-in) writes into output-dir while the converter runs: it
    // appears during the killed process, as the converter's half-written package does.
    const userLog = path.join(out, 'conversion-log.jsonl');
    const run = await runAction({
      inputs: baseInputs({ 'output-dir': 'models', cache: 'false', 'upload-artifact': 'false' }),
      env: { STANDIN_KILL_AT: 'unet', STANDIN_INVOCATIONS: userLog },
      workspace,
    });
    expect(run.exitCode).toBe(1);
    expect(errors(run).join('\n')).toContain('ran out of memory');
    // The converter's half-written package is gone, everything of the user's is there.
    expect(existsSync(path.join(out, pkg('unet')))).toBe(false);
    expect(existsSync(userLog)).toBe(true);
    expect(readFileSync(path.join(out, 'notes', 'keep.txt'), 'utf8')).toBe('mine\n');
    expect(existsSync(path.join(out, 'README.md'))).toBe(true);
    expect(existsSync(path.join(workspace, 'train.py'))).toBe(true);
    // The vae_decoder of the process before is the converter's and finished: kept for the rerun.
    expect(readdirSync(out)).toContain(pkg('vae_decoder'));
  });

  it.each([
    ['..', 'the workspace or a folder above it'],
    ['/', 'the root of the file system'],
  ])('refuses output-dir %s before anything is installed', async (value, why) => {
    const workspace = makeWorkspace();
    writeFileSync(path.join(workspace, 'train.py'), 'print(1)\n');
    const log = path.join(workspace, 'calls.jsonl');
    const run = await runAction({ inputs: baseInputs({ 'output-dir': value }), env: { STANDIN_INVOCATIONS: log }, workspace });
    expect(run.exitCode).toBe(1);
    expect(errors(run).find((m) => m.startsWith('Input `output-dir`'))).toContain(why);
    expect(existsSync(log)).toBe(false);
    expect(existsSync(path.join(workspace, 'train.py'))).toBe(true);
  });
});

describe('the environment of the child processes', () => {
  it('holds none of the runner\'s credentials, no INPUT_*, no file commands; HF_TOKEN only where a pipeline is loaded from the Hub', async () => {
    const workspace = makeWorkspace();
    const dump = path.join(workspace, '..', `${path.basename(workspace)}-env.jsonl`);
    const run = await runAction({
      inputs: baseInputs({ 'chunk-unet': 'true', cache: 'false', 'upload-artifact': 'false' }),
      env: { ...RUNNER_CREDENTIALS, STANDIN_ENV_DUMP: dump, HTTPS_PROXY: 'http://proxy.invalid:3128', LANG: 'en_US.UTF-8' },
      workspace,
    });
    expect(run.exitCode, run.stdout.slice(-3000)).toBe(0);
    const processes = readFileSync(dump, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { module: string; env: Record<string, string> });
    const modules = processes.map((p) => p.module.split('.').pop());
    // The conversions run through the lean entry (the converter's per-part functions), the checks through parity.py.
    expect(modules).toEqual(expect.arrayContaining(['convert_unet', 'parity_predict', 'chunk_mlprogram', 'bundle_resources_for_swift_cli']));
    const secrets = [...Object.values(RUNNER_CREDENTIALS), TOKEN];
    for (const { module, env } of processes) {
      const names = Object.keys(env);
      expect(names.filter((n) => n.startsWith('ACTIONS_') || n.startsWith('INPUT_') || n === 'GITHUB_TOKEN'), module).toEqual([]);
      expect(names.filter((n) => ['GITHUB_ENV', 'GITHUB_PATH', 'GITHUB_OUTPUT', 'GITHUB_STATE', 'GITHUB_STEP_SUMMARY'].includes(n)), module).toEqual([]);
      expect(Object.values(env).filter((v) => secrets.some((s) => v.includes(s))), module).toEqual([]);
      // What processes need stays.
      expect([env.PATH !== undefined, env.HOME, env.HTTPS_PROXY, env.LANG, env.HF_ENDPOINT], module).toEqual([true, process.env.HOME, 'http://proxy.invalid:3128', 'en_US.UTF-8', 'http://127.0.0.1:9']);
      // The token: for the processes that load the pipeline or a part of it (torch2coreml's main, the
      // lean entry's per-part conversions), not for the checks, chunking or bundling.
      expect(env.HF_TOKEN, module).toBe(/\.torch2coreml(\.convert_\w+)?$/.test(module) ? '<set>' : undefined);
    }
  });
});

describe('a token with a newline inside', () => {
  it.each([
    ['hf-token', {}],
    ['hub-token', { 'hub-repo': 'me/models' }],
    ['github-token', { 'release-tag': 'v1' }],
  ])('%s: refused before any request, naming the input; no half of it anywhere in the log, summary or outputs', async (input, extra) => {
    const halves = ['firstHalfOfTheToken7', 'secondHalfOfTheToken8'];
    const workspace = makeWorkspace();
    const log = path.join(workspace, 'calls.jsonl');
    const run = await runAction({
      inputs: baseInputs({ 'dry-run': 'true', ...extra, [input]: `hf_${halves[0]}\n${halves[1]}` }),
      env: { GITHUB_REPOSITORY: 'me/repo', GITHUB_API_URL: 'http://127.0.0.1:9', STANDIN_INVOCATIONS: log },
      workspace,
    });
    expect(run.exitCode).toBe(1);
    expect(errors(run).some((m) => m.startsWith(`Input \`${input}\` holds white space or a control character`))).toBe(true);
    const seen = visible(run);
    for (const half of halves) expect(seen, half).not.toContain(half);
    expect(existsSync(log)).toBe(false);
  });
});

describe('a newline in a path input', () => {
  const INJECTED = '::warning title=injected::pwned';
  /** A name in the workspace that holds the line: a file or folder a checked-out repository may well have. */
  const named = (stem: string, suffix = '') => `${stem}\n${INJECTED}${suffix}`;
  const folder = (w: string, name: string, file: string) => {
    mkdirSync(path.join(w, name), { recursive: true });
    writeFileSync(path.join(w, name, file), '{"_class_name": "StableDiffusionPipeline"}');
    return name;
  };
  // Each value names something that exists (else the input is refused for that alone): only the line in it is wrong.
  const cases: Array<[string, boolean, (workspace: string) => Record<string, string>]> = [
    ['output-dir', false, () => ({ 'output-dir': named('out'), 'bundle-resources-for-swift-cli': 'false' })],
    ['model-version', true, (w) => ({ 'model-version': folder(w, named('m'), 'model_index.json'), 'bundle-resources-for-swift-cli': 'false' })],
    ['python', false, (w) => {
      symlinkSync(inject('venvPython'), path.join(w, named('py')));
      return { python: path.join(w, named('py')) };
    }],
    ['pip-constraints', false, (w) => {
      writeFileSync(path.join(w, named('lock', '.txt')), '');
      return { 'pip-constraints': named('lock', '.txt') };
    }],
    ['refiner-version', true, (w) => ({ 'refiner-version': folder(w, named('r'), 'model_index.json'), 'bundle-resources-for-swift-cli': 'false' })],
    ['custom-vae-version', true, (w) => ({ 'custom-vae-version': folder(w, named('v'), 'config.json'), 'bundle-resources-for-swift-cli': 'false' })],
    ['ml-stable-diffusion', true, () => ({ 'ml-stable-diffusion': `./wheel.whl\n${INJECTED}` })],
    ['model-config', true, () => ({ 'model-version': 'm.safetensors', 'model-config': named('cfg') })],
    ['lora', true, () => ({ 'model-version': 'm.safetensors', lora: `l.safetensors\r${INJECTED}` })],
    ['release-tag', true, () => ({ 'release-tag': named('v1') })],
    ['artifact-name', true, () => ({ 'artifact-name': `a\r${INJECTED}` })],
  ];

  it.each(cases)('%s: refused naming the input, and no line of the log is read as a command', async (input, dryRun, inputs) => {
    const workspace = makeWorkspace();
    writeFileSync(path.join(workspace, 'm.safetensors'), '');
    const run = await runAction({ inputs: baseInputs({ 'dry-run': String(dryRun), cache: 'false', 'upload-artifact': 'false', ...inputs(workspace) }), env: { GITHUB_REPOSITORY: 'me/repo' }, workspace });
    // The value's own line, read as a command by the runner (a message that quotes the value escaped is no such line).
    expect(runnerCommands(run.stdout).filter((c) => c.startsWith('::warning title=injected'))).toEqual([]);
    expect(run.annotations.filter((a) => a.title === 'injected')).toEqual([]);
    expect(run.exitCode).toBe(1);
    expect(errors(run).some((m) => m.startsWith(`Input \`${input}\``)), errors(run).join('\n')).toBe(true);
  });

  it('verify\'s path: refused naming the input, no command', async () => {
    const workspace = makeWorkspace();
    const run = await runAction({ entry: VERIFY_ENTRY, workspace, inputs: { ...VERIFY_DEFAULTS, path: `Resources\n${INJECTED}` } });
    expect(run.exitCode).toBe(1);
    expect(errors(run).some((m) => m.startsWith('Input `path`'))).toBe(true);
    expect(runnerCommands(run.stdout).filter((c) => c.startsWith('::warning title=injected'))).toEqual([]);
  });
});

describe('what the converter prints', () => {
  it('a converter line that starts with :: is echoed as text, not read as a command', async () => {
    const run = await runAction({
      inputs: baseInputs({ 'convert-unet': 'false', 'convert-text-encoder': 'false', cache: 'false', 'upload-artifact': 'false' }),
      env: { STANDIN_ECHO: '::warning title=from-converter::pwned' },
    });
    expect(run.exitCode, run.stdout.slice(-3000)).toBe(0);
    expect(run.stdout).toContain('::warning title=from-converter::pwned');
    expect(runnerCommands(run.stdout).filter((c) => c.includes('from-converter'))).toEqual([]);
  });
});

describe('early refusals before anything is installed', () => {
  it.each([
    ['release-tag', { 'release-tag': '.v1' }],
    ['extra-args', { 'extra-args': '--help' }],
    ['extra-args', { 'extra-args': '\u2014convert-unet' }],
    ['python', { python: '/bin/sh' }],
    ['min-psnr', { 'min-psnr': '0x28' }],
    ['latent-h', { 'latent-h': '4096' }],
    ['text-encoder-vocabulary-url', { 'text-encoder-vocabulary-url': 'https://user:secretpass@example.com/vocab.json' }],
  ])('%s %j', async (input, inputs) => {
    const workspace = makeWorkspace();
    const log = path.join(workspace, 'calls.jsonl');
    const run = await runAction({ inputs: baseInputs(inputs), env: { STANDIN_INVOCATIONS: log, GITHUB_REPOSITORY: 'me/repo' }, workspace });
    expect(run.exitCode).toBe(1);
    expect(errors(run).some((m) => m.startsWith(`Input \`${input}\``)), errors(run).join('\n')).toBe(true);
    expect(existsSync(log)).toBe(false);
    expect(visible(run)).not.toContain('secretpass');
  });

  it('a local model folder without model_index.json', async () => {
    const workspace = makeWorkspace();
    mkdirSync(path.join(workspace, 'my-model', 'unet'), { recursive: true });
    const run = await runAction({ inputs: baseInputs({ 'model-version': 'my-model' }), workspace });
    expect(run.exitCode).toBe(1);
    expect(errors(run).find((m) => m.startsWith('Input `model-version`'))).toContain('model_index.json');
  });

  it('a verify bundle whose vocab.json is a symlink out of it is refused, not read', async () => {
    const workspace = makeWorkspace();
    const resources = path.join(workspace, 'Resources');
    mkdirSync(path.join(resources, 'TextEncoder.mlmodelc'), { recursive: true });
    writeFileSync(path.join(workspace, 'secret.txt'), '{"a": 1}');
    symlinkSync(path.join(workspace, 'secret.txt'), path.join(resources, 'vocab.json'));
    const run = await runAction({ entry: VERIFY_ENTRY, workspace, inputs: { ...VERIFY_DEFAULTS, path: 'Resources' } });
    expect(run.exitCode).toBe(1);
    expect(errors(run).find((m) => m.startsWith('Input `path`'))).toContain('vocab.json');
  });
});

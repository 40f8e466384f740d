import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ACTION_MAJOR } from '../../src/cache/keys.js';
import { converterInputs } from '../../src/converter/identity.js';
import type { InputName } from '../../src/inputs/names.js';
import { parseInputs } from '../../src/inputs/parse.js';
import { buildManifest } from '../../src/package/manifest.js';
import { publishedNames } from '../../src/package/names.js';
import { REPO_ROOT, actionDefaults, runAction, type ActionRun } from '../support/action-runner.mjs';
import { freshRunner, type FreshRunner } from '../support/fresh-runner.mjs';
import { fakeSha, startAll } from '../services/index.mjs';

/**
 * Scheduled refreshes end to end: plan/action.yml's bundle over a list of models against the
 * stand-in Hub and the local releases API, and the main bundle with skip-if-unchanged reading the
 * manifest that issue 4's packaging published (or one put there by the test), with the stand-in
 * converter and conda (test/standin/bin) so that a skipped run can be seen to start none of them.
 */
const MB = 1024 * 1024;
const sdFiles = (name: string) => ({
  'model_index.json': JSON.stringify({ _class_name: 'StableDiffusionPipeline', _name: name, unet: ['diffusers', 'UNet2DConditionModel'], vae: ['diffusers', 'AutoencoderKL'], text_encoder: ['transformers', 'CLIPTextModel'] }),
  'unet/config.json': JSON.stringify({ sample_size: 64, in_channels: 4 }),
  'unet/diffusion_pytorch_model.fp16.safetensors': MB,
  'vae/config.json': JSON.stringify({ latent_channels: 4 }),
  'vae/diffusion_pytorch_model.fp16.safetensors': MB / 2,
  'text_encoder/config.json': JSON.stringify({ hidden_size: 768 }),
  'text_encoder/model.fp16.safetensors': MB / 2,
  'tokenizer/vocab.json': '{}',
});
const SDXL_FILES = {
  'model_index.json': JSON.stringify({ _class_name: 'StableDiffusionXLPipeline', unet: ['diffusers', 'UNet2DConditionModel'], text_encoder_2: ['transformers', 'CLIPTextModelWithProjection'] }),
  'unet/config.json': JSON.stringify({ sample_size: 128, addition_embed_type: 'text_time' }),
  'unet/diffusion_pytorch_model.fp16.safetensors': MB,
  'text_encoder/config.json': '{}',
  'text_encoder_2/config.json': '{}',
  'tokenizer_2/vocab.json': '{}',
};
const MODELS = ['acme/sd-alpha', 'acme/sd-beta', 'acme/sd-gamma', 'acme/sd-delta', 'acme/sd-epsilon'];
const CONVERTED = 'acme/sd-refresh';
const SDXL = 'acme/sdxl-tiny';

let services: Awaited<ReturnType<typeof startAll>>;
const CONTROLNET_FOR_SD15 = 'acme/controlnet-sd15';
const root = path.join(os.tmpdir(), `coreml-refresh-e2e-${process.pid}`);
const PLAN_ENTRY = path.join(REPO_ROOT, 'dist', 'plan', 'index.js');
const PLAN_DEFAULTS = actionDefaults(path.join(REPO_ROOT, 'plan', 'action.yml'));

beforeAll(async () => {
  services = await startAll({
    models: [
      ...MODELS.map((id) => ({ id, files: sdFiles(id) })),
      { id: CONVERTED, files: sdFiles(CONVERTED) },
      { id: SDXL, files: SDXL_FILES },
      { id: CONTROLNET_FOR_SD15, files: { 'config.json': '{"_class_name":"ControlNetModel"}', 'diffusion_pytorch_model.safetensors': 4096 }, cardData: { base_model: 'runwayml/stable-diffusion-v1-5', license: 'openrail' } },
    ],
  });
});
afterAll(async () => {
  await services?.stop();
  rmSync(root, { recursive: true, force: true });
});

const repo = () => services.env.GITHUB_REPOSITORY ?? '';
const api = () => services.releases.apiUrl;
const auth = () => ({ authorization: `token ${services.githubToken}`, accept: 'application/vnd.github+json' });

/** Creates the release of a tag if needed and uploads one asset through its upload_url, as the real API wants. */
async function publishAsset(tag: string, name: string, content: string): Promise<void> {
  let response = await fetch(`${api()}/repos/${repo()}/releases/tags/${encodeURIComponent(tag)}`, { headers: auth() });
  if (response.status === 404) {
    response = await fetch(`${api()}/repos/${repo()}/releases`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: JSON.stringify({ tag_name: tag }) });
  }
  const release = (await response.json()) as { upload_url: string; assets: Array<{ id: number; name: string }> };
  for (const old of release.assets.filter((a) => a.name === name)) {
    await fetch(`${api()}/repos/${repo()}/releases/assets/${old.id}`, { method: 'DELETE', headers: auth() });
  }
  const upload = await fetch(`${release.upload_url.replace(/\{.*$/, '')}?name=${encodeURIComponent(name)}`, {
    method: 'POST',
    headers: { ...auth(), 'content-type': 'application/json' },
    body: Buffer.from(content),
  });
  expect(upload.status, await upload.clone().text()).toBe(201);
}

async function downloadAsset(tag: string, name: string): Promise<unknown> {
  const response = await fetch(`${api()}/${repo()}/releases/download/${encodeURIComponent(tag)}/${encodeURIComponent(name)}`);
  expect(response.status).toBe(200);
  return JSON.parse(await response.text()) as unknown;
}

const isDirectory = (p: string) => existsSync(p) && statSync(p).isDirectory();
const isFile = (p: string) => existsSync(p) && statSync(p).isFile();

/**
 * A manifest shaped by src/package/manifest.ts for what the main action would convert with these
 * inputs (as the runner passes them: action.yml defaults under them) at the Hub's current commits.
 */
function manifestFor(inputs: Record<string, string>, workspace: string): { name: string; json: string } {
  const values: Record<string, string> = { ...actionDefaults(), ...inputs, 'hf-token': 'x', 'github-token': 'x' };
  const parsed = parseInputs((name: InputName) => values[name] ?? '', {
    env: { RUNNER_OS: 'macOS', RUNNER_ARCH: 'ARM64', GITHUB_WORKSPACE: workspace, GITHUB_REPOSITORY: repo() },
    actionRoot: REPO_ROOT,
    isDirectory,
    isFile,
  });
  if (!parsed.config) throw new Error(parsed.errors.join('\n'));
  const config = parsed.config;
  const models = config.conversion.hubIds.map((id) => ({ id, sha: services.hub.resolve(id) }));
  const manifest = buildManifest({
    action: { name: 'coreml-stable-diffusion-action', version: '1.0.0', major: ACTION_MAJOR, ref: 'v1' },
    model: { id: config.conversion.modelVersion, revision: config.conversion.modelRevision, sha: models[0]?.sha ?? null, local: false },
    models,
    converterInputs: converterInputs(config),
    environment: { packages: { torch: '2.4.0' }, python: '3.11.9', macos: '15.1', xcode: '16.1 (16B40)' },
    verdicts: [],
    bundle: null,
    archives: [],
    run: { repository: repo(), runId: '1', runAttempt: '1', commit: null },
  });
  return { name: publishedNames({ conversion: config.conversion, assetPrefix: config.publish.assetPrefix }).manifest, json: JSON.stringify(manifest, null, 2) };
}

const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []);
const errorsOf = (run: ActionRun) => run.annotations.filter((a) => a.level === 'error').map((a) => a.message);

describe('plan/action.yml: 5 models x 2 variants, 2 models current in their releases', () => {
  const workspace = path.join(root, 'plan-workspace');
  const list = ['- acme/sd-alpha', '- acme/sd-beta', '- model-version: acme/sd-gamma', '  min-psnr: 38', '- acme/sd-delta', '- acme/sd-epsilon', ''].join('\n');
  const planInputs = (extra: Record<string, string> = {}) => ({
    ...PLAN_DEFAULTS,
    models: 'models.yml',
    preset: 'macos, ios',
    'release-tag': '{model}-coreml',
    'hf-token': services.hfToken,
    'github-token': services.githubToken,
    ...extra,
  });

  beforeAll(() => {
    mkdirSync(workspace, { recursive: true });
    writeFileSync(path.join(workspace, 'models.yml'), list);
  });

  it('without skip-if-unchanged: 10 entries, unique names, the inputs the main action needs', async () => {
    const run = await runAction({ entry: PLAN_ENTRY, workspace, inputs: planInputs(), env: services.env });
    expect(run.exitCode, run.stdout).toBe(0);
    const matrix = JSON.parse(run.outputs.matrix ?? '{}') as { include: Array<Record<string, string>> };
    expect(matrix.include).toHaveLength(10);
    expect(run.outputs.count).toBe('10');
    expect(run.outputs.skipped).toBe('[]');
    expect(new Set(matrix.include.map((e) => e['artifact-name'])).size).toBe(10);
    expect(matrix.include[0]).toEqual({
      name: 'sd-alpha macos',
      variant: 'macos',
      'artifact-name': 'sd-alpha_original',
      'model-version': 'acme/sd-alpha',
      preset: 'macos',
      'release-tag': 'sd-alpha-coreml',
    });
    expect(matrix.include[5]).toMatchObject({ 'model-version': 'acme/sd-gamma', preset: 'ios', 'min-psnr': '38', 'artifact-name': 'sd-gamma_split_einsum_v2_chunked' });
    // No token in the outputs, and no Hub or release traffic was needed.
    expect(run.outputs.matrix).not.toContain(services.hfToken);
    expect(run.summary).toContain('## Plan: 10 job(s)');
  });

  for (const env of [{ RUNNER_OS: 'Linux', RUNNER_ARCH: 'X64' }, { RUNNER_OS: 'Linux', RUNNER_ARCH: 'ARM64' }, { RUNNER_OS: 'macOS', RUNNER_ARCH: 'X64' }]) {
    it(`on a ${env.RUNNER_OS} ${env.RUNNER_ARCH} plan job: the same 10 entries`, async () => {
      const run = await runAction({ entry: PLAN_ENTRY, workspace, inputs: planInputs(), env: { ...services.env, ...env } });
      expect(run.exitCode, run.stdout).toBe(0);
      expect(errorsOf(run)).toEqual([]);
      expect(run.outputs.count).toBe('10');
    });
  }

  it('with skip-if-unchanged: the 4 current entries are dropped, 6 remain, names unique', async () => {
    // Current: both variants of alpha and delta. gamma's macos manifest is of an older commit, so it stays.
    for (const id of ['acme/sd-alpha', 'acme/sd-delta']) {
      for (const preset of ['macos', 'ios']) {
        const m = manifestFor({ 'model-version': id, preset, 'release-tag': `${id.split('/')[1]}-coreml` }, workspace);
        await publishAsset(`${id.split('/')[1]}-coreml`, m.name, m.json);
      }
    }
    const stale = manifestFor({ 'model-version': 'acme/sd-gamma', preset: 'macos', 'min-psnr': '38', 'release-tag': 'sd-gamma-coreml' }, workspace);
    await publishAsset('sd-gamma-coreml', stale.name, stale.json.replace(new RegExp(services.hub.resolve('acme/sd-gamma'), 'g'), fakeSha('older')));

    services.hub.resetStats();
    const run = await runAction({ entry: PLAN_ENTRY, workspace, inputs: planInputs({ 'skip-if-unchanged': 'true' }), env: services.env });
    expect(run.exitCode, run.stdout).toBe(0);
    const matrix = JSON.parse(run.outputs.matrix ?? '{}') as { include: Array<Record<string, string>> };
    expect(matrix.include).toHaveLength(6);
    expect(run.outputs.count).toBe('6');
    expect(new Set(matrix.include.map((e) => e['artifact-name'])).size).toBe(6);
    expect(new Set(matrix.include.map((e) => e.name)).size).toBe(6);
    expect(matrix.include.map((e) => e.name)).toEqual(['sd-beta macos', 'sd-beta ios', 'sd-gamma macos', 'sd-gamma ios', 'sd-epsilon macos', 'sd-epsilon ios']);
    expect(JSON.parse(run.outputs.skipped ?? '[]')).toEqual(['sd-alpha_original', 'sd-alpha_split_einsum_v2_chunked', 'sd-delta_original', 'sd-delta_split_einsum_v2_chunked']);
    expect(run.stdout).toMatch(/sd-gamma macos: Converting: release sd-gamma-coreml holds another conversion \(1 difference\)/);
    expect(run.stdout).toMatch(/sd-beta macos: Converting: there is no published release sd-beta-coreml/);
    expect(run.stdout).toMatch(/sd-gamma ios: Converting: release sd-gamma-coreml has no sd-gamma_split_einsum_v2_chunked_manifest\.json/);
    // One commit lookup per model, however many variants; no file downloads.
    expect(services.hub.stats().requests.api).toBe(5);
    expect(services.hub.stats().totalBytes).toBe(0);
  });

  it('a bad list fails naming the entry, before any service is asked', async () => {
    writeFileSync(path.join(workspace, 'bad.yml'), '- acme/sd-alpha\n- model-version: acme/sd-beta\n  quantize-nbits: 3\n');
    services.hub.resetStats();
    const run = await runAction({ entry: PLAN_ENTRY, workspace, inputs: planInputs({ models: 'bad.yml', 'skip-if-unchanged': 'true' }), env: services.env });
    expect(run.exitCode).toBe(1);
    expect(services.hub.stats().requests.api).toBe(0);
    expect(run.annotations.filter((a) => a.title === 'Invalid input').map((a) => a.message)).toEqual([
      'Input `models`, entry 2 (acme/sd-beta), variant macos: Input `quantize-nbits` must be one of 1, 2, 4, 6, 8, got "3".',
      'Input `models`, entry 2 (acme/sd-beta), variant ios: Input `quantize-nbits` must be one of 1, 2, 4, 6, 8, got "3".',
    ]);
    expect(run.outputs.matrix).toBeUndefined();
  });
});

describe('the main action with skip-if-unchanged', () => {
  const TAG = 'sd-refresh-nightly';
  // A fresh runner each time; the stand-in conda and converter log every start.
  let runner: FreshRunner;
  beforeAll(() => {
    runner = freshRunner(root, services);
  });
  const job = (inputs: Record<string, string> = {}) => runner.job(baseInputs(inputs));
  const baseInputs = (extra: Record<string, string> = {}) => ({
    'model-version': CONVERTED,
    'hf-token': services.hfToken,
    'ml-stable-diffusion': inject('standinWheel'),
    'release-tag': TAG,
    'skip-if-unchanged': 'true',
    'github-token': services.githubToken,
    cache: 'false',
    'upload-artifact': 'false',
    ...extra,
  });
  const manifestName = () => manifestFor(baseInputs(), runner.workspace).name;

  it('no release yet: converts, says why, and publishes the manifest', async () => {
    const { run, converterCalls, condaCalls } = await job();
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.outputs.skipped).toBe('false');
    expect(run.stdout).toContain(`skip-if-unchanged: Converting: there is no published release ${TAG}.`);
    expect(converterCalls).toBeGreaterThan(0);
    expect(condaCalls).toBe(1);
    const published = (await downloadAsset(TAG, manifestName())) as { models: Array<{ id: string; sha: string }>; replaces: unknown };
    expect(published.models).toEqual([{ id: CONVERTED, sha: services.hub.resolve(CONVERTED) }]);
    expect(published.replaces).toBeNull();
  });

  it('the manifest matches: ends at once with skipped=true, starts no conda, pip or converter, in under 3 s', async () => {
    const { run, converterCalls, condaCalls, invocationsFile } = await job();
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.outputs.skipped).toBe('true');
    expect(run.outputs['model-revision-sha']).toBe(services.hub.resolve(CONVERTED));
    expect(existsSync(invocationsFile) ? readFileSync(invocationsFile, 'utf8') : '').toBe('');
    expect(converterCalls).toBe(0);
    expect(condaCalls).toBe(0);
    expect(run.stdout).not.toMatch(/pip install|-m pip/);
    expect(run.summary).toContain('## Skipped: unchanged');
    expect(run.summary).toContain(`${manifestName()} of release ${TAG} matches: ${CONVERTED}@${services.hub.resolve(CONVERTED).slice(0, 12)} (model), all `);
    expect(run.summary).toMatch(/all \d+ converter inputs, action v1\. Nothing was installed or converted\./);
    expect(run.durationMs).toBeLessThan(3000);
  });

  it('a dry run says that a real run would skip, and skips nothing itself', async () => {
    const { run, converterCalls, condaCalls } = await job({ 'dry-run': 'true' });
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.outputs.skipped).toBe('false');
    expect(run.outputs['model-revision-sha']).toBe(services.hub.resolve(CONVERTED));
    expect(run.summary).toContain('### Dry run checks');
    expect(run.summary).toContain(`- \`${CONVERTED}\`@main resolves to commit \`${services.hub.resolve(CONVERTED)}\``);
    expect(run.summary).toContain(`- skip-if-unchanged: a real run would skip. Unchanged: ${manifestName()} of release ${TAG} matches`);
    expect(run.summary).not.toContain('## Skipped: unchanged');
    expect(converterCalls + condaCalls).toBe(0);
    const changed = await job({ 'dry-run': 'true', 'compute-unit': 'CPU_AND_NE' });
    expect(changed.run.summary).toContain(`- skip-if-unchanged: a real run would convert. Converting: release ${TAG} holds another conversion (1 difference).`);
  });

  it('an input differs: converts, naming it, and the new manifest records what it replaced', async () => {
    const before = services.hub.resolve(CONVERTED);
    // compute-unit does not change the asset names, so the same manifest is replaced.
    const { run, converterCalls } = await job({ 'compute-unit': 'CPU_AND_NE' });
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.outputs.skipped).toBe('false');
    expect(run.stdout).toContain(`skip-if-unchanged: Converting: release ${TAG} holds another conversion (1 difference).`);
    expect(run.stdout).toContain('- input compute-unit: "ALL" published, "CPU_AND_NE" now');
    expect(converterCalls).toBeGreaterThan(0);
    const published = (await downloadAsset(TAG, manifestName())) as { converterInputs: Record<string, string>; replaces: unknown };
    expect(published.converterInputs['compute-unit']).toBe('CPU_AND_NE');
    expect(published.replaces).toEqual({ models: [{ id: CONVERTED, revision: before }], actionMajor: ACTION_MAJOR, changes: ['input compute-unit: "ALL" published, "CPU_AND_NE" now'] });
  });

  it('the model has a new commit: converts, naming the commits', async () => {
    const before = services.hub.resolve(CONVERTED);
    const after = services.hub.setRevision(CONVERTED, 'main', undefined, { 'unet/diffusion_pytorch_model.fp16.safetensors': MB + 1 });
    const { run, converterCalls } = await job({ 'compute-unit': 'CPU_AND_NE' });
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.outputs.skipped).toBe('false');
    expect(run.stdout).toContain(`- model ${CONVERTED}: commit ${before.slice(0, 12)} published, ${after.slice(0, 12)} now`);
    expect(converterCalls).toBeGreaterThan(0);
  });

  it('an unreadable or missing manifest: converts, saying which', async () => {
    await publishAsset(TAG, manifestName(), '{"schemaVersion": 1, "models": "broken"}');
    const unreadable = await job({ 'compute-unit': 'CPU_AND_NE' });
    expect(unreadable.run.outputs.skipped).toBe('false');
    expect(unreadable.run.stdout).toContain(`skip-if-unchanged: Converting: ${manifestName()} of release ${TAG} is unreadable (no \`models\` list).`);
    expect(unreadable.converterCalls).toBeGreaterThan(0);

    const missing = await job({ 'release-tag': 'sd-refresh-other' });
    expect(missing.run.stdout).toContain('skip-if-unchanged: Converting: there is no published release sd-refresh-other.');
    expect(missing.run.outputs.skipped).toBe('false');
  });
});

describe('SDXL detection before any setup', () => {
  it('an SDXL model_index.json without xl-version fails naming xl-version; nothing is installed', async () => {
    const workspace = path.join(root, 'sdxl');
    mkdirSync(workspace, { recursive: true });
    const condaLog = path.join(root, 'sdxl-conda.log');
    const run = await runAction({
      inputs: { 'model-version': SDXL, 'hf-token': services.hfToken, cache: 'false' },
      env: { ...services.env, PATH: `${path.join(REPO_ROOT, 'test', 'standin', 'bin')}:${process.env.PATH}`, STANDIN_CONDA_LOG: condaLog },
      workspace,
    });
    expect(run.exitCode).toBe(1);
    const [error] = errorsOf(run);
    expect(error).toMatch(new RegExp(`^Input \`xl-version\` is false, but ${SDXL}@[0-9a-f]{12} is a Stable Diffusion XL pipeline \\(its model_index.json has _class_name StableDiffusionXLPipeline\\)`));
    expect(error).toContain('the conversion crashes');
    expect(lines(condaLog)).toEqual([]);
    expect(run.stdout).not.toContain('pip install');
  });

  it('a dry run makes the same check and fails the same way', async () => {
    const workspace = path.join(root, 'sdxl-dry');
    mkdirSync(workspace, { recursive: true });
    const run = await runAction({ inputs: { 'model-version': SDXL, 'hf-token': services.hfToken, 'dry-run': 'true', cache: 'false' }, env: { ...services.env, RUNNER_OS: 'Linux' }, workspace });
    expect(run.exitCode).toBe(1);
    expect(errorsOf(run)[0]).toMatch(new RegExp(`^Input \`xl-version\` is false, but ${SDXL}@[0-9a-f]{12} is a Stable Diffusion XL pipeline`));
  });

  it('a ControlNet whose model card names another base model fails naming both, before setup (the converter would refuse it after converting the rest)', async () => {
    const workspace = path.join(root, 'controlnet-base');
    mkdirSync(workspace, { recursive: true });
    const inputs = { 'model-version': CONVERTED, 'convert-controlnet': CONTROLNET_FOR_SD15, 'unet-support-controlnet': 'true', 'hf-token': services.hfToken, cache: 'false' };
    const run = await runAction({ inputs, env: { ...services.env, PATH: `${path.join(REPO_ROOT, 'test', 'standin', 'bin')}:${process.env.PATH}` }, workspace });
    expect(run.exitCode).toBe(1);
    expect(errorsOf(run)[0]).toMatch(new RegExp(`^Input \`convert-controlnet\` names ${CONTROLNET_FOR_SD15}, which its model card says was trained on runwayml/stable-diffusion-v1-5, but \`model-version\` is ${CONVERTED}`));
    expect(run.stdout).not.toContain('pip install');
  });

  it('the same for a local folder', async () => {
    const workspace = path.join(root, 'sdxl-local');
    mkdirSync(path.join(workspace, 'models', 'sdxl'), { recursive: true });
    writeFileSync(path.join(workspace, 'models', 'sdxl', 'model_index.json'), SDXL_FILES['model_index.json']);
    const run = await runAction({ inputs: { 'model-version': 'models/sdxl', cache: 'false' }, env: services.env, workspace });
    expect(run.exitCode).toBe(1);
    expect(errorsOf(run)[0]).toMatch(/^Input `xl-version` is false, but models\/sdxl is a Stable Diffusion XL pipeline/);
  });
});

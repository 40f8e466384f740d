import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT, actionDefaults, makeWorkspace, runAction, type ActionRun } from '../support/action-runner.mjs';
import { startHubServer, type HubServer } from '../services/hub-server.mjs';

/**
 * The bundle check and prepare-fp16, end to end: the built dist/index.js and dist/verify/index.js
 * run as the runner runs them, with the stand-in converter (test/standin) and a stand-in Hub.
 */
const MODEL = 'stabilityai/stable-diffusion-2-1-base';
const TOKEN = 'hf_e2eVerifyToken0000000000000000000';
const pkg = (part: string) => `Stable_Diffusion_version_stabilityai_stable-diffusion-2-1-base_${part}.mlpackage`;
const VERIFY_ENTRY = path.join(REPO_ROOT, 'dist', 'verify', 'index.js');
const VERIFY_DEFAULTS = actionDefaults(path.join(REPO_ROOT, 'verify', 'action.yml'));

function baseInputs(extra: Record<string, string> = {}): Record<string, string> {
  return { 'model-version': MODEL, 'hf-token': TOKEN, python: inject('venvPython'), 'ml-stable-diffusion': inject('standinWheel'), ...extra };
}

const errors = (run: ActionRun) => run.annotations.filter((a) => a.level === 'error');
const warnings = (run: ActionRun) => run.annotations.filter((a) => a.level === 'warning');

/** Runs verify/action.yml's entry on a path, with its defaults and these inputs. */
function verify(workspace: string, inputs: Record<string, string>) {
  return runAction({ entry: VERIFY_ENTRY, workspace, inputs: { ...VERIFY_DEFAULTS, ...inputs } });
}

describe('the bundle check after a conversion', () => {
  it('fails the step naming vocab.json when the tokenizer download got an error page', async () => {
    const run = await runAction({ inputs: baseInputs(), env: { STANDIN_BAD_VOCAB: '1' } });
    expect(run.exitCode).toBe(1);
    expect(errors(run).filter((a) => a.title === 'Bundle check').map((a) => a.message)).toEqual([
      expect.stringMatching(/^vocab\.json is an HTML page \("Hugging Face - The AI community building the future\."\), not the CLIP vocabulary/),
    ]);
    expect(run.stdout).toMatch(/::error::The bundle in Resources fails 1 check\(s\), so the apps would not load it as asked: vocab\.json/);
    // The conversion itself was fine: only the bundle check caught it.
    expect(run.outputs['psnr-passed']).toBe('true');
    expect(run.summary).toContain('### Bundle check: ❌ 1 problem(s)');
  });

  it('lets the same defect through with verify-bundle: false', async () => {
    const run = await runAction({ inputs: baseInputs({ 'verify-bundle': 'false' }), env: { STANDIN_BAD_VOCAB: '1' } });
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.summary).not.toContain('Bundle check');
  });
});

describe('a quantized, chunked conversion', () => {
  let workspace = '';
  let run: ActionRun;
  beforeAll(async () => {
    workspace = makeWorkspace();
    run = await runAction({
      inputs: baseInputs({ 'quantize-nbits': '6', 'chunk-unet': 'true', 'min-deployment-target': 'iOS17', 'attention-implementation': 'SPLIT_EINSUM' }),
      workspace,
    });
  });

  it('passes the check: the plan chunks the quantized unet', () => {
    expect(run.exitCode, run.stdout).toBe(0);
    expect(errors(run)).toEqual([]);
    expect(warnings(run).filter((w) => w.title?.startsWith('Bundle check'))).toEqual([]);
    expect(run.summary).toContain('### Bundle check: ✅ passed');
    expect(run.summary).toContain('| Unet weights | palettized, 6 bits |');
    expect(run.summary).toContain('| Chunked unet | yes |');
    expect(run.summary).toContain('| Attention, as Mochi Diffusion and Guernika detect it | split_einsum |');
  });

  it('and the verify entry passes a zip of it whose single folder has the zip name, detecting the kind', async () => {
    const resources = path.join(workspace, 'coreml-models', 'Resources');
    const name = 'coreml-sd-2-1-base_split_einsum_compiled';
    const staging = mkdtempSync(path.join(tmpdir(), 'zip-'));
    cpSync(resources, path.join(staging, name), { recursive: true });
    execFileSync('python3', ['-m', 'zipfile', '-c', path.join(workspace, `${name}.zip`), path.join(staging, name)]);
    const checked = await verify(workspace, { path: `${name}.zip`, 'attention-implementation': 'SPLIT_EINSUM', 'quantize-nbits': '6', chunked: 'true' });
    expect(checked.exitCode, checked.stdout).toBe(0);
    expect(checked.outputs.passed).toBe('true');
    const facts = JSON.parse(checked.outputs.facts ?? '{}') as Record<string, unknown>;
    expect(facts).toMatchObject({ kind: 'sd', attention: 'split_einsum', chunked: true, quantizedBits: 6, vocabularySize: 49408, imageSize: { width: 512, height: 512 } });
    expect(facts.models).toEqual(['TextEncoder.mlmodelc', 'Unet.mlmodelc', 'UnetChunk1.mlmodelc', 'UnetChunk2.mlmodelc', 'VAEDecoder.mlmodelc']);
    expect(checked.stdout).toContain('model-kind is empty: the bundle looks like sd.');
    expect(checked.summary).toContain('## Bundle check: ✅ passed');
  });
});

describe('the verify entry on a bundle made the upstream way (one process, chunks left float16)', () => {
  let workspace = '';
  beforeAll(() => {
    workspace = makeWorkspace();
    const python = inject('venvPython');
    // The action's own runs install the stand-in into this venv too; installing it again is a no-op.
    execFileSync(python, ['-m', 'pip', 'install', '--no-index', '--no-deps', '--quiet', inject('standinWheel')], { env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1' } });
    execFileSync(
      python,
      ['-m', 'python_coreml_stable_diffusion.torch2coreml', '--model-version', MODEL, '-o', path.join(workspace, 'out'),
        '--convert-text-encoder', '--convert-vae-decoder', '--convert-unet', '--chunk-unet', '--quantize-nbits', '6', '--bundle-resources-for-swift-cli'],
      { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', HF_TOKEN: TOKEN }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
  });

  it('fails, naming both chunks', async () => {
    const run = await verify(workspace, { path: 'out', 'quantize-nbits': '6' });
    expect(run.exitCode).toBe(1);
    expect(run.outputs.passed).toBe('false');
    expect(errors(run).map((a) => a.message)).toEqual([
      expect.stringMatching(/^UnetChunk1\.mlmodelc\/metadata\.json shows float16 weights .* quantize-nbits is 6: the apps load the chunks in preference/),
      expect.stringMatching(/^UnetChunk2\.mlmodelc\/metadata\.json shows float16 weights/),
      expect.stringMatching(/fails 2 check\(s\)/),
    ]);
    expect((JSON.parse(run.outputs.facts ?? '{}') as { palettized: string[] }).palettized).toEqual(['TextEncoder.mlmodelc', 'Unet.mlmodelc']);
  });

  it('fails them even when nothing says the bundle was quantized', async () => {
    const run = await verify(workspace, { path: 'out/Resources' });
    expect(run.exitCode).toBe(1);
    expect(errors(run).map((a) => a.message).slice(0, 2)).toEqual([
      expect.stringMatching(/^UnetChunk1\.mlmodelc\/metadata\.json shows float16 weights next to a palettized Unet\.mlmodelc/),
      expect.stringMatching(/^UnetChunk2\.mlmodelc/),
    ]);
  });

  it('rejects a bad input before reading anything', async () => {
    const run = await verify(workspace, { path: 'out', 'model-kind': 'sd15' });
    expect(run.exitCode).toBe(1);
    expect(errors(run).filter((a) => a.title === 'Invalid input').map((a) => a.message)).toEqual(['Input `model-kind` must be one of sd, sdxl, sd3, got "sd15".']);
    expect(run.stdout).not.toContain('Verify the bundle');
  });
});

describe('prepare-fp16 with a Hub whose checkpoint has no fp16 files', () => {
  let hub: HubServer;
  const hfHomes = mkdtempSync(path.join(tmpdir(), 'hf-home-'));
  let jobs = 0;
  const modelIndex = JSON.stringify({
    _class_name: 'StableDiffusionPipeline',
    _diffusers_version: '0.30.2',
    vae: ['diffusers', 'AutoencoderKL'],
    text_encoder: ['transformers', 'CLIPTextModel'],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    unet: ['diffusers', 'UNet2DConditionModel'],
    scheduler: ['diffusers', 'PNDMScheduler'],
  });
  const fp32Files = {
    'model_index.json': modelIndex,
    'unet/config.json': '{"sample_size": 64}',
    'unet/diffusion_pytorch_model.safetensors': 4096,
    'text_encoder/model.safetensors': 2048,
    'vae/diffusion_pytorch_model.safetensors': 1024,
  };
  beforeAll(async () => {
    hub = await startHubServer({ token: TOKEN, clip: false });
    // Gated: the listing answers only with the token, so a pass shows that the action sent it.
    hub.addModel({ id: MODEL, gated: true, files: fp32Files });
  });
  afterAll(async () => {
    await hub?.stop();
  });
  // Each job on a fresh runner: its own, empty Hugging Face cache.
  const env = () => ({ ...hub.env, HF_HOME: path.join(hfHomes, `job-${++jobs}`), STANDIN_NO_FP16: 'hub', PREPARE_FP16_LOADER: 'python_coreml_stable_diffusion._standin:load_float16_pipeline' });

  it('auto, offline from the filled cache: no copy, and the converter loads the plain weights (as diffusers does offline)', async () => {
    const run = await runAction({ inputs: baseInputs({ 'convert-text-encoder': 'false', 'convert-vae-decoder': 'false' }), env: env() });
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.stdout).toContain(`prepare-fp16: not needed, the converter runs offline from the filled cache, where diffusers loads the plain safetensors of ${MODEL}.`);
    expect(run.stdout).not.toContain('Save an fp16 safetensors copy');
  });

  it('auto, online (the download failed): asks the Hub, saves an fp16 copy, converts it, and the outputs keep the original id', async () => {
    const workspace = makeWorkspace();
    // The fill's first file answers 404: the converter runs online, where diffusers needs fp16 files.
    hub.failNext('resolve', 404, 1);
    const run = await runAction({ inputs: baseInputs(), env: env(), workspace });
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.stdout).toContain('Downloading from the Hub failed');
    expect(run.stdout).toContain(`prepare-fp16: saving an fp16 copy, the Hub's file list of ${MODEL} has no *.fp16.safetensors files.`);
    expect(run.stdout).toContain(`::group::Save an fp16 safetensors copy of ${MODEL}`);
    // The stand-in's float16 loader gives SD's four weighted components.
    expect(run.stdout).toContain('prepare_fp16: done, 4 files');
    expect(hub.stats().requests.api).toBeGreaterThanOrEqual(1);
    const out = path.join(workspace, 'coreml-models');
    expect(readdirSync(out).filter((f) => f.endsWith('.mlpackage')).sort()).toEqual(['text_encoder', 'unet', 'vae_decoder'].map(pkg).sort());
    expect(run.summary).toContain('### Bundle check: ✅ passed');
    // The copy lived in RUNNER_TEMP and is gone; nothing was staged in the workspace.
    const staged = /The converter runs in (\S+), where/.exec(run.stdout)?.[1] ?? '';
    expect(staged).toMatch(/coreml-fp16$/);
    expect(existsSync(staged)).toBe(false);
    expect(existsSync(path.join(workspace, 'stabilityai'))).toBe(false);
  });

  it('false, online: the same checkpoint fails with the fp16 diagnosis, which names prepare-fp16', async () => {
    hub.failNext('resolve', 404, 1);
    const run = await runAction({ inputs: baseInputs({ 'prepare-fp16': 'false', 'convert-text-encoder': 'false', 'convert-vae-decoder': 'false' }), env: env() });
    expect(run.exitCode).toBe(1);
    expect(errors(run).map((a) => a.message).join('\n')).toContain('no fp16 safetensors files');
    expect(run.stdout).not.toContain('Save an fp16 safetensors copy');
  });

  it('auto with fp16 files on the Hub runs no helper', async () => {
    hub.setRevision(MODEL, 'main', undefined, { 'unet/diffusion_pytorch_model.fp16.safetensors': 2048 });
    const run = await runAction({ inputs: baseInputs({ 'convert-text-encoder': 'false', 'convert-vae-decoder': 'false', 'bundle-resources-for-swift-cli': 'false' }), env: { ...env(), STANDIN_NO_FP16: '' } });
    expect(run.stdout).toContain(`prepare-fp16: not needed, the Hub's file list of ${MODEL} has *.fp16.safetensors files.`);
    expect(run.stdout).not.toContain('Save an fp16 safetensors copy');
    expect(run.stdout).not.toContain('The converter runs in');
    expect(run.exitCode, run.stdout).toBe(0);
  });
});

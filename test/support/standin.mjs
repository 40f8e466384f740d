// Prepares the stand-in converter (test/standin, NOT Apple's converter): builds its wheel and a
// fresh venv. The action under test then pip installs the wheel into that venv (input `python`),
// as it installs the real converter on a runner.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from './action-runner.mjs';

/**
 * @param {string} workDir emptied first
 * @returns {{ wheel: string, python: string }}
 */
export function prepareStandin(workDir) {
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  const built = execFileSync('python3', [path.join(REPO_ROOT, 'test', 'standin', 'build_wheel.py'), workDir], { encoding: 'utf8' });
  const wheel = built.trim().split('\n').pop() ?? '';
  const venv = path.join(workDir, 'venv');
  execFileSync('python3', ['-m', 'venv', venv]);
  return { wheel, python: path.join(venv, 'bin', 'python') };
}

const MiB = 1024 * 1024;

/**
 * The files of a small diffusers-shaped SD checkpoint for the stand-in Hub: a model_index.json
 * with the three parts the stand-in converts, their configs, and fp16 weights of the given bytes.
 * @param {{ unet: number, vae: number, textEncoder: number }} bytes
 * @returns {Record<string, string | number>}
 */
export function sdPipelineFiles(bytes) {
  return {
    'model_index.json': JSON.stringify({
      _class_name: 'StableDiffusionPipeline',
      unet: ['diffusers', 'UNet2DConditionModel'],
      vae: ['diffusers', 'AutoencoderKL'],
      text_encoder: ['transformers', 'CLIPTextModel'],
    }),
    'unet/config.json': JSON.stringify({ sample_size: 64, in_channels: 4 }),
    'unet/diffusion_pytorch_model.fp16.safetensors': bytes.unet,
    'vae/config.json': JSON.stringify({ latent_channels: 4 }),
    'vae/diffusion_pytorch_model.fp16.safetensors': bytes.vae,
    'text_encoder/config.json': JSON.stringify({ hidden_size: 768 }),
    'text_encoder/model.fp16.safetensors': bytes.textEncoder,
  };
}

/**
 * sdPipelineFiles with `modelMiB` of weights in all, shared as a real checkpoint's are.
 * @param {number} modelMiB
 * @returns {Record<string, string | number>}
 */
export function diffusersModelFiles(modelMiB) {
  return sdPipelineFiles({ unet: Math.round(modelMiB * 0.7) * MiB, textEncoder: Math.round(modelMiB * 0.2) * MiB, vae: Math.round(modelMiB * 0.1) * MiB });
}

/**
 * The environment of a job on a "fresh runner" with the local services: the stand-in conda on
 * PATH, HOME and pip's cache in `home`, the stand-in's call logs, and the stand-in Hub in use.
 * @param {{ env: Record<string, string> }} services
 * @param {string} home
 * @param {string} invocationsLog
 * @returns {Record<string, string>}
 */
export function standinJobEnv(services, home, invocationsLog) {
  return {
    ...services.env,
    HOME: home,
    PIP_CACHE_DIR: path.join(home, 'pip-cache'),
    PATH: `${path.join(REPO_ROOT, 'test', 'standin', 'bin')}:${process.env.PATH}`,
    STANDIN_INVOCATIONS: invocationsLog,
    STANDIN_CONDA_LOG: `${invocationsLog}.conda`,
    STANDIN_SYNTHESIZE_MODELS: '',
  };
}

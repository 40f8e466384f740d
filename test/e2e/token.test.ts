import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT, runAction } from '../support/action-runner.mjs';
import { standinJobEnv } from '../support/standin.mjs';
import { startAll } from '../services/index.mjs';
import { filesOf } from '../support/files.mjs';

/**
 * hf-token is needed for gated and private models only: the converter's use_auth_token=True is a
 * keyword the pinned diffusers 0.30.2 ignores, so public models load without a token. Proven with
 * the real diffusers on a tiny pipeline served by the stand-in Hub (online, no token anywhere),
 * then the bundle: a public model converts with no token; a gated or private one stops before
 * anything is installed, naming hf-token, where real diffusers would fail too.
 */
const PUBLIC = 'acme/tiny-public';
const GATED = 'acme/tiny-gated';
const PRIVATE = 'acme/tiny-private';
const root = path.join(os.tmpdir(), `coreml-token-${process.pid}`);
let services: Awaited<ReturnType<typeof startAll>>;

beforeAll(async () => {
  rmSync(root, { recursive: true, force: true });
  execFileSync(inject('realPython'), [path.join(REPO_ROOT, 'test/python/tiny_pipeline.py'), path.join(root, 'models', 'sd'), '--kind', 'sd'], { stdio: 'ignore' });
  const sd = filesOf(path.join(root, 'models', 'sd'));
  services = await startAll({ models: [{ id: PUBLIC, files: sd }, { id: GATED, files: sd, gated: true }, { id: PRIVATE, files: sd, private: true }] });
}, 300_000);
afterAll(async () => {
  await services?.stop();
  rmSync(root, { recursive: true, force: true });
});

/**
 * The converter's pipeline load, by the real diffusers, online against the stand-in Hub, with no
 * token set or stored. Asynchronous: the Hub answers from this process.
 */
function realLoad(id: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const home = path.join(root, `load-${id.replace('/', '-')}`);
  const script = [
    'import sys, torch',
    'from diffusers import DiffusionPipeline',
    'p = DiffusionPipeline.from_pretrained(sys.argv[1], torch_dtype=torch.float16, variant="fp16", use_safetensors=True, use_auth_token=True)',
    'print(type(p).__name__)',
  ].join('\n');
  const child = spawn(inject('realPython'), ['-c', script, id], {
    env: { PATH: process.env.PATH ?? '', HOME: home, HF_HOME: path.join(home, 'hf'), HF_ENDPOINT: services.hub.endpoint, HF_HUB_DISABLE_TELEMETRY: '1' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

async function job(name: string, model: string) {
  const dir = path.join(root, name);
  for (const d of ['runner', 'workspace', 'home']) mkdirSync(path.join(dir, d), { recursive: true });
  const env = { ...standinJobEnv(services, path.join(dir, 'home'), path.join(dir, 'calls.jsonl')), HF_TOKEN: '' };
  return runAction({
    inputs: { 'model-version': model, 'hf-token': '', 'ml-stable-diffusion': inject('standinWheel'), package: 'false', cache: 'false' },
    env,
    workspace: path.join(dir, 'workspace'),
    runnerDir: path.join(dir, 'runner'),
  });
}

describe('hf-token', () => {
  it('real diffusers 0.30.2 loads a public model without a token, ignoring use_auth_token=True; not a gated one', async () => {
    const open = await realLoad(PUBLIC);
    expect(open.status, open.stderr).toBe(0);
    expect(open.stdout.trim()).toBe('StableDiffusionPipeline');
    expect(open.stderr).toContain("Keyword arguments {'use_auth_token': True} are not expected by StableDiffusionPipeline and will be ignored.");
    const gated = await realLoad(GATED);
    expect(gated.status).not.toBe(0);
    expect(gated.stderr).toMatch(/GatedRepoError|Cannot access gated repo|401 Client Error/);
  });

  it('the action converts a public model with no token', async () => {
    const run = await job('public', PUBLIC);
    expect(run.exitCode, run.stdout.slice(-3000)).toBe(0);
    expect(run.annotations.filter((a) => a.level === 'error')).toEqual([]);
    expect(JSON.parse(run.outputs.mlpackages ?? '[]')).not.toEqual([]);
  });

  it.each([
    [GATED, /^Input `hf-token` is empty, but acme\/tiny-gated is gated on the Hub: .*accepted the model's terms/],
    [PRIVATE, /^Input `hf-token` is empty, and the Hub refused to list acme\/tiny-private \(401\): the repository is private, or there is none of that name/],
  ])('stops before setup for %s, naming hf-token', async (model, message) => {
    const run = await job(model.split('/')[1] ?? model, model);
    expect(run.exitCode).toBe(1);
    const errors = run.annotations.filter((a) => a.level === 'error').map((a) => a.message);
    expect(errors[0]).toMatch(message);
    expect(run.stdout).not.toContain('pip install');
  });
});

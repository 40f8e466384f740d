import { execFileSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT, messagesOf, type ActionRun } from '../support/action-runner.mjs';
import { freshRunner, type FreshRunner } from '../support/fresh-runner.mjs';
import { sdPipelineFiles } from '../support/standin.mjs';
import { CLIP_MODEL_ID, startAll, type Services } from '../services/index.mjs';

/**
 * A conversion split between two jobs of one workflow run (issue 23), through the built bundle:
 * the converting job on a Linux x64 runner (split: convert; the stand-in converter through the lean
 * entry, each part's PyTorch reference saved) hands output-dir off as one workflow artifact (the
 * real @actions/artifact, Azurite + the local Twirp service); the finishing job on a macOS runner
 * (split: finish, the same inputs, a runtime token of its own) finds it by the name both derive from
 * the conversion's identity, checks it, installs only the finish lock (coremltools and numpy, for
 * real, from PyPI with their hashes, into a fresh venv without the converter), runs the Core ML half
 * of each check converter-free (the stand-in's Core ML hook alone on PYTHONPATH), compiles the
 * Resources with the stand-in xcrun, verifies, packages and publishes a release.
 */
const MODEL = 'acme/sd-split';
const MB = 1024 * 1024;

let services: Services;
let convertRunner: FreshRunner;
let finishRunner: FreshRunner;
let finishVenv: string;
const root = path.join(os.tmpdir(), `coreml-split-e2e-${process.pid}`);

beforeAll(async () => {
  services = await startAll({ models: [{ id: MODEL, files: sdPipelineFiles({ unet: MB, vae: MB, textEncoder: MB }) }] });
  convertRunner = freshRunner(path.join(root, 'linux'), services);
  finishRunner = freshRunner(path.join(root, 'mac'), services);
  // The finishing job's Python: a venv of its own, where the converter is never installed.
  finishVenv = path.join(root, 'finish-venv');
  execFileSync('python3', ['-m', 'venv', finishVenv]);
}, 120_000);
afterAll(async () => {
  await services?.stop();
  rmSync(root, { recursive: true, force: true });
});

const clip = (file: string) => `${services.hub.env.HF_ENDPOINT}/${CLIP_MODEL_ID}/resolve/main/${file}`;
/** The one `with:` block both jobs share. */
const inputs = (extra: Record<string, string> = {}) => ({
  'model-version': MODEL,
  'hf-token': services.hfToken,
  'ml-stable-diffusion': inject('standinWheel'),
  'github-token': services.githubToken,
  'release-tag': 'models-v1',
  'text-encoder-vocabulary-url': clip('vocab.json'),
  'text-encoder-merges-url': clip('merges.txt'),
  ...extra,
});

const LINUX = { RUNNER_OS: 'Linux', RUNNER_ARCH: 'X64', RUNNER_ENVIRONMENT: 'github-hosted' };

async function convertJob(extra: Record<string, string> = {}) {
  return convertRunner.job({ ...inputs(extra), python: inject('venvPython'), split: 'convert' }, { env: LINUX });
}

async function finishJob(extra: Record<string, string> = {}, env: Record<string, string> = {}, prepare?: (dirs: { workspace: string }) => void) {
  return finishRunner.job(
    { ...inputs(extra), python: path.join(finishVenv, 'bin', 'python'), split: 'finish' },
    {
      env: {
        RUNNER_ENVIRONMENT: 'github-hosted',
        // Another job of the same run: its own runtime token.
        ...services.results.envFor(services.results.mintToken()),
        // The finish lock is installed for real (coremltools, numpy) from PyPI.
        PIP_NO_INDEX: 'false',
        // The stand-in's Core ML half without the stand-in converter (test/standin/coreml_only).
        PARITY_COREML: 'standin_coreml:parity_predict',
        PYTHONPATH: path.join(REPO_ROOT, 'test', 'standin', 'coreml_only'),
        ...env,
      },
      prepare,
    },
  );
}

const errors = (run: ActionRun) => messagesOf(run, 'error');
const calls = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { module: string; argv: string[] }) : []);
const handoffDir = (runner: FreshRunner) => path.join(runner.workspace, 'coreml-models');
/** The converting job's output-dir as it handed it off (copied aside by the first test). */
const kept = path.join(root, 'handoff-kept');

describe('convert on Linux, finish on macOS', () => {
  let handoffName = '';

  it('the converting job converts every part, saves the PyTorch references and hands output-dir off, with no Resources', async () => {
    const { run, invocationsFile } = await convertJob();
    expect(run.exitCode, run.stdout.slice(-4000)).toBe(0);
    handoffName = run.outputs.handoff ?? '';
    expect(handoffName).toMatch(/^coreml-sd-handoff-[0-9a-f]{16}$/);
    const out = handoffDir(convertRunner);
    expect(readdirSync(out).filter((e) => e.endsWith('.mlpackage')).sort()).toHaveLength(3);
    expect(existsSync(path.join(out, 'Resources'))).toBe(false);
    expect(['unet', 'text_encoder', 'vae_decoder'].every((p) => existsSync(path.join(out, '.coreml-action', 'parity', p, 'outputs.npz')))).toBe(true);
    const manifest = JSON.parse(readFileSync(path.join(out, '.coreml-action', 'handoff.json'), 'utf8')) as { identity: Record<string, string>; files: Array<{ path: string }> };
    expect(manifest.identity[`model ${MODEL}`]).toBe(services.hub.resolve(MODEL));
    expect(manifest.files.some((f) => f.path.startsWith('.coreml-action/parity/unet/'))).toBe(true);
    // The stand-in converter never bundled; each parity process ran its reference half only.
    const converter = calls(invocationsFile).filter((c) => c.module.includes('torch2coreml') || c.module.includes('parity'));
    expect(converter.some((c) => c.argv.includes('--bundle-resources-for-swift-cli'))).toBe(false);
    const plan = JSON.parse(run.outputs.plan ?? '[]') as string[][];
    expect(plan.filter((argv) => argv.includes('--parity-half')).map((argv) => argv.at(-1))).toEqual(['reference', 'reference', 'reference']);
    // No Core ML here: the stand-in's Core ML half was never called.
    expect(calls(invocationsFile).filter((c) => c.module.endsWith('parity_predict'))).toHaveLength(0);
    // Kept aside: the next jobs wipe this runner.
    cpSync(out, kept, { recursive: true });
    expect(run.outputs['psnr-passed']).toBe('false');
    expect(run.summary).toContain(`Handed off as the workflow artifact \`${handoffName}\``);
    expect(services.releases.state().releases).toHaveLength(0);
  }, 300_000);

  it('the finishing job takes it by the same name, installs only coremltools and numpy, checks on Core ML, compiles and publishes', async () => {
    const { run, invocationsFile } = await finishJob();
    expect(run.exitCode, run.stdout.slice(-6000)).toBe(0);
    expect(run.stdout).toContain(`Took the hand-off from the artifact ${handoffName}`);
    // No torch, no diffusers, no converter in the finishing env.
    const freeze = execFileSync(path.join(finishVenv, 'bin', 'python'), ['-m', 'pip', 'freeze'], { encoding: 'utf8' });
    expect(freeze).toMatch(/^coremltools==8\.3\.0$/m);
    expect(freeze).not.toMatch(/^(torch|diffusers|transformers|python.coreml.stable.diffusion)[=@ ]/im);
    // The Core ML half ran converter-free, on the CPU.
    expect(run.stdout).toContain('the check half runs with the action\'s own PSNR and report');
    const psnr = JSON.parse(run.outputs.psnr ?? '[]') as Array<{ part: string; check: string; passed: boolean }>;
    expect(psnr.map((r) => r.part).sort()).toEqual(['text_encoder', 'unet', 'unet', 'vae_decoder']);
    expect(psnr.every((r) => r.passed)).toBe(true);
    expect(run.outputs['psnr-passed']).toBe('true');
    // Resources compiled by the action through xcrun (the stand-in), then verified and published.
    expect(calls(invocationsFile).filter((c) => c.module === 'xcrun.coremlcompiler')).toHaveLength(3);
    const resources = path.join(handoffDir(finishRunner), 'Resources');
    expect(readdirSync(resources).sort()).toEqual(['TextEncoder.mlmodelc', 'Unet.mlmodelc', 'VAEDecoder.mlmodelc', 'merges.txt', 'vocab.json']);
    const release = services.releases.state().releases.find((r) => r.tag_name === 'models-v1');
    expect(release?.assets.map((a) => a.name)).toContain('sd-split_split_einsum_compiled.zip');
    expect(run.summary).toContain('The finishing job of a split conversion');
    expect(run.summary).toMatch(/\| Compile Resources \| done \|/);
  }, 300_000);

  it('a rerun of the converting job converts nothing again (the outputs cache) and hands the same files off', async () => {
    const { run, converterCalls } = await convertJob();
    expect(run.exitCode, run.stdout.slice(-3000)).toBe(0);
    expect(run.outputs['cache-hit-outputs']).toBe('true');
    expect(converterCalls).toBe(0);
    expect(run.outputs.handoff).toBe(handoffName);
  }, 300_000);

  it('skip-if-unchanged skips both jobs once the release holds the conversion', async () => {
    const convert = await convertJob({ 'skip-if-unchanged': 'true' });
    expect(convert.run.exitCode, convert.run.stdout.slice(-3000)).toBe(0);
    expect(convert.run.outputs.skipped).toBe('true');
    expect(convert.converterCalls).toBe(0);
    const finish = await finishJob({ 'skip-if-unchanged': 'true' });
    expect(finish.run.exitCode, finish.run.stdout.slice(-3000)).toBe(0);
    expect(finish.run.outputs.skipped).toBe('true');
    expect(finish.condaCalls + finish.converterCalls).toBe(0);
  }, 300_000);
});

describe('the finishing job refuses a hand-off that is not this conversion, naming what differs', () => {
  it('a tampered file: refused before anything is installed or published', async () => {
    // The hand-off as the converting job left it, downloaded into the workspace by an earlier step, one weight grown by a byte.
    const unet = readdirSync(kept).find((e) => e.endsWith('_unet.mlpackage'))!;
    const tamper = ({ workspace }: { workspace: string }) => {
      cpSync(kept, path.join(workspace, 'handoff'), { recursive: true });
      appendFileSync(path.join(workspace, 'handoff', unet, 'Data', 'com.apple.CoreML', 'weights', 'weight.bin'), 'x');
    };
    const { run } = await finishJob({ handoff: './handoff' }, {}, tamper);
    expect(run.exitCode).not.toBe(0);
    expect(errors(run).join('\n')).toMatch(new RegExp(`changed: ${unet.replace(/[.]/g, '\\.')}/Data/com\\.apple\\.CoreML/weights/weight\\.bin has \\d+ bytes`));
    expect(existsSync(path.join(handoffDir(finishRunner), 'Resources'))).toBe(false);
  }, 300_000);

  it('other inputs: the default name finds no hand-off; the name given finds one made with other inputs, refused naming the input', async () => {
    const other = await finishJob({ 'attention-implementation': 'ORIGINAL' });
    expect(other.run.exitCode).not.toBe(0);
    expect(errors(other.run).join('\n')).toMatch(/No artifact named coreml-sd-handoff-[0-9a-f]{16} in this workflow run/);
    const named = await finishJob({ 'attention-implementation': 'ORIGINAL', handoff: (await convertJobName()) });
    expect(named.run.exitCode).not.toBe(0);
    expect(errors(named.run).join('\n')).toMatch(/attention-implementation was "SPLIT_EINSUM", this job has "ORIGINAL"/);
    expect(existsSync(path.join(handoffDir(finishRunner), 'Resources'))).toBe(false);
  }, 300_000);
});

/** The name the converting job handed off under (its handoff.json's identity gives it). */
async function convertJobName(): Promise<string> {
  const manifest = path.join(kept, '.coreml-action', 'handoff.json');
  const { handoffName } = await import('../../src/handoff/manifest.js');
  return handoffName((JSON.parse(readFileSync(manifest, 'utf8')) as { identity: Record<string, string> }).identity);
}

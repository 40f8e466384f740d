import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { makeWorkspace, runAction, type ActionRun } from '../support/action-runner.mjs';

/**
 * The parity check in a process of its own (python/parity.py), through the built bundle, against
 * the stand-in converter: its halves come from the stand-in's hooks (PARITY_REFERENCE and
 * PARITY_COREML, set by the harness; test/standin/README.md), its figures from STANDIN_PSNR, and
 * its lines go through the action's log parser and PSNR gate as the converter's own did.
 */
const SD = 'stabilityai/stable-diffusion-2-1-base';
const XL = 'stabilityai/stable-diffusion-xl-base-1.0';
const pkg = (part: string, model = SD) => `Stable_Diffusion_version_${model.replaceAll('/', '_')}_${part}.mlpackage`;

interface Invocation {
  module: string;
  argv: string[];
  package?: string;
  compute_unit?: string;
}

interface PsnrRow {
  part: string;
  check: string;
  psnr: number | null;
  threshold: number;
  passed: boolean;
}

let runs = 0;
async function convert(inputs: Record<string, string>, env: Record<string, string> = {}, workspace = makeWorkspace()) {
  runs += 1;
  const log = path.join(workspace, '..', `${path.basename(workspace)}-parity-${runs}.jsonl`);
  const run = await runAction({
    inputs: { 'model-version': SD, 'hf-token': 'hf_parityToken', python: inject('venvPython'), 'ml-stable-diffusion': inject('standinWheel'), 'bundle-resources-for-swift-cli': 'false', ...inputs },
    env: { STANDIN_INVOCATIONS: log, ...env },
    workspace,
  });
  const calls = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Invocation) : [];
  return { run, calls, out: path.join(workspace, 'coreml-models') };
}

const psnrRows = (run: ActionRun) => JSON.parse(run.outputs.psnr ?? '[]') as PsnrRow[];
const errors = (run: ActionRun) => run.annotations.filter((a) => a.level === 'error').map((a) => a.message);
const predictions = (calls: Invocation[]) => calls.filter((c) => c.module.endsWith('_standin.parity_predict'));

function groupLog(run: ActionRun, label: string): string {
  const start = run.stdout.indexOf(`::group::${label}`);
  expect(start, `no log group ${label}`).toBeGreaterThanOrEqual(0);
  return run.stdout.slice(start, run.stdout.indexOf('::endgroup::', start));
}

describe('the parity process', () => {
  it('runs after each part, reports the figures as the converter did, and saves its reference beside the state', async () => {
    const { run, calls, out } = await convert({ 'convert-vae-encoder': 'true' }, { STANDIN_PSNR: 'vae_encoder=36.2' });
    expect(run.exitCode, run.stdout.slice(-3000)).toBe(0);
    const rows = psnrRows(run);
    expect(rows.map((r) => [r.part, r.check])).toEqual([
      ['vae_decoder', 'vae_decoder baseline PyTorch to baseline CoreML'],
      ['vae_encoder', 'vae_encoder baseline PyTorch to baseline CoreML'],
      ['unet', 'unet baseline to reference PyTorch'],
      ['unet', 'unet baseline PyTorch to reference CoreML'],
      ['text_encoder', 'text_encoder baseline PyTorch to reference CoreML'],
    ]);
    expect(rows.find((r) => r.part === 'vae_encoder')).toMatchObject({ psnr: 36.2, passed: true });
    expect(rows.every((r) => r.passed)).toBe(true);
    expect(run.outputs['psnr-passed']).toBe('true');
    // No converting process checked; each check's Core ML half ran on the CPU, once per package.
    expect(calls.filter((c) => c.module === 'python_coreml_stable_diffusion.torch2coreml').every((c) => !c.argv.includes('--check-output-correctness'))).toBe(true);
    expect(predictions(calls).map((c) => [c.package, c.compute_unit])).toEqual(
      ['vae_decoder', 'vae_encoder', 'unet', 'text_encoder'].map((part) => [pkg(part), 'CPU_ONLY']),
    );
    expect(groupLog(run, 'Convert vae_encoder')).not.toContain('PSNR changed by');
    expect(groupLog(run, 'Check vae_encoder')).toContain('vae_encoder baseline PyTorch to baseline CoreML: PSNR changed by');
    // The reference each check compared with: in the action's state folder, never among the outputs.
    const folder = path.join(out, '.coreml-action', 'parity', 'unet');
    expect(['inputs.npz', 'outputs.npz', 'reference.json'].every((f) => existsSync(path.join(folder, f)))).toBe(true);
    expect((JSON.parse(run.outputs.mlpackages ?? '[]') as string[]).every((p) => !p.includes('.coreml-action'))).toBe(true);
    expect(run.summary).toMatch(/\| Check unet \(Core ML on CPU_ONLY\) \| done \|/);
  });

  it('fails the gate under a threshold: the check names the part, the package is removed, the run stops there', async () => {
    const { run, calls, out } = await convert({ 'psnr-thresholds': 'vae_decoder=50' }, { STANDIN_PSNR: 'vae_decoder=44.4' });
    expect(run.exitCode).toBe(1);
    expect(errors(run).some((m) => m.includes('PSNR of vae_decoder is 44.4 dB') && m.includes('threshold of 50 dB'))).toBe(true);
    expect(existsSync(path.join(out, pkg('vae_decoder')))).toBe(false);
    expect(run.outputs['psnr-passed']).toBe('false');
    // 44.4 passes the converter's own floor: the gate fails it, the plan went on.
    expect(predictions(calls).map((c) => c.package)).toEqual([pkg('vae_decoder'), pkg('unet'), pkg('text_encoder')]);
  });

  it("under 35 dB the check raises the converter's too-low, which stops the plan and removes the package", async () => {
    const { run, calls, out } = await convert({}, { STANDIN_PSNR: 'vae_decoder=31.7' });
    expect(run.exitCode).toBe(1);
    expect(errors(run).some((m) => m.includes('PSNR of vae_decoder is 31.7 dB') && m.includes('threshold of 35 dB'))).toBe(true);
    expect(groupLog(run, 'Check vae_decoder')).toContain('ValueError: 31.7 dB is too low!');
    expect(existsSync(path.join(out, pkg('vae_decoder')))).toBe(false);
    expect(calls.some((c) => c.argv.includes('--convert-unet'))).toBe(false);
    expect(run.summary).toMatch(/Check vae_decoder \(Core ML on CPU_ONLY\) \| failed/);
    expect(run.summary).toMatch(/Convert unet \| not run/);
  });

  it('fails nan, which the check lets pass as the converter does', async () => {
    const { run } = await convert({}, { STANDIN_PSNR: 'unet=nan' });
    expect(run.exitCode).toBe(1);
    expect(groupLog(run, 'Check unet')).toContain('nan dB > 35 dB (minimum allowed) parity check passed');
    expect(psnrRows(run).filter((r) => r.part === 'unet')).toEqual([
      expect.objectContaining({ psnr: null, passed: false }),
      expect.objectContaining({ psnr: null, passed: false }),
    ]);
  });

  it('tells text_encoder_2 from text_encoder (same prefix) in an SDXL run', async () => {
    const { run, calls } = await convert(
      { 'model-version': XL, 'xl-version': 'true', 'convert-unet': 'false', 'convert-vae-decoder': 'false' },
      { STANDIN_PSNR: 'text_encoder_2=30.5' },
    );
    expect(run.exitCode).toBe(1);
    expect(psnrRows(run).map((r) => [r.part, r.psnr])).toEqual([
      ['text_encoder', expect.any(Number)],
      ['text_encoder_2', 30.5],
    ]);
    expect(errors(run).some((m) => m.includes('PSNR of text_encoder_2 is 30.5 dB'))).toBe(true);
    expect(predictions(calls).map((c) => c.package)).toEqual([pkg('text_encoder', XL), pkg('text_encoder_2', XL)]);
  });

  it('a rerun that converts nothing checks nothing: the earlier verdicts stand', async () => {
    const workspace = makeWorkspace();
    const inputs = { 'convert-unet': 'false', 'convert-text-encoder': 'false' };
    const first = await convert(inputs, {}, workspace);
    expect(first.run.exitCode, first.run.stdout.slice(-2000)).toBe(0);
    const second = await convert(inputs, {}, workspace);
    expect(second.run.exitCode, second.run.stdout.slice(-2000)).toBe(0);
    expect(predictions(second.calls)).toEqual([]);
    expect(second.run.summary).toMatch(/Check vae_decoder \(Core ML on CPU_ONLY\) \| skipped/);
    expect(psnrRows(second.run)).toEqual(psnrRows(first.run));
    expect(second.run.summary).toMatch(/vae_decoder baseline PyTorch to baseline CoreML: [\d.]+ dB \(earlier run\)/);
  });

  it('a parity process that fails without a figure removes the unchecked package, so that a rerun converts and checks it', async () => {
    const workspace = makeWorkspace();
    const inputs = { 'convert-unet': 'false', 'convert-text-encoder': 'false' };
    const first = await convert(inputs, { PARITY_COREML: 'no_such_module:predict' }, workspace);
    expect(first.run.exitCode).toBe(1);
    expect(groupLog(first.run, 'Check vae_decoder')).toContain('parity: PARITY_COREML=no_such_module:predict cannot be loaded');
    expect(errors(first.run).join('\n')).toContain(pkg('vae_decoder'));
    expect(existsSync(path.join(first.out, pkg('vae_decoder')))).toBe(false);
    const second = await convert(inputs, {}, workspace);
    expect(second.run.exitCode, second.run.stdout.slice(-2000)).toBe(0);
    expect(predictions(second.calls).map((c) => c.package)).toEqual([pkg('vae_decoder')]);
  });

  it('check-compute-unit: the Core ML half runs where it says; a self-hosted runner defaults to compute-unit', async () => {
    const inputs = { 'convert-unet': 'false', 'convert-text-encoder': 'false', 'compute-unit': 'CPU_AND_GPU' };
    const hosted = await convert(inputs, { RUNNER_ENVIRONMENT: 'github-hosted' });
    const selfHosted = await convert(inputs, { RUNNER_ENVIRONMENT: 'self-hosted' });
    const explicit = await convert({ ...inputs, 'check-compute-unit': 'ALL' }, { RUNNER_ENVIRONMENT: 'github-hosted' });
    for (const r of [hosted, selfHosted, explicit]) expect(r.run.exitCode, r.run.stdout.slice(-2000)).toBe(0);
    expect([hosted, selfHosted, explicit].map((r) => predictions(r.calls).map((c) => c.compute_unit))).toEqual([['CPU_ONLY'], ['CPU_AND_GPU'], ['ALL']]);
    // The converting process keeps the converter's compute-unit: its packages do not depend on it.
    expect(hosted.calls.find((c) => c.module.startsWith('python_coreml_stable_diffusion.torch2coreml'))?.argv).toEqual(expect.arrayContaining(['--compute-unit', 'CPU_AND_GPU']));
  });

  it('a part it does not cover keeps the check in the converter (safety checker, in one process)', async () => {
    const { run, calls } = await convert({ 'process-per-component': 'false', 'convert-safety-checker': 'true' });
    expect(run.exitCode, run.stdout.slice(-2000)).toBe(0);
    expect(predictions(calls)).toEqual([]);
    expect(calls[0]?.argv).toContain('--check-output-correctness');
    expect(psnrRows(run).map((r) => r.part)).toEqual(['vae_decoder', 'unet', 'unet', 'text_encoder', 'safety_checker']);
  });

  it('a dry run shows the check processes in the plan, with their argv', async () => {
    const { run, calls } = await convert({ 'dry-run': 'true', 'check-compute-unit': 'CPU_AND_GPU' });
    expect(run.exitCode, run.stdout.slice(-2000)).toBe(0);
    expect(calls).toEqual([]);
    const plan = JSON.parse(run.outputs.plan ?? '[]') as string[][];
    const checks = plan.filter((argv) => /\/python\/parity\.py$/.test(argv[1] ?? ''));
    expect(checks.map((argv) => argv.slice(argv.indexOf('--parity-part')))).toEqual(
      ['vae_decoder', 'unet', 'text_encoder'].map((part) => ['--parity-part', part, '--check-compute-unit', 'CPU_AND_GPU']),
    );
    expect(run.stdout).toMatch(/\d\. Check unet \(Core ML on CPU_AND_GPU\)/);
  });
});

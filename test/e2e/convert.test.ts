import { existsSync, readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { NODE24, SYSTEM_NODE, makeWorkspace, nodeMajor, runAction, type ActionRun } from '../support/action-runner.mjs';

/**
 * The bundle, run as the runner runs it, against the stand-in converter (test/standin) installed
 * by the action's own pip into a fresh venv.
 */
const MODEL = 'stabilityai/stable-diffusion-2-1-base';
const TOKEN = 'hf_e2eSecretTokenValue42';
const pkg = (part: string) => `Stable_Diffusion_version_stabilityai_stable-diffusion-2-1-base_${part}.mlpackage`;

function baseInputs(extra: Record<string, string> = {}): Record<string, string> {
  return {
    'model-version': MODEL,
    'hf-token': TOKEN,
    python: inject('venvPython'),
    'ml-stable-diffusion': inject('standinWheel'),
    ...extra,
  };
}

interface Invocation {
  module: string;
  argv: string[];
  /** The stand-in's Core ML half of a parity process: the package it ran and where. */
  package?: string;
  compute_unit?: string;
}

function invocations(file: string): Invocation[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Invocation);
}

let runs = 0;
async function convert(inputs: Record<string, string>, env: Record<string, string> = {}, workspace = makeWorkspace()) {
  runs += 1;
  const log = path.join(workspace, '..', `${path.basename(workspace)}-invocations-${runs}.jsonl`);
  const run = await runAction({ inputs: baseInputs(inputs), env: { STANDIN_INVOCATIONS: log, ...env }, workspace });
  return { run, calls: invocations(log), out: path.join(workspace, 'coreml-models') };
}

function standinFacts(packageDir: string): { nbits: number | null; quantized_times?: number } {
  return JSON.parse(readFileSync(path.join(packageDir, 'Data', 'com.apple.CoreML', 'standin.json'), 'utf8'));
}

/** The lines streamed inside the log group whose title starts with `label`. */
function groupLog(run: ActionRun, label: string): string {
  const start = run.stdout.indexOf(`::group::${label}`);
  expect(start, `no log group ${label}`).toBeGreaterThanOrEqual(0);
  return run.stdout.slice(start, run.stdout.indexOf('::endgroup::', start));
}

/** The action's own entry for quantize and bundle processes, which loads no pipeline. */
const ENTRY = /\/python\/quantize_bundle\.py$/;
/** The action's parity process: the converter's check of a part, apart from its conversion. */
const PARITY = /\/python\/parity\.py$/;
/** The action's lean entry for one part per process (lean-conversion, default true). */
const LEAN = /\/python\/lean_convert\.py$/;

function errors(run: ActionRun): string[] {
  return run.annotations.filter((a) => a.level === 'error').map((a) => a.message);
}

describe.each([
  ['Node 20', SYSTEM_NODE, 20],
  ['Node 24', NODE24, 24],
])('a full conversion under %s', (_name, node, major) => {
  it('installs, converts each part in its own process, gates PSNR and fills the outputs', async () => {
    expect(nodeMajor(node)).toBe(major);
    const workspace = makeWorkspace();
    const log = path.join(workspace, '..', `${path.basename(workspace)}-calls.jsonl`);
    const run = await runAction({
      inputs: baseInputs({ 'chunk-unet': 'true', 'attention-implementation': 'SPLIT_EINSUM_V2', 'psnr-thresholds': 'unet=40' }),
      env: { STANDIN_INVOCATIONS: log },
      workspace,
      node,
    });
    expect(run.exitCode, run.stdout).toBe(0);
    const out = path.join(workspace, 'coreml-models');
    expect(run.outputs['output-dir']).toBe(out);
    expect(run.outputs['resources-dir']).toBe(path.join(out, 'Resources'));
    const packages = JSON.parse(run.outputs.mlpackages ?? '[]') as string[];
    expect(packages.map((p) => path.basename(p)).sort()).toEqual(
      ['text_encoder', 'unet', 'unet_chunk1', 'unet_chunk2', 'vae_decoder'].map(pkg).sort(),
    );
    packages.forEach((p) => expect(existsSync(p)).toBe(true));
    expect(readdirSync(path.join(out, 'Resources')).sort()).toEqual(
      ['TextEncoder.mlmodelc', 'Unet.mlmodelc', 'UnetChunk1.mlmodelc', 'UnetChunk2.mlmodelc', 'VAEDecoder.mlmodelc', 'merges.txt', 'vocab.json'].sort(),
    );

    const psnr = JSON.parse(run.outputs.psnr ?? '[]') as Array<{ part: string; check: string; psnr: number | null; threshold: number; passed: boolean }>;
    expect(psnr.map((r) => r.part).sort()).toEqual(['text_encoder', 'unet', 'unet', 'vae_decoder']);
    expect(psnr.every((r) => r.passed && typeof r.psnr === 'number')).toBe(true);
    expect(psnr.filter((r) => r.part === 'unet').map((r) => r.threshold)).toEqual([40, 40]);
    expect(psnr.find((r) => r.part === 'vae_decoder')?.check).toBe('vae_decoder baseline PyTorch to baseline CoreML');
    expect(run.outputs['psnr-passed']).toBe('true');

    const plan = JSON.parse(run.outputs.plan ?? '[]') as string[][];
    const calls = invocations(log);
    // The entry's argv[0] is its path; `-m module` takes two.
    expect(calls.map((c) => c.argv)).toEqual(plan.map((argv) => argv.slice(argv[1] === '-m' ? 3 : 2)));
    expect(plan.at(-1)?.[1]).toMatch(ENTRY);
    expect(calls.at(-1)?.module).toBe('python_coreml_stable_diffusion.torch2coreml.bundle_resources_for_swift_cli');
    const parityPart = (argv: string[]) => PARITY.test(argv[1] ?? '') && `check ${argv[argv.indexOf('--parity-part') + 1]}`;
    expect(plan.map((argv) => parityPart(argv) || (argv.find((a) => a.startsWith('--convert-') || a === '--bundle-resources-for-swift-cli') ?? argv[2]))).toEqual([
      '--convert-vae-decoder',
      'check vae_decoder',
      '--convert-unet',
      'check unet',
      '--convert-text-encoder',
      'check text_encoder',
      'python_coreml_stable_diffusion.chunk_mlprogram',
      '--bundle-resources-for-swift-cli',
    ]);
    // The parts' checks run in processes of their own (python/parity.py), on the CPU of this
    // GitHub-hosted-like runner: the converting processes do not check.
    expect(plan.filter((argv) => argv.includes('--check-output-correctness')).map((argv) => argv[2])).toEqual(['python_coreml_stable_diffusion.chunk_mlprogram']);
    expect(calls.filter((c) => c.module.endsWith('parity_predict')).map((c) => [c.package, c.compute_unit])).toEqual(
      ['vae_decoder', 'unet', 'text_encoder'].map((part) => [pkg(part), 'CPU_ONLY']),
    );

    // Each part through the lean entry, which calls the converter's own per-part function.
    expect(plan.filter((argv) => LEAN.test(argv[1] ?? '')).map((argv) => argv.find((a) => a.startsWith('--convert-')))).toEqual(['--convert-vae-decoder', '--convert-unet', '--convert-text-encoder']);
    expect(calls.map((c) => c.module).filter((m) => !m.includes('parity_'))).toEqual([
      'python_coreml_stable_diffusion.torch2coreml.convert_vae_decoder',
      'python_coreml_stable_diffusion.torch2coreml.convert_unet',
      'python_coreml_stable_diffusion.torch2coreml.convert_text_encoder',
      'python_coreml_stable_diffusion.chunk_mlprogram',
      'python_coreml_stable_diffusion.torch2coreml.bundle_resources_for_swift_cli',
    ]);

    // One log group per converter process, streamed with the converter's own lines inside.
    const groups = run.stdout.split('\n').filter((l) => l.startsWith('::group::'));
    expect(groups.filter((g) => /^::group::Check \w+ \(Core ML on CPU_ONLY\): \S+\/python\/parity\.py /.test(g))).toHaveLength(3);
    const unetCheck = groupLog(run, 'Check unet');
    expect(unetCheck).toMatch(/unet baseline to reference PyTorch: PSNR changed by [-\d.]+ dB \([\d.]+ -> [\d.]+\)\n/);
    expect(unetCheck).toMatch(/unet baseline PyTorch to reference CoreML: PSNR changed by [-\d.]+ dB \([\d.]+ -> [\d.]+\)\n/);
    expect(unetCheck).toMatch(/parity: peak RSS \d+ bytes/);
    expect(groupLog(run, 'Convert unet')).not.toContain('PSNR changed by');
    expect(groups.filter((g) => / -m python_coreml_stable_diffusion/.test(g))).toHaveLength(1);
    expect(groups.filter((g) => /^::group::Convert \w+: \S+\/python\/lean_convert\.py /.test(g))).toHaveLength(3);
    expect(groups.filter((g) => /^::group::Bundle Resources: \S+\/python\/quantize_bundle\.py /.test(g))).toHaveLength(1);
    // Bundling compiles the packages already written: no pipeline is loaded for it.
    const bundleLog = groupLog(run, 'Bundle Resources');
    expect(bundleLog).toContain(':Compiled ');
    expect(bundleLog).not.toContain('Initializing DiffusionPipeline');
    // The lean unet process: the unet alone, the converter's own lines, its peak RSS.
    const unetLog = groupLog(run, 'Convert unet');
    expect(unetLog).not.toContain('Initializing DiffusionPipeline');
    expect(unetLog).toContain('INFO:python_coreml_stable_diffusion.torch2coreml:Converted unet');
    expect(unetLog).toMatch(/lean_convert: peak RSS \d+ bytes/);

    expect(run.summary).toContain('| Part | PSNR checks | Threshold | Verdict | Size on disk | Time |');
    expect(run.summary).toMatch(/\| unet \| unet baseline to reference PyTorch: [\d.]+ dB<br>unet baseline PyTorch to reference CoreML: [\d.]+ dB \| 40 dB \| ✅ pass \| [\d.]+ KiB \|/);
  });
});

describe('lean-conversion false', () => {
  it('runs the converter\'s command line for every part, which writes the same packages', async () => {
    const lean = await convert({ 'bundle-resources-for-swift-cli': 'false' });
    const cli = await convert({ 'bundle-resources-for-swift-cli': 'false', 'lean-conversion': 'false' });
    for (const { run } of [lean, cli]) expect(run.exitCode, run.stdout).toBe(0);
    expect(cli.calls.map((c) => c.module).filter((m) => !m.includes('parity_'))).toEqual(Array(3).fill('python_coreml_stable_diffusion.torch2coreml'));
    expect(lean.calls.map((c) => c.module.split('.').at(-1)).filter((m) => m?.startsWith('convert_'))).toEqual(['convert_vae_decoder', 'convert_unet', 'convert_text_encoder']);
    const plan = JSON.parse(cli.run.outputs.plan ?? '[]') as string[][];
    expect(plan.filter((argv) => !argv.some((a) => a.endsWith('/python/parity.py'))).map((argv) => argv.slice(1, 3))).toEqual(Array(3).fill(['-m', 'python_coreml_stable_diffusion.torch2coreml']));
    expect(groupLog(cli.run, 'Convert unet')).toContain('INFO:__main__:Initializing DiffusionPipeline');
    // The stand-in writes from what its functions read of the pipe: the same bytes both ways.
    const files = (out: string) => readdirSync(out, { recursive: true }).map(String).filter((f) => !f.startsWith('.')).sort();
    expect(files(lean.out)).toEqual(files(cli.out));
    for (const p of ['unet', 'text_encoder', 'vae_decoder']) {
      const weights = (out: string) => readFileSync(path.join(out, pkg(p), 'Data', 'com.apple.CoreML', 'weights', 'weight.bin'));
      expect(weights(lean.out).equals(weights(cli.out))).toBe(true);
    }
    expect(lean.run.summary).toContain('| Part | PSNR checks |');
  });
});

describe('PSNR gate', () => {
  it('fails a part under its own threshold, names part, figure and threshold, and removes the package', async () => {
    const { run, out } = await convert({ 'psnr-thresholds': 'unet=45' }, { STANDIN_PSNR: 'unet=41.5' });
    expect(run.exitCode).toBe(1);
    expect(errors(run).some((m) => m.includes('PSNR of unet is 41.5 dB') && m.includes('threshold of 45 dB'))).toBe(true);
    expect(run.annotations.find((a) => a.title === 'PSNR gate: unet')).toBeDefined();
    expect(run.outputs['psnr-passed']).toBe('false');
    expect(existsSync(path.join(out, pkg('unet')))).toBe(false);
    expect(existsSync(path.join(out, pkg('text_encoder')))).toBe(true);
    expect(run.summary).toContain('❌ fail');
  });

  it('fails nan, which the converter itself lets pass', async () => {
    const { run } = await convert({}, { STANDIN_PSNR: 'text_encoder=nan' });
    expect(run.exitCode).toBe(1);
    const psnr = JSON.parse(run.outputs.psnr ?? '[]') as Array<{ part: string; psnr: number | null; passed: boolean }>;
    expect(psnr.find((r) => r.part === 'text_encoder')).toMatchObject({ psnr: null, passed: false });
    expect(errors(run).some((m) => m.includes('PSNR of text_encoder is nan/inf'))).toBe(true);
  });

  it('reports the converter raising too-low as a gate failure and stops the plan there', async () => {
    const { run, calls, out } = await convert({}, { STANDIN_PSNR: 'unet=20' });
    expect(run.exitCode).toBe(1);
    expect(errors(run).some((m) => m.includes('PSNR of unet is 20.0 dB') && m.includes('threshold of 35 dB'))).toBe(true);
    expect(calls.some((c) => c.argv.includes('--convert-text-encoder'))).toBe(false);
    expect(existsSync(path.join(out, pkg('unet')))).toBe(false);
    expect(run.summary).toMatch(/Convert text_encoder \| not run/);
  });
});

describe('failures get a diagnosis', () => {
  it('a killed converter: out of memory, the half-written part removed, and a rerun converts it', async () => {
    const workspace = makeWorkspace();
    const first = await convert({}, { STANDIN_KILL_AT: 'unet' }, workspace);
    expect(first.run.exitCode).toBe(1);
    const message = errors(first.run).join('\n');
    expect(message).toContain('ran out of memory');
    expect(message).toContain('process-per-component');
    expect(message).toContain(pkg('unet'));
    expect(existsSync(path.join(first.out, pkg('unet')))).toBe(false);

    const second = await convert({}, {}, workspace);
    expect(second.run.exitCode, second.run.stdout).toBe(0);
    // Through the lean entry (lean-conversion's default): the converter's logger under its module name.
    expect(second.run.stdout).toContain('INFO:python_coreml_stable_diffusion.torch2coreml:Saved unet into');
    expect(second.run.stdout).toContain('`vae_decoder` already exists');
    // The vae_decoder was checked by the first run: its verdict is kept, not lost.
    const psnr = JSON.parse(second.run.outputs.psnr ?? '[]') as Array<{ part: string }>;
    expect(psnr.map((r) => r.part)).toContain('vae_decoder');
  });

  it.each([
    ['STANDIN_ENOSPC_AT', 'unet', 'The disk is full'],
    ['STANDIN_NO_COREMLCOMPILER', '1', 'xcode-select'],
    ['STANDIN_NO_FP16', '1', 'no fp16 safetensors'],
  ])('%s=%s', async (knob, value, expected) => {
    const { run } = await convert({}, { [knob]: value });
    expect(run.exitCode).toBe(1);
    expect(errors(run).join('\n')).toContain(expected);
  });
});

describe('checks before anything is installed', () => {
  it('goes on without a token when the Hub cannot be asked (public models load without one; test/e2e/token.test.ts has the gated case)', async () => {
    const { run, calls } = await convert({ 'hf-token': '' });
    expect(run.exitCode, run.stdout.slice(-2000)).toBe(0);
    expect(errors(run)).toEqual([]);
    expect(calls.length).toBeGreaterThan(0);
  });

  const badInputs: Array<[string, Record<string, string>]> = [
    ['compute-unit', { 'compute-unit': 'GPU' }],
    ['attention-implementation', { 'attention-implementation': 'FLASH' }],
    ['quantize-nbits', { 'quantize-nbits': '3' }],
    ['latent-h', { 'latent-h': '0' }],
    ['latent-w', { 'latent-w': '100' }],
    ['sd3-version', { 'xl-version': 'true', 'sd3-version': 'true' }],
    ['convert-unet', { 'convert-unet': 'false', 'convert-text-encoder': 'false', 'convert-vae-decoder': 'false' }],
    ['model-version', { 'model-version': 'not a model' }],
    ['psnr-thresholds', { 'psnr-thresholds': 'unet=high' }],
    ['psnr-thresholds', { 'psnr-thresholds': 'vae=40' }],
    ['chunk-unet', { 'chunk-unet': 'yes' }],
    ['text-encoder-vocabulary-url', { 'text-encoder-vocabulary-url': 'ftp://example.com/vocab.json' }],
    ['extra-args', { 'extra-args': '--chunk-unet' }],
    ['min-deployment-target', { 'min-deployment-target': 'iOS15' }],
    ['python', { python: '/no/such/python' }],
  ];
  it.each(badInputs)('rejects a bad %s before anything runs', async (input, inputs) => {
    const { run, calls } = await convert(inputs);
    expect(run.exitCode).toBe(1);
    expect(errors(run).some((m) => m.startsWith(`Input \`${input}\``))).toBe(true);
    expect(calls).toHaveLength(0);
    expect(run.stdout).not.toContain('::group::');
  });

  it('refuses a real run on Linux but plans a dry run there', async () => {
    const real = await convert({}, { RUNNER_OS: 'Linux' });
    expect(real.run.exitCode).toBe(1);
    expect(errors(real.run).join('\n')).toContain('need macOS');
    const dry = await convert({ 'dry-run': 'true' }, { RUNNER_OS: 'Linux' });
    expect(dry.run.exitCode).toBe(0);
    expect(dry.calls).toHaveLength(0);
    // Three conversions, each followed by its parity process, and the bundle.
    expect((JSON.parse(dry.run.outputs.plan ?? '[]') as string[][]).length).toBe(7);
    expect(dry.run.summary).toContain('(dry run)');
  });

  it('a run that a stage ends still writes a step summary: the stage, why, and the plan once there is one', async () => {
    const refused = await convert({}, { RUNNER_OS: 'Linux' });
    expect(refused.run.exitCode).toBe(1);
    expect(refused.run.summary).toContain('## Core ML conversion: failed');
    expect(refused.run.summary).toContain('**Stage:** inputs (Invalid input)');
    expect(refused.run.summary).toContain('need macOS');
    expect(refused.run.summary).toContain('Nothing was planned yet');
    const setup = await convert({ 'ml-stable-diffusion': 'no-such-converter-package==1.0' });
    expect(setup.run.exitCode).toBe(1);
    expect(setup.calls).toHaveLength(0);
    expect(setup.run.summary).toContain('**Stage:** setup and conversion');
    expect(setup.run.summary).toMatch(/failed: `.*pip install/);
    expect(setup.run.summary).toContain('### The plan (not run to its end)');
    expect(setup.run.summary).toMatch(/python_coreml_stable_diffusion\.torch2coreml|lean_convert\.py/);
    expect(setup.run.summary).not.toContain(TOKEN);
  });

  it('refuses an output folder converted with other options', async () => {
    const workspace = makeWorkspace();
    const first = await convert({ 'convert-unet': 'false', 'convert-text-encoder': 'false' }, {}, workspace);
    expect(first.run.exitCode).toBe(0);
    const second = await convert({ 'attention-implementation': 'ORIGINAL' }, {}, workspace);
    expect(second.run.exitCode).toBe(1);
    expect(errors(second.run).join('\n')).toMatch(/Input `output-dir`.*attention-implementation was "SPLIT_EINSUM", now "ORIGINAL"/s);
    expect(second.calls).toHaveLength(0);
  });
});

describe('quantization with chunking', () => {
  it('makes chunks from the quantized unet, quantizes each part once, and not again on a rerun', async () => {
    const workspace = makeWorkspace();
    const inputs = { 'quantize-nbits': '6', 'chunk-unet': 'true', 'min-deployment-target': 'iOS17' };
    const first = await convert(inputs, {}, workspace);
    expect(first.run.exitCode, first.run.stdout).toBe(0);
    for (const part of ['unet', 'text_encoder', 'unet_chunk1', 'unet_chunk2']) {
      expect(standinFacts(path.join(first.out, pkg(part))).nbits, part).toBe(6);
    }
    expect(standinFacts(path.join(first.out, pkg('unet'))).quantized_times).toBe(1);
    expect(first.calls.filter((c) => c.argv.includes('--quantize-nbits')).map((c) => c.module)).toEqual([
      'python_coreml_stable_diffusion.torch2coreml.quantize_weights',
    ]);
    const quantizeLog = groupLog(first.run, 'Quantize to 6 bits');
    expect(quantizeLog).toContain(':Quantizing unet\n');
    expect(quantizeLog).not.toContain('Initializing DiffusionPipeline');

    const second = await convert(inputs, {}, workspace);
    expect(second.run.exitCode, second.run.stdout).toBe(0);
    expect(standinFacts(path.join(second.out, pkg('unet'))).quantized_times).toBe(1);
    expect(second.run.summary).toMatch(/Quantize to 6 bits \| skipped/);
    expect(second.run.summary).toMatch(/Chunk unet \| skipped/);
  });

  it('converts every part in one process when process-per-component is false, then quantizes, chunks and bundles', async () => {
    const { run, calls } = await convert({ 'process-per-component': 'false', 'quantize-nbits': '4', 'chunk-unet': 'true' });
    expect(run.exitCode, run.stdout).toBe(0);
    // The one process checks nothing itself: a parity process per part follows it, before anything is made of the packages.
    expect(calls.map((c) => c.module.split('.').pop())).toEqual(['torch2coreml', 'parity_predict', 'parity_predict', 'parity_predict', 'quantize_weights', 'chunk_mlprogram', 'bundle_resources_for_swift_cli']);
    expect(calls[0]?.argv).not.toContain('--check-output-correctness');
    expect(calls[0]?.argv.filter((a) => a.startsWith('--convert-')).sort()).toEqual(['--convert-text-encoder', '--convert-unet', '--convert-vae-decoder']);
    expect(calls[4]?.argv).toContain('--quantize-nbits');
  });
});

describe('secrets', () => {
  it('never prints the token except to mask it', async () => {
    const { run } = await convert({}, {});
    expect(run.exitCode).toBe(0);
    const lines = (run.stdout + run.stderr).split('\n').filter((l) => l.includes(TOKEN));
    expect(lines).toEqual([`::add-mask::${TOKEN}`]);
  });
});

import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { CORE_AI } from '../../src/backends/core-ai/index.js';
import { BUNDLE_DIR, MODEL_PLACEHOLDER, checkPrecisionOf, coreAiArguments, coreAiPlan, parityRecord, psnrPartOf, twinsDir } from '../../src/backends/core-ai/plan.js';
import { diagnoseCoreAi, imageResult, parityCheck } from '../../src/backends/core-ai/run.js';
import { expectedChecks, imageProblem } from '../../src/backends/core-ai/verify.js';
import { modelFolder } from '../../src/backends/core-ai/convert.js';
import { estimateCoreAi, runtimeTime } from '../../src/backends/core-ai/budget.js';
import { coreAiInputs } from '../../src/backends/core-ai/identity.js';
import { CORE_AI_REQUIREMENTS } from '../../src/backends/core-ai/requirements.js';
import { CORE_ML } from '../../src/backends/core-ml/index.js';
import { judgeConversion } from '../../src/verify/stage.js';
import { outputOptions } from '../../src/cache/outputs.js';
import { publishedNames } from '../../src/package/names.js';
import { parseInputs } from '../../src/inputs/parse.js';
import { readFileSync } from 'node:fs';
import { ROOT, ctx, raw } from './fixtures.js';

const LINUX = { RUNNER_OS: 'Linux', RUNNER_ARCH: 'X64', RUNNER_TEMP: '/home/runner/work/_temp', RUNNER_TOOL_CACHE: '/opt/hostedtoolcache' };

function config(inputs: Record<string, string> = {}): Config {
  const parsed = parseInputs(raw({ backend: 'core-ai', ...inputs }), ctx({ env: LINUX }));
  if (!parsed.config) throw new Error(parsed.errors.join('\n'));
  return parsed.config;
}

describe('the Core AI plan', () => {
  it('one process per part (the unet last), the bundle, then the image check', () => {
    const steps = coreAiPlan(config({ 'convert-vae-encoder': 'true', 'check-precision': 'float16' }));
    expect(steps.map((s) => s.label)).toEqual(['Export text_encoder', 'Export vae_decoder', 'Export vae_encoder', 'Export unet', 'Write the bundle (metadata, tokenizer)', 'Image check (Core AI runtime against diffusers)']);
    expect(coreAiPlan(config({ 'image-check': 'false', 'check-precision': 'float16' })).map((s) => s.kind)).toEqual(['coreai-export', 'coreai-export', 'coreai-export', 'coreai-bundle']);
  });

  it('check-precision: auto is float32 on Linux and float16 on macOS; a wrong value is refused by name', () => {
    expect(checkPrecisionOf(config())).toBe('float32');
    expect(checkPrecisionOf(config({ 'check-precision': 'float16' }))).toBe('float16');
    const mac = parseInputs(raw({ backend: 'core-ai' }), ctx()).config;
    expect(mac?.runner.os).toBe('macOS');
    expect(mac && checkPrecisionOf(mac)).toBe('float16');
    expect(parseInputs(raw({ backend: 'core-ai', 'check-precision': 'fp32' }), ctx({ env: LINUX })).errors.join('\n')).toMatch(/`check-precision`/);
    expect(parseInputs(raw({ 'check-precision': 'float32' }), ctx({ env: LINUX })).errors.join('\n')).toMatch(/`check-precision`/);
  });

  it('float32 checks: each part exported into the bundle unchecked, then its float32 twin apart and checked; the image check reads the twins', () => {
    const c = config({ 'convert-vae-encoder': 'true' });
    const steps = coreAiPlan(c);
    expect(steps.map((s) => s.label)).toEqual([
      'Export text_encoder', "Export text_encoder's float32 twin and check it", 'Export vae_decoder', "Export vae_decoder's float32 twin and check it",
      'Export vae_encoder', "Export vae_encoder's float32 twin and check it", 'Export unet', "Export unet's float32 twin and check it",
      'Write the bundle (metadata, tokenizer)', 'Image check (Core AI runtime against diffusers)',
    ]);
    const [own, twin] = steps.slice(6, 8).map((s) => coreAiArguments(s, c, '/m'));
    const after = (argv: string[] | undefined, flag: string) => argv?.[argv.indexOf(flag) + 1];
    expect(after(own, '--bundle')).toBe(path.join(c.conversion.outputDir, BUNDLE_DIR));
    expect(own).toContain('--skip-parity');
    expect(own).not.toContain('--precision');
    expect(after(twin, '--bundle')).toBe(twinsDir(c.conversion.outputDir));
    expect(after(twin, '--precision')).toBe('float32');
    expect(after(twin, '--parity-json')).toBe(parityRecord(c.conversion.outputDir, 'unet', true));
    expect(after(own, '--parity-json')).not.toBe(after(twin, '--parity-json'));
    expect(twin).not.toContain('--skip-parity');
    const image = coreAiArguments(steps.at(-1)!, c, '/m');
    expect(after(image, '--assets')).toBe(twinsDir(c.conversion.outputDir));
    expect(after(image, '--bundle')).toBe(path.join(c.conversion.outputDir, BUNDLE_DIR));
    // float16: no twin, the bundle itself checked and run.
    const half = config({ 'check-precision': 'float16' });
    const halfSteps = coreAiPlan(half);
    expect(coreAiArguments(halfSteps[0]!, half)).not.toContain('--skip-parity');
    expect(coreAiArguments(halfSteps.at(-1)!, half)).not.toContain('--assets');
  });

  it('float32 with check-output-correctness false: twins only of what the image check runs, saved unchecked; without the image check, none', () => {
    const c = config({ 'convert-vae-encoder': 'true', 'check-output-correctness': 'false' });
    const twins = coreAiPlan(c).filter((s) => s.kind === 'coreai-export' && s.twin);
    expect(twins.map((s) => (s.kind === 'coreai-export' ? s.part : ''))).toEqual(['text_encoder', 'vae_decoder', 'unet']);
    for (const t of twins) expect(coreAiArguments(t, c)).toContain('--skip-parity');
    const none = config({ 'check-output-correctness': 'false', 'image-check': 'false' });
    expect(coreAiPlan(none).some((s) => s.kind === 'coreai-export' && s.twin)).toBe(false);
  });

  it('argv arrays: the prompt as one --prompt= argument whatever it holds, compression on the text encoder and unet only, the size from the latent', () => {
    const c = config({ compression: 'int4', 'image-prompt': '-rf $(echo hi); `x`', 'latent-h': '96', 'latent-w': '96', 'check-precision': 'float16' });
    const [te, vae, unet, bundle, image] = coreAiPlan(c).map((s) => coreAiArguments(s, c, '/m'));
    expect(te).toContain('int4');
    expect(vae?.[vae.indexOf('--compression') + 1]).toBe('none');
    expect(unet?.slice(unet.indexOf('--height'), unet.indexOf('--height') + 4)).toEqual(['--height', '768', '--width', '768']);
    expect(bundle?.slice(bundle.indexOf('--parts'), bundle.indexOf('--parts') + 2)).toEqual(['--parts', 'text_encoder,vae_decoder,unet']);
    expect(image).toContain('--prompt=-rf $(echo hi); `x`');
    expect(te?.[te.indexOf('--bundle') + 1]).toBe(path.join(c.conversion.outputDir, BUNDLE_DIR));
    expect(CORE_AI.plan(c).commands[0]).toContain(MODEL_PLACEHOLDER);
  });

  it('a compressed part is judged as a quantized one; the VAE never is', () => {
    const c = config({ compression: 'palettize4' });
    expect([psnrPartOf(c, 'unet'), psnrPartOf(c, 'text_encoder'), psnrPartOf(c, 'vae_decoder')]).toEqual(['unet_quantized', 'text_encoder_quantized', 'vae_decoder']);
    expect(expectedChecks(c)).toEqual(['text_encoder_quantized', 'vae_decoder', 'unet_quantized']);
  });
});

describe('what the Core AI processes report', () => {
  const c = config();
  const step = { kind: 'coreai-export' as const, label: 'Export unet', part: 'unet' as const };
  it('a parity record becomes a check under the gate\'s name; nan is no figure', () => {
    expect(parityCheck(c, step, { part: 'unet', component: 'Unet.aimodel', compression: 'none', psnr: 65.2 })).toEqual({ part: 'unet', check: 'Core AI runtime (float16) to PyTorch', psnr: 65.2, printed: '65.20', step: 'Export unet' });
    expect(parityCheck(c, step, { part: 'unet', component: 'Unet.aimodel', compression: 'none', psnr: null })?.psnr).toBeNull();
    expect(parityCheck(c, step, undefined)).toBeUndefined();
    expect(parityCheck(c, { ...step, twin: true }, { part: 'unet', component: 'Unet.aimodel', compression: 'none', psnr: 70 })?.check).toBe('Core AI runtime (float32 twin) to PyTorch');
    expect(parityCheck(config({ compression: 'int4' }), { ...step, twin: true }, { part: 'unet', component: 'Unet.aimodel', compression: 'int4', psnr: 30 })).toMatchObject({ part: 'unet_quantized', check: 'Core AI runtime (int4, float32 twin) to PyTorch (float)' });
    expect(parityCheck(c, step, { part: 'unet', component: 'Unet.aimodel', compression: 'none', psnr: null, skipped: true })).toBeUndefined();
  });

  it('the image record is gated on image-min-psnr', () => {
    const record = { psnr: 29.5, prompt: 'p', seed: 0, steps: 20, guidance: 7.5, scheduler: 'dpmpp', height: 512, width: 512, coreai_seconds: 1, diffusers_seconds: 2 };
    expect(imageResult(record, 30, '/o/image-check')).toMatchObject({ psnr: 29.5, passed: false, images: { coreai: '/o/image-check/coreai.png', diffusers: '/o/image-check/diffusers.png' } });
    expect(imageResult({ ...record, psnr: 31 }, 30, '/o')?.passed).toBe(true);
    expect(imageProblem(imageResult(record, 30, '/o'), true, false)).toMatch(/is 29\.5 dB, under image-min-psnr 30 dB/);
    expect(imageProblem(undefined, true, false)).toMatch(/did not report/);
    expect(imageProblem(undefined, true, true)).toBeUndefined();
    expect(imageProblem(undefined, false, false)).toBeUndefined();
  });

  it('a refusal (exit 2) is said with the helper\'s own line; a crash as the converter\'s diagnoses say it', () => {
    expect(diagnoseCoreAi({ exitCode: 2, signal: null, tail: ['', 'coreai_export: error: no unet in /m', ''] }).title).toBe('The helper refused its arguments: coreai_export: error: no unet in /m');
    expect(diagnoseCoreAi({ exitCode: null, signal: 'SIGKILL', tail: [] }).title).toMatch(/^The Core AI helper ran out of memory/);
  });

  it('the gate demands a check of every exported part that ran', () => {
    const conversion = { steps: [{ label: 'Export unet', argv: [], status: 'not run' as const, parts: ['unet'], durationMs: 0, partTimes: {} }], psnr: [{ part: 'text_encoder' as const, check: 'x', psnr: 60, printed: '60', step: 's' }], converterRejectedPsnr: false };
    expect(judgeConversion(c, conversion, expectedChecks(c)).missing).toEqual(['vae_decoder']);
  });
});

describe('where the model is read from', () => {
  const models = [{ id: 'acme/sd', revision: 'a'.repeat(40), resolved: true, files: [] }];
  it('the staged single file, a local folder, or the Hub cache\'s snapshot at the resolved commit (only once filled)', () => {
    const hub = config({ 'model-version': 'acme/sd' });
    expect(modelFolder(hub, models, true)).toBe(path.join(hub.runner.hubCache, 'models--acme--sd', 'snapshots', 'a'.repeat(40)));
    expect(modelFolder(hub, models, false)).toBeUndefined();
    expect(modelFolder(hub, models, true, '/tmp/staged')).toBe(path.join('/tmp/staged', 'acme/sd'));
  });
});

describe('the Core AI budget, identity and names', () => {
  it('each process from its part\'s fp16 bytes; a part of unknown size has no estimate', () => {
    const c = config();
    const sizes = { components: { unet: 1.72e9, text_encoder: 246e6, vae: 167e6 }, controlnets: {}, downloadBytes: 0, stagedBytes: 0 };
    const estimates = estimateCoreAi(coreAiPlan(c), sizes);
    const unet = estimates.find((e) => e.part === 'unet');
    const te = estimates.find((e) => e.part === 'text_encoder');
    expect(unet?.peakBytes).toBeGreaterThan(te?.peakBytes ?? Infinity);
    expect(estimateCoreAi(coreAiPlan(c), { ...sizes, components: {} }).find((e) => e.part === 'unet')?.peakBytes).toBeUndefined();
    expect(CORE_AI.estimate(coreAiPlan(c), c, sizes)).toEqual(estimates);
  });

  it('the identity is the backend\'s own: compression and the coreai versions, none of torch2coreml\'s flags', () => {
    const inputs = coreAiInputs(config({ compression: 'int4' }));
    expect(inputs).toMatchObject({ backend: 'core-ai', compression: 'int4', size: '512x512', parts: 'text_encoder,vae_decoder,unet', 'coreai-torch': '0.4.3', 'coreai-core': '1.0.0b3', 'coreai-opt': '0.4.0' });
    expect(Object.keys(inputs)).not.toContain('compute-unit');
    expect(CORE_AI.inputs(config())).not.toEqual(CORE_ML.inputs(config()));
  });

  it('the outputs cache keys a Core AI conversion apart, and Core ML\'s keys stay as they were', () => {
    const core = outputOptions(config({ compression: 'int4' }));
    expect(core.backend).toBe('core-ai');
    expect(core.coreAi).toContain('int4');
    const ml = parseInputs(raw({}), ctx()).config;
    expect(ml && Object.keys(outputOptions(ml))).toEqual(['conversion', 'processPerComponent', 'prepareFp16']);
  });

  it('published names: <model>_coreai[_compression], the bundle zip apart from Core ML\'s compiled one', () => {
    const names = publishedNames({ conversion: config().conversion, coreAi: { compression: 'int4' } });
    expect(names.base).toBe('stable-diffusion-2-1-base_coreai_int4');
    expect(names.compiled).toBe('stable-diffusion-2-1-base_coreai_int4_bundle.zip');
    expect(publishedNames({ conversion: config().conversion, coreAi: { compression: 'none' } }).base).toBe('stable-diffusion-2-1-base_coreai');
  });

  it('CORE_AI_REQUIREMENTS is constraints/coreai/requirements.in, line for line', () => {
    const lines = readFileSync(path.join(ROOT, 'constraints/coreai/requirements.in'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    expect(lines).toEqual([...CORE_AI_REQUIREMENTS]);
  });
});

describe('the Core AI runtime\'s time on a Linux runner, before install', () => {
  const full = { components: { unet: 1.72e9, text_encoder: 246e6, vae: 167e6 }, controlnets: {}, downloadBytes: 0, stagedBytes: 0 };
  const tiny = { components: { unet: 1.7e6, text_encoder: 0.3e6, vae: 0.2e6 }, controlnets: {}, downloadBytes: 0, stagedBytes: 0 };
  it('full size, float16 checks: the image check (20 unet calls) is refused, the unet check only warned of; tiny models pass', () => {
    const c = config({ 'check-precision': 'float16' });
    const found = runtimeTime(c, coreAiPlan(c), full);
    expect(found.refusals).toHaveLength(1);
    expect(found.refusals[0]).toMatch(/^The image check would take at least 1\d\.\d h \(20 unet calls of at least 31 min each\)/);
    expect(found.refusals[0]).toContain('Leave check-precision empty (float32 twins on Linux), or set image-check: false');
    expect(found.warnings.join('\n')).toContain('Checking the unet on coreai-core will take at least 31 min');
    expect(runtimeTime(c, coreAiPlan(c), tiny)).toEqual({ refusals: [], warnings: [] });
  });

  it('full size, float32 twins (auto on Linux): the image check within the job, warned of with its time; the unet check under the warning', () => {
    const c = config();
    const found = runtimeTime(c, coreAiPlan(c), full);
    expect(found.refusals).toEqual([]);
    expect(found.warnings).toHaveLength(1);
    expect(found.warnings[0]).toMatch(/^The image check will take about 1\.\d h on coreai-core \(20 unet calls of 4 min\)/);
    // 200 steps cannot end in a job.
    const long = config({ 'image-steps': '200' });
    expect(runtimeTime(long, coreAiPlan(long), full).refusals[0]).toMatch(/^The image check would take at least 14\.\d h .*Set fewer image-steps, or image-check: false\.$/);
  });

  it('image-check false and check-output-correctness false start no runtime check; macOS is not judged', () => {
    const off = config({ 'image-check': 'false', 'check-output-correctness': 'false' });
    expect(runtimeTime(off, coreAiPlan(off), full)).toEqual({ refusals: [], warnings: [] });
    const mac = parseInputs(raw({ backend: 'core-ai' }), ctx()).config;
    expect(mac && runtimeTime(mac, coreAiPlan(mac), full)).toEqual({ refusals: [], warnings: [] });
    const unchecked = coreAiArguments(coreAiPlan(off)[0]!, off);
    expect(unchecked).toContain('--skip-parity');
    expect(expectedChecks(off)).toEqual([]);
  });
});

// A conversion split between a Linux x64 job (split: convert) and a macOS job (split: finish):
// the inputs and their refusals, the plan of each half, the budget of the finishing job, the
// hand-off's identity and name, and the plan entry's two-job matrix.
import { describe, expect, it } from 'vitest';
import { parseInputs } from '../../src/inputs/parse.js';
import { makePlan, splitPlan, type Step } from '../../src/plan/plan.js';
import { convertRunnerProblem } from '../../src/inputs/split-rules.js';
import { estimateDisk, estimateStep, FINISH_ENVIRONMENT_BYTES, type ModelSizes } from '../../src/budget/estimate.js';
import { judgeBudget } from '../../src/budget/verdict.js';
import { handoffIdentity } from '../../src/handoff/identity.js';
import { handoffArtifact } from '../../src/handoff/stage.js';
import { identityOf } from '../../src/refresh/compare.js';
import { parityArguments } from '../../src/converter/parity.js';
import { prepareStep } from '../../src/convert/decisions.js';
import { buildMatrix } from '../../src/matrix/build.js';
import { parseModelList } from '../../src/matrix/list.js';
import { splitLine } from '../../src/summary/summary.js';
import type { InputName } from '../../src/inputs/names.js';
import { ctx, options, raw, WORKSPACE } from './fixtures.js';

/** The runner's artifact service, which the hand-off needs. */
const SERVICE = { ACTIONS_RUNTIME_TOKEN: 'token', ACTIONS_RESULTS_URL: 'https://results.example/' };
const linux = (arch = 'X64', env: Record<string, string> = SERVICE) => ctx({ env: { RUNNER_OS: 'Linux', RUNNER_ARCH: arch, RUNNER_TEMP: '/home/runner/work/_temp', RUNNER_TOOL_CACHE: '/opt/hostedtoolcache', ...env } });
const mac = (env: Record<string, string> = SERVICE, options: Parameters<typeof ctx>[0] = {}) => ctx({ ...options, env: { ...env, ...options.env } });
const errorsOf = (overrides: Partial<Record<InputName, string>>, context = linux()) => parseInputs(raw(overrides), context).errors;

describe('split: the inputs', () => {
  it('convert runs on Linux x64, where one job is refused', () => {
    expect(errorsOf({ split: 'convert' })).toEqual([]);
    const single = errorsOf({});
    expect(single.join('\n')).toMatch(/Input `dry-run` is false on a Linux runner: .*`split: convert`/);
  });

  it('convert on Linux arm64 is refused before install, saying why (no coremltools wheel)', () => {
    const errors = errorsOf({ split: 'convert' }, linux('ARM64'));
    expect(errors.join('\n')).toMatch(/Input `split` is convert, and a Linux ARM64 runner cannot run the conversion: coremltools 8\.3.*x86_64 only/);
    expect(convertRunnerProblem({ os: 'Linux', arch: 'X64' })).toBeUndefined();
    expect(convertRunnerProblem({ os: 'macOS', arch: 'ARM64' })).toBeUndefined();
    expect(convertRunnerProblem({ os: 'Windows', arch: 'X64' })).toMatch(/Linux x64 and macOS only/);
  });

  it('finish needs macOS', () => {
    expect(errorsOf({ split: 'finish' }).join('\n')).toMatch(/Input `split` is finish, and the finishing half cannot run on a Linux X64 runner: .*need macOS/);
    expect(errorsOf({ split: 'finish' }, mac())).toEqual([]);
  });

  it('refuses what cannot be checked across the two jobs, naming each input', () => {
    const errors = errorsOf({ split: 'convert', 'convert-safety-checker': 'true', 'quantize-nbits': '6' }).join('\n');
    expect(errors).toMatch(/Input `split` is convert, with check-output-correctness and convert-safety-checker .*; quantize-nbits/);
    expect(errorsOf({ split: 'convert', 'quantize-nbits': '6', 'check-output-correctness': 'false' })).toEqual([]);
    expect(errorsOf({ split: 'finish', 'sd3-version': 'true', 'model-version': 'stabilityai/stable-diffusion-3-medium' }, mac()).join('\n')).toMatch(/Input `split` is finish, with sd3-version/);
  });

  it('the hand-off needs the artifact service: refused before install without it, unless the finishing job is given a folder', () => {
    expect(errorsOf({ split: 'convert' }, linux('X64', {})).join('\n')).toMatch(/Input `split` is convert, but the artifact service is not available \(ACTIONS_RUNTIME_TOKEN and ACTIONS_RESULTS_URL unset/);
    expect(errorsOf({ split: 'finish' }, mac({})).join('\n')).toMatch(/Input `split` is finish, but the artifact service .* Give `handoff` the folder/);
    const folder = mac({}, { bareDirs: ['h'], files: ['h/.coreml-action/handoff.json'] });
    expect(parseInputs(raw({ split: 'finish', handoff: './h' }), folder).errors).toEqual([]);
  });

  it('handoff: an artifact name, or a hand-off folder inside the workspace', () => {
    const folder = 'handoffs/sd';
    const withMarker = mac({}, { bareDirs: [folder], files: [`${folder}/.coreml-action/handoff.json`] });
    const parsed = parseInputs(raw({ split: 'finish', handoff: folder }), withMarker);
    expect(parsed.errors).toEqual([]);
    expect(parsed.config?.split).toEqual({ mode: 'finish', handoff: { path: `${WORKSPACE}/${folder}` } });
    expect(parseInputs(raw({ split: 'finish', handoff: 'my-handoff' }), mac()).config?.split.handoff).toEqual({ artifact: 'my-handoff' });
    expect(errorsOf({ split: 'finish', handoff: 'empty/dir' }, ctx({ bareDirs: ['empty/dir'] })).join('\n')).toMatch(/has no \.coreml-action\/handoff\.json/);
    expect(errorsOf({ split: 'finish', handoff: '../../elsewhere' }, ctx()).join('\n')).toMatch(/outside the workspace and RUNNER_TEMP/);
    expect(errorsOf({ split: 'convert', handoff: './out' }).join('\n')).toMatch(/is a folder, but `split` is convert/);
    expect(errorsOf({ handoff: 'name' }, ctx()).join('\n')).toMatch(/`split` is none/);
    expect(errorsOf({ split: 'finish', handoff: 'bad:name' }, ctx()).join('\n')).toMatch(/artifact name .*may not hold ":"/);
  });
});

describe('split: the plan of each half', () => {
  const o = options({ checkOutputCorrectness: true, chunkUnet: true, leanConversion: true });
  const whole = makePlan(o, true);
  const labels = (steps: Step[]) => steps.map((s) => `${s.kind}${s.kind === 'parity' ? `:${s.half ?? 'both'}` : ''} ${s.label}`);

  it('none is the plan as it was', () => {
    expect(splitPlan(whole, 'none')).toEqual(whole);
  });

  it('convert: every conversion and chunk, each check its PyTorch half only, no Resources, no Core ML', () => {
    const steps = splitPlan(whole, 'convert');
    expect(steps.filter((s) => s.kind === 'torch2coreml').every((s) => s.kind === 'torch2coreml' && !s.bundle && !s.checkCorrectness)).toBe(true);
    expect(steps.filter((s) => s.kind === 'chunk').every((s) => s.kind === 'chunk' && !s.checkCorrectness)).toBe(true);
    expect(steps.filter((s) => s.kind === 'parity').map((s) => s.kind === 'parity' && s.half)).toEqual(['reference', 'reference', 'reference']);
    expect(labels(steps).some((l) => l.includes('Bundle'))).toBe(false);
    expect(whole.some((s) => s.kind === 'torch2coreml' && s.bundle)).toBe(true);
    const reference = steps.find((s) => s.kind === 'parity');
    expect(reference && parityArguments(reference as Extract<Step, { kind: 'parity' }>, o).slice(-2)).toEqual(['--parity-half', 'reference']);
  });

  it('finish: the Core ML half of each check, nothing converted', () => {
    const steps = splitPlan(whole, 'finish');
    expect(steps.map((s) => s.kind)).toEqual(['parity', 'parity', 'parity']);
    expect(steps.every((s) => s.kind === 'parity' && s.half === 'check')).toBe(true);
  });

  it('the finishing job checks every package handed off, not only those made in this run', () => {
    const check = splitPlan(whole, 'finish')[0]!;
    const present = new Map([['Stable_Diffusion_version_stabilityai_stable-diffusion-2-1-base_vae_decoder.mlpackage', 1]]);
    const prep = prepareStep(check, o, present as never, new Set(), new Set());
    expect(prep.skip).toBeUndefined();
    expect(prep.removeOnFailure).toEqual(['Stable_Diffusion_version_stabilityai_stable-diffusion-2-1-base_vae_decoder.mlpackage']);
    expect(prepareStep(check, o, new Map() as never, new Set(), new Set()).skip).toMatch(/hand-off holds no package of vae_decoder/);
  });
});

describe('split: the budget', () => {
  const sizes: ModelSizes = { components: { text_encoder: 246e6, vae: 167e6, unet: 1.72e9 }, controlnets: {}, downloadBytes: 2.7e9, stagedBytes: 0 };
  const o = options({ checkOutputCorrectness: true });

  it('the finishing job downloads nothing and has a smaller environment, but compiles and zips', () => {
    const single = estimateDisk(o, sizes, { package: true, outputsCache: true });
    const finish = estimateDisk(o, sizes, { package: true, outputsCache: true, split: 'finish' });
    expect(finish.items.map((i) => i.what)).not.toContain('Hub downloads (Hugging Face cache)');
    expect(finish.items.find((i) => i.what.startsWith('finishing environment'))?.bytes).toBe(FINISH_ENVIRONMENT_BYTES);
    expect(finish.peakBytes).toBeLessThan(single.peakBytes);
    expect(finish.items.map((i) => i.what)).toContain('Resources (compiled)');
  });

  it('the converting job writes no Resources and no zips', () => {
    const convert = estimateDisk(o, sizes, { package: true, outputsCache: false, split: 'convert' });
    expect(convert.items.map((i) => i.what)).toEqual(['Hub downloads (Hugging Face cache)', 'converter environment (conda, pip packages and cache)', 'mlpackages']);
  });

  it('the Core ML half of a check is estimated from its package; the PyTorch half from the measured figures', () => {
    const [check] = splitPlan(makePlan(o, true), 'finish').filter((s) => s.kind === 'parity' && s.part === 'unet');
    const [reference] = splitPlan(makePlan(o, true), 'convert').filter((s) => s.kind === 'parity' && s.part === 'unet');
    const c = estimateStep(check!, o, sizes, 'lean');
    const r = estimateStep(reference!, o, sizes, 'lean');
    expect(c.measured).toBe(false);
    expect(c.peakBytes).toBeLessThan(r.peakBytes!);
    expect(r.measured).toBe(true);
  });

  it('a converting process over the memory suggests a larger Linux runner; one job suggests the split', () => {
    const over = { label: 'Convert unet', part: 'unet', peakBytes: 20 * 1024 ** 3, basis: '', measured: true };
    const disk = { items: [], peakBytes: 0, peakAt: '', peakWithoutDownloads: 0 };
    const runner = { totalMemory: 16 * 1024 ** 3, memorySource: 'its total memory', freeDisk: undefined, os: 'Linux' };
    const convert = judgeBudget({ processes: [over], disk, runner, route: 'lean', processPerComponent: true, split: 'convert' });
    expect(convert.refusals[0]).toMatch(/a larger Linux x64 runner/);
    const single = judgeBudget({ processes: [over], disk, runner: { ...runner, os: 'macOS' }, route: 'lean', processPerComponent: true });
    expect(single.refusals[0]).toMatch(/`split: convert`, then `split: finish`/);
  });
});

describe('split: the hand-off\'s identity', () => {
  const config = (overrides: Partial<Record<InputName, string>>, context = mac()) => parseInputs(raw(overrides), context).config!;
  const models = [{ id: 'stabilityai/stable-diffusion-2-1-base', revision: 'a'.repeat(40), resolved: true }];

  it('is the same for the two jobs, which read the same inputs on different runners', () => {
    const convert = handoffIdentity(identityOf(config({ split: 'convert' }, linux()), models));
    const finish = handoffIdentity(identityOf(config({ split: 'finish' }), models));
    expect(finish).toEqual(convert);
    expect(convert[`model stabilityai/stable-diffusion-2-1-base`]).toBe('a'.repeat(40));
    expect(handoffArtifact(config({ split: 'finish' }), finish)).toBe(handoffArtifact(config({ split: 'convert' }, linux()), convert));
  });

  it('differs when a converter input or the model commit differs, and names the entry', () => {
    const base = handoffIdentity(identityOf(config({ split: 'finish' }), models));
    const other = handoffIdentity(identityOf(config({ split: 'finish', 'attention-implementation': 'ORIGINAL' }), models));
    const moved = handoffIdentity(identityOf(config({ split: 'finish' }), [{ ...models[0]!, revision: 'b'.repeat(40) }]));
    expect(Object.keys(base).filter((k) => base[k] !== other[k])).toEqual(['attention-implementation']);
    expect(Object.keys(base).filter((k) => base[k] !== moved[k])).toEqual(['model stabilityai/stable-diffusion-2-1-base']);
    expect(handoffArtifact(config({ split: 'finish' }), other)).not.toBe(handoffArtifact(config({ split: 'finish' }), base));
    expect(handoffArtifact(config({ split: 'finish', handoff: 'given' }), base)).toBe('given');
  });
});

describe('split: the plan entry\'s two-job matrix', () => {
  const list = parseModelList('- stabilityai/stable-diffusion-2-1-base\n- model-version: runwayml/stable-diffusion-v1-5\n  quantize-nbits: 6\n', 'inline');

  it('judges each entry as both jobs, and names their runners', () => {
    const result = buildMatrix(list.models!, { presets: [], releaseTag: '', split: true }, ctx({ env: { RUNNER_OS: 'Linux', RUNNER_ARCH: 'X64' } }));
    // The second entry quantizes with the check on: neither job can check it.
    expect(result.errors.join('\n')).toMatch(/entry 2 \(runwayml\/stable-diffusion-v1-5\), variant default \(the converting job, split: convert, ubuntu-latest\): Input `split` is convert, with check-output-correctness and quantize-nbits/);
    const ok = buildMatrix(parseModelList('- stabilityai/stable-diffusion-2-1-base', 'inline').models!, { presets: [], releaseTag: '', split: true }, ctx());
    expect(ok.errors).toEqual([]);
    expect(ok.entries?.[0]?.matrix).toMatchObject({ 'convert-runner': 'ubuntu-latest', 'finish-runner': 'macos-latest', 'model-version': 'stabilityai/stable-diffusion-2-1-base' });
    expect(buildMatrix(parseModelList('- stabilityai/stable-diffusion-2-1-base', 'inline').models!, { presets: [], releaseTag: '' }, ctx()).entries?.[0]?.matrix['convert-runner']).toBeUndefined();
  });
});

describe('split: the summary says which half ran', () => {
  it('names the hand-off, or that nothing was handed off', () => {
    expect(splitLine('convert', { name: 'coreml-sd-handoff-0123', files: 12, bytes: 2e9 })).toMatch(/Handed off as the workflow artifact `coreml-sd-handoff-0123` \(12 files, /);
    expect(splitLine('convert')).toMatch(/Nothing was handed off/);
    expect(splitLine('finish')).toMatch(/checked: this conversion, every sha256 as written/);
  });
});

describe('split: the converting job\'s environment on Linux', () => {
  it('is the measured Linux one (PyPI\'s torch with its CUDA wheels), not the macOS one', async () => {
    const { environmentBytes, ENVIRONMENT_BYTES, LINUX_ENVIRONMENT_BYTES } = await import('../../src/budget/estimate.js');
    expect(environmentBytes('Linux')).toBe(LINUX_ENVIRONMENT_BYTES);
    expect(environmentBytes('macOS')).toBe(ENVIRONMENT_BYTES);
    const sizes: ModelSizes = { components: { text_encoder: 246e6, vae: 167e6, unet: 1.72e9 }, controlnets: {}, downloadBytes: 2.7e9, stagedBytes: 0 };
    const linux = estimateDisk(options(), sizes, { package: false, outputsCache: false, split: 'convert', environment: LINUX_ENVIRONMENT_BYTES });
    expect(linux.items.find((i) => i.what.startsWith('converter environment'))?.bytes).toBe(LINUX_ENVIRONMENT_BYTES);
    expect(linux.peakBytes).toBeGreaterThan(LINUX_ENVIRONMENT_BYTES + 2.7e9);
  });
});

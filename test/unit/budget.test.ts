import { describe, expect, it } from 'vitest';
import { makePlan, type Step } from '../../src/plan/plan.js';
import type { ConversionOptions } from '../../src/config.js';
import { parseInputs } from '../../src/inputs/parse.js';
import {
  BASE_BYTES,
  DISK_MARGIN,
  ENVIRONMENT_BYTES,
  FIGURES,
  attentionTokens,
  estimateDisk,
  estimateProcesses,
  estimateStep,
  type ModelSizes,
  type ProcessEstimate,
} from '../../src/budget/estimate.js';
import { componentBytes, missingBytes, singleFileComponents, weightBytes } from '../../src/budget/sizes.js';
import { diskLevel, judgeBudget, measuredOverEstimate, memoryLevel, usableMemory, type RunnerResources } from '../../src/budget/verdict.js';
import { budgetLines } from '../../src/budget/stage.js';
import { parseProcStatus, parsePsTable, reportedPeak, samplePeak, treeRss } from '../../src/process.js';
import { ctx, options, raw } from './fixtures.js';

const GIB = 2 ** 30;
/** SD 1.5's fp16 files, as measured (memory-at-full-size.md): unet 1.72 GB, text encoder 246 MB, VAE 167 MB. */
const SD15: ModelSizes = { components: { unet: 1.72e9, text_encoder: 246e6, vae: 167e6 }, controlnets: {}, downloadBytes: 2.133e9, stagedBytes: 0 };
const sd15 = (overrides: Partial<ConversionOptions> = {}) =>
  options({ parts: ['text_encoder', 'vae_decoder', 'unet'], checkOutputCorrectness: false, attention: 'SPLIT_EINSUM', chunkUnet: false, quantizeNbits: undefined, bundleResources: true, ...overrides });
const byLabel = (estimates: ProcessEstimate[], label: string) => {
  const found = estimates.find((e) => e.label === label);
  if (!found) throw new Error(`no estimate for ${label}: ${estimates.map((e) => e.label).join(', ')}`);
  return found;
};
const gib = (bytes: number | undefined) => (bytes ?? NaN) / GIB;
const MACOS_7GB: RunnerResources = { totalMemory: 7e9, memorySource: 'its total memory', freeDisk: 30e9, os: 'macOS' };

describe('the estimate reproduces what was measured at full size (SD 1.5, one process per part)', () => {
  const plan = (o: ConversionOptions) => makePlan(o, true);

  it('on the command line: text encoder 2.39, VAE decoder 2.23, unet 9.25 GiB', () => {
    const o = sd15();
    const estimates = estimateProcesses(plan(o), o, SD15, 'command-line');
    expect(gib(byLabel(estimates, 'Convert text_encoder').peakBytes)).toBeCloseTo(2.39, 2);
    expect(gib(byLabel(estimates, 'Convert vae_decoder').peakBytes)).toBeCloseTo(2.23, 2);
    expect(gib(byLabel(estimates, 'Convert unet').peakBytes)).toBeCloseTo(9.25, 2);
    expect(byLabel(estimates, 'Convert unet').part).toBe('unet');
  });

  it('on the lean path: the unet at 6.17 GiB (bench/convert-memory.mjs)', () => {
    const o = sd15();
    expect(gib(byLabel(estimateProcesses(plan(o), o, SD15, 'lean'), 'Convert unet').peakBytes)).toBeCloseTo(6.17, 2);
  });

  it('on the lean path: the text encoder at 1.45 GiB and the VAE decoder at 1.84 GiB (bench/convert-memory.mjs)', () => {
    const o = sd15();
    const estimates = estimateProcesses(plan(o), o, SD15, 'lean');
    expect(gib(byLabel(estimates, 'Convert text_encoder').peakBytes)).toBeCloseTo(1.45, 2);
    expect(gib(byLabel(estimates, 'Convert vae_decoder').peakBytes)).toBeCloseTo(1.84, 2);
  });

  it('quantizing to 6 bits 3.87 GiB; chunking the 6-bit unet 2.18 and the float16 one 4.67 GiB', () => {
    const six = sd15({ quantizeNbits: 6, chunkUnet: true });
    const steps = plan(six);
    const estimates = estimateProcesses(steps, six, SD15, 'lean');
    expect(gib(byLabel(estimates, 'Quantize to 6 bits').peakBytes)).toBeCloseTo(3.87, 2);
    expect(byLabel(estimates, 'Quantize to 6 bits').part).toBe('unet');
    // 6/16 of 1.72 GB is 645 MB; the measured package had 646 MB.
    expect(gib(byLabel(estimates, 'Chunk unet').peakBytes)).toBeCloseTo(2.18, 1);
    const fp16 = sd15({ chunkUnet: true });
    expect(gib(byLabel(estimateProcesses(plan(fp16), fp16, SD15, 'lean'), 'Chunk unet').peakBytes)).toBeCloseTo(4.67, 2);
  });

  it('all parts in one process: at least the unet\'s own peak, within 5% of the measured 9.44 GiB', () => {
    const o = sd15();
    const [all] = estimateProcesses(makePlan(o, false), o, SD15, 'command-line');
    expect(all?.part).toBe('unet');
    expect(gib(all?.peakBytes)).toBeGreaterThan(9.25);
    expect(Math.abs(gib(all?.peakBytes) / 9.44 - 1)).toBeLessThan(0.05);
  });
});

describe('the estimate follows the model and the options', () => {
  const unetStep = (o: ConversionOptions) => makePlan(o, true).find((s) => s.label === 'Convert unet') as Step;

  it('scales with the part\'s weights: a unet three times as large costs more than twice as much', () => {
    const o = sd15();
    const small = estimateStep(unetStep(o), o, SD15, 'lean').peakBytes ?? 0;
    const large = estimateStep(unetStep(o), o, { ...SD15, components: { ...SD15.components, unet: 3 * 1.72e9 } }, 'lean').peakBytes ?? 0;
    expect(large - small).toBeCloseTo(FIGURES.lean.unet.k * 2 * 1.72e9, -3);
  });

  it('the attention maps grow with the square of the latent\'s tokens; SDXL\'s first level has none', () => {
    expect(attentionTokens({ xlVersion: false })).toBe(4096);
    expect(attentionTokens({ xlVersion: false, latentH: 96, latentW: 96 })).toBe(9216);
    expect(attentionTokens({ xlVersion: true })).toBe(4096);
    const base = sd15();
    const big = sd15({ latentH: 128, latentW: 128 });
    const delta = (estimateStep(unetStep(big), big, SD15, 'lean').peakBytes ?? 0) - (estimateStep(unetStep(base), base, SD15, 'lean').peakBytes ?? 0);
    expect(delta).toBeCloseTo((FIGURES.lean.unet.attentionBytes ?? 0) * 15, -3);
  });

  it('a converting process that checks in-process on the command line adds the Core ML model; the lean path checks in its own process', () => {
    const checked = sd15({ checkOutputCorrectness: true });
    const plain = sd15();
    // The parts parity.py covers are checked in a process of their own; an in-process check remains for the others.
    const inProcess = (o: ConversionOptions) => ({ ...unetStep(o), checkCorrectness: o.checkOutputCorrectness }) as Step;
    const cmd = (o: ConversionOptions) => estimateStep(inProcess(o), o, SD15, 'command-line');
    expect((cmd(checked).peakBytes ?? 0) - (cmd(plain).peakBytes ?? 0)).toBeCloseTo(1.72e9, -3);
    expect(cmd(checked).measured).toBe(false);
    expect(estimateStep(inProcess(checked), checked, SD15, 'lean').peakBytes).toBe(estimateStep(inProcess(plain), plain, SD15, 'lean').peakBytes);
  });

  it('the check processes reproduce their measured SD 1.5 peaks, and follow the part they check', () => {
    const o = sd15({ checkOutputCorrectness: true });
    const checks = makePlan(o, true).filter((s) => s.kind === 'parity');
    expect(checks.map((s) => s.label)).toEqual(expect.arrayContaining([expect.stringMatching(/^Check unet/), expect.stringMatching(/^Check text_encoder/)]));
    const gib = (label: RegExp) => (estimateStep(checks.find((s) => label.test(s.label)) as Step, o, SD15, 'lean').peakBytes ?? 0) / 2 ** 30;
    expect(gib(/^Check text_encoder/)).toBeCloseTo(1.28, 2);
    expect(gib(/^Check vae_decoder/)).toBeCloseTo(1.75, 2);
    expect(gib(/^Check unet/)).toBeCloseTo(5.5, 2);
    const bigger = estimateStep(checks.find((s) => /^Check unet/.test(s.label)) as Step, o, { ...SD15, components: { ...SD15.components, unet: 2 * 1.72e9 } }, 'lean').peakBytes ?? 0;
    expect(bigger / 2 ** 30).toBeGreaterThan(5.5 + 3);
  });

  it('an unknown size gives no figure rather than a wrong one', () => {
    const o = sd15();
    const estimate = estimateStep(unetStep(o), o, { ...SD15, components: { text_encoder: 246e6 } }, 'lean');
    expect(estimate.peakBytes).toBeUndefined();
    expect(estimate.basis).toContain('unet');
  });

  it('every figure says where it comes from, and the measured ones name the measurement', () => {
    for (const route of ['lean', 'command-line'] as const) {
      for (const [kind, figure] of Object.entries(FIGURES[route])) {
        expect(figure.source, `${route} ${kind}`).not.toBe('');
        if (figure.measured) expect(figure.source, `${route} ${kind}`).toMatch(/GiB/);
      }
    }
  });
});

describe('sizes from the listings', () => {
  const pipeline = [
    { rfilename: 'model_index.json', size: 500 },
    { rfilename: 'unet/diffusion_pytorch_model.fp16.safetensors', size: 1.72e9, blobId: 'u16' },
    { rfilename: 'unet/diffusion_pytorch_model.safetensors', size: 3.44e9, blobId: 'u32' },
    { rfilename: 'text_encoder/model.fp16.safetensors', size: 246e6, blobId: 't16' },
    { rfilename: 'vae/diffusion_pytorch_model.safetensors', size: 334e6, blobId: 'v32' },
    { rfilename: 'v1-5-pruned.safetensors', size: 4.27e9, blobId: 'single' },
  ];

  it('takes a component\'s fp16 weights, else its plain ones halved; nothing outside the folders', () => {
    expect(componentBytes(pipeline)).toEqual({ unet: 1.72e9, text_encoder: 246e6, vae: 167e6 });
  });

  it('counts only the downloads the cache does not hold yet', () => {
    expect(missingBytes(pipeline, () => false)).toBe(500 + 1.72e9 + 246e6 + 334e6);
    expect(missingBytes(pipeline, (f) => f.blobId === 'u16')).toBe(500 + 246e6 + 334e6);
  });

  it('a repository without model_index.json (a ControlNet): the plain weights it loads, halved', () => {
    const controlnet = [
      { rfilename: 'diffusion_pytorch_model.safetensors', size: 1.446e9 },
      { rfilename: 'diffusion_pytorch_model.fp16.safetensors', size: 723e6 },
      { rfilename: 'config.json', size: 900 },
    ];
    expect(weightBytes(controlnet)).toBe(723e6);
  });

  it('a single file from its kind: 2 bytes a parameter of the published configs', () => {
    expect(singleFileComponents('sd1').unet).toBe(1_719_041_928);
    expect(Object.keys(singleFileComponents('sdxl')).sort()).toEqual(['text_encoder', 'text_encoder_2', 'unet', 'vae']);
  });
});

describe('the verdict against the runner', () => {
  it('memory: fits up to what the system leaves, swaps up to the total, refused beyond', () => {
    expect(memoryLevel(4e9, 4e9, 6e9)).toBe('ok');
    expect(memoryLevel(4e9 + 1, 4e9, 6e9)).toBe('warn');
    expect(memoryLevel(6e9, 4e9, 6e9)).toBe('warn');
    expect(memoryLevel(6e9 + 1, 4e9, 6e9)).toBe('refuse');
    expect(memoryLevel(undefined, 4e9, 6e9)).toBe('ok');
    expect(usableMemory({ totalMemory: 7e9, os: 'macOS' })).toBe(7e9 - 2 * GIB);
  });

  it('disk: the estimate plus a margin fits, within the margin warns, over the free space refuses', () => {
    expect(diskLevel(10e9, 10e9 + DISK_MARGIN)).toBe('ok');
    expect(diskLevel(10e9 + 1, 10e9 + DISK_MARGIN)).toBe('warn');
    expect(diskLevel(10e9, 10e9)).toBe('warn');
    expect(diskLevel(10e9 + 1, 10e9)).toBe('refuse');
    expect(diskLevel(10e9, undefined)).toBe('ok');
  });

  const judge = (route: 'lean' | 'command-line', runner: RunnerResources, o = sd15(), sizes = SD15) => {
    const steps = makePlan(o, true);
    return judgeBudget({ processes: estimateProcesses(steps, o, sizes, route), disk: estimateDisk(o, sizes, { package: true, outputsCache: true }), runner, route, processPerComponent: true });
  };

  it('SD 1.5 on the 7 GB macOS runner: the command line\'s unet is refused, naming the part, the estimate and what to do', () => {
    const verdict = judge('command-line', MACOS_7GB);
    expect(verdict.refusals).toHaveLength(1);
    const [refusal] = verdict.refusals;
    expect(refusal).toMatch(/^Convert unet: the unet process is estimated at 9\.3 GiB peak memory, more than this runner's 6\.5 GiB/);
    expect(refusal).toContain('more memory');
    expect(refusal).toContain('lean path');
    expect(refusal).toContain('fewer parts per job');
    expect(refusal).toContain('over-budget: warn');
    expect(verdict.processes.filter((p) => p.level === 'ok').map((p) => p.label)).toEqual(['Convert vae_decoder', 'Convert text_encoder', 'Bundle Resources']);
  });

  it('SD 1.5 on the 7 GB macOS runner, lean: the unet swaps (a warning with the figures), nothing refused', () => {
    const verdict = judge('lean', MACOS_7GB);
    expect(verdict.refusals).toEqual([]);
    expect(verdict.warnings).toHaveLength(1);
    expect(verdict.warnings[0]).toMatch(/^Convert unet: the unet process is estimated at 6\.2 GiB peak memory; this runner has 6\.5 GiB .* about 4\.5 GiB is left .*swapping expected/);
  });

  it('a 14 GB runner takes SD 1.5 either way', () => {
    const verdict = judge('command-line', { ...MACOS_7GB, totalMemory: 14e9 });
    expect(verdict.refusals).toEqual([]);
    expect(verdict.warnings).toEqual([]);
  });

  it('disk: refused when even without the downloads the job does not fit; the downloads let go when that makes it fit', () => {
    const disk = estimateDisk(sd15(), SD15, { package: true, outputsCache: true });
    const tight = judge('lean', { ...MACOS_7GB, totalMemory: 14e9, freeDisk: disk.peakWithoutDownloads + DISK_MARGIN });
    expect(tight.disk).toMatchObject({ level: 'ok', releaseDownloads: true, needed: disk.peakWithoutDownloads });
    const roomy = judge('lean', { ...MACOS_7GB, totalMemory: 14e9, freeDisk: disk.peakBytes + DISK_MARGIN });
    expect(roomy.disk).toMatchObject({ level: 'ok', releaseDownloads: false });
    const full = judge('lean', { ...MACOS_7GB, totalMemory: 14e9, freeDisk: disk.peakWithoutDownloads - 1 });
    expect(full.disk.level).toBe('refuse');
    expect(full.refusals[0]).toMatch(/^The job is estimated to need .* of disk while zipping \(with the Hub downloads removed once the last converting process has run\)/);
  });
});

describe('the disk estimate', () => {
  it('SD 1.5 packaged: downloads, env, packages, Resources and zips; the peak while zipping', () => {
    const disk = estimateDisk(sd15(), SD15, { package: true, outputsCache: true });
    const packages = 1.72e9 + 246e6 + 99e6;
    expect(disk.peakAt).toBe('while zipping');
    expect(disk.peakBytes).toBeCloseTo(2.133e9 + ENVIRONMENT_BYTES + 4 * packages, -3);
    expect(disk.peakWithoutDownloads).toBeCloseTo(ENVIRONMENT_BYTES + 4 * packages, -3);
    // What lets SD 1.5 fit the 14 GB runner with a margin: under 12 GB once the downloads are let go.
    expect(disk.peakWithoutDownloads).toBeLessThan(12e9);
  });

  it('nothing packaged, no outputs cache: the peak is the conversion\'s own', () => {
    const disk = estimateDisk(sd15({ bundleResources: false }), SD15, { package: false, outputsCache: false });
    expect(disk.peakAt).toBe('while converting');
    expect(disk.peakBytes).toBeCloseTo(2.133e9 + ENVIRONMENT_BYTES + 1.72e9 + 246e6 + 99e6, -3);
    expect(disk.peakWithoutDownloads).toBe(disk.peakBytes);
  });

  it('quantized and chunked: the chunks from the quantized unet, one quantized copy beside its fp16 package while quantizing', () => {
    const o = sd15({ quantizeNbits: 6, chunkUnet: true, bundleResources: false });
    const disk = estimateDisk(o, { ...SD15, downloadBytes: 0 }, { package: false, outputsCache: false });
    const fp16 = 1.72e9 + 246e6 + 99e6;
    expect(disk.peakBytes).toBeCloseTo(ENVIRONMENT_BYTES + fp16 + 1.72e9 * (6 / 16) * 2, -3);
  });
});

describe('the budget lines', () => {
  it('name the route, the runner and each process with its estimate', () => {
    const o = sd15();
    const steps = makePlan(o, true);
    const processes = estimateProcesses(steps, o, SD15, 'lean');
    const disk = estimateDisk(o, SD15, { package: true, outputsCache: true });
    const verdict = judgeBudget({ processes, disk, runner: MACOS_7GB, route: 'lean', processPerComponent: true });
    const lines = budgetLines({ route: 'lean', sizes: SD15, processes, disk, verdict, runner: MACOS_7GB });
    expect(lines[0]).toMatch(/^Budget \(the lean conversion; runner: 6\.5 GiB of memory from its total memory/);
    expect(lines).toContain('  Convert unet: 6.2 GiB peak memory (swapping expected).');
    expect(lines.some((l) => l.startsWith('  Disk: about '))).toBe(true);
  });

  it('say so when no size is known', () => {
    expect(budgetLines({ route: 'lean', processes: [], runner: MACOS_7GB })).toContain('  no size of the model is known (the Hub could not list it): no estimate.');
  });
});

describe('measured against estimated', () => {
  it('warns only beyond 25% over the estimate', () => {
    const estimates = [{ label: 'Convert unet', peakBytes: 4 * GIB }, { label: 'Convert text_encoder', peakBytes: 2 * GIB }];
    const warnings = measuredOverEstimate(estimates, [
      { label: 'Convert unet', peakRssBytes: 5 * GIB },
      { label: 'Convert text_encoder', peakRssBytes: 2.6 * GIB },
      { label: 'Bundle Resources', peakRssBytes: 9 * GIB },
    ]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^Convert text_encoder: measured 2\.6 GiB peak memory, 30% above the budget's estimate of 2\.0 GiB/);
  });
});

describe('measuring the children', () => {
  const status = (pid: number, ppid: number, rssKb: number | undefined) =>
    `Name:\tpython3\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t${pid}\nNgid:\t0\nPid:\t${pid}\nPPid:\t${ppid}\nVmPeak:\t 9000000 kB\n${rssKb === undefined ? '' : `VmHWM:\t ${rssKb * 2} kB\nVmRSS:\t ${rssKb} kB\nRssAnon:\t 100 kB\n`}Threads:\t4\n`;

  it('reads Pid, PPid and VmRSS of a /proc status text; a kernel thread has no VmRSS', () => {
    expect(parseProcStatus(status(4242, 17, 2048))).toEqual({ pid: 4242, ppid: 17, rssBytes: 2048 * 1024, hwmBytes: 4096 * 1024 });
    expect(parseProcStatus(status(2, 0, undefined))).toBeUndefined();
  });

  it('reads ps -A -o pid=,ppid=,rss=', () => {
    expect(parsePsTable('    1     0  1200\n  501     1 34000\n  not a line\n')).toEqual([
      { pid: 1, ppid: 0, rssBytes: 1200 * 1024 },
      { pid: 501, ppid: 1, rssBytes: 34000 * 1024 },
    ]);
  });

  it('sums a process and all its descendants, not its parent or siblings', () => {
    const samples = [
      { pid: 1, ppid: 0, rssBytes: 1000 },
      { pid: 10, ppid: 1, rssBytes: 100 },
      { pid: 11, ppid: 10, rssBytes: 20 },
      { pid: 12, ppid: 11, rssBytes: 3 },
      { pid: 13, ppid: 1, rssBytes: 5000 },
    ];
    expect(treeRss(samples, 10)).toBe(123);
    expect(treeRss(samples, 99)).toBe(0);
  });

  it('a sample\'s peak: the tree\'s sum now, or one process\'s own earlier peak (VmHWM) when larger', () => {
    const now = [
      { pid: 10, ppid: 1, rssBytes: 100, hwmBytes: 150 },
      { pid: 11, ppid: 10, rssBytes: 100, hwmBytes: 120 },
    ];
    expect(samplePeak(now, 10)).toBe(200);
    expect(samplePeak([{ pid: 10, ppid: 1, rssBytes: 100, hwmBytes: 900 }, { pid: 11, ppid: 10, rssBytes: 100 }], 10)).toBe(900);
    expect(samplePeak(now, 99)).toBe(0);
  });

  it('takes the largest `<name>: peak RSS <bytes> bytes` line an entry printed', () => {
    expect(reportedPeak(['lean_convert: peak RSS 6635044864 bytes', 'parity: peak RSS 10 bytes', 'INFO: peak RSS is high'])).toBe(6635044864);
    expect(reportedPeak(['nothing'])).toBeUndefined();
  });
});

describe('the inputs', () => {
  it('over-budget is fail by default, warn when asked, else an error naming it', () => {
    expect(parseInputs(raw(), ctx()).config?.budget).toEqual({ overBudget: 'fail', runnerMemory: undefined });
    expect(parseInputs(raw({ 'over-budget': 'warn' }), ctx()).config?.budget.overBudget).toBe('warn');
    expect(parseInputs(raw({ 'over-budget': 'ignore' }), ctx()).errors).toEqual(['Input `over-budget` must be one of fail, warn, got "ignore".']);
  });

  it('runner-memory: GiB by default, or with a unit; anything else an error naming it', () => {
    const memory = (value: string) => parseInputs(raw({ 'runner-memory': value }), ctx()).config?.budget.runnerMemory;
    expect(memory('7')).toBe(7 * GIB);
    expect(memory('7GB')).toBe(7e9);
    expect(memory('6.5 GiB')).toBe(6.5 * GIB);
    expect(memory('4096MiB')).toBe(4 * GIB);
    const errors = parseInputs(raw({ 'runner-memory': 'lots' }), ctx()).errors;
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^Input `runner-memory` must be/);
    expect(parseInputs(raw({ 'runner-memory': '0' }), ctx()).errors[0]).toMatch(/^Input `runner-memory`/);
  });

  it('a runner-memory below what Python with the packages takes is refused; over-budget warn with dry-run is a warning', () => {
    expect(parseInputs(raw({ 'runner-memory': '512MiB' }), ctx()).errors).toEqual([
      expect.stringMatching(/^Input `runner-memory` is 512\.0 MiB, less than the 553\.0 MiB Python takes/),
    ]);
    expect(parseInputs(raw({ 'runner-memory': '1' }), ctx()).errors).toEqual([]);
    expect(parseInputs(raw({ 'over-budget': 'warn', 'dry-run': 'true' }), ctx()).warnings).toContain('Input `over-budget` is warn, but dry-run only prints the budget: it refuses nothing either way.');
  });
});

it('BASE is the measured import of the converter\'s packages', () => {
  expect(BASE_BYTES / GIB).toBe(0.54);
});

describe('SDXL\'s unet on the lean route', () => {
  it('takes its own measured figure: 16.68 GiB at its size, above what SD 1.5\'s k would say', async () => {
    const { estimateStep, LEAN_UNET_XL, FIGURES } = await import('../../src/budget/estimate.js');
    const { options } = await import('./fixtures.js');
    const sizes = { components: { text_encoder: 246e6, text_encoder_2: 1.39e9, vae: 167e6, unet: 5.135e9 }, controlnets: {}, downloadBytes: 0, stagedBytes: 0 };
    const step = { kind: 'torch2coreml' as const, label: 'Convert unet', convert: ['unet' as const], controlnets: [], refiner: false, checkCorrectness: false, quantize: false, chunkUnet: false, bundle: false, lean: true };
    const xl = estimateStep(step, options({ xlVersion: true }), sizes, 'lean');
    expect((xl.peakBytes ?? 0) / 1024 ** 3).toBeCloseTo(16.68, 1);
    expect(xl.basis).toContain(LEAN_UNET_XL.source);
    expect(LEAN_UNET_XL.k).toBeGreaterThan(FIGURES.lean.unet.k);
    // The same unet without xl-version (an SD 2.x-sized guess) keeps SD 1.5's figure.
    expect(estimateStep(step, options({ xlVersion: false }), sizes, 'lean').peakBytes).toBeLessThan(xl.peakBytes ?? 0);
  });
});

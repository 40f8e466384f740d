// makePlan + stepArguments: the converter processes a configuration runs, as argv arrays.
// Expectations come from torch2coreml's order of work and flags (shared/reference/torch2coreml.md).
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makePlan, type Step } from '../../src/plan/plan.js';
import { QUANTIZE_BUNDLE_ENTRY, stepArguments } from '../../src/converter/commands.js';
import type { ConversionOptions } from '../../src/config.js';
import { parseInputs } from '../../src/inputs/parse.js';
import { ACTION_ROOT, HUB_MODEL, OUT, ROOT, ctx, options, raw } from './fixtures.js';

const CONVERT_MODULE = 'python_coreml_stable_diffusion.torch2coreml';
const CHUNK_MODULE = 'python_coreml_stable_diffusion.chunk_mlprogram';
const REFINER = 'stabilityai/stable-diffusion-xl-refiner-1.0';
const SDXL = 'stabilityai/stable-diffusion-xl-base-1.0';
const CN_A = 'lllyasviel/sd-controlnet-mlsd';
const CN_B = 'lllyasviel/control_v11p_sd15_canny';

/** The bool --convert-* switches torch2coreml has (--convert-controlnet takes ids). */
const PART_SWITCHES = [
  '--convert-text-encoder',
  '--convert-vae-decoder',
  '--convert-vae-encoder',
  '--convert-unet',
  '--convert-safety-checker',
  '--convert-mmdit',
];

interface Process {
  step: Step;
  argv: string[];
}

function processes(o: ConversionOptions, processPerComponent: boolean): Process[] {
  return makePlan(o, processPerComponent).map((step) => ({ step, argv: stepArguments(step, o) }));
}

/** The action's python/quantize_bundle.py, which takes torch2coreml's flags (see options()). */
const ENTRY = `${ACTION_ROOT}/python/quantize_bundle.py`;
const isConvert = (p: Process) => p.argv[0] === '-m' && p.argv[1] === CONVERT_MODULE;
const isEntry = (p: Process) => p.argv[0] === ENTRY;
/** A process given torch2coreml's command line: the module itself, or the entry. */
const takesConverterFlags = (p: Process) => isConvert(p) || isEntry(p);
const isChunk = (p: Process) => p.argv[0] === '-m' && p.argv[1] === CHUNK_MODULE;
/** The action's python/parity.py: the check of a converted part, in a process of its own. */
const PARITY = `${ACTION_ROOT}/python/parity.py`;
const isParity = (p: Process) => p.argv[0] === PARITY;
/** The processes that are no parity check. */
const noParity = (ps: Process[]) => ps.filter((p) => !isParity(p));

/** The value after a flag, or undefined. */
function valueOf(argv: string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i < 0 ? undefined : argv[i + 1];
}

/** The ids after --convert-controlnet (nargs="*": up to the next flag). */
function controlnetIds(argv: string[]): string[] {
  const i = argv.indexOf('--convert-controlnet');
  if (i < 0) return [];
  const ids: string[] = [];
  for (let j = i + 1; j < argv.length && !argv[j]!.startsWith('-'); j++) ids.push(argv[j]!);
  return ids;
}

const partSwitches = (argv: string[]) => argv.filter((a) => PART_SWITCHES.includes(a));
const quantizes = (p: Process) => p.argv.includes('--quantize-nbits');
const bundles = (p: Process) => p.argv.includes('--bundle-resources-for-swift-cli');

/**
 * What a torch2coreml process converts afresh, in upstream's terms. A process that quantizes or
 * bundles converts nothing new: the ControlNet ids it carries name packages that already exist
 * (upstream skips existing packages), and it carries no part switch.
 */
function converts(p: Process): string[] {
  if (!takesConverterFlags(p) || quantizes(p) || bundles(p)) return [];
  if (p.argv.includes('--refiner-version')) return ['refiner']; // the base unet exists by then and is skipped
  const part = (s: string) => s.replace('--convert-', '').replaceAll('-', '_');
  return [...partSwitches(p.argv).map(part), ...controlnetIds(p.argv).map((id) => `controlnet:${id}`)];
}

function unetPackage(model: string, part: string): string {
  return `${OUT}/Stable_Diffusion_version_${model.replaceAll('/', '_')}_${part}.mlpackage`;
}

const everything = options({
  parts: ['text_encoder', 'vae_decoder', 'vae_encoder', 'unet', 'safety_checker'],
  controlnets: [CN_A, CN_B],
  quantizeNbits: 6,
  chunkUnet: true,
});

describe('per-component plans', () => {
  it('default parts: one process each in upstream order, each followed by its parity check, then the bundle', () => {
    const ps = processes(options(), true);
    expect(ps.map((p) => (isParity(p) ? `check ${valueOf(p.argv, '--parity-part')}` : converts(p)))).toEqual([
      ['vae_decoder'],
      'check vae_decoder',
      ['unet'],
      'check unet',
      ['text_encoder'],
      'check text_encoder',
      [],
    ]);
    expect(bundles(ps.at(-1)!)).toBe(true);
  });

  it('every part in its own process, in upstream order (vae_decoder, vae_encoder, controlnets, unet, text_encoder, safety_checker, refiner)', () => {
    const o = options({ ...everything, xlVersion: true, modelVersion: SDXL, refinerVersion: REFINER, controlnets: [CN_A, CN_B] });
    const ps = processes(o, true);
    const converting = ps.filter((p) => converts(p).length > 0);
    converting.forEach((p) => expect(converts(p), p.argv.join(' ')).toHaveLength(1));
    expect(converting.map((p) => converts(p)[0])).toEqual([
      'vae_decoder',
      'vae_encoder',
      `controlnet:${CN_A}`,
      `controlnet:${CN_B}`,
      'unet',
      'text_encoder',
      'safety_checker',
      'refiner',
    ]);
  });

  it('SD3: the MMDiT comes after the other parts', () => {
    const o = options({ parts: ['mmdit', 'text_encoder', 'vae_decoder'], sd3Version: true, modelVersion: 'stabilityai/stable-diffusion-3-medium' });
    const converting = processes(o, true).filter((p) => converts(p).length > 0);
    expect(converting.map((p) => converts(p))).toEqual([['vae_decoder'], ['text_encoder'], ['mmdit']]);
    for (const p of converting) expect(p.argv).toContain('--sd3-version');
  });

  // Upstream converts ControlNets after the VAEs and before the text encoder whether or not the
  // unet is converted; the plan appends them after every part when the unet is not selected.
  // Harmless in separate processes, but not the upstream order the plan promises.
  it('ControlNets without a unet: still between the VAEs and the text encoder', () => {
    const o = options({ parts: ['text_encoder', 'vae_decoder'], controlnets: [CN_A] });
    const converting = processes(o, true).filter((p) => converts(p).length > 0);
    expect(converting.map((p) => converts(p))).toEqual([['vae_decoder'], [`controlnet:${CN_A}`], ['text_encoder']]);
  });

  it('ControlNets without a unet still get one process each', () => {
    const o = options({ parts: [], controlnets: [CN_A, CN_B] });
    const converting = processes(o, true).filter((p) => converts(p).length > 0);
    expect(converting.map((p) => converts(p))).toEqual([[`controlnet:${CN_A}`], [`controlnet:${CN_B}`]]);
  });

  for (const [title, o] of [
    ['everything, quantized and chunked', everything],
    ['SDXL with a refiner', options({ ...everything, modelVersion: SDXL, xlVersion: true, refinerVersion: REFINER })],
    ['control-unet', options({ ...everything, unetSupportControlnet: true })],
  ] as const) {
    it(`${title}: no part switch appears twice except the refiner's --convert-unet after the unet's`, () => {
      const ps = noParity(processes(o, true));
      const all = ps.filter((p) => !p.argv.includes('--refiner-version')).flatMap((p) => partSwitches(p.argv));
      expect(all.length).toBe(new Set(all).size);
      const refinerAt = ps.findIndex((p) => p.argv.includes('--refiner-version'));
      if (refinerAt >= 0) {
        expect(partSwitches(ps[refinerAt]!.argv)).toEqual(['--convert-unet']);
        expect(ps.findIndex((p) => partSwitches(p.argv).includes('--convert-unet'))).toBeLessThan(refinerAt);
      }
    });

    it(`${title}: each ControlNet is converted by one process; later ones only quantize or bundle it`, () => {
      const ps = processes(o, true);
      for (const id of o.controlnets) {
        const carrying = ps.map((p, i) => ({ p, i })).filter(({ p }) => controlnetIds(p.argv).includes(id));
        const converting = carrying.filter(({ p }) => !quantizes(p) && !bundles(p));
        expect(converting, id).toHaveLength(1);
        expect(controlnetIds(converting[0]!.p.argv)).toEqual([id]);
        for (const { p, i } of carrying.filter((c) => c !== converting[0])) {
          expect(quantizes(p) || bundles(p)).toBe(true);
          expect(i).toBeGreaterThan(converting[0]!.i);
        }
      }
    });
  }

  it('exactly one process quantizes, after every conversion, and it converts nothing', () => {
    const o = options({ ...everything, modelVersion: SDXL, xlVersion: true, refinerVersion: REFINER });
    const ps = processes(o, true);
    const q = ps.map((p, i) => ({ p, i })).filter(({ p }) => quantizes(p));
    expect(q).toHaveLength(1);
    expect(valueOf(q[0]!.p.argv, '--quantize-nbits')).toBe('6');
    expect(partSwitches(q[0]!.p.argv)).toEqual([]);
    const lastConvert = Math.max(...ps.map((p, i) => (converts(p).length > 0 ? i : -1)));
    expect(q[0]!.i).toBeGreaterThan(lastConvert);
  });

  it('quantize + chunk: chunks come from chunk_mlprogram after the quantize process; no torch2coreml process chunks', () => {
    const ps = processes(everything, true);
    expect(ps.filter((p) => p.argv.includes('--chunk-unet'))).toEqual([]);
    const quantizeAt = ps.findIndex(quantizes);
    const chunkAt = ps.map((p, i) => (isChunk(p) ? i : -1)).filter((i) => i >= 0);
    expect(chunkAt).toHaveLength(1);
    expect(chunkAt[0]).toBeGreaterThan(quantizeAt);
  });

  it('chunking without quantization still runs as chunk_mlprogram after the unet process', () => {
    const ps = processes(options({ chunkUnet: true }), true);
    expect(ps.filter((p) => p.argv.includes('--chunk-unet'))).toEqual([]);
    const unetAt = ps.findIndex((p) => partSwitches(p.argv).includes('--convert-unet'));
    const chunkAt = ps.findIndex(isChunk);
    expect(chunkAt).toBeGreaterThan(unetAt);
  });

  it('bundles once, in the last process', () => {
    for (const o of [options(), everything, options({ ...everything, refinerVersion: REFINER, xlVersion: true })]) {
      const ps = processes(o, true);
      expect(ps.filter(bundles)).toHaveLength(1);
      expect(bundles(ps.at(-1)!)).toBe(true);
      expect(partSwitches(ps.at(-1)!.argv)).toEqual([]);
    }
  });

  it('does not bundle when bundle-resources-for-swift-cli is false', () => {
    const ps = processes(options({ ...everything, bundleResources: false }), true);
    expect(ps.filter(bundles)).toEqual([]);
    expect(isChunk(ps.at(-1)!)).toBe(true);
  });

  it('ControlNet ids reach the quantize and the bundle processes', () => {
    const ps = processes(everything, true);
    expect(controlnetIds(ps.find(quantizes)!.argv)).toEqual([CN_A, CN_B]);
    expect(controlnetIds(ps.find(bundles)!.argv)).toEqual([CN_A, CN_B]);
  });

  it('refiner: its own process with --convert-unet --refiner-version, and chunked too', () => {
    const o = options({ modelVersion: SDXL, xlVersion: true, refinerVersion: REFINER, chunkUnet: true, parts: ['text_encoder', 'vae_decoder', 'unet'] });
    const ps = noParity(processes(o, true));
    const refiner = ps.filter((p) => p.argv.includes('--refiner-version'));
    expect(refiner).toHaveLength(1);
    expect(valueOf(refiner[0]!.argv, '--refiner-version')).toBe(REFINER);
    expect(refiner[0]!.argv).toContain('--convert-unet');
    // The refiner package is named after the BASE model version.
    expect(ps.filter(isChunk).map((p) => valueOf(p.argv, '--mlpackage-path'))).toEqual([
      unetPackage(SDXL, 'unet'),
      unetPackage(SDXL, 'refiner'),
    ]);
    // Only the refiner process passes --refiner-version: the others would load the refiner pipeline too.
    expect(ps.filter((p) => p.argv.includes('--refiner-version'))).toHaveLength(1);
  });

  it('unet-support-controlnet: the chunk process splits the control-unet package', () => {
    const ps = processes(options({ unetSupportControlnet: true, chunkUnet: true }), true);
    expect(ps.filter(isChunk).map((p) => valueOf(p.argv, '--mlpackage-path'))).toEqual([unetPackage(HUB_MODEL, 'control-unet')]);
  });

  it('the parity check: a process of its own after each part parity.py covers, in-process for the others and the chunks, nowhere when not asked', () => {
    const on = processes(everything, true);
    const covered = ['vae_decoder', 'vae_encoder', 'unet', 'text_encoder'];
    for (const [i, p] of on.entries()) {
      const part = converts(p);
      if (part.length === 0) continue;
      const apart = covered.includes(part[0]!);
      expect(p.argv.includes('--check-output-correctness'), part[0]).toBe(!apart);
      if (apart) {
        expect(isParity(on[i + 1]!), part[0]).toBe(true);
        expect(valueOf(on[i + 1]!.argv, '--parity-part')).toBe(part[0]);
      }
    }
    expect(on.filter(isParity).map((p) => valueOf(p.argv, '--parity-part'))).toEqual(['vae_decoder', 'vae_encoder', 'unet', 'text_encoder']);
    for (const p of on.filter(isChunk)) expect(p.argv).toContain('--check-output-correctness');
    const off = processes(options({ ...everything, checkOutputCorrectness: false }), true);
    expect(off.filter((p) => p.argv.includes('--check-output-correctness') || isParity(p))).toEqual([]);
  });

  it('not covered by parity.py: the control-unet and SD3 keep the check in the converter', () => {
    for (const o of [
      options({ unetSupportControlnet: true, parts: ['unet'] }),
      options({ parts: ['mmdit', 'text_encoder', 'vae_decoder'], sd3Version: true, modelVersion: 'stabilityai/stable-diffusion-3-medium' }),
    ]) {
      const ps = processes(o, true);
      expect(ps.filter(isParity)).toEqual([]);
      for (const p of ps.filter((p) => converts(p).length > 0)) expect(p.argv).toContain('--check-output-correctness');
    }
  });

  it('the refiner is checked after its own process, the base unet after its own', () => {
    const o = options({ modelVersion: SDXL, xlVersion: true, refinerVersion: REFINER, parts: ['unet'] });
    const ps = processes(o, true);
    expect(ps.map((p) => (isParity(p) ? `check ${valueOf(p.argv, '--parity-part')}` : converts(p)))).toEqual([['unet'], 'check unet', ['refiner'], 'check refiner', []]);
    const refinerCheck = ps[3]!;
    expect(valueOf(refinerCheck.argv, '--refiner-version')).toBe(REFINER);
    expect(ps[1]!.argv).not.toContain('--refiner-version');
  });
});

describe('single-process plans', () => {
  it('without quantization: one process converts everything, chunks and bundles', () => {
    const o = options({ chunkUnet: true, controlnets: [CN_A] });
    const ps = processes(o, false);
    expect(ps).toHaveLength(1);
    const argv = ps[0]!.argv;
    expect(partSwitches(argv).sort()).toEqual(['--convert-text-encoder', '--convert-unet', '--convert-vae-decoder']);
    expect(controlnetIds(argv)).toEqual([CN_A]);
    expect(argv).toContain('--chunk-unet');
    expect(argv).toContain('--bundle-resources-for-swift-cli');
    expect(argv).not.toContain('--quantize-nbits');
  });

  // Quantization always gets its own process, so that a rerun can keep quantized packages out of it.
  it('quantized but not chunked: converts, then quantizes, then bundles, one process each', () => {
    const ps = noParity(processes(options({ quantizeNbits: 4 }), false));
    expect(ps).toHaveLength(3);
    const [convert, quantize, bundle] = ps as [Process, Process, Process];
    expect(partSwitches(convert.argv)).toHaveLength(3);
    expect(quantizes(convert) || bundles(convert)).toBe(false);
    expect(valueOf(quantize.argv, '--quantize-nbits')).toBe('4');
    expect(partSwitches(quantize.argv)).toEqual([]);
    expect(bundles(bundle) && !quantizes(bundle)).toBe(true);
  });

  it('quantize + chunk: convert and quantize, then chunk the quantized unet, then bundle', () => {
    const o = options({ quantizeNbits: 6, chunkUnet: true, controlnets: [CN_A] });
    const ps = processes(o, false);
    expect(ps).toHaveLength(4);
    const [convert, quantize, chunk, bundle] = ps as [Process, Process, Process, Process];
    expect(isConvert(convert) && !quantizes(convert)).toBe(true);
    expect(partSwitches(convert.argv).length).toBe(3);
    expect(convert.argv).not.toContain('--chunk-unet');
    expect(bundles(convert)).toBe(false);
    expect(quantizes(quantize) && partSwitches(quantize.argv).length === 0).toBe(true);
    expect(isChunk(chunk)).toBe(true);
    expect(valueOf(chunk.argv, '--mlpackage-path')).toBe(unetPackage(HUB_MODEL, 'unet'));
    expect(isEntry(quantize) && isEntry(bundle)).toBe(true);
    expect(bundles(bundle) && !quantizes(bundle)).toBe(true);
    expect(partSwitches(bundle.argv)).toEqual([]);
    expect(controlnetIds(bundle.argv)).toEqual([CN_A]);
  });

  it('with a refiner: the one process passes --refiner-version', () => {
    const o = options({ modelVersion: SDXL, xlVersion: true, refinerVersion: REFINER });
    const ps = noParity(processes(o, false));
    expect(ps.filter((p) => converts(p).length > 0)).toHaveLength(1);
    expect(valueOf(ps[0]!.argv, '--refiner-version')).toBe(REFINER);
  });

  it('every part parity.py covers: the one process checks nothing itself; a check per part follows, then chunking and bundling', () => {
    const o = options({ modelVersion: SDXL, xlVersion: true, refinerVersion: REFINER, chunkUnet: true });
    const ps = processes(o, false);
    expect(ps[0]!.argv).not.toContain('--check-output-correctness');
    expect(ps[0]!.argv).not.toContain('--chunk-unet');
    expect(bundles(ps[0]!)).toBe(false);
    expect(ps.slice(1, 5).map((p) => isParity(p) && valueOf(p.argv, '--parity-part'))).toEqual(['vae_decoder', 'unet', 'text_encoder', 'refiner']);
    expect(ps.slice(5).map((p) => (isChunk(p) ? 'chunk' : bundles(p) ? 'bundle' : '?'))).toEqual(['chunk', 'chunk', 'bundle']);
  });

  it('a part parity.py does not cover (a ControlNet, the safety checker): the one process checks every part itself', () => {
    for (const o of [options({ controlnets: [CN_A] }), options({ parts: ['unet', 'safety_checker'] })]) {
      const ps = processes(o, false);
      expect(ps.filter(isParity)).toEqual([]);
      expect(ps[0]!.argv).toContain('--check-output-correctness');
    }
  });
});

describe('stepArguments', () => {
  const o = options({
    modelVersion: SDXL,
    xlVersion: true,
    latentH: 128,
    latentW: 96,
    customVaeVersion: 'madebyollin/sdxl-vae-fp16-fix',
    outputDir: '/Users/runner/work/my repo/models; rm -rf ~',
    extraArgs: ['--some-new-flag', "value with spaces and 'quotes'"],
    urls: { vocabulary: 'https://example.com/vocab.json?a=1&b=2' },
    quantizeNbits: 6,
    chunkUnet: true,
  });
  const ps = processes(o, true);

  it('every element is a plain string, passed as given with no shell quoting', () => {
    for (const p of ps) for (const a of p.argv) expect(typeof a).toBe('string');
    for (const p of ps) expect(valueOf(p.argv, '-o')).toBe(o.outputDir);
    const bundle = ps.find(bundles)!;
    expect(valueOf(bundle.argv, '--text-encoder-vocabulary-url')).toBe('https://example.com/vocab.json?a=1&b=2');
  });

  it('every torch2coreml process loads the pipeline the same way and names outputs the same way', () => {
    expect(ps.filter(isEntry).length).toBe(2);
    for (const p of ps.filter(takesConverterFlags)) {
      expect(valueOf(p.argv, '--model-version')).toBe(SDXL);
      expect(valueOf(p.argv, '-o')).toBe(o.outputDir);
      expect(valueOf(p.argv, '--compute-unit')).toBe('CPU_AND_NE');
      expect(valueOf(p.argv, '--attention-implementation')).toBe('SPLIT_EINSUM_V2');
      expect(valueOf(p.argv, '--min-deployment-target')).toBe('iOS17');
      expect(valueOf(p.argv, '--custom-vae-version')).toBe('madebyollin/sdxl-vae-fp16-fix');
      expect(valueOf(p.argv, '--latent-h')).toBe('128');
      expect(valueOf(p.argv, '--latent-w')).toBe('96');
      expect(p.argv).toContain('--xl-version');
    }
  });

  it('extra-args end every torch2coreml process and no chunk process', () => {
    for (const p of ps.filter(takesConverterFlags)) expect(p.argv.slice(-2)).toEqual(o.extraArgs);
    const chunks = ps.filter(isChunk);
    expect(chunks.length).toBeGreaterThan(0);
    for (const p of chunks) for (const a of o.extraArgs) expect(p.argv).not.toContain(a);
  });

  it('the chunk process: -m chunk_mlprogram --mlpackage-path <unet package> -o <output dir>', () => {
    const chunk = ps.find(isChunk)!;
    expect(chunk.argv.slice(0, 2)).toEqual(['-m', CHUNK_MODULE]);
    // Every `/` of the whole name becomes `_`: the output folder is joined, not part of the name.
    expect(valueOf(chunk.argv, '--mlpackage-path')).toBe(
      `${o.outputDir}/Stable_Diffusion_version_stabilityai_stable-diffusion-xl-base-1.0_unet.mlpackage`,
    );
    expect(valueOf(chunk.argv, '-o')).toBe(o.outputDir);
    // chunk_mlprogram's parser knows none of torch2coreml's flags.
    expect(chunk.argv).not.toContain('--model-version');
    expect(chunk.argv).not.toContain('--chunk-unet');
  });

  it('tokenizer URLs and T5 go to the bundling process only', () => {
    const t5 = options({ ...o, includeT5: true, sd3Version: true, xlVersion: false, urls: { t5: 'https://example.com/t5.zip' } });
    const t5ps = processes(t5, true);
    for (const p of t5ps) {
      const withBundle = bundles(p);
      expect(p.argv.includes('--include-t5')).toBe(withBundle);
      expect(p.argv.includes('--text-encoder-t5-url')).toBe(withBundle);
    }
  });

  it('passes no value flag for an option left to the converter', () => {
    const plain = processes(options(), true);
    for (const p of plain) {
      for (const flag of ['--latent-h', '--latent-w', '--custom-vae-version', '--refiner-version', '--quantize-nbits', '--text-encoder-vocabulary-url']) {
        expect(p.argv).not.toContain(flag);
      }
    }
  });
});

describe('quantize and bundle processes load no pipeline (python/quantize_bundle.py)', () => {
  const withBoth = options({ ...everything, modelVersion: SDXL, xlVersion: true, refinerVersion: REFINER, controlnets: [], extraArgs: ['--x'] });

  it.each([
    ['per component', true],
    ['one process', false],
  ] as const)('%s: the quantize and bundle processes run the entry with the flags torch2coreml would get', (_name, perComponent) => {
    const ps = processes(withBoth, perComponent);
    const quantize = ps.find(quantizes)!;
    const bundle = ps.find(bundles)!;
    const shared = ['--model-version', SDXL, '--compute-unit', 'CPU_AND_NE', '--attention-implementation', 'SPLIT_EINSUM_V2', '--min-deployment-target', 'iOS17', '--xl-version', '-o', OUT];
    // With check-output-correctness (on in these options) the entry also checks each package it quantizes.
    expect(quantize.argv).toEqual([ENTRY, ...shared, '--check-output-correctness', '--quantize-nbits', '6', '--x']);
    expect(bundle.argv).toEqual([ENTRY, ...shared, '--bundle-resources-for-swift-cli', '--x']);
  });

  it('the entry never gets a conversion: part switches and --refiner-version stay with -m torch2coreml', () => {
    for (const perComponent of [true, false]) {
      const ps = processes(withBoth, perComponent);
      for (const p of ps.filter(isEntry)) {
        expect(partSwitches(p.argv)).toEqual([]);
        expect(p.argv).not.toContain('--refiner-version');
        expect(quantizes(p) || bundles(p)).toBe(true);
      }
      for (const p of ps.filter(isConvert)) expect(partSwitches(p.argv).length + controlnetIds(p.argv).length).toBeGreaterThan(0);
      expect(ps.filter(isConvert).length + ps.filter(isEntry).length + ps.filter(isChunk).length + ps.filter(isParity).length).toBe(ps.length);
    }
  });

  it('ControlNet ids go to the entry, which names their packages by them', () => {
    const ps = processes(options({ quantizeNbits: 6, controlnets: [CN_A, CN_B] }), true);
    for (const p of ps.filter(isEntry)) expect(controlnetIds(p.argv)).toEqual([CN_A, CN_B]);
    expect(ps.filter(isEntry)).toHaveLength(2);
  });

  it('the entry is the one shipped in python/, found below the action root', () => {
    expect(existsSync(path.join(ROOT, QUANTIZE_BUNDLE_ENTRY))).toBe(true);
    expect(parseInputs(raw(), ctx()).config?.conversion.quantizeBundleEntry).toBe(ENTRY);
  });

  it('a process that converts and bundles (one process, nothing quantized or chunked or checked after it) keeps -m torch2coreml', () => {
    const ps = processes(options({ checkOutputCorrectness: false }), false);
    expect(ps).toHaveLength(1);
    expect(isConvert(ps[0]!) && bundles(ps[0]!)).toBe(true);
  });
});

describe('parity processes (python/parity.py)', () => {
  it('take the converter flags every process gets, the part switch, and their own flags', () => {
    const o = options({ modelVersion: SDXL, xlVersion: true, latentH: 96, refinerVersion: REFINER, extraArgs: ['--x'], checkComputeUnit: 'CPU_AND_GPU' });
    const ps = processes(o, true).filter(isParity);
    const shared = ['--model-version', SDXL, '--compute-unit', 'CPU_AND_NE', '--latent-h', '96', '--attention-implementation', 'SPLIT_EINSUM_V2', '--min-deployment-target', 'iOS17', '--xl-version', '-o', OUT];
    expect(ps.map((p) => p.argv)).toEqual([
      [PARITY, ...shared, '--convert-vae-decoder', '--x', '--parity-part', 'vae_decoder', '--check-compute-unit', 'CPU_AND_GPU'],
      [PARITY, ...shared, '--convert-unet', '--x', '--parity-part', 'unet', '--check-compute-unit', 'CPU_AND_GPU'],
      [PARITY, ...shared, '--convert-text-encoder', '--x', '--parity-part', 'text_encoder', '--check-compute-unit', 'CPU_AND_GPU'],
      [PARITY, ...shared, '--convert-unet', '--refiner-version', REFINER, '--x', '--parity-part', 'refiner', '--check-compute-unit', 'CPU_AND_GPU'],
    ]);
    // parity.py parses the converter's command line: it gets no --check-output-correctness and converts nothing.
    for (const p of ps) expect(p.argv).not.toContain('--check-output-correctness');
  });

  it('the entry is the one shipped in python/, and check-compute-unit defaults to CPU_ONLY unless the runner is self-hosted', () => {
    expect(existsSync(path.join(ROOT, 'python/parity.py'))).toBe(true);
    const read = (inputs: Record<string, string>, env: Record<string, string>) => parseInputs(raw(inputs), ctx({ env })).config?.conversion;
    expect(read({}, {})?.parityEntry).toBe(PARITY);
    expect(read({ 'compute-unit': 'CPU_AND_NE' }, {})?.checkComputeUnit).toBe('CPU_ONLY');
    expect(read({ 'compute-unit': 'CPU_AND_NE' }, { RUNNER_ENVIRONMENT: 'github-hosted' })?.checkComputeUnit).toBe('CPU_ONLY');
    expect(read({ 'compute-unit': 'CPU_AND_NE' }, { RUNNER_ENVIRONMENT: 'self-hosted' })?.checkComputeUnit).toBe('CPU_AND_NE');
    expect(read({ 'check-compute-unit': 'ALL' }, { RUNNER_ENVIRONMENT: 'github-hosted' })?.checkComputeUnit).toBe('ALL');
    const bad = parseInputs(raw({ 'check-compute-unit': 'GPU' }), ctx());
    expect(bad.config).toBeUndefined();
    expect(bad.errors.join('\n')).toMatch(/`check-compute-unit`/);
  });

  it('CPU_AND_NE for the check is a warning unless the runner says it is self-hosted', () => {
    const warned = (inputs: Record<string, string>, env: Record<string, string>) =>
      parseInputs(raw(inputs), ctx({ env })).warnings.filter((w) => w.startsWith('Input `check-compute-unit`'));
    expect(warned({ 'check-compute-unit': 'CPU_AND_NE' }, { RUNNER_ENVIRONMENT: 'github-hosted' })[0]).toMatch(/no Neural Engine/);
    expect(warned({ 'check-compute-unit': 'CPU_AND_NE' }, {})).toHaveLength(1);
    expect(warned({ 'check-compute-unit': 'CPU_AND_NE' }, { RUNNER_ENVIRONMENT: 'self-hosted' })).toEqual([]);
    expect(warned({ 'compute-unit': 'CPU_AND_NE' }, { RUNNER_ENVIRONMENT: 'github-hosted' })).toEqual([]); // the converter's own compute unit no longer runs the check
    expect(warned({ 'check-compute-unit': 'CPU_AND_NE', 'check-output-correctness': 'false' }, {})).toEqual([]);
  });
});

describe('lean-conversion: one part per process through python/lean_convert.py', () => {
  const LEAN = `${ACTION_ROOT}/python/lean_convert.py`;
  const isLean = (p: Process) => p.argv[0] === LEAN;
  const lean = (o: Partial<ConversionOptions> = {}) => options({ leanConversion: true, ...o });
  const ALL_PARTS: ConversionOptions['parts'] = ['text_encoder', 'vae_decoder', 'vae_encoder', 'unet', 'safety_checker'];

  it('runs the text encoder, VAE decoder and encoder and unet lean, each with the flags the command line would get', () => {
    const leanPs = processes(lean({ parts: ALL_PARTS }), true);
    const cliPs = processes(options({ parts: ALL_PARTS }), true);
    expect(leanPs.map((p) => p.step.label)).toEqual(cliPs.map((p) => p.step.label));
    const byLabel = new Map(leanPs.map((p) => [p.step.label, p]));
    expect(leanPs.filter(isLean).map((p) => p.step.label)).toEqual(['Convert vae_decoder', 'Convert vae_encoder', 'Convert unet', 'Convert text_encoder']);
    for (const cli of cliPs) {
      const same = byLabel.get(cli.step.label)!;
      // Only what runs them differs: the entry in place of `-m torch2coreml`.
      if (isLean(same)) expect(same.argv.slice(1)).toEqual(cli.argv.slice(2));
      else expect(same.argv).toEqual(cli.argv);
    }
  });

  it('keeps the command line for the safety checker, ControlNets, the refiner and SD3', () => {
    const ps = processes(lean({ parts: ALL_PARTS, controlnets: [CN_A], refinerVersion: REFINER }), true);
    const routes = Object.fromEntries(ps.map((p) => [p.step.label, isLean(p) ? 'lean' : isConvert(p) ? 'cli' : 'other']));
    expect(routes).toMatchObject({
      'Convert safety_checker': 'cli',
      [`Convert ControlNet ${CN_A}`]: 'cli',
      'Convert refiner': 'cli',
      'Convert unet': 'lean',
    });
    const sd3 = processes(lean({ sd3Version: true, parts: ['text_encoder', 'vae_decoder', 'mmdit'] }), true);
    expect(sd3.filter(isLean)).toEqual([]);
  });

  it('runs the control-unet lean (convert_unet with --unet-support-controlnet)', () => {
    const ps = processes(lean({ parts: ['unet'], unetSupportControlnet: true, bundleResources: false }), true);
    expect(ps).toHaveLength(1);
    expect(isLean(ps[0]!)).toBe(true);
    expect(ps[0]!.argv).toEqual(expect.arrayContaining(['--convert-unet', '--unet-support-controlnet']));
  });

  it('keeps the command line for every process when off, and for the one process of process-per-component false', () => {
    expect(processes(options({ parts: ALL_PARTS }), true).filter(isLean)).toEqual([]);
    const one = processes(lean({ parts: ['unet'], checkOutputCorrectness: false }), false);
    expect(one).toHaveLength(1);
    expect(isConvert(one[0]!)).toBe(true);
  });

  it('never sends quantizing, chunking or bundling to the lean entry', () => {
    const ps = processes(lean({ quantizeNbits: 6, chunkUnet: true }), true);
    for (const p of ps.filter(isLean)) {
      expect(p.argv).not.toContain('--quantize-nbits');
      expect(p.argv).not.toContain('--chunk-unet');
      expect(p.argv).not.toContain('--bundle-resources-for-swift-cli');
      expect(partSwitches(p.argv)).toHaveLength(1);
    }
    expect(ps.filter(isLean)).toHaveLength(3);
  });

  it('is the default, and the entry is the one shipped in python/', () => {
    expect(existsSync(path.join(ROOT, 'python/lean_convert.py'))).toBe(true);
    const c = parseInputs(raw(), ctx()).config!;
    expect(c.conversion.leanConversion).toBe(true);
    expect(c.conversion.leanConvertEntry).toBe(LEAN);
    expect(parseInputs(raw({ 'lean-conversion': 'false' }), ctx()).config?.conversion.leanConversion).toBe(false);
  });

  it('names the input when lean-conversion is not a boolean', () => {
    const { errors } = parseInputs(raw({ 'lean-conversion': 'sometimes' }), ctx());
    expect(errors.join('\n')).toMatch(/lean-conversion/);
  });
});

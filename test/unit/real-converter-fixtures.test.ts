// What Apple's torch2coreml really printed and wrote on tiny pipelines (test/fixtures/real-converter,
// see its README), read by the action's own code: the plan's commands, the log parser, the package
// names, and the snapshots the failed-step cleanup and the quantize bookkeeping rely on.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { afterAll, describe, expect, it } from 'vitest';
import { LEAN_CONVERT_ENTRY, QUANTIZE_BUNDLE_ENTRY, needsNoPipeline, runsLean, stepArguments } from '../../src/converter/commands.js';
import { diagnose } from '../../src/converter/diagnose.js';
import { ConverterLogParser, type ConverterEvent, type LogContext } from '../../src/converter/log.js';
import {
  chunkPackageName,
  CHUNK_MODULE,
  CONVERT_MODULE,
  controlNetPackageName,
  packageName,
  quantizedPackages,
} from '../../src/converter/vocabulary.js';
import { diffSnapshots, takeSnapshot } from '../../src/convert/snapshot.js';
import { parseInputs } from '../../src/inputs/parse.js';
import type { InputName } from '../../src/inputs/names.js';
import { makePlan } from '../../src/plan/plan.js';
import { unetPart } from '../../src/converter/order.js';
import { ACTION_ROOT, ctx, raw, ROOT, WORKSPACE } from './fixtures.js';

const DIR = path.join(ROOT, 'test/fixtures/real-converter');

interface Case {
  case: string;
  argv: string[];
  env: Record<string, string>;
  exitCode: number;
  /** The case whose output tree this one started from (null: an empty -o). */
  startsFrom: string | null;
  wallSeconds: number;
  peakRssMiB: number;
}

const CASES = JSON.parse(readFileSync(path.join(DIR, 'cases.json'), 'utf8')) as Case[];
const byName = (name: string): Case => {
  const found = CASES.find((c) => c.case === name);
  if (!found) throw new Error(`cases.json has no ${name}`);
  return found;
};
const fixture = (name: string, ext: 'stdout' | 'stderr' | 'listing' | 'written') => readFileSync(path.join(DIR, `${name}.${ext}`));

const O = 'coreml-models';
const SD = 'tiny/sd';
const SDXL = 'tiny/sdxl';
const CONTROLNET = 'tiny/controlnet';
const pkg = (model: string, part: string) => `${O}/${packageName(model, part)}`;

/** The inputs whose plan holds the case's process, and that step's label. */
/** checkedApart: the case ran the converter's check in its process; the action now plans the same process without it, then python/parity.py. */
const PLANNED: Record<string, { inputs: Partial<Record<InputName, string>>; label: string; checkedApart?: true }> = {};
{
  const sd = { 'model-version': SD, 'check-output-correctness': 'false', 'bundle-resources-for-swift-cli': 'false' };
  const allParts = { ...sd, 'convert-vae-encoder': 'true', 'quantize-nbits': '6', 'chunk-unet': 'true' };
  for (const [name, label] of [
    ['sd-vae-decoder', 'Convert vae_decoder'],
    ['sd-vae-encoder', 'Convert vae_encoder'],
    ['sd-unet', 'Convert unet'],
    ['sd-text-encoder', 'Convert text_encoder'],
    ['sd-quantize-6', 'Quantize to 6 bits'],
    ['sd-quantize-6-entry', 'Quantize to 6 bits'],
    ['sd-quantize-6-chunk', 'Chunk unet'],
  ] as const) {
    PLANNED[name] = { inputs: allParts, label };
  }
  PLANNED['sd-chunk'] = { inputs: { ...sd, 'chunk-unet': 'true' }, label: 'Chunk unet' };
  const xl = { ...sd, 'model-version': SDXL, 'xl-version': 'true', 'convert-vae-decoder': 'false' };
  PLANNED['sdxl-text-encoder'] = { inputs: xl, label: 'Convert text_encoder' };
  PLANNED['sdxl-unet'] = { inputs: xl, label: 'Convert unet' };
  const cn = { ...sd, 'convert-controlnet': CONTROLNET, 'unet-support-controlnet': 'true', 'convert-vae-decoder': 'false', 'convert-text-encoder': 'false' };
  const controlnet = { inputs: cn, label: `Convert ControlNet ${CONTROLNET}` };
  PLANNED['sd-controlnet'] = controlnet;
  PLANNED['sd-controlnet-offline'] = controlnet;
  PLANNED['sd-control-unet'] = { inputs: cn, label: 'Convert control-unet' };
  PLANNED['sd-text-encoder-check'] = {
    inputs: { ...sd, 'check-output-correctness': 'true', 'convert-vae-decoder': 'false', 'convert-unet': 'false' },
    label: 'Convert text_encoder',
    checkedApart: true,
  };
  const oneProcess = { ...sd, 'process-per-component': 'false', 'chunk-unet': 'true', 'convert-vae-decoder': 'false', 'convert-text-encoder': 'false' };
  PLANNED['sd-unet-chunk-unet'] = { inputs: oneProcess, label: 'Convert all parts' };
  PLANNED['sd-unet-again'] = { inputs: oneProcess, label: 'Convert all parts' };
  PLANNED['sd-text-encoder-numpy-2.4.6'] = { inputs: allParts, label: 'Convert text_encoder' };
}

function planned(name: string) {
  const spec = PLANNED[name];
  if (!spec) throw new Error(`no plan for ${name}`);
  // tiny/controlnet is taken as a Hub id, as the converter took it: model_info asked the Hub for its
  // card, then diffusers found the folder of that name in the working directory.
  const parsed = parseInputs(raw(spec.inputs), ctx({ dirs: [SD, SDXL] }));
  if (!parsed.config) throw new Error(parsed.errors.join('\n'));
  const config = parsed.config;
  const step = makePlan(config.conversion, config.processPerComponent).find((s) => s.label === spec.label);
  if (!step) throw new Error(`the plan for ${name} has no step ${spec.label}`);
  return { config, step };
}

/**
 * argparse reads flags in any order: `-m module` (or a script, the action's quantize/bundle entry),
 * then each flag with the values after it.
 */
function flags(argv: string[]): { module: string; flags: Map<string, string[]> } {
  const [first = '', ...afterFirst] = argv;
  const [module = '', ...rest] = first === '-m' ? afterFirst : [first, ...afterFirst];
  expect(first === '-m' || first.endsWith('.py'), first).toBe(true);
  const map = new Map<string, string[]>();
  let current = '';
  for (const token of rest) {
    if (token.startsWith('-')) {
      current = token;
      map.set(current, []);
    } else {
      map.get(current)?.push(token);
    }
  }
  return { module, flags: map };
}

function context(name: string): LogContext {
  const { config, step } = planned(name);
  return { unetPart: unetPart(config.conversion), chunkPart: step.kind === 'chunk' ? step.part : undefined };
}

/** Streams the bytes as a child process would hand them over: 4 KiB reads, UTF-8 split anywhere. */
function events(name: string): ConverterEvent[] {
  const parser = new ConverterLogParser(context(name));
  const decoder = new StringDecoder('utf8');
  const bytes = fixture(name, 'stderr');
  const out: ConverterEvent[] = [];
  for (let i = 0; i < bytes.length; i += 4096) out.push(...parser.push(decoder.write(bytes.subarray(i, i + 4096))));
  out.push(...parser.push(decoder.end()), ...parser.end());
  return out;
}

const converting = (part: string): ConverterEvent => ({ kind: 'converting', part });
const converted = (part: string): ConverterEvent => ({ kind: 'converted', part });
const saved = (p: string): ConverterEvent => ({ kind: 'saved', path: p });
const one = (part: string, model = SD, saveAs = part) => [converting(part), saved(pkg(model, saveAs)), converted(part)];

/** Every event the parser must find in what the real converter printed, in order, and no other. */
const EXPECTED: Record<string, ConverterEvent[]> = {
  'sd-vae-decoder': one('vae_decoder'),
  'sd-vae-encoder': one('vae_encoder'),
  'sd-unet': one('unet'),
  'sd-text-encoder': one('text_encoder'),
  // Upstream heads all five candidates; only the two packages present are rewritten.
  'sd-quantize-6': [{ kind: 'quantizing', part: 'text_encoder' }, { kind: 'quantizing', part: 'unet' }],
  'sd-quantize-6-entry': [{ kind: 'quantizing', part: 'text_encoder' }, { kind: 'quantizing', part: 'unet' }],
  'sd-quantize-6-chunk': [{ kind: 'chunking', part: 'unet' }],
  'sd-chunk': [{ kind: 'chunking', part: 'unet' }],
  'sdxl-text-encoder': [...one('text_encoder', SDXL), ...one('text_encoder_2', SDXL)],
  'sdxl-unet': one('unet', SDXL),
  'sd-controlnet': [converting('controlnet'), saved(`${O}/${controlNetPackageName(CONTROLNET)}`), converted('controlnet')],
  // The control-unet logs as `unet`: the parser leaves the part name as printed, the step knows better.
  'sd-control-unet': one('unet', SD, 'control-unet'),
  'sd-controlnet-offline': [converting('controlnet')],
  'sd-text-encoder-check': [converting('text_encoder'), saved(pkg(SD, 'text_encoder'))],
  'sd-unet-chunk-unet': [
    converting('unet'),
    saved(pkg(SD, 'unet')),
    { kind: 'chunking', part: 'unet' },
    { kind: 'chunking', part: 'unet' },
    converted('unet'),
  ],
  'sd-unet-again': [converting('unet'), { kind: 'skipped', part: 'unet_chunks', path: '' }, converted('unet')],
  'sd-text-encoder-numpy-2.4.6': [converting('text_encoder')],
};

/** Top-level entries of a listing (`<path> <size>` per file, `<dir>/` per folder). */
function listing(name: string): Map<string, number> {
  const files = new Map<string, number>();
  for (const line of fixture(name, 'listing').toString('utf8').split('\n')) {
    if (!line || line.endsWith('/')) continue;
    const cut = line.lastIndexOf(' ');
    files.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return files;
}
const topLevel = (files: Iterable<string>) => [...new Set([...files].map((f) => f.split('/')[0] ?? ''))].sort();

const scratch = mkdtempSync(path.join(tmpdir(), 'real-converter-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Lays a listing out as files of its sizes (sparse), all stamped `stamp` seconds. */
function materialize(dir: string, files: Map<string, number>, stamp: number): void {
  for (const [file, size] of files) {
    const target = path.join(dir, file);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, '');
    truncateSync(target, size);
    utimesSync(target, stamp, stamp);
  }
}

/**
 * Replays one real process on a copy of the tree it started from: files it wrote get the new
 * size and a later mtime, files it did not touch keep theirs; then the action's snapshots.
 */
function replay(name: string) {
  const c = byName(name);
  const dir = mkdtempSync(path.join(scratch, `${name}-`));
  materialize(dir, c.startsFrom ? listing(c.startsFrom) : new Map(), 1_000_000);
  const before = takeSnapshot(dir);
  const after = listing(name);
  const written = new Set(fixture(name, 'written').toString('utf8').split('\n').filter(Boolean));
  for (const file of written) expect(after.has(file), `${name}.written names ${file}, absent from its listing`).toBe(true);
  materialize(dir, new Map([...after].filter(([file]) => written.has(file))), 2_000_000);
  return diffSnapshots(before, takeSnapshot(dir));
}

describe('Apple\'s torch2coreml on tiny pipelines (test/fixtures/real-converter)', () => {
  it('has every fixture file of every case, and each case is accounted for below', () => {
    for (const c of CASES) {
      for (const ext of ['stdout', 'stderr', 'listing', 'written'] as const) expect(() => fixture(c.case, ext)).not.toThrow();
      expect(Object.keys(EXPECTED)).toContain(c.case);
      expect(Object.keys(PLANNED)).toContain(c.case);
    }
    expect(CASES.map((c) => c.case).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(CASES.map((c) => [c.case, c] as const))('%s: the action plans exactly this process', (name, c) => {
    const { config, step } = planned(name);
    // The action passes absolute paths; the runs were made from the workspace with relative ones.
    const argv = stepArguments(step, config.conversion).map((a) => a.replace(`${WORKSPACE}/`, ''));
    // A quantize or bundle case ran `-m torch2coreml` (the pipeline loaded); the action now passes
    // the same flags to its entry, which parses them with the converter's parser_spec().
    const ran = flags(c.argv).flags;
    if (PLANNED[name]?.checkedApart) {
      // The check the case ran in-process (it saved the package, then Core ML failed off macOS) is parity.py's now.
      expect(ran.has('--check-output-correctness')).toBe(true);
      ran.delete('--check-output-correctness');
      const steps = makePlan(config.conversion, config.processPerComponent);
      expect(steps[steps.findIndex((s) => s.label === step.label) + 1]).toMatchObject({ kind: 'parity', part: 'text_encoder' });
    }
    expect(flags(argv).flags).toEqual(ran);
    const runner =
      step.kind === 'chunk' ? CHUNK_MODULE
      : runsLean(step) ? path.join(ACTION_ROOT, LEAN_CONVERT_ENTRY)
      : needsNoPipeline(step) ? path.join(ACTION_ROOT, QUANTIZE_BUNDLE_ENTRY)
      : CONVERT_MODULE;
    expect(flags(argv).module).toBe(runner);
    expect([CHUNK_MODULE, CONVERT_MODULE, QUANTIZE_BUNDLE_ENTRY]).toContain(flags(c.argv).module);
  });

  it.each(CASES.map((c) => [c.case] as const))('%s: the log parser finds what was printed', (name) => {
    expect(events(name)).toEqual(EXPECTED[name]);
  });

  it('prints nothing on stdout: logging, coremltools, tqdm and tracebacks all go to stderr', () => {
    for (const c of CASES) expect(fixture(c.case, 'stdout').length, c.case).toBe(0);
  });

  it('keeps the \\r of the progress bars, with log lines glued to a frame, as the parser is built for', () => {
    const text = fixture('sdxl-unet', 'stderr').toString('utf8');
    expect(text).toMatch(/\r[^\n]*ops\/s\]WARNING:coremltools:/);
    expect(events('sdxl-unet')).toEqual(EXPECTED['sdxl-unet']);
  });

  it('writes exactly the packages the vocabulary names, each with the layout the snapshots read', () => {
    const names: Record<string, string[]> = {
      'sd-text-encoder': ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder'].map((p) => packageName(SD, p)),
      'sd-quantize-6-chunk': [
        ...['text_encoder', 'unet'].map((p) => packageName(SD, p)),
        chunkPackageName(SD, 'unet', 1),
        chunkPackageName(SD, 'unet', 2),
        ...['vae_decoder', 'vae_encoder'].map((p) => packageName(SD, p)),
      ],
      'sdxl-unet': ['text_encoder', 'text_encoder_2', 'unet'].map((p) => packageName(SDXL, p)),
      'sd-control-unet': [controlNetPackageName(CONTROLNET), packageName(SD, 'control-unet')],
      'sd-unet-again': ['unet', 'unet_chunk1', 'unet_chunk2'].map((p) => packageName(SD, p)),
    };
    for (const [name, expected] of Object.entries(names)) {
      const files = listing(name);
      expect(topLevel(files.keys()), name).toEqual([...expected].sort());
      for (const entry of expected) {
        expect(
          [...files.keys()].filter((f) => f.startsWith(`${entry}/`)).map((f) => f.slice(entry.length + 1)).sort(),
          `${name}: ${entry}`,
        ).toEqual(['Data/com.apple.CoreML/model.mlmodel', 'Data/com.apple.CoreML/weights/weight.bin', 'Manifest.json']);
      }
    }
  });

  it('a conversion adds its own package and changes nothing else', () => {
    const own: Record<string, string> = {
      'sd-vae-decoder': packageName(SD, 'vae_decoder'),
      'sd-vae-encoder': packageName(SD, 'vae_encoder'),
      'sd-unet': packageName(SD, 'unet'),
      'sd-text-encoder': packageName(SD, 'text_encoder'),
      'sdxl-unet': packageName(SDXL, 'unet'),
      'sd-controlnet': controlNetPackageName(CONTROLNET),
      'sd-control-unet': packageName(SD, 'control-unet'),
    };
    for (const [name, entry] of Object.entries(own)) expect(replay(name), name).toEqual({ added: [entry], modified: [] });
    expect(replay('sdxl-text-encoder')).toEqual({ added: ['text_encoder', 'text_encoder_2'].map((p) => packageName(SDXL, p)), modified: [] });
  });

  it('quantizing rewrites in place exactly the quantizable packages present, smaller', () => {
    const present = new Set(listing('sd-text-encoder').keys());
    const expected = quantizedPackages(SD, []).filter((p) => topLevel(present).includes(p)).sort();
    expect(expected).toEqual([packageName(SD, 'text_encoder'), packageName(SD, 'unet')]);
    expect(replay('sd-quantize-6')).toEqual({ added: [], modified: expected });
    const weights = (name: string, entry: string) => listing(name).get(`${entry}/Data/com.apple.CoreML/weights/weight.bin`) ?? 0;
    for (const entry of expected) expect(weights('sd-quantize-6', entry)).toBeLessThan(weights('sd-text-encoder', entry));
  });

  it('the action\'s quantize entry (python/quantize_bundle.py) does what the converter did, without loading the pipeline', () => {
    // Same tree before, same files rewritten to the same sizes, the converter's own quantize lines.
    expect(byName('sd-quantize-6-entry').startsFrom).toBe(byName('sd-quantize-6').startsFrom);
    expect(fixture('sd-quantize-6-entry', 'listing').toString('utf8')).toBe(fixture('sd-quantize-6', 'listing').toString('utf8'));
    expect(fixture('sd-quantize-6-entry', 'written').toString('utf8')).toBe(fixture('sd-quantize-6', 'written').toString('utf8'));
    const info = (name: string) => (fixture(name, 'stderr').toString('utf8').match(/INFO:[\w.]+:.*/g) ?? []).map((l) => l.replace(/^INFO:[\w.]+:/, ''));
    expect(info('sd-quantize-6').slice(0, 2)).toEqual(['Initializing DiffusionPipeline with tiny/sd..', 'Done. Pipeline in effect: StableDiffusionPipeline']);
    expect(info('sd-quantize-6-entry').some((l) => l.includes('Pipeline'))).toBe(false);
    expect(info('sd-quantize-6-entry')).toEqual(info('sd-quantize-6').filter((l) => !/weights to 6-bit precision$/.test(l) && /^Quantizing |^Done$|^Skipped quantizing /.test(l)));
    expect(replay('sd-quantize-6-entry')).toEqual(replay('sd-quantize-6'));
  });

  it('chunking adds the two chunks; the unet it reads (only its Manifest.json rewritten) does not count as changed', () => {
    const chunks = { added: [chunkPackageName(SD, 'unet', 1), chunkPackageName(SD, 'unet', 2)], modified: [] };
    for (const name of ['sd-chunk', 'sd-quantize-6-chunk']) {
      expect(fixture(name, 'written').toString('utf8')).toContain(`${packageName(SD, 'unet')}/Manifest.json\n`);
      expect(replay(name), name).toEqual(chunks);
    }
    expect(replay('sd-unet-chunk-unet')).toEqual({ added: [packageName(SD, 'unet'), ...chunks.added], modified: [] });
    expect(replay('sd-unet-again')).toEqual({ added: [], modified: [] });
  });

  it('a failed process: the cleanup removes what it saved before failing, and there is nothing else to remove', () => {
    // --check-output-correctness saves the package, then Core ML's prediction fails (not macOS).
    expect(byName('sd-text-encoder-check').exitCode).toBe(1);
    expect(replay('sd-text-encoder-check')).toEqual({ added: [packageName(SD, 'text_encoder')], modified: [] });
    for (const name of ['sd-controlnet-offline', 'sd-text-encoder-numpy-2.4.6']) {
      expect(byName(name).exitCode).toBe(1);
      expect(replay(name), name).toEqual({ added: [], modified: [] });
    }
  });

  it('a numpy newer than the lock\'s: the diagnosis names the exception coremltools ended on', () => {
    const error = 'TypeError: only 0-dimensional arrays can be converted to Python scalars';
    const lines = fixture('sd-text-encoder-numpy-2.4.6', 'stderr').toString('utf8').split(/\r\n|\r|\n/).filter(Boolean);
    expect(lines.at(-1)).toBe(error);
    expect(diagnose({ exitCode: 1, signal: null, tail: lines.slice(-40) }).title).toBe(`The converter exited with code 1: ${error}`);
  });

  it('asks the Hub for every ControlNet\'s model card, so it cannot convert one offline', () => {
    const c = byName('sd-controlnet-offline');
    expect(c.env).toEqual({ HF_HUB_OFFLINE: '1' });
    const last = fixture(c.case, 'stderr').toString('utf8').trimEnd().split('\n').at(-1);
    expect(last).toBe(
      `huggingface_hub.errors.OfflineModeIsEnabled: Cannot reach https://huggingface.co/api/models/${CONTROLNET}: offline mode is enabled. To disable it, please unset the \`HF_HUB_OFFLINE\` environment variable.`,
    );
  });
});

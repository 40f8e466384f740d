// ConverterLogParser on stderr shaped like torch2coreml's: `LEVEL:logger:message` lines, tqdm frames
// joined by \r with log lines glued to them, and the prefixes upstream reuses across parts.
import { StringDecoder } from 'node:string_decoder';
import { describe, expect, it } from 'vitest';
import { ConverterLogParser, type ConverterEvent, type LogContext } from '../../src/converter/log.js';

const O = '/Users/runner/work/r/r/coreml-models';
const M = 'Stable_Diffusion_version_stabilityai_stable-diffusion-xl-base-1.0';

/** One tqdm frame, as tqdm draws it (no line end: frames are separated by \r). */
function frame(desc: string, n: number, total: number, unit = 'ops/s'): string {
  const pct = Math.floor((n / total) * 100);
  const full = Math.floor(pct / 10);
  const bar = '█'.repeat(full) + ' '.repeat(10 - full);
  return `${desc}: ${String(pct).padStart(3)}%|${bar}| ${n}/${total} [00:0${Math.min(9, full)}<00:00, 3100.52 ${unit}]`;
}

/** A progress bar whose last frame is left without a line end, so the next log line glues to it. */
function bar(desc: string, total: number): string {
  return `\r${frame(desc, 0, total).replace('3100.52 ops/s', '? ops/s').replace('<00:00', '<?')}\r${frame(desc, total / 2, total)}\r${frame(desc, total, total)}`;
}

const info = (message: string) => `INFO:__main__:${message}\n`;
const psnr = (prefix: string, original: string, final: string) =>
  `${prefix}: PSNR changed by ${Number.isFinite(Number(final)) ? (Number(final) - Number(original)).toFixed(1) : 'nan'} dB (${original} -> ${final})`;

/** A single-process SDXL run: VAE, unet (chunked), both text encoders, refiner (chunked), quantize, bundle. */
const SDXL_RUN = [
  'scikit-learn version 1.5.1 is not supported. Minimum required version: 0.17. Maximum required version: 1.1.2. Disabling scikit-learn conversion API.\n',
  info('Initializing DiffusionPipeline with stabilityai/stable-diffusion-xl-base-1.0..'),
  `${bar('Loading pipeline components...', 7)}\n`,
  info('Done. Pipeline in effect: StableDiffusionXLPipeline'),
  info('Attention implementation in effect: AttentionImplementations.ORIGINAL'),
  info('Converting vae_decoder'),
  info('Sample inputs spec: {\'z\': (torch.Size([1, 4, 128, 128]), torch.float32)}'),
  info('Converting vae_decoder to CoreML..'),
  bar('Converting PyTorch Frontend ==> MIL Ops', 7876),
  info(`Saved vae_decoder into ${O}/${M}_vae_decoder.mlpackage`),
  info(psnr('vae_decoder baseline PyTorch to baseline CoreML', '210.4', '65.1')),
  info('65.1 dB > 35 dB (minimum allowed) parity check passed'),
  info('Converted vae_decoder'),
  info('Converting unet'),
  info(psnr('unet baseline to reference PyTorch', '214.9', '64.9')),
  info('64.9 dB > 35 dB (minimum allowed) parity check passed'),
  info('Converting unet to CoreML..'),
  bar('Running MIL default pipeline', 79),
  info(`Saved unet into ${O}/${M}_unet.mlpackage`),
  // A PSNR line glued to a tqdm frame.
  bar('Running compression pass', 12),
  info(psnr('unet baseline PyTorch to reference CoreML', '214.9', '58.2')),
  info('Chunking None in two approximately equal MLModels'),
  'INFO:python_coreml_stable_diffusion.chunk_mlprogram:Start chunking model /x/unet.mlpackage into two pieces.\n',
  'WARNING:coremltools:33.2 dB is low!\n',
  info('Converted unet'),
  info('Converting text_encoder'),
  info(`Saved text_encoder into ${O}/${M}_text_encoder.mlpackage`),
  info(psnr('text_encoder baseline PyTorch to reference CoreML', '212.7', '75.9')),
  info('Converted text_encoder'),
  bar('Converting PyTorch Frontend ==> MIL Ops', 1500),
  info('Converting text_encoder_2'),
  info(`Saved text_encoder into ${O}/${M}_text_encoder_2.mlpackage`),
  info(psnr('text_encoder baseline PyTorch to reference CoreML', '212.1', '70.2')),
  info('Converted text_encoder_2'),
  info('Converting refiner'),
  info('Initializing DiffusionPipeline with stabilityai/stable-diffusion-xl-refiner-1.0..'),
  info(psnr('unet baseline to reference PyTorch', '213.0', '63.0')),
  info(`Saved unet into ${O}/${M}_refiner.mlpackage`),
  info(psnr('unet baseline PyTorch to reference CoreML', '213.0', '55.5')),
  info('Chunking refiner in two approximately equal MLModels'),
  'WARNING:coremltools:30.0 dB is low!\n',
  info('Converted refiner'),
  info('Quantizing weights to 6-bit precision'),
  info('Quantizing text_encoder to 6-bit precision'),
  info('Quantizing text_encoder'),
  bar('Running compression pass palettize_weights', 50),
  info('Done'),
  info('Quantizing unet to 6-bit precision'),
  info('Quantizing unet'),
  bar('Running compression pass palettize_weights', 50),
  info('Done'),
  info('Quantizing refiner to 6-bit precision'),
  info(`Skipped quantizing refiner (Not found at ${O}/${M}_refiner.mlpackage)`),
  info('Quantized weights to 6-bit precision'),
  info('Bundling resources for the Swift CLI'),
  info(`Compiling ${O}/${M}_unet.mlpackage`),
  info(`Compiled ${O}/${M}_unet.mlpackage to ${O}/Resources/Unet.mlmodelc`),
  info('Bundled resources for the Swift CLI'),
].join('');

function parseAll(text: string, context: LogContext = { unetPart: 'unet' }): ConverterEvent[] {
  const parser = new ConverterLogParser(context);
  return [...parser.push(text), ...parser.end()];
}

/** Feeds UTF-8 bytes cut at the given offsets through a StringDecoder, as the process runner does. */
function parseBytes(text: string, cuts: number[], context: LogContext = { unetPart: 'unet' }): ConverterEvent[] {
  const bytes = Buffer.from(text, 'utf8');
  const parser = new ConverterLogParser(context);
  const decoder = new StringDecoder('utf8');
  const events: ConverterEvent[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    events.push(...parser.push(decoder.write(bytes.subarray(from, cut))));
    from = cut;
  }
  events.push(...parser.push(decoder.end()), ...parser.end());
  return events;
}

const checks = (events: ConverterEvent[]) => events.flatMap((e) => (e.kind === 'psnr' ? [e.check] : []));
const ofKind = <K extends ConverterEvent['kind']>(events: ConverterEvent[], kind: K) =>
  events.filter((e): e is Extract<ConverterEvent, { kind: K }> => e.kind === kind);

describe('ConverterLogParser on a whole SDXL run', () => {
  const events = parseAll(SDXL_RUN);

  it('finds every PSNR check with the right part, the converter prefix and the final figure', () => {
    expect(checks(events).map((c) => [c.part, c.check, c.psnr])).toEqual([
      ['vae_decoder', 'vae_decoder baseline PyTorch to baseline CoreML', 65.1],
      ['unet', 'unet baseline to reference PyTorch', 64.9],
      ['unet', 'unet baseline PyTorch to reference CoreML', 58.2],
      ['unet_chunks', expect.any(String), 33.2],
      ['text_encoder', 'text_encoder baseline PyTorch to reference CoreML', 75.9],
      ['text_encoder_2', 'text_encoder baseline PyTorch to reference CoreML', 70.2],
      ['refiner', 'unet baseline to reference PyTorch', 63.0],
      ['refiner', 'unet baseline PyTorch to reference CoreML', 55.5],
      ['refiner_chunks', expect.any(String), 30.0],
    ]);
  });

  it('keeps the printed figure', () => {
    expect(checks(events).map((c) => c.printed)).toEqual(['65.1', '64.9', '58.2', '33.2', '75.9', '70.2', '63.0', '55.5', '30.0']);
  });

  it('reports Converting and Converted per part, not the "to CoreML.." lines', () => {
    const parts = ['vae_decoder', 'unet', 'text_encoder', 'text_encoder_2', 'refiner'];
    expect(ofKind(events, 'converting').map((e) => e.part)).toEqual(parts);
    expect(ofKind(events, 'converted').map((e) => e.part)).toEqual(parts);
  });

  it('reports the saved packages, including one glued to a progress bar', () => {
    expect(ofKind(events, 'saved').map((e) => e.path)).toEqual([
      `${O}/${M}_vae_decoder.mlpackage`,
      `${O}/${M}_unet.mlpackage`,
      `${O}/${M}_text_encoder.mlpackage`,
      `${O}/${M}_text_encoder_2.mlpackage`,
      `${O}/${M}_refiner.mlpackage`,
    ]);
  });

  it('reports chunking of the unet and of the refiner', () => {
    expect(ofKind(events, 'chunking').map((e) => e.part)).toEqual(['unet', 'unet', 'refiner']);
  });

  it('reports the compiled Resources', () => {
    expect(ofKind(events, 'compiled')).toEqual([
      { kind: 'compiled', source: `${O}/${M}_unet.mlpackage`, target: `${O}/Resources/Unet.mlmodelc` },
    ]);
  });

  // "Quantizing weights to N-bit precision" is upstream's phase header, not a part.
  it('reports quantizing only for parts rewritten, not for the headers nor a part not found', () => {
    expect(ofKind(events, 'quantizing').map((e) => e.part)).toEqual(['text_encoder', 'unet']);
  });

  it('gives the same events when the bytes are cut anywhere (one cut at every byte offset)', () => {
    const length = Buffer.byteLength(SDXL_RUN, 'utf8');
    for (let cut = 1; cut < length; cut++) {
      const split = parseBytes(SDXL_RUN, [cut]);
      if (JSON.stringify(split) !== JSON.stringify(events)) {
        expect(split, `cut at byte ${cut}`).toEqual(events);
      }
    }
  });

  it('gives the same events fed one character at a time, and fed in random pieces', () => {
    const parser = new ConverterLogParser({ unetPart: 'unet' });
    const oneByOne = [...SDXL_RUN].flatMap((ch) => parser.push(ch));
    oneByOne.push(...parser.end());
    expect(oneByOne).toEqual(events);
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const length = Buffer.byteLength(SDXL_RUN, 'utf8');
    for (let round = 0; round < 20; round++) {
      const cuts = [...new Set(Array.from({ length: 40 }, () => Math.floor(random() * length)))].sort((a, b) => a - b);
      expect(parseBytes(SDXL_RUN, cuts)).toEqual(events);
    }
  });
});

describe('ConverterLogParser: single lines', () => {
  it('glues: a log line after a tqdm frame on the same \\r segment is still read', () => {
    const text = `${bar('Converting PyTorch Frontend ==> MIL Ops', 100)}INFO:__main__:Converting text_encoder_2\n${info(psnr('text_encoder baseline PyTorch to reference CoreML', '210.0', '71.3'))}`;
    expect(checks(parseAll(text))).toEqual([
      { part: 'text_encoder_2', check: 'text_encoder baseline PyTorch to reference CoreML', psnr: 71.3, printed: '71.3' },
    ]);
  });

  it('splits on \\r\\n too, without losing or doubling a line cut between \\r and \\n', () => {
    const parser = new ConverterLogParser({ unetPart: 'unet' });
    const events = [...parser.push('INFO:__main__:Converting unet\r'), ...parser.push('\nINFO:__main__:Converted unet\r\n'), ...parser.end()];
    expect(events).toEqual([
      { kind: 'converting', part: 'unet' },
      { kind: 'converted', part: 'unet' },
    ]);
  });

  it('parses a last line without a line end at end()', () => {
    const parser = new ConverterLogParser({ unetPart: 'unet' });
    expect(parser.push('INFO:__main__:Converted vae_encoder')).toEqual([]);
    expect(parser.end()).toEqual([{ kind: 'converted', part: 'vae_encoder' }]);
    expect(parser.end()).toEqual([]);
  });

  it.each([
    ['nan', '(213.0 -> nan)'],
    ['inf', '(inf -> inf)'],
    ['-inf', '(213.0 -> -inf)'],
  ])('%s gives psnr null and keeps the printed figure', (figure, tail) => {
    const line = `INFO:__main__:vae_encoder baseline PyTorch to baseline CoreML: PSNR changed by nan dB ${tail}\n`;
    expect(checks(parseAll(line))).toEqual([{ part: 'vae_encoder', check: 'vae_encoder baseline PyTorch to baseline CoreML', psnr: null, printed: figure }]);
  });

  it('reads a negative figure as a number', () => {
    const line = info(psnr('safety_checker baseline PyTorch to reference CoreML', '200.0', '-3.4'));
    expect(checks(parseAll(line))).toMatchObject([{ part: 'safety_checker', psnr: -3.4 }]);
  });

  it('reports the converter raising too-low, after its PSNR line', () => {
    const text = [
      info('Converting unet'),
      info(psnr('unet baseline PyTorch to reference CoreML', '214.9', '20.1')),
      'Traceback (most recent call last):\n',
      '  File "<frozen runpy>", line 198, in _run_module_as_main\n',
      '    raise ValueError(f"{final_psnr:.1f} dB is too low!")\n',
      'ValueError: 20.1 dB is too low!\n',
    ].join('');
    const events = parseAll(text);
    expect(checks(events)).toMatchObject([{ part: 'unet', psnr: 20.1 }]);
    expect(ofKind(events, 'too-low')).toEqual([{ kind: 'too-low', figure: '20.1' }]);
  });

  it('attributes unet checks to control-unet when the step converts a ControlNet-ready unet', () => {
    const text = info('Converting unet') + info(psnr('unet baseline to reference PyTorch', '214.0', '60.0')) + info(psnr('unet baseline PyTorch to reference CoreML', '214.0', '52.0'));
    expect(checks(parseAll(text, { unetPart: 'control-unet' })).map((c) => c.part)).toEqual(['control-unet', 'control-unet']);
  });

  it('attributes both ControlNet prefixes to controlnet', () => {
    const text =
      info('Converting controlnet') +
      info(psnr('lllyasviel_sd-controlnet-mlsd baseline to reference PyTorch', '210.0', '90.5')) +
      info(psnr('controlnet baseline PyTorch to reference CoreML', '210.0', '48.0'));
    expect(checks(parseAll(text)).map((c) => [c.part, c.check])).toEqual([
      ['controlnet', 'lllyasviel_sd-controlnet-mlsd baseline to reference PyTorch'],
      ['controlnet', 'controlnet baseline PyTorch to reference CoreML'],
    ]);
  });

  it('attributes a coremltools chunk warning to the chunked part of a chunk_mlprogram step', () => {
    const line = 'WARNING:coremltools:20.1 dB is low!\n';
    expect(checks(parseAll(line, { unetPart: 'unet', chunkPart: 'unet' }))).toMatchObject([{ part: 'unet_chunks', psnr: 20.1, printed: '20.1' }]);
    expect(checks(parseAll(line, { unetPart: 'unet', chunkPart: 'refiner' }))).toMatchObject([{ part: 'refiner_chunks' }]);
    expect(checks(parseAll(line, { unetPart: 'control-unet', chunkPart: 'control-unet' }))).toMatchObject([{ part: 'control-unet_chunks' }]);
  });

  it('in a torch2coreml process, "Chunking None" means the unet of the context', () => {
    const text = info('Converting unet') + info('Chunking None in two approximately equal MLModels') + 'WARNING:coremltools:31.0 dB is low!\n';
    expect(checks(parseAll(text, { unetPart: 'control-unet' }))).toMatchObject([{ part: 'control-unet_chunks', psnr: 31 }]);
  });

  it('reports skipped packages with their part and path', () => {
    const text =
      info(`\`text_encoder_2\` already exists at ${O}/${M}_text_encoder_2.mlpackage, skipping conversion.`) +
      info(`\`controlnet_lllyasviel_sd-controlnet-mlsd\` already exists at ${O}/ControlNet_lllyasviel_sd-controlnet-mlsd.mlpackage, skipping conversion.`) +
      info(`\`unet\` already exists at ${O}/${M}_unet.mlpackage, skipping conversion.`);
    expect(ofKind(parseAll(text), 'skipped')).toEqual([
      { kind: 'skipped', part: 'text_encoder_2', path: `${O}/${M}_text_encoder_2.mlpackage` },
      { kind: 'skipped', part: 'controlnet_lllyasviel_sd-controlnet-mlsd', path: `${O}/ControlNet_lllyasviel_sd-controlnet-mlsd.mlpackage` },
      { kind: 'skipped', part: 'unet', path: `${O}/${M}_unet.mlpackage` },
    ]);
  });

  it('reads ControlNet names with dots (`..._1.0`) in the skip, quantize and PSNR lines', () => {
    const name = 'someone_sd15_controlnet_1.0';
    const text =
      info(`\`controlnet_${name}\` already exists at ${O}/ControlNet_${name}.mlpackage, skipping conversion.`) +
      info(`Quantizing ${name} to 6-bit precision`) +
      info(`Quantizing ${name}`) +
      info(psnr(`${name} baseline to reference PyTorch`, '210.0', '90.5'));
    const events = parseAll(text);
    expect(ofKind(events, 'skipped')).toEqual([{ kind: 'skipped', part: `controlnet_${name}`, path: `${O}/ControlNet_${name}.mlpackage` }]);
    expect(ofKind(events, 'quantizing').map((e) => e.part)).toEqual([name]);
    expect(checks(events).map((c) => [c.part, c.check])).toEqual([['controlnet', `${name} baseline to reference PyTorch`]]);
  });

  it('reports existing chunks as skipped chunks of the unet, or of the refiner after "Converting refiner"', () => {
    const base = info('Converting unet') + info('`unet` chunks already exist, skipping conversion.');
    expect(ofKind(parseAll(base), 'skipped')).toMatchObject([{ part: 'unet_chunks' }]);
    const refiner = info('Converting refiner') + info('`unet` chunks already exist, skipping conversion.');
    expect(ofKind(parseAll(refiner), 'skipped')).toMatchObject([{ part: 'refiner_chunks' }]);
  });

  it('ignores the pass lines, tqdm frames and unrelated warnings', () => {
    const text =
      info('65.1 dB > 35 dB (minimum allowed) parity check passed') +
      bar('Running MIL frontend_pytorch pipeline', 5) +
      '\nWARNING:coremltools:Torch version 2.5.1 has not been tested with coremltools.\n' +
      info('Done. Pipeline in effect: StableDiffusionPipeline');
    expect(parseAll(text)).toEqual([]);
  });
});

// DiffusionKit 0.4.0 (argmaxtools 0.1.23's CoreMLTestsMixin) converts SD3's VAE decoder and MMDiT and
// always runs its parity check: `logger.info(f"torch2coreml PSNR={psnr:.3g}")`, then
// assertGreater(psnr, 35), whose failure unittest prints (and no package is saved).
describe("ConverterLogParser: DiffusionKit's parity check (SD3)", () => {
  const dk = (figure: string) => `INFO:argmaxtools.test_utils:torch2coreml PSNR=${figure}\n`;
  const unittestFailure = (repr: string) =>
    [
      'F',
      '======================================================================',
      "FAIL: test_torch2coreml_correctness_and_speedup (diffusionkit.tests.torch2coreml.test_mmdit.TestSD3MMDiT.test_torch2coreml_correctness_and_speedup) (phase='torch2coreml_correctness')",
      '----------------------------------------------------------------------',
      'Traceback (most recent call last):',
      '    self.assertGreater(psnr, TEST_PSNR_THR)',
      `AssertionError: ${repr} not greater than 35`,
      '',
      'FAILED (failures=1)',
      '',
    ].join('\n');

  it('reports the MMDiT and the SD3 VAE decoder checks under their parts, in one process', () => {
    const text = info('Converting vae_decoder') + dk('72.4') + info('Converted vae_decoder') + info('Converting mmdit') + dk('51.3') + info('Converted mmdit');
    expect(checks(parseAll(text))).toEqual([
      { part: 'vae_decoder', check: 'DiffusionKit PyTorch to Core ML', psnr: 72.4, printed: '72.4' },
      { part: 'mmdit', check: 'DiffusionKit PyTorch to Core ML', psnr: 51.3, printed: '51.3' },
    ]);
  });

  it('reads .3g figures with an exponent, and nan', () => {
    const text = info('Converting mmdit') + dk('1.23e+03') + dk('nan');
    expect(checks(parseAll(text)).map((c) => [c.psnr, c.printed])).toEqual([
      [1230, '1.23e+03'],
      [null, 'nan'],
    ]);
  });

  it("reports unittest's failed assertion as the converter rejecting the figure", () => {
    const events = parseAll(info('Converting mmdit') + dk('20.1') + unittestFailure('20.123456789'));
    expect(checks(events).map((c) => c.psnr)).toEqual([20.1]);
    expect(ofKind(events, 'too-low')).toEqual([{ kind: 'too-low', figure: '20.123456789' }]);
  });
});

describe("ConverterLogParser: the quantize entry's own check", () => {
  it('reads `<part> quantized to float16 Core ML: PSNR x dB` as the <part>_quantized check, and not the not-run line', () => {
    const parser = new ConverterLogParser({ unetPart: 'unet' });
    const events = parser.push(
      [
        'quantize_bundle: quantize_weights (no pipeline loaded)',
        'quantize_bundle: text_encoder quantized to float16 Core ML: PSNR 41.3 dB',
        'quantize_bundle: unet quantized to float16 Core ML: PSNR 12.0 dB',
        'quantize_bundle: control-unet: the quantized-vs-float16 check was not run: Exception: Model prediction is only supported on macOS',
        'quantize_bundle: vae_decoder quantized to float16 Core ML: PSNR 50.0 dB',
        '',
      ].join('\n'),
    );
    expect(events).toEqual([
      { kind: 'psnr', check: { part: 'text_encoder_quantized', check: 'quantized to float16 Core ML (the action)', psnr: 41.3, printed: '41.3' } },
      { kind: 'psnr', check: { part: 'unet_quantized', check: 'quantized to float16 Core ML (the action)', psnr: 12, printed: '12.0' } },
    ]);
  });
});

describe('ConverterLogParser: the parity process (python/parity.py)', () => {
  const mod = (message: string) => `INFO:python_coreml_stable_diffusion.torch2coreml:${message}\n`;
  const checks = (events: ConverterEvent[]) => events.flatMap((e) => (e.kind === 'psnr' ? [[e.check.part, e.check.check, e.check.printed]] : []));

  it('attributes the shared prefixes by the `parity: checking <part>` line before them: text_encoder_2, refiner', () => {
    const parser = new ConverterLogParser({ unetPart: 'unet' });
    const events = parser.push(
      [
        'parity: checking text_encoder (reference)\n',
        'parity: checking text_encoder (check)\n',
        mod(psnr('text_encoder baseline PyTorch to reference CoreML', '201.2', '71.0')),
        mod('71.0 dB > 35 dB (minimum allowed) parity check passed'),
        // diffusers' loading bar glued before it: the line is still read.
        `\r${frame('Loading checkpoint shards', 2, 2)}parity: checking text_encoder_2 (reference)\n`,
        'parity: checking text_encoder_2 (check)\n',
        mod(psnr('text_encoder baseline PyTorch to reference CoreML', '201.2', '66.4')),
        'parity: checking refiner (reference)\n',
        mod(psnr('unet baseline to reference PyTorch', '205.0', '90.1')),
        'parity: checking refiner (check)\n',
        mod(psnr('unet baseline PyTorch to reference CoreML', '205.0', '33.9')),
        'ValueError: 33.9 dB is too low!\n',
        'parity: failed, see the traceback above\n',
        'parity: peak RSS 123 bytes\n',
      ].join(''),
    );
    expect(checks(events)).toEqual([
      ['text_encoder', 'text_encoder baseline PyTorch to reference CoreML', '71.0'],
      ['text_encoder_2', 'text_encoder baseline PyTorch to reference CoreML', '66.4'],
      ['refiner', 'unet baseline to reference PyTorch', '90.1'],
      ['refiner', 'unet baseline PyTorch to reference CoreML', '33.9'],
    ]);
    expect(events.filter((e) => e.kind === 'too-low')).toEqual([{ kind: 'too-low', figure: '33.9' }]);
    expect(events.filter((e) => e.kind === 'converting' || e.kind === 'converted')).toEqual([]);
  });

  it('reads a parity process printing nan as a figure that fails (null)', () => {
    const parser = new ConverterLogParser({ unetPart: 'unet' });
    const events = parser.push(['parity: checking unet (check)\n', mod(psnr('unet baseline PyTorch to reference CoreML', '205.0', 'nan'))].join(''));
    expect(events).toEqual([{ kind: 'psnr', check: { part: 'unet', check: 'unet baseline PyTorch to reference CoreML', psnr: null, printed: 'nan' } }]);
  });
});

// The bundle check over generated Resources folders: good bundles of each kind pass, each defect
// is caught once and named by file, and the facts the apps read are what they would detect.
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkBundle, detectKind, findingText, type BundleListing, type BundleReport } from '../../src/verify/bundle/check.js';
import { expectationsFor, expectationsForBundle, type BundleExpectations } from '../../src/verify/bundle/expect.js';
import { palettization, parseShape, readMetadata } from '../../src/verify/bundle/metadata.js';
import { readBundle } from '../../src/verify/bundle/read.js';
import { bundleProblem } from '../../src/verify/bundle/stage.js';
import { renderBundleSection } from '../../src/summary/summary.js';
import type { ConversionOptions } from '../../src/config.js';
import {
  HTML_PAGE,
  chunkedQuantizedBundle,
  clipVocab,
  controlNetBundle,
  listing,
  metadataJson,
  refinerBundle,
  sd3Bundle,
  sdBundle,
  sdxlBundle,
  without,
  writeBundle,
  type Bundle,
} from './bundle-fixtures.js';
import { options } from './fixtures.js';

const CN = 'lllyasviel/sd-controlnet-mlsd';
const SD = options({ attention: 'SPLIT_EINSUM' });
const SDXL = options({ xlVersion: true, attention: 'ORIGINAL' });
const SD3 = options({ sd3Version: true, parts: ['text_encoder', 'vae_decoder', 'mmdit'] });

const listed = (bundle: Bundle | BundleListing) => ('files' in bundle ? (bundle as BundleListing) : listing(bundle as Bundle));
/** Checked against what the action asked the converter for. */
function check(bundle: Bundle | BundleListing, o: ConversionOptions): BundleReport {
  return checkBundle(listed(bundle), expectationsFor(o));
}
/** Checked against the standalone entry's expectations. */
function checkWith(bundle: Bundle | BundleListing, e: BundleExpectations): BundleReport {
  return checkBundle(listed(bundle), e);
}
const errors = (r: BundleReport) => r.findings.filter((f) => f.severity === 'error');
const warnings = (r: BundleReport) => r.findings.filter((f) => f.severity === 'warning');

describe('good bundles pass, with the facts the apps read', () => {
  it('SD 2.x, split einsum', () => {
    const r = check(sdBundle(), SD);
    expect(r.findings).toEqual([]);
    expect(r.passed).toBe(true);
    expect(r.facts).toMatchObject({
      models: ['TextEncoder.mlmodelc', 'Unet.mlmodelc', 'VAEDecoder.mlmodelc'],
      unetModel: 'Unet.mlmodelc',
      kind: 'sd',
      attention: 'split_einsum',
      chunked: false,
      latent: { h: 64, w: 64 },
      imageSize: { width: 512, height: 512, from: 'Unet.mlmodelc' },
      quantizedBits: null,
      vocabularySize: 49408,
    });
  });

  it('SDXL with TextEncoder2 and the SDXL unet inputs, original attention', () => {
    const r = check(sdxlBundle(), SDXL);
    expect(r.findings).toEqual([]);
    expect(r.facts).toMatchObject({ kind: 'sdxl', attention: 'original', imageSize: { width: 1024, height: 1024 } });
  });

  it('SD3 with the MMDiT: no attention comparison (DiffusionKit converts it)', () => {
    const r = check(sd3Bundle(), { ...SD3, attention: 'ORIGINAL' });
    expect(r.findings).toEqual([]);
    expect(r.facts).toMatchObject({ kind: 'sd3', unetModel: 'MultiModalDiffusionTransformer.mlmodelc', latent: { h: 64, w: 64 } });
  });

  it('ControlNet: ControlledUnet and controlnet/<Name>.mlmodelc', () => {
    const r = check(controlNetBundle(), options({ attention: 'SPLIT_EINSUM', unetSupportControlnet: true, controlnets: [CN] }));
    expect(r.findings).toEqual([]);
    expect(r.facts.controlnets).toEqual(['LllyasvielSdControlnetMlsd']);
    expect(r.facts.unetModel).toBe('ControlledUnet.mlmodelc');
  });

  it('SDXL with its refiner', () => {
    const r = check(refinerBundle(), { ...SDXL, refinerVersion: 'stabilityai/stable-diffusion-xl-refiner-1.0' });
    expect(r.findings).toEqual([]);
  });

  it('chunked and 6-bit quantized: every chunk palettized too', () => {
    const r = check(chunkedQuantizedBundle(), { ...SD, chunkUnet: true, quantizeNbits: 6 });
    expect(r.findings).toEqual([]);
    expect(r.facts).toMatchObject({ chunked: true, quantizedBits: 6 });
    expect(r.facts.palettized).toEqual(['TextEncoder.mlmodelc', 'Unet.mlmodelc', 'UnetChunk1.mlmodelc', 'UnetChunk2.mlmodelc']);
  });

  it('reads the iOS 18 metadata shape (Ios18 prefixes, a functions array, no storagePrecision)', () => {
    const bundle = chunkedQuantizedBundle();
    for (const spec of Object.values(bundle)) spec.ios18 = true;
    const r = check(bundle, { ...SD, chunkUnet: true, quantizeNbits: 6 });
    expect(errors(r)).toEqual([]);
    expect(r.facts.palettized).toHaveLength(4);
    // Mochi Diffusion looks for the literal key Ios16.einsum: under iOS 18 ops it sees original.
    expect(r.facts.attention).toBe('original');
    expect(warnings(r).map(findingText)).toEqual([
      expect.stringMatching(/^Unet\.mlmodelc\/metadata\.json lacks the key Ios16\.einsum \(it has Ios18\.einsum, which the apps do not look for\): Mochi Diffusion and Guernika detect original attention, but attention-implementation is SPLIT_EINSUM\.$/),
    ]);
  });
});

/** Every defect alone: exactly one error, naming the file. */
function onlyError(r: BundleReport): string {
  const e = errors(r);
  expect(e, JSON.stringify(r.findings, null, 1)).toHaveLength(1);
  expect(r.passed).toBe(false);
  return findingText(e[0]!);
}

describe('each defect is caught once and names the file', () => {
  it('a .mlmodelc without metadata.json (a silently failed compile)', () => {
    const message = onlyError(check(without(listing(sdBundle()), 'VAEDecoder.mlmodelc/metadata.json'), SD));
    expect(message).toMatch(/^VAEDecoder\.mlmodelc\/metadata\.json is missing: coremlcompiler always writes it/);
  });

  it('a .mlmodelc without its weights', () => {
    const message = onlyError(check(without(listing(sdBundle()), 'TextEncoder.mlmodelc/weights/weight.bin'), SD));
    expect(message).toMatch(/^TextEncoder\.mlmodelc\/weights\/weight\.bin is missing: an ML program keeps its weights there/);
  });

  it('empty weights, no model.mil nor coremldata.bin, unreadable metadata', () => {
    const l = listing(sdBundle());
    expect(onlyError(check({ ...l, files: { ...l.files, 'Unet.mlmodelc/weights/weight.bin': 0 } }, SD))).toBe('Unet.mlmodelc/weights/weight.bin is empty.');
    const bare = without(without(l, 'Unet.mlmodelc/model.mil'), 'Unet.mlmodelc/coremldata.bin');
    expect(onlyError(check(bare, SD))).toMatch(/^Unet\.mlmodelc has neither model\.mil nor coremldata\.bin/);
    const twoEntries = { ...l, metadata: { ...l.metadata, 'VAEDecoder.mlmodelc': '[{}, {}]' } };
    expect(onlyError(check(twoEntries, SD))).toMatch(/^VAEDecoder\.mlmodelc\/metadata\.json is not the JSON array of one object/);
    const broken = { ...l, metadata: { ...l.metadata, 'VAEDecoder.mlmodelc': '[{"' } };
    expect(onlyError(check(broken, SD))).toMatch(/^VAEDecoder\.mlmodelc\/metadata\.json is not valid JSON/);
  });

  it('an HTML error page as vocab.json', () => {
    const message = onlyError(check(listing(sdBundle(), { vocab: HTML_PAGE }), SD));
    expect(message).toMatch(/^vocab\.json is an HTML page \("Hugging Face - The AI community building the future\."\), not the CLIP vocabulary/);
  });

  it('a vocab.json short of the CLIP size', () => {
    const message = onlyError(check(listing(sdBundle(), { vocab: clipVocab(1000) }), SD));
    expect(message).toBe('vocab.json has 1000 entries; the CLIP vocabulary has 49408.');
  });

  it('vocab.json that is JSON but not an object, or lacks the special tokens', () => {
    expect(onlyError(check(listing(sdBundle(), { vocab: '["a"]' }), SD))).toBe('vocab.json is not a JSON object of token -> id.');
    const noSpecials = clipVocab().replace('"<|endoftext|>"', '"x"');
    expect(onlyError(check(listing(sdBundle(), { vocab: noSpecials }), SD))).toMatch(/^vocab\.json lacks <\|endoftext\|>/);
  });

  it('merges.txt without #version', () => {
    const message = onlyError(check(listing(sdBundle(), { merges: 'Ġ t\nĠ a\n' }), SD));
    expect(message).toMatch(/^merges\.txt does not start with #version/);
  });

  it('missing tokenizer files', () => {
    expect(onlyError(check(listing(sdBundle(), { merges: null }), SD))).toMatch(/^merges\.txt is missing/);
    expect(onlyError(check(listing(sdBundle(), { vocab: null }), SD))).toMatch(/^vocab\.json is missing/);
  });

  it('one chunk only', () => {
    const bundle = chunkedQuantizedBundle();
    delete bundle['UnetChunk2.mlmodelc'];
    // Asked without chunk-unet: only the pair rule can catch it.
    const message = onlyError(check(bundle, { ...SD, quantizeNbits: 6 }));
    expect(message).toMatch(/^UnetChunk2\.mlmodelc is missing while UnetChunk1\.mlmodelc exists: chunks come in pairs/);
  });

  it('float16 chunks next to a quantized unet, when quantize-nbits was asked', () => {
    const r = check(chunkedQuantizedBundle(6, null), { ...SD, chunkUnet: true, quantizeNbits: 6 });
    expect(errors(r).map(findingText)).toEqual([
      expect.stringMatching(/^UnetChunk1\.mlmodelc\/metadata\.json shows float16 weights .* quantize-nbits is 6: the apps load the chunks in preference/),
      expect.stringMatching(/^UnetChunk2\.mlmodelc\/metadata\.json shows float16 weights/),
    ]);
    expect(r.facts.palettized).toEqual(['TextEncoder.mlmodelc', 'Unet.mlmodelc']);
  });

  it('float16 chunks next to a quantized unet, even when nothing was asked (the standalone check)', () => {
    const r = checkWith(chunkedQuantizedBundle(6, null), expectationsForBundle({ kind: 'sd', chunked: true, controlnets: [] }));
    expect(errors(r).map((f) => f.file)).toEqual(['UnetChunk1.mlmodelc/metadata.json', 'UnetChunk2.mlmodelc/metadata.json']);
  });

  it('weights palettized to other bits than asked', () => {
    const r = check(chunkedQuantizedBundle(4), { ...SD, chunkUnet: true, quantizeNbits: 6 });
    expect(errors(r)).toHaveLength(4);
    expect(findingText(errors(r)[0]!)).toBe('TextEncoder.mlmodelc/metadata.json shows weights palettized to 4 bits, but quantize-nbits is 6.');
  });

  it('SDXL without TextEncoder2', () => {
    const bundle = sdxlBundle();
    delete bundle['TextEncoder2.mlmodelc'];
    expect(onlyError(check(bundle, SDXL))).toMatch(/^TextEncoder2\.mlmodelc is missing: needed because SDXL has a second text encoder/);
  });

  it('asked parts that are not there: chunks, refiner, ControlNet, VAEEncoder', () => {
    const r = check(sdBundle(), { ...SD, chunkUnet: true, controlnets: [CN], parts: ['text_encoder', 'vae_decoder', 'vae_encoder', 'unet'] });
    expect(errors(r).map((f) => f.file)).toEqual([
      'VAEEncoder.mlmodelc',
      'UnetChunk1.mlmodelc',
      'UnetChunk2.mlmodelc',
      'controlnet/LllyasvielSdControlnetMlsd.mlmodelc',
    ]);
    const refiner = check(sdxlBundle(), { ...SDXL, refinerVersion: 'r/r', chunkUnet: true });
    expect(errors(refiner).map((f) => f.file)).toEqual(['UnetChunk1.mlmodelc', 'UnetChunk2.mlmodelc', 'UnetRefiner.mlmodelc', 'UnetRefinerChunk1.mlmodelc', 'UnetRefinerChunk2.mlmodelc']);
  });

  // Bundling runs coremlcompiler through os.system and ignores its status: a package that is
  // there but has no .mlmodelc means its compile failed.
  it('a missing compiled model names its package and says the compile failed when the package is there', () => {
    const bundle = sdBundle();
    delete bundle['Unet.mlmodelc'];
    const pkg = 'Stable_Diffusion_version_stabilityai_stable-diffusion-2-1-base_unet.mlpackage';
    const asked = (has?: (file: string) => boolean) => onlyError(checkBundle(listing(bundle), expectationsFor(SD, has)));
    expect(asked((f) => f === pkg)).toBe(
      `Unet.mlmodelc is missing: needed because convert-unet is true; ${pkg} is in output-dir, so compiling it failed (the converter runs coremlcompiler through os.system, unquoted, and ignores its exit status: the bundling step's log has coremlcompiler's error).`,
    );
    expect(asked(() => false)).toMatch(new RegExp(`; ${pkg} is not in output-dir either, so the conversion did not make it`));
    expect(asked()).toMatch(new RegExp(`; compiling ${pkg} failed, or the package was never made`));
  });

  it('a missing ControlNet model names its ControlNet package', () => {
    const r = checkBundle(listing(sdBundle()), expectationsFor({ ...SD, controlnets: [CN] }, () => true));
    expect(errors(r).map(findingText)).toEqual([expect.stringMatching(/^controlnet\/LllyasvielSdControlnetMlsd\.mlmodelc is missing: .*; ControlNet_lllyasviel_sd-controlnet-mlsd\.mlpackage is in output-dir, so compiling it failed/)]);
  });

  it('a SafetyChecker the pipeline does not have is a warning only', () => {
    const r = check(sdBundle(), { ...SD, parts: [...SD.parts, 'safety_checker'] });
    expect(r.passed).toBe(true);
    expect(warnings(r).map((f) => f.file)).toEqual(['SafetyChecker.mlmodelc']);
  });

  it('bundleProblem names the files for the step failure', () => {
    const r = check(listing(sdBundle(), { vocab: HTML_PAGE }), SD);
    expect(bundleProblem(r)).toBe('The bundle in Resources fails 1 check(s), so the apps would not load it as asked: vocab.json (each annotated above).');
    expect(bundleProblem(check(sdBundle(), SD))).toBeUndefined();
  });
});

describe('what the apps would mis-detect is a warning naming the app', () => {
  it('attention: split einsum asked, the unet has no Ios16.einsum', () => {
    const r = check(sdBundle('original'), SD);
    expect(r.passed).toBe(true);
    const [w] = warnings(r);
    expect(w).toMatchObject({ file: 'Unet.mlmodelc/metadata.json', app: 'Mochi Diffusion' });
    expect(findingText(w!)).toBe(
      'Unet.mlmodelc/metadata.json lacks the key Ios16.einsum: Mochi Diffusion and Guernika detect original attention, but attention-implementation is SPLIT_EINSUM.',
    );
  });

  it('attention: ORIGINAL asked, the unet has Ios16.einsum', () => {
    expect(warnings(check(sdBundle('split'), { ...SD, attention: 'ORIGINAL' })).map(findingText)).toEqual([
      expect.stringContaining('has the key Ios16.einsum: Mochi Diffusion and Guernika detect split_einsum attention, but attention-implementation is ORIGINAL'),
    ]);
  });

  it('SDXL asked, but the unet lacks time_ids/text_embeds', () => {
    const bundle = sdxlBundle();
    bundle['Unet.mlmodelc'] = sdBundle('original', 128)['Unet.mlmodelc']!;
    expect(warnings(check(bundle, SDXL)).map(findingText)).toEqual([
      expect.stringContaining('makes Mochi Diffusion take the bundle for SD 1.x/2.x (by the inputs time_ids and text_embeds), but it was converted as SDXL'),
    ]);
  });

  it('the image size: VAEEncoder against the unet, and against latent-h/latent-w', () => {
    const bundle = { ...sdBundle('split', 96), 'VAEEncoder.mlmodelc': { inputs: { x: [1, 3, 512, 512] } } };
    const o = { ...SD, latentH: 96, latentW: 96, parts: [...SD.parts, 'vae_encoder' as const] };
    const r = check(bundle, o);
    expect(r.facts.imageSize).toEqual({ width: 512, height: 512, from: 'VAEEncoder.mlmodelc' });
    expect(warnings(r).map(findingText)).toEqual([
      expect.stringMatching(/^VAEEncoder\.mlmodelc\/metadata\.json takes 512×512 images, but Unet\.mlmodelc takes 768×768 .* Mochi Diffusion pins the size/),
      'VAEEncoder.mlmodelc/metadata.json gives 512×512 images to Mochi Diffusion, but latent-h/latent-w ask for 768×768.',
    ]);
  });

  it('a custom size without VAEEncoder: the app offers any size', () => {
    const r = check(sdBundle('split', 96), { ...SD, latentH: 96, latentW: 96 });
    expect(r.facts.imageSize).toEqual({ width: 768, height: 768, from: 'Unet.mlmodelc' });
    expect(warnings(r).map(findingText)).toEqual([expect.stringMatching(/^VAEEncoder\.mlmodelc is not in the bundle: Mochi Diffusion reads the image size from it.*768×768/)]);
  });

  it('a VAEEncoder shape the app cannot read', () => {
    const bundle = { ...sdBundle(), 'VAEEncoder.mlmodelc': { inputs: { x: [3, 512, 512] } } };
    expect(warnings(check(bundle, { ...SD, parts: [...SD.parts, 'vae_encoder'] })).map(findingText)).toEqual([
      expect.stringContaining('has a first input shape "[3, 512, 512]" that Mochi Diffusion cannot read'),
    ]);
  });
});

describe('the standalone expectations and kind detection', () => {
  it('detects the kind from the files and the unet inputs', () => {
    expect(detectKind(listing(sdBundle()))).toBe('sd');
    expect(detectKind(listing(sdxlBundle()))).toBe('sdxl');
    const noTe2 = sdxlBundle();
    delete noTe2['TextEncoder2.mlmodelc'];
    expect(detectKind(listing(noTe2))).toBe('sdxl');
    expect(detectKind(listing(sd3Bundle()))).toBe('sd3');
  });

  it('accepts the full unet or its chunks, unless chunked is asked', () => {
    const chunksOnly = chunkedQuantizedBundle();
    delete chunksOnly['Unet.mlmodelc'];
    expect(checkWith(chunksOnly, expectationsForBundle({ kind: 'sd', chunked: false, controlnets: [], quantizeNbits: 6 })).findings).toEqual([]);
    const r = checkWith(sdBundle(), expectationsForBundle({ kind: 'sd', chunked: true, controlnets: [] }));
    expect(errors(r).map(findingText)).toEqual([
      expect.stringMatching(/^UnetChunk1\.mlmodelc is missing: needed because the pipeline denoises with the unet, and chunked is true/),
      expect.stringMatching(/^UnetChunk2\.mlmodelc is missing/),
    ]);
  });

  it('names the alternative when neither unet form is there', () => {
    const bundle = sdBundle();
    delete bundle['Unet.mlmodelc'];
    expect(onlyError(checkWith(bundle, expectationsForBundle({ kind: 'sd', chunked: false, controlnets: [] })))).toBe(
      'Unet.mlmodelc is missing (and so is UnetChunk1.mlmodelc + UnetChunk2.mlmodelc): needed because the pipeline denoises with the unet.',
    );
  });

  it('ControlNets need the ControlledUnet', () => {
    expect(checkWith(controlNetBundle(), expectationsForBundle({ kind: 'sd', chunked: false, controlnets: [CN], attention: 'SPLIT_EINSUM' })).findings).toEqual([]);
    const r = checkWith(sdBundle(), expectationsForBundle({ kind: 'sd', chunked: false, controlnets: [CN] }));
    expect(errors(r).map((f) => f.file)).toEqual(['ControlledUnet.mlmodelc', 'controlnet/LllyasvielSdControlnetMlsd.mlmodelc']);
  });
});

describe('metadata reading', () => {
  it('parses string shapes as coremlcompiler writes them', () => {
    expect(parseShape('[2, 4, 64, 64]')).toEqual([2, 4, 64, 64]);
    expect(parseShape('[]')).toEqual([]);
    expect(parseShape('1 × 77')).toBeUndefined();
  });

  it('tells palettized weights by the ops or the storage precision', () => {
    const read = (nbits?: number, ios18 = false) => {
      const r = readMetadata(metadataJson({ inputs: {}, nbits, ios18 }));
      if (!r.ok) throw new Error(r.problem);
      return palettization(r.metadata);
    };
    expect(read()).toEqual({ palettized: false, bits: [] });
    expect(read(6)).toEqual({ palettized: true, bits: [6] });
    expect(read(4, true)).toEqual({ palettized: true, bits: [] });
  });
});

describe('readBundle, the thin part, over folders on disk', () => {
  const dirs: string[] = [];
  const folder = () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bundle-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('describes the folder as the fixtures do, and the check agrees', () => {
    const dir = folder();
    writeBundle(dir, controlNetBundle());
    const l = readBundle(dir);
    expect(l).toEqual(listing(controlNetBundle()));
    expect(checkBundle(l, expectationsFor(options({ attention: 'SPLIT_EINSUM', unetSupportControlnet: true, controlnets: [CN] }))).passed).toBe(true);
  });

  it('reads only the head of merges.txt and follows links, as the apps do', () => {
    const dir = folder();
    writeBundle(dir, sdBundle(), { merges: `#version: 0.2\n${'a b\n'.repeat(5000)}` });
    const elsewhere = folder();
    writeFileSync(path.join(elsewhere, 'vocab.json'), HTML_PAGE);
    rmSync(path.join(dir, 'vocab.json'));
    symlinkSync(path.join(elsewhere, 'vocab.json'), path.join(dir, 'vocab.json'));
    const l = readBundle(dir);
    expect(l.mergesHead).toHaveLength(4096);
    expect(onlyError(checkBundle(l, expectationsFor(SD)))).toMatch(/^vocab\.json is an HTML page/);
  });
});

describe('the summary section', () => {
  it('shows the verdict, the facts and every finding', () => {
    const md = renderBundleSection(check(chunkedQuantizedBundle(6, null), { ...SD, chunkUnet: true, quantizeNbits: 6 }));
    expect(md).toContain('### Bundle check: ❌ 2 problem(s)');
    expect(md).toContain('| Attention, as Mochi Diffusion and Guernika detect it | split_einsum |');
    expect(md).toContain('| Image size | 512×512 (from Unet.mlmodelc) |');
    expect(md).toContain('| Unet weights | palettized, 6 bits |');
    expect(md).toMatch(/- ❌ UnetChunk1\.mlmodelc\/metadata\.json shows float16 weights/);
    expect(renderBundleSection(check(sdBundle(), SD))).toContain('### Bundle check: ✅ passed');
  });
});

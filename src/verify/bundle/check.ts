import { COMPILED_SUFFIX, COMPILE_UNCHECKED, TOKENIZER_FILES, compiledModel, type ChunkablePart } from '../../converter/vocabulary.js';
import {
  APP_UNET_MODELS,
  CLIP_SPECIAL_TOKENS,
  CLIP_VOCAB_SIZE,
  LATENT_INPUT,
  MOCHI,
  SD3_INPUT,
  SDXL_INPUTS,
  SIZE_MODEL,
  SPLIT_EINSUM_KEY,
} from './apps.js';
import { KIND_LABELS, type BundleExpectations, type ModelKind } from './expect.js';
import { inputNamed, palettization, readMetadata, type MetadataReading, type ModelMetadata } from './metadata.js';

/**
 * The pure checker: a description of a Resources folder in, findings and the facts the apps read
 * out. Every finding names the file (relative to Resources) and what is wrong with it.
 */
export interface BundleListing {
  /** Every file below Resources (relative, `/`-separated) with its size in bytes. */
  files: Record<string, number>;
  /** The text of each model's metadata.json, by the model's path (`Unet.mlmodelc`). */
  metadata: Record<string, string>;
  /** vocab.json's text; `complete` is false when it was too large to read whole. */
  vocab?: { text: string; complete: boolean };
  /** The first bytes of merges.txt. */
  mergesHead?: string;
}

export interface Finding {
  severity: 'error' | 'warning';
  file: string;
  message: string;
  /** The app that would mis-read the bundle, for warnings about what the apps detect. */
  app?: string;
}

/** What the apps read from the bundle: returned by the stage, shown in the summary and manifest. */
export interface BundleFacts {
  /** Every compiled model, sorted. */
  models: string[];
  /** The model whose metadata.json Mochi Diffusion reads for the facts below. */
  unetModel: string | null;
  /** The kind Mochi Diffusion detects (SDXL by time_ids/text_embeds, SD3 by latent_image_embeddings). */
  kind: ModelKind | null;
  /** The attention Mochi Diffusion and Guernika detect (the Ios16.einsum key). */
  attention: 'split_einsum' | 'original' | null;
  chunked: boolean;
  /** Latent size of the unet's input. */
  latent: { h: number; w: number } | null;
  /** The image size Mochi Diffusion pins (VAEEncoder's input), else the unet's latent * 8; `from` is that model. */
  imageSize: { width: number; height: number; from: string } | null;
  /** Bits of the palettized weights of the unet the apps load; null when float16. */
  quantizedBits: number | null;
  /** Models with palettized weights. */
  palettized: string[];
  controlnets: string[];
  vocabularySize: number | null;
  sizeBytes: number;
}

export interface BundleReport {
  passed: boolean;
  findings: Finding[];
  facts: BundleFacts;
}

const CHUNKABLE: readonly ChunkablePart[] = ['unet', 'refiner', 'control-unet'];

/** The .mlmodelc folders of a listing: `X.mlmodelc` and `controlnet/Y.mlmodelc`, never nested. */
export function modelsIn(listing: BundleListing): string[] {
  const models = new Set<string>();
  for (const file of Object.keys(listing.files)) {
    const parts = file.split('/');
    const i = parts.findIndex((p) => p.endsWith(COMPILED_SUFFIX));
    if (i >= 0 && i < parts.length - 1) models.add(parts.slice(0, i + 1).join('/'));
  }
  return [...models].sort();
}

/** A compiled model's name without its suffix (`Unet.mlmodelc` -> `Unet`). */
const withoutSuffix = (m: string) => (m.endsWith(COMPILED_SUFFIX) ? m.slice(0, -COMPILED_SUFFIX.length) : m);
const exists = (listing: BundleListing, models: Set<string>, p: string) => (p.endsWith(COMPILED_SUFFIX) ? models.has(p) : p in listing.files);

function readAll(listing: BundleListing, models: string[]): Map<string, MetadataReading> {
  const readings = new Map<string, MetadataReading>();
  for (const model of models) {
    const text = listing.metadata[model];
    if (text !== undefined) readings.set(model, readMetadata(text));
  }
  return readings;
}

function structureFindings(listing: BundleListing, model: string, reading: MetadataReading | undefined): Finding[] {
  const has = (name: string) => `${model}/${name}` in listing.files;
  const findings: Finding[] = [];
  const error = (file: string, message: string) => findings.push({ severity: 'error', file, message });
  if (!has('metadata.json')) {
    error(`${model}/metadata.json`, `is missing: coremlcompiler always writes it, so the compile most likely failed (${COMPILE_UNCHECKED}); Mochi Diffusion does not list such a model`);
  } else if (reading && !reading.ok) {
    error(`${model}/metadata.json`, reading.problem);
  }
  if (!has('model.mil') && !has('coremldata.bin')) error(model, 'has neither model.mil nor coremldata.bin: it is not a compiled model');
  const mlProgram = has('model.mil') || (reading?.ok === true && reading.metadata.modelType === 'MLModelType_mlProgram');
  if (mlProgram) {
    const size = listing.files[`${model}/weights/weight.bin`];
    if (size === undefined) error(`${model}/weights/weight.bin`, 'is missing: an ML program keeps its weights there');
    else if (size === 0) error(`${model}/weights/weight.bin`, 'is empty');
  } else if (!Object.keys(listing.files).some((f) => f.startsWith(`${model}/`) && /weight/i.test(f.slice(model.length + 1)))) {
    error(model, 'has no weights file');
  }
  return findings;
}

/** Why a model the converter's bundling compiles is missing, from whether its package is there. */
function compileNote({ package: pkg, present }: { package: string; present?: boolean }): string {
  if (present === false) return `; ${pkg} is not in output-dir either, so the conversion did not make it and there was nothing to compile`;
  const failed = `${COMPILE_UNCHECKED}: the bundling step's log has coremlcompiler's error`;
  return present ? `; ${pkg} is in output-dir, so compiling it failed (${failed})` : `; compiling ${pkg} failed, or the package was never made (${failed})`;
}

function requirementFindings(listing: BundleListing, models: Set<string>, expectations: BundleExpectations): Finding[] {
  const findings: Finding[] = [];
  for (const r of expectations.required) {
    if (r.alternatives.some((alt) => alt.every((p) => exists(listing, models, p)))) continue;
    const [first = []] = r.alternatives;
    const missing = first.filter((p) => !exists(listing, models, p));
    const others = r.alternatives.slice(1).map((alt) => alt.join(' + '));
    for (const file of missing) {
      const source = r.sources?.[file];
      findings.push({
        severity: r.severity,
        file,
        message: `is missing${others.length > 0 ? ` (and so is ${others.join(', or ')})` : ''}: needed because ${r.why}${source ? compileNote(source) : ''}`,
      });
    }
  }
  return findings;
}

function chunkFindings(models: Set<string>): Finding[] {
  const findings: Finding[] = [];
  for (const part of CHUNKABLE) {
    const [one, two] = [compiledModel(`${part}_chunk1`), compiledModel(`${part}_chunk2`)];
    if (models.has(one) !== models.has(two)) {
      const [present, absent] = models.has(one) ? [one, two] : [two, one];
      findings.push({ severity: 'error', file: absent, message: `is missing while ${present} exists: chunks come in pairs, and the Swift pipeline loads them only together` });
    }
  }
  return findings;
}

const looksLikeHtml = (text: string) => /^\s*<(!doctype|html|head|body|\?xml)/i.test(text) || /<html[\s>]/i.test(text.slice(0, 2048));
const title = (text: string) => /<title>([^<]*)<\/title>/i.exec(text)?.[1]?.trim();

function tokenizerFindings(listing: BundleListing): { findings: Finding[]; vocabularySize: number | null } {
  const [vocabFile, mergesFile] = TOKENIZER_FILES;
  const findings: Finding[] = [];
  const error = (file: string, message: string) => findings.push({ severity: 'error', file, message });
  let vocabularySize: number | null = null;
  if (listing.vocab === undefined) {
    error(vocabFile, 'is missing: the tokenizer of every pipeline reads it');
  } else if (looksLikeHtml(listing.vocab.text)) {
    const t = title(listing.vocab.text);
    error(vocabFile, `is an HTML page${t ? ` ("${t}")` : ''}, not the CLIP vocabulary: the download got an error page (upstream writes the body without checking the status); bundle again or set text-encoder-vocabulary-url`);
  } else if (!listing.vocab.complete) {
    error(vocabFile, 'is far larger than the CLIP vocabulary (about 1 MB): not the right file');
  } else {
    let parsed: unknown;
    try {
      parsed = JSON.parse(listing.vocab.text.replace(/^\uFEFF/, ''));
    } catch {
      parsed = undefined;
      error(vocabFile, `is not JSON (it starts with ${JSON.stringify(listing.vocab.text.slice(0, 40))})`);
    }
    if (parsed !== undefined) {
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        error(vocabFile, 'is not a JSON object of token -> id');
      } else {
        const vocab = parsed as Record<string, unknown>;
        vocabularySize = Object.keys(vocab).length;
        if (vocabularySize !== CLIP_VOCAB_SIZE) error(vocabFile, `has ${vocabularySize} entries; the CLIP vocabulary has ${CLIP_VOCAB_SIZE}`);
        const absent = CLIP_SPECIAL_TOKENS.filter((t) => !(t in vocab));
        if (absent.length > 0) error(vocabFile, `lacks ${absent.join(' and ')}, which the tokenizer needs`);
      }
    }
  }
  if (listing.mergesHead === undefined) {
    error(mergesFile, 'is missing: the tokenizer of every pipeline reads it');
  } else if (!listing.mergesHead.replace(/^\uFEFF/, '').startsWith('#version')) {
    const what = looksLikeHtml(listing.mergesHead) ? 'is an HTML page (the download got an error page)' : `does not start with #version (it starts with ${JSON.stringify(listing.mergesHead.slice(0, 40))})`;
    error(mergesFile, `${what}: not the CLIP merges file`);
  }
  return { findings, vocabularySize };
}

function quantizationFindings(models: Set<string>, readings: Map<string, MetadataReading>, expectations: BundleExpectations): Finding[] {
  const findings: Finding[] = [];
  const meta = (m: string) => {
    const r = readings.get(m);
    return r?.ok ? r.metadata : undefined;
  };
  const isChunk = (m: string) => /Chunk\d$/.test(withoutSuffix(m));
  if (expectations.quantize) {
    const { nbits } = expectations.quantize;
    for (const model of expectations.quantize.models.filter((m) => models.has(m))) {
      const m = meta(model);
      if (!m) continue;
      const p = palettization(m);
      const file = `${model}/metadata.json`;
      if (!p.palettized) {
        const why = isChunk(model) ? ': the apps load the chunks in preference to the full unet, so the bundle is not quantized where it matters' : '';
        findings.push({ severity: 'error', file, message: `shows float16 weights (no constexprLutToDense ops, no Palettized storage), but quantize-nbits is ${nbits}${why}` });
      } else if (p.bits.length > 0 && !p.bits.includes(nbits)) {
        findings.push({ severity: 'error', file, message: `shows weights palettized to ${p.bits.join(', ')} bits, but quantize-nbits is ${nbits}` });
      }
    }
    return findings;
  }
  // Nothing asked: chunks must still match the unet they were cut from.
  for (const part of CHUNKABLE) {
    const full = meta(compiledModel(part));
    if (!full || !palettization(full).palettized) continue;
    for (const chunk of [compiledModel(`${part}_chunk1`), compiledModel(`${part}_chunk2`)]) {
      const m = meta(chunk);
      if (m && !palettization(m).palettized) {
        findings.push({ severity: 'error', file: `${chunk}/metadata.json`, message: `shows float16 weights next to a palettized ${compiledModel(part)}: the apps load the chunks in preference to it, so the bundle is not quantized where it matters` });
      }
    }
  }
  return findings;
}

/** The unet metadata the apps read: the first of APP_UNET_MODELS with a metadata.json. */
function appUnet(listing: BundleListing, readings: Map<string, MetadataReading>): { model: string; metadata?: ModelMetadata } | undefined {
  const model = APP_UNET_MODELS.find((m) => `${m}/metadata.json` in listing.files);
  if (!model) return undefined;
  const r = readings.get(model);
  return { model, metadata: r?.ok ? r.metadata : undefined };
}

/** The kind the apps detect from the unet's inputs (Mochi Diffusion: SDXL first, then SD3). */
function detectedKind(m: ModelMetadata): ModelKind {
  const names = new Set(m.inputs.map((i) => i.name));
  if (SDXL_INPUTS.every((n) => names.has(n))) return 'sdxl';
  if (names.has(SD3_INPUT)) return 'sd3';
  return 'sd';
}

/** For the standalone entry's auto mode: the kind a folder holds, from its files and its unet. */
export function detectKind(listing: BundleListing): ModelKind {
  const models = new Set(modelsIn(listing));
  if (models.has(compiledModel('mmdit'))) return 'sd3';
  if (models.has(compiledModel('text_encoder_2'))) return 'sdxl';
  const unet = appUnet(listing, readAll(listing, [...models]));
  return unet?.metadata ? detectedKind(unet.metadata) : 'sd';
}

function latentOf(m: ModelMetadata): { h: number; w: number } | null {
  const shape = (inputNamed(m, LATENT_INPUT) ?? inputNamed(m, SD3_INPUT))?.shape;
  return shape && shape.length === 4 ? { h: shape[2] ?? 0, w: shape[3] ?? 0 } : null;
}

interface AppReading {
  facts: Pick<BundleFacts, 'unetModel' | 'kind' | 'attention' | 'latent' | 'imageSize' | 'quantizedBits'>;
  findings: Finding[];
}

function appFindings(listing: BundleListing, readings: Map<string, MetadataReading>, expectations: BundleExpectations): AppReading {
  const findings: Finding[] = [];
  const warn = (file: string, message: string) => findings.push({ severity: 'warning', file, message, app: MOCHI });
  const unet = appUnet(listing, readings);
  const m = unet?.metadata;
  const latent = m ? latentOf(m) : null;
  const facts: AppReading['facts'] = {
    unetModel: unet?.model ?? null,
    kind: m ? detectedKind(m) : null,
    attention: m ? (SPLIT_EINSUM_KEY in m.histogram ? 'split_einsum' : 'original') : null,
    latent,
    imageSize: latent && unet ? { width: latent.w * 8, height: latent.h * 8, from: unet.model } : null,
    quantizedBits: null,
  };
  if (m) {
    const p = palettization(m);
    facts.quantizedBits = p.palettized ? (p.bits.at(-1) ?? 0) : null;
  }

  const sizeModel = readings.get(SIZE_MODEL);
  if (sizeModel?.ok) {
    const first = sizeModel.metadata.inputs[0];
    const shape = first?.shape;
    if (shape && shape.length === 4 && shape.every((d) => d > 0)) {
      facts.imageSize = { width: shape[3] ?? 0, height: shape[2] ?? 0, from: SIZE_MODEL };
      if (latent && (latent.w * 8 !== facts.imageSize.width || latent.h * 8 !== facts.imageSize.height)) {
        warn(`${SIZE_MODEL}/metadata.json`, `takes ${facts.imageSize.width}×${facts.imageSize.height} images, but ${unet?.model} takes ${latent.w * 8}×${latent.h * 8} (latent ${latent.h}×${latent.w}): ${MOCHI} pins the size to the VAEEncoder's, which the unet cannot run`);
      }
    } else {
      warn(`${SIZE_MODEL}/metadata.json`, `has a first input shape ${JSON.stringify(first?.shapeText ?? null)} that ${MOCHI} cannot read as [1, 3, height, width]: it does not list the model`);
    }
  }

  if (!m || !unet) return { facts, findings };
  const file = `${unet.model}/metadata.json`;
  const kind = facts.kind ?? 'sd';
  if (kind !== expectations.kind) {
    const sign = expectations.kind === 'sdxl' || kind === 'sdxl' ? `the inputs ${SDXL_INPUTS.join(' and ')}` : `the input ${SD3_INPUT}`;
    warn(file, `makes ${MOCHI} take the bundle for ${KIND_LABELS[kind]} (by ${sign}), but it was converted as ${KIND_LABELS[expectations.kind]}`);
  }
  if (expectations.attention && expectations.kind !== 'sd3') {
    const asked = expectations.attention === 'ORIGINAL' ? 'original' : 'split_einsum';
    if (facts.attention !== asked) {
      const otherEinsum = Object.keys(m.histogram).find((k) => k !== SPLIT_EINSUM_KEY && /\.einsum$/.test(k));
      const why = facts.attention === 'split_einsum' ? `has the key ${SPLIT_EINSUM_KEY}` : `lacks the key ${SPLIT_EINSUM_KEY}${otherEinsum ? ` (it has ${otherEinsum}, which the apps do not look for)` : ''}`;
      warn(file, `${why}: ${MOCHI} and Guernika detect ${facts.attention} attention, but attention-implementation is ${expectations.attention}`);
    }
  }
  if (expectations.latent && facts.imageSize) {
    const { h, w } = expectations.latent;
    if (facts.imageSize.width !== w * 8 || facts.imageSize.height !== h * 8) {
      warn(`${facts.imageSize.from}/metadata.json`, `gives ${facts.imageSize.width}×${facts.imageSize.height} images to ${MOCHI}, but latent-h/latent-w ask for ${w * 8}×${h * 8}`);
    }
  }
  if (expectations.latent && !sizeModel) {
    warn(SIZE_MODEL, `is not in the bundle: ${MOCHI} reads the image size from it, and without it offers any size, while this unet only runs at ${(latent?.w ?? expectations.latent.w) * 8}×${(latent?.h ?? expectations.latent.h) * 8} (set convert-vae-encoder: true)`);
  }
  return { facts, findings };
}

export function checkBundle(listing: BundleListing, expectations: BundleExpectations): BundleReport {
  const modelList = modelsIn(listing);
  const models = new Set(modelList);
  const readings = readAll(listing, modelList);
  const tokenizer = tokenizerFindings(listing);
  const apps = appFindings(listing, readings, expectations);
  const findings = [
    ...requirementFindings(listing, models, expectations),
    ...modelList.flatMap((m) => structureFindings(listing, m, readings.get(m))),
    ...chunkFindings(models),
    ...tokenizer.findings,
    ...quantizationFindings(models, readings, expectations),
    ...apps.findings,
  ];
  const palettized = modelList.filter((m) => {
    const r = readings.get(m);
    return r?.ok === true && palettization(r.metadata).palettized;
  });
  return {
    passed: findings.every((f) => f.severity !== 'error'),
    findings,
    facts: {
      models: modelList,
      ...apps.facts,
      chunked: CHUNKABLE.some((part) => models.has(compiledModel(`${part}_chunk1`)) && models.has(compiledModel(`${part}_chunk2`))),
      palettized,
      controlnets: modelList.filter((m) => m.includes('/')).map((m) => withoutSuffix(m.slice(m.lastIndexOf('/') + 1))),
      vocabularySize: tokenizer.vocabularySize,
      sizeBytes: Object.values(listing.files).reduce((sum, n) => sum + n, 0),
    },
  };
}

/** `<file> <what is wrong>.`, the form of every annotation. */
export function findingText(f: Finding): string {
  return `${f.file} ${f.message}.`;
}

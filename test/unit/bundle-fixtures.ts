// Fixture bundles for the bundle check (not a test file itself): Resources folders described the
// way readBundle describes them, with metadata.json shaped like coremlcompiler's (a JSON array of
// one object; string shapes; an op histogram keyed `Ios16.*`; `storagePrecision` naming the
// palettization), and the same folders written to disk for the thin part.
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { BundleListing } from '../../src/verify/bundle/check.js';

export interface ModelSpec {
  inputs: Record<string, number[]>;
  /** Extra ops (e.g. Ios16.einsum); a few common ones are always there. */
  ops?: Record<string, number>;
  /** Palettized weights of this many bits. */
  nbits?: number;
  /** Write the iOS 18 shape: a `functions` array (coremlc 3520.x), and Ios18 op prefixes (all, for the test). */
  ios18?: boolean;
}

const SPLIT_EINSUM_OPS = { 'Ios16.einsum': 1280, 'Ios16.softmax': 640, Split: 96 };
const ORIGINAL_OPS = { 'Ios16.matmul': 64, 'Ios16.softmax': 32 };

export function metadataJson(spec: ModelSpec): string {
  const prefix = spec.ios18 ? 'Ios18' : 'Ios16';
  const ops = Object.entries(spec.ops ?? {}).map(([op, n]) => [op.replace(/^Ios16\./, `${prefix}.`), n]);
  const histogram: Record<string, number> = { [`${prefix}.conv`]: 282, [`${prefix}.add`]: 218, ...Object.fromEntries(ops) };
  if (spec.nbits) histogram[`${prefix}.constexprLutToDense`] = 411;
  const schema = Object.entries(spec.inputs).map(([name, shape]) => ({
    hasShapeFlexibility: '0',
    isOptional: '0',
    dataType: 'Float16',
    formattedType: `MultiArray (Float16 ${shape.join(' × ')})`,
    shortDescription: '',
    shape: `[${shape.join(', ')}]`,
    name,
    type: 'MultiArray',
  }));
  const entry: Record<string, unknown> = {
    metadataOutputVersion: '3.0',
    specificationVersion: spec.ios18 ? 9 : 7,
    modelType: { name: 'MLModelType_mlProgram' },
    mlProgramOperationTypeHistogram: histogram,
    computePrecision: 'Mixed (Float16, Int32)',
    inputSchema: schema,
    outputSchema: [],
    userDefinedMetadata: { 'com.github.apple.coremltools.version': '8.1' },
    generatedClassName: 'model',
    method: 'predict',
  };
  if (!spec.ios18) entry.storagePrecision = spec.nbits ? `Mixed (Float16, Palettized (${spec.nbits} bits))` : 'Float16';
  if (spec.ios18) {
    entry.functions = [{ name: 'main', computePrecision: 'Mixed (Float16, Int32)', mlProgramOperationTypeHistogram: histogram, inputSchema: schema }];
    entry.defaultFunctionName = 'main';
  }
  return JSON.stringify([entry], null, 2);
}

let vocabText: string | undefined;
/** A CLIP-sized vocab.json: 49406 tokens and the two specials. */
export function clipVocab(entries = 49408): string {
  if (entries === 49408 && vocabText) return vocabText;
  const vocab: Record<string, number> = {};
  for (let i = 0; i < entries - 2; i++) vocab[`t${i}</w>`] = i;
  vocab['<|startoftext|>'] = entries - 2;
  vocab['<|endoftext|>'] = entries - 1;
  const text = JSON.stringify(vocab);
  if (entries === 49408) vocabText = text;
  return text;
}
export const MERGES = '#version: 0.2\nĠ t\nĠ a\n';
export const HTML_PAGE = '<!DOCTYPE html>\n<html class="" lang="en">\n<head>\n<title>Hugging Face - The AI community building the future.</title>\n</head>\n<body><h1>500</h1></body>\n</html>\n';

export type Bundle = Record<string, ModelSpec>;

/** The listing readBundle would give for these models and the tokenizer files. */
export function listing(models: Bundle, options: { vocab?: string | null; merges?: string | null } = {}): BundleListing {
  const files: Record<string, number> = {};
  const metadata: Record<string, string> = {};
  for (const [model, spec] of Object.entries(models)) {
    const json = metadataJson(spec);
    metadata[model] = json;
    files[`${model}/metadata.json`] = Buffer.byteLength(json);
    files[`${model}/model.mil`] = 2048;
    files[`${model}/coremldata.bin`] = 512;
    files[`${model}/analytics/coremldata.bin`] = 243;
    files[`${model}/weights/weight.bin`] = spec.nbits ? 3000 : 8000;
  }
  const vocab = options.vocab === null ? undefined : (options.vocab ?? clipVocab());
  const merges = options.merges === null ? undefined : (options.merges ?? MERGES);
  if (vocab !== undefined) files['vocab.json'] = Buffer.byteLength(vocab);
  if (merges !== undefined) files['merges.txt'] = Buffer.byteLength(merges);
  return { files, metadata, vocab: vocab === undefined ? undefined : { text: vocab, complete: true }, mergesHead: merges };
}

/** Removes a file from a listing (and its metadata text when it is a metadata.json). */
export function without(l: BundleListing, file: string): BundleListing {
  const files = { ...l.files };
  delete files[file];
  const metadata = { ...l.metadata };
  if (file.endsWith('/metadata.json')) delete metadata[file.slice(0, -'/metadata.json'.length)];
  return { ...l, files, metadata };
}

/** Writes a bundle as files (sizes honoured with zero bytes) for readBundle. */
export function writeBundle(dir: string, models: Bundle, options: { vocab?: string; merges?: string } = {}): void {
  const l = listing(models, options);
  for (const [file, size] of Object.entries(l.files)) {
    const target = path.join(dir, file);
    mkdirSync(path.dirname(target), { recursive: true });
    const model = file.replace(/\/metadata\.json$/, '');
    const text = file.endsWith('/metadata.json') ? l.metadata[model] : file === 'vocab.json' ? l.vocab?.text : file === 'merges.txt' ? l.mergesHead : undefined;
    writeFileSync(target, text ?? Buffer.alloc(size));
  }
}

// The models of each kind, as the converter's defaults make them (SD 2.1 base, SDXL base, SD3 medium).
const TEXT_ENCODER: ModelSpec = { inputs: { input_ids: [1, 77] } };
const unetInputs = (latent: number, hidden: number, extra: Record<string, number[]> = {}) => ({
  sample: [2, 4, latent, latent],
  timestep: [2],
  encoder_hidden_states: [2, hidden, 1, 77],
  ...extra,
});

export function sdBundle(attention: 'split' | 'original' = 'split', latent = 64): Bundle {
  const ops = attention === 'split' ? SPLIT_EINSUM_OPS : ORIGINAL_OPS;
  return {
    'TextEncoder.mlmodelc': TEXT_ENCODER,
    'VAEDecoder.mlmodelc': { inputs: { z: [1, 4, latent, latent] } },
    'Unet.mlmodelc': { inputs: unetInputs(latent, 1024), ops },
  };
}

export function sdxlBundle(): Bundle {
  return {
    'TextEncoder.mlmodelc': TEXT_ENCODER,
    'TextEncoder2.mlmodelc': TEXT_ENCODER,
    'VAEDecoder.mlmodelc': { inputs: { z: [1, 4, 128, 128] } },
    'Unet.mlmodelc': { inputs: unetInputs(128, 2048, { time_ids: [2, 6], text_embeds: [2, 1280] }), ops: ORIGINAL_OPS },
  };
}

export function sd3Bundle(): Bundle {
  return {
    'TextEncoder.mlmodelc': TEXT_ENCODER,
    'TextEncoder2.mlmodelc': TEXT_ENCODER,
    'VAEDecoder.mlmodelc': { inputs: { z: [1, 16, 64, 64] } },
    'MultiModalDiffusionTransformer.mlmodelc': {
      inputs: { latent_image_embeddings: [2, 16, 64, 64], token_level_text_embeddings: [2, 4096, 1, 154], pooled_text_embeddings: [2, 2048], timestep: [2] },
      ops: { 'Ios16.matmul': 96 },
    },
  };
}

export function controlNetBundle(): Bundle {
  const residuals = Object.fromEntries(Array.from({ length: 13 }, (_, i) => [`additional_residual_${i}`, [2, 320, 64, 64]]));
  return {
    'TextEncoder.mlmodelc': TEXT_ENCODER,
    'VAEDecoder.mlmodelc': { inputs: { z: [1, 4, 64, 64] } },
    'ControlledUnet.mlmodelc': { inputs: unetInputs(64, 768, residuals), ops: SPLIT_EINSUM_OPS },
    'controlnet/LllyasvielSdControlnetMlsd.mlmodelc': { inputs: { sample: [2, 4, 64, 64], controlnet_cond: [2, 3, 512, 512] }, ops: SPLIT_EINSUM_OPS },
  };
}

export function refinerBundle(): Bundle {
  const base = sdxlBundle();
  return {
    ...base,
    'UnetRefiner.mlmodelc': { inputs: unetInputs(128, 1280, { time_ids: [2, 5], text_embeds: [2, 1280] }), ops: ORIGINAL_OPS },
  };
}

/** SD, 6-bit, chunked for iOS: the action's plan chunks the quantized unet (chunkBits null: float16 chunks, as upstream leaves them). */
export function chunkedQuantizedBundle(nbits = 6, chunkBits: number | null = nbits): Bundle {
  const unet = sdBundle()['Unet.mlmodelc'] as ModelSpec;
  const [sample, ...rest] = Object.entries(unet.inputs);
  return {
    'TextEncoder.mlmodelc': { ...TEXT_ENCODER, nbits },
    'VAEDecoder.mlmodelc': { inputs: { z: [1, 4, 64, 64] } },
    'Unet.mlmodelc': { ...unet, nbits },
    'UnetChunk1.mlmodelc': { inputs: Object.fromEntries([sample ?? ['sample', []], ...rest]), ops: unet.ops, nbits: chunkBits ?? undefined },
    'UnetChunk2.mlmodelc': { inputs: { input_271_cast_fp16: [2, 1280, 8, 8], ...Object.fromEntries(rest) }, ops: unet.ops, nbits: chunkBits ?? undefined },
  };
}

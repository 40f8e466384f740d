import type { BackendName } from '../config.js';
import { coreAiSdxlProblem } from '../backends/core-ai/rules.js';
import type { TensorInfo } from './header.js';

/**
 * What a single file is, from its tensor names and shapes alone (never from its file name). Pure.
 * The original (LDM / SGM) layout names the unet model.diffusion_model.*, and its text encoders
 * after the library that trained them: SD 1.x OpenAI's CLIP ViT-L (cond_stage_model.transformer.*),
 * SD 2.x OpenCLIP ViT-H (cond_stage_model.model.*), SDXL both in conditioner.embedders.0 and .1.
 */
export type CheckpointKind = 'sd1' | 'sd2' | 'sdxl';

export const KIND_NAMES: Record<CheckpointKind | 'refiner', string> = {
  sd1: 'Stable Diffusion 1.x',
  sd2: 'Stable Diffusion 2.x',
  sdxl: 'Stable Diffusion XL',
  refiner: 'the Stable Diffusion XL refiner',
};

/** The unets' cross-attention input width (the text embedding's): what a LoRA's attn2.to_k must match. */
const WIDTH_KIND: Record<number, CheckpointKind | 'refiner'> = { 768: 'sd1', 1024: 'sd2', 2048: 'sdxl', 1280: 'refiner' };

const UNET = 'model.diffusion_model.';
/** kohya-ss names (lora_unet_*, lora_te_*, lora_te1_*, lora_te2_*); diffusers / peft names (unet.*, text_encoder.*, lora_A / lora.down). */
const KOHYA = /^lora_(unet|te\d?)_/;
const DIFFUSERS = /^(unet|text_encoder(_2)?)\.\S*lora/i;
const has = (names: readonly string[], prefix: string) => names.some((n) => n.startsWith(prefix));

export interface CheckpointFacts {
  kind: CheckpointKind;
  /** In-features of the unet's attn2.to_k (768, 1024, 2048), when the file has one. */
  crossAttentionWidth?: number;
}

/** What else a file with weights may be, for the message when it is no checkpoint. */
function whatElse(names: readonly string[]): string {
  if (names.some((n) => KOHYA.test(n) || DIFFUSERS.test(n))) return 'a LoRA (give it in the `lora` input)';
  if (has(names, 'encoder.') && has(names, 'decoder.')) return 'a VAE alone';
  if (has(names, 'down_blocks.') || has(names, 'unet.')) return 'diffusers-layout weights (give the diffusers folder or Hub id instead)';
  if (names.some((n) => n.includes('emb_params') || n.startsWith('string_to_param'))) return 'a textual-inversion embedding';
  return `a file of ${names.length} tensors without a unet (model.diffusion_model.*)`;
}

/** Pure: the in-features of the first attn2.to_k weight found (the kind's text width). */
export function crossAttentionWidth(tensors: ReadonlyMap<string, TensorInfo>, isToK: (name: string) => boolean, inFeaturesAt = 1): number | undefined {
  for (const [name, t] of tensors) if (isToK(name) && t.shape.length >= 2) return t.shape[inFeaturesAt];
  return undefined;
}

/** The kind of a checkpoint, or the error (completing "Input `model-version` ...") when it is none we convert. */
export function checkpointKind(tensors: ReadonlyMap<string, TensorInfo>, where: string): CheckpointFacts | { error: string } {
  const names = [...tensors.keys()];
  const width = crossAttentionWidth(tensors, (n) => n.startsWith(UNET) && n.endsWith('attn2.to_k.weight'));
  const notCheckpoint = (what: string) => ({
    error: `names ${where}, which is not a single-file Stable Diffusion checkpoint: it is ${what}. Accepted: SD 1.x, 2.x or SDXL checkpoints in the original layout (model.diffusion_model.*, with the text encoder cond_stage_model.* or conditioner.embedders.*).`,
  });
  if (!has(names, UNET)) return notCheckpoint(whatElse(names));
  let kind: CheckpointKind | 'refiner';
  if (has(names, 'conditioner.embedders.1.')) kind = 'sdxl';
  else if (has(names, 'conditioner.embedders.0.model.')) kind = 'refiner';
  else if (has(names, 'cond_stage_model.model.')) kind = 'sd2';
  else if (has(names, 'cond_stage_model.transformer.')) kind = 'sd1';
  else return notCheckpoint('a unet without a text encoder (no cond_stage_model.* nor conditioner.embedders.*)');
  // An inpainting unet takes the masked image too: 9 input channels where the converter builds 4.
  const inChannels = tensors.get(`${UNET}input_blocks.0.0.weight`)?.shape[1];
  if (inChannels !== undefined && inChannels !== 4) {
    return { error: `names ${where}, whose unet takes ${inChannels} input channels${inChannels === 9 ? ' (an inpainting model)' : ''}: the converter converts text-to-image unets of 4 latent channels only.` };
  }
  if (kind === 'refiner') {
    return { error: `names ${where}, which is ${KIND_NAMES.refiner} (one OpenCLIP text encoder in conditioner.embedders.0): a refiner converts with refiner-version, a Hub id, beside an SDXL model-version.` };
  }
  return width === undefined ? { kind } : { kind, crossAttentionWidth: width };
}

/** Pure: the error when an SD 2.x file has no model-config: only the config tells v-prediction from epsilon. */
export function sd2ConfigProblem(kind: CheckpointKind, modelConfigGiven: boolean, where: string): string | undefined {
  if (kind !== 'sd2' || modelConfigGiven) return undefined;
  return (
    `Input \`model-config\` is empty, but model-version ${where} is ${KIND_NAMES.sd2}, whose file does not say how it was trained: ` +
    'set model-config to stabilityai/stable-diffusion-2-1 for a 768x768 v-prediction model (SD 2.0/2.1 768-v and their fine-tunes), ' +
    'or stabilityai/stable-diffusion-2-1-base for a 512x512 epsilon model (SD 2.0/2.1 base); a wrong one converts, but gives noise.'
  );
}

/** Pure: the error when the file's kind and xl-version disagree (the converter needs --xl-version for SDXL). */
export function xlVersionMismatch(kind: CheckpointKind, xlVersion: boolean, where: string, backend: BackendName = 'core-ml'): string | undefined {
  if (backend === 'core-ai' && kind === 'sdxl') return coreAiSdxlProblem(`model-version ${where} is ${KIND_NAMES.sdxl} (its tensors hold conditioner.embedders.1.*)`);
  if ((kind === 'sdxl') === xlVersion) return undefined;
  return kind === 'sdxl'
    ? `Input \`xl-version\` is false, but model-version ${where} is ${KIND_NAMES.sdxl} (its tensors hold conditioner.embedders.1.*): set \`xl-version: true\` (or \`preset: xl-macos\` or \`xl-ios\`).`
    : `Input \`xl-version\` is true, but model-version ${where} is ${KIND_NAMES[kind]}, not SDXL: set \`xl-version: false\`.`;
}

export type LoraFormat = 'kohya' | 'diffusers';

export interface LoraFacts {
  format: LoraFormat;
  /** Has weights for SDXL's second text encoder (lora_te2_* / text_encoder_2.*). */
  secondTextEncoder: boolean;
  /** In-features of its attn2.to_k down (A) matrix: the base's cross-attention width. */
  crossAttentionWidth?: number;
}


/** Pure: what a LoRA file is, or the error (completing "Input `lora` ...") when it is none. */
export function loraFacts(tensors: ReadonlyMap<string, TensorInfo>, where: string): LoraFacts | { error: string } {
  const names = [...tensors.keys()];
  const kohya = names.filter((n) => KOHYA.test(n));
  const diffusers = names.filter((n) => DIFFUSERS.test(n));
  if (kohya.length === 0 && diffusers.length === 0) {
    const checkpoint = has(names, UNET) ? ' (it looks like a whole checkpoint: that goes in model-version)' : '';
    return { error: `lists ${where}, which is not a LoRA${checkpoint}: accepted are LoRAs in kohya-ss names (lora_unet_*, lora_te_*) or diffusers / peft names (unet.*.lora_A.weight, text_encoder.*), as .safetensors.` };
  }
  const format: LoraFormat = kohya.length >= diffusers.length ? 'kohya' : 'diffusers';
  const secondTextEncoder = format === 'kohya' ? has(names, 'lora_te2_') : has(names, 'text_encoder_2.');
  // The down (A) matrix of a cross-attention key projection: [rank, in_features].
  const isToKDown =
    format === 'kohya'
      ? (n: string) => n.startsWith('lora_unet_') && /attn2_to_k\.lora_down\.weight$/.test(n)
      : (n: string) => n.startsWith('unet.') && /attn2\.(to_k\.(lora_A|lora\.down|lora_linear_layer\.down)|processor\.to_k_lora\.down)(\.[\w]+)?\.weight$/.test(n);
  const width = crossAttentionWidth(tensors, isToKDown);
  return width === undefined ? { format, secondTextEncoder } : { format, secondTextEncoder, crossAttentionWidth: width };
}

/** Pure: the error when a LoRA was trained for another base than the checkpoint's kind. */
export function loraBaseProblem(lora: LoraFacts, checkpoint: CheckpointFacts, where: string): string | undefined {
  const loraKind = (lora.crossAttentionWidth !== undefined ? WIDTH_KIND[lora.crossAttentionWidth] : undefined) ?? (lora.secondTextEncoder ? 'sdxl' : undefined);
  const widths = lora.crossAttentionWidth !== undefined && checkpoint.crossAttentionWidth !== undefined;
  const differs = widths ? lora.crossAttentionWidth !== checkpoint.crossAttentionWidth : loraKind !== undefined && (loraKind === 'sdxl') !== (checkpoint.kind === 'sdxl');
  if (!differs) return undefined;
  const base = loraKind ? KIND_NAMES[loraKind] : 'another base';
  const width = (w?: number) => (w === undefined ? '' : ` (cross-attention width ${w})`);
  return `lists ${where}, a LoRA for ${base}${width(lora.crossAttentionWidth)}, but model-version is ${KIND_NAMES[checkpoint.kind]}${width(checkpoint.crossAttentionWidth)}: its weights do not fit. Use a LoRA trained on a ${KIND_NAMES[checkpoint.kind]} model.`;
}

import { compiledModel } from '../../converter/vocabulary.js';

/**
 * What the apps read from a Resources folder (shared/reference/users-and-runners.md), checked
 * against Mochi Diffusion's SDModel.swift and Guernika's CoreMLMetadata.swift. Converter names
 * come from src/converter/vocabulary.ts; the strings here are the apps' own.
 */

/** Mochi Diffusion reads the first of these that has a metadata.json, in this order. */
export const APP_UNET_MODELS = [compiledModel('unet'), compiledModel('unet_chunk1'), compiledModel('control-unet'), compiledModel('mmdit')];

/** Its presence in the unet's op histogram means split_einsum to Mochi Diffusion and Guernika. */
export const SPLIT_EINSUM_KEY = 'Ios16.einsum';

/** Unet inputs that only SDXL has; Mochi Diffusion needs both to take a model for SDXL. */
export const SDXL_INPUTS = ['time_ids', 'text_embeds'] as const;

/** The MMDiT's latent input: Mochi Diffusion's sign of SD3, and where SD3's latent size is. */
export const SD3_INPUT = 'latent_image_embeddings';

/** The unet's latent input, [batch, channels, h, w]. */
export const LATENT_INPUT = 'sample';

/** Mochi Diffusion pins the image size to this model's first input, [1, 3, height, width]. */
export const SIZE_MODEL = compiledModel('vae_encoder');

/** The CLIP tokenizer of every SD version: 256 bytes, 256 end-of-word bytes, 48894 merges, 2 specials. */
export const CLIP_VOCAB_SIZE = 49408;
export const CLIP_SPECIAL_TOKENS = ['<|startoftext|>', '<|endoftext|>'] as const;

export const MOCHI = 'Mochi Diffusion';

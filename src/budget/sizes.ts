import type { HubFile } from '../hub/files.js';
import { filesToFetch, folderOf, isFp16Safetensors } from '../hub/files.js';
import type { CheckpointKind } from '../single-file/kind.js';
import { COMPONENTS, type Component, type ModelSizes } from './estimate.js';

/**
 * Pure: the model's sizes from file listings (the Hub's, or a local folder's read the same way).
 * Weights are counted as the converter loads them: a component's fp16 safetensors where it has
 * them, else its plain weights, halved (taken as fp32, which diffusers casts to fp16).
 */

const WEIGHTS = /\.(safetensors|bin)$/;

/** fp16 bytes of each component folder in a listing; a component without weights is left out. */
export function componentBytes(files: readonly HubFile[]): Partial<Record<Component, number>> {
  const chosen = filesToFetch([...files]);
  const out: Partial<Record<Component, number>> = {};
  for (const f of chosen) {
    const folder = folderOf(f.rfilename) as Component;
    if (!COMPONENTS.includes(folder) || !WEIGHTS.test(f.rfilename) || f.size === undefined) continue;
    out[folder] = (out[folder] ?? 0) + (isFp16Safetensors(f.rfilename) ? f.size : f.size / 2);
  }
  return out;
}

/** fp16 bytes of a repository without model_index.json (a ControlNet, a VAE): its top-level weights. */
export function weightBytes(files: readonly HubFile[]): number {
  return filesToFetch([...files])
    .filter((f) => WEIGHTS.test(f.rfilename) && f.size !== undefined)
    .reduce((sum, f) => sum + (isFp16Safetensors(f.rfilename) ? (f.size ?? 0) : (f.size ?? 0) / 2), 0);
}

/** Bytes of the files the action would download that the cache does not hold yet. */
export function missingBytes(files: readonly HubFile[], present: (file: HubFile) => boolean): number {
  return filesToFetch([...files])
    .filter((f) => !present(f))
    .reduce((sum, f) => sum + (f.size ?? 0), 0);
}

/**
 * Parameters of each component of the published configs (diffusers' counts): a single-file
 * checkpoint becomes a diffusers folder saved in fp16, 2 bytes a parameter, whatever the file's dtype.
 */
export const PARAMETERS: Record<CheckpointKind, Partial<Record<Component, number>>> = {
  sd1: { unet: 859_520_964, text_encoder: 123_060_480, vae: 83_653_863 },
  sd2: { unet: 865_910_724, text_encoder: 340_387_840, vae: 83_653_863 },
  sdxl: { unet: 2_567_463_684, text_encoder: 123_060_480, text_encoder_2: 694_659_840, vae: 83_653_863 },
};

/** fp16 bytes of a single-file checkpoint's components, from its kind. */
export function singleFileComponents(kind: CheckpointKind): Partial<Record<Component, number>> {
  return Object.fromEntries(Object.entries(PARAMETERS[kind]).map(([c, n]) => [c, n * 2])) as Partial<Record<Component, number>>;
}

export const sumComponents = (components: Partial<Record<Component, number>>): number => Object.values(components).reduce((a, b) => a + (b ?? 0), 0);

/** Whether every component a conversion of these parts needs has a known size. */
export function sizesKnown(sizes: ModelSizes): boolean {
  return sizes.components.unet !== undefined || sizes.components.text_encoder !== undefined || sizes.components.vae !== undefined;
}

import type { ModelSizes, ProcessEstimate } from '../../budget/estimate.js';
import type { CoreAiStep } from './plan.js';

const GIB = 2 ** 30;

/**
 * The Core AI backend's figures, pure: each process's peak as BASE + k × the part's fp16 weight bytes
 * (the export traces the float32 module, converts and saves it, then the same process runs the saved
 * model with coreai-core's runtime beside the PyTorch module for the parity check).
 */
export interface CoreAiFigure {
  k: number;
  source: string;
  measured: boolean;
}

/** Python with torch, coreai-torch, coreai-core and diffusers imported, nothing loaded. */
export const CORE_AI_BASE_BYTES = 0.75 * GIB;

const SD15 = { unet: 1.72e9, textEncoder: 246e6, vae: 167e6 };

/** THE table of the Core AI backend's per-process figures. */
export const CORE_AI_FIGURES: Record<'text_encoder' | 'vae' | 'unet' | 'image', CoreAiFigure> = {
  text_encoder: { k: (2.0 * GIB - CORE_AI_BASE_BYTES) / SD15.textEncoder, source: 'not measured per process: an allowance', measured: false },
  vae: { k: (2.5 * GIB - CORE_AI_BASE_BYTES) / SD15.vae, source: 'not measured per process: an allowance (activations dominate)', measured: false },
  unet: { k: (6.7 * GIB - CORE_AI_BASE_BYTES) / SD15.unet, source: 'SD 1.5 unet exported with coreai-torch at 6.7 GiB with the text encoder and VAE also in memory (coreai.md)', measured: true },
  image: { k: (6.7 * GIB - CORE_AI_BASE_BYTES) / SD15.unet, source: 'not measured: taken as the unet export (the PyTorch pipeline and the bundle, one after the other)', measured: false },
};

/** Pure: every Core AI process's estimate, from the model's fp16 sizes. */
export function estimateCoreAi(steps: readonly CoreAiStep[], sizes: ModelSizes): ProcessEstimate[] {
  return steps.map((step) => {
    const component = step.kind === 'coreai-export' ? (step.part === 'unet' ? 'unet' : step.part === 'text_encoder' ? 'text_encoder' : 'vae') : step.kind === 'coreai-image' ? 'unet' : undefined;
    if (!component) return { label: step.label, part: 'bundle', peakBytes: CORE_AI_BASE_BYTES, basis: 'metadata and tokenizer files: the runtime alone', measured: false };
    const figure = step.kind === 'coreai-image' ? CORE_AI_FIGURES.image : CORE_AI_FIGURES[component as 'unet' | 'text_encoder' | 'vae'];
    const bytes = sizes.components[component];
    return {
      label: step.label,
      part: step.kind === 'coreai-export' ? step.part : 'image',
      peakBytes: bytes === undefined ? undefined : CORE_AI_BASE_BYTES + figure.k * bytes,
      basis: `${figure.k.toFixed(2)} × the fp16 ${component} + base; ${figure.source}`,
      measured: figure.measured,
    };
  });
}

import type { Config } from '../../config.js';
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

/** Python with torch, coreai-torch, coreai-core, diffusers and transformers imported, nothing loaded: 0.81 GiB (time -v, bench/results/backends-2026-12-07.md). */
export const CORE_AI_BASE_BYTES = 0.81 * GIB;

const SD15 = { unet: 1.72e9, textEncoder: 246e6, vae: 167e6 };

/** THE table of the Core AI backend's per-process figures. */
export const CORE_AI_FIGURES: Record<'text_encoder' | 'vae' | 'unet' | 'image', CoreAiFigure> = {
  text_encoder: { k: (1.78 * GIB - CORE_AI_BASE_BYTES) / SD15.textEncoder, source: 'SD 1.5 text encoder exported and checked: 1.78 GiB (bench/backends.mjs, time -v)', measured: true },
  vae: { k: (2.34 * GIB - CORE_AI_BASE_BYTES) / SD15.vae, source: 'SD 1.5 VAE decoder exported and checked: 2.34 GiB (bench/backends.mjs, time -v); the encoder taken alike', measured: true },
  unet: { k: (5.9 * GIB - CORE_AI_BASE_BYTES) / SD15.unet, source: 'SD 1.5 unet exported, then its check on coreai-core (stopped after 31 min): 5.9 GiB (python/coreai_export.py, time -v)', measured: true },
  image: { k: (5.9 * GIB - CORE_AI_BASE_BYTES) / SD15.unet, source: 'not measured: taken as the unet process (the bundle one model at a time, then the PyTorch pipeline)', measured: false },
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

/**
 * How long coreai-core's runtime takes on Linux, measured at full size (SD 1.5, random weights from the
 * published configs, 2 shared cores): it runs a model on one CPU thread. One text encoder call (the
 * parity check) took 560 s; one unet call (batch 2, 64x64 latents) did not end in 31 minutes and was
 * stopped. Seconds per call per fp16 byte of the part; the unet's is a lower bound.
 */
export const LINUX_RUNTIME = {
  textEncoder: { secondsPerByte: 560 / SD15.textEncoder, source: 'SD 1.5 text encoder parity on coreai-core (Linux): 560 s, measured' },
  vae: { secondsPerByte: 1774 / SD15.vae, source: 'SD 1.5 VAE decoder parity on coreai-core (Linux): 1774 s, measured (bench/backends.mjs)' },
  unet: { secondsPerByte: (31 * 60) / SD15.unet, source: 'SD 1.5 unet parity on coreai-core (Linux): not ended after 31 min (a lower bound)' },
};

/** A GitHub-hosted job ends after 6 hours: a check that cannot end before is refused, not started. */
export const JOB_LIMIT_SECONDS = 6 * 3600;
/** Above this, a check is worth a warning. */
const WARN_SECONDS = 30 * 60;

const minutes = (s: number) => (s >= 3600 ? `${(s / 3600).toFixed(1)} h` : `${Math.round(s / 60)} min`);

/**
 * Pure: the runtime checks' time on a Linux runner (the per-part parity of the unet, and the image
 * check, one unet call per step), from the measured figures: refused when they cannot end within a
 * job's 6 hours, a warning above 30 minutes. Nothing on macOS (not measured there: Apple's runtime).
 */
export function runtimeTime(config: Config, steps: readonly CoreAiStep[], sizes: ModelSizes): { refusals: string[]; warnings: string[] } {
  const out = { refusals: [] as string[], warnings: [] as string[] };
  if (config.runner.os !== 'Linux') return out;
  const unet = sizes.components.unet;
  const textEncoder = sizes.components.text_encoder;
  const unetCall = unet === undefined ? undefined : unet * LINUX_RUNTIME.unet.secondsPerByte;
  const why = "coreai-core's runtime runs each model on one CPU thread on Linux (measured at full size: the SD 1.5 text encoder's check 560 s, the VAE decoder's 1774 s, the unet's not ended after 31 min)";
  const check = config.conversion.checkOutputCorrectness;
  if (check && textEncoder !== undefined && textEncoder * LINUX_RUNTIME.textEncoder.secondsPerByte > WARN_SECONDS) {
    out.warnings.push(`Checking the text encoder on coreai-core will take about ${minutes(textEncoder * LINUX_RUNTIME.textEncoder.secondsPerByte)}: ${why}.`);
  }
  const vae = sizes.components.vae;
  if (check && vae !== undefined && vae * LINUX_RUNTIME.vae.secondsPerByte > WARN_SECONDS) {
    out.warnings.push(`Checking the VAE on coreai-core will take about ${minutes(vae * LINUX_RUNTIME.vae.secondsPerByte)} a part: ${why}.`);
  }
  if (check && unetCall !== undefined && steps.some((s) => s.kind === 'coreai-export' && s.part === 'unet') && unetCall > WARN_SECONDS) {
    const text = `Checking the unet on coreai-core will take at least ${minutes(unetCall)}: ${why}.`;
    if (unetCall > JOB_LIMIT_SECONDS) out.refusals.push(`${text} Set check-output-correctness: false to export it unchecked.`);
    else out.warnings.push(text);
  }
  const image = config.coreAi?.image;
  if (image && unetCall !== undefined && steps.some((s) => s.kind === 'coreai-image')) {
    const total = image.steps * unetCall;
    if (total > JOB_LIMIT_SECONDS) {
      out.refusals.push(`The image check would take at least ${minutes(total)} (${image.steps} unet calls of at least ${minutes(unetCall)} each), more than a job's 6 hours: ${why}. Set image-check: false on a Linux runner at this size.`);
    } else if (total > WARN_SECONDS) {
      out.warnings.push(`The image check will take at least ${minutes(total)} (${image.steps} unet calls): ${why}.`);
    }
  }
  return out;
}

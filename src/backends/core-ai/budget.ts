import type { Config } from '../../config.js';
import type { ModelSizes, ProcessEstimate } from '../../budget/estimate.js';
import { checkPrecisionOf, type CoreAiStep } from './plan.js';

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

/** Peak RSS of the float32 twin's process (export and check in float32), SD 1.5 at full size. */
const TWIN_PEAK_GIB = { text_encoder: 2.3, vae: 2.67, unet: 10.6 };
/** One SD 1.5 VAE decoder call (512×512) on coreai-core, Linux, float32. */
const VAE_FLOAT32_SECONDS = 614;

/** THE table of the Core AI backend's per-process figures (a twin: the part exported and checked in float32, check-precision). */
export const CORE_AI_FIGURES: Record<'text_encoder' | 'vae' | 'unet' | 'image' | 'text_encoder_twin' | 'vae_twin' | 'unet_twin', CoreAiFigure> = {
  text_encoder: { k: (1.78 * GIB - CORE_AI_BASE_BYTES) / SD15.textEncoder, source: 'SD 1.5 text encoder exported and checked: 1.78 GiB (bench/backends.mjs, time -v)', measured: true },
  vae: { k: (2.34 * GIB - CORE_AI_BASE_BYTES) / SD15.vae, source: 'SD 1.5 VAE decoder exported and checked: 2.34 GiB (bench/backends.mjs, time -v); the encoder taken alike', measured: true },
  unet: { k: (5.9 * GIB - CORE_AI_BASE_BYTES) / SD15.unet, source: 'SD 1.5 unet exported, then its check on coreai-core (stopped after 31 min): 5.9 GiB (python/coreai_export.py, time -v)', measured: true },
  image: { k: (9.88 * GIB - CORE_AI_BASE_BYTES) / SD15.unet, source: 'SD 1.5 image check on the float32 twins, 20 steps at 512×512: 9.88 GiB (time -v; the float32 unet on coreai-core, then the diffusers pipeline in float32)', measured: true },
  text_encoder_twin: { k: (TWIN_PEAK_GIB.text_encoder * GIB - CORE_AI_BASE_BYTES) / SD15.textEncoder, source: `SD 1.5 text encoder's float32 twin exported and checked: ${TWIN_PEAK_GIB.text_encoder} GiB (bench/coreai-runtime.mjs, time -v)`, measured: true },
  vae_twin: { k: (TWIN_PEAK_GIB.vae * GIB - CORE_AI_BASE_BYTES) / SD15.vae, source: `SD 1.5 VAE decoder's float32 twin exported and checked: ${TWIN_PEAK_GIB.vae} GiB (bench/coreai-runtime.mjs, time -v); the encoder taken alike`, measured: true },
  unet_twin: { k: (TWIN_PEAK_GIB.unet * GIB - CORE_AI_BASE_BYTES) / SD15.unet, source: `SD 1.5 unet's float32 twin exported and checked: ${TWIN_PEAK_GIB.unet} GiB (bench/coreai-runtime.mjs, time -v)`, measured: true },
};

/** Pure: every Core AI process's estimate, from the model's fp16 sizes. */
export function estimateCoreAi(steps: readonly CoreAiStep[], sizes: ModelSizes): ProcessEstimate[] {
  return steps.map((step) => {
    const component = step.kind === 'coreai-export' ? (step.part === 'unet' ? 'unet' : step.part === 'text_encoder' ? 'text_encoder' : 'vae') : step.kind === 'coreai-image' ? 'unet' : undefined;
    if (!component) return { label: step.label, part: 'bundle', peakBytes: CORE_AI_BASE_BYTES, basis: 'metadata and tokenizer files: the runtime alone', measured: false };
    const figure = step.kind === 'coreai-image' ? CORE_AI_FIGURES.image : CORE_AI_FIGURES[step.kind === 'coreai-export' && step.twin ? (`${component}_twin` as const) : (component as 'unet' | 'text_encoder' | 'vae')];
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

interface RuntimeFigure {
  secondsPerByte: number;
  source: string;
}

/**
 * How long coreai-core's runtime takes a call on Linux, measured at full size (SD 1.5, random weights
 * from the published configs, this project's 2-core machine): it runs a model on one CPU thread, and
 * float16 through software conversions one element at a time (perf: 86% of a float16 text encoder
 * call in __truncsfhf2/__extendhfsf2), float32 with its own kernels. Seconds per call per fp16 byte
 * of the part, for the precision the checks run in (check-precision); the float16 unet's is a lower
 * bound.
 */
export const LINUX_RUNTIME: Record<'float16' | 'float32', Record<'textEncoder' | 'vae' | 'unet', RuntimeFigure>> = {
  float16: {
    textEncoder: { secondsPerByte: 560 / SD15.textEncoder, source: 'SD 1.5 text encoder parity on coreai-core (Linux, float16): 560 s, measured' },
    vae: { secondsPerByte: 1774 / SD15.vae, source: 'SD 1.5 VAE decoder parity on coreai-core (Linux, float16): 1774 s, measured (bench/backends.mjs)' },
    unet: { secondsPerByte: (31 * 60) / SD15.unet, source: 'SD 1.5 unet parity on coreai-core (Linux, float16): not ended after 31 min (a lower bound)' },
  },
  float32: {
    textEncoder: { secondsPerByte: 1.4 / SD15.textEncoder, source: 'SD 1.5 text encoder on coreai-core (Linux, float32 twin): 1.4 and 1.3 s for two calls, measured' },
    vae: { secondsPerByte: VAE_FLOAT32_SECONDS / SD15.vae, source: `SD 1.5 VAE decoder on coreai-core (Linux, float32 twin): ${VAE_FLOAT32_SECONDS} s a call, measured` },
    unet: { secondsPerByte: 258 / SD15.unet, source: 'SD 1.5 unet (batch 2) on coreai-core (Linux, float32 twin): 264 and 254 s for two calls, measured' },
  },
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
  const precision = checkPrecisionOf(config);
  const figures = LINUX_RUNTIME[precision];
  const call = (bytes: number | undefined, figure: RuntimeFigure) => (bytes === undefined ? undefined : bytes * figure.secondsPerByte);
  const textEncoderCall = call(sizes.components.text_encoder, figures.textEncoder);
  const vaeCall = call(sizes.components.vae, figures.vae);
  const unetCall = call(sizes.components.unet, figures.unet);
  const why = precision === 'float16'
    ? "coreai-core's Linux runtime runs each model on one CPU thread and computes float16 through software conversions (measured at full size: the SD 1.5 text encoder's check 560 s, the VAE decoder's 1774 s, the unet's not ended after 31 min); check-precision: float32 (auto on Linux) checks float32 twins instead (the text encoder's call 400 times faster, the unet's at least 7)"
    : "coreai-core's Linux runtime runs each model on one CPU thread (measured at full size, float32 twins: the SD 1.5 unet 258 s a call)";
  const checked = (part: string) => config.conversion.checkOutputCorrectness && steps.some((s) => s.kind === 'coreai-export' && s.part === part);
  if (checked('text_encoder') && textEncoderCall !== undefined && textEncoderCall > WARN_SECONDS) {
    out.warnings.push(`Checking the text encoder on coreai-core will take about ${minutes(textEncoderCall)}: ${why}.`);
  }
  if (checked('vae_decoder') && vaeCall !== undefined && vaeCall > WARN_SECONDS) {
    out.warnings.push(`Checking the VAE on coreai-core will take about ${minutes(vaeCall)} a part: ${why}.`);
  }
  if (checked('unet') && unetCall !== undefined && unetCall > WARN_SECONDS) {
    const text = `Checking the unet on coreai-core will take at least ${minutes(unetCall)}: ${why}.`;
    if (unetCall > JOB_LIMIT_SECONDS) out.refusals.push(`${text} Set check-output-correctness: false to export it unchecked.`);
    else out.warnings.push(text);
  }
  const image = config.coreAi?.image;
  if (image && unetCall !== undefined && steps.some((s) => s.kind === 'coreai-image')) {
    // One unet call (batch 2: guidance) a step, one VAE decoder call, one text encoder call.
    const total = image.steps * unetCall + (vaeCall ?? 0) + (textEncoderCall ?? 0);
    if (total > JOB_LIMIT_SECONDS) {
      const hint = precision === 'float16' ? 'Leave check-precision empty (float32 twins on Linux), or set image-check: false' : 'Set fewer image-steps, or image-check: false';
      out.refusals.push(`The image check would take at least ${minutes(total)} (${image.steps} unet calls of at least ${minutes(unetCall)} each), more than a job's 6 hours: ${why}. ${hint}.`);
    } else if (total > WARN_SECONDS) {
      out.warnings.push(`The image check will take about ${minutes(total)} on coreai-core (${image.steps} unet calls of ${minutes(unetCall)}), and diffusers' half after it: ${why}.`);
    }
  }
  return out;
}

import * as path from 'node:path';
import type { CheckPrecision, CoreAiCompression, CoreAiOptions, ImageCheckOptions } from '../config.js';
import type { FieldReader } from './fields.js';

/** The action's own Core AI helpers, shipped with it (relative to the action's root). */
export const CORE_AI_EXPORT_ENTRY = 'python/coreai_export.py';
export const CORE_AI_IMAGE_ENTRY = 'python/coreai_image.py';

export const CORE_AI_COMPRESSIONS: readonly CoreAiCompression[] = ['none', 'int4', 'palettize4'];
export const CHECK_PRECISIONS: readonly CheckPrecision[] = ['auto', 'float16', 'float32'];

/** What the image check takes when its inputs are left empty (action.yml says the same). */
export const IMAGE_DEFAULTS: Readonly<ImageCheckOptions> = { prompt: 'a photo of a cat', seed: 0, steps: 20, guidance: 7.5, minPsnr: 30 };

/** image-prompt's longest value, in characters (CLIP reads 77 tokens of it; the rest is the log's and the release notes'). */
export const MAX_PROMPT_CHARACTERS = 300;
/** Seeds are 32-bit: numpy's and torch's generators take 0 to 2**32 - 1 alike. */
export const MAX_SEED = 2 ** 32 - 1;
export const MAX_STEPS = 200;
export const MAX_GUIDANCE = 30;

/**
 * Characters the screen of every input (C0 and DEL) lets through that still break or disguise a line:
 * C1 controls (NEL ends a line for some readers), the Unicode line and paragraph separators, and
 * the bidirectional overrides and isolates that make a line read otherwise than it is.
 */
const PROMPT_UNSAFE = /[\u0080-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/**
 * Pure: why image-prompt cannot be used (completing "Input `image-prompt` ..."), or undefined. The
 * prompt is free text: it reaches the helper as one argv element (never a shell), and the summary,
 * the release notes and the model card quote it; its value is never shown here.
 */
export function promptProblem(prompt: string): string | undefined {
  if (PROMPT_UNSAFE.test(prompt)) {
    return 'holds a control character, a line or paragraph separator, or a bidirectional override, which could end or disguise a line of the log, the summary or the release notes; its value is not shown.';
  }
  const length = [...prompt].length;
  if (length > MAX_PROMPT_CHARACTERS) return `is ${length} characters long, more than ${MAX_PROMPT_CHARACTERS}: the text encoder reads the first 77 tokens only, and the prompt is quoted in the summary and the release notes.`;
  return undefined;
}

/** The Core AI inputs (only read when backend is core-ai: with core-ml they are foreign, src/inputs/backend.ts). */
export function readCoreAi(read: FieldReader, actionRoot: string): CoreAiOptions {
  const compression = read.oneOf('compression', CORE_AI_COMPRESSIONS, 'none');
  const checkPrecision = read.oneOf('check-precision', CHECK_PRECISIONS, 'auto');
  const checks = read.bool('image-check', true);
  const image: ImageCheckOptions = {
    prompt: readPrompt(read),
    seed: read.integerIn('image-seed', 0, MAX_SEED, IMAGE_DEFAULTS.seed),
    steps: read.integerIn('image-steps', 1, MAX_STEPS, IMAGE_DEFAULTS.steps),
    guidance: read.decimalIn('image-guidance', 0, MAX_GUIDANCE, IMAGE_DEFAULTS.guidance),
    minPsnr: read.positiveNumber('image-min-psnr', IMAGE_DEFAULTS.minPsnr),
  };
  return {
    compression,
    checkPrecision,
    exportEntry: path.join(actionRoot, CORE_AI_EXPORT_ENTRY),
    imageEntry: path.join(actionRoot, CORE_AI_IMAGE_ENTRY),
    // The image inputs are checked even when image-check is false: a typo there is still a typo.
    image: checks ? image : undefined,
  };
}

function readPrompt(read: FieldReader): string {
  const prompt = read.text('image-prompt');
  if (prompt === '') return IMAGE_DEFAULTS.prompt;
  const problem = promptProblem(prompt);
  if (problem) {
    read.fail('image-prompt', problem);
    return IMAGE_DEFAULTS.prompt;
  }
  return prompt;
}

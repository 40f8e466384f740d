/** Every input of action.yml, declared once; a unit test keeps this list and action.yml in step. */
export const INPUT_NAMES = [
  'model-version',
  'model-config',
  'lora',
  'allow-pickle',
  'preset',
  'convert-text-encoder',
  'convert-vae-decoder',
  'convert-vae-encoder',
  'convert-unet',
  'convert-safety-checker',
  'convert-mmdit',
  'convert-controlnet',
  'refiner-version',
  'custom-vae-version',
  'compute-unit',
  'latent-h',
  'latent-w',
  'text-token-sequence-length',
  'text-encoder-hidden-size',
  'attention-implementation',
  'check-output-correctness',
  'check-compute-unit',
  'chunk-unet',
  'quantize-nbits',
  'unet-support-controlnet',
  'unet-batch-one',
  'include-t5',
  'bundle-resources-for-swift-cli',
  'text-encoder-vocabulary-url',
  'text-encoder-merges-url',
  'text-encoder-t5-url',
  'text-encoder-t5-config-url',
  'text-encoder-t5-data-url',
  'min-deployment-target',
  'xl-version',
  'sd3-version',
  'output-dir',
  'extra-args',
  'hf-token',
  'python-version',
  'python',
  'ml-stable-diffusion',
  'pip-constraints',
  'min-psnr',
  'psnr-thresholds',
  'quantized-min-psnr',
  'process-per-component',
  'lean-conversion',
  'dry-run',
  'over-budget',
  'split',
  'handoff',
  'runner-memory',
  'verify-bundle',
  'prepare-fp16',
  'model-revision',
  'cache',
  'cache-outputs',
  'skip-if-unchanged',
  'package',
  'asset-prefix',
  'compression-level',
  'max-asset-size',
  'upload-artifact',
  'artifact-name',
  'retention-days',
  'release-tag',
  'release-name',
  'release-notes',
  'draft',
  'prerelease',
  'github-token',
  'overwrite-assets',
  'hub-repo',
  'hub-token',
  'hub-private',
  'hub-revision',
  'hub-path-in-repo',
] as const;
export type InputName = (typeof INPUT_NAMES)[number];

/** Inputs of verify/action.yml, the standalone bundle check (src/outputs.ts has the outputs of all three). */
export const VERIFY_INPUT_NAMES = ['path', 'model-kind', 'attention-implementation', 'quantize-nbits', 'chunked', 'controlnets'] as const;
export type VerifyInputName = (typeof VERIFY_INPUT_NAMES)[number];

/** Inputs of plan/action.yml, the matrix planner for many models and variants. */
export const PLAN_INPUT_NAMES = ['models', 'preset', 'release-tag', 'skip-if-unchanged', 'split', 'hf-token', 'github-token'] as const;
export type PlanInputName = (typeof PLAN_INPUT_NAMES)[number];

/** Inputs of action.yml read one item a line: a line break separates items there, and is no control character. */
export const LINE_INPUTS: ReadonlySet<InputName> = new Set<InputName>(['extra-args', 'lora', 'psnr-thresholds', 'release-notes', 'convert-controlnet']);
/** Tokens: masked, never quoted, refused with any white space or control character. */
export const SECRET_INPUTS: ReadonlySet<InputName> = new Set<InputName>(['hf-token', 'github-token', 'hub-token']);
/** Free text for the release page (Markdown): tabs allowed, and a URL in it is the user's text. */
export const FREE_TEXT_INPUTS: ReadonlySet<InputName> = new Set<InputName>(['release-notes', 'release-name']);
export const MAIN_INPUT_SCREEN = { lines: LINE_INPUTS, tabs: new Set<InputName>(['release-notes']), secrets: SECRET_INPUTS, freeText: FREE_TEXT_INPUTS };
export const PLAN_INPUT_SCREEN = {
  lines: new Set<PlanInputName>(['models', 'preset']),
  tabs: new Set<PlanInputName>(['models']),
  secrets: new Set<PlanInputName>(['hf-token', 'github-token']),
};
export const VERIFY_INPUT_SCREEN = { lines: new Set<VerifyInputName>(['controlnets']) };

/** Every input of action.yml, declared once; a unit test keeps this list and action.yml in step. */
export const INPUT_NAMES = [
  'model-version',
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
  'process-per-component',
  'dry-run',
  'verify-bundle',
  'prepare-fp16',
  'model-revision',
  'cache',
  'cache-outputs',
] as const;
export type InputName = (typeof INPUT_NAMES)[number];

/** Every output of action.yml, declared once. */
export const OUTPUT_NAMES = [
  'output-dir',
  'resources-dir',
  'mlpackages',
  'plan',
  'psnr',
  'psnr-passed',
  'model-revision-sha',
  'cache-hit-pip',
  'cache-hit-hf',
  'cache-hit-env',
  'cache-hit-outputs',
] as const;
export type OutputName = (typeof OUTPUT_NAMES)[number];

/** Inputs and outputs of verify/action.yml, the standalone bundle check. */
export const VERIFY_INPUT_NAMES = ['path', 'model-kind', 'attention-implementation', 'quantize-nbits', 'chunked', 'controlnets'] as const;
export type VerifyInputName = (typeof VERIFY_INPUT_NAMES)[number];
export const VERIFY_OUTPUT_NAMES = ['passed', 'facts'] as const;

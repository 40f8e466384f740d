/**
 * Every input of action.yml, declared once with its action.yml default (what the runner passes for
 * an input the workflow leaves out; `${{ github.token }}` as written there). A unit test keeps this
 * table and action.yml in step: the names, their order and every default.
 */
export const INPUT_DEFAULTS = {
  'model-version': '',
  'model-config': '',
  'lora': '',
  'allow-pickle': 'false',
  'backend': 'core-ml',
  'compression': '',
  'check-precision': '',
  'image-check': '',
  'image-prompt': '',
  'image-seed': '',
  'image-steps': '',
  'image-guidance': '',
  'image-min-psnr': '',
  'preset': '',
  'convert-text-encoder': 'true',
  'convert-vae-decoder': 'true',
  'convert-vae-encoder': 'false',
  'convert-unet': '',
  'convert-safety-checker': 'false',
  'convert-mmdit': '',
  'convert-controlnet': '',
  'refiner-version': '',
  'custom-vae-version': '',
  'compute-unit': '',
  'latent-h': '',
  'latent-w': '',
  'text-token-sequence-length': '',
  'text-encoder-hidden-size': '',
  'attention-implementation': '',
  'check-output-correctness': 'true',
  'check-compute-unit': '',
  'chunk-unet': '',
  'quantize-nbits': '',
  'unet-support-controlnet': 'false',
  'unet-batch-one': 'false',
  'include-t5': 'false',
  'bundle-resources-for-swift-cli': 'true',
  'text-encoder-vocabulary-url': '',
  'text-encoder-merges-url': '',
  'text-encoder-t5-url': '',
  'text-encoder-t5-config-url': '',
  'text-encoder-t5-data-url': '',
  'min-deployment-target': 'macOS13',
  'xl-version': '',
  'sd3-version': 'false',
  'output-dir': 'coreml-models',
  'extra-args': '',
  'hf-token': '',
  'python-version': '3.11',
  'python': '',
  'ml-stable-diffusion': '',
  'pip-constraints': '',
  'min-psnr': '35',
  'psnr-thresholds': '',
  'quantized-min-psnr': '20',
  'process-per-component': 'true',
  'lean-conversion': 'true',
  'dry-run': 'false',
  'over-budget': 'fail',
  'split': 'none',
  'handoff': '',
  'runner-memory': '',
  'verify-bundle': 'true',
  'prepare-fp16': 'auto',
  'model-revision': 'main',
  'cache': 'true',
  'cache-outputs': 'true',
  'skip-if-unchanged': 'false',
  'package': 'true',
  'asset-prefix': '',
  'compression-level': '0',
  'max-asset-size': '1.9GiB',
  'upload-artifact': 'true',
  'artifact-name': '',
  'retention-days': '',
  'release-tag': '',
  'release-name': '',
  'release-notes': '',
  'draft': 'false',
  'prerelease': 'false',
  'github-token': '${{ github.token }}',
  'overwrite-assets': 'true',
  'hub-repo': '',
  'hub-token': '',
  'hub-private': '',
  'hub-revision': 'main',
  'hub-path-in-repo': '{variant}',
} as const satisfies Readonly<Record<string, string>>;
export type InputName = keyof typeof INPUT_DEFAULTS;
/** Every input of action.yml, in action.yml's order. */
export const INPUT_NAMES = Object.keys(INPUT_DEFAULTS) as readonly InputName[];

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

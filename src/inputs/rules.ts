import { APPLE_SILICON_ONLY, APPLE_SILICON_RUNNERS, DEFAULT_REQUIREMENT, SUPPORTED_PYTHON } from '../converter/install.js';
import { COMPILE_UNCHECKED, CONVERTER_MIN_PSNR, shellUnsafeCharacters } from '../converter/vocabulary.js';
import type { Config } from '../config.js';
import type { InputName } from './names.js';
import { SD3_NOT_FP16, unstageable } from '../fp16/decide.js';
import { PRESETS } from './presets.js';
import { DIFFUSIONKIT_VERSION, SD3_CHECKPOINT, SD3_MODELS, SD3_SDXL_BASE } from '../converter/diffusionkit.js';
import { describeSource, isPickle } from '../single-file/source.js';
import { singleFiles } from './single-file.js';
import { BASE_BYTES } from '../budget/estimate.js';
import { formatBytes } from '../format/markdown.js';
import { SPLIT_RULES } from './split-rules.js';

import type { Rule } from './rule.js';

export type { Rule } from './rule.js';

const isMacOS = (c: Config) => c.runner.os === 'macOS';

/** A path the bundling step hands to a shell unquoted: the message when it would not survive that. */
function unsafeForCompile(c: Config, what: string, value: string): string | undefined {
  const bad = c.conversion.bundleResources ? shellUnsafeCharacters(value) : [];
  if (bad.length === 0) return undefined;
  const named = bad.map((ch) => (ch === ' ' ? 'a space' : JSON.stringify(ch))).join(', ');
  return `${what} ${JSON.stringify(value)}, which holds ${named}: with bundle-resources-for-swift-cli ${COMPILE_UNCHECKED} (\`xcrun coremlcompiler compile <output-dir>/<package> <output-dir>/Resources\`, package names hold model-version), so a shell would split or expand it. Use only letters, digits and . _ - / + , : @ % = in it.`;
}

function compareVersion(version: string, [major, minor]: readonly number[]): number {
  const [a = 0, b = 0] = version.split('.').map(Number);
  return a - (major ?? 0) || b - (minor ?? 0);
}

/**
 * With --sd3-version, get_pipeline loads the SDXL base and these inputs would convert its parts
 * under the SD3 model's name; SD3 itself denoises with the MMDiT and decodes with DiffusionKit's VAE.
 */
const SD3_REFUSED: ReadonlyArray<readonly [InputName, (c: Config) => boolean, string]> = [
  ['convert-unet', (c) => c.conversion.parts.includes('unet'), `the converter would convert the unet of ${SD3_SDXL_BASE} (the pipeline it loads for SD3's text encoders) under the SD3 name; SD3 denoises with the MMDiT (convert-mmdit, on by default with sd3-version)`],
  ['convert-vae-encoder', (c) => c.conversion.parts.includes('vae_encoder'), `the converter would convert the 4-channel VAE encoder of ${SD3_SDXL_BASE}, which does not fit SD3's 16-channel latents`],
  ['convert-safety-checker', (c) => c.conversion.parts.includes('safety_checker'), `the pipeline the converter loads for SD3 (${SD3_SDXL_BASE}) has no safety checker`],
  ['refiner-version', (c) => c.conversion.refinerVersion !== undefined, 'the converter converts a refiner together with a unet, and SD3 has neither'],
];

const PICKLE_WHY =
  'a .ckpt is a Python pickle, and loading a pickle runs whatever code it holds (torch.load unpickles it with the converter\'s rights, token included)';

/** model-version as a single file (src/single-file/): what goes with it, and what does not. */
const SINGLE_FILE_RULES: readonly Rule[] = [
  {
    input: 'allow-pickle',
    severity: 'error',
    check: (c) => {
      const pickles = c.singleFile && !c.singleFile.allowPickle ? singleFiles(c.singleFile).filter(isPickle) : [];
      return pickles.length > 0
        ? `is false, but ${pickles.map((f) => describeSource(f)).join(', ')} ${pickles.length === 1 ? 'is' : 'are'} .ckpt: ${PICKLE_WHY}. Use a .safetensors file, or set allow-pickle: true if you trust where the file came from.`
        : undefined;
    },
  },
  {
    input: 'sd3-version',
    severity: 'error',
    check: (c) => (c.singleFile && c.conversion.sd3Version ? 'cannot be used with a single-file model-version: SD3 converts from its Hub repository (the SD 1.x, 2.x and SDXL single files are what the action turns into diffusers folders).' : undefined),
  },
  {
    input: 'convert-safety-checker',
    severity: 'error',
    check: (c) => (c.singleFile && c.conversion.parts.includes('safety_checker') ? 'cannot be used with a single-file model-version: diffusers\' from_single_file makes the pipeline without a safety checker, so there is none to convert.' : undefined),
  },
  {
    input: 'prepare-fp16',
    severity: 'warning',
    check: (c) => (c.singleFile && c.prepareFp16.mode === 'always' ? 'is true, but has no effect with a single-file model-version: the folder made of it is saved in fp16 already.' : undefined),
  },
];

/** Inputs that publish the zips packaging makes: each needs `package: true`. */
const PACKAGE_CONSUMERS: ReadonlyArray<readonly [InputName, (c: Config) => string | undefined, string]> = [
  ['release-tag', (c) => c.publish.release?.tag, 'the release assets are the zips that packaging makes'],
  ['hub-repo', (c) => c.publish.hub?.repo, 'the Hub repository gets the zips that packaging makes'],
];

/**
 * The largest latent side the action passes on: 256 (2048 px). The models are trained at 512 to
 * 1024 px (latent 64 to 128); the unet's first self-attention holds (h*w)^2 scores per head, which
 * at 256x256 is 65536^2 fp16 values, 8 GiB for one head, in the converter's trace and again in
 * Core ML's PSNR prediction: beyond that no runner (7 to 24 GB of memory) can convert or check it.
 */
export const MAX_LATENT = 256;

const LATENT_RULES: readonly Rule[] = (['latent-h', 'latent-w'] as const).map(
  (input): Rule => ({
    input,
    severity: 'error',
    check: (c) => {
      const value = input === 'latent-h' ? c.conversion.latentH : c.conversion.latentW;
      return value !== undefined && value > MAX_LATENT
        ? `is ${value} (${value * 8} px), above ${MAX_LATENT} (${MAX_LATENT * 8} px): the unet's first self-attention holds (h*w)^2 scores per head, 8 GiB for one head at ${MAX_LATENT}x${MAX_LATENT}, in the converter's trace and in Core ML's check, more than any runner has; the models are trained at latent 64 to 128.`
        : undefined;
    },
  }),
);

/**
 * The checks that apply whatever the backend (the model, the budget, caching, publishing). Each
 * backend adds its own (Backend.rules: CORE_ML_RULES below for core-ml, src/backends/<name>/rules.ts).
 */
export const RULES: readonly Rule[] = [
  ...LATENT_RULES,
  ...SINGLE_FILE_RULES,
  {
    input: 'model-revision',
    severity: 'error',
    check: (c) =>
      c.conversion.modelRevision !== 'main' && c.singleFile?.checkpoint.where !== 'hub' && (c.conversion.modelIsLocal || c.conversion.controlnets.length > 0 || c.conversion.includeT5)
        ? c.conversion.modelIsLocal
          ? `applies to a Hub model, but model-version is a local ${c.singleFile ? 'file' : 'folder'}.`
          : 'cannot be pinned with ControlNets or include-t5: the converter then has to reach the Hub (model cards, the T5 download) and loads `main`.'
        : undefined,
  },
  {
    input: 'skip-if-unchanged',
    severity: 'error',
    check: (c) =>
      c.skipIfUnchanged && !c.publish.release && !c.publish.hub
        ? 'is true, but `release-tag` and `hub-repo` are empty: the manifest it compares with is an asset of that release, or a file of that Hub repository. Set one of them, or leave skip-if-unchanged false.'
        : undefined,
  },
  {
    input: 'skip-if-unchanged',
    severity: 'warning',
    // A single file compares by its sha256s (src/refresh/single-file.ts), but a config folder has no commit.
    check: (c) =>
      !c.skipIfUnchanged
        ? undefined
        : c.singleFile?.modelConfig?.where === 'local'
          ? 'is true, but model-config is a local folder, which has no commit to compare: the action always converts the single file.'
          : c.conversion.modelIsLocal && !c.singleFile
            ? 'is true, but model-version is a local folder, which has no commit to compare: the action always converts it.'
            : undefined,
  },
  {
    input: 'runner-memory',
    severity: 'error',
    check: (c) =>
      c.budget.runnerMemory !== undefined && c.budget.runnerMemory < BASE_BYTES
        ? `is ${formatBytes(c.budget.runnerMemory)}, less than the ${formatBytes(BASE_BYTES)} Python takes with the converter's packages imported before it converts anything (src/budget/estimate.ts): give the runner's memory (a number of GiB, e.g. 7 or 14), or leave it empty to read it.`
        : undefined,
  },
  {
    input: 'over-budget',
    severity: 'warning',
    check: (c) =>
      c.budget.overBudget === 'warn' && c.dryRun
        ? 'is warn, but dry-run only prints the budget: it refuses nothing either way.'
        : undefined,
  },
  {
    input: 'check-output-correctness',
    severity: 'warning',
    check: (c) =>
      !c.conversion.checkOutputCorrectness
        ? 'is false: no PSNR check runs, so nothing tells a broken conversion from a good one before the apps load it.'
        : undefined,
  },
  ...PACKAGE_CONSUMERS.map(
    ([input, valueOf, why]): Rule => ({
      input,
      severity: 'error',
      check: (c) => {
        const value = valueOf(c);
        return value !== undefined && !c.publish.package ? `is ${JSON.stringify(value)}, but \`package\` is false: ${why}. Set package: true, or leave ${input} empty.` : undefined;
      },
    }),
  ),
  {
    input: 'github-token',
    severity: 'error',
    check: (c) =>
      c.publish.release && c.publish.githubToken === ''
        ? `is empty, but release-tag is set: publishing a release needs a token that may write contents. Leave github-token at its default (\${{ github.token }}) and give the job \`permissions: contents: write\`.`
        : undefined,
  },
  {
    input: 'hub-token',
    severity: 'error',
    check: (c) =>
      c.publish.hub && c.publish.hub.token === ''
        ? `is empty, but hub-repo is ${JSON.stringify(c.publish.hub.repo)}: committing to it needs a Hugging Face token with write access to that repository (a fine-grained token with "Write access to contents/settings of all repos" of its owner, or a classic "write" token); hf-token is not used for writing. Pass one with \`hub-token: \${{ secrets.HF_WRITE_TOKEN }}\`.`
        : undefined,
  },
  {
    input: 'release-tag',
    severity: 'error',
    check: (c) =>
      c.publish.release && !c.publish.github.repository
        ? 'is set, but GITHUB_REPOSITORY is not: the release goes to the repository of the workflow run, which only a GitHub Actions runner names.'
        : undefined,
  },
];

/**
 * The checks of backend core-ml (its `rules`, src/backends/core-ml/index.ts): torch2coreml's inputs, its
 * Python, and the macOS that bundling and its PSNR check need.
 */
export const CORE_ML_RULES: readonly Rule[] = [
  ...SPLIT_RULES,
  {
    input: 'dry-run',
    severity: 'error',
    check: (c) =>
      !isMacOS(c) && !c.dryRun && c.split.mode !== 'convert'
        ? `is false on a ${c.runner.os} runner: bundling compiles with Xcode's coremlcompiler and the PSNR check runs Core ML predictions, both of which need macOS. ` +
          'Use `runs-on: macos-latest` (or macos-15), or convert here with `split: convert` and finish on macOS with `split: finish`; on other runners only `dry-run: true` works.'
        : undefined,
  },
  {
    input: 'dry-run',
    severity: 'error',
    check: (c) =>
      isMacOS(c) && c.runner.arch.toUpperCase() === 'X64' && !c.dryRun && c.setup.requirement === DEFAULT_REQUIREMENT
        ? `is false on an Intel (X64) macOS runner, where the pinned converter cannot be installed: ${Object.values(APPLE_SILICON_ONLY).join('; ')}. ` +
          `Use ${APPLE_SILICON_RUNNERS}; on Intel only \`dry-run: true\` works.`
        : undefined,
  },
  {
    input: 'sd3-version',
    severity: 'error',
    check: (c) =>
      c.conversion.xlVersion && c.conversion.sd3Version
        ? 'and `xl-version` are both true: choose one (SD3 loads its own SDXL base for the other parts).'
        : undefined,
  },
  {
    input: 'model-version',
    severity: 'error',
    check: (c) =>
      !c.singleFile && c.conversion.sd3Version && !(SD3_MODELS as readonly string[]).includes(c.conversion.modelVersion)
        ? `is ${JSON.stringify(c.conversion.modelVersion)}, but with sd3-version the converter's DiffusionKit ${DIFFUSIONKIT_VERSION} downloads ${SD3_CHECKPOINT} from the Hub repository model-version names and loads it as SD3 Medium's 2B MMDiT: use ${SD3_MODELS.join(' or ')} (SD3.5 and the -diffusers layout have no such file).`
        : undefined,
  },
  ...SD3_REFUSED.map(
    ([input, applies, why]): Rule => ({
      input,
      severity: 'error',
      check: (c) => (c.conversion.sd3Version && applies(c) ? `cannot be used with \`sd3-version: true\`: ${why}.` : undefined),
    }),
  ),
  {
    input: 'convert-unet',
    severity: 'error',
    check: (c) =>
      c.conversion.parts.length === 0 && c.conversion.controlnets.length === 0
        ? 'and every other convert-* input select nothing: set at least one of convert-text-encoder, convert-vae-decoder, convert-vae-encoder, convert-unet, convert-safety-checker, convert-mmdit, convert-controlnet.'
        : undefined,
  },
  {
    input: 'refiner-version',
    severity: 'error',
    check: (c) =>
      c.conversion.refinerVersion !== undefined && !c.conversion.parts.includes('unet') && !c.conversion.sd3Version
        ? 'needs `convert-unet: true`: the converter converts the refiner together with the unet.'
        : undefined,
  },
  {
    input: 'refiner-version',
    severity: 'error',
    check: (c) =>
      c.conversion.refinerVersion !== undefined && c.conversion.unetSupportControlnet
        ? 'cannot be combined with `unet-support-controlnet`: the converter then names the refiner control-unet and skips it as already converted.'
        : undefined,
  },
  // convert_controlnet builds its sample inputs with batch 2 and controlnet.py has no SDXL
  // (time_ids, text_embeds) or SD3 conditioning: each of these would fail or mismatch the unet.
  {
    input: 'convert-controlnet',
    severity: 'error',
    check: (c) =>
      c.conversion.controlnets.length > 0 && c.conversion.unetBatchOne
        ? 'cannot be combined with `unet-batch-one: true`: the converter converts every ControlNet with batch size 2 (classifier-free guidance), so its outputs would not fit a batch-one unet. Leave unet-batch-one false, or convert the ControlNets without it.'
        : undefined,
  },
  {
    input: 'convert-controlnet',
    severity: 'error',
    check: (c) =>
      c.conversion.controlnets.length > 0 && c.conversion.xlVersion
        ? 'cannot be combined with `xl-version: true`: the converter\'s ControlNet model handles SD 1.x and 2.x ControlNets only (it has no SDXL time_ids and text_embeds conditioning).'
        : undefined,
  },
  {
    input: 'convert-controlnet',
    severity: 'error',
    check: (c) =>
      c.conversion.controlnets.length > 0 && c.conversion.sd3Version
        ? 'cannot be combined with `sd3-version: true`: the converter\'s ControlNet model handles SD 1.x and 2.x ControlNets only, and an SD3 bundle has no unet for them to control.'
        : undefined,
  },
  {
    input: 'output-dir',
    severity: 'error',
    check: (c) => unsafeForCompile(c, 'resolves to', c.conversion.outputDir),
  },
  {
    input: 'model-version',
    severity: 'error',
    check: (c) => unsafeForCompile(c, 'is', c.conversion.modelVersion),
  },
  {
    input: 'convert-mmdit',
    severity: 'error',
    check: (c) =>
      c.conversion.parts.includes('mmdit') && !c.conversion.sd3Version
        ? 'needs `sd3-version: true`: only SD3 models have an MMDiT.'
        : undefined,
  },
  {
    input: 'python-version',
    severity: 'error',
    check: (c) =>
      (compareVersion(c.setup.pythonVersion, SUPPORTED_PYTHON.max) > 0 || compareVersion(c.setup.pythonVersion, SUPPORTED_PYTHON.min) < 0) &&
      c.setup.python === undefined &&
      c.setup.requirement === DEFAULT_REQUIREMENT
        ? `is ${c.setup.pythonVersion}, but the pinned converter needs Python ${SUPPORTED_PYTHON.min.join('.')} to ${SUPPORTED_PYTHON.max.join('.')}: it pins numpy<1.24, which has no wheels for 3.12 and newer, and diffusionkit supports 3.9 to 3.11.`
        : undefined,
  },
  {
    input: 'attention-implementation',
    severity: 'warning',
    check: (c) =>
      c.conversion.attention === 'SPLIT_EINSUM_V2' && c.conversion.xlVersion
        ? 'is SPLIT_EINSUM_V2 with SDXL: upstream reports hours of compilation and then running out of memory; SPLIT_EINSUM (iOS) or ORIGINAL (macOS) are advised.'
        : undefined,
  },
  {
    input: 'attention-implementation',
    severity: 'warning',
    check: (c) =>
      c.conversion.attention !== 'ORIGINAL' &&
      c.conversion.latentH !== undefined &&
      c.conversion.latentW !== undefined &&
      c.conversion.latentH !== c.conversion.latentW
        ? `is ${c.conversion.attention} with a non-square latent (${c.conversion.latentH}x${c.conversion.latentW}): ORIGINAL is the reliable choice for non-square sizes.`
        : undefined,
  },
  {
    input: 'chunk-unet',
    severity: 'warning',
    check: (c) =>
      c.conversion.chunkUnet && c.conversion.minDeploymentTarget.startsWith('macOS') && (c.preset === undefined || PRESETS[c.preset].platform !== 'iOS')
        ? `is true with min-deployment-target ${c.conversion.minDeploymentTarget}: chunks are needed for the Neural Engine on iOS and iPadOS, not on macOS, and the apps load chunks in preference to the full Unet.`
        : undefined,
  },
  {
    input: 'min-deployment-target',
    severity: 'warning',
    // macOS13 and iOS16 are one Core ML specification version (coremltools' AvailableTarget), so a
    // palettized bundle made for either also installs on iOS 16, which decompresses it at load.
    check: (c) =>
      c.conversion.quantizeNbits !== undefined &&
      (c.conversion.minDeploymentTarget === 'macOS13' || c.conversion.minDeploymentTarget === 'iOS16') &&
      ((c.preset !== undefined && PRESETS[c.preset].platform === 'iOS') || c.conversion.minDeploymentTarget === 'iOS16')
        ? `is ${c.conversion.minDeploymentTarget} for ${c.conversion.quantizeNbits}-bit weights on iPhone and iPad${c.preset !== undefined ? ` (preset ${c.preset})` : ''}: ` +
          'Apple makes its palettized models for iOS 17 and macOS 14, the first versions whose Core ML decompresses palettized weights as it runs them instead of when it loads the model, which is what lets them fit an iPhone\'s memory. ' +
          `${c.conversion.minDeploymentTarget} is the Core ML version of iOS 16, so the models would also install there and take their float16 size in memory. Give min-deployment-target: iOS17 to require iOS 17.`
        : undefined,
  },
  {
    input: 'min-psnr',
    severity: 'warning',
    check: (c) =>
      c.gate.minPsnr < CONVERTER_MIN_PSNR && c.conversion.checkOutputCorrectness
        ? `is ${c.gate.minPsnr} dB, below the converter's own floor of ${CONVERTER_MIN_PSNR} dB: the converter itself still fails any check under ${CONVERTER_MIN_PSNR} dB.`
        : undefined,
  },
  {
    input: 'check-compute-unit',
    severity: 'warning',
    check: (c) =>
      c.conversion.checkOutputCorrectness && c.conversion.checkComputeUnit === 'CPU_AND_NE' && c.runner.environment !== 'self-hosted'
        ? "is CPU_AND_NE on a GitHub-hosted runner (or one that does not say it is self-hosted): GitHub's macOS VMs have no Neural Engine, and loading a Core ML model for CPU_AND_NE has been seen to hang there. Leave it empty (CPU_ONLY) unless the runner has one."
        : undefined,
  },
  {
    input: 'quantize-nbits',
    severity: 'warning',
    check: (c) =>
      c.conversion.quantizeNbits !== undefined &&
      !c.conversion.parts.some((p) => p === 'unet' || p === 'text_encoder') &&
      c.conversion.controlnets.length === 0
        ? 'is set, but no part that the converter quantizes (text encoders, unets, ControlNets) is converted.'
        : undefined,
  },
  {
    input: 'include-t5',
    severity: 'warning',
    check: (c) =>
      c.conversion.includeT5 && !c.conversion.bundleResources
        ? 'is true, but the T5 encoder only goes into the Resources folder, and `bundle-resources-for-swift-cli` is false.'
        : undefined,
  },
  {
    input: 'prepare-fp16',
    severity: 'error',
    check: (c) => {
      const why = c.prepareFp16.mode === 'always' && !c.conversion.sd3Version ? unstageable(c.conversion.modelVersion) : undefined;
      return why ? `is true, but ${why}: give model-version relative to the workspace.` : undefined;
    },
  },
  {
    input: 'prepare-fp16',
    severity: 'warning',
    check: (c) => (c.prepareFp16.mode === 'always' && c.conversion.sd3Version ? `is true, but has no effect: ${SD3_NOT_FP16}.` : undefined),
  },
];

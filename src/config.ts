import type {
  AttentionImplementation,
  ComputeUnit,
  DeploymentTarget,
  PsnrPart,
  QuantizeNbits,
  SelectablePart,
} from './converter/vocabulary.js';

/** The presets (src/inputs/presets.ts says what each sets). */
export type PresetName = 'macos' | 'ios' | 'xl-macos' | 'xl-ios';

/**
 * Which converter makes the models: `core-ml`, Core ML packages by Apple's torch2coreml (src/backends/core-ml/);
 * `core-ai`, a Core AI bundle by Apple's coreai-torch through the action's own export (src/backends/core-ai/).
 */
export type BackendName = 'core-ml' | 'core-ai';

/** Core AI weight compression: none (fp16), int4 per block, or 4-bit palettized (coreai-opt). */
export type CoreAiCompression = 'none' | 'int4' | 'palettize4';

/** What the Core AI backend is asked to do (set when backend is core-ai). */
/** float16: the bundle's own models; float32: float32 twins of them (coreai-core's Linux runtime is fast in float32 only). */
export type CheckPrecision = 'auto' | 'float16' | 'float32';

export interface CoreAiOptions {
  compression: CoreAiCompression;
  /** Absolute path of python/coreai_export.py, shipped with the action. */
  exportEntry: string;
  /** Absolute path of python/coreai_image.py, shipped with the action. */
  imageEntry: string;
  /** check-precision: what coreai-core runs for the checks (auto: float32 on Linux, float16 elsewhere). */
  checkPrecision: CheckPrecision;
  /** The end-to-end image check; undefined when image-check is false. */
  image?: ImageCheckOptions;
}

/** One image from the exported bundle (coreai-core's runtime) and one from diffusers, from the same initial latents. */
export interface ImageCheckOptions {
  prompt: string;
  seed: number;
  steps: number;
  guidance: number;
  /** The two images' PSNR (8-bit RGB) must reach it. */
  minPsnr: number;
}

/** The one typed configuration that flows down the stages; nothing downstream re-reads inputs. */
export interface Config {
  /** Which converter makes the models; what only one backend reads is refused by name with the other. */
  backend: BackendName;
  /** Set when backend is core-ai. */
  coreAi?: CoreAiOptions;
  conversion: ConversionOptions;
  setup: SetupOptions;
  gate: PsnrGate;
  /** Each part in its own converter process (Apple's advice under 8 GB of RAM). */
  processPerComponent: boolean;
  dryRun: boolean;
  /** Empty only when every model involved is a local folder. */
  hfToken: string;
  runner: RunnerContext;
  /** Check the bundled Resources against what was asked, before anything is published. */
  verifyBundle: boolean;
  caching: CacheOptions;
  prepareFp16: PrepareFp16;
  /** Packaging the outputs and publishing them (workflow artifact, release assets). */
  publish: PublishOptions;
  /** The preset that filled in the inputs left empty (explicit inputs win). */
  preset?: PresetName;
  /** End before any setup when the release already holds this conversion (src/refresh/). */
  skipIfUnchanged: boolean;
  /** Set when model-version is a single-file checkpoint (src/single-file/); conversion.modelVersion is then its stem. */
  singleFile?: SingleFileOptions;
  /** The memory and disk budget checked before anything is installed (src/budget/). */
  budget: BudgetOptions;
  /** One job, or one of the two halves of a conversion split between a Linux and a macOS job (src/handoff/). */
  split: SplitOptions;
}

/**
 * `none`: one job does everything (macOS). `convert`: the heavy half (Linux x64): the model, every
 * part, quantization, chunking and the PyTorch half of the parity check, handed off as one workflow
 * artifact. `finish`: the Apple half (macOS): the hand-off checked, the Core ML half of the parity
 * check, the Resources compiled, verified, packaged and published.
 */
export type SplitMode = 'none' | 'convert' | 'finish';

export interface SplitOptions {
  mode: SplitMode;
  /** The hand-off: an artifact's name, or a folder (absolute, inside the workspace); undefined takes the name the conversion's identity gives. */
  handoff?: { artifact: string } | { path: string };
}

/** What the budget compares with, and what it does when a process or the disk would not fit. */
export interface BudgetOptions {
  /** over-budget: `fail` halts before anything is installed; `warn` goes on with a warning. */
  overBudget: 'fail' | 'warn';
  /** runner-memory in bytes; undefined reads the runner's (os.totalmem, or its cgroup's limit). */
  runnerMemory?: number;
}

/** A single file the action reads: in the workspace, or in a Hub repository at a revision. */
export type FileSource =
  | { where: 'local'; /** As given. */ input: string; /** Absolute. */ path: string }
  | { where: 'hub'; input: string; repo: string; revision: string; /** The path inside the repository. */ file: string };

export interface LoraOptions {
  source: FileSource;
  /** fuse_lora's lora_scale. */
  scale: number;
}

/**
 * A single-file checkpoint (SD 1.x, 2.x, SDXL in the original layout), turned into a diffusers
 * folder by python/single_file.py (diffusers' from_single_file), LoRAs merged, before the converter.
 */
export interface SingleFileOptions {
  checkpoint: FileSource;
  /** model-config: where the diffusers configs and tokenizers come from; undefined takes the default for the file's kind. */
  modelConfig?: { where: 'hub'; id: string } | { where: 'local'; input: string; path: string };
  loras: LoraOptions[];
  /** Load .ckpt files, which are pickles: unpickling runs whatever code the file holds. */
  allowPickle: boolean;
  /** Absolute path of python/single_file.py, shipped with the action. */
  helper: string;
}

/**
 * The converter loads variant="fp16" only: an fp16 safetensors copy of a checkpoint without one is
 * saved first (`auto`: when the Hub's file list, or the local folder, has no *.fp16.safetensors).
 */
export interface PrepareFp16 {
  mode: 'auto' | 'always' | 'never';
  /** Absolute path of python/prepare_fp16.py, shipped with the action. */
  helper: string;
}

export interface CacheOptions {
  enabled: boolean;
  outputs: boolean;
}

/** What torch2coreml is asked to do, in the workflow's terms. */
export interface ConversionOptions {
  /** As given: a Hub id, or a folder relative to the workspace (the converter names outputs after it). */
  modelVersion: string;
  modelIsLocal: boolean;
  parts: SelectablePart[];
  controlnets: string[];
  refinerVersion?: string;
  customVaeVersion?: string;
  computeUnit: ComputeUnit;
  attention: AttentionImplementation;
  latentH?: number;
  latentW?: number;
  textTokenSequenceLength?: number;
  textEncoderHiddenSize?: number;
  checkOutputCorrectness: boolean;
  chunkUnet: boolean;
  quantizeNbits?: QuantizeNbits;
  unetSupportControlnet: boolean;
  unetBatchOne: boolean;
  includeT5: boolean;
  bundleResources: boolean;
  urls: TokenizerUrls;
  minDeploymentTarget: DeploymentTarget;
  xlVersion: boolean;
  sd3Version: boolean;
  /** Absolute. */
  outputDir: string;
  extraArgs: string[];
  /** Every model the converter loads from the Hub (not from a local folder), the main one first. */
  hubIds: string[];
  /** The revision of modelVersion to convert (the converter itself always loads `main`). */
  modelRevision: string;
  /** Absolute path of python/quantize_bundle.py, shipped with the action (see converter/commands.ts). */
  quantizeBundleEntry: string;
  /** Where parity.py runs the Core ML half of each check (converter/parity.ts); the packages do not depend on it. */
  checkComputeUnit: ComputeUnit;
  /** Absolute path of python/parity.py, shipped with the action (see converter/parity.ts). */
  parityEntry: string;
  /**
   * Convert each part a lean entry handles (converter/commands.ts LEAN_PARTS) through python/lean_convert.py,
   * in its own process (only with process-per-component); false: the converter's command line.
   */
  leanConversion: boolean;
  /** Absolute path of python/lean_convert.py, shipped with the action. */
  leanConvertEntry: string;
}

/** Empty fields take the converter's own defaults. */
export interface TokenizerUrls {
  vocabulary?: string;
  merges?: string;
  t5?: string;
  t5Config?: string;
  t5Data?: string;
}

export interface SetupOptions {
  pythonVersion: string;
  /** Absolute path of an interpreter to use instead of conda. */
  python?: string;
  /** The `python` interpreter's version as the probe found it (`3.11.9`); undefined without one, or when not probed. */
  pythonProbed?: string;
  /** pip requirement of the converter (a PEP 508 URL requirement, or an absolute local path). */
  requirement: string;
  /**
   * Absolute path of the pins: the `pip-constraints` input (a lock with hashes, or constraints),
   * or the lock shipped for this Python version (see setup/pins.ts).
   */
  pinsFile: string;
  /** The file came from the input: a lock there is the user's for their requirement too. */
  pinsFromInput: boolean;
}

export interface PsnrGate {
  minPsnr: number;
  /** For each quantized package against its float16 outputs (`<part>_quantized`). */
  quantizedMinPsnr: number;
  thresholds: Partial<Record<PsnrPart, number>>;
}

/** What the runner tells about itself (RUNNER_* and GITHUB_WORKSPACE). */
export interface RunnerContext {
  os: string;
  /** RUNNER_ENVIRONMENT: `github-hosted` or `self-hosted`; undefined when the runner does not say. */
  environment?: string;
  arch: string;
  temp: string;
  toolCache: string;
  workspace: string;
  /** HF_ENDPOINT, and the huggingface_hub cache the converter reads (HF_HUB_CACHE, HF_HOME, ~). */
  hubEndpoint: string;
  hubCache: string;
  /** CONDA: the Miniconda the runner image has, if any (setup/providers.ts tries it before installing one). */
  conda?: string;
  /** GITHUB_STEP_SUMMARY is set: the run has a step summary to write (else the summary goes to the log). */
  stepSummary: boolean;
  /** Which of ACTIONS_RUNTIME_TOKEN and ACTIONS_RESULTS_URL, what the artifact service needs, the runner left unset. */
  artifactServiceUnset: string[];
}

/** What happens to the outputs once every check passed (src/package/, src/publish/). */
export interface PublishOptions {
  /** Zip the outputs into package-dir; the artifact and the release need it. */
  package: boolean;
  /** Replaces `<model>` in every published name (src/package/names.ts). */
  assetPrefix?: string;
  /** 0 stores the entries (fp16 weights do not compress); 1-9 deflates. */
  compressionLevel: number;
  /** Bytes; a zip over it is published as parts `.zip.001`, ... (under 2 GiB). */
  maxAssetSize: number;
  uploadArtifact: boolean;
  /** As given; empty takes `<model>_<variant>`. */
  artifactName?: string;
  /** Empty takes the repository's setting. */
  retentionDays?: number;
  /** Undefined when release-tag is empty: no release. */
  release?: ReleaseOptions;
  /** Masked; the releases API's. */
  githubToken: string;
  /** Replace release assets (and a workflow artifact) of the same name, as a rerun does. */
  overwriteAssets: boolean;
  github: GitHubContext;
  /** Undefined when hub-repo is empty: nothing goes to the Hugging Face Hub (src/publish/hub/). */
  hub?: HubPublishOptions;
}

/** A Hugging Face Hub model repository to commit this variant's files and the model card to. */
export interface HubPublishOptions {
  /** owner/name. */
  repo: string;
  /** Masked; needs write access to repo (may differ from hf-token). */
  token: string;
  /** hub-private as given; undefined when left empty (a repo this step creates is then public). */
  private: boolean | undefined;
  /** The branch to commit to. */
  revision: string;
  /** As given: a folder template holding {variant}, or `.` for the repository's top. */
  pathInRepo: string;
  /** HF_ENDPOINT: the Hub (or a mirror) that is written to. */
  endpoint: string;
}

export interface ReleaseOptions {
  tag: string;
  /** Empty takes the tag. */
  name: string;
  /** Appended to the generated body. */
  notes: string;
  draft: boolean;
  prerelease: boolean;
}

/** What the runner tells about the workflow run (GITHUB_*). */
export interface GitHubContext {
  repository?: string;
  apiUrl: string;
  serverUrl: string;
  runId?: string;
  runAttempt?: string;
  sha?: string;
  /** GITHUB_ACTION_REPOSITORY and GITHUB_ACTION_REF: this action as the workflow's `uses:` names it. */
  actionRepository?: string;
  actionRef?: string;
}

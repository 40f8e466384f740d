import type {
  AttentionImplementation,
  ComputeUnit,
  DeploymentTarget,
  PsnrPart,
  QuantizeNbits,
  SelectablePart,
} from '../converter/vocabulary.js';

/** The one typed configuration that flows down the stages; nothing downstream re-reads inputs. */
export interface Config {
  conversion: ConversionOptions;
  setup: SetupOptions;
  gate: PsnrGate;
  /** Each part in its own converter process (Apple's advice under 8 GB of RAM). */
  processPerComponent: boolean;
  dryRun: boolean;
  /** Empty only when every model involved is a local folder. */
  hfToken: string;
  runner: RunnerContext;
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
  /** pip requirement of the converter (a PEP 508 URL requirement, or an absolute local path). */
  requirement: string;
  /** Absolute path of the pip constraints file. */
  constraintsFile: string;
}

export interface PsnrGate {
  minPsnr: number;
  thresholds: Partial<Record<PsnrPart, number>>;
}

/** What the runner tells about itself (RUNNER_* and GITHUB_WORKSPACE). */
export interface RunnerContext {
  os: string;
  arch: string;
  temp: string;
  toolCache: string;
  workspace: string;
}

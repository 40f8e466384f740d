import type { Config, ConversionOptions } from '../config.js';
import type { InputName } from '../inputs/names.js';
import type { SelectablePart } from './vocabulary.js';
import { describeSource } from '../single-file/source.js';

/**
 * What identifies a conversion: one entry per input (or fact) that decides what the converter
 * makes. Everything that asks "is this the same conversion?" derives from this list:
 * - converterInputs: every entry, as the manifest records it (and so the scheduled run's
 *   skip-if-unchanged comparison and the outputs cache key);
 * - folderInputs: the entries marked `folder`, the output folder's state file (convert/state.ts);
 * - the entries with `passed` are torch2coreml flags (converter/commands.ts builds them into the
 *   commands, and extra-args may not set them).
 * To add a field: add one entry to IDENTITY below, and its change to test/unit/identity.test.ts's
 * CHANGES (the test fails until it has one; a `folder` entry goes in FOLDER_ENTRIES too). A field
 * read from outside `conversion` widens IdentitySource.
 * Paths, tokens, caching and publishing switches are left out: they do not change the packages.
 */
export type IdentitySource = Pick<Config, 'conversion' | 'setup' | 'prepareFp16' | 'singleFile'>;

type Value = string | number | boolean | undefined | readonly string[];

/**
 * Which torch2coreml processes get a flag: every one (each loads the pipeline again, so each must
 * load it the same way and name outputs the same way), the bundling one, or as the plan decides.
 */
export type Passed = 'every-process' | 'bundle' | 'per-step';

/** A torch2coreml flag, named like its input (`--<name>`): the action's inputs are named after them. */
interface FlagField {
  name: InputName;
  passed: Passed;
  /** Its change makes the packages already in the output folder wrong (the converter skips them). */
  folder?: true;
  read: (o: ConversionOptions) => Value;
}

/** An input or fact that is no torch2coreml flag; `name` is the input's, or for a fact its own. */
interface OtherField {
  name: string;
  passed?: undefined;
  folder?: true;
  read: (c: IdentitySource) => Value;
}

export type IdentityField = FlagField | OtherField;

/** The input that selects each part (its `--convert-*` switch). */
export const PART_INPUT: Readonly<Record<SelectablePart, InputName>> = {
  text_encoder: 'convert-text-encoder',
  vae_decoder: 'convert-vae-decoder',
  vae_encoder: 'convert-vae-encoder',
  unet: 'convert-unet',
  safety_checker: 'convert-safety-checker',
  mmdit: 'convert-mmdit',
};

const partFields = (): FlagField[] =>
  (Object.entries(PART_INPUT) as Array<[SelectablePart, InputName]>).map(([part, name]) => ({
    name,
    passed: 'per-step',
    read: (o) => o.parts.includes(part),
  }));

/** In the order the manifest lists them. */
export const IDENTITY: readonly IdentityField[] = [
  { name: 'model-version', passed: 'every-process', folder: true, read: (o) => o.modelVersion },
  // Another revision is another checkpoint: packages of the old one must not be kept as they are.
  { name: 'model-revision', folder: true, read: (c) => c.conversion.modelRevision },
  // A single-file model-version (src/single-file/): model-version is then the file's stem, so the file
  // itself, its config and the LoRAs merged into it are entries of their own. A changed file under the
  // same name is caught by its sha256 (single-file/prepare.ts against output-dir's record).
  { name: 'single-file', folder: true, read: (c) => c.singleFile && describeSource(c.singleFile.checkpoint) },
  { name: 'model-config', folder: true, read: (c) => c.singleFile?.modelConfig && (c.singleFile.modelConfig.where === 'hub' ? c.singleFile.modelConfig.id : c.singleFile.modelConfig.input) },
  { name: 'lora', folder: true, read: (c) => c.singleFile?.loras.map((l) => `${describeSource(l.source)}:${l.scale}`) },
  ...partFields(),
  // Sorted: their order does not change what is made. Space-joined, as published manifests hold it.
  { name: 'convert-controlnet', passed: 'per-step', read: (o) => [...o.controlnets].sort().join(' ') },
  { name: 'refiner-version', passed: 'per-step', folder: true, read: (o) => o.refinerVersion },
  { name: 'custom-vae-version', passed: 'every-process', folder: true, read: (o) => o.customVaeVersion },
  // Not a folder entry: the packages do not depend on it (the converter passes it to coremltools' convert
  // and load only, where it chooses where a model runs); converted both ways, the same weight.bin and spec
  // (test/fixtures/real-converter/compute-unit.txt).
  { name: 'compute-unit', passed: 'every-process', read: (o) => o.computeUnit },
  { name: 'latent-h', passed: 'every-process', folder: true, read: (o) => o.latentH },
  { name: 'latent-w', passed: 'every-process', folder: true, read: (o) => o.latentW },
  { name: 'text-token-sequence-length', passed: 'every-process', folder: true, read: (o) => o.textTokenSequenceLength },
  { name: 'text-encoder-hidden-size', passed: 'every-process', folder: true, read: (o) => o.textEncoderHiddenSize },
  { name: 'attention-implementation', passed: 'every-process', folder: true, read: (o) => o.attention },
  { name: 'check-output-correctness', passed: 'per-step', read: (o) => o.checkOutputCorrectness },
  { name: 'chunk-unet', passed: 'per-step', read: (o) => o.chunkUnet },
  { name: 'quantize-nbits', passed: 'per-step', folder: true, read: (o) => o.quantizeNbits },
  { name: 'unet-support-controlnet', passed: 'every-process', folder: true, read: (o) => o.unetSupportControlnet },
  { name: 'unet-batch-one', passed: 'every-process', folder: true, read: (o) => o.unetBatchOne },
  { name: 'include-t5', passed: 'bundle', read: (o) => o.includeT5 },
  { name: 'bundle-resources-for-swift-cli', passed: 'per-step', read: (o) => o.bundleResources },
  { name: 'text-encoder-vocabulary-url', passed: 'bundle', read: (o) => o.urls.vocabulary },
  { name: 'text-encoder-merges-url', passed: 'bundle', read: (o) => o.urls.merges },
  { name: 'text-encoder-t5-url', passed: 'bundle', read: (o) => o.urls.t5 },
  { name: 'text-encoder-t5-config-url', passed: 'bundle', read: (o) => o.urls.t5Config },
  { name: 'text-encoder-t5-data-url', passed: 'bundle', read: (o) => o.urls.t5Data },
  { name: 'min-deployment-target', passed: 'every-process', folder: true, read: (o) => o.minDeploymentTarget },
  { name: 'xl-version', passed: 'every-process', folder: true, read: (o) => o.xlVersion },
  { name: 'sd3-version', passed: 'every-process', folder: true, read: (o) => o.sd3Version },
  // Appended to every torch2coreml process as given (not a flag of its own).
  { name: 'extra-args', folder: true, read: (c) => c.conversion.extraArgs },
  { name: 'ml-stable-diffusion', read: (c) => c.setup.requirement },
  { name: 'python-version', read: (c) => c.setup.pythonVersion },
  { name: 'prepare-fp16', read: (c) => c.prepareFp16.mode },
];

/** `--<input>`: torch2coreml's flag for an input. */
export const converterFlag = (name: InputName): string => `--${name}`;

/**
 * A value as one canonical string: empty when unset, switches `true`/`false`, a list one item a
 * line (extra-args: `--a b` and `--a`,`b` are different arguments, a space could not tell them apart).
 */
export function canonical(value: Value): string {
  if (value === undefined) return '';
  return typeof value === 'object' ? value.join('\n') : String(value);
}

function readField(field: IdentityField, source: IdentitySource): Value {
  return field.passed === undefined ? field.read(source) : field.read(source.conversion);
}

function inputsOf(fields: readonly IdentityField[], source: IdentitySource): Record<string, string> {
  return Object.fromEntries(fields.map((field) => [field.name, canonical(readField(field, source))]));
}

/** Pure: every entry, by name: what manifest.json records as `converterInputs`. */
export function converterInputs(source: IdentitySource): Record<string, string> {
  return inputsOf(IDENTITY, source);
}

/** Pure: the entries whose change makes existing packages wrong for this run (the state file's). */
export function folderInputs(source: IdentitySource): Record<string, string> {
  return inputsOf(IDENTITY.filter((field) => field.folder), source);
}

const isFlag = (field: IdentityField): field is FlagField => field.passed !== undefined;

/** Every torch2coreml flag the action sets from an input, with that input. */
export const CONVERTER_FLAGS: ReadonlyMap<string, InputName> = new Map(
  IDENTITY.filter(isFlag).map((field) => [converterFlag(field.name), field.name]),
);

/**
 * The flags of the entries passed to `to` (every process, or the bundling one): a value flag with
 * its value, a switch when on, nothing when unset or off.
 */
export function passedFlags(o: ConversionOptions, to: Exclude<Passed, 'per-step'>): string[] {
  return IDENTITY.filter(isFlag)
    .filter((field) => field.passed === to)
    .flatMap((field) => {
      const value = field.read(o);
      const flag = converterFlag(field.name);
      if (typeof value === 'boolean') return value ? [flag] : [];
      return value === undefined ? [] : [flag, canonical(value)];
    });
}

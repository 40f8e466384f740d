/**
 * The converter's vocabulary: its enums, part names, output names and Resources names.
 * Facts from apple/ml-stable-diffusion at commit e12202c (torch2coreml.py); nothing outside
 * src/converter/ should spell any of them again.
 */

export const CONVERTER_COMMIT = 'e12202c1f6405b83918b58a5d097cd61e3e1f702';
export const CONVERTER_PACKAGE = 'python_coreml_stable_diffusion';
export const CONVERT_MODULE = `${CONVERTER_PACKAGE}.torch2coreml`;
export const CHUNK_MODULE = `${CONVERTER_PACKAGE}.chunk_mlprogram`;

export const COMPUTE_UNITS = ['ALL', 'CPU_AND_GPU', 'CPU_ONLY', 'CPU_AND_NE'] as const;
export type ComputeUnit = (typeof COMPUTE_UNITS)[number];

export const ATTENTION_IMPLEMENTATIONS = ['ORIGINAL', 'SPLIT_EINSUM', 'SPLIT_EINSUM_V2'] as const;
export type AttentionImplementation = (typeof ATTENTION_IMPLEMENTATIONS)[number];

export const QUANTIZE_NBITS = [1, 2, 4, 6, 8] as const;
export type QuantizeNbits = (typeof QUANTIZE_NBITS)[number];

/** Upstream accepts any string here and silently falls back to macOS13: we accept only these. */
export const DEPLOYMENT_TARGETS = ['macOS13', 'macOS14', 'macOS15', 'iOS16', 'iOS17', 'iOS18'] as const;
export type DeploymentTarget = (typeof DEPLOYMENT_TARGETS)[number];

/** What a user can ask to convert; each maps to one `--convert-*` switch. */
export const SELECTABLE_PARTS = [
  'vae_decoder',
  'vae_encoder',
  'unet',
  'text_encoder',
  'safety_checker',
  'mmdit',
] as const;
export type SelectablePart = (typeof SELECTABLE_PARTS)[number];

/** The packages a run can leave in -o, by their part suffix. */
export type PackagePart =
  | 'text_encoder'
  | 'text_encoder_2'
  | 'vae_decoder'
  | 'vae_encoder'
  | 'unet'
  | 'control-unet'
  | 'refiner'
  | 'safety_checker'
  | 'mmdit';

/** The unet-like parts, which chunking splits in two. */
export type ChunkablePart = 'unet' | 'control-unet' | 'refiner';

/** Parts whose packages --quantize-nbits rewrites in place (upstream's list, plus ControlNets). */
export const QUANTIZED_PARTS: readonly PackagePart[] = [
  'text_encoder',
  'text_encoder_2',
  'unet',
  'refiner',
  'control-unet',
];

/**
 * Part names a PSNR check can be reported under, and so the names accepted in psnr-thresholds.
 * mmdit's is DiffusionKit's (see diffusionkit.ts). `*_chunks` are the coremltools check of the
 * chunks against the full model; `*_quantized` the action's check of a quantized package.
 */
export const PSNR_PARTS = [
  'text_encoder',
  'text_encoder_2',
  'vae_decoder',
  'vae_encoder',
  'unet',
  'control-unet',
  'refiner',
  'safety_checker',
  'controlnet',
  'mmdit',
  'unet_chunks',
  'control-unet_chunks',
  'refiner_chunks',
  'text_encoder_quantized',
  'text_encoder_2_quantized',
  'unet_quantized',
  'refiner_quantized',
  'control-unet_quantized',
  'controlnet_quantized',
] as const;
export type PsnrPart = (typeof PSNR_PARTS)[number];

/** `<part>_quantized`: the action's own check of a quantized package against its float16 outputs (python/quantize_bundle.py). */
export const isQuantizedCheck = (part: PsnrPart): boolean => part.endsWith('_quantized');
export const QUANTIZED_CHECK = 'quantized to float16 Core ML (the action)';

/** The converter's own hard floor (ABSOLUTE_MIN_PSNR): below it, it raises `dB is too low!`. */
export const CONVERTER_MIN_PSNR = 35;

/** `_get_out_path`: every `/` of the whole file name becomes `_`. */
export function packageName(modelVersion: string, part: string): string {
  return `Stable_Diffusion_version_${modelVersion}_${part}.mlpackage`.replaceAll('/', '_');
}

export function chunkPackageName(modelVersion: string, part: ChunkablePart, chunk: 1 | 2): string {
  return packageName(modelVersion, `${part}_chunk${chunk}`);
}

export function controlNetPackageName(hubId: string): string {
  return `ControlNet_${hubId.replaceAll('/', '_')}.mlpackage`;
}

/** Python's str.title(): upper-case after every non-letter, lower-case elsewhere. */
function pythonTitle(word: string): string {
  let out = '';
  let previousIsLetter = false;
  for (const ch of word) {
    const isLetter = ch.toLowerCase() !== ch.toUpperCase();
    out += isLetter ? (previousIsLetter ? ch.toLowerCase() : ch.toUpperCase()) : ch;
    previousIsLetter = isLetter;
  }
  return out;
}

/** Name of a ControlNet's compiled model in Resources/controlnet/ (split on _ and -, titled, joined). */
export function controlNetResourceName(hubId: string): string {
  return hubId
    .replaceAll('/', '_')
    .split(/[_-]/)
    .map(pythonTitle)
    .join('');
}

/** Core ML's two forms: the package the converter saves, and the compiled model bundling makes of it. */
export const PACKAGE_SUFFIX = '.mlpackage';
export const COMPILED_SUFFIX = '.mlmodelc';

export const RESOURCES_DIR = 'Resources';

/**
 * How bundling compiles each package (_compile_coreml_model, L244):
 * `os.system(f"xcrun coremlcompiler compile {package} {Resources}")`, where both paths are -o
 * joined with names that hold model-version.
 */
export const COMPILE_UNCHECKED = 'the converter runs coremlcompiler through os.system, unquoted, and ignores its exit status';

/** Characters a shell passes on unchanged inside an unquoted word. */
const SHELL_SAFE = /[\w./+,:@%=-]/;

/** The characters of `text` that an unquoted shell word would split on or expand, each once. */
export function shellUnsafeCharacters(text: string): string[] {
  return [...new Set([...text].filter((ch) => !SHELL_SAFE.test(ch)))];
}
export const CONTROLNET_RESOURCES_DIR = 'controlnet';

/** Package suffix -> compiled model name in Resources, in the order upstream compiles them. */
export const RESOURCE_NAMES: ReadonlyArray<readonly [string, string]> = [
  ['text_encoder', 'TextEncoder'],
  ['text_encoder_2', 'TextEncoder2'],
  ['vae_decoder', 'VAEDecoder'],
  ['vae_encoder', 'VAEEncoder'],
  ['unet', 'Unet'],
  ['unet_chunk1', 'UnetChunk1'],
  ['unet_chunk2', 'UnetChunk2'],
  ['refiner', 'UnetRefiner'],
  ['refiner_chunk1', 'UnetRefinerChunk1'],
  ['refiner_chunk2', 'UnetRefinerChunk2'],
  ['mmdit', 'MultiModalDiffusionTransformer'],
  ['control-unet', 'ControlledUnet'],
  ['control-unet_chunk1', 'ControlledUnetChunk1'],
  ['control-unet_chunk2', 'ControlledUnetChunk2'],
  ['safety_checker', 'SafetyChecker'],
];

/** `<name>.mlmodelc` in Resources for a package suffix (`unet_chunk1` -> `UnetChunk1.mlmodelc`). */
export function compiledModel(suffix: string): string {
  const found = RESOURCE_NAMES.find(([s]) => s === suffix);
  if (!found) throw new Error(`The converter compiles no package with the suffix ${suffix}.`);
  return `${found[1]}.mlmodelc`;
}

export const TOKENIZER_FILES = ['vocab.json', 'merges.txt'] as const;

/** The defaults of --text-encoder-vocabulary-url and --text-encoder-merges-url (parser_spec): CLIP's tokenizer on the Hub. */
export const DEFAULT_TOKENIZER_URLS = {
  vocabulary: 'https://huggingface.co/openai/clip-vit-base-patch32/resolve/main/vocab.json',
  merges: 'https://huggingface.co/openai/clip-vit-base-patch32/resolve/main/merges.txt',
} as const;
export const T5_RESOURCES = ['TextEncoderT5.mlmodelc', 'tokenizer.json', 'tokenizer_config.json'] as const;

/** Package file name -> the compiled model it becomes, relative to -o (e.g. `Resources/Unet.mlmodelc`). */
export function compiledResources(modelVersion: string, controlnets: readonly string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const [suffix, target] of RESOURCE_NAMES) {
    map.set(packageName(modelVersion, suffix), `${RESOURCES_DIR}/${target}.mlmodelc`);
  }
  for (const id of controlnets) {
    map.set(controlNetPackageName(id), `${RESOURCES_DIR}/${CONTROLNET_RESOURCES_DIR}/${controlNetResourceName(id)}.mlmodelc`);
  }
  return map;
}

/** The packages --quantize-nbits rewrites, by file name. */
export function quantizedPackages(modelVersion: string, controlnets: readonly string[]): string[] {
  return [...QUANTIZED_PARTS.map((part) => packageName(modelVersion, part)), ...controlnets.map(controlNetPackageName)];
}

/** The package parts torch2coreml names `Stable_Diffusion_version_<model>_<part>.mlpackage`. */
const PACKAGE_PARTS: readonly PackagePart[] = ['text_encoder', 'text_encoder_2', 'vae_decoder', 'vae_encoder', 'unet', 'control-unet', 'refiner', 'safety_checker', 'mmdit'];
/** chunk_mlprogram's names: `<source stem>_chunk1`, `_chunk2`, or `_chunked_pipeline` (merge-chunks-in-pipeline-model). */
const CHUNK_SUFFIXES = ['_chunk1', '_chunk2', '_chunked_pipeline'] as const;
/** What DiffusionKit saves in -o under SD3 before the converter opens it. */
const DIFFUSIONKIT_PACKAGES = ['MultiModalDiffusionTransformer.mlpackage', 'VAEDecoder.mlpackage'] as const;

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const CONVERTER_PACKAGE_NAME = new RegExp(
  `^Stable_Diffusion_version_.+_(${PACKAGE_PARTS.map(escapeRegExp).join('|')})(${CHUNK_SUFFIXES.join('|')})?${escapeRegExp(PACKAGE_SUFFIX)}$`,
);
const CONTROLNET_PACKAGE_NAME = new RegExp(`^ControlNet_.+${escapeRegExp(PACKAGE_SUFFIX)}$`);

/**
 * Pure: whether an entry of -o (a path relative to it, `/`-separated) is one the converter makes,
 * by its own names: the part packages and their chunks, ControlNet packages, DiffusionKit's, and
 * in Resources the compiled models (Resources/controlnet/ too), T5's files and the tokenizer
 * files. The action removes nothing else in -o (src/convert/snapshot.ts removeConverterEntries).
 */
export function isConverterEntry(entry: string): boolean {
  const parts = entry.split(/[\\/]/);
  if (parts.some((p) => p === '' || p === '.' || p === '..')) return false;
  if (parts.length === 1) {
    const [name = ''] = parts;
    return CONVERTER_PACKAGE_NAME.test(name) || CONTROLNET_PACKAGE_NAME.test(name) || (DIFFUSIONKIT_PACKAGES as readonly string[]).includes(name);
  }
  if (parts[0] !== RESOURCES_DIR) return false;
  if (parts.length === 2) {
    const name = parts[1] ?? '';
    const compiled = RESOURCE_NAMES.map(([, n]) => `${n}${COMPILED_SUFFIX}`);
    return [...compiled, ...T5_RESOURCES, ...TOKENIZER_FILES].includes(name);
  }
  return parts.length === 3 && parts[1] === CONTROLNET_RESOURCES_DIR && (parts[2] ?? '').endsWith(COMPILED_SUFFIX) && (parts[2] ?? '').length > COMPILED_SUFFIX.length;
}

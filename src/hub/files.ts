import * as path from 'node:path';

/**
 * Which files of a Hub repository the converter loads, and where huggingface_hub keeps them.
 * Pure. The converter loads pipelines with variant="fp16", use_safetensors=True; a custom VAE
 * or a ControlNet (a repository with no model_index.json) loads its plain weights.
 */
export interface HubFile {
  rfilename: string;
  /** Git blob id (small files) or the sha256 of an LFS file: huggingface_hub's blob name. */
  blobId?: string;
  size?: number;
  /** An LFS file: blobId is the sha256 of its content (else the git blob id). */
  lfs?: boolean;
}

const WEIGHT = /\.(safetensors|bin|ckpt|pt|pth|msgpack|onnx|onnx_data|h5|pb|tflite|gguf)$/;
const WEIGHT_INDEX = /\.index(\.[\w-]+)?\.json$/;
/**
 * fp16 weights as transformers and diffusers name them, whole or sharded:
 * `model.fp16.safetensors`, `model.fp16-00001-of-00002.safetensors` (transformers),
 * `diffusion_pytorch_model-00001-of-00002.fp16.safetensors` (diffusers).
 */
const FP16_WEIGHT = /\.fp16(-\d+-of-\d+)?\.safetensors$/;
export const isFp16Safetensors = (file: string): boolean => FP16_WEIGHT.test(file);
/** The folder of a repository path (`unet/x.safetensors` -> `unet`; '' at the top). */
export const folderOf = (file: string): string => file.slice(0, Math.max(0, file.lastIndexOf('/')));
/** Their indexes: `model.safetensors.index.fp16.json` (transformers), `*.safetensors.fp16.index.json` (diffusers). */
const FP16_INDEX = /\.safetensors\.(index\.fp16|fp16\.index)\.json$/;
/** Plain weights and index: no variant in the name (not `.ema.`, `.non_ema.`, `.fp16.`). */
const PLAIN_WEIGHT = /(^|\/)[\w-]+\.safetensors$/;
const PLAIN_INDEX = /(^|\/)[\w-]+\.safetensors\.index\.json$/;

/**
 * Pure: the component folders diffusers loads for a pipeline, from its model_index.json: every
 * entry naming a library and a class (`"unet": ["diffusers", "UNet2DConditionModel"]`); not the
 * `[null, null]` ones, nor folders the index does not name (SDXL base's `vae_1_0/`).
 */
export function pipelineComponents(modelIndex: unknown): string[] | undefined {
  if (modelIndex === null || typeof modelIndex !== 'object' || Array.isArray(modelIndex)) return undefined;
  const components = Object.entries(modelIndex as Record<string, unknown>)
    .filter(([key, value]) => !key.startsWith('_') && Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'string'))
    .map(([key]) => key)
    .sort();
  return components.length > 0 ? components : undefined; // an index naming none narrows nothing
}

/**
 * The files to fetch. `components` (from pipelineComponents) narrows a pipeline to the folders
 * its model_index.json names; without it every folder is fetched.
 */
export function filesToFetch(files: HubFile[], components?: readonly string[]): HubFile[] {
  const isPipeline = files.some((f) => f.rfilename === 'model_index.json');
  if (isPipeline) {
    // A component without fp16 weights is loaded from its plain safetensors (diffusers warns).
    const withFp16 = new Set(files.filter((f) => isFp16Safetensors(f.rfilename)).map((f) => folderOf(f.rfilename)));
    const wanted = components && new Set(components);
    return files.filter(({ rfilename: name }) => {
      if (name === 'model_index.json') return true;
      if (!name.includes('/')) return false; // README, images, single-file checkpoints
      if (wanted && !wanted.has(name.slice(0, name.indexOf('/')))) return false;
      const fp16 = withFp16.has(folderOf(name));
      if (WEIGHT.test(name)) return fp16 ? isFp16Safetensors(name) : PLAIN_WEIGHT.test(name);
      if (WEIGHT_INDEX.test(name)) return fp16 ? FP16_INDEX.test(name) : PLAIN_INDEX.test(name);
      return true;
    });
  }
  const hasSafetensors = files.some((f) => !f.rfilename.includes('/') && PLAIN_WEIGHT.test(f.rfilename));
  return files.filter(({ rfilename: name }) => {
    if (name.includes('/')) return false;
    if (WEIGHT.test(name)) return hasSafetensors ? PLAIN_WEIGHT.test(name) : name.endsWith('.bin');
    if (WEIGHT_INDEX.test(name)) return hasSafetensors ? PLAIN_INDEX.test(name) : name.endsWith('.bin.index.json');
    return name.endsWith('.json') || name.endsWith('.txt');
  });
}

/** huggingface_hub's cache folder for a model: `<hub cache>/models--owner--name`. */
export function repoFolder(hubCache: string, id: string): string {
  return path.join(hubCache, `models--${id.replaceAll('/', '--')}`);
}

/** HF_ENDPOINT (the Hub or a mirror), as huggingface_hub reads it, without a trailing slash. */
export function hubEndpoint(env: Readonly<Record<string, string | undefined>>): string {
  return (env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, '');
}

/** HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub (huggingface_hub's order). */
export function hubCacheDir(env: Readonly<Record<string, string | undefined>>, home: string): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  const hfHome = env.HF_HOME || path.join(env.XDG_CACHE_HOME || path.join(home, '.cache'), 'huggingface');
  return path.join(hfHome, 'hub');
}

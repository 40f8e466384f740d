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

export function filesToFetch(files: HubFile[]): HubFile[] {
  const isPipeline = files.some((f) => f.rfilename === 'model_index.json');
  if (isPipeline) {
    // A component without fp16 weights is loaded from its plain safetensors (diffusers warns).
    const folder = (name: string) => name.slice(0, name.lastIndexOf('/'));
    const withFp16 = new Set(files.filter((f) => f.rfilename.endsWith('.fp16.safetensors')).map((f) => folder(f.rfilename)));
    return files.filter(({ rfilename: name }) => {
      if (name === 'model_index.json') return true;
      if (!name.includes('/')) return false; // README, images, single-file checkpoints
      const fp16 = withFp16.has(folder(name));
      if (WEIGHT.test(name)) return fp16 ? name.endsWith('.fp16.safetensors') : name.endsWith('.safetensors');
      if (WEIGHT_INDEX.test(name)) return fp16 ? name.endsWith('.safetensors.index.fp16.json') : name.endsWith('.safetensors.index.json');
      return true;
    });
  }
  const hasSafetensors = files.some((f) => f.rfilename.endsWith('.safetensors') && !f.rfilename.includes('/'));
  return files.filter(({ rfilename: name }) => {
    if (name.includes('/')) return false;
    if (WEIGHT.test(name)) return hasSafetensors ? name.endsWith('.safetensors') && !name.includes('.fp16.') : name.endsWith('.bin');
    return name.endsWith('.json') || name.endsWith('.txt');
  });
}

/** huggingface_hub's cache folder for a model: `<hub cache>/models--owner--name`. */
export function repoFolder(hubCache: string, id: string): string {
  return path.join(hubCache, `models--${id.replaceAll('/', '--')}`);
}

/** HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub (huggingface_hub's order). */
export function hubCacheDir(env: Readonly<Record<string, string | undefined>>, home: string): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  const hfHome = env.HF_HOME || path.join(env.XDG_CACHE_HOME || path.join(home, '.cache'), 'huggingface');
  return path.join(hfHome, 'hub');
}

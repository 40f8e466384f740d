import type { ConversionOptions, CoreAiOptions } from '../config.js';

/**
 * Pure: the names of everything the action publishes. One run makes one variant of one model;
 * every name starts with `<model>_<variant>` so that the jobs of a matrix never collide.
 */

/** What the naming reads from the Config. */
export interface NamingInput {
  conversion: Pick<ConversionOptions, 'modelVersion' | 'attention' | 'quantizeNbits' | 'latentH' | 'latentW' | 'chunkUnet' | 'unetSupportControlnet'>;
  assetPrefix?: string;
  /** Set with backend core-ai: its variants are named apart from Core ML's. */
  coreAi?: Pick<CoreAiOptions, 'compression'>;
}

/** Characters GitHub keeps in asset names (others become `.`) and the artifact service accepts. */
const SAFE = /[^A-Za-z0-9._-]+/g;

/** `<model>`: the repository name of a Hub id, or the last folder of a local path, made name-safe. */
export function modelName(modelVersion: string): string {
  const last = modelVersion.split(/[\\/]+/).filter((s) => s !== '' && s !== '.' && s !== '..').at(-1) ?? 'model';
  const safe = last.replace(SAFE, '-').replace(/^[.-]+|[.-]+$/g, '');
  return safe === '' ? 'model' : safe;
}

/**
 * `<variant>`: the attention implementation in lower case (the names Apple and the apps use:
 * original, split_einsum, split_einsum_v2), then one suffix per option that changes the bundle a
 * matrix is likely to vary: `_6bit`, `_768x512` (image width x height, from latent-w/-h; one
 * given alone is `_w768` or `_h512`), `_chunked`, `_controlnet` (unet-support-controlnet).
 */
export function variantName(o: NamingInput['conversion'], coreAi?: NamingInput['coreAi']): string {
  // Core AI: `coreai`, then `_int4` or `_palettize4` when compressed, then the size as below.
  let variant = coreAi ? `coreai${coreAi.compression === 'none' ? '' : `_${coreAi.compression}`}` : o.attention.toLowerCase();
  if (!coreAi && o.quantizeNbits !== undefined) variant += `_${o.quantizeNbits}bit`;
  if (o.latentW !== undefined && o.latentH !== undefined) variant += `_${o.latentW * 8}x${o.latentH * 8}`;
  else if (o.latentW !== undefined) variant += `_w${o.latentW * 8}`;
  else if (o.latentH !== undefined) variant += `_h${o.latentH * 8}`;
  if (o.chunkUnet) variant += '_chunked';
  if (o.unetSupportControlnet) variant += '_controlnet';
  return variant;
}

/** `<model>_<variant>`, the stem of every published name and the default artifact name. */
export function baseName(input: NamingInput): string {
  return `${input.assetPrefix ?? modelName(input.conversion.modelVersion)}_${variantName(input.conversion, input.coreAi)}`;
}

export interface PublishedNames {
  base: string;
  /** The compiled Resources, in a top-level folder of the zip's own name (what the apps download). */
  compiled: string;
  /** The mlpackages, for the Python pipeline. */
  packages: string;
  manifest: string;
  sums: string;
  /**
   * The end-to-end image check's two images (Core AI only; published only when the check ran):
   * `<base>.coreai.png` made by the bundle with coreai-core's runtime, `<base>.diffusers.png` by diffusers.
   */
  images: { coreai: string; diffusers: string };
}

export function publishedNames(input: NamingInput): PublishedNames {
  const base = baseName(input);
  return {
    base,
    // The zip people download and the apps load: the compiled Resources, or the Core AI bundle.
    compiled: input.coreAi ? `${base}_bundle.zip` : `${base}_compiled.zip`,
    packages: `${base}_packages.zip`,
    manifest: `${base}_manifest.json`,
    sums: `${base}_SHA256SUMS`,
    images: imageNames(base),
  };
}

/** The image check's two images: `<base>.coreai.png`, `<base>.diffusers.png` (a variant name holds no `.`: no other base ends like these). */
export function imageNames(base: string): PublishedNames['images'] {
  return { coreai: `${base}.coreai.png`, diffusers: `${base}.diffusers.png` };
}

/** The single top-level folder of a zip: its own name without `.zip`. */
export function topFolder(zipName: string): string {
  return zipName.replace(/\.zip$/, '');
}

/** Names that never go into a zip: Finder and resource-fork litter, and the action's own state. */
export const JUNK_NAMES: ReadonlySet<string> = new Set(['.DS_Store', '__MACOSX', '.coreml-action', '.Spotlight-V100', '.Trashes', '.fseventsd', '.AppleDouble', 'Thumbs.db']);

/** Pure: whether a path (relative, `/`-separated) is junk or lies inside a junk folder. */
export function isJunk(relativePath: string): boolean {
  return relativePath.split('/').some((segment) => JUNK_NAMES.has(segment) || segment.startsWith('._'));
}

/**
 * Pure: the order of entries in a zip, the same on every machine: depth first, a folder before
 * what it holds, names compared by code unit (not by locale), so that the same tree always gives
 * the same bytes.
 */
export function compareEntryPaths(a: string, b: string): number {
  const sa = a.replace(/\/$/, '').split('/');
  const sb = b.replace(/\/$/, '').split('/');
  for (let i = 0; i < Math.min(sa.length, sb.length); i++) {
    const x = sa[i] as string;
    const y = sb[i] as string;
    if (x !== y) return x < y ? -1 : 1;
  }
  return sa.length - sb.length;
}

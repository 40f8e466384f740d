import * as path from 'node:path';
import type { Config } from '../config.js';
import { folderOf, isFp16Safetensors } from '../hub/files.js';

/**
 * prepare-fp16, the deciding part. The converter loads every pipeline with variant="fp16",
 * use_safetensors=True: a checkpoint without *.fp16.safetensors fails. The helper saves an fp16
 * copy; the output names must still carry the original model-version, so the copy is staged at
 * <root>/<model-version> and the converter runs in <root>, where diffusers finds a folder of that
 * relative path and loads it instead of the Hub id. Pure.
 */
export const PREPARE_FP16_HELPER = 'python/prepare_fp16.py';


/** The model's file list: from the Hub's `siblings`, or from the local folder; or why not. */
export type ModelFiles = { files: string[] } | { error: string };

export interface Fp16Decision {
  run: boolean;
  /** One line for the log. */
  reason: string;
  /** Set when the user should hear about it (a wish that cannot be met). */
  warning?: string;
}

/** Where the copy goes so that the same relative name finds it; undefined when no name can. */
export function stagedFolder(root: string, modelVersion: string): string | undefined {
  if (path.isAbsolute(modelVersion)) return undefined;
  const normal = path.normalize(modelVersion);
  if (normal === '.' || normal === '..' || normal.startsWith(`..${path.sep}`)) return undefined;
  return path.join(root, normal);
}

/** Why a copy could not carry the model's name, or undefined when it can. */
export function unstageable(modelVersion: string): string | undefined {
  return stagedFolder('/', modelVersion) === undefined
    ? `model-version ${modelVersion} is an absolute path or leaves the workspace, so a copy cannot be found under the same name (which names the outputs)`
    : undefined;
}

export const SD3_NOT_FP16 = 'SD3 is not loaded with variant="fp16" (the converter takes the other parts from the SDXL base, DiffusionKit loads the MMDiT)';

/**
 * Does the helper run? `files` is asked for only in auto mode (undefined otherwise); `loadsOffline`
 * says that the converter loads the model offline from the cache the Hub stage filled. The cases
 * where `true` cannot work are input rules (src/inputs/rules.ts), reported before anything runs.
 */
export function decidePrepareFp16(config: Pick<Config, 'prepareFp16' | 'conversion'>, files?: ModelFiles, loadsOffline = false): Fp16Decision {
  const { mode } = config.prepareFp16;
  const o = config.conversion;
  if (mode === 'never') return { run: false, reason: 'prepare-fp16 is false' };
  if (o.sd3Version) return { run: false, reason: SD3_NOT_FP16 };
  const cannot = unstageable(o.modelVersion);
  if (mode === 'always') return cannot ? { run: false, reason: cannot } : { run: true, reason: 'prepare-fp16 is true' };
  // diffusers 0.30.2 checks that variant files exist only when it asks the Hub: from a local
  // folder it loads the plain weights (cast to float16), .bin included.
  if (o.modelIsLocal) return { run: false, reason: `diffusers loads the plain weights of the folder ${o.modelVersion} where it has no fp16 files` };
  const where = `the Hub's file list of ${o.modelVersion}`;
  if (files === undefined || 'error' in files) {
    const why = files && 'error' in files ? files.error : 'no file list';
    return {
      run: false,
      reason: `could not read ${where}`,
      warning: `prepare-fp16 is auto, but ${where} could not be read (${why}); converting as is. Set prepare-fp16: true if the checkpoint has no *.fp16.safetensors files.`,
    };
  }
  if (files.files.some(isFp16Safetensors)) return { run: false, reason: `${where} has *.fp16.safetensors files` };
  // Offline, the same holds for the filled cache, which has every folder's plain safetensors.
  if (loadsOffline && binOnlyFolders(files.files).length === 0) {
    return { run: false, reason: `the converter runs offline from the filled cache, where diffusers loads the plain safetensors of ${o.modelVersion}` };
  }
  return { run: true, reason: `${where} has no *.fp16.safetensors files` };
}

/** Pure: component folders with weights but no safetensors (only .bin), which the cache does not get. */
export function binOnlyFolders(files: readonly string[]): string[] {
  const withSafetensors = new Set(files.filter((f) => f.endsWith('.safetensors')).map(folderOf));
  return [...new Set(files.filter((f) => f.includes('/') && f.endsWith('.bin')).map(folderOf))].filter((d) => !withSafetensors.has(d)).sort();
}

/**
 * Local folders the converter is given by relative path (refiner, custom VAE, ControlNets): they
 * must stay reachable from the staging root, so each gets a link there.
 */
export function stagingLinks(
  config: Pick<Config, 'conversion' | 'runner'>,
  root: string,
  isDirectory: (p: string) => boolean,
): Array<{ link: string; target: string }> {
  const o = config.conversion;
  const candidates = [o.refinerVersion, o.customVaeVersion, ...o.controlnets].filter((v): v is string => v !== undefined);
  const links: Array<{ link: string; target: string }> = [];
  for (const value of candidates) {
    const target = path.resolve(config.runner.workspace, value);
    const link = stagedFolder(root, value);
    if (link && isDirectory(target) && !links.some((l) => l.link === link)) links.push({ link, target });
  }
  return links;
}

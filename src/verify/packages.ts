import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import type { ConversionOptions } from '../config.js';
import { PACKAGE_SUFFIX, chunkPackageName, compiledResources, controlNetPackageName, packageName, type ChunkablePart, type PackagePart } from '../converter/vocabulary.js';

const PACKAGE_PARTS: readonly PackagePart[] = [
  'text_encoder', 'text_encoder_2', 'vae_decoder', 'vae_encoder', 'unet', 'control-unet', 'refiner', 'safety_checker', 'mmdit',
];
const CHUNKABLE: readonly ChunkablePart[] = ['unet', 'control-unet', 'refiner'];

/** Package file name -> the part it belongs to (PSNR part names: chunks as `<part>_chunks`). */
function partsByPackage(o: ConversionOptions): Map<string, string> {
  const map = new Map<string, string>();
  for (const part of PACKAGE_PARTS) map.set(packageName(o.modelVersion, part), part);
  for (const part of CHUNKABLE) {
    for (const n of [1, 2] as const) map.set(chunkPackageName(o.modelVersion, part, n), `${part}_chunks`);
  }
  for (const id of o.controlnets) map.set(controlNetPackageName(id), 'controlnet');
  return map;
}

export function packageParts(o: ConversionOptions, packages: string[]): Record<string, string> {
  const known = partsByPackage(o);
  return Object.fromEntries(packages.map((p) => [p, known.get(p) ?? p.replace(/\.mlpackage$/, '')]));
}

/**
 * What to remove for parts that failed the gate, relative to -o: their packages (a failed unet
 * takes its chunks along) and the models compiled from them.
 */
export function packagesToRemoveFor(o: ConversionOptions, failedParts: string[]): string[] {
  const failed = new Set(failedParts);
  const compiled = compiledResources(o.modelVersion, o.controlnets);
  return [...partsByPackage(o)]
    .filter(([, part]) => failed.has(part) || failed.has(part.replace(/_chunks$/, '')))
    .flatMap(([pkg]) => [pkg, ...(compiled.has(pkg) ? [compiled.get(pkg) as string] : [])]);
}

/** The mlpackages in output-dir, as sorted absolute paths (none when it does not exist). */
export function listPackages(outputDir: string): string[] {
  if (!existsSync(outputDir)) return [];
  return readdirSync(outputDir)
    .filter((name) => name.endsWith(PACKAGE_SUFFIX))
    .sort()
    .map((name) => path.join(outputDir, name));
}

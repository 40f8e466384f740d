import { BUNDLE_DIR } from '../backends/core-ai/plan.js';
import { createHash } from 'node:crypto';
import { constants, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { IMAGE_CHECK_DIR, type ImageCheckResult } from '../backends/core-ai/image.js';
import type { Config, GitHubContext } from '../config.js';
import { backendOf } from '../backends/registry.js';
import { actionRoot } from '../inputs/read.js';
import { RESOURCES_DIR } from '../converter/vocabulary.js';
import type { ModelRevision } from '../hub/models.js';
import type { BundleReport } from '../verify/bundle/check.js';
import type { PsnrVerdict } from '../verify/psnr.js';
import { listPackages } from '../verify/packages.js';
import { formatBytes, formatDuration } from '../format/markdown.js';
import { readEnvironment } from './environment.js';
import { readSingleFileRecord } from '../single-file/record.js';
import { listTree, type TreeListing } from './listing.js';
import { buildManifest, majorOf, manifestJson, sha256sums, type ActionIdentity, type Manifest, type Replaced } from './manifest.js';
import { publishedNames, topFolder, type PublishedNames } from './names.js';
import { writeZip, type WrittenFile, type ZipResult } from './zip.js';
import { errorMessage } from '../format/error.js';
import { info } from '../log.js';


/** What the stages before packaging hand it. */
export interface PackageInput {
  config: Config;
  models: ModelRevision[];
  verdicts: PsnrVerdict[];
  bundle?: BundleReport;
  /** For manifest.json's `replaces`: what skip-if-unchanged found in the release (src/refresh/). */
  replaces?: Replaced;
  /** The end-to-end image check (Core AI with image-check): its two images are published beside the zips. */
  image?: ImageCheckResult;
}

/** The image check's two images as published (`<base>.coreai.png`, `<base>.diffusers.png`), with what the check found. */
export interface PackagedImages {
  result: ImageCheckResult;
  coreai: WrittenFile;
  diffusers: WrittenFile;
}

export interface PackageResult {
  dir: string;
  names: PublishedNames;
  archives: ZipResult[];
  manifest: Manifest;
  /** Every file to publish, in order: the zips (or their parts), the two images, the manifest, the checksum file. */
  files: WrittenFile[];
  /** Set when the image check ran: its images are in `files` too. */
  image?: PackagedImages;
  /** The checksum file's text. */
  sums: string;
  durationMs: number;
}

/** A packaging failure, with what to do about it. */
export class PackageError extends Error {}

/** Room the zips need beyond their contents: headers, and a margin for the file system. */
const HEADROOM = 64 * 1024 * 1024;

/** Pure: why the zips would not fit, or undefined. */
export function spaceProblem(neededBytes: number, freeBytes: number, where: string): string | undefined {
  if (freeBytes >= neededBytes + HEADROOM) return undefined;
  return (
    `Packaging needs about ${formatBytes(neededBytes)} in ${where}, and only ${formatBytes(freeBytes)} is free. ` +
    'Free space before this step (delete unused Xcode versions and simulator runtimes, or the Hugging Face cache), ' +
    'use a runner with a larger disk, or set package: false and zip the outputs yourself.'
  );
}

/** The action's name and version, from its own package.json and what the runner says. */
export function actionIdentity(github: Pick<GitHubContext, 'actionRepository' | 'actionRef'>): ActionIdentity {
  let pkg: { name?: string; version?: string } = {};
  try {
    pkg = JSON.parse(readFileSync(path.join(actionRoot(), 'package.json'), 'utf8')) as typeof pkg;
  } catch {
    pkg = {};
  }
  const version = pkg.version ?? '0.0.0';
  return {
    name: github.actionRepository || pkg.name || 'coreml-stable-diffusion-action',
    version,
    major: majorOf(version),
    ref: github.actionRef || null,
  };
}

/** What goes into one zip: files or folders, each under the zip's top-level folder by its base name. */
export interface ZipSource {
  name: string;
  roots: string[];
}

/**
 * The Resources folder's content and the mlpackages, each under its zip's own top-level folder.
 * With the image check, output-dir/image-check/ (the two images and image-check.json) goes into
 * the first zip, the bundle people download, as `<top>/image-check/`: the images travel with the
 * models they were made by. The folder is missing only if the image step did not write it: that
 * is an error, not a zip without it.
 */
export function zipSources(config: Config, names: PublishedNames, withImageCheck: boolean): ZipSource[] {
  const out = config.conversion.outputDir;
  const jobs: ZipSource[] = [];
  const resources = path.join(out, config.coreAi ? BUNDLE_DIR : RESOURCES_DIR);
  // Core AI: the bundle's content (metadata.json, the .aimodel folders, the tokenizer) is the zip people download.
  if ((config.coreAi || config.conversion.bundleResources) && existsSync(resources)) {
    jobs.push({ name: names.compiled, roots: readdirSync(resources).map((n) => path.join(resources, n)) });
  }
  const packages = listPackages(out);
  if (packages.length > 0) jobs.push({ name: names.packages, roots: packages });
  const first = jobs[0];
  if (withImageCheck && first) {
    const images = path.join(out, IMAGE_CHECK_DIR);
    if (!statSync(images, { throwIfNoEntry: false })?.isDirectory()) throw new PackageError(`The image check's folder ${images} is missing: the image step wrote no images to publish.`);
    first.roots.push(images);
  }
  return jobs;
}

function sourcesOf(config: Config, names: PublishedNames, withImageCheck: boolean): Array<{ name: string; listing: TreeListing }> {
  return zipSources(config, names, withImageCheck).map((job) => ({ name: job.name, listing: listTree(job.roots, topFolder(job.name)) }));
}

function writeSmallFile(dir: string, name: string, text: string): WrittenFile {
  const file = path.join(dir, name);
  const bytes = Buffer.from(text, 'utf8');
  writeFileSync(file, bytes, { flag: 'wx' });
  return { name, path: file, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** Copies one image into the staging folder under its published name, hashed. */
function copyImage(dir: string, name: string, from: string): WrittenFile {
  const stat = statSync(from, { throwIfNoEntry: false });
  if (!stat?.isFile()) throw new PackageError(`The image check's image ${from} is missing: the image step wrote no image to publish as ${name}.`);
  const file = path.join(dir, name);
  copyFileSync(from, file, constants.COPYFILE_EXCL);
  const bytes = readFileSync(file);
  return { name, path: file, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

function diagnose(error: unknown, dir: string): PackageError {
  if (error instanceof PackageError) return error;
  const err = error as NodeJS.ErrnoException;
  if (err?.code === 'ENOSPC') {
    return new PackageError(`The disk filled up while writing the zips into ${dir}. Free space before this step (unused Xcode versions, simulator runtimes), use a runner with a larger disk, or set package: false.`);
  }
  return new PackageError(`Packaging failed: ${errorMessage(error)}`);
}

/**
 * Zips the outputs into $RUNNER_TEMP/coreml-packages/<model>_<variant>, with the image check's two
 * images beside them (when it ran: a person sees them before downloading the zips), the manifest
 * and the checksum file. Everything is written into a `.partial` folder that is renamed into place at the
 * end, and removed on any failure: package-dir holds a complete set or nothing.
 */
export async function packageOutputs(input: PackageInput): Promise<PackageResult> {
  const { config } = input;
  const started = Date.now();
  const p = config.publish;
  const names = publishedNames({ conversion: config.conversion, assetPrefix: p.assetPrefix, coreAi: config.coreAi });
  const root = path.join(config.runner.temp, 'coreml-packages');
  const dir = path.join(root, names.base);
  const staging = `${dir}.partial`;
  rmSync(dir, { recursive: true, force: true });
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    const jobs = sourcesOf(config, names, input.image !== undefined);
    if (jobs.length === 0) throw new PackageError(`There is nothing to package: ${config.conversion.outputDir} holds neither ${RESOURCES_DIR} nor mlpackages.`);
    const skipped = jobs.flatMap((j) => j.listing.skipped);
    if (skipped.length > 0) info(`Left out of the zips: ${skipped.join(', ')}.`);
    const needed = jobs.reduce((sum, j) => sum + j.listing.bytes + j.listing.entries.length * 512, 0);
    const fs = statfsSync(staging);
    const problem = spaceProblem(needed, fs.bavail * fs.bsize, root);
    if (problem) throw new PackageError(problem);
    // Before the zips: a missing image fails in a moment, not after minutes of zipping.
    const image: PackagedImages | undefined = input.image && {
      result: input.image,
      coreai: copyImage(staging, names.images.coreai, input.image.images.coreai),
      diffusers: copyImage(staging, names.images.diffusers, input.image.images.diffusers),
    };

    const archives: ZipResult[] = [];
    for (const job of jobs) {
      const t = Date.now();
      const zip = await writeZip({ entries: job.listing.entries, dir: staging, name: job.name, level: p.compressionLevel, maxPartSize: p.maxAssetSize });
      archives.push(zip);
      const parts = zip.files.length > 1 ? ` in ${zip.files.length} parts` : '';
      info(`${zip.name}: ${zip.entries} entries, ${formatBytes(zip.size)}${parts}, sha256 ${zip.sha256} (${formatDuration(Date.now() - t)}).`);
    }

    const main = input.models.find((m) => m.id === config.conversion.modelVersion);
    const manifest = buildManifest({
      backend: config.backend,
      action: actionIdentity(p.github),
      model: {
        id: config.conversion.modelVersion,
        revision: config.conversion.modelRevision,
        sha: main?.resolved ? main.revision : null,
        local: config.conversion.modelIsLocal,
      },
      models: input.models.map((m) => ({ id: m.id, sha: m.resolved ? m.revision : null })),
      converterInputs: backendOf(config).inputs(config),
      environment: readEnvironment(config.conversion.outputDir),
      verdicts: input.verdicts,
      bundle: input.bundle?.facts ?? null,
      archives,
      replaces: input.replaces,
      // Read back from output-dir, as the environment is: an outputs-cache hit publishes the record that made it.
      singleFile: config.singleFile ? readSingleFileRecord(config.conversion.outputDir) : undefined,
      image: image && { result: image.result, files: { coreai: image.coreai, diffusers: image.diffusers } },
      run: {
        repository: p.github.repository ?? null,
        runId: p.github.runId ?? null,
        runAttempt: p.github.runAttempt ?? null,
        commit: p.github.sha ?? null,
      },
    });
    const zipFiles = archives.flatMap((a) => a.files);
    const imageFiles = image ? [image.coreai, image.diffusers] : [];
    const manifestFile = writeSmallFile(staging, names.manifest, manifestJson(manifest));
    const sums = sha256sums([...zipFiles, ...imageFiles, manifestFile]);
    const sumsFile = writeSmallFile(staging, names.sums, sums);
    renameSync(staging, dir);
    const moved = (f: WrittenFile): WrittenFile => ({ ...f, path: path.join(dir, f.name) });
    return {
      dir,
      names,
      archives: archives.map((a) => ({ ...a, files: a.files.map(moved) })),
      manifest,
      files: [...zipFiles, ...imageFiles, manifestFile, sumsFile].map(moved),
      ...(image ? { image: { result: image.result, coreai: moved(image.coreai), diffusers: moved(image.diffusers) } } : {}),
      sums,
      durationMs: Date.now() - started,
    };
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw diagnose(error, root);
  }
}

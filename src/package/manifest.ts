import type { ImageCheckResult } from '../backends/core-ai/image.js';
import type { BackendName } from '../config.js';
import type { BundleFacts } from '../verify/bundle/check.js';
import type { PsnrVerdict } from '../verify/psnr.js';
import type { ZipResult } from './zip.js';

/**
 * Pure: manifest.json and SHA256SUMS. The manifest says what was converted (model commits, every
 * converter input), with what (the packages installed, Python, macOS, Xcode), how it measured
 * (PSNR, what the apps read from the bundle) and what was published, byte for byte; a scheduled
 * run reads it back from the release to tell whether a conversion is still current.
 */
export const MANIFEST_SCHEMA_VERSION = 1;

/** What the conversion ran with, as recorded in output-dir/.coreml-action/environment.json. */
export interface EnvironmentRecord {
  /** `python -m pip freeze` of the converter's env: name -> version (or `@ url` for direct references). */
  packages: Record<string, string> | null;
  python: string | null;
  macos: string | null;
  xcode: string | null;
}

export interface ActionIdentity {
  name: string;
  version: string;
  /** `v1` for 1.x.y: what a workflow's `@v1` resolves to. */
  major: string;
  /** The ref the workflow used (GITHUB_ACTION_REF), when the runner says. */
  ref: string | null;
}

export interface ManifestInput {
  action: ActionIdentity;
  model: { id: string; revision: string; sha: string | null; local: boolean };
  models: Array<{ id: string; sha: string | null }>;
  converterInputs: Record<string, string>;
  environment: EnvironmentRecord;
  verdicts: PsnrVerdict[];
  bundle: BundleFacts | null;
  archives: ZipResult[];
  run: { repository: string | null; runId: string | null; runAttempt: string | null; commit: string | null };
  /** skip-if-unchanged found another conversion in the release: what this one replaces (src/refresh/). */
  replaces?: Replaced;
  /** model-version was a single file: what the diffusers folder was made of (src/single-file/). */
  singleFile?: SingleFileRecord;
  /** Which converter made the models; absent reads as core-ml, the only one before Core AI. */
  backend?: BackendName;
  /** The end-to-end image check (Core AI) and its two published images. */
  image?: { result: ImageCheckResult; files: { coreai: PublishedFileRecord; diffusers: PublishedFileRecord } };
}

/**
 * The end-to-end image check as the manifest records it: the facts that decide the two images
 * (prompt, seed, steps, guidance, scheduler, size), their PSNR against its threshold, and the
 * published names of the images. `psnr` is null for nan/inf: `identical` tells the two apart.
 */
export interface ImageCheckRecord {
  psnr: number | null;
  identical: boolean;
  minPsnr: number;
  passed: boolean;
  prompt: string;
  seed: number;
  steps: number;
  guidance: number;
  scheduler: string;
  height: number;
  width: number;
  /** The published names (`<base>.coreai.png`, `<base>.diffusers.png`); their size and sha256 are in `files`. */
  images: { coreai: string; diffusers: string };
}

/** A file a single-file conversion read: as given, where it was (a Hub repository at a commit, or the workspace), its content's sha256. */
export interface SourceFileRecord {
  input: string;
  /** owner/name; null for a file in the workspace. */
  repo: string | null;
  /** The path in the repository, or the workspace file's name. */
  file: string;
  /** The commit the Hub revision pointed at; null for a file in the workspace. */
  commit: string | null;
  sha256: string;
  size: number;
}

/**
 * What the converted diffusers folder was made of: the checkpoint, the kind read from its tensor
 * names, the config repository, every LoRA merged with its scale, and the diffusers that did it.
 */
export interface SingleFileRecord {
  checkpoint: SourceFileRecord;
  kind: string;
  config: { repo: string; commit: string } | { folder: string };
  loras: Array<SourceFileRecord & { scale: number }>;
  diffusers: string | null;
  torch: string | null;
}

export interface PublishedFileRecord {
  name: string;
  size: number;
  sha256: string;
}

export interface Manifest {
  schemaVersion: number;
  /** Which converter made the models (src/backends/). */
  backend: BackendName;
  action: ActionIdentity;
  model: ManifestInput['model'];
  models: ManifestInput['models'];
  converterInputs: Record<string, string>;
  environment: EnvironmentRecord;
  psnr: Array<Pick<PsnrVerdict, 'part' | 'check' | 'psnr' | 'threshold' | 'passed'>>;
  bundle: BundleFacts | null;
  archives: Array<{
    name: string;
    topFolder: string;
    size: number;
    sha256: string;
    method: 'store' | 'deflate';
    entries: number;
    /** Empty when the zip is published whole; else its parts, to be joined with cat in this order. */
    parts: PublishedFileRecord[];
    /** Every file in the zip: its name inside the zip, size and sha256. */
    sources: PublishedFileRecord[];
  }>;
  /** Every published file except this manifest and the checksum file: the zips (or their parts), then the images. */
  files: PublishedFileRecord[];
  run: ManifestInput['run'];
  /** The model commits and action version the release held before, and what changed; null when nothing was replaced (or skip-if-unchanged was off). */
  replaces: Replaced | null;
  /** Set when model-version was a single file; null otherwise. */
  singleFile: SingleFileRecord | null;
  /** The end-to-end image check (Core AI with image-check); null otherwise. */
  imageCheck: ImageCheckRecord | null;
}

export function buildManifest(input: ManifestInput): Manifest {
  const record = ({ name, size, sha256 }: PublishedFileRecord): PublishedFileRecord => ({ name, size, sha256 });
  const image = input.image;
  return {
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    backend: input.backend ?? 'core-ml',
    action: input.action,
    model: input.model,
    models: input.models,
    converterInputs: input.converterInputs,
    environment: input.environment,
    psnr: input.verdicts.map(({ part, check, psnr, threshold, passed }) => ({ part, check, psnr, threshold, passed })),
    bundle: input.bundle,
    archives: input.archives.map((a) => ({
      name: a.name,
      topFolder: a.name.replace(/\.zip$/, ''),
      size: a.size,
      sha256: a.sha256,
      method: a.method,
      entries: a.entries,
      parts: a.files.length > 1 ? a.files.map(({ name, size, sha256 }) => ({ name, size, sha256 })) : [],
      sources: a.sources.map(({ name, size, sha256 }) => ({ name, size, sha256 })),
    })),
    files: [...input.archives.flatMap((a) => a.files.map(record)), ...(image ? [record(image.files.coreai), record(image.files.diffusers)] : [])],
    run: input.run,
    replaces: input.replaces ?? null,
    singleFile: input.singleFile ?? null,
    imageCheck: image ? imageCheckRecord(image.result, { coreai: image.files.coreai.name, diffusers: image.files.diffusers.name }) : null,
  };
}

/** Pure: what the manifest keeps of the image check (not the timings, not the runner's paths). */
export function imageCheckRecord(result: ImageCheckResult, images: ImageCheckRecord['images']): ImageCheckRecord {
  const { psnr, identical, minPsnr, passed, prompt, seed, steps, guidance, scheduler, height, width } = result;
  return { psnr, identical, minPsnr, passed, prompt, seed, steps, guidance, scheduler, height, width, images };
}

export function manifestJson(manifest: Manifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/** `sha256sum` format (hash, two spaces, name), sorted by name: `sha256sum -c` checks it. */
export function sha256sums(files: readonly PublishedFileRecord[]): string {
  for (const f of files) {
    if (!/^[0-9a-f]{64}$/.test(f.sha256)) throw new Error(`sha256sums: ${f.name} has no sha256`);
    if (/[\r\n\\]/.test(f.name)) throw new Error(`sha256sums: ${JSON.stringify(f.name)} cannot be listed`);
  }
  return [...files]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((f) => `${f.sha256}  ${f.name}\n`)
    .join('');
}

/** `pip freeze` lines -> name -> version; `name @ url` keeps the reference; comments and options are dropped. */
export function parseFreeze(text: string): Record<string, string> {
  const packages: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('-')) continue;
    const pinned = /^([A-Za-z0-9][\w.-]*)(?:\[[^\]]*\])?\s*===?\s*(\S+)$/.exec(line);
    const direct = /^([A-Za-z0-9][\w.-]*)(?:\[[^\]]*\])?\s*@\s*(\S.*)$/.exec(line);
    if (pinned) packages[pinned[1] as string] = pinned[2] as string;
    else if (direct) packages[direct[1] as string] = `@ ${direct[2]}`;
  }
  return packages;
}

/** `Xcode 16.2\nBuild version 16C5032a` -> `16.2 (16C5032a)`; undefined when not that shape. */
export function parseXcodeVersion(text: string): string | undefined {
  const version = /Xcode\s+(\S+)/.exec(text)?.[1];
  if (!version) return undefined;
  const build = /Build version\s+(\S+)/.exec(text)?.[1];
  return build ? `${version} (${build})` : version;
}

/** `1.2.3` -> `v1`. */
export function majorOf(version: string): string {
  return `v${version.split('.')[0] ?? version}`;
}

// Read back: what src/refresh compares. Kept beside the writer so the contract has one owner.

/** The part of a release manifest the comparison reads (whatever else it holds). */
export interface PublishedIdentity {
  models: Array<{ id: string; revision: string }>;
  inputs: Record<string, string>;
  actionMajor: string;
  /** What a single-file conversion was made of; null when the manifest records none. */
  singleFile: PublishedSingleFile | null;
}

/** Of a manifest's `singleFile`: the bytes that decide the folder (each file's sha256, a LoRA's scale) and the config it used. */
export interface PublishedSingleFile {
  checkpoint: { file: string; sha256: string };
  loras: Array<{ file: string; sha256: string; scale: number }>;
  config: { repo: string; commit: string } | { folder: string };
}

/**
 * What a conversion over an older one replaces, for the new manifest's `replaces` field: the
 * commits and versions the release held, and what changed. Undefined when nothing was published.
 */
export interface Replaced {
  models: Array<{ id: string; revision: string }>;
  actionMajor: string;
  changes: string[];
}

/**
 * What a manifest written by buildManifest (schema 1), read back from a release, says was converted: `models` with
 * their commit shas, `converterInputs`, `action.major`, and `singleFile` (its files' sha256s). An Error names what is missing.
 */
export function publishedIdentity(manifest: unknown): PublishedIdentity | Error {
  if (manifest === null || typeof manifest !== 'object' || Array.isArray(manifest)) return new Error('not a JSON object');
  const m = manifest as { models?: unknown; converterInputs?: unknown; action?: { major?: unknown } | null };
  if (!Array.isArray(m.models)) return new Error('no `models` list');
  const models: PublishedIdentity['models'] = [];
  for (const entry of m.models as unknown[]) {
    const e = entry as { id?: unknown; sha?: unknown } | null;
    if (!e || typeof e.id !== 'string') return new Error('a `models` entry has no id');
    models.push({ id: e.id, revision: typeof e.sha === 'string' ? e.sha : '' });
  }
  const inputs = m.converterInputs;
  if (inputs === null || typeof inputs !== 'object' || Array.isArray(inputs) || !Object.values(inputs).every((v) => typeof v === 'string')) {
    return new Error('no `converterInputs` object of strings');
  }
  const major = m.action?.major;
  if (typeof major !== 'string') return new Error('no `action.major`');
  const singleFile = publishedSingleFile((manifest as { singleFile?: unknown }).singleFile);
  if (singleFile instanceof Error) return singleFile;
  return { models, inputs: inputs as Record<string, string>, actionMajor: major, singleFile };
}

/** A SingleFileRecord read back; null when absent (not a single file, or a manifest from before the record). */
function publishedSingleFile(record: unknown): PublishedSingleFile | null | Error {
  if (record === undefined || record === null) return null;
  const r = record as { checkpoint?: unknown; loras?: unknown; config?: unknown };
  const file = (f: unknown) => {
    const e = f as { file?: unknown; sha256?: unknown } | null;
    return e && typeof e.file === 'string' && typeof e.sha256 === 'string' ? { file: e.file, sha256: e.sha256 } : undefined;
  };
  const checkpoint = file(r.checkpoint);
  if (!checkpoint) return new Error('a `singleFile` record without the checkpoint\'s file and sha256');
  if (!Array.isArray(r.loras)) return new Error('a `singleFile` record without a `loras` list');
  const loras: PublishedSingleFile['loras'] = [];
  for (const entry of r.loras as unknown[]) {
    const lora = file(entry);
    const scale = (entry as { scale?: unknown } | null)?.scale;
    if (!lora || typeof scale !== 'number') return new Error('a `singleFile.loras` entry without its file, sha256 and scale');
    loras.push({ ...lora, scale });
  }
  const c = r.config as { repo?: unknown; commit?: unknown; folder?: unknown } | null;
  let config: PublishedSingleFile['config'];
  if (c && typeof c.repo === 'string' && typeof c.commit === 'string') config = { repo: c.repo, commit: c.commit };
  else if (c && typeof c.folder === 'string') config = { folder: c.folder };
  else return new Error('a `singleFile` record without its config (repo and commit, or folder)');
  return { checkpoint, loras, config };
}

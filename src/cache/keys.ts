import { createHash } from 'node:crypto';

/**
 * Cache keys, pure. The service takes keys up to 512 characters without commas, matches
 * restore keys as prefixes (newest first), and never overwrites an entry: so a key names
 * everything that determines the content, and a restore key drops the part that changes most.
 */
export const ACTION_MAJOR = 'v1';
const PREFIX = `coreml-sd-${ACTION_MAJOR}`;
const MAX_KEY = 512;

export interface CacheKey {
  key: string;
  restoreKeys: string[];
}

export function shortHash(...parts: string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\u0000');
  return hash.digest('hex').slice(0, 16);
}

/** Hub ids and the like made safe for a key: letters, digits, `.`, `_`, `-`. */
export function keyPart(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 96);
}

function checked(key: CacheKey): CacheKey {
  for (const k of [key.key, ...key.restoreKeys]) {
    if (k.length > MAX_KEY || k.includes(',')) throw new Error(`internal: cache key not accepted by the service: ${k}`);
  }
  return key;
}

export interface EnvironmentIdentity {
  runnerOs: string;
  arch: string;
  pythonVersion: string;
  requirement: string;
  /** Hash of the pins file's content (the lock or constraints). */
  pinsHash: string;
  /**
   * Absent: the converter's env. 'finish': the finishing half's (coremltools, no converter), which a
   * converting job must never restore as its own.
   */
  environment?: 'finish' | 'core-ai';
}

function envBase(kind: string, e: EnvironmentIdentity): string {
  const what = e.environment ? `${kind}-${e.environment}` : kind;
  return `${PREFIX}-${what}-${keyPart(e.runnerOs)}-${keyPart(e.arch)}-py${keyPart(e.pythonVersion)}-${shortHash(e.requirement)}`;
}

/** pip's download cache: any older one for the same converter still saves most downloads. */
export function pipKey(e: EnvironmentIdentity): CacheKey {
  const base = envBase('pip', e);
  return checked({ key: `${base}-${e.pinsHash}`, restoreKeys: [`${base}-`] });
}

/** The whole conda env: only an exact match is safe to run. */
export function envKey(e: EnvironmentIdentity): CacheKey {
  return checked({ key: `${envBase('env', e)}-${e.pinsHash}`, restoreKeys: [] });
}

export interface ResolvedModel {
  id: string;
  /** The commit sha, or the revision name when the Hub could not be asked. */
  revision: string;
  resolved: boolean;
}

/**
 * Hugging Face downloads: keyed on every model and its commit; the restore key on the main
 * model alone lets a new commit reuse the files it did not change.
 */
export function hubKey(models: ResolvedModel[]): CacheKey {
  const [main, ...others] = models;
  if (!main) throw new Error('internal: hubKey needs a model');
  const base = `${PREFIX}-hf-${keyPart(main.id)}-`;
  const rest = others.length > 0 ? `-${shortHash(...others.map((m) => `${m.id}@${m.revision}`))}` : '';
  return checked({ key: `${base}${keyPart(main.revision)}${rest}`, restoreKeys: [base] });
}

/**
 * A single file's Hub downloads (the checkpoint, LoRAs, the config's files): keyed on every file's
 * repository, commit and path, exact match only (they are the bytes that are converted).
 */
export function hubFilesKey(files: ReadonlyArray<{ repo: string; commit: string; file: string }>): CacheKey {
  const [first] = files;
  if (!first) throw new Error('internal: hubFilesKey needs a file');
  const identity = shortHash(...files.map((f) => `${f.repo}@${f.commit}/${f.file}`).sort());
  return checked({ key: `${PREFIX}-hf-file-${keyPart(first.repo)}-${identity}`, restoreKeys: [] });
}

/** Finished conversions: everything that determines the folder's content, exact match only. */
export function outputsKey(models: ResolvedModel[], options: Record<string, string>, e: EnvironmentIdentity): CacheKey {
  const [main] = models;
  if (!main) throw new Error('internal: outputsKey needs a model');
  const identity = shortHash(
    JSON.stringify(models.map((m) => [m.id, m.revision])),
    JSON.stringify(Object.entries(options).sort()),
    JSON.stringify(e),
  );
  return checked({ key: `${PREFIX}-out-${keyPart(main.id)}-${keyPart(main.revision).slice(0, 40)}-${identity}`, restoreKeys: [] });
}

import * as path from 'node:path';
import type { FileSource } from '../config.js';
import { isHubId } from '../inputs/fields.js';

/**
 * Where a single file comes from, read from an input's text. Pure. Three spellings: a file in the
 * workspace, `owner/repo/path/file.safetensors` (a file of a Hub repository), and the Hub's own
 * URL of a file, `https://huggingface.co/owner/repo/(blob|resolve)/<revision>/<path>`.
 */
export const SINGLE_FILE_HELPER = 'python/single_file.py';

/** What the action loads as a single file: safetensors, or a pickled .ckpt (only with allow-pickle). */
const SINGLE_FILE_NAME = /\.(safetensors|ckpt)$/i;
export const isSingleFileName = (value: string): boolean => SINGLE_FILE_NAME.test(value.split(/[?#]/)[0] ?? value);
/** The file's path: on this machine, or in its Hub repository. */
const pathOf = (source: FileSource): string => (source.where === 'local' ? source.path : source.file);
/** A .ckpt: a Python pickle, which runs code when loaded. */
export const isPickle = (source: FileSource): boolean => /\.ckpt$/i.test(pathOf(source));

export const FILE_FORMS =
  'a .safetensors (or .ckpt) file in the workspace, a Hub file as owner/repo/path/file.safetensors, or its Hub URL https://huggingface.co/owner/repo/resolve/<revision>/<path>';

export interface SourceContext {
  workspace: string;
  /** The Hub endpoint in use (HF_ENDPOINT): its URLs are accepted beside huggingface.co's. */
  endpoint: string;
  isFile(p: string): boolean;
  /** The revision for the owner/repo/path form (model-revision for model-version, main for a LoRA). */
  revision: string;
}

export type SourceResult = FileSource | { error: string };

/** A repository path of clean segments (no empty, `.` or `..` part), or undefined. */
function repoPath(segments: readonly string[]): string | undefined {
  if (segments.length === 0 || segments.some((s) => s === '' || s === '.' || s === '..' || s.includes('\\'))) return undefined;
  return segments.join('/');
}

function fromUrl(value: string, ctx: SourceContext): SourceResult {
  const form = 'https://huggingface.co/owner/repo/resolve/<revision>/<path to the file>';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { error: `is not a URL (${form} is the form of a Hub file's URL)` };
  }
  const hosts = new Set(['https://huggingface.co', new URL(ctx.endpoint).origin]);
  if (!hosts.has(url.origin)) return { error: `is a URL of ${url.origin}, not of the Hub: only Hub files are downloaded (${form})` };
  const [owner = '', repo = '', mode = '', revision = '', ...rest] = url.pathname.split('/').slice(1).map((s) => decodeURIComponent(s));
  const file = repoPath(rest);
  if (!isHubId(`${owner}/${repo}`) || (mode !== 'resolve' && mode !== 'blob') || revision === '' || !file) {
    return { error: `is not the URL of a file on the Hub: the form is ${form}` };
  }
  if (!isSingleFileName(file)) return { error: `names ${file}, which is not a .safetensors or .ckpt file` };
  return { where: 'hub', input: value, repo: `${owner}/${repo}`, revision, file };
}

/**
 * The file an input names, or an error (completing "Input `x` ..."), or undefined when the value
 * is not a file at all (a Hub id or a folder, which model-version also takes).
 */
export function fileSource(value: string, ctx: SourceContext): SourceResult | undefined {
  if (/^https?:\/\//i.test(value)) return fromUrl(value, ctx);
  const resolved = path.resolve(ctx.workspace, value);
  if (ctx.isFile(resolved)) {
    return isSingleFileName(resolved) ? { where: 'local', input: value, path: resolved } : { error: `is the file ${resolved}, which is not a .safetensors or .ckpt checkpoint` };
  }
  if (!isSingleFileName(value)) return undefined;
  const [owner = '', repo = '', ...rest] = value.split('/');
  const file = repoPath(rest);
  if (path.isAbsolute(value) || value.startsWith('.') || !isHubId(`${owner}/${repo}`) || !file) {
    return { error: `names ${resolved}, which does not exist (the forms: ${FILE_FORMS})` };
  }
  return { where: 'hub', input: value, repo: `${owner}/${repo}`, revision: ctx.revision, file };
}

/** The name the converter gets (and the outputs carry): the file's stem, with only characters a shell leaves alone. */
export function modelNameOf(source: FileSource): string {
  const stem = path.basename(pathOf(source)).replace(SINGLE_FILE_NAME, '');
  const safe = stem.replace(/[^A-Za-z0-9._+-]+/g, '_').replace(/^[._-]+/, '');
  return safe === '' ? 'model' : safe;
}

/** Where a file is, for messages: the path given, or repo@revision:path. */
export function describeSource(source: FileSource): string {
  return source.where === 'local' ? source.input : `${source.repo}@${source.revision}:${source.file}`;
}

/** Plain decimal, optionally negative (a LoRA may be subtracted): no exponent, hex or plus sign. */
const NUMBER = /^-?\d+(\.\d+)?$/;

/** One entry of `lora`: `file-or-hub-path[:scale]`; the scale is a number, 1.0 when left out. */
export function splitScale(entry: string): { target: string; scale: number } | { error: string } {
  // The last colon before a part without `/`: a URL's `https:` is followed by `//`.
  const match = /^(.+):([^:/]*)$/.exec(entry);
  if (!match) return { target: entry, scale: 1 };
  const [, target = '', scale = ''] = match;
  const value = Number(scale.trim());
  if (!NUMBER.test(scale.trim()) || !Number.isFinite(value)) {
    return { error: `gives ${JSON.stringify(entry)} the scale ${JSON.stringify(scale)}, which is not a number: write file-or-hub-path:scale with a plain decimal number such as 0.8 or -0.5 (or no :scale, which is 1.0)` };
  }
  return { target, scale: value };
}

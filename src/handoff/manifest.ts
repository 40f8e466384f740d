import { createHash } from 'node:crypto';

/**
 * The hand-off between the two jobs of a split conversion (issue 23): the convert job (Linux)
 * leaves output-dir with the packages, the state and parity.py's reference files, and lists every
 * file in `.coreml-action/handoff.json` with its size and sha256, under the conversion's identity.
 * The finishing job (macOS) reads the same inputs, so it has the same identity: it takes the
 * folder only when the identity is its own and every file is there, unchanged, with nothing added.
 *
 * Pure: building, reading and comparing manifests; the walking, hashing and transfer are in
 * transfer.ts.
 */

export const HANDOFF_VERSION = 1;
/** The manifest's path inside the hand-off folder (posix; the folder is output-dir). */
export const HANDOFF_MANIFEST = '.coreml-action/handoff.json';
/** The default artifact name: this prefix and 16 hex of the identity's hash. */
export const HANDOFF_NAME_PREFIX = 'coreml-sd-handoff-';

export interface HandoffFile {
  /** Relative to output-dir, posix separators. */
  path: string;
  /** Lower-case hex. */
  sha256: string;
  size: number;
}

export interface HandoffManifest {
  version: typeof HANDOFF_VERSION;
  /** What the lead's identity record holds: input or fact name -> value. */
  identity: Record<string, string>;
  /** Every file of the folder except the manifest itself, sorted by path (code-unit order). */
  files: HandoffFile[];
}

/** Refused by the manifest, a handoff.json and a hand-off upload: the reason names what is wrong. */
export class HandoffError extends Error {}

/**
 * The characters @actions/artifact refuses in an uploaded file's path (NTFS's), plus the
 * backslash (a posix path holds `/` only, and on Windows it would be a separator) and NUL.
 */
const FORBIDDEN_PATH_CHARACTERS = /["*:<>?|\\\r\n\0]/;

/** Pure: why `p` cannot be a file of a hand-off, or undefined when it can. */
export function pathProblem(p: string): string | undefined {
  if (p === '') return 'an empty path';
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p)) return `${JSON.stringify(p)} is absolute`;
  const bad = FORBIDDEN_PATH_CHARACTERS.exec(p);
  if (bad) {
    const what = bad[0] === '\\' ? 'a backslash (paths are posix, separated by /)' : `the character ${JSON.stringify(bad[0])}`;
    return `${JSON.stringify(p)} holds ${what}`;
  }
  for (const segment of p.split('/')) {
    if (segment === '..') return `${JSON.stringify(p)} climbs out of the folder (..)`;
    if (segment === '.' || segment === '') return `${JSON.stringify(p)} is not a plain relative path (an empty or . segment)`;
  }
  if (p === HANDOFF_MANIFEST) return `${JSON.stringify(p)} is the manifest itself, which lists the other files`;
  return undefined;
}

const SHA256 = /^[0-9a-f]{64}$/;

const byPath = (a: HandoffFile, b: HandoffFile) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** Pure: a version-1 manifest of `files` (sorted by path); throws HandoffError on a bad path, hash or size, or a path twice. */
export function buildManifest(identity: Record<string, string>, files: readonly HandoffFile[]): HandoffManifest {
  const problems = [...fileProblems(files), ...caseCollisions(files.map((f) => f.path))];
  if (problems.length > 0) throw new HandoffError(`The hand-off cannot list these files:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  const sortedIdentity = Object.fromEntries(identityEntries(identity));
  return { version: HANDOFF_VERSION, identity: sortedIdentity, files: files.map((f) => ({ path: f.path, sha256: f.sha256, size: f.size })).sort(byPath) };
}

/**
 * Pure: files or folders whose paths differ in case (or Unicode normalization) only. The
 * finishing job runs on macOS, whose file system does not tell `A.bin` from `a.bin` (nor a file
 * `x` from a folder `X`): one would land on the other there, so the convert job refuses.
 */
export function caseCollisions(paths: readonly string[]): string[] {
  const byFolded = new Map<string, Set<string>>();
  for (const p of paths) {
    const segments = p.split('/');
    for (let i = 1; i <= segments.length; i++) {
      const prefix = segments.slice(0, i).join('/');
      const folded = prefix.normalize('NFC').toLowerCase();
      byFolded.set(folded, (byFolded.get(folded) ?? new Set()).add(prefix));
    }
  }
  return [...byFolded.values()]
    .filter((same) => same.size > 1)
    .map((same) => `${[...same].map((p) => JSON.stringify(p)).join(' and ')} differ in case only (one name on macOS's file system)`);
}

/** Pure: handoff.json's text (two-space JSON and a final newline). */
export function serializeManifest(manifest: HandoffManifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/** The identity's entries sorted by key (code-unit order): the order its hash and the manifest use. */
function identityEntries(identity: Record<string, string>): Array<[string, string]> {
  return Object.entries(identity).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Pure: the default artifact name, `coreml-sd-handoff-` and the first 16 hex of the sha256 of
 * the JSON text of the identity's entries sorted by key (`[["key","value"],...]`, no spaces).
 * The same inputs give the same name in both jobs; any other value of any entry, another name.
 */
export function handoffName(identity: Record<string, string>): string {
  const digest = createHash('sha256').update(JSON.stringify(identityEntries(identity))).digest('hex');
  return `${HANDOFF_NAME_PREFIX}${digest.slice(0, 16)}`;
}

function fileProblems(files: readonly unknown[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  files.forEach((entry, i) => {
    const at = `files[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push(`${at} is not an object {path, sha256, size}`);
      return;
    }
    const { path: p, sha256, size } = entry as Record<string, unknown>;
    if (typeof p !== 'string') {
      problems.push(`${at}.path is not a string`);
    } else {
      const bad = pathProblem(p);
      if (bad) problems.push(`${at}.path: ${bad}`);
      else if (seen.has(p)) problems.push(`${at}.path: ${JSON.stringify(p)} is listed twice`);
      seen.add(p);
    }
    const name = typeof p === 'string' ? ` (${JSON.stringify(p)})` : '';
    if (typeof sha256 !== 'string' || !SHA256.test(sha256)) problems.push(`${at}.sha256${name} is not 64 lower-case hex digits: ${JSON.stringify(sha256)}`);
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) problems.push(`${at}.size${name} is not a byte count: ${JSON.stringify(size)}`);
  });
  return problems;
}

/**
 * Pure: handoff.json's text as a manifest. Refuses (HandoffError, every problem listed) text that
 * is not JSON, another version, an identity that is not string -> string, and files whose path is
 * absolute, climbs out (`..`), holds a backslash, or is listed twice, whose sha256 is not hex, or
 * whose size is not a byte count. Keys it does not know are ignored; the files need not be sorted.
 */
export function parseManifest(text: string): HandoffManifest {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new HandoffError(`handoff.json is not JSON: ${(error as Error).message}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new HandoffError('handoff.json is not a JSON object');
  const { version, identity, files } = data as Record<string, unknown>;
  if (version !== HANDOFF_VERSION) {
    throw new HandoffError(`handoff.json has version ${JSON.stringify(version)}; this action reads version ${HANDOFF_VERSION} only (the two jobs must run the same version of the action)`);
  }
  const problems: string[] = [];
  if (typeof identity !== 'object' || identity === null || Array.isArray(identity)) {
    problems.push('identity is not an object of strings');
  } else {
    for (const [key, value] of Object.entries(identity)) {
      if (typeof value !== 'string') problems.push(`identity.${key} is not a string: ${JSON.stringify(value)}`);
    }
  }
  if (!Array.isArray(files)) problems.push('files is not a list');
  else problems.push(...fileProblems(files));
  if (problems.length > 0) throw new HandoffError(`handoff.json is malformed:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return {
    version: HANDOFF_VERSION,
    identity: { ...(identity as Record<string, string>) },
    files: (files as HandoffFile[]).map((f) => ({ path: f.path, sha256: f.sha256, size: f.size })).sort(byPath),
  };
}

/**
 * Pure: one line per key whose value differs between `expected` (this job's identity) and `got`
 * (the hand-off's), sorted by key; a key on one side only is named as such. Empty when they agree.
 */
export function compareIdentity(expected: Record<string, string>, got: Record<string, string>): string[] {
  const has = (o: Record<string, string>, k: string) => Object.prototype.hasOwnProperty.call(o, k);
  const keys = [...new Set([...Object.keys(expected), ...Object.keys(got)])].sort();
  const lines: string[] = [];
  for (const key of keys) {
    const mine = has(expected, key) ? expected[key] : undefined;
    const theirs = has(got, key) ? got[key] : undefined;
    if (mine === theirs) continue;
    if (theirs === undefined) lines.push(`${key} is not in the hand-off, this job has ${JSON.stringify(mine)}`);
    else if (mine === undefined) lines.push(`${key} was ${JSON.stringify(theirs)}, this job has no ${key} (not in its identity)`);
    else lines.push(`${key} was ${JSON.stringify(theirs)}, this job has ${JSON.stringify(mine)}`);
  }
  return lines;
}

/**
 * Pure: what differs between the files the manifest lists and those found in the folder, one line
 * per file, sorted by path: missing (listed, not found), extra (found, not listed), and changed
 * (size or sha256 differs; the size is named first, as it tells a truncated file).
 */
export function compareFiles(listed: readonly HandoffFile[], found: readonly HandoffFile[]): string[] {
  const foundBy = new Map(found.map((f) => [f.path, f]));
  const listedBy = new Map(listed.map((f) => [f.path, f]));
  const lines: Array<[string, string]> = [];
  for (const want of listed) {
    const have = foundBy.get(want.path);
    if (!have) lines.push([want.path, `missing: ${want.path} (listed in the manifest, not in the folder)`]);
    else if (have.size !== want.size) lines.push([want.path, `changed: ${want.path} has ${have.size} bytes, the manifest lists ${want.size}`]);
    else if (have.sha256 !== want.sha256) lines.push([want.path, `changed: ${want.path} has sha256 ${have.sha256}, the manifest lists ${want.sha256}`]);
  }
  for (const have of found) {
    if (!listedBy.has(have.path)) lines.push([have.path, `extra: ${have.path} (in the folder, not in the manifest)`]);
  }
  return lines.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, line]) => line);
}

/** Where the finishing job takes the hand-off from. */
export type HandoffSource = { kind: 'artifact'; name: string } | { kind: 'path'; path: string };

import * as path from 'node:path';

/**
 * How the converter's dependencies are pinned on the runner, decided from the pins file's text
 * (pure). A lock (every line `name==version` with `--hash`) is installed as it is, with
 * `--require-hashes --no-deps`, and the converter after it on its own: pip refuses hash mode for a
 * git requirement, and the commit in its URL pins it instead. A file without hashes is pip
 * constraints, within which pip resolves the requirement's dependencies.
 */

/** The locks shipped with the action, one per Python version, platform and half: see locks.ts. */
export { LOCK_FOLDER, LOCKED_PYTHONS, shippedLock } from './locks.js';

/** Build backends, installed from the lock before anything is built, so no build fetches them unpinned. */
const BUILD_BACKENDS = ['setuptools', 'wheel'];

interface Entry {
  name: string;
  /** `name==version \` */
  head: string;
  lines: string[];
}

/** The lock's requirements, each with its continuation lines (hashes, `# via` comments). */
function entries(text: string): Entry[] {
  const found: Entry[] = [];
  for (const line of text.split('\n')) {
    const name = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*==/.exec(line)?.[1];
    if (name) found.push({ name: normalize(name), head: line, lines: [line] });
    else if (/^\s/.test(line) && found.length) found.at(-1)?.lines.push(line);
  }
  return found;
}

const normalize = (name: string) => name.toLowerCase().replace(/[._-]+/g, '-');

export function isLock(text: string): boolean {
  const all = entries(text);
  return all.length > 0 && all.every((e) => e.lines.some((l) => l.includes('--hash=')));
}

/** The same pins as constraints: pip would otherwise switch every requirement to hash mode. */
export function withoutHashes(text: string): string {
  return entries(text).map((e) => `${e.head.replace(/\s*\\\s*$/, '')}\n`).join('');
}

export function pinnedVersion(text: string, name: string): string | undefined {
  const entry = entries(text).find((e) => e.name === normalize(name));
  return entry ? /==\s*([^\s;\\]+)/.exec(entry.head)?.[1] : undefined;
}

function subset(text: string, names: string[]): string {
  const wanted = new Set(names.map(normalize));
  return entries(text)
    .filter((e) => wanted.has(e.name))
    .map((e) => `${e.lines.join('\n')}\n`)
    .join('');
}

export interface InstallStep {
  label: string;
  argv: string[];
}

export interface InstallPlan {
  mode: 'lock' | 'constraints';
  /** Files to write before the steps run (derived from the pins), by absolute path. */
  files: Array<{ path: string; text: string }>;
  steps: InstallStep[];
}

export interface InstallRequest {
  python: string;
  /** The converter's pip requirement; undefined installs no converter (the finishing half). */
  requirement: string | undefined;
  /** Absolute path of the pins file and its text. */
  pinsFile: string;
  pinsText: string;
  /** Whether the pins apply to this requirement as a lock: the shipped lock is of the pinned converter only. */
  lockApplies: boolean;
  /** Where derived files may be written. */
  scratch: string;
  /**
   * More packages the action's own helpers need (peft for a LoRA merge; without a converter, what the
   * finishing half needs); a lock holds them already.
   */
  extras?: readonly string[];
}

const pip = (python: string, ...args: string[]) => [python, '-m', 'pip', ...args];
const INSTALL = ['install', '--disable-pip-version-check', '--no-input'];

export function installPlan(request: InstallRequest): InstallPlan {
  const { python, requirement, pinsFile, pinsText, scratch } = request;
  if (!(request.lockApplies && isLock(pinsText))) {
    const constraints = isLock(pinsText) ? path.join(scratch, 'constraints.txt') : pinsFile;
    return {
      mode: 'constraints',
      files: constraints === pinsFile ? [] : [{ path: constraints, text: withoutHashes(pinsText) }],
      steps: [{
        label: requirement ? 'the converter and its dependencies, within the constraints' : `${(request.extras ?? []).join(', ')} and their dependencies, within the constraints (no converter)`,
        argv: pip(python, ...INSTALL, '--constraint', constraints, ...(requirement ? [requirement] : []), ...(request.extras ?? [])),
      }],
    };
  }
  const backends = subset(pinsText, BUILD_BACKENDS);
  const files: InstallPlan['files'] = [];
  const steps: InstallStep[] = [];
  if (backends) {
    const backendsFile = path.join(scratch, 'build-backends.txt');
    files.push({ path: backendsFile, text: backends });
    steps.push({ label: 'the build backends, from the lock', argv: pip(python, ...INSTALL, '--require-hashes', '--no-deps', '-r', backendsFile) });
  }
  const isolation = backends ? ['--no-build-isolation'] : [];
  steps.push({ label: requirement ? 'every dependency, from the lock (hashes checked)' : 'every package, from the lock (hashes checked; no converter)', argv: pip(python, ...INSTALL, '--require-hashes', '--no-deps', ...isolation, '-r', pinsFile) });
  if (requirement) steps.push({ label: 'the converter at its pinned commit, without dependencies', argv: pip(python, ...INSTALL, '--no-deps', ...isolation, requirement) });
  steps.push({ label: 'pip check: the installed set is consistent', argv: pip(python, 'check') });
  return { mode: 'lock', files, steps };
}

// The blocking check of a Python lock, which depends only on the repository and on files the
// registry cannot change once published: the lock pins every package with a hash, it satisfies
// its .in file (the resolver, held to the lock's pins as constraints, installs exactly the lock:
// nothing missing, nothing extra, no pin that breaks a requirement), its hashes are exactly those
// the registry publishes for each pinned version (every file hashed, no hash of another file: uv's
// dry run does not compare hashes, so the check asks the index's JSON API itself), and it installs
// for its platform in a dry run. Re-resolving (what the newest registry would give)
// is not part of it: releases the registry back-fills change that answer without any change here
// (`node scripts/python-lock.mjs --drift`, run by the scheduled relock workflow).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/** PEP 503's normal form of a package name. @param {string} name */
export function normalName(name) {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

/**
 * The pins of a lock made by `uv pip compile --generate-hashes`, and what is wrong with its form:
 * a requirement that is not `name==version`, or a pin without a sha256 hash. Pure.
 * @param {string} text
 * @returns {{ pins: Map<string, { name: string, version: string, hashes: string[] }>, problems: string[] }}
 */
export function parseLock(text) {
  /** @type {Map<string, { name: string, version: string, hashes: string[] }>} */
  const pins = new Map();
  const problems = [];
  /** @type {{ name: string, version: string, hashes: string[] } | undefined} */
  let current;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s*\\$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const hash = /^--hash=sha256:([0-9a-f]{64})$/.exec(line);
    if (hash?.[1]) {
      if (current) current.hashes.push(hash[1]);
      else problems.push(`a hash with no package before it: ${line}`);
      continue;
    }
    const pin = /^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([A-Za-z0-9.!+_-]+)(\s*;.*)?$/.exec(line);
    if (!pin?.[1] || !pin[3]) {
      current = undefined;
      problems.push(`not pinned as name==version: ${line}`);
      continue;
    }
    current = { name: pin[1], version: pin[3], hashes: [] };
    if (pins.has(normalName(pin[1]))) problems.push(`${pin[1]} is pinned twice`);
    pins.set(normalName(pin[1]), current);
  }
  for (const pin of pins.values()) if (pin.hashes.length === 0) problems.push(`${pin.name}==${pin.version} has no sha256 hash`);
  if (pins.size === 0) problems.push('it pins no package');
  return { pins, problems };
}

/**
 * What a dry-run install printed (` + name==version` lines) against the lock's pins. Pure.
 * @param {Map<string, { name: string, version: string }>} pins
 * @param {string} output
 * @returns {string[]}
 */
export function compareInstall(pins, output) {
  /** @type {Map<string, string>} */
  const installed = new Map();
  for (const [, name, version] of output.matchAll(/^ \+ ([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)/gm)) if (name && version) installed.set(normalName(name), version);
  const problems = [];
  for (const [name, version] of installed) {
    const pin = pins.get(name);
    if (!pin) problems.push(`${name}==${version} is needed by the .in file but not in the lock`);
    else if (pin.version !== version) problems.push(`${pin.name} is pinned at ${pin.version} but the .in file needs ${version}`);
  }
  for (const [name, pin] of pins) if (!installed.has(name)) problems.push(`${pin.name}==${pin.version} is in the lock but nothing in the .in file needs it`);
  return problems;
}

/**
 * A lock's pins as constraints (`name==version` a line, no hashes, no comments), for resolving
 * another lock at its versions. Pure.
 * @param {string} text
 */
export function versionsOf(text) {
  return [...parseLock(text).pins.values()].map((p) => `${p.name}==${p.version}\n`).join('');
}

/**
 * A lock that takes another's versions (`versionsFrom`) against that lock: every package both pin
 * must be at the same version. Packages only one of them holds (a platform's own) are not compared. Pure.
 * @param {Map<string, { name: string, version: string }>} pins
 * @param {Map<string, { name: string, version: string }>} reference
 * @param {string} referenceName the reference lock's path, for the message
 * @returns {string[]}
 */
export function compareVersions(pins, reference, referenceName) {
  const problems = [];
  for (const [name, pin] of pins) {
    const other = reference.get(name);
    if (other && other.version !== pin.version) problems.push(`${pin.name} is pinned at ${pin.version} but ${referenceName} pins ${other.version}`);
  }
  return problems;
}

/**
 * The packages a lock must not hold that it pins (the finishing half's lock: no torch). Pure.
 * @param {Map<string, { name: string, version: string }>} pins
 * @param {readonly string[]} without
 * @returns {string[]}
 */
export function forbiddenPins(pins, without) {
  return without.flatMap((name) => {
    const pin = pins.get(normalName(name));
    return pin ? [`${pin.name}==${pin.version} is in the lock, which must not hold ${name}`] : [];
  });
}

/**
 * @typedef {{ input: string, output: string, platform: string, python: string, sdists?: string[], versionsFrom?: string, without?: string[] }} LockSpec
 * @typedef {{ root: string, uv: string, excludeNewer?: string, env?: NodeJS.ProcessEnv }} CheckContext
 */

/**
 * The lock's hashes of one pin against the sha256 of every file the registry publishes for that
 * version (PEP 691 JSON). Pure.
 * @param {{ name: string, version: string, hashes: string[] }} pin
 * @param {Array<{ filename: string, hashes?: { sha256?: string } }>} files all the project's files on the index
 * @returns {string[]}
 */
export function compareHashes(pin, files) {
  const own = files.filter((f) => fileVersion(f.filename, pin.name) === pin.version);
  if (own.length === 0) return [`${pin.name}==${pin.version}: the registry publishes no file of this version`];
  const published = new Map(own.map((f) => [f.hashes?.sha256 ?? '', f.filename]));
  const locked = new Set(pin.hashes);
  const problems = [];
  for (const hash of locked) if (!published.has(hash)) problems.push(`${pin.name}==${pin.version}: the hash ${hash.slice(0, 12)}… is not that of any file of this version`);
  for (const [hash, filename] of published) if (!locked.has(hash)) problems.push(`${pin.name}==${pin.version}: ${filename} has no hash in the lock`);
  return problems;
}

/** The version in a wheel's or sdist's file name, when the file is of this project. @param {string} filename @param {string} name */
export function fileVersion(filename, name) {
  const stem = filename.replace(/\.(whl|tar\.gz|zip|tar\.bz2)$/, '');
  const dash = filename.endsWith('.whl') ? stem.split('-').slice(0, 2) : [stem.slice(0, stem.lastIndexOf('-')), stem.slice(stem.lastIndexOf('-') + 1)];
  return normalName(dash[0] ?? '') === normalName(name) ? dash[1] : undefined;
}

/**
 * Every file of a project on the index: PEP 691's JSON form of the simple API, at UV_INDEX_URL
 * (as uv reads it) or PyPI's.
 * @param {string} name @param {NodeJS.ProcessEnv} env
 */
async function indexFiles(name, env) {
  const base = (env.UV_INDEX_URL || 'https://pypi.org/simple').replace(/\/+$/, '');
  const url = `${base}/${normalName(name)}/`;
  for (let attempt = 1; ; attempt += 1) {
    try {
      const response = await fetch(url, { headers: { Accept: 'application/vnd.pypi.simple.v1+json' } });
      if (!response.ok) throw new Error(`${url} answered ${response.status}`);
      const body = /** @type {{ files: Array<{ filename: string, hashes?: { sha256?: string } }> }} */ (await response.json());
      return body.files;
    } catch (error) {
      if (attempt >= 3) throw error;
      await new Promise((r) => setTimeout(r, 1000 * attempt));
    }
  }
}

/**
 * Checks one lock; returns its problems (none: the lock holds). Asks the registry only for the
 * files the lock pins (by version and hash), which a back-fill of newer releases does not change.
 * @param {LockSpec} lock
 * @param {string} text the lock's text
 * @param {CheckContext} context
 * @returns {Promise<string[]>}
 */
export async function checkLock(lock, text, context) {
  const { pins, problems } = parseLock(text);
  if (problems.length > 0) return problems;
  // 0. What the lock must not hold, and the versions of the lock it takes them from.
  problems.push(...forbiddenPins(pins, lock.without ?? []));
  if (lock.versionsFrom) {
    const reference = parseLock(readFileSync(path.join(context.root, lock.versionsFrom), 'utf8'));
    problems.push(...reference.problems.map((p) => `${lock.versionsFrom}: ${p}`), ...compareVersions(pins, reference.pins, lock.versionsFrom));
  }
  const scratch = mkdtempSync(path.join(tmpdir(), 'lock-check-'));
  const common = ['--dry-run', '--target', path.join(scratch, 'target'), '--python-platform', lock.platform, '--python-version', lock.python,
    ...(context.excludeNewer ? ['--exclude-newer', context.excludeNewer] : [])];
  /** uv prints what it would install on stderr: both streams, and whether it succeeded. */
  const run = (/** @type {string[]} */ args) => new Promise((resolve) => {
    const child = spawn(context.uv, ['pip', 'install', ...common, ...args], { cwd: context.root, env: context.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => { output += String(d); });
    child.stderr.on('data', (d) => { output += String(d); });
    child.on('error', (error) => { output += String(error); });
    child.on('close', (code) => resolve({ ok: code === 0, output: output.trim() }));
  }).then((r) => /** @type {{ ok: boolean, output: string }} */ (r));

  // 1. The .in file resolved with the lock's pins as constraints installs exactly the lock.
  const constraints = path.join(scratch, 'constraints.txt');
  writeFileSync(constraints, [...pins.values()].map((p) => `${p.name}==${p.version}`).join('\n') + '\n');
  const resolved = await run(['-r', path.join(context.root, lock.input), '-c', constraints]);
  if (resolved.ok) problems.push(...compareInstall(pins, resolved.output));
  else problems.push(`the .in file cannot be resolved within the lock's pins:\n${resolved.output}`);

  // 2. The lock's hashes are exactly the registry's files of each pinned version.
  const queue = [...pins.values()];
  const worker = async () => {
    for (let pin = queue.shift(); pin; pin = queue.shift()) {
      try {
        problems.push(...compareHashes(pin, await indexFiles(pin.name, context.env ?? process.env)));
      } catch (error) {
        problems.push(`${pin.name}==${pin.version}: the index could not be read (${error instanceof Error ? error.message : String(error)})`);
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));

  // 3. Every pinned file installs for the platform, hashes required; wheels only but the declared sdists.
  const sdists = new Set((lock.sdists ?? []).map(normalName));
  const entries = (/** @type {boolean} */ wantSdists) => [...pins].filter(([name]) => sdists.has(name) === wantSdists)
    .map(([, p]) => [`${p.name}==${p.version}`, ...p.hashes.map((h) => `    --hash=sha256:${h}`)].join(' \\\n'));
  // (uv's dry run resolves a file for the platform; it does not compare hashes: step 2 does.)
  for (const kind of /** @type {const} */ (['wheels', 'sdists'])) {
    const lines = entries(kind === 'sdists');
    if (lines.length === 0) continue;
    const file = path.join(scratch, `${kind}.txt`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    const installed = await run(['--no-deps', '--require-hashes', ...(kind === 'wheels' ? ['--no-build'] : []), '-r', file]);
    if (!installed.ok) {
      problems.push(`a dry-run install for ${lock.platform}, Python ${lock.python} (${kind === 'wheels' ? 'wheels only' : 'the declared sdists'}) failed:\n${installed.output}` +
        (kind === 'wheels' ? '\nA package with no wheel for the platform goes in its `sdists` list in scripts/python-locks.mjs.' : ''));
    }
  }
  return problems;
}

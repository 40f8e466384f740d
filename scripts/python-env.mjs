// Creates the tests' Python environment (.venv in the project) from test/python/requirements.lock,
// hashes required, and reuses it while the lock is unchanged (a stamp holds the lock's sha256); with
// --coreai, also the Core AI backend's (.venv-coreai) from the action's own Linux lock for it
// (constraints/coreai/linux-x86_64-py3.11.txt), installed by the first one's uv.
// Downloads go through uv's cache (~/.cache/uv), which the machine keeps between runs, so a fresh
// clone installs from it in seconds. Called by .ci/run and by the e2e global setup.
//   node scripts/python-env.mjs            prints the environment's python
//   node scripts/python-env.mjs --coreai   both; prints the Core AI environment's python
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { COREAI_LOCK, COREAI_VENV, TEST_LOCK, TEST_VENV, uvPath, venvPython } from './python-locks.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The lock's entry for one package (its line and hash lines), as a requirements file of its own.
 * @param {string} lockText
 * @param {string} name
 */
function lockEntry(lockText, name) {
  const lines = lockText.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`${name}==`));
  if (start < 0) throw new Error(`${TEST_LOCK} has no ${name}`);
  let end = start;
  while ((lines[end] ?? '').trimEnd().endsWith('\\')) end += 1;
  return lines.slice(start, end + 1).join('\n') + '\n';
}

/**
 * @param {string} [root]
 * @param {(message: string) => void} [log]
 * @returns {string} the environment's python
 */
export function ensurePythonEnv(root = ROOT, log = (/** @type {string} */ m) => { process.stderr.write(`${m}\n`); }) {
  const lockText = readFileSync(path.join(root, TEST_LOCK), 'utf8');
  const digest = createHash('sha256').update(lockText).digest('hex');
  const venv = path.join(root, TEST_VENV);
  const stamp = path.join(venv, '.lock-sha256');
  const python = venvPython(root);
  if (existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === digest && existsSync(python)) return python;

  log(`python-env: building ${TEST_VENV} from ${TEST_LOCK} (sha256 ${digest.slice(0, 12)})`);
  rmSync(venv, { recursive: true, force: true });
  execFileSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
  // uv first, by pip, with the hash the lock gives it; then uv installs exactly the lock.
  const scratch = mkdtempSync(path.join(tmpdir(), 'python-env-'));
  const uvReq = path.join(scratch, 'uv.txt');
  writeFileSync(uvReq, lockEntry(lockText, 'uv'));
  execFileSync(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps', '--require-hashes', '-r', uvReq], { stdio: 'inherit' });
  rmSync(scratch, { recursive: true, force: true });
  execFileSync(uvPath(root), ['pip', 'sync', '--quiet', '--python', python, '--require-hashes', path.join(root, TEST_LOCK)], { stdio: 'inherit' });
  writeFileSync(stamp, `${digest}\n`);
  log(`python-env: ready (${python})`);
  return python;
}

/**
 * The Core AI environment (.venv-coreai), synced from the action's Linux lock by .venv's uv (the lock
 * holds no uv of its own), rebuilt only when that lock changes.
 * @param {string} [root]
 * @param {(message: string) => void} [log]
 * @returns {string} the environment's python
 */
export function ensureCoreAiEnv(root = ROOT, log = (/** @type {string} */ m) => { process.stderr.write(`${m}\n`); }) {
  ensurePythonEnv(root, log);
  const lockText = readFileSync(path.join(root, COREAI_LOCK), 'utf8');
  const digest = createHash('sha256').update(lockText).digest('hex');
  const venv = path.join(root, COREAI_VENV);
  const stamp = path.join(venv, '.lock-sha256');
  const python = path.join(venv, 'bin', 'python');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === digest && existsSync(python)) return python;
  log(`python-env: building ${COREAI_VENV} from ${COREAI_LOCK} (sha256 ${digest.slice(0, 12)})`);
  rmSync(venv, { recursive: true, force: true });
  // With pip: the action installs its lock into the interpreter it is given (python -m pip), as on a runner.
  execFileSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
  execFileSync(uvPath(root), ['pip', 'sync', '--quiet', '--python', python, '--require-hashes', path.join(root, COREAI_LOCK)], { stdio: 'inherit' });
  writeFileSync(stamp, `${digest}\n`);
  log(`python-env: ready (${python})`);
  return python;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(process.argv.includes('--coreai') ? ensureCoreAiEnv() : ensurePythonEnv());
}

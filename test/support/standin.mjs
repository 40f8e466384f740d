// Prepares the stand-in converter (test/standin, NOT Apple's converter): builds its wheel and a
// fresh venv. The action under test then pip installs the wheel into that venv (input `python`),
// as it installs the real converter on a runner.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from './action-runner.mjs';

/**
 * @param {string} workDir emptied first
 * @returns {{ wheel: string, python: string }}
 */
export function prepareStandin(workDir) {
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  const built = execFileSync('python3', [path.join(REPO_ROOT, 'test', 'standin', 'build_wheel.py'), workDir], { encoding: 'utf8' });
  const wheel = built.trim().split('\n').pop() ?? '';
  const venv = path.join(workDir, 'venv');
  execFileSync('python3', ['-m', 'venv', venv]);
  return { wheel, python: path.join(venv, 'bin', 'python') };
}

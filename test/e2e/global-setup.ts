import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import type { TestProject } from 'vitest/node';
import { REPO_ROOT } from './harness.js';

declare module 'vitest' {
  export interface ProvidedContext {
    standinWheel: string;
    venvPython: string;
  }
}

/**
 * Once per e2e run: builds the bundle's prerequisites the tests share: the stand-in converter
 * wheel (test/standin) and a fresh venv whose python the action is given. The action itself
 * pip installs the wheel into that venv, as it would install the real converter.
 */
export default function setup(project: TestProject): void {
  const work = path.join(REPO_ROOT, '.tmp', 'e2e');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  if (!existsSync(path.join(REPO_ROOT, 'dist', 'index.js'))) throw new Error('dist/index.js is missing: run npm run build first');
  const built = execFileSync('python3', [path.join(REPO_ROOT, 'test', 'standin', 'build_wheel.py'), work], { encoding: 'utf8' });
  const wheel = built.trim().split('\n').pop() ?? '';
  const venv = path.join(work, 'venv');
  execFileSync('python3', ['-m', 'venv', venv]);
  project.provide('standinWheel', wheel);
  project.provide('venvPython', path.join(venv, 'bin', 'python'));
}

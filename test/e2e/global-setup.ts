import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { TestProject } from 'vitest/node';
import { REPO_ROOT } from '../support/action-runner.mjs';
import { prepareStandin } from '../support/standin.mjs';
import { ensureCoreAiEnv, ensurePythonEnv } from '../../scripts/python-env.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    standinWheel: string;
    venvPython: string;
    /** The real packages from PyPI (test/python/requirements.lock), for the tests that use them. */
    realPython: string;
    /** The Core AI backend's packages from its Linux lock (constraints/coreai/linux-x86_64-py3.11.txt). */
    coreaiPython: string;
  }
}

/** Once per e2e run: the stand-in converter's wheel and a fresh venv the tests hand the action. */
export default function setup(project: TestProject): void {
  if (!existsSync(path.join(REPO_ROOT, 'dist', 'index.js'))) throw new Error('dist/index.js is missing: run npm run build first');
  const { wheel, python } = prepareStandin(path.join(REPO_ROOT, '.tmp', 'e2e'));
  project.provide('standinWheel', wheel);
  project.provide('venvPython', python);
  project.provide('realPython', ensurePythonEnv());
  project.provide('coreaiPython', ensureCoreAiEnv());
}

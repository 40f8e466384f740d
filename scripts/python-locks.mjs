// The Python locks of the project, in one list: what each is resolved from and for which platform.
// Used by python-lock.mjs (regenerate, check) and python-env.mjs (the tests' environment).
import * as path from 'node:path';

/** PyPI as it stood on this day: the resolution is reproducible until the date is moved. */
export const EXCLUDE_NEWER = '2026-12-01T00:00:00Z';

export const LOCKS = [
  {
    input: 'test/python/requirements.in',
    output: 'test/python/requirements.lock',
    platform: 'x86_64-manylinux_2_28',
    python: '3.11',
    about: 'The real Python packages the tests use on the Linux development and CI machines.',
  },
];

/** The tests' environment: in the project, rebuilt only when its lock changes. */
export const TEST_VENV = '.venv';
export const TEST_LOCK = 'test/python/requirements.lock';

/** @param {string} root */
export function venvPython(root) {
  return path.join(root, TEST_VENV, 'bin', 'python');
}

/** @param {string} root */
export function uvPath(root) {
  return path.join(root, TEST_VENV, 'bin', 'uv');
}

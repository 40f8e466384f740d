// The Python locks of the project, in one list: what each is resolved from and for which platform.
// Used by python-lock.mjs (regenerate, check) and python-env.mjs (the tests' environment).
import * as path from 'node:path';

/** PyPI as it stood on this day: the resolution is reproducible until the date is moved. */
export const EXCLUDE_NEWER = '2026-12-01T00:00:00Z';

/**
 * @typedef {{ input: string, output: string, platform: string, python: string, about: string, sdists?: string[] }} Lock
 * `sdists`: the packages that have no wheel for the platform (pip builds them from source there);
 * the dry run checks every other package as a wheel.
 */

const RUNNER_LOCKS = ['3.9', '3.10', '3.11'].map((python) => ({
  input: 'constraints/ml-stable-diffusion-e12202c/requirements.in',
  output: `constraints/ml-stable-diffusion-e12202c/macos-arm64-py${python}.txt`,
  platform: 'aarch64-apple-darwin',
  python,
  about: `What the action installs on a macOS arm64 runner with Python ${python}: apple/ml-stable-diffusion's dependencies at e12202c.`,
  sdists: ['argmaxtools'],
}));

/** @type {Lock[]} */
export const LOCKS = [
  ...RUNNER_LOCKS,
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

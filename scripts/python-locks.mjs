// The Python locks of the project, in one list: what each is resolved from and for which platform.
// Used by python-lock.mjs (regenerate, check) and python-env.mjs (the tests' environment).
import * as path from 'node:path';

/** PyPI as it stood on this day: the resolution is reproducible until the date is moved. */
export const EXCLUDE_NEWER = '2026-12-01T00:00:00Z';

/**
 * @typedef {{ input: string, output: string, platform: string, python: string, about: string, sdists?: string[], versionsFrom?: string, without?: string[], notes?: string[], macosTarget?: string }} Lock
 * `sdists`: the packages that have no wheel for the platform (pip builds them from source there);
 * the dry run checks every other package as a wheel.
 * `versionsFrom`: another lock (written before this one in LOCKS) whose versions this one takes
 * wherever it needs the same package: it is resolved with that lock's pins as constraints, and the
 * check refuses any package the two pin at different versions.
 * `without`: packages the lock must not hold (the check names them).
 * `notes`: more header lines, each a `# ` comment, written under the first.
 * `macosTarget`: the macOS version the lock is resolved and checked for (uv reads MACOSX_DEPLOYMENT_TARGET;
 * without it, a macOS platform means macOS 13, for which a wheel tagged only for a newer macOS is refused).
 */

const FOLDER = 'constraints/ml-stable-diffusion-e12202c';
const PYTHONS = ['3.9', '3.10', '3.11'];

/** The converter's environment on the macOS arm64 runner that converts and finishes in one job (split: none). */
const RUNNER_LOCKS = PYTHONS.map((python) => ({
  input: `${FOLDER}/requirements.in`,
  output: `${FOLDER}/macos-arm64-py${python}.txt`,
  platform: 'aarch64-apple-darwin',
  python,
  about: `What the action installs on a macOS arm64 runner with Python ${python}: apple/ml-stable-diffusion's dependencies at e12202c.`,
  sdists: ['argmaxtools'],
}));

/**
 * The converter's environment on the Linux x86_64 runner of the convert half (split: convert), at
 * the macOS lock's versions. manylinux_2_35 (glibc 2.35, Ubuntu 22.04; ubuntu-latest is 24.04 with
 * 2.39): mlx 0.29.3, which diffusionkit pins, publishes no Linux wheel for an older glibc.
 */
const LINUX_LOCKS = PYTHONS.map((python) => ({
  input: `${FOLDER}/requirements.in`,
  output: `${FOLDER}/linux-x86_64-py${python}.txt`,
  platform: 'x86_64-manylinux_2_35',
  python,
  about: `What the action installs on a Linux x86_64 runner (the convert half) with Python ${python}: apple/ml-stable-diffusion's dependencies at e12202c.`,
  sdists: ['argmaxtools'],
  versionsFrom: `${FOLDER}/macos-arm64-py${python}.txt`,
  notes: [
    `The versions of macos-arm64-py${python}.txt (resolved with its pins as constraints; the check refuses any difference).`,
    'Only on Linux: the nvidia-*-cu12 wheels and triton, which PyPI\'s torch 2.5.0 declares for Linux x86_64. They are',
    'kept although the converter runs on the CPU: that torch cannot even be imported without them (its __init__ preloads',
    'libcublas and the others from the nvidia packages: "ValueError: libcublas.so.*[0-9] not found in the system path"),',
    'and the CPU-only build is not on PyPI (download.pytorch.org). Measured on Linux x86_64 (bench/finish-install.mjs,',
    'bench/results/finish-install-2026-12-07.md): they are 2.1 GB of the 3.2 GB download and 3.5 GB of the 6.2 GB installed.',
    'mlx 0.29.3 (diffusionkit pins it) installs from its Linux wheel but `import mlx.core` fails there (libmlx.so comes',
    'with mlx[cpu]); the converter never imports it (diffusionkit.torch does the conversions). Only on macOS: mlx-metal.',
  ],
}));

/**
 * The finishing half on the macOS arm64 runner (split: finish): the Core ML half of the parity check
 * and nothing of the conversion, so coremltools and numpy alone, at the macOS lock's versions.
 */
const FINISH_LOCKS = PYTHONS.map((python) => ({
  input: `${FOLDER}/finish.in`,
  output: `${FOLDER}/finish-macos-arm64-py${python}.txt`,
  platform: 'aarch64-apple-darwin',
  python,
  about: `What the action installs on a macOS arm64 runner for the finishing half (split: finish) with Python ${python}: coremltools and numpy, no converter.`,
  versionsFrom: `${FOLDER}/macos-arm64-py${python}.txt`,
  without: ['torch', 'diffusers', 'transformers'],
  notes: [`The versions of macos-arm64-py${python}.txt (resolved with its pins as constraints; the check refuses any difference).`],
}));

const COREAI_FOLDER = 'constraints/coreai';

/**
 * The Core AI backend (backend: core-ai): the converter, its runtime and compression library, and what the
 * action's helpers load models with. Python 3.11 (coreai-core has wheels for CPython 3.11 to 3.13). Linux
 * x86_64 from glibc 2.34 (coreai-core's manylinux_2_34 wheel; ubuntu-latest has 2.39), and macOS 26 on arm64
 * (its macOS wheel is for 26 and newer), at the Linux lock's versions.
 */
const COREAI_LINUX = {
  input: `${COREAI_FOLDER}/requirements.in`,
  output: `${COREAI_FOLDER}/linux-x86_64-py3.11.txt`,
  platform: 'x86_64-manylinux_2_34',
  python: '3.11',
  about: 'What the action installs for backend: core-ai on a Linux x86_64 runner with Python 3.11: coreai-torch, coreai-core, coreai-opt and the helpers\' loaders.',
  notes: ['Only on Linux: the nvidia-* wheels and triton that PyPI\'s torch declares there (the CPU-only build is not on PyPI).'],
};
const COREAI_MACOS = {
  input: `${COREAI_FOLDER}/requirements.in`,
  output: `${COREAI_FOLDER}/macos-arm64-py3.11.txt`,
  platform: 'aarch64-apple-darwin',
  macosTarget: '26.0',
  python: '3.11',
  about: 'What the action installs for backend: core-ai on a macOS 26 arm64 runner with Python 3.11: coreai-torch, coreai-core, coreai-opt and the helpers\' loaders.',
  versionsFrom: COREAI_LINUX.output,
  notes: [`The versions of ${COREAI_LINUX.output} (resolved with its pins as constraints; the check refuses any difference). MACOSX_DEPLOYMENT_TARGET=26.0.`],
};

/** @type {Lock[]} */
export const LOCKS = [
  ...RUNNER_LOCKS,
  ...LINUX_LOCKS,
  ...FINISH_LOCKS,
  COREAI_LINUX,
  COREAI_MACOS,
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

/** The Core AI backend's real packages for the tests: the action's own Linux lock, as a runner installs it. */
export const COREAI_VENV = '.venv-coreai';
export const COREAI_LOCK = COREAI_LINUX.output;

/** @param {string} root */
export function venvPython(root) {
  return path.join(root, TEST_VENV, 'bin', 'python');
}

/** @param {string} root */
export function uvPath(root) {
  return path.join(root, TEST_VENV, 'bin', 'uv');
}

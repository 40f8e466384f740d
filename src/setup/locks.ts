import type { SplitMode } from '../config.js';
import * as path from 'node:path';

/**
 * Which of the shipped locks a runner installs, and what it installs besides (pure). Three kinds of
 * environment (scripts/python-locks.mjs makes and checks each lock):
 * - the converter's on macOS arm64 (`split: none`, today's single job): macos-arm64-py<v>.txt;
 * - the converter's on Linux x86_64 (`split: convert`): linux-x86_64-py<v>.txt, the same versions;
 * - the finishing half's on macOS arm64 (`split: finish`): finish-macos-arm64-py<v>.txt, coremltools
 *   and numpy only (the Core ML half of the parity check), and not Apple's converter package.
 */

/** Which half of a split conversion a job runs: Config's `split` (src/config.ts). */
/** The half of a split conversion a job sets up for (config.ts SplitMode). */
export type SetupHalf = SplitMode;

/** RUNNER_OS (`Linux`, `macOS`, `Windows`) and RUNNER_ARCH (`X64`, `ARM64`, `X86`, `ARM`). */
export interface RunnerPlatform {
  os: string;
  arch: string;
}

export type LockPlatform = 'macos-arm64' | 'linux-x86_64';

export const LOCK_FOLDER = 'constraints/ml-stable-diffusion-e12202c';
/** Every kind of lock is made for each of these (the converter supports 3.9 to 3.11). */
export const LOCKED_PYTHONS = ['3.9', '3.10', '3.11'] as const;

/**
 * What the finishing half installs: finish.in's requirements, the same pins. With a pins file of the
 * user's that is not the shipped finish lock, pip resolves these within it.
 */
export const FINISH_REQUIREMENTS = ['coremltools==8.3.0', 'numpy==1.23.5'] as const;

const isLinux = (runner: RunnerPlatform) => runner.os.toLowerCase() === 'linux';
const isX64 = (runner: RunnerPlatform) => runner.arch.toUpperCase() === 'X64';

/**
 * The platform whose lock a runner takes. Linux takes the Linux x86_64 lock whatever its arch (the
 * only Linux lock: other Linux arches are refused before setup, see linuxConvertProblem); every other
 * runner the macOS arm64 one (Intel macOS is refused by the input rules unless dry-run).
 */
export function lockPlatform(runner: RunnerPlatform): LockPlatform {
  return isLinux(runner) ? 'linux-x86_64' : 'macos-arm64';
}

/** Apple's converter package is installed by every half but the finishing one. */
export function installsConverter(half: SetupHalf): boolean {
  return half !== 'finish';
}

/**
 * The lock shipped for a Python version, a runner and a half, relative to the action's root. A
 * Python with no lock takes the newest one's (the input rules allow 3.9 to 3.11 only). The
 * finishing half always takes the finish lock (macOS arm64: finishProblem refuses other runners).
 * Without a runner: the macOS arm64 converter lock (today's single job).
 */
export function shippedLock(pythonVersion: string, runner?: RunnerPlatform, half: SetupHalf = 'none'): string {
  const locked = (LOCKED_PYTHONS as readonly string[]).includes(pythonVersion) ? pythonVersion : LOCKED_PYTHONS.at(-1);
  if (half === 'finish') return path.join(LOCK_FOLDER, `finish-macos-arm64-py${locked}.txt`);
  const platform = runner ? lockPlatform(runner) : 'macos-arm64';
  return path.join(LOCK_FOLDER, `${platform}-py${locked}.txt`);
}

/**
 * Why a Linux runner cannot run the conversion, or undefined (not Linux, or Linux x64). For the
 * input rule of `split: convert`, before anything is installed: coremltools 8.3.0's Linux wheels are
 * manylinux x86_64 only (PyPI: cp37 to cp312, `manylinux1_x86_64`), and the Linux lock is wheels only.
 */
export function linuxConvertProblem(runner: RunnerPlatform): string | undefined {
  if (!isLinux(runner) || isX64(runner)) return undefined;
  return (
    `a Linux ${runner.arch} runner cannot run the conversion: coremltools 8.3, which the converter at e12202c needs, ` +
    'publishes Linux wheels for x86_64 only (no Linux arm64 wheel), and the action installs wheels only. ' +
    'Run the convert half on a Linux x64 runner: `runs-on: ubuntu-latest` (or ubuntu-24.04, ubuntu-22.04).'
  );
}

/**
 * Why a runner cannot run the finishing half, or undefined (macOS arm64). For the input rule of
 * `split: finish`: it compiles the Resources with Xcode's coremlcompiler and runs Core ML
 * predictions, and its lock is resolved for macOS arm64.
 */
export function finishProblem(runner: RunnerPlatform): string | undefined {
  if (runner.os === 'macOS' && runner.arch.toUpperCase() === 'ARM64') return undefined;
  return (
    `the finishing half cannot run on a ${runner.os} ${runner.arch} runner: it compiles the Resources with Xcode's ` +
    'coremlcompiler and runs the Core ML half of the parity check, which need macOS, and its lock is for Apple silicon. ' +
    'Run it on `runs-on: macos-latest` (or macos-15).'
  );
}

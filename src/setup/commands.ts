import * as path from 'node:path';
import type { BackendName } from '../config.js';
import { installsConverter, type SetupHalf } from './locks.js';

/** argv of the setup processes; pure, so the plan of a setup can be tested and printed. */

export function condaCreateArgs(conda: string, prefix: string, pythonVersion: string): string[] {
  // conda-forge only: the defaults channel asks for terms-of-service acceptance on new installs.
  return [conda, 'create', '--yes', '--quiet', '--prefix', prefix, '--override-channels', '--channel', 'conda-forge', `python=${pythonVersion}`];
}

export function pipCacheDirArgs(python: string): string[] {
  return [python, '-m', 'pip', 'cache', 'dir'];
}

export function miniforgeInstallArgs(installer: string, prefix: string): string[] {
  return ['bash', installer, '-b', '-f', '-p', prefix];
}

/**
 * One env per Python version and arch, kept in the tool cache so later runs (and caches) find it;
 * the finishing half's (coremltools alone) beside the converter's, never inside it.
 */
export function envPrefix(toolCache: string, pythonVersion: string, runnerArch: string, half: SetupHalf = 'none', backend: BackendName = 'core-ml'): string {
  // Each backend's env apart (their locks pin different torch versions): a runner that keeps its tool cache reuses the right one.
  const name = backend === 'core-ai' ? `${runnerArch.toLowerCase()}-coreai` : installsConverter(half) ? runnerArch.toLowerCase() : `${runnerArch.toLowerCase()}-finish`;
  return path.join(toolCache, 'coreml-stable-diffusion-env', `py${pythonVersion}`, name);
}

export function envPython(prefix: string): string {
  return path.join(prefix, 'bin', 'python');
}

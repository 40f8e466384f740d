import * as path from 'node:path';

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

/** One env per Python version and arch, kept in the tool cache so later runs (and caches) find it. */
export function envPrefix(toolCache: string, pythonVersion: string, runnerArch: string): string {
  return path.join(toolCache, 'coreml-stable-diffusion-env', `py${pythonVersion}`, runnerArch.toLowerCase());
}

export function envPython(prefix: string): string {
  return path.join(prefix, 'bin', 'python');
}

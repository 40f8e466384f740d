/**
 * The Miniforge release installed when the runner has no conda, each installer pinned by sha256:
 * - MacOSX-arm64 and MacOSX-x86_64: the release's .sha256 files, which the Homebrew cask
 *   `miniforge` 25.3.1-0 pins too;
 * - Linux-x86_64: the release's .sha256 could not be read from here (no access to GitHub's release
 *   assets); the hash is the one the AUR package `miniforge` 25.3.1.0 pins (its PKGBUILD's
 *   sha256sums_x86_64, which makepkg checks against the download), and the same value is pinned by
 *   several independent public scripts for this URL (one of them beside the two macOS hashes above,
 *   unchanged). A mismatch on a runner is refused, never run.
 */
export const MINIFORGE_VERSION = '25.3.1-0';

/** Installer file suffix (`<OS>-<arch>`) -> its sha256. */
const SHA256: Record<string, string> = {
  'MacOSX-arm64': 'd9eabd1868030589a1d74017b8723b01cf81b5fec1b9da8021b6fa44be7bbeae',
  'MacOSX-x86_64': '6c09a3550bb65bdb6d3db6f6c2b890b987b57189f3b71c67a5af49943d2522e8',
  'Linux-x86_64': '376b160ed8130820db0ab0f3826ac1fc85923647f75c1b8231166e3d559ab768',
};

export interface MiniforgeInstaller {
  version: string;
  url: string;
  sha256: string;
  /** The tool-cache arch folder (os.arch() spelling, as @actions/tool-cache uses). */
  cacheArch: string;
}

/**
 * RUNNER_ARCH (ARM64, X64) and RUNNER_OS (macOS, Linux) -> the installer. macOS takes the arm64 or
 * x86_64 one; Linux x64 the Linux x86_64 one. Any other runner is refused (an Error saying so): Linux
 * arm64 is refused before setup anyway (locks.ts linuxConvertProblem).
 */
export function miniforgeInstaller(runnerArch: string, runnerOs = 'macOS'): MiniforgeInstaller {
  const arm = runnerArch.toUpperCase() === 'ARM64';
  const x64 = runnerArch.toUpperCase() === 'X64';
  const name = runnerOs.toLowerCase() === 'linux' ? (x64 ? 'Linux-x86_64' : undefined) : runnerOs === 'macOS' ? (arm ? 'MacOSX-arm64' : 'MacOSX-x86_64') : undefined;
  const sha256 = name ? SHA256[name] : undefined;
  if (!name || !sha256) {
    throw new Error(`No Miniforge installer is pinned for a ${runnerOs} ${runnerArch} runner (only macOS arm64 and x86_64, and Linux x64): give an interpreter in \`python\` or use a runner with conda.`);
  }
  return {
    version: MINIFORGE_VERSION,
    url: `https://github.com/conda-forge/miniforge/releases/download/${MINIFORGE_VERSION}/Miniforge3-${MINIFORGE_VERSION}-${name}.sh`,
    sha256,
    cacheArch: arm ? 'arm64' : 'x64',
  };
}

/**
 * The Miniforge release installed when the runner has no conda. Checksums from the release's
 * .sha256 files (the same ones the Homebrew cask pins).
 */
export const MINIFORGE_VERSION = '25.3.1-0';

const SHA256: Record<string, string> = {
  arm64: 'd9eabd1868030589a1d74017b8723b01cf81b5fec1b9da8021b6fa44be7bbeae',
  x86_64: '6c09a3550bb65bdb6d3db6f6c2b890b987b57189f3b71c67a5af49943d2522e8',
};

export interface MiniforgeInstaller {
  version: string;
  url: string;
  sha256: string;
  /** The tool-cache arch folder (os.arch() spelling, as @actions/tool-cache uses). */
  cacheArch: string;
}

/** RUNNER_ARCH (ARM64, X64) -> the macOS installer. Other platforms are refused before setup. */
export function miniforgeInstaller(runnerArch: string): MiniforgeInstaller {
  const arch = runnerArch.toUpperCase() === 'ARM64' ? 'arm64' : 'x86_64';
  return {
    version: MINIFORGE_VERSION,
    url: `https://github.com/conda-forge/miniforge/releases/download/${MINIFORGE_VERSION}/Miniforge3-${MINIFORGE_VERSION}-MacOSX-${arch}.sh`,
    sha256: SHA256[arch] ?? '',
    cacheArch: arch === 'arm64' ? 'arm64' : 'x64',
  };
}

import { CONVERTER_COMMIT, CONVERTER_PACKAGE } from './vocabulary.js';

/** The converter as pip installs it by default: Apple's repository at the pinned commit. */
export const DEFAULT_REQUIREMENT = `${CONVERTER_PACKAGE} @ git+https://github.com/apple/ml-stable-diffusion.git@${CONVERTER_COMMIT}`;

/**
 * setup.py pins numpy<1.24, which has no wheels for Python 3.12+; diffusionkit lists 3.9-3.11.
 * Python 3.11 converts SDXL about twice as fast as 3.9 (upstream issue #289).
 */
export const SUPPORTED_PYTHON = { min: [3, 9], max: [3, 11] } as const;
export const DEFAULT_PYTHON = '3.11';

/**
 * Requirements of the pinned converter whose macOS wheels are for Apple silicon only, and why:
 * an Intel (X64) macOS runner cannot install them. Keyed by normalized package name.
 */
export const APPLE_SILICON_ONLY: Readonly<Record<string, string>> = {
  torch: 'PyTorch publishes no macOS x86_64 wheels after 2.2, and the lock pins torch 2.5.0',
  mlx: 'mlx, which diffusionkit needs and the converter imports for every model, has macOS wheels for Apple silicon only',
};

/** The runners that can install the pinned converter. */
export const APPLE_SILICON_RUNNERS = 'an Apple-silicon (arm64) macOS runner: `runs-on: macos-latest` or macos-15 (not macos-15-intel or macos-26-intel)';

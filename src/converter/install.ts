import { CONVERTER_COMMIT, CONVERTER_PACKAGE } from './vocabulary.js';

/** The converter as pip installs it by default: Apple's repository at the pinned commit. */
export const DEFAULT_REQUIREMENT = `${CONVERTER_PACKAGE} @ git+https://github.com/apple/ml-stable-diffusion.git@${CONVERTER_COMMIT}`;

/**
 * setup.py pins numpy<1.24, which has no wheels for Python 3.12+; diffusionkit lists 3.9-3.11.
 * Python 3.11 converts SDXL about twice as fast as 3.9 (upstream issue #289).
 */
export const SUPPORTED_PYTHON = { min: [3, 9], max: [3, 11] } as const;
export const DEFAULT_PYTHON = '3.11';

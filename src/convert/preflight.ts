import { readdirSync } from 'node:fs';
import type { Config } from '../config.js';
import { PACKAGE_SUFFIX } from '../converter/vocabulary.js';
import { folderInputs } from '../converter/identity.js';
import { fingerprintConflicts, readState } from './state.js';

/**
 * Checks the output folder before anything is installed: the converter skips every package that
 * exists, so a folder converted with other options would silently mix two conversions.
 */
export function checkOutputFolder(config: Config): { errors: string[]; warnings: string[] } {
  const dir = config.conversion.outputDir;
  let packages: string[];
  try {
    packages = readdirSync(dir).filter((name) => name.endsWith(PACKAGE_SUFFIX));
  } catch {
    return { errors: [], warnings: [] };
  }
  const state = readState(dir);
  if (state) {
    const conflicts = fingerprintConflicts(state.fingerprint, folderInputs(config));
    if (conflicts.length > 0 && packages.length > 0) {
      return {
        errors: [
          `Input \`output-dir\`: ${dir} holds a conversion made with other options (${conflicts.join('; ')}). ` +
            'The converter would skip its packages and mix the two conversions: use another output-dir, or delete this one first.',
        ],
        warnings: [],
      };
    }
    return { errors: [], warnings: [] };
  }
  return packages.length > 0
    ? {
        errors: [],
        warnings: [
          `Input \`output-dir\`: ${dir} already holds ${packages.length} mlpackage(s) this action did not make; the converter skips them as they are, without a PSNR check.`,
        ],
      }
    : { errors: [], warnings: [] };
}

import type { Config } from '../config.js';
import type { InputName } from './names.js';

/**
 * Checks across inputs, one entry per case: `check` returns the message (completing
 * "Input `<input>` ...") when the case applies. Errors stop the run before anything is installed;
 * warnings are combinations upstream advises against.
 */
export interface Rule {
  input: InputName;
  severity: 'error' | 'warning';
  check(config: Config): string | undefined;
}

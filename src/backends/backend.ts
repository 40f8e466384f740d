import type { BackendName, Config } from '../config.js';
import type { InputName } from '../inputs/names.js';
import type { Rule } from '../inputs/rule.js';
import type { RunnerPlatform, SetupHalf } from '../setup/locks.js';

/**
 * What the stages ask of a backend (the converter that makes the models). Each backend lives in its
 * own folder beside the others (src/backends/<name>/) and is one entry of BACKENDS (./registry.ts):
 * a third backend is a third folder and a third entry.
 */
export interface Backend {
  name: BackendName;
  /** For people: what it makes and with what, e.g. `Core AI bundle (coreai-torch)`. */
  label: string;
  /**
   * The inputs only this backend reads. Given (anything but action.yml's default, see inputDefaults)
   * while another backend is chosen, each is refused by name before anything is installed.
   */
  ownInputs: readonly InputName[];
  /** Checks across inputs that apply when this backend is chosen (run with the common rules). */
  rules: readonly Rule[];
  /**
   * The lock shipped for this runner, Python and half, relative to the action's root (its rules have
   * refused a runner or Python it has none for): setup installs it.
   */
  shippedLock(pythonVersion: string, runner: RunnerPlatform, half: SetupHalf): string;
}

export type { Config };

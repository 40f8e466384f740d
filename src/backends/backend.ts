import type { BackendName, Config } from '../config.js';
import type { InputName } from '../inputs/names.js';
import type { Rule } from '../inputs/rule.js';
import type { RunnerPlatform, SetupHalf } from '../setup/locks.js';
import type { AnyStep } from '../plan/plan.js';
import type { ConvertInput, ConvertOutcome } from '../convert/stage.js';
import type { ConversionResult } from '../convert/run.js';
import type { GateReport } from '../verify/stage.js';
import type { ModelSizes, ProcessEstimate } from '../budget/estimate.js';

/** What a backend's plan gives: its processes, each one's argv (`python` first, until setup finds the interpreter), and what runs each. */
export interface BackendPlan {
  steps: AnyStep[];
  commands: string[][];
  routes: string[];
}

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
  /** Pure: every input and fact that decides what this backend makes (manifest.json's converterInputs; skip-if-unchanged compares them). */
  inputs(config: Config): Record<string, string>;
  /** Pure: the processes this backend runs for the Config. */
  plan(config: Config): BackendPlan;
  /** Setup, the model's files, and the plan's processes (or the outputs cache's finished conversion). */
  convert(input: ConvertInput): Promise<ConvertOutcome>;
  /** Pure: each planned process's peak memory, from the model's fp16 sizes (src/budget/ compares them with the runner). */
  estimate(steps: readonly AnyStep[], config: Config, sizes: ModelSizes): ProcessEstimate[];
  /** Pure: what the budget refuses or warns of beyond memory and disk (the time a check would take); none when absent. */
  limits?(steps: readonly AnyStep[], config: Config, sizes: ModelSizes): { refusals: string[]; warnings: string[] };
  /** The gate: every check judged, what failed removed from output-dir, what must fail the step. */
  verify(config: Config, conversion: ConversionResult): GateReport;
}

export type { Config };

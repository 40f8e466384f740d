import * as core from '@actions/core';
import type { Config } from '../config.js';
import { checkOutputFolder } from '../convert/preflight.js';
import { Halt } from '../halt.js';
import { setOutput } from '../outputs.js';
import type { AnyStep } from './plan.js';
import { backendOf } from '../backends/registry.js';
import { info } from '../log.js';

export interface PlannedRun {
  steps: AnyStep[];
  /** Every step's argv, computed once, with `python` until setup has found the interpreter. */
  commands: string[][];
}

/** Pure: the chosen backend's processes, their commands, and the log lines that announce them. */
export function planRun(config: Config): PlannedRun & { lines: string[] } {
  const { steps, commands, routes } = backendOf(config).plan(config);
  const lines = [`Plan (${steps.length} converter process${steps.length === 1 ? '' : 'es'}):`, ...steps.map((step, i) => `  ${i + 1}. ${step.label} (${routes[i] ?? ''})`)];
  return { steps, commands, lines };
}

/**
 * The plan stage: sets the output-dir and plan outputs, logs the plan, and halts when output-dir
 * holds a conversion made with other options (before anything is installed).
 */
export function planStage(config: Config): PlannedRun {
  const { steps, commands, lines } = planRun(config);
  setOutput('output-dir', config.conversion.outputDir);
  setOutput('plan', commands);
  lines.forEach((line) => info(line));
  const folder = checkOutputFolder(config);
  folder.warnings.forEach((w) => core.warning(w));
  if (folder.errors.length > 0) throw new Halt(folder.errors, 'Invalid input');
  return { steps, commands };
}

import * as core from '@actions/core';
import type { Config } from '../config.js';
import { planCommands } from '../convert/run.js';
import { checkOutputFolder } from '../convert/preflight.js';
import { Halt } from '../halt.js';
import { setOutput } from '../outputs.js';
import { routeOf } from '../converter/commands.js';
import { makePlan, splitPlan, type Step } from './plan.js';
import { info } from '../log.js';

export interface PlannedRun {
  steps: Step[];
  /** Every step's argv, computed once, with `python` until setup has found the interpreter. */
  commands: string[][];
}

/** Pure: the converter processes, their commands, and the log lines that announce them. */
export function planRun(config: Config): PlannedRun & { lines: string[] } {
  const steps = splitPlan(makePlan(config.conversion, config.processPerComponent), config.split.mode);
  const lines = [`Plan (${steps.length} converter process${steps.length === 1 ? '' : 'es'}):`, ...steps.map((step, i) => `  ${i + 1}. ${step.label} (${routeOf(step)})`)];
  return { steps, commands: planCommands(config, steps), lines };
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

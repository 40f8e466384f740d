import * as path from 'node:path';
import * as core from '@actions/core';
import type { Config } from '../config.js';
import { directorySize } from '../convert/sizes.js';
import { listPackages, packageParts } from '../verify/packages.js';
import { renderSummary, type RunReport } from './summary.js';
import { info } from '../log.js';

/** The step summary when the runner keeps one (RunnerContext.stepSummary: GITHUB_STEP_SUMMARY is set), else the log. */
export async function writeStepSummary(markdown: string, stepSummary: boolean): Promise<void> {
  if (stepSummary) await core.summary.addRaw(markdown).write();
  else info(markdown);
}

/** The main action's summary: the run report, with the packages output-dir holds now. */
export async function writeSummary(config: Config, report: RunReport): Promise<void> {
  const packages = listPackages(config.conversion.outputDir).map((p) => path.basename(p));
  const sizes = Object.fromEntries(packages.map((p) => [p, directorySize(path.join(config.conversion.outputDir, p))]));
  await writeStepSummary(renderSummary({ ...report, config, sizes, packageParts: packageParts(config.conversion, packages) }), config.runner.stepSummary);
}

import { existsSync, readdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import * as core from '@actions/core';
import type { Config } from './inputs/config.js';
import { readInputs } from './inputs/read.js';
import { makePlan } from './plan/plan.js';
import { setupConverter } from './setup/setup.js';
import { checkOutputFolder } from './convert/preflight.js';
import { planCommands, runConversion, type ConversionResult } from './convert/run.js';
import { directorySize } from './convert/sizes.js';
import { failureMessage, judgePsnr, missingChecks, type PsnrVerdict } from './verify/psnr.js';
import { renderSummary } from './summary/summary.js';
import { packageParts, packagesToRemoveFor } from './verify/packages.js';
import { RESOURCES_DIR } from './converter/vocabulary.js';

/** Runs the stages in order: inputs, plan, setup, convert, verify, outputs and summary. */
async function run(): Promise<void> {
  const parsed = readInputs();
  parsed.warnings.forEach((w) => core.warning(w));
  if (!parsed.config) {
    parsed.errors.forEach((e) => core.error(e, { title: 'Invalid input' }));
    core.setFailed(`${parsed.errors.length} input problem(s), nothing was installed or run:\n- ${parsed.errors.join('\n- ')}`);
    return;
  }
  const config = parsed.config;
  if (config.hfToken) core.setSecret(config.hfToken);

  const steps = makePlan(config.conversion, config.processPerComponent);
  core.setOutput('output-dir', config.conversion.outputDir);
  core.setOutput('plan', JSON.stringify(planCommands(config, steps)));
  core.info(`Plan (${steps.length} converter process${steps.length === 1 ? '' : 'es'}):`);
  steps.forEach((step, i) => core.info(`  ${i + 1}. ${step.label}`));

  const folder = checkOutputFolder(config);
  folder.warnings.forEach((w) => core.warning(w));
  if (folder.errors.length > 0) {
    folder.errors.forEach((e) => core.error(e, { title: 'Invalid input' }));
    core.setFailed(folder.errors.join('\n'));
    return;
  }

  if (config.dryRun) {
    core.info('Dry run: nothing is installed or run.');
    setResultOutputs(config, [], []);
    await writeSummary(config, planCommands(config, steps), undefined, [], []);
    return;
  }

  const setup = await setupConverter(config);
  const commands = planCommands(config, steps, setup.python);
  core.setOutput('plan', JSON.stringify(commands));
  const conversion = await runConversion(config, steps, setup.python);

  const verdicts = judgePsnr(conversion.psnr, config.gate);
  const missing = missingChecks(config.conversion, verdicts);
  const problems = report(config, conversion, verdicts, missing);
  const packages = listPackages(config);
  setResultOutputs(config, packages, verdicts, conversion, missing);
  await writeSummary(config, commands, conversion, verdicts, missing, problems);
  if (problems.length > 0) core.setFailed(problems.join('\n'));
}

/** Annotations for every failure; returns the messages that fail the step. */
function report(config: Config, conversion: ConversionResult, verdicts: PsnrVerdict[], missing: string[]): string[] {
  const problems: string[] = [];
  for (const v of verdicts.filter((v) => !v.passed)) {
    const message = failureMessage(v);
    core.error(message, { title: `PSNR gate: ${v.part}` });
    problems.push(message);
  }
  missing.forEach((part) => core.warning(`No PSNR check was reported for ${part}.`, { title: 'PSNR gate' }));
  if (conversion.failure) {
    const { step, diagnosis, removed } = conversion.failure;
    const removedNote = removed.length > 0 ? ` Removed what it left half-written, so that a rerun converts it again: ${removed.join(', ')}.` : '';
    const message = `${step} failed. ${diagnosis.title}${removedNote}`;
    if (!(conversion.converterRejectedPsnr && problems.length > 0)) {
      core.error(`${message}\n${diagnosis.hints.map((h) => `- ${h}`).join('\n')}`, { title: `Conversion failed: ${step}` });
      problems.push(message);
    }
  }
  // A package that failed the gate must not be skipped as finished by the next run, nor published.
  const failedParts = verdicts.filter((v) => !v.passed).map((v) => v.part);
  const doomed = packagesToRemoveFor(config.conversion, failedParts).filter((p) => existsSync(path.join(config.conversion.outputDir, p)));
  doomed.forEach((p) => rmSync(path.join(config.conversion.outputDir, p), { recursive: true, force: true }));
  if (doomed.length > 0) core.info(`Removed the packages that failed the PSNR gate: ${doomed.join(', ')}.`);
  return problems;
}

function listPackages(config: Config): string[] {
  const dir = config.conversion.outputDir;
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.mlpackage'))
    .sort()
    .map((name) => path.join(dir, name));
}

function setResultOutputs(
  config: Config,
  packages: string[],
  verdicts: PsnrVerdict[],
  conversion?: ConversionResult,
  missing: string[] = [],
): void {
  const resources = path.join(config.conversion.outputDir, RESOURCES_DIR);
  core.setOutput('resources-dir', config.conversion.bundleResources && existsSync(resources) ? resources : '');
  core.setOutput('mlpackages', JSON.stringify(packages));
  core.setOutput('psnr', JSON.stringify(verdicts.map(({ part, check, psnr, threshold, passed }) => ({ part, check, psnr, threshold, passed }))));
  const passed = verdicts.every((v) => v.passed) && missing.length === 0 && !conversion?.converterRejectedPsnr && !config.dryRun;
  core.setOutput('psnr-passed', String(passed));
}

async function writeSummary(
  config: Config,
  commands: string[][],
  conversion: ConversionResult | undefined,
  verdicts: PsnrVerdict[],
  missing: string[],
  problems: string[] = [],
): Promise<void> {
  const packages = listPackages(config).map((p) => path.basename(p));
  const sizes = Object.fromEntries(packages.map((p) => [p, directorySize(path.join(config.conversion.outputDir, p))]));
  const markdown = renderSummary({
    config,
    commands,
    conversion,
    verdicts,
    missing,
    sizes,
    packageParts: packageParts(config.conversion, packages),
    problems,
  });
  if (process.env.GITHUB_STEP_SUMMARY) await core.summary.addRaw(markdown).write();
  else core.info(markdown);
}

run().catch((error: unknown) => {
  core.setFailed(error instanceof Error ? error.message : String(error));
});

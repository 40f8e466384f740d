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
import { renderSummary, type SummaryInput } from './summary/summary.js';
import { dryRunChecks } from './summary/dry-run.js';
import { packageParts, packagesToRemoveFor } from './verify/packages.js';
import { RESOURCES_DIR } from './converter/vocabulary.js';
import { prepareFp16 } from './fp16/prepare.js';
import { bundleProblem, verifyConversion } from './verify/bundle/stage.js';
import { CACHE_NAMES, cachingAvailable, type CacheName, type CacheReport } from './cache/cache.js';
import { conversionFromCache, restoreOutputs, saveOutputs } from './cache/outputs.js';
import { environmentIdentity } from './setup/setup.js';
import { HubClient } from './hub/client.js';
import { hubEndpoint, resolveModels, tokenProblem } from './hub/models.js';
import { downloadModels } from './hub/stage.js';
import { checkModelKind } from './hub/kind.js';
import { refreshStage } from './refresh/run.js';
import { recordEnvironment } from './package/environment.js';
import { publishOutputs } from './publish/stage.js';
import { setOutput } from './outputs.js';

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
  if (config.publish.githubToken) core.setSecret(config.publish.githubToken);

  const steps = makePlan(config.conversion, config.processPerComponent);
  setOutput('output-dir', config.conversion.outputDir);
  setOutput('plan', planCommands(config, steps));
  core.info(`Plan (${steps.length} converter process${steps.length === 1 ? '' : 'es'}):`);
  steps.forEach((step, i) => core.info(`  ${i + 1}. ${step.label}`));

  const folder = checkOutputFolder(config);
  folder.warnings.forEach((w) => core.warning(w));
  if (folder.errors.length > 0) {
    folder.errors.forEach((e) => core.error(e, { title: 'Invalid input' }));
    core.setFailed(folder.errors.join('\n'));
    return;
  }

  const caching = config.caching.enabled && cachingAvailable();
  if (config.caching.enabled && !caching) core.warning('The cache service is not available (no ACTIONS_RESULTS_URL): running uncached.');
  const hub = new HubClient(hubEndpoint(process.env), config.hfToken);
  const models = await resolveModels(config, hub);
  const tokenError = tokenProblem(models, config.hfToken);
  if (tokenError) {
    core.error(tokenError, { title: 'Invalid input' });
    core.setFailed(tokenError);
    return;
  }
  setOutput('model-revision-sha', config.conversion.modelIsLocal ? '' : (models[0]?.revision ?? ''));
  // Before any setup: an SDXL checkpoint without xl-version, and a release that is already current.
  const kind = await checkModelKind(config, models, hub);
  if (kind.warning) core.warning(kind.warning, { title: 'xl-version' });
  if (kind.error) {
    core.error(kind.error, { title: 'Invalid input' });
    core.setFailed(kind.error);
    return;
  }
  const refresh = await refreshStage(config, models);
  if (refresh.skipped) return;
  if (config.dryRun) {
    // Every check that needs no install has run: the Hub's commits, the model's kind, the release.
    const checks = dryRunChecks(config, { models, kind, refresh: refresh.verdict });
    core.info(`Dry run: nothing is installed or run.\n  ${checks.join('\n  ')}`);
    setResultOutputs(config, [], []);
    await writeSummary({ config, commands: planCommands(config, steps), verdicts: [], missing: [], problems: [], dryRunChecks: checks });
    return;
  }
  const identity = environmentIdentity(config);
  const outputsCache = caching ? await restoreOutputs(config, models, identity) : undefined;
  const caches: CacheReport[] = [];

  let commands = planCommands(config, steps);
  let conversion: ConversionResult;
  if (outputsCache?.restored === 'exact') {
    core.info('The finished conversion came from the outputs cache: the converter does not run.');
    conversion = conversionFromCache(config, steps);
  } else {
    const setup = await setupConverter(config, caching);
    caches.push(...setup.caches);
    commands = planCommands(config, steps, setup.python);
    setOutput('plan', commands);
    const download = await downloadModels(config, models, hub, caching);
    if (download.cache) caches.push(download.cache);
    // The main model's files at the commit the Hub stage resolved: prepare-fp16 copies that commit.
    const resolved = models.find((m) => m.id === config.conversion.modelVersion && m.resolved);
    const fp16 = await prepareFp16(config, setup.python, resolved && { revision: resolved.revision, files: resolved.files.map((f) => f.rfilename) }, hub);
    if (fp16.failure) {
      core.error(fp16.failure, { title: 'prepare-fp16' });
      core.setFailed(fp16.failure);
      return;
    }
    try {
      conversion = await runConversion(config, steps, setup.python, fp16.cwd, download.env);
    } finally {
      fp16.cleanup();
    }
    // Kept in output-dir (so in the outputs cache) for manifest.json: pip freeze, Python, macOS, Xcode.
    if (!conversion.failure && config.publish.package) await recordEnvironment(config.conversion.outputDir, setup.python, config.runner.workspace);
  }

  const verdicts = judgePsnr(conversion.psnr, config.gate);
  const missing = missingChecks(config.conversion, verdicts);
  const problems = report(config, conversion, verdicts, missing);
  // Before anything is published: a bundle the apps cannot load as asked fails the step here.
  const bundle = verifyConversion(config, conversion);
  const bundleFailure = bundleProblem(bundle);
  if (bundleFailure) problems.push(bundleFailure);
  if (problems.length === 0 && outputsCache && outputsCache.restored !== 'exact') {
    caches.push((await saveOutputs(config, outputsCache)) ?? outputsCache);
  } else if (outputsCache) {
    caches.push(outputsCache);
  }
  setCacheOutputs(caches);
  const packages = listPackages(config);
  // Last, and only when every check passed; also after an outputs-cache hit (a rerun whose upload failed).
  const published = problems.length === 0 ? await publishOutputs({ config, models, verdicts, bundle, replaces: refresh.replaced }) : undefined;
  if (published) problems.push(...published.problems);
  setResultOutputs(config, packages, verdicts, conversion, missing);
  await writeSummary({ config, commands, conversion, verdicts, missing, problems, bundle, caches, published });
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

function setCacheOutputs(caches: CacheReport[]): void {
  const hit = (name: CacheName, partialCounts: boolean) => {
    const r = caches.find((c) => c.name === name);
    return r !== undefined && (r.restored === 'exact' || (partialCounts && r.restored === 'partial'));
  };
  setOutput('cache-hit-pip', hit(CACHE_NAMES.pip, true));
  setOutput('cache-hit-hf', hit(CACHE_NAMES.hub, false));
  setOutput('cache-hit-env', hit(CACHE_NAMES.env, false));
  setOutput('cache-hit-outputs', hit(CACHE_NAMES.outputs, false));
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
  setOutput('resources-dir', config.conversion.bundleResources && existsSync(resources) ? resources : '');
  setOutput('mlpackages', packages);
  setOutput('psnr', verdicts);
  const passed = verdicts.every((v) => v.passed) && missing.length === 0 && !conversion?.converterRejectedPsnr && !config.dryRun;
  setOutput('psnr-passed', passed);
}

async function writeSummary(input: Omit<SummaryInput, 'sizes' | 'packageParts'>): Promise<void> {
  const { config } = input;
  const packages = listPackages(config).map((p) => path.basename(p));
  const sizes = Object.fromEntries(packages.map((p) => [p, directorySize(path.join(config.conversion.outputDir, p))]));
  const markdown = renderSummary({ ...input, sizes, packageParts: packageParts(config.conversion, packages) });
  if (process.env.GITHUB_STEP_SUMMARY) await core.summary.addRaw(markdown).write();
  else core.info(markdown);
}

run().catch((error: unknown) => {
  core.setFailed(error instanceof Error ? error.message : String(error));
});

import * as core from '@actions/core';
import { readConfig } from './inputs/read.js';
import { planStage } from './plan/stage.js';
import { setCacheOutputs, useCaching } from './cache/cache.js';
import { finishOutputsCache } from './cache/outputs.js';
import { modelsStage } from './hub/stage.js';
import { refreshStage } from './refresh/run.js';
import { compileStage } from './convert/stage.js';
import { backendOf } from './backends/registry.js';
import { singleFileStage } from './single-file/check.js';
import { setConversionOutputs } from './verify/stage.js';
import { listPackages } from './verify/packages.js';
import { publishOutputs } from './publish/stage.js';
import { hubPreflight } from './publish/hub/preflight.js';
import { renderSkipped } from './summary/summary.js';
import { dryRunChecks } from './summary/dry-run.js';
import { writeStepSummary, writeSummary } from './summary/write.js';
import { failRun } from './halt.js';
import { info } from './log.js';
import { budgetFacts, budgetStage } from './budget/stage.js';
import { measuredOverEstimate } from './budget/verdict.js';
import { renderFailure, type FailureTrail } from './summary/failure.js';
import { identityOf } from './refresh/compare.js';
import { handoffIdentity } from './handoff/identity.js';
import { handOffStage, takeOverStage } from './handoff/stage.js';

/** Where the run is, for the summary of a stage that throws. */
const trail: FailureTrail = { stage: 'inputs' };
function at<T>(stage: string, work: () => T): T {
  trail.stage = stage;
  return work();
}

/**
 * The stages in order: inputs, plan, models, refresh, convert, verify, publish, then the run
 * report as outputs and summary. A stage that must end the run throws a Halt (failRun reports it,
 * and the step summary says which stage, why, and the plan).
 */
async function run(): Promise<void> {
  const config = at('inputs', () => readConfig());
  const { steps, commands } = at('plan', () => planStage(config));
  trail.commands = commands;
  const caching = useCaching(config);

  const { hub, models, kind } = await at('models (the Hub)', () => modelsStage(config));
  const singleFile = await at('single file', () => singleFileStage(config, hub));
  const refresh = await at('skip-if-unchanged', () => refreshStage(config, models, singleFile));
  if (refresh.skipped) return writeStepSummary(renderSkipped(refresh.verdict?.lines[0]), config.runner.stepSummary);
  await at('Hub publishing checks', () => hubPreflight(config, models));
  // Before anything is installed: each process's peak memory and the job's disk against this runner.
  const budget = at('budget', () => budgetStage(config, steps, models, singleFile));
  const budgetSummary = { lines: budget.lines, estimates: budget.processes };
  if (config.dryRun) {
    // Every check that needs no install has run: the Hub's commits, the model's kind, the release.
    const checks = dryRunChecks(config, { models, kind, refresh: refresh.verdict, singleFile, budget: budgetFacts(budget) });
    info(`Dry run: nothing is installed or run.\n  ${checks.join('\n  ')}`);
    setConversionOutputs(config, []);
    return writeSummary(config, { commands, verdicts: [], missing: [], problems: [], dryRunChecks: checks, budget: budgetSummary });
  }

  // A split conversion: both jobs name the conversion alike, from the same inputs and the Hub's answers.
  const identity = handoffIdentity(identityOf(config, models, singleFile));
  if (config.split.mode === 'finish') await at('hand-off', () => takeOverStage(config, identity));
  const backend = backendOf(config);
  const converted = await at('setup and conversion', () => backend.convert({ config, steps, commands, models, hub, caching, singleFile, releaseDownloads: budget.verdict?.disk.releaseDownloads }));
  measuredOverEstimate(budget.processes, converted.conversion.steps).forEach((w) => core.warning(w, { title: 'Budget' }));
  // The finishing job compiles the Resources itself; one job's converter processes did.
  const conversion = config.split.mode === 'finish' ? await at('Resources', () => compileStage(config, converted.conversion)) : converted.conversion;
  const gate = at('verify', () => backend.verify(config, conversion));
  const outputsCache = await finishOutputsCache(config, converted.outputsCache, gate.problems.length === 0);
  const caches = outputsCache ? [...converted.caches, outputsCache] : converted.caches;
  setCacheOutputs(caches);
  const packages = listPackages(config.conversion.outputDir);
  // Last, and only when every check passed; also after an outputs-cache hit (a rerun whose upload failed).
  trail.stage = config.split.mode === 'convert' ? 'hand-off' : 'publish';
  const passed = gate.problems.length === 0;
  // The converting half hands off instead of publishing; the finishing half publishes as one job does.
  const handoff = passed && config.split.mode === 'convert' ? await handOffStage(config, identity) : undefined;
  const published = passed && config.split.mode !== 'convert' ? await publishOutputs({ config, models, verdicts: gate.verdicts, bundle: gate.bundle, replaces: refresh.replaced, image: gate.image }) : undefined;
  const problems = [...gate.problems, ...(published?.problems ?? [])];
  setConversionOutputs(config, packages, gate, conversion);
  await writeSummary(config, { ...gate, commands: converted.commands, conversion, problems, caches, published, handoff, singleFile: converted.singleFile, budget: budgetSummary });
  if (problems.length > 0) core.setFailed(problems.join('\n'));
}

run().catch(async (error: unknown) => {
  failRun(error);
  // GITHUB_STEP_SUMMARY is the runner's; without it (a local run) the failure is in the log already.
  if (process.env.GITHUB_STEP_SUMMARY) await writeStepSummary(renderFailure(trail, error), true).catch(() => undefined);
});

import { existsSync, readdirSync, statSync, statfsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as core from '@actions/core';
import type { Config } from '../config.js';
import type { AnyStep } from '../plan/plan.js';
import { backendOf } from '../backends/registry.js';
import type { ModelRevision } from '../hub/models.js';
import { repoFolder, type HubFile } from '../hub/files.js';
import type { SingleFileCheck } from '../single-file/check.js';
import { decidePrepareFp16 } from '../fp16/decide.js';
import { Halt } from '../halt.js';
import { formatBytes } from '../format/markdown.js';
import { conversionRoute, environmentBytes, estimateDisk, type DiskEstimate, type ModelSizes, type ProcessEstimate, type Route } from './estimate.js';
import { componentBytes, missingBytes, singleFileComponents, sizesKnown, sumComponents, weightBytes } from './sizes.js';
import { judgeBudget, type BudgetVerdict, type RunnerResources } from './verdict.js';

export { conversionRoute } from './estimate.js';

export interface Budget {
  route: Route;
  /** undefined when no size of the model is known (the Hub could not be asked). */
  sizes?: ModelSizes;
  processes: ProcessEstimate[];
  disk?: DiskEstimate;
  verdict?: BudgetVerdict;
  runner: RunnerResources;
  /** Lines for the log and dry-run. */
  lines: string[];
}

/** A local folder read as a listing: every file with its size, paths relative and with `/`. */
function listFolder(root: string): HubFile[] {
  const files: HubFile[] = [];
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const full = path.join(dir, name);
      const stat = statSync(full, { throwIfNoEntry: false });
      if (stat?.isDirectory()) walk(full);
      else if (stat?.isFile()) files.push({ rfilename: path.relative(root, full).split(path.sep).join('/'), size: stat.size });
    }
  };
  walk(root);
  return files;
}

const blobPresent = (hubCache: string, id: string) => (f: HubFile) => f.blobId !== undefined && existsSync(path.join(repoFolder(hubCache, id), 'blobs', f.blobId));

/** The thin part: the model's sizes from the Hub listings the models stage read, or the local folders. */
export function modelSizes(config: Config, models: readonly ModelRevision[], singleFile?: SingleFileCheck): ModelSizes | undefined {
  const o = config.conversion;
  const listing = (id: string | undefined): HubFile[] | undefined => {
    if (id === undefined) return undefined;
    const hub = models.find((m) => m.id === id && m.resolved);
    if (hub) return hub.files;
    const folder = path.resolve(config.runner.workspace, id);
    return existsSync(folder) ? listFolder(folder) : undefined;
  };
  let downloadBytes = 0;
  for (const m of models) if (m.resolved) downloadBytes += missingBytes(m.files, blobPresent(config.runner.hubCache, m.id));

  if (singleFile) {
    const components = singleFileComponents(singleFile.kind);
    const hubCheckpoint = singleFile.checkpoint.source.where === 'hub' ? (singleFile.checkpoint.size ?? 0) : 0;
    return { components, controlnets: {}, downloadBytes: downloadBytes + hubCheckpoint, stagedBytes: sumComponents(components) };
  }
  const main = listing(o.modelVersion);
  if (!main) return undefined;
  const components = componentBytes(main);
  const controlnets = Object.fromEntries(o.controlnets.map((id) => [id, weightBytes(listing(id) ?? [])]));
  const refiner = listing(o.refinerVersion);
  const sizes: ModelSizes = { components, controlnets, downloadBytes, stagedBytes: 0, refinerUnet: refiner ? componentBytes(refiner).unet : undefined };
  if (!sizesKnown(sizes)) return undefined;
  const fp16 = decidePrepareFp16(config, { files: main.map((f) => f.rfilename) });
  if (fp16.run) sizes.stagedBytes = pipelineOf(sizes);
  return sizes;
}

const pipelineOf = (s: ModelSizes) => sumComponents(s.components);

/** The nearest existing folder at or above `p` (output-dir may not exist yet). */
function existingAncestor(p: string): string {
  let current = p;
  while (!existsSync(current) && path.dirname(current) !== current) current = path.dirname(current);
  return current;
}

/**
 * The runner's memory and free disk: runner-memory when given, else os.totalmem() or the cgroup's
 * limit when lower (a container); free space where output-dir is (statfs).
 */
export function runnerResources(config: Config): RunnerResources {
  let totalMemory = os.totalmem();
  let memorySource = 'its total memory';
  const limit = typeof process.constrainedMemory === 'function' ? process.constrainedMemory() : 0;
  if (limit && limit > 0 && limit < totalMemory) {
    totalMemory = limit;
    memorySource = "its container's memory limit";
  }
  if (config.budget.runnerMemory !== undefined) {
    totalMemory = config.budget.runnerMemory;
    memorySource = 'the input runner-memory';
  }
  let freeDisk: number | undefined;
  try {
    const fs = statfsSync(existingAncestor(config.conversion.outputDir));
    freeDisk = fs.bavail * fs.bsize;
  } catch {
    freeDisk = undefined;
  }
  return { totalMemory, memorySource, freeDisk, os: config.runner.os };
}

/** Pure: the budget's lines, for the log and the dry run. */
export function budgetLines(budget: Omit<Budget, 'lines'>): string[] {
  const { verdict, runner } = budget;
  const lines = [`Budget (${budget.route === 'lean' ? 'the lean conversion' : "the converter's command line"}; runner: ${formatBytes(runner.totalMemory)} of memory from ${runner.memorySource}, ${verdict ? `about ${formatBytes(verdict.usableMemory)} left by the system` : ''}${runner.freeDisk === undefined ? '' : `, ${formatBytes(runner.freeDisk)} free where output-dir is`}):`];
  if (!budget.sizes) {
    lines.push('  no size of the model is known (the Hub could not list it): no estimate.');
    return lines;
  }
  const mark = { ok: 'fits', warn: 'swapping expected', refuse: 'over the runner\'s memory' } as const;
  for (const p of verdict?.processes ?? budget.processes) {
    const level = 'level' in p ? ` (${mark[p.level as keyof typeof mark]})` : '';
    lines.push(`  ${p.label}: ${p.peakBytes === undefined ? 'unknown' : formatBytes(p.peakBytes)} peak memory${level}${p.measured ? '' : ', figures not measured for this kind'}.`);
  }
  if (budget.disk) {
    const d = budget.disk;
    lines.push(`  Disk: about ${formatBytes(verdict?.disk.needed ?? d.peakBytes)} at the peak, ${d.peakAt}${verdict?.disk.releaseDownloads ? ', with the Hub downloads removed once the last converting process has run' : ''} (${d.items.map((i) => `${i.what} ${formatBytes(i.bytes)}`).join('; ')}).`);
  }
  return lines;
}

/**
 * The budget stage, before anything is installed: estimates, compares with the runner, logs.
 * Refuses (a Halt naming the part, the estimate and what to do) when over-budget is fail; a dry
 * run only prints it (its runner need not be the one that converts).
 */
export function budgetStage(config: Config, steps: readonly AnyStep[], models: readonly ModelRevision[], singleFile?: SingleFileCheck): Budget {
  const route = conversionRoute(config);
  const runner = runnerResources(config);
  const sizes = modelSizes(config, models, singleFile);
  const processes = sizes ? backendOf(config).estimate(steps, config, sizes) : steps.map((s) => ({ label: s.label, part: '', basis: 'no size known', measured: false }));
  const split = config.split.mode;
  const disk = sizes ? estimateDisk(config.conversion, sizes, { package: config.publish.package, outputsCache: config.caching.enabled && config.caching.outputs, split, environment: environmentBytes(config.runner.os) }) : undefined;
  const judged = sizes && disk ? judgeBudget({ processes, disk, runner, route, processPerComponent: config.processPerComponent, split }) : undefined;
  // What the backend itself limits beyond memory and disk (Core AI: its runtime's time on Linux).
  const limits = sizes ? backendOf(config).limits?.(steps, config, sizes) : undefined;
  const verdict = judged && limits ? { ...judged, refusals: [...judged.refusals, ...limits.refusals], warnings: [...judged.warnings, ...limits.warnings] } : judged;
  const budget = { route, sizes, processes, disk, verdict, runner };
  const lines = budgetLines(budget);
  lines.forEach((l) => core.info(l));
  if (verdict && !config.dryRun) {
    verdict.warnings.forEach((w) => core.warning(w, { title: 'Budget' }));
    if (verdict.refusals.length > 0) {
      if (config.budget.overBudget === 'fail') throw new Halt(verdict.refusals, 'Over budget', `Over budget, nothing was installed or run:\n- ${verdict.refusals.join('\n- ')}`);
      verdict.refusals.forEach((r) => core.warning(`${r} Going on: over-budget is warn.`, { title: 'Over budget' }));
    }
  }
  return { ...budget, lines };
}

/** Pure: what the dry run says of the budget, in a line (src/summary/dry-run.ts). */
export function budgetFacts(budget: Pick<Budget, 'verdict' | 'runner'>): { memory: string; refused: string[]; warned: string[]; disk: 'ok' | 'warn' | 'refuse' } | undefined {
  const v = budget.verdict;
  if (!v) return undefined;
  const named = (level: 'warn' | 'refuse') => v.processes.filter((p) => p.level === level).map((p) => `${p.label} (${formatBytes(p.peakBytes ?? 0)})`);
  return { memory: formatBytes(budget.runner.totalMemory), refused: named('refuse'), warned: named('warn'), disk: v.disk.level };
}

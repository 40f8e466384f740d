import { existsSync, mkdirSync, renameSync, statfsSync } from 'node:fs';
import * as path from 'node:path';
import * as core from '@actions/core';
import type { Config } from '../config.js';
import type { Step } from '../plan/plan.js';
import { unetPart } from '../converter/order.js';
import { needsNoPipeline, stepArguments } from '../converter/commands.js';
import { folderInputs } from '../converter/identity.js';
import { diagnose, type Diagnosis } from '../converter/diagnose.js';
import { ConverterLogParser, type ConverterEvent, type PsnrCheck } from '../converter/log.js';
import { childEnvironment, runProcess } from '../process.js';
import { prepareStep, quantizedAfter } from './decisions.js';
import { diffSnapshots, removeConverterEntries, takeSnapshot } from './snapshot.js';
import { STATE_DIR, mergePsnr, readState, writeState, type OutputState } from './state.js';
import { directorySize } from './sizes.js';
import { info } from '../log.js';
import type { ImageCheckResult } from '../backends/core-ai/image.js';

export interface PsnrResult extends PsnrCheck {
  /** The step that reported it, or `earlier run` for a part the converter skipped this time. */
  step: string;
}

export interface StepReport {
  label: string;
  argv: string[];
  status: 'done' | 'skipped' | 'failed' | 'not run';
  /** The parts the planned process was to convert or check (for 'not run': parts that never ran). */
  parts?: string[];
  note?: string;
  durationMs: number;
  /** Converting -> Converted, per part, in ms. */
  partTimes: Record<string, number>;
  /** The process tree's largest resident memory, sampled by the action (src/process.ts), in bytes. */
  peakRssBytes?: number;
}

export interface ConversionFailure {
  step: string;
  diagnosis: Diagnosis;
  /** Entries of -o removed because the failed process left them half-written (or, a parity process, unchecked). */
  removed: string[];
  /** The failed process was a parity check: what it removed was finished, but not checked. */
  unchecked?: true;
}

export interface ConversionResult {
  steps: StepReport[];
  psnr: PsnrResult[];
  /** The converter itself raised `dB is too low!`. */
  converterRejectedPsnr: boolean;
  failure?: ConversionFailure;
  /** The Core AI backend's end-to-end image check, when it ran. */
  image?: ImageCheckResult;
}

/** The argv of every step, with the interpreter first (`python` before setup has found one). */
export function planCommands(config: Config, steps: Step[], python = 'python'): string[][] {
  return steps.map((step) => [python, ...stepArguments(step, config.conversion)]);
}

/**
 * The time each part took, pure. A process that converts one part: the process's wall time (what
 * the part costs, loading included); several parts in one process: Converting -> Converted of each
 * (upstream logs `Converting unet` for the control-unet too). A part the converter skipped has none.
 */
export function partTimes(timed: ReadonlyArray<{ at: number; event: ConverterEvent }>, unetName: string, durationMs: number): Record<string, number> {
  const started = new Map<string, number>();
  const lineTimes: Record<string, number> = {};
  const name = (part: string) => (part === 'unet' ? unetName : part);
  for (const { at, event } of timed) {
    if (event.kind === 'converting') started.set(event.part, at);
    if (event.kind === 'converted' && started.has(event.part)) lineTimes[name(event.part)] = at - (started.get(event.part) ?? at);
  }
  const converted = Object.keys(lineTimes);
  return converted.length === 1 ? { [converted[0] as string]: durationMs } : lineTimes;
}

/** Pure: the parts a process only skipped (the converter found their packages), when it did nothing else. */
export function onlySkipped(timed: ReadonlyArray<{ event: ConverterEvent }>): string[] {
  const worked = timed.some(({ event }) => ['converted', 'saved', 'chunking', 'quantizing', 'compiled', 'psnr'].includes(event.kind));
  const skipped = timed.flatMap(({ event }) => (event.kind === 'skipped' ? [event.part] : []));
  return worked ? [] : skipped;
}

/** The parts a planned process converts or checks, as the PSNR gate names them. */
function plannedParts(step: Step, unetName: string): string[] {
  if (step.kind === 'chunk' || step.kind === 'parity') return [step.part];
  return [...step.convert.map((p) => (p === 'unet' ? unetName : p)), ...(step.refiner ? ['refiner'] : []), ...(step.controlnets.length > 0 ? ['controlnet'] : [])];
}

/** What the disk diagnoses read: output-dir's free space and size (undefined when it cannot be read). */
export function diskFacts(outputDir: string) {
  try {
    const fs = statfsSync(outputDir);
    return { freeBytes: fs.bavail * fs.bsize, outputBytes: directorySize(outputDir) };
  } catch {
    return undefined;
  }
}

/**
 * Runs the plan's processes in order, each in its own log group; stops at the first failure.
 * `cwd`: where the converter runs (the staging root of an fp16 copy; else the workspace).
 */
export async function runConversion(
  config: Config,
  steps: Step[],
  python: string,
  cwd = config.runner.workspace,
  hubEnv: Record<string, string> = {},
): Promise<ConversionResult> {
  const options = config.conversion;
  const outputDir = options.outputDir;
  mkdirSync(outputDir, { recursive: true });
  const previous = readState(outputDir);
  const state: OutputState = {
    version: 1,
    fingerprint: folderInputs(config),
    psnr: previous?.psnr ?? [],
    quantized: previous?.quantized ?? [],
  };
  const changedThisRun = new Set<string>();
  const reports: StepReport[] = [];
  const fresh: PsnrResult[] = [];
  let converterRejectedPsnr = false;
  let failure: ConversionFailure | undefined;
  const settings = { ...hubEnv, PYTHONUNBUFFERED: '1' };

  for (const planned of steps) {
    if (failure) {
      reports.push({ label: planned.label, argv: [python, ...stepArguments(planned, options)], status: 'not run', parts: plannedParts(planned, unetPart(options)), durationMs: 0, partTimes: {} });
      continue;
    }
    const before = takeSnapshot(outputDir);
    const prep = prepareStep(planned, options, before, changedThisRun, new Set(state.quantized));
    const step = planned.kind === 'torch2coreml' && prep.controlnets ? { ...planned, controlnets: prep.controlnets } : planned;
    const argv = [python, ...stepArguments(step, options)];
    if (prep.skip) {
      info(`${step.label}: skipped, ${prep.skip}.`);
      reports.push({ label: step.label, argv, status: 'skipped', note: prep.skip, durationMs: 0, partTimes: {} });
      continue;
    }
    removeConverterEntries(outputDir, prep.remove);
    const started = takeSnapshot(outputDir);
    const hidden = path.join(outputDir, STATE_DIR, 'hidden');
    for (const entry of prep.hide) {
      mkdirSync(hidden, { recursive: true });
      renameSync(path.join(outputDir, entry), path.join(hidden, entry));
    }

    const parser = new ConverterLogParser({ unetPart: unetPart(options), chunkPart: step.kind === 'chunk' ? step.part : undefined });
    const timed: Array<{ at: number; event: ConverterEvent }> = [];
    core.startGroup(`${step.label}: ${argv.slice(1, 3).join(' ')}`);
    // The token only for a process that loads a pipeline (reads the Hub): not chunking, quantizing or bundling.
    const readsHub = step.kind === 'torch2coreml' && !needsNoPipeline(step);
    const result = await runProcess(argv, {
      cwd,
      env: childEnvironment(settings, readsHub ? config.hfToken : undefined),
      onOutput: (text) => parser.push(text).forEach((event) => timed.push({ at: Date.now(), event })),
    });
    parser.end().forEach((event) => timed.push({ at: Date.now(), event }));
    core.endGroup();

    for (const entry of prep.hide) renameSync(path.join(hidden, entry), path.join(outputDir, entry));
    const changes = diffSnapshots(started, takeSnapshot(outputDir));
    const checks = timed.flatMap(({ event }) => (event.kind === 'psnr' ? [{ ...event.check, step: step.label }] : []));
    fresh.push(...checks);
    converterRejectedPsnr ||= timed.some(({ event }) => event.kind === 'too-low');

    const ok = result.exitCode === 0;
    const skippedOnly = ok ? onlySkipped(timed) : [];
    const report: StepReport = {
      label: step.label,
      argv,
      status: ok ? (skippedOnly.length > 0 ? 'skipped' : 'done') : 'failed',
      ...(skippedOnly.length > 0 ? { note: `the converter found ${skippedOnly.join(', ')} already in output-dir and converted nothing` } : {}),
      parts: plannedParts(step, unetPart(options)),
      durationMs: result.durationMs,
      partTimes: partTimes(timed, unetPart(options), result.durationMs),
      peakRssBytes: result.peakRssBytes,
    };
    reports.push(report);

    if (ok) {
      [...changes.added, ...changes.modified].forEach((entry) => changedThisRun.add(entry));
      state.quantized =
        step.kind === 'torch2coreml' && step.quantize
          ? quantizedAfter(options, takeSnapshot(outputDir))
          : state.quantized.filter((p) => !changes.added.includes(p));
    } else {
      // Whatever the failed process created or was rewriting is incomplete: the converter
      // would skip it on the next run as if it were finished.
      const removed = removeConverterEntries(outputDir, [...changes.added, ...changes.modified, ...(prep.removeOnFailure ?? []).filter((p) => existsSync(path.join(outputDir, p)))]);
      state.quantized = state.quantized.filter((p) => !removed.includes(p));
      failure = { step: step.label, diagnosis: diagnose(result, diskFacts(outputDir)), removed, ...(step.kind === 'parity' ? { unchecked: true as const } : {}) };
    }
    state.psnr = mergePsnr(state.psnr, checks);
    writeState(outputDir, state);
  }

  return { steps: reports, psnr: withEarlierChecks(fresh, state.psnr), converterRejectedPsnr, failure };
}

/**
 * Fresh checks, plus the stored ones this run did not make again (a part the converter skipped; in
 * a split conversion's finishing job, the PyTorch-only check the converting job's reference half made).
 */
function withEarlierChecks(fresh: PsnrResult[], stored: PsnrCheck[]): PsnrResult[] {
  const key = (c: PsnrCheck) => `${c.part}\u0000${c.check}`;
  const freshChecks = new Set(fresh.map(key));
  const earlier = stored.filter((c) => !freshChecks.has(key(c))).map((c) => ({ ...c, step: 'earlier run' }));
  return [...earlier, ...fresh];
}

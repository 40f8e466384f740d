import { formatBytes } from '../format/markdown.js';
import type { SplitMode } from '../config.js';
import { DISK_MARGIN, OS_RESERVE, type DiskEstimate, type ProcessEstimate, type Route } from './estimate.js';

/**
 * Pure: the budget against the runner. A process whose estimate fits in the memory the system
 * leaves goes on; one over that but within the runner's total memory swaps (a warning, with the
 * figures); one over the total memory is refused before anything is installed, unless
 * over-budget is warn. Disk alike: over the free space is refused, within the margin warned.
 */

export interface RunnerResources {
  /** Bytes of memory: os.totalmem(), the cgroup's limit when lower, or the runner-memory input. */
  totalMemory: number;
  /** Where the figure came from, for the messages. */
  memorySource: string;
  /** Free bytes where output-dir is (statfs); undefined when it could not be read. */
  freeDisk?: number;
  os: string;
}

export type Level = 'ok' | 'warn' | 'refuse';

export interface ProcessVerdict extends ProcessEstimate {
  level: Level;
}

export interface BudgetVerdict {
  processes: ProcessVerdict[];
  disk: { level: Level; needed: number; free?: number; releaseDownloads: boolean };
  /** Memory the system leaves to the job. */
  usableMemory: number;
  /** Messages: the refusals (errors unless over-budget is warn) and the warnings. */
  refusals: string[];
  warnings: string[];
}

export function usableMemory(r: Pick<RunnerResources, 'totalMemory' | 'os'>): number {
  return Math.max(0, r.totalMemory - (r.os === 'macOS' ? OS_RESERVE.macOS : OS_RESERVE.other));
}

/** Pure: the level of one estimate against the memory. */
export function memoryLevel(peak: number | undefined, usable: number, total: number): Level {
  if (peak === undefined || peak <= usable) return 'ok';
  return peak <= total ? 'warn' : 'refuse';
}

/** Pure: the level of the disk estimate against the free space. */
export function diskLevel(needed: number, free: number | undefined): Level {
  if (free === undefined || needed + DISK_MARGIN <= free) return 'ok';
  return needed <= free ? 'warn' : 'refuse';
}

/** What to do about a process over the runner's memory, by what makes it so. */
function remedies(p: ProcessEstimate, route: Route, processPerComponent: boolean, split: SplitMode): string {
  const ways =
    split === 'convert'
      ? ['use a larger Linux x64 runner (GitHub\'s larger Linux runners have 32 GB and more; ubuntu-latest has 16 GB)']
      : ['use a runner with more memory (the arm64 `-xlarge` macOS runners have 14 GB; a self-hosted Mac)'];
  if (split === 'none') ways.push('convert on a Linux x64 runner and finish on macOS (`split: convert`, then `split: finish`: docs/recipes.md), where memory is cheaper');
  if (!processPerComponent && p.label === 'Convert all parts') ways.push('set `process-per-component: true` so each part has a process of its own');
  if (route === 'command-line' && (p.part === 'unet' || p.part === 'refiner')) ways.push('convert with the lean path, which holds only the part it converts');
  ways.push('convert fewer parts per job (the convert-* inputs), so the part that does not fit runs on a larger runner alone');
  ways.push('or set `over-budget: warn` to try anyway (the process swaps, and may be killed)');
  return ways.join('; ');
}

/**
 * Pure: the verdict. `releaseDownloads` is the stage's choice to let go of the Hub downloads once
 * the last converting process has run, which the disk needs when the peak with them would not fit.
 */
export function judgeBudget(input: {
  processes: readonly ProcessEstimate[];
  disk: DiskEstimate;
  runner: RunnerResources;
  route: Route;
  processPerComponent: boolean;
  /** The half of a split conversion this job runs ('none': one job). */
  split?: SplitMode;
}): BudgetVerdict {
  const { runner } = input;
  const usable = usableMemory(runner);
  const refusals: string[] = [];
  const warnings: string[] = [];
  const mem = (b: number) => formatBytes(b);
  const processes = input.processes.map((p): ProcessVerdict => {
    const level = memoryLevel(p.peakBytes, usable, runner.totalMemory);
    const estimate = p.peakBytes ?? 0;
    if (level === 'refuse') {
      refusals.push(
        `${p.label}: the ${p.part} process is estimated at ${mem(estimate)} peak memory, more than this runner's ${mem(runner.totalMemory)} (${runner.memorySource}). ` +
          `It would swap beyond use or be killed. What to do: ${remedies(p, input.route, input.processPerComponent, input.split ?? 'none')}.`,
      );
    } else if (level === 'warn') {
      warnings.push(
        `${p.label}: the ${p.part} process is estimated at ${mem(estimate)} peak memory; this runner has ${mem(runner.totalMemory)} (${runner.memorySource}), of which about ${mem(usable)} is left once the system has its share: swapping expected, the process runs slower.`,
      );
    }
    return { ...p, level };
  });

  const free = runner.freeDisk;
  const keep = diskLevel(input.disk.peakBytes, free);
  const releaseDownloads = keep !== 'ok' && input.disk.peakWithoutDownloads < input.disk.peakBytes;
  const needed = releaseDownloads ? input.disk.peakWithoutDownloads : input.disk.peakBytes;
  const level = diskLevel(needed, free);
  const released = releaseDownloads ? ' (with the Hub downloads removed once the last converting process has run)' : '';
  if (level === 'refuse') {
    refusals.push(
      `The job is estimated to need ${mem(needed)} of disk ${input.disk.peakAt}${released}, and ${mem(free ?? 0)} is free where output-dir is. ` +
        'What to do: free space before this step (delete unused Xcode versions and simulator runtimes), set `package: false` or `cache-outputs: false`, convert fewer parts per job, use a runner with a larger disk, or set `over-budget: warn` to try anyway.',
    );
  } else if (level === 'warn') {
    warnings.push(`The job is estimated to need ${mem(needed)} of disk ${input.disk.peakAt}${released}, and ${mem(free ?? 0)} is free where output-dir is: less than ${mem(DISK_MARGIN)} to spare.`);
  }
  return { processes, disk: { level, needed, free, releaseDownloads }, usableMemory: usable, refusals, warnings };
}

/** How far a measured peak may exceed its estimate before it is warned about. */
export const UNDERESTIMATE_TOLERANCE = 0.25;

/** Pure: a warning for each process whose measured peak exceeds its estimate by more than the tolerance. */
export function measuredOverEstimate(
  estimates: ReadonlyArray<{ label: string; peakBytes?: number }>,
  measured: ReadonlyArray<{ label: string; peakRssBytes?: number }>,
): string[] {
  const byLabel = new Map(estimates.map((e) => [e.label, e.peakBytes]));
  return measured.flatMap((m) => {
    const estimate = byLabel.get(m.label);
    if (estimate === undefined || m.peakRssBytes === undefined || m.peakRssBytes <= estimate * (1 + UNDERESTIMATE_TOLERANCE)) return [];
    return [
      `${m.label}: measured ${formatBytes(m.peakRssBytes)} peak memory, ${Math.round((m.peakRssBytes / estimate - 1) * 100)}% above the budget's estimate of ${formatBytes(estimate)}. Choose the runner by the measured figure; the budget's figures (src/budget/estimate.ts) need this model's measurement.`,
    ];
  });
}

import * as path from 'node:path';

/**
 * Where output-dir may be. The converter writes into it and the action removes, after a failed
 * process, what that process left half-written there: so it must be a folder of its own, never one
 * that holds the user's other files as a whole. Pure: the real paths are given (realPathOf).
 */
export interface OutputDirPlaces {
  /** output-dir resolved through symlinks (realPathOf). */
  real: string;
  /** GITHUB_WORKSPACE, HOME, RUNNER_TEMP and RUNNER_TOOL_CACHE, each resolved through symlinks. */
  workspace: string;
  home?: string;
  temp: string;
  toolCache: string;
  /** The real path is an existing file (not a folder). */
  isFile: boolean;
}

/** Whether `inner` is `outer` or below it. */
export function isWithin(outer: string, inner: string): boolean {
  const relative = path.relative(outer, inner);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

/** Pure: the error (completing "Input `output-dir` ...") or the warning for where output-dir resolves, or neither. */
export function outputDirVerdict(p: OutputDirPlaces): { error?: string; warning?: string } {
  const named = `resolves to ${p.real}`;
  if (p.isFile) return { error: `${named}, which is an existing file: give a folder (new or the converter's own from an earlier run).` };
  const why = 'the converter writes many files into it, and after a failed process the action removes what that process left there';
  if (p.real === path.parse(p.real).root) return { error: `${named}, the root of the file system: ${why}. Give a folder of its own, such as coreml-models.` };
  if (isWithin(p.real, p.workspace)) {
    return { error: `${named}, which is the workspace or a folder above it: ${why}. Give a folder of its own inside the workspace, such as coreml-models.` };
  }
  const places: Array<[string | undefined, string]> = [
    [p.home, 'the home folder'],
    [p.temp, 'RUNNER_TEMP itself'],
    [p.toolCache, 'the tool cache (RUNNER_TOOL_CACHE) itself'],
  ];
  for (const [place, name] of places) {
    if (place && p.real === place) return { error: `${named}, which is ${name}: ${why}. Give a folder of its own below it.` };
  }
  if (p.home && isWithin(p.real, p.home)) return { error: `${named}, which is above the home folder: ${why}. Give a folder of its own.` };
  if (!isWithin(p.workspace, p.real) && !isWithin(p.temp, p.real)) {
    return { warning: `${named}, outside the workspace and RUNNER_TEMP: the action writes there, and removes only the converter's own entries in it after a failed process (packages, chunks, Resources' compiled models and tokenizer files).` };
  }
  return {};
}

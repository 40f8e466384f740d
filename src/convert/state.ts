import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { PsnrCheck } from '../converter/log.js';

/**
 * What the action remembers in the output folder between runs, because the converter does not:
 * it skips any package that exists, whatever options made it, and it quantizes whatever is there.
 */
export interface OutputState {
  version: 1;
  /** folderInputs (converter/identity.ts): what decides the models' content; a folder holds one combination only. */
  fingerprint: Record<string, string>;
  /** The latest PSNR checks per part, so a skipped part keeps its verdict. */
  psnr: PsnrCheck[];
  /** Packages already quantized (with the fingerprint's nbits), so none is quantized twice. */
  quantized: string[];
}

export const STATE_DIR = '.coreml-action';
const STATE_FILE = 'state.json';

/** Pure: the inputs whose values differ from those that made the folder. */
export function fingerprintConflicts(stored: Record<string, string>, current: Record<string, string>): string[] {
  return Object.keys(current)
    .filter((key) => (stored[key] ?? '') !== current[key])
    .map((key) => `${key} was ${JSON.stringify(stored[key] ?? '')}, now ${JSON.stringify(current[key])}`);
}

/** Pure: stored checks, with those of the same part and check text replaced by fresh ones. */
export function mergePsnr(stored: PsnrCheck[], fresh: PsnrCheck[]): PsnrCheck[] {
  const key = (c: PsnrCheck) => `${c.part}\u0000${c.check}`;
  const freshKeys = new Set(fresh.map(key));
  return [...stored.filter((c) => !freshKeys.has(key(c))), ...fresh];
}

export function readState(outputDir: string): OutputState | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path.join(outputDir, STATE_DIR, STATE_FILE), 'utf8')) as OutputState;
    return parsed.version === 1 ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Written to a temporary name and renamed, so a killed run never leaves half a state file. */
export function writeState(outputDir: string, state: OutputState): void {
  const dir = path.join(outputDir, STATE_DIR);
  mkdirSync(dir, { recursive: true });
  const target = path.join(dir, STATE_FILE);
  writeFileSync(`${target}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(`${target}.tmp`, target);
}

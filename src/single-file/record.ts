import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { STATE_DIR } from '../convert/state.js';
import type { SingleFileRecord } from '../package/manifest.js';

const RECORD = 'single-file.json';

/** Kept in output-dir/.coreml-action/ (so in the outputs cache) for manifest.json, written whole or not at all. */
export function writeRecord(outputDir: string, record: SingleFileRecord): void {
  const file = path.join(outputDir, STATE_DIR, RECORD);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(`${file}.partial`, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(`${file}.partial`, file);
}

/** The record of the single file that made output-dir, or undefined (not a single-file conversion, or an older folder). */
export function readSingleFileRecord(outputDir: string): SingleFileRecord | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path.join(outputDir, STATE_DIR, RECORD), 'utf8')) as SingleFileRecord;
    return parsed && typeof parsed.checkpoint?.sha256 === 'string' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Pure: why output-dir's packages cannot be kept, when the folder was made of other bytes (the
 * converter skips a package that exists, and the stem, which names them, may stay the same).
 */
export function contentConflict(previous: SingleFileRecord | undefined, current: Pick<SingleFileRecord, 'checkpoint' | 'loras'>): string | undefined {
  if (!previous) return undefined;
  const shas = (r: Pick<SingleFileRecord, 'checkpoint' | 'loras'>) => [r.checkpoint.sha256, ...r.loras.map((l) => `${l.sha256}:${l.scale}`)].join(' ');
  if (shas(previous) === shas(current)) return undefined;
  const changed = previous.checkpoint.sha256 !== current.checkpoint.sha256 ? `the checkpoint's sha256 was ${previous.checkpoint.sha256}, now ${current.checkpoint.sha256}` : 'the LoRAs merged (their sha256 or scale) changed';
  return `Input \`output-dir\` holds a conversion of other bytes (${changed}): the converter would skip its packages and mix the two. Use another output-dir, or delete this one first.`;
}

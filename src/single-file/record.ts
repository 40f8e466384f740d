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

import { readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { CONTROLNET_RESOURCES_DIR, RESOURCES_DIR } from '../converter/vocabulary.js';

/**
 * What the output folder holds: entry (relative path) -> a signature that changes when the
 * converter rewrites it. A package is rewritten whole by coremltools, Manifest.json included.
 */
export type Snapshot = ReadonlyMap<string, string>;

export interface Changes {
  added: string[];
  modified: string[];
}

/** Pure: what appeared or changed between two snapshots. */
export function diffSnapshots(before: Snapshot, after: Snapshot): Changes {
  const added: string[] = [];
  const modified: string[] = [];
  for (const [entry, signature] of after) {
    const previous = before.get(entry);
    if (previous === undefined) added.push(entry);
    else if (previous !== signature) modified.push(entry);
  }
  return { added: added.sort(), modified: modified.sort() };
}

function signature(file: string): string {
  const markers = ['Manifest.json', 'metadata.json'].map((m) => path.join(file, m));
  for (const marker of [...markers, file]) {
    try {
      const s = statSync(marker);
      return `${s.mtimeMs}:${s.size}`;
    } catch {
      // try the next marker
    }
  }
  return 'missing';
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Reads the folders the converter writes: -o, Resources and Resources/controlnet. */
export function takeSnapshot(outputDir: string): Snapshot {
  const result = new Map<string, string>();
  const folders = ['', RESOURCES_DIR, path.join(RESOURCES_DIR, CONTROLNET_RESOURCES_DIR)];
  for (const folder of folders) {
    for (const name of entries(path.join(outputDir, folder))) {
      const relative = path.join(folder, name);
      if (folders.includes(relative) || name.startsWith('.')) continue;
      result.set(relative, signature(path.join(outputDir, relative)));
    }
  }
  return result;
}

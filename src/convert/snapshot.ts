import { lstatSync, readdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { COMPILED_SUFFIX, CONTROLNET_RESOURCES_DIR, PACKAGE_SUFFIX, RESOURCES_DIR, isConverterEntry } from '../converter/vocabulary.js';

/**
 * What the output folder holds: entry (relative path) -> a signature that changes when the
 * converter rewrites it. A package is signed by its spec and weights, not by Manifest.json:
 * coremltools rewrites the manifest (same bytes) whenever it merely opens a package, as the
 * chunk step does with the unet it reads (test/e2e/real-mlpackages.test.ts shows it).
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

/** The files whose stat says that an entry was written, by kind of entry (the entry itself otherwise). */
const WRITTEN_MARKERS: ReadonlyArray<readonly [suffix: string, files: readonly string[]]> = [
  [PACKAGE_SUFFIX, ['Data/com.apple.CoreML/model.mlmodel', 'Data/com.apple.CoreML/weights/weight.bin']],
  [COMPILED_SUFFIX, ['coremldata.bin', 'model.mil', 'weights/weight.bin', 'metadata.json']],
];

function signature(entry: string): string {
  const markers = WRITTEN_MARKERS.find(([suffix]) => entry.endsWith(suffix))?.[1] ?? [];
  const stamps: string[] = [];
  for (const marker of markers.length > 0 ? markers.map((m) => path.join(entry, m)) : [entry]) {
    try {
      const s = statSync(marker);
      stamps.push(`${s.mtimeMs}:${s.size}`);
    } catch {
      stamps.push('-');
    }
  }
  // A package or compiled model without any of its files is half-written or not one: still an entry.
  if (stamps.every((s) => s === '-')) {
    try {
      return `dir:${statSync(entry).mtimeMs}`;
    } catch {
      return 'missing';
    }
  }
  return stamps.join(',');
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

/**
 * Pure: which of `entries` (relative to -o) the action may remove: the converter's own names only
 * (isConverterEntry), so that a user's file in -o, or -o pointed at a wrong folder, loses nothing.
 */
export function removableEntries(entries: readonly string[]): { remove: string[]; kept: string[] } {
  const remove = entries.filter((e) => isConverterEntry(e));
  return { remove, kept: entries.filter((e) => !remove.includes(e)) };
}

/** The real folder an entry lies in, when that is the entry's own folder inside -o (no symlink on the way), else undefined. */
function confinedParent(outputDir: string, entry: string): string | undefined {
  try {
    const root = realpathSync(outputDir);
    const expected = path.join(root, path.dirname(entry));
    return realpathSync(path.join(outputDir, path.dirname(entry))) === expected && lstatSync(outputDir).isDirectory() ? expected : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The thin part: removes the entries of -o that the converter makes, and nothing else: an entry
 * of another name, or one reached through a symlink out of -o, is kept. Returns what was removed.
 */
export function removeConverterEntries(outputDir: string, entries: readonly string[]): string[] {
  const removed: string[] = [];
  for (const entry of removableEntries(entries).remove) {
    const parent = confinedParent(outputDir, entry);
    if (!parent) continue;
    // rm takes a symlink itself away, never what it points to.
    rmSync(path.join(parent, path.basename(entry)), { recursive: true, force: true });
    removed.push(entry);
  }
  return removed;
}

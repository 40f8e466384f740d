import { lstatSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { compareEntryPaths, isJunk } from './names.js';
import type { ZipEntrySource } from './zip.js';

export interface TreeListing {
  entries: ZipEntrySource[];
  /** What was left out (relative paths): junk, and links to folders. */
  skipped: string[];
  bytes: number;
}

/**
 * The entries of a zip holding `roots` (files or folders, named by their base names) under one
 * top-level folder `top`: folders first as entries of their own (empty ones survive), junk left
 * out, ordered by compareEntryPaths. Links to files are followed (the zip holds the content);
 * links to folders (they could loop) and links to nothing are skipped.
 */
export function listTree(roots: string[], top: string): TreeListing {
  const entries: ZipEntrySource[] = [{ name: `${top}/`, size: 0 }];
  const skipped: string[] = [];
  let bytes = 0;
  const visit = (absolute: string, relative: string) => {
    if (isJunk(relative)) {
      skipped.push(relative);
      return;
    }
    const isLink = lstatSync(absolute).isSymbolicLink();
    const stat = statSync(absolute, { throwIfNoEntry: false });
    if (!stat) {
      // A link to nothing.
      skipped.push(relative);
      return;
    }
    if (stat.isDirectory()) {
      if (isLink) {
        skipped.push(relative);
        return;
      }
      entries.push({ name: `${top}/${relative}/`, size: 0 });
      for (const child of readdirSync(absolute)) visit(path.join(absolute, child), `${relative}/${child}`);
    } else if (stat.isFile()) {
      entries.push({ name: `${top}/${relative}`, path: absolute, size: stat.size });
      bytes += stat.size;
    } else {
      skipped.push(relative);
    }
  };
  for (const root of roots) visit(root, path.basename(root));
  entries.sort((a, b) => compareEntryPaths(a.name, b.name));
  return { entries, skipped, bytes };
}

import { closeSync, existsSync, lstatSync, openSync, readFileSync, readSync, readdirSync, realpathSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { COMPILED_SUFFIX, TOKENIZER_FILES } from '../../converter/vocabulary.js';
import type { BundleListing } from './check.js';

/** The CLIP vocab.json is about 1 MB; anything far larger is not it and is not read whole. */
const VOCAB_LIMIT = 16 * 1024 * 1024;
const METADATA_LIMIT = 16 * 1024 * 1024;
const MERGES_HEAD = 4096;

function head(file: string, bytes: number): string {
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(bytes);
    const n = readSync(fd, buffer, 0, bytes, 0);
    return buffer.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** The thin part: describes a Resources folder for checkBundle (files, metadata, tokenizer heads). */
export function readBundle(dir: string): BundleListing {
  const files: Record<string, number> = {};
  const walk = (rel: string) => {
    for (const entry of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      // statSync follows links, as the apps do.
      const stat = statSync(path.join(dir, child));
      if (stat.isDirectory()) walk(child);
      else if (stat.isFile()) files[child] = stat.size;
    }
  };
  walk('');

  const metadata: Record<string, string> = {};
  for (const file of Object.keys(files)) {
    const match = /^(.*\.mlmodelc)\/metadata\.json$/.exec(file);
    if (match?.[1] && !match[1].slice(0, -COMPILED_SUFFIX.length).includes(COMPILED_SUFFIX)) {
      metadata[match[1]] = (files[file] ?? 0) <= METADATA_LIMIT ? readFileSync(path.join(dir, file), 'utf8') : '';
    }
  }

  const [vocabFile, mergesFile] = TOKENIZER_FILES;
  const vocabPath = path.join(dir, vocabFile);
  const mergesPath = path.join(dir, mergesFile);
  const vocabSize = files[vocabFile];
  return {
    files,
    metadata,
    vocab:
      vocabSize === undefined
        ? undefined
        : vocabSize <= VOCAB_LIMIT
          ? { text: readFileSync(vocabPath, 'utf8'), complete: true }
          : { text: head(vocabPath, 4096), complete: false },
    mergesHead: existsSync(mergesPath) && statSync(mergesPath).isFile() ? head(mergesPath, MERGES_HEAD) : undefined,
  };
}

/**
 * The entries below `root` that are symlinks leading out of it (or nowhere): a bundle that links
 * its vocab.json to /etc/passwd or to the runner's files is refused, not read. Relative paths.
 */
export function linksLeaving(root: string): string[] {
  const realRoot = realpathSync(root);
  const leaving: string[] = [];
  const walk = (rel: string) => {
    for (const entry of readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      const full = path.join(root, child);
      if (lstatSync(full).isSymbolicLink()) {
        let target: string | undefined;
        try {
          target = realpathSync(full);
        } catch {
          target = undefined;
        }
        const inside = target !== undefined && (target === realRoot || target.startsWith(realRoot + path.sep));
        if (!inside) leaving.push(child);
        // A link inside the bundle is read where it points (walked there, not twice).
      } else if (entry.isDirectory()) walk(child);
    }
  };
  walk('');
  return leaving;
}

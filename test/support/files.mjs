// A folder's files as a stand-in Hub repository takes them: relative path -> bytes.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';

/**
 * @param {string} dir
 * @param {string} [base]
 * @returns {Record<string, Buffer>}
 */
export function filesOf(dir, base = dir) {
  /** @type {Record<string, Buffer>} */
  const files = {};
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) Object.assign(files, filesOf(full, base));
    else files[path.relative(base, full)] = readFileSync(full);
  }
  return files;
}

/**
 * @param {string} file
 * @returns {string} the sha256 of a file's bytes, in hex
 */
export function sha256File(file) {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

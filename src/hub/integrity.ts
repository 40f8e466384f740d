import { createHash, type Hash } from 'node:crypto';
import type { HubFile } from './files.js';

/**
 * What the Hub's listing promises about a file's bytes, and how to check a download against it.
 * Pure. An LFS file is listed with the sha256 of its content; any other file with its git blob id,
 * the sha1 of `blob <size>\0` followed by the content. Either is also huggingface_hub's blob name.
 */
export interface Expected {
  algorithm: 'sha256' | 'git-blob-sha1';
  hex: string;
  size: number;
}

export function expectedOf(file: HubFile): Expected | undefined {
  if (!file.blobId || file.size === undefined) return undefined;
  return { algorithm: file.lfs ? 'sha256' : 'git-blob-sha1', hex: file.blobId, size: file.size };
}

/** A running digest of the content, in the listing's algorithm (sha256 when nothing is listed). */
export function contentDigest(expected: Expected | undefined): Hash {
  if (expected?.algorithm === 'git-blob-sha1') return createHash('sha1').update(`blob ${expected.size}\0`);
  return createHash('sha256');
}

/** The bytes downloaded for a file are not the ones the Hub lists: the run must not use them. */
export class IntegrityError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(message);
    this.name = 'IntegrityError';
  }
}

/** Why a finished download does not match its listing, or undefined when it does. */
export function mismatch(file: string, expected: Expected | undefined, bytes: number, hex: string): string | undefined {
  if (!expected) return undefined;
  if (bytes !== expected.size) return `${file}: downloaded ${bytes} bytes, the Hub lists ${expected.size}`;
  if (hex !== expected.hex) {
    const what = expected.algorithm === 'sha256' ? 'sha256' : 'git blob id';
    return `${file}: the downloaded bytes have ${what} ${hex}, the Hub lists ${expected.hex}`;
  }
  return undefined;
}

/**
 * Pure: where a download resumes after a dropped connection. A 206 must start exactly at the
 * bytes already written (then they are kept); a 200 is the whole file again (start over).
 * Anything else cannot be joined to what was written.
 */
export function resumeFrom(status: number, contentRange: string | undefined, written: number): 'append' | 'restart' | 'refuse' {
  if (status === 200) return 'restart';
  if (status !== 206) return 'refuse';
  const start = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(contentRange?.trim() ?? '')?.[1];
  return start !== undefined && Number(start) === written ? 'append' : 'refuse';
}

/** Pure: the order to fetch in, largest first, so the longest download starts at once. */
export function downloadOrder<T extends { size?: number }>(files: T[]): T[] {
  return [...files].sort((a, b) => (b.size ?? 0) - (a.size ?? 0));
}

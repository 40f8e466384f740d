import { lstatSync, rmSync } from 'node:fs';
import * as core from '@actions/core';
import type { DownloadedBlob } from '../hub/client.js';
import { formatBytes } from '../format/markdown.js';

/**
 * Lets go of the Hub downloads once no process needs them (the budget decided the disk needs it):
 * only the blobs THIS run downloaded, with their snapshot links; never what the cache held before.
 * The Hub cache was saved right after the download, so a rerun restores them.
 */
export function releaseDownloads(downloaded: readonly DownloadedBlob[]): number {
  let freed = 0;
  for (const d of downloaded) {
    for (const link of d.links) {
      // Only the link the fill made: a symlink (a file in its place is not the action's).
      if (lstatSync(link, { throwIfNoEntry: false })?.isSymbolicLink()) rmSync(link, { force: true });
    }
    if (lstatSync(d.blob, { throwIfNoEntry: false })?.isFile()) {
      rmSync(d.blob, { force: true });
      freed += d.bytes;
    }
  }
  if (freed > 0) core.info(`Removed the ${downloaded.length} Hub file(s) this run downloaded (${formatBytes(freed)}): no process after the conversion reads them, and the disk budget needs the space for the Resources and zips.`);
  return freed;
}

import * as core from '@actions/core';
import * as cache from '@actions/cache';
import { directorySize } from '../convert/sizes.js';
import type { Config } from '../config.js';
import { setOutput } from '../outputs.js';
import type { CacheKey } from './keys.js';
import { errorMessage } from '../format/error.js';
import { info } from '../log.js';

/**
 * The thin part around @actions/cache. A cache is an optimisation: a service that is down,
 * answers 5xx or refuses an entry is a warning, and the run goes on uncached.
 */
/** Each cache by the name the logs and the step summary show, and the cache-hit outputs look up. */
export const CACHE_NAMES = { pip: 'pip', hub: 'Hugging Face', env: 'conda env', outputs: 'outputs' } as const;
export type CacheName = (typeof CACHE_NAMES)[keyof typeof CACHE_NAMES];

export interface CacheReport {
  name: CacheName;
  /** What it holds, when a run uses a cache of this name more than once (the summary tells them apart). */
  of?: string;
  key: string;
  /** exact: the key itself; partial: a restore key; miss: nothing; off: caching unavailable. */
  restored: 'exact' | 'partial' | 'miss' | 'off';
  matchedKey?: string;
  restoredBytes: number;
  restoreMs: number;
  saved?: 'saved' | 'exists' | 'failed' | 'skipped';
  savedBytes?: number;
}

/**
 * The client retries a failing service for about 30 s per call and then answers like a miss
 * (restore) or a refusal (save). One call that slow and empty-handed means the service is failing:
 * the rest of the run stops asking, instead of spending minutes on retries.
 */
const FAILING_AFTER_MS = 10_000;
let serviceFailing = false;

function noteSlowFailure(name: string, ms: number): void {
  if (ms < FAILING_AFTER_MS || serviceFailing) return;
  serviceFailing = true;
  core.warning(`The cache service failed for the ${name} cache (${Math.round(ms / 1000)} s of retries): the rest of this run goes on uncached.`);
}

export function cachingAvailable(): boolean {
  return cache.isFeatureAvailable();
}

/** Whether this run caches: caching is on and the service is there (else a warning says so). */
export function useCaching(config: Config): boolean {
  const caching = config.caching.enabled && cachingAvailable();
  if (config.caching.enabled && !caching) core.warning('The cache service is not available (no ACTIONS_RESULTS_URL): running uncached.');
  return caching;
}

/**
 * Pure: the cache-hit outputs. A partial pip restore counts (pip reuses any wheel it finds). A run
 * may use a cache of one name more than once (the Hub models' and a single file's Hugging Face
 * downloads): it is a hit only when every one of them was, as a miss in any meant downloading.
 */
export function cacheHits(caches: readonly CacheReport[]) {
  const hit = (name: CacheName, partialCounts: boolean) => {
    const used = caches.filter((c) => c.name === name);
    return used.length > 0 && used.every((r) => r.restored === 'exact' || (partialCounts && r.restored === 'partial'));
  };
  return {
    'cache-hit-pip': hit(CACHE_NAMES.pip, true),
    'cache-hit-hf': hit(CACHE_NAMES.hub, false),
    'cache-hit-env': hit(CACHE_NAMES.env, false),
    'cache-hit-outputs': hit(CACHE_NAMES.outputs, false),
  } as const;
}

export function setCacheOutputs(caches: readonly CacheReport[]): void {
  for (const [name, hit] of Object.entries(cacheHits(caches)) as Array<[keyof ReturnType<typeof cacheHits>, boolean]>) setOutput(name, hit);
}

export async function restore(name: CacheName, paths: string[], key: CacheKey, of?: string): Promise<CacheReport> {
  const report: CacheReport = { name, ...(of === undefined ? {} : { of }), key: key.key, restored: 'miss', restoredBytes: 0, restoreMs: 0 };
  if (!cachingAvailable() || serviceFailing) return { ...report, restored: 'off' };
  const started = Date.now();
  try {
    const matched = await cache.restoreCache(paths, key.key, key.restoreKeys);
    report.restoreMs = Date.now() - started;
    if (!matched) noteSlowFailure(name, report.restoreMs);
    if (matched) {
      report.matchedKey = matched;
      report.restored = matched === key.key ? 'exact' : 'partial';
      report.restoredBytes = paths.reduce((sum, p) => sum + directorySize(p), 0);
    }
  } catch (error) {
    report.restoreMs = Date.now() - started;
    core.warning(`Restoring the ${name} cache failed, going on without it: ${errorMessage(error)}`);
  }
  info(`${name} cache: ${report.restored}${report.matchedKey && report.restored === 'partial' ? ` (${report.matchedKey})` : ''}.`);
  return report;
}

/** Saves unless the exact key was restored (entries are immutable: saving again only fails). */
export async function save(report: CacheReport, paths: string[]): Promise<CacheReport> {
  if (report.restored === 'off') return { ...report, saved: 'skipped' };
  if (report.restored === 'exact') return { ...report, saved: 'exists' };
  if (serviceFailing) return { ...report, saved: 'skipped' };
  const started = Date.now();
  try {
    const id = await cache.saveCache(paths, report.key);
    // -1: reserving the entry failed. The library logs that as info only, whether another job
    // saved the key first or the service failed; a run that restored no exact hit should know.
    if (id === -1) {
      noteSlowFailure(report.name, Date.now() - started);
      core.warning(`The ${report.name} cache was not saved (key ${report.key}): the cache service refused or failed, or another job saved it first.`);
      return { ...report, saved: 'failed' };
    }
    return { ...report, saved: 'saved', savedBytes: paths.reduce((sum, p) => sum + directorySize(p), 0) };
  } catch (error) {
    core.warning(`Saving the ${report.name} cache failed: ${errorMessage(error)}`);
    return { ...report, saved: 'failed' };
  }
}

import { existsSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as core from '@actions/core';
import type { Config } from '../config.js';
import { CACHE_NAMES, restore, save, type CacheReport } from '../cache/cache.js';
import { hubKey } from '../cache/keys.js';
import { HubClient, type DownloadedBlob } from './client.js';
import { repoFolder } from './files.js';
import { IntegrityError } from './integrity.js';
import { filesDiffusionKitLoads } from '../converter/diffusionkit.js';
import { resolveModels, tokenProblem, type ModelRevision } from './models.js';
import { checkModelKind, type KindCheck } from './kind.js';
import { Halt } from '../halt.js';
import { setOutput } from '../outputs.js';
import { errorMessage } from '../format/error.js';
import { info } from '../log.js';

export interface ModelsStage {
  hub: HubClient;
  models: ModelRevision[];
  kind: KindCheck;
}

/**
 * The models stage, before any setup: the commit each model's revision points at, the token they
 * need, and what they are (an SDXL checkpoint without xl-version, ControlNet cards the converter
 * would refuse). Halts on a missing token or a refused model.
 */
export async function modelsStage(config: Config): Promise<ModelsStage> {
  const hub = new HubClient(config.runner.hubEndpoint, config.hfToken);
  const models = await resolveModels(config, hub);
  const tokenError = tokenProblem(models, config.hfToken);
  if (tokenError) throw new Halt([tokenError], 'Invalid input');
  setOutput('model-revision-sha', config.conversion.modelIsLocal ? '' : (models[0]?.revision ?? ''));
  const kind = await checkModelKind(config, models, hub);
  if (kind.warning) core.warning(kind.warning, { title: 'model-version' });
  if (kind.error) throw new Halt([kind.error], 'Invalid input');
  return { hub, models, kind };
}

export interface ModelDownload {
  /** Environment for the converter: HF_HUB_OFFLINE=1 when every model is in the cache at its commit. */
  env: Record<string, string>;
  cache?: CacheReport;
  downloadedBytes: number;
  offline: boolean;
  /** The blobs this run downloaded (never those the cache had): what the budget may let go of. */
  downloaded: DownloadedBlob[];
}

/**
 * Pure: the converter can run offline (and so load exactly the resolved commits) when every model
 * was resolved and filled, and nothing it does needs the Hub: it reads each ControlNet's model
 * card online, and downloads the T5 encoder with snapshot_download.
 */
export function canRunOffline(config: Config, models: ModelRevision[], filled: boolean): boolean {
  return filled && models.length > 0 && models.every((m) => m.resolved) && config.conversion.controlnets.length === 0 && !config.conversion.includeT5;
}

/**
 * transformers (>= 4.22) takes a Hub cache without `version.txt` for one of an older layout: offline,
 * every process that imports it then warns that "all your calls to any from_pretrained() method
 * will fail", which is false for a cache the action filled in today's layout. It writes `1` there
 * itself when it migrates a cache online; the action writes the same for the cache it filled.
 */
export const TRANSFORMERS_CACHE_VERSION = { file: 'version.txt', text: '1' } as const;

function markTransformersCache(hubCache: string): void {
  const file = path.join(hubCache, TRANSFORMERS_CACHE_VERSION.file);
  if (!existsSync(file)) writeFileSync(file, TRANSFORMERS_CACHE_VERSION.text);
}

/**
 * Restores the Hub cache, downloads what is missing for the resolved commits, and saves the
 * cache right away, so that a conversion failing later does not cost the next try the download.
 */
export async function downloadModels(config: Config, models: ModelRevision[], client: HubClient, caching: boolean): Promise<ModelDownload> {
  if (models.length === 0) return { env: {}, downloadedBytes: 0, offline: false, downloaded: [] };
  const hubCache = config.runner.hubCache;
  const paths = models.map((m) => repoFolder(hubCache, m.id));
  return core.group('Hugging Face downloads', async () => {
    let report = caching ? await restore(CACHE_NAMES.hub, paths, hubKey(models)) : undefined;
    let downloadedBytes = 0;
    const downloaded: DownloadedBlob[] = [];
    let filled = false;
    if (models.every((m) => m.resolved)) {
      try {
        for (const m of models) {
          const revision = m.id === config.conversion.hubIds[0] ? config.conversion.modelRevision : 'main';
          const result = await client.fill(hubCache, m.id, revision, m.revision, m.files, filesDiffusionKitLoads(config.conversion, m.id));
          downloadedBytes += result.downloadedBytes;
          downloaded.push(...result.downloaded);
          info(`${m.id}@${m.revision.slice(0, 12)}: ${result.reusedFiles} file(s) from the cache, ${result.downloadedFiles} downloaded (${result.downloadedBytes} bytes), each checked against the Hub's sha256 or git blob id.`);
        }
        markTransformersCache(hubCache);
        filled = true;
      } catch (error) {
        // Bytes that differ from the listing twice are not a network hiccup: never convert them.
        if (error instanceof IntegrityError) throw new Error(`The Hub's file list and the downloaded bytes disagree: ${error.message}. The Hub or a proxy between is serving other bytes than it lists; the run stops rather than convert them.`, { cause: error });
        core.warning(`Downloading from the Hub failed (${errorMessage(error)}); the converter will download what it needs itself.`);
      }
    }
    if (report && filled) report = await save(report, paths);
    const offline = canRunOffline(config, models, filled);
    if (!offline && models.every((m) => m.resolved) && filled) {
      info('The converter needs the Hub (ControlNet model cards or the T5 download): it runs online and loads the newest commit of main.');
    }
    const env: Record<string, string> = offline ? { HF_HUB_OFFLINE: '1' } : {};
    return { env, cache: report, downloadedBytes, offline, downloaded };
  });
}

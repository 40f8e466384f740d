import { existsSync, mkdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import * as core from '@actions/core';
import type { Config } from '../config.js';
import type { HubClient } from '../hub/client.js';
import { repoFolder } from '../hub/files.js';
import { CACHE_NAMES, restore, save, type CacheReport } from '../cache/cache.js';
import { hubFilesKey } from '../cache/keys.js';
import { diagnose } from '../converter/diagnose.js';
import { stagedFolder, stagingLinks } from '../fp16/decide.js';
import type { SingleFileRecord, SourceFileRecord } from '../package/manifest.js';
import { childEnvironment, runProcess } from '../process.js';
import { errorMessage } from '../format/error.js';
import { sha256File } from '../checksum.js';
import type { FoundFile, SingleFileCheck } from './check.js';
import { helperArgv, helperResult } from './plan.js';
import { contentConflict, readSingleFileRecord, writeRecord } from './record.js';
import { listPackages } from '../verify/packages.js';
import { info } from '../log.js';

export interface SingleFilePreparation {
  /** The converter's working directory: model-version (the stem) is the folder made there. */
  cwd?: string;
  failure?: string;
  /** The Hugging Face cache of the Hub files, when caching and any file came from the Hub. */
  cache?: CacheReport;
  /** Removes the folder (gigabytes) once the converter is done with it. */
  cleanup(): void;
}

const isDirectory = (p: string) => existsSync(p) && statSync(p).isDirectory();

/** A file on this machine: a workspace file as it is, a Hub file downloaded (checked) into the Hugging Face cache at its commit. */
async function fetchFile(config: Config, hub: HubClient, found: FoundFile): Promise<{ path: string; record: SourceFileRecord }> {
  const { source } = found;
  if (source.where === 'local') {
    return { path: source.path, record: { input: source.input, repo: null, file: path.basename(source.path), commit: null, sha256: found.sha256 ?? (await sha256File(source.path)), size: found.size ?? statSync(source.path).size } };
  }
  const commit = found.commit ?? source.revision;
  const result = await hub.fill(config.runner.hubCache, source.repo, source.revision, commit, found.listed ? [found.listed] : [], [source.file]);
  const local = path.join(repoFolder(config.runner.hubCache, source.repo), 'snapshots', commit, source.file);
  info(`${source.repo}@${commit.slice(0, 12)}/${source.file}: ${result.downloadedFiles > 0 ? `downloaded (${result.downloadedBytes} bytes)` : 'from the cache'}, checked against the Hub's sha256.`);
  return { path: local, record: { input: source.input, repo: source.repo, file: source.file, commit, sha256: found.sha256 ?? (await sha256File(local)), size: found.size ?? statSync(local).size } };
}

/** Pure: the Hub files the helper reads (checkpoint, LoRAs, the config's files), by repository, commit and path. */
export function hubFilesOf(check: SingleFileCheck): Array<{ repo: string; commit: string; file: string }> {
  const files = [check.checkpoint, ...check.loras].flatMap((f) => (f.source.where === 'hub' ? [{ repo: f.source.repo, commit: f.commit ?? f.source.revision, file: f.source.file }] : []));
  const { config } = check;
  return config.where === 'hub' ? [...files, ...config.files.map((f) => ({ repo: config.id, commit: config.commit, file: f.rfilename }))] : files;
}

/**
 * The thin part: downloads the Hub files, fetches the config repository's configs and tokenizers
 * (no weights), runs python/single_file.py offline in the converter's env, and stages its folder
 * as <root>/<model-version>, where the converter then runs (like prepare-fp16's copy).
 */
export async function prepareSingleFile(config: Config, python: string, check: SingleFileCheck, hub: HubClient, caching = false): Promise<SingleFilePreparation> {
  const none: SingleFilePreparation = { cleanup: () => undefined };
  const options = config.singleFile;
  if (!options) return none;
  const root = path.join(config.runner.temp, 'coreml-single-file');
  const cleanup = () => rmSync(root, { recursive: true, force: true });
  const output = stagedFolder(root, config.conversion.modelVersion);
  if (!output) return { ...none, failure: `internal: the model name ${config.conversion.modelVersion} cannot be staged` };
  core.startGroup(`Make a diffusers folder of ${options.checkpoint.input}`);
  const hubFiles = hubFilesOf(check);
  const cachePaths = [...new Set(hubFiles.map((f) => repoFolder(config.runner.hubCache, f.repo)))];
  let cache = caching && hubFiles.length > 0 ? await restore(CACHE_NAMES.hub, cachePaths, hubFilesKey(hubFiles), 'the single file') : undefined;
  try {
    let checkpoint: Awaited<ReturnType<typeof fetchFile>>;
    let loras: Array<Awaited<ReturnType<typeof fetchFile>> & { scale: number }>;
    try {
      checkpoint = await fetchFile(config, hub, check.checkpoint);
      loras = [];
      for (const lora of check.loras) loras.push({ ...(await fetchFile(config, hub, lora)), scale: lora.scale });
      if (check.config.where === 'hub') {
        const { id, commit, files } = check.config;
        const fetched = await hub.fill(config.runner.hubCache, id, 'main', commit, files, files.map((f) => f.rfilename));
        info(`${id}@${commit.slice(0, 12)}: ${files.length} config and tokenizer file(s), ${fetched.downloadedFiles} downloaded, no weights.`);
      }
    } catch (error) {
      return { ...none, cache, failure: `The single-file checkpoint's files could not be downloaded: ${errorMessage(error)}.` };
    }
    // Saved right away, so that a conversion failing later does not cost the next try the download.
    if (cache) cache = await save(cache, cachePaths);
    const conflict = listPackages(config.conversion.outputDir).length > 0 ? contentConflict(readSingleFileRecord(config.conversion.outputDir), { checkpoint: checkpoint.record, loras: loras.map((l) => ({ ...l.record, scale: l.scale })) }) : undefined;
    if (conflict) return { ...none, cache, failure: conflict };
    cleanup();
    mkdirSync(root, { recursive: true });
    const argv = helperArgv({
      python,
      helper: options.helper,
      checkpoint: checkpoint.path,
      kind: check.kind,
      config: check.config.where === 'hub' ? { id: check.config.id, commit: check.config.commit } : { path: check.config.path },
      loras: loras.map((l) => ({ path: l.path, scale: l.scale })),
      output,
      allowPickle: options.allowPickle,
    });
    // Offline: every file it reads is in the cache at its commit, so it reads exactly those.
    const env = childEnvironment({ HF_HUB_OFFLINE: '1', HF_HUB_CACHE: config.runner.hubCache, PYTHONUNBUFFERED: '1' });
    const result = await runProcess(argv, { cwd: config.runner.workspace, env });
    const reported = helperResult(result.tail);
    if (result.exitCode !== 0 || !reported || !isDirectory(output)) {
      cleanup();
      const diagnosis = diagnose(result);
      const title = diagnosis.title.replace(/^The converter\b/, 'The helper');
      const why = result.exitCode === 0 ? 'it printed no SINGLE_FILE_RESULT line or made no folder' : title;
      return { ...none, cache, failure: `python/single_file.py could not make a diffusers folder of ${options.checkpoint.input}: ${why}\n${diagnosis.hints.map((h) => `- ${h}`).join('\n')}` };
    }
    const record: SingleFileRecord = {
      checkpoint: checkpoint.record,
      kind: check.kind,
      config: check.config.where === 'hub' ? { repo: check.config.id, commit: check.config.commit } : { folder: options.modelConfig?.where === 'local' ? options.modelConfig.input : check.config.path },
      loras: loras.map((l) => ({ ...l.record, scale: l.scale })),
      diffusers: reported.diffusers,
      torch: reported.torch ?? null,
    };
    writeRecord(config.conversion.outputDir, record);
    for (const { link, target } of stagingLinks(config, root, isDirectory)) {
      if (existsSync(link)) continue;
      mkdirSync(path.dirname(link), { recursive: true });
      symlinkSync(target, link, 'dir');
    }
    info(`diffusers ${reported.diffusers} made ${output}; the converter runs in ${root} with model-version ${config.conversion.modelVersion}.`);
    return { cwd: root, cleanup, cache };
  } finally {
    core.endGroup();
  }
}

import { existsSync, mkdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import * as core from '@actions/core';
import type { Config } from '../config.js';
import { diagnose } from '../converter/diagnose.js';
import type { HubClient } from '../hub/client.js';
import { childEnvironment, runProcess } from '../process.js';
import { decidePrepareFp16, stagedFolder, stagingLinks, type ModelFiles } from './decide.js';
import { errorMessage } from '../format/error.js';
import { info } from '../log.js';

export interface Fp16Preparation {
  /** The converter's working directory when a copy was staged (else the workspace). */
  cwd?: string;
  /** Why the step must fail, when the helper failed. */
  failure?: string;
  /** Removes the staged copy (gigabytes) once the converter is done with it. */
  cleanup(): void;
}

const isDirectory = (p: string) => existsSync(p) && statSync(p).isDirectory();

async function hubFiles(hub: Pick<HubClient, 'resolve'>, modelVersion: string, revision: string): Promise<ModelFiles> {
  try {
    const { files } = await hub.resolve(modelVersion, revision);
    return { files: files.map((f) => f.rfilename) };
  } catch (error) {
    return { error: errorMessage(error) };
  }
}

/** The model as the Hub stage resolved it: the commit the converter loads, and its files. */
export interface ResolvedModel {
  revision: string;
  files: string[];
  /** The converter loads it offline from the cache the Hub stage filled (HF_HUB_OFFLINE=1). */
  offline?: boolean;
}

/**
 * The thin part: asks the folder or the Hub (unless the Hub stage already did), runs
 * python/prepare_fp16.py at the resolved commit (else at model-revision), and links local inputs
 * into the staging root. `client` is the Hub stage's, asked again only when it could not resolve.
 */
export async function prepareFp16(config: Config, python: string, resolved: ResolvedModel | undefined, client: Pick<HubClient, 'resolve'>): Promise<Fp16Preparation> {
  const none: Fp16Preparation = { cleanup: () => undefined };
  const o = config.conversion;
  const hub = o.modelIsLocal ? undefined : resolved;
  const revision = hub?.revision ?? o.modelRevision;
  const loadsOffline = hub?.offline === true;
  const files =
    config.prepareFp16.mode !== 'auto' || o.modelIsLocal
      ? undefined
      : hub
        ? { files: hub.files }
        : await hubFiles(client, o.modelVersion, revision);
  const decision = decidePrepareFp16(config, files, loadsOffline);
  info(`prepare-fp16: ${decision.run ? 'saving an fp16 copy' : 'not needed'}, ${decision.reason}.`);
  if (decision.warning) core.warning(decision.warning, { title: 'prepare-fp16' });
  const root = path.join(config.runner.temp, 'coreml-fp16');
  const staged = stagedFolder(root, o.modelVersion);
  if (!decision.run || !staged) return none;

  const source = o.modelIsLocal ? path.resolve(config.runner.workspace, o.modelVersion) : o.modelVersion;
  const argv = [python, config.prepareFp16.helper, '--model-version', source, '--output', staged, ...(o.modelIsLocal ? [] : ['--revision', revision])];
  core.startGroup(`Save an fp16 safetensors copy of ${o.modelVersion}`);
  const result = await runProcess(argv, { cwd: config.runner.workspace, env: childEnvironment({ PYTHONUNBUFFERED: '1' }, config.hfToken) });
  core.endGroup();
  const cleanup = () => rmSync(root, { recursive: true, force: true });
  if (result.exitCode !== 0) {
    cleanup();
    // The converter's diagnoses fit the helper too (out of memory, disk, token); only the name differs.
    const diagnosis = diagnose(result);
    const title = diagnosis.title.replace(/^The converter\b/, 'The helper');
    return { ...none, failure: `prepare-fp16 could not save an fp16 copy of ${o.modelVersion}. ${title}\n${diagnosis.hints.map((h) => `- ${h}`).join('\n')}` };
  }
  for (const { link, target } of stagingLinks(config, root, isDirectory)) {
    if (existsSync(link)) continue;
    mkdirSync(path.dirname(link), { recursive: true });
    symlinkSync(target, link, 'dir');
  }
  info(`The converter runs in ${root}, where ${o.modelVersion} is the fp16 copy; the outputs keep that name.`);
  return { cwd: root, cleanup };
}

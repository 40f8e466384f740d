import * as core from '@actions/core';
import type { Config } from '../inputs/config.js';
import type { ResolvedModel } from '../cache/keys.js';
import { HubClient } from './client.js';
import type { HubFile } from './files.js';

export interface ModelRevision extends ResolvedModel {
  files: HubFile[];
}

export function hubEndpoint(env: Readonly<Record<string, string | undefined>>): string {
  return (env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, '');
}

/**
 * The commit each Hub model's revision points at. The converter has no revision flag: the action
 * pins the commit by filling the cache for it and running the converter offline. A Hub that
 * cannot be asked is a warning: the run goes on keyed by the revision name.
 */
export async function resolveModels(config: Config, client: HubClient): Promise<ModelRevision[]> {
  const revision = config.conversion.modelRevision;
  const resolved: ModelRevision[] = [];
  for (const [i, id] of config.conversion.hubIds.entries()) {
    // The revision input names the main model's revision; the others follow their main branch.
    const rev = i === 0 && !config.conversion.modelIsLocal ? revision : 'main';
    try {
      const { sha, files } = await client.resolve(id, rev);
      resolved.push({ id, revision: sha, resolved: true, files });
    } catch (error) {
      core.warning(`Could not resolve ${id}@${rev} on ${client.endpoint} (${error instanceof Error ? error.message : String(error)}); going on keyed by the revision name, and the converter downloads what it needs itself.`);
      resolved.push({ id, revision: rev, resolved: false, files: [] });
    }
  }
  return resolved;
}

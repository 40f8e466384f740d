import * as core from '@actions/core';
import type { Config } from '../config.js';
import type { ResolvedModel } from '../cache/keys.js';
import { HubClient, HubRequestError, type HubAccess, type ModelCard } from './client.js';
import type { HubFile } from './files.js';
import { errorMessage } from '../format/error.js';

export interface ModelRevision extends ResolvedModel {
  files: HubFile[];
  /** What the Hub said of the repository: its access when resolved, the refusal's status when not. */
  access?: HubAccess;
  refusedWith?: number;
  /** The model card's metadata when resolved (null: the repository has none). */
  card?: ModelCard;
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
      const { sha, files, access, card } = await client.resolve(id, rev);
      resolved.push({ id, revision: sha, resolved: true, files, access, card });
    } catch (error) {
      if (error instanceof HubRequestError && (error.status === 401 || error.status === 403) && client.anonymous) {
        resolved.push({ id, revision: rev, resolved: false, files: [], refusedWith: error.status });
        continue; // tokenProblem says what to do
      }
      core.warning(`Could not resolve ${id}@${rev} on ${client.endpoint} (${errorMessage(error)}); going on keyed by the revision name, and the converter downloads what it needs itself.`);
      resolved.push({ id, revision: rev, resolved: false, files: [] });
    }
  }
  return resolved;
}

/**
 * Pure: the error when a model needs a token that was not given. The converter's
 * `use_auth_token=True` is a keyword diffusers 0.30.2 no longer reads, so public models load
 * without a token; gated and private ones do not. Also for a refused lookup: a 401 without a
 * token is the Hub's answer for a private repository, and for one that does not exist.
 */
export function tokenProblem(models: readonly ModelRevision[], token: string): string | undefined {
  if (token !== '') return undefined;
  const gated = models.filter((m) => m.access === 'gated' || m.access === 'private');
  if (gated.length > 0) {
    const named = gated.map((m) => `${m.id} is ${m.access}`).join(', ');
    return `Input \`hf-token\` is empty, but ${named} on the Hub: its files download only with a token${gated.some((m) => m.access === 'gated') ? ' of an account that accepted the model\'s terms on its Hub page' : ' with read access to it'}. Pass one with \`hf-token: \${{ secrets.HF_TOKEN }}\` (a read token is enough).`;
  }
  const refused = models.filter((m) => m.refusedWith !== undefined);
  if (refused.length > 0) {
    return `Input \`hf-token\` is empty, and the Hub refused to list ${refused.map((m) => `${m.id} (${m.refusedWith})`).join(', ')}: the repository is private, or there is none of that name. Check the id; for a private repository pass a token with read access with \`hf-token: \${{ secrets.HF_TOKEN }}\`.`;
  }
  return undefined;
}

import { HubApiError, whoAmI } from '@huggingface/hub';
import type { Config } from '../../config.js';
import type { ModelRevision } from '../../hub/models.js';
import { HubPublishError, HubWriter } from '../../hub/publish-client.js';
import { diagnoseHubFailure } from '../../hub/write-faults.js';
import { Halt } from '../../halt.js';
import { errorMessage } from '../../format/error.js';
import { visibilityProblem } from './visibility.js';
import { sourceModel } from './stage.js';
import { info } from '../../log.js';

/** Pure: why a token of this role cannot commit, or undefined ('fineGrained' tokens are judged by the Hub per repository). */
export function tokenRoleProblem(role: string | undefined, repo: string): string | undefined {
  if (role !== 'read') return undefined;
  return `Input \`hub-token\` is a "read" token: committing to ${repo} needs write access. Create a token with the "write" role, or a fine-grained one with write access to ${repo.split('/')[0]}'s repositories, at https://huggingface.co/settings/tokens.`;
}

/**
 * Before anything is installed: the token may write, and a private source model does not go to a
 * public repository (the rule of hub-private). A Hub that cannot be asked is left to the publish.
 */
export async function hubPreflight(config: Config, models: readonly ModelRevision[]): Promise<void> {
  const hub = config.publish.hub;
  if (!hub) return;
  const problems: string[] = [];
  try {
    const me = await whoAmI({ hubUrl: hub.endpoint, accessToken: hub.token });
    const problem = tokenRoleProblem(me.auth.accessToken?.role, hub.repo);
    if (problem) problems.push(problem);
  } catch (error) {
    if (error instanceof HubApiError && error.statusCode === 401) {
      problems.push(diagnoseHubFailure({ status: 401, operation: 'read the repository', repo: hub.repo, revision: hub.revision, message: '' }));
    } else info(`Could not ask the Hub who hub-token belongs to (${errorMessage(error)}); the commit will tell.`);
  }
  try {
    const state = await new HubWriter(hub).state();
    const problem = visibilityProblem({ source: sourceModel(config, models), repo: hub.repo, exists: state.exists, isPrivate: state.private, hubPrivate: hub.private });
    if (problem) problems.push(problem);
  } catch (error) {
    const status = error instanceof HubPublishError ? error.status : undefined;
    if (status === 401 || status === 403) problems.push(errorMessage(error));
    else info(`Could not read ${hub.repo} before converting (${errorMessage(error)}); the publish will try again.`);
  }
  if (problems.length > 0) throw new Halt(problems, 'Hugging Face Hub', `${problems.join('\n')}\nNothing was installed or converted.`);
}

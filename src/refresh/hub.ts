import * as core from '@actions/core';
import type { Config, HubPublishOptions } from '../config.js';
import { publishedNames, variantName } from '../package/names.js';
import { publishedIdentity, type PublishedIdentity } from '../package/manifest.js';
import { HubWriter } from '../hub/publish-client.js';
import { inFolder, variantFolder } from '../hub/layout.js';
import { errorMessage } from '../format/error.js';
import { identityOf, judge, replacedBy } from './compare.js';
import type { RefreshDecision } from './stage.js';
import type { SingleFileCheck } from '../single-file/check.js';

type Lookup = Parameters<typeof judge>[2];

/** What skip-if-unchanged reads of a Hub repository: whether it exists, and a file's text. */
export interface HubManifestSource {
  state(): Promise<{ exists: boolean }>;
  readText(path: string): Promise<string | undefined>;
}

/** The manifest's text as the comparison reads it: missing, unreadable, or what it recorded. */
export function identityFromText(text: string | undefined): PublishedIdentity | Error | undefined {
  if (text === undefined) return undefined;
  try {
    return publishedIdentity(JSON.parse(text));
  } catch (error) {
    return new Error(`not JSON (${errorMessage(error)})`);
  }
}

/**
 * skip-if-unchanged against the Hub repository of hub-repo: this variant's manifest in its folder
 * (hub-path-in-repo), judged by the same rules as a release's.
 */
export async function decideHubRefresh(
  config: Config,
  models: ReadonlyArray<{ id: string; revision: string; resolved: boolean }>,
  hub: HubPublishOptions,
  singleFile?: SingleFileCheck,
  source: HubManifestSource = new HubWriter(hub),
): Promise<RefreshDecision> {
  const wanted = identityOf(config, models, singleFile);
  const names = publishedNames({ conversion: config.conversion, assetPrefix: config.publish.assetPrefix, coreAi: config.coreAi });
  const manifestPath = inFolder(variantFolder(hub.pathInRepo, variantName(config.conversion, config.coreAi)), names.manifest);
  const place = `Hub repository ${hub.repo} (${hub.revision})`;
  let lookup: Lookup;
  try {
    const { exists } = await source.state();
    lookup = exists ? { release: true, manifestName: manifestPath, manifest: identityFromText(await source.readText(manifestPath)) } : { release: false };
  } catch (error) {
    const message = errorMessage(error);
    core.warning(`skip-if-unchanged could not read the ${place} (${message}): converting.`, { title: 'skip-if-unchanged' });
    return { verdict: { current: false, reason: `the ${place} could not be read (${message})`, differences: [] } };
  }
  return { verdict: judge(wanted, hub.repo, lookup, place), replaced: lookup.release ? replacedBy(wanted, lookup.manifest) : undefined };
}

import * as core from '@actions/core';
import type { Config } from '../config.js';
import { publishedNames } from '../package/names.js';
import { githubAssetName, Releases, type AssetInfo, type ReleaseInfo } from '../github/releases.js';
import { identityOf, judge, replacedBy, type Verdict } from './compare.js';
import { publishedIdentity, type PublishedIdentity, type Replaced } from '../package/manifest.js';
import { errorMessage } from '../format/error.js';
import type { SingleFileCheck } from '../single-file/check.js';

/**
 * The thin part of skip-if-unchanged: reads the release of a tag and this variant's manifest
 * through the one releases module, and hands them to the pure comparison. Reads are memoized per
 * tag, so that a plan of many variants sharing a release asks once.
 */

type Lookup = Parameters<typeof judge>[2];
type ReleasesApi = Pick<Releases, 'findRelease' | 'listAssets' | 'readReleaseManifest'>;

export class ReleaseReader {
  private readonly releases = new Map<string, Promise<{ release?: ReleaseInfo; assets: AssetInfo[] }>>();
  private readonly manifests = new Map<string, Promise<PublishedIdentity | Error>>();

  constructor(private readonly api: ReleasesApi) {}

  static async open(token: string, github: Config['publish']['github']): Promise<ReleaseReader> {
    return new ReleaseReader(await Releases.open(token, github));
  }

  /** Whether the tag has a release, and if so this variant's manifest: missing, unreadable, or what it recorded. */
  async lookup(tag: string, manifestName: string): Promise<Lookup> {
    let found = this.releases.get(tag);
    if (!found) {
      found = (async () => {
        const release = await this.api.findRelease(tag);
        return { release, assets: release ? await this.api.listAssets(release.id) : [] };
      })();
      this.releases.set(tag, found);
    }
    const { release, assets } = await found;
    if (!release) return { release: false };
    if (!assets.some((a) => a.name === githubAssetName(manifestName) && a.state === 'uploaded')) return { release: true, manifestName, manifest: undefined };
    const key = `${tag}\u0000${manifestName}`;
    let manifest = this.manifests.get(key);
    if (!manifest) {
      manifest = this.api.readReleaseManifest(tag, manifestName).then((json) => (json === undefined ? new Error('not a JSON object, or the download failed') : publishedIdentity(json)));
      this.manifests.set(key, manifest);
    }
    return { release: true, manifestName, manifest: await manifest };
  }
}

export interface RefreshDecision {
  verdict: Verdict;
  /** For the new manifest's `replaces`: what the release held, when it held another conversion. */
  replaced?: Replaced;
}

/** Compares one run (its Config, resolved models and single file) with the release it would publish to. */
export async function decideRefresh(
  config: Config,
  models: ReadonlyArray<{ id: string; revision: string; resolved: boolean }>,
  tag: string,
  reader: ReleaseReader,
  singleFile?: SingleFileCheck,
): Promise<RefreshDecision> {
  const wanted = identityOf(config, models, singleFile);
  const manifestName = publishedNames({ conversion: config.conversion, assetPrefix: config.publish.assetPrefix, coreAi: config.coreAi }).manifest;
  let lookup: Lookup;
  try {
    lookup = await reader.lookup(tag, manifestName);
  } catch (error) {
    const message = errorMessage(error);
    core.warning(`skip-if-unchanged could not read the release ${tag} (${message}): converting.`, { title: 'skip-if-unchanged' });
    return { verdict: { current: false, reason: `the release ${tag} could not be read (${message})`, differences: [] } };
  }
  const verdict = judge(wanted, tag, lookup);
  const replaced = lookup.release ? replacedBy(wanted, lookup.manifest) : undefined;
  return { verdict, replaced };
}

/** The log and summary lines of a verdict. */
export function describeVerdict(verdict: Verdict): string[] {
  if (verdict.current) return [`Unchanged: ${verdict.matched}.`];
  return [`Converting: ${verdict.reason}.`, ...verdict.differences.map((d) => `- ${d}`)];
}

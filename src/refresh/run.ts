import * as core from '@actions/core';
import type { Config } from '../config.js';
import { setOutput } from '../outputs.js';
import type { Replaced } from '../package/manifest.js';
import { decideRefresh, describeVerdict, ReleaseReader, type RefreshDecision } from './stage.js';
import { decideHubRefresh } from './hub.js';
import { errorMessage } from '../format/error.js';
import type { SingleFileCheck } from '../single-file/check.js';
import { info } from '../log.js';

export interface RefreshOutcome {
  /** The release is current: the step ends here, before any setup (main's summary says why). */
  skipped: boolean;
  /** What the new manifest replaces, when the release held another conversion. */
  replaced?: Replaced;
  /** The verdict, when a release was compared with (a dry run reports it and goes on). */
  verdict?: { current: boolean; lines: string[] };
}

/**
 * The skip-if-unchanged stage of the main action, after the Hub resolved the commits (and the
 * single-file stage read the file's sha256s) and before any setup: sets the `skipped` output and
 * says whether the release is current. A dry run compares too, but never skips: it reports what a
 * real run would do.
 */
export async function refreshStage(config: Config, models: ReadonlyArray<{ id: string; revision: string; resolved: boolean }>, singleFile?: SingleFileCheck): Promise<RefreshOutcome> {
  const tag = config.publish.release?.tag;
  const hub = config.publish.hub;
  if (!config.skipIfUnchanged || (tag === undefined && hub === undefined)) {
    setOutput('skipped', false);
    return { skipped: false };
  }
  // Current only when every place this run publishes to holds this conversion.
  const decisions: RefreshDecision[] = [];
  if (tag !== undefined) decisions.push(await releaseDecision(config, models, tag, singleFile));
  if (hub !== undefined) decisions.push(await decideHubRefresh(config, models, hub, singleFile));
  const lines = decisions.flatMap((d) => describeVerdict(d.verdict));
  const current = decisions.every((d) => d.verdict.current);
  info(`skip-if-unchanged: ${lines.join('\n  ')}`);
  const verdict = { current, lines };
  setOutput('skipped', current && !config.dryRun);
  if (config.dryRun) return { skipped: false, verdict };
  if (current) return { skipped: true, verdict };
  return { skipped: false, replaced: decisions.find((d) => d.replaced)?.replaced, verdict };
}

async function releaseDecision(config: Config, models: ReadonlyArray<{ id: string; revision: string; resolved: boolean }>, tag: string, singleFile?: SingleFileCheck): Promise<RefreshDecision> {
  let reader: ReleaseReader | undefined;
  try {
    reader = await ReleaseReader.open(config.publish.githubToken, config.publish.github);
  } catch (error) {
    core.warning(`skip-if-unchanged cannot read the releases (${errorMessage(error)}): converting.`, { title: 'skip-if-unchanged' });
  }
  return reader ? decideRefresh(config, models, tag, reader, singleFile) : { verdict: { current: false, reason: 'the releases could not be read', differences: [] } };
}

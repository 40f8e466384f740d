import * as core from '@actions/core';
import type { Config } from '../inputs/config.js';
import { setOutput } from '../outputs.js';
import type { Replaced } from '../package/manifest.js';
import { decideRefresh, describeVerdict, ReleaseReader } from './stage.js';
import { errorMessage } from '../format/error.js';

export interface RefreshOutcome {
  /** The release is current: the step ends here, before any setup (main's summary says why). */
  skipped: boolean;
  /** What the new manifest replaces, when the release held another conversion. */
  replaced?: Replaced;
  /** The verdict, when a release was compared with (a dry run reports it and goes on). */
  verdict?: { current: boolean; lines: string[] };
}

/**
 * The skip-if-unchanged stage of the main action, after the Hub resolved the commits and before
 * any setup: sets the `skipped` output and says whether the release is current. A dry
 * run compares too, but never skips: it reports what a real run would do.
 */
export async function refreshStage(config: Config, models: ReadonlyArray<{ id: string; revision: string; resolved: boolean }>): Promise<RefreshOutcome> {
  const tag = config.publish.release?.tag;
  if (!config.skipIfUnchanged || tag === undefined) {
    setOutput('skipped', false);
    return { skipped: false };
  }
  let reader: ReleaseReader | undefined;
  try {
    reader = await ReleaseReader.open(config.publish.githubToken, config.publish.github);
  } catch (error) {
    core.warning(`skip-if-unchanged cannot read the releases (${errorMessage(error)}): converting.`, { title: 'skip-if-unchanged' });
  }
  const decision = reader
    ? await decideRefresh(config, models, tag, reader)
    : { verdict: { current: false as const, reason: 'the releases could not be read', differences: [] } };
  const lines = describeVerdict(decision.verdict);
  core.info(`skip-if-unchanged: ${lines.join('\n  ')}`);
  const verdict = { current: decision.verdict.current, lines };
  setOutput('skipped', decision.verdict.current && !config.dryRun);
  if (config.dryRun) return { skipped: false, verdict };
  if (decision.verdict.current) return { skipped: true, verdict };
  return { skipped: false, replaced: 'replaced' in decision ? decision.replaced : undefined, verdict };
}

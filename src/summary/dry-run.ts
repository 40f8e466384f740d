import type { Config } from '../config.js';
import type { KindCheck } from '../hub/kind.js';
import type { ModelRevision } from '../hub/models.js';
import { singleFileSummary, type SingleFileCheck } from '../single-file/check.js';

/** What a dry run found out without installing anything, for its log and summary. */
export interface DryRunFacts {
  models: readonly ModelRevision[];
  kind: KindCheck;
  /** skip-if-unchanged's verdict (it needs a release-tag); undefined when it is off. */
  refresh?: { current: boolean; lines: string[] };
  /** model-version was a single file: what its header and the Hub said. */
  singleFile?: SingleFileCheck;
  /** The budget's verdict on this runner (src/budget/); undefined when no size was known. */
  budget?: { memory: string; refused: string[]; warned: string[]; disk: 'ok' | 'warn' | 'refuse' };
}

/** Pure: one line per check the dry run made, saying what a real run would do. */
export function dryRunChecks(config: Config, facts: DryRunFacts): string[] {
  const o = config.conversion;
  const lines: string[] = [];
  if (facts.singleFile) lines.push(`Single file: ${singleFileSummary(facts.singleFile)} A real run makes a diffusers folder of it and converts that as \`${o.modelVersion}\`.`);
  else if (o.modelIsLocal) lines.push(`\`${o.modelVersion}\` is a local folder: no Hub revision to resolve.`);
  for (const [i, m] of facts.models.entries()) {
    const asked = i === 0 && !o.modelIsLocal ? o.modelRevision : 'main';
    lines.push(m.resolved ? `\`${m.id}\`@${asked} resolves to commit \`${m.revision}\` (${m.files.length} files).` : `\`${m.id}\`@${asked} could not be resolved on the Hub: a real run would go on keyed by the revision name.`);
  }
  if (facts.kind.error) lines.push(`Model kind: ${facts.kind.error}`);
  else if (facts.kind.warning) lines.push(`Model kind: ${facts.kind.warning}`);
  else if (!o.modelIsLocal && facts.models[0]?.resolved) lines.push(`Model kind: consistent with \`xl-version: ${o.xlVersion}\`${o.sd3Version ? ` and \`sd3-version: ${o.sd3Version}\`` : ''}.`);
  if (facts.budget) {
    const b = facts.budget;
    const verdicts = [
      ...(b.refused.length > 0 ? [`refuse ${b.refused.join(', ')} (over the runner's memory)`] : []),
      ...(b.warned.length > 0 ? [`warn that ${b.warned.join(', ')} would swap`] : []),
      ...(b.disk !== 'ok' ? [b.disk === 'refuse' ? 'refuse for lack of disk' : 'warn that the disk is tight'] : []),
    ];
    lines.push(`Budget on this runner (${b.memory} of memory): a real run would ${verdicts.length > 0 ? verdicts.join('; ') : 'go on, every process within its memory'}. The figures are in the log and the summary.`);
  }
  if (facts.refresh) lines.push(`skip-if-unchanged: a real run would ${facts.refresh.current ? 'skip' : 'convert'}. ${facts.refresh.lines.join(' ')}`);
  return lines;
}

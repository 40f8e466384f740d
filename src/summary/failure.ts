import { Halt } from '../halt.js';
import { errorMessage } from '../format/error.js';
import { scrubSecrets } from '../secrets.js';

/**
 * What the entry knows when a stage throws: the stage it was in and, once planned, the plan. The
 * entry fills it as it goes; the failure summary is written from it (renderFailure).
 */
export interface FailureTrail {
  stage: string;
  /** The planned converter processes (argv), once the plan stage has run. */
  commands?: string[][];
}

/** Pure: the step summary of a run that a stage ended by throwing (a Halt or anything else). */
export function renderFailure(trail: FailureTrail, error: unknown): string {
  const errors = error instanceof Halt ? error.errors : [errorMessage(error)];
  const lines = [
    '## Core ML conversion: failed',
    '',
    `**Stage:** ${trail.stage}${error instanceof Halt ? ` (${error.title})` : ''}`,
    '',
    '### What went wrong',
    '',
    ...errors.map((e) => `- ${scrubSecrets(e).replaceAll('\n', '\n  ')}`),
  ];
  if (trail.commands && trail.commands.length > 0) {
    lines.push('', '### The plan (not run to its end)', '', '```', ...trail.commands.map((argv) => argv.join(' ')), '```');
  } else {
    lines.push('', 'Nothing was planned yet: no converter process ran, nothing was installed.');
  }
  return `${lines.join('\n')}\n`;
}

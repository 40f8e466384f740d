import { randomBytes } from 'node:crypto';
import * as core from '@actions/core';
import { scrubSecrets } from './secrets.js';

/**
 * Log lines that hold what the action does not control (input values, file names, what a server
 * or the converter said) must not be read by the runner as workflow commands. The runner reads a
 * command from any output line that, trimmed, starts with `::` (`::add-path::`, `::warning::`...)
 * or, in the old form, `##[`; it splits lines at LF, CR and CRLF. @actions/core escapes the
 * message of error/warning/notice/group (they follow the command), but core.info writes the text
 * as it is: every info line goes through here instead.
 */

/** A line the runner would take as a command, once trimmed. */
const COMMAND_START = /^\s*(::|##\[)/;
/** What stands before such a line: visible, and not white space (the runner trims that away). */
export const NEUTRAL_PREFIX = '\u00b7 ';

/** Pure: the text with every line that would start a workflow command prefixed, and CR alone made a line break. */
export function neutralise(text: string): string {
  return text
    .split(/\r\n|\r|\n/)
    .map((line) => (COMMAND_START.test(line) ? `${NEUTRAL_PREFIX}${line}` : line))
    .join('\n');
}

/** core.info for text built from inputs, file names or answers: no line of it can start a command, no token shows. */
export function info(message: string): void {
  core.info(neutralise(scrubSecrets(message)));
}

/**
 * Output of another program (pip, the converter, the Python helpers), echoed live: between
 * `::stop-commands::<token>` and `::<token>::` the runner reads no workflow command at all, so a
 * converter line that starts with `::` (or a model that makes it print one) stays text. The token
 * is random per run and never given to the child, so the child cannot end the pause itself.
 * Chosen over prefixing each line because the echo is a raw stream (tqdm frames joined by CR,
 * lines split across chunks): wrapping it leaves the bytes as they are.
 */
export class CommandPause {
  readonly token = `coreml-action-${randomBytes(16).toString('hex')}`;
  private paused = false;

  constructor(private readonly write: (text: string) => void = (text) => process.stdout.write(text)) {}

  start(): void {
    if (this.paused) return;
    this.paused = true;
    this.write(`::stop-commands::${this.token}\n`);
  }

  /** Resumes commands; a partial last line of the child is ended first, so the resume stands on its own line. */
  stop(endsWithNewline: boolean): void {
    if (!this.paused) return;
    this.paused = false;
    this.write(`${endsWithNewline ? '' : '\n'}::${this.token}::\n`);
  }
}

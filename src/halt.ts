import * as core from '@actions/core';
import { errorMessage } from './format/error.js';
import { scrubSecrets } from './secrets.js';

/**
 * A stage's reason to end the run where it stands, before anything after it runs: each error is
 * annotated under `title` and the step fails with `message`. The entry's catch reports it.
 */
export class Halt extends Error {
  constructor(
    readonly errors: readonly string[],
    readonly title: string,
    message = errors.join('\n'),
  ) {
    super(message);
    this.name = 'Halt';
  }

  report(): void {
    this.errors.forEach((e) => core.error(scrubSecrets(e), { title: this.title }));
    core.setFailed(scrubSecrets(this.message));
  }
}

/** The entries' last catch: a Halt as its stage said, anything else as its message. */
export function failRun(error: unknown): void {
  if (error instanceof Halt) error.report();
  else core.setFailed(errorMessage(error));
}

import { scrubSecrets } from '../secrets.js';

/**
 * The text of anything thrown: an Error's message, else the value as a string; scrubbed of the
 * run's tokens and of Authorization values (an HTTP client's error may quote a header).
 */
export function errorMessage(error: unknown): string {
  return scrubSecrets(error instanceof Error ? error.message : String(error));
}

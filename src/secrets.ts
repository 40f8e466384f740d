import * as core from '@actions/core';

/**
 * The tokens of a run (hf-token, github-token, hub-token, the plan's): masked in the runner's log
 * before the first line is written, and scrubbed from any error text before it is logged. The
 * runner masks whole values only, so a value is masked whole and in the pieces white space or a
 * control character would split it into (a token holding one is refused, but its halves must not
 * show either).
 */
const known = new Set<string>();

/** The shortest piece of a split token that is masked on its own (shorter pieces tell nothing). */
const MIN_PIECE = 4;

/** Pure: what to mask for a value: itself, and each piece between white space or control characters. */
export function maskedForms(value: string): string[] {
  const whole = value.trim();
  if (whole === '') return [];
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  const pieces = whole.split(/[\s\u0000-\u001f\u007f]+/).filter((p) => p.length >= MIN_PIECE);
  return [...new Set([whole, ...pieces])];
}

/** Masks a token (and its pieces) in the runner's log, and remembers it for scrubSecrets. */
export function maskSecret(value: string | undefined): void {
  for (const form of maskedForms(value ?? '')) {
    if (known.has(form)) continue;
    known.add(form);
    core.setSecret(form);
  }
}

/** Credentials in text of HTTP errors: Authorization headers, bearer tokens, and the token forms of GitHub and Hugging Face. */
const CREDENTIAL_PATTERNS: ReadonlyArray<readonly [RegExp, string]> = [
  [/(authorization["']?\s*[:=]\s*["']?)((?:bearer|token|basic)\s+)?[^\s"',;}]+/gi, '$1$2***'],
  // A word after `Bearer`/`token` that looks like a credential (long, with a digit), not prose.
  [/\b(bearer|token)\s+(?=[A-Za-z0-9._~+/=-]*\d)[A-Za-z0-9._~+/=-]{16,}/gi, '$1 ***'],
  // The shapes of GitHub and Hugging Face tokens (hf_ with no further `_`: hf_hub_download stays).
  [/\b(gh[pousr]_|github_pat_)[A-Za-z0-9_]{20,}/g, '$1***'],
  [/\bhf_[A-Za-z0-9]{20,}\b/g, 'hf_***'],
  [/(\/\/)[^/\s@]+@/g, '$1***@'],
];

/** Pure: text with the given secrets (and their pieces) and any credential-shaped value replaced by ***. */
export function scrubText(text: string, secrets: Iterable<string>): string {
  let out = text;
  const forms = [...secrets].flatMap(maskedForms).sort((a, b) => b.length - a.length);
  for (const form of forms) out = out.split(form).join('***');
  for (const [pattern, replacement] of CREDENTIAL_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/** Scrubs the run's known tokens and credential-shaped values from a text about to be logged. */
export function scrubSecrets(text: string): string {
  return scrubText(text, known);
}

import * as path from 'node:path';
import type { InputName } from './names.js';

/** C0 controls (CR, LF, NUL and the rest) and DEL: none may start a log line, split a header or hide in a name. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/** What a value may hold beyond printable text: nothing, or new lines (inputs read as one item a line). */
export type InputShape = 'line' | 'lines';

/** How FieldReader screens raw values before any reader sees them. */
export interface InputScreen<N extends string> {
  /** Inputs read one item a line (lists, extra-args, release-notes): LF (and CRLF, tab in release-notes) allowed. */
  lines?: ReadonlySet<N>;
  /** Inputs whose value may hold a tab besides new lines (free text, Markdown). */
  tabs?: ReadonlySet<N>;
  /** Tokens: no white space at all, and never quoted in a message. */
  secrets?: ReadonlySet<N>;
  /** Free text, where a URL with credentials is the user's own text (not fetched, not copied into a name). */
  freeText?: ReadonlySet<N>;
}

/** Pure: why a raw input value cannot be used at all (its value is never quoted), or undefined. */
export function screenProblem(value: string, shape: { lines: boolean; tabs: boolean; secret: boolean; freeText: boolean }): string | undefined {
  if (shape.secret) {
    // core.getInput trims; a token holds no white space anywhere (a pasted newline would split it in two halves).
    if (CONTROL.test(value) || /\s/.test(value)) return 'holds white space or a control character (a token never does: check how the secret was pasted); its value is not shown';
    return undefined;
  }
  const rest = shape.lines ? value.replace(/\r?\n/g, '') : value;
  const rest2 = shape.tabs ? rest.replaceAll('\t', '') : rest;
  if (CONTROL.test(rest2)) {
    return `holds a control character (CR, LF, NUL, another C0 character or DEL)${shape.lines ? ' other than a line break' : ''}, which could start a line of the log or split a name; its value is not shown`;
  }
  if (!shape.freeText && urlWithCredentials(value)) {
    return 'holds a URL with credentials (user:password@ or token@ before the host): they would be copied into logs, the release notes and the manifest. Give the token through hf-token or the tool\'s own configuration instead; the value is not shown';
  }
  return undefined;
}

/** Pure: a URL that carries user information (`scheme://user[:password]@host`). */
export function urlWithCredentials(value: string): boolean {
  return /[a-z][a-z0-9+.-]*:\/\/[^/?#\s@]*@/i.test(value);
}

/** Plain decimal numbers: digits, an optional fraction; no hex, exponent, sign or spaces (`0x28` is refused, not read as 40). */
export const PLAIN_DECIMAL = /^\d+(\.\d+)?$/;
/** Plain decimal with an optional minus (a LoRA scale may be negative). */
export const SIGNED_DECIMAL = /^-?\d+(\.\d+)?$/;

/**
 * Typed readers for single inputs (of action.yml by default; N names those of another action
 * file). Each reader records a message naming the input and saying what is accepted, and returns
 * undefined, so that every bad input is reported in one go. Every raw value is screened first
 * (screenProblem): a refused value reads as empty, and is reported once, without its value.
 */
export class FieldReader<N extends string = InputName> {
  readonly errors: string[] = [];
  /** Inputs whose raw value was refused: later messages about them are left out (they would quote it). */
  private readonly refused = new Set<N>();
  private readonly raw: (name: N) => string;
  /** The tokens as given (only those that passed the screen), to be masked before anything is logged. */
  readonly secrets: string[] = [];

  constructor(raw: (name: N) => string, screen: InputScreen<N> = {}) {
    const seen = new Set<N>();
    this.raw = (name) => {
      const value = raw(name);
      const problem = screenProblem(value.trim(), {
        lines: screen.lines?.has(name) ?? false,
        tabs: screen.tabs?.has(name) ?? false,
        secret: screen.secrets?.has(name) ?? false,
        freeText: screen.freeText?.has(name) ?? false,
      });
      if (!seen.has(name)) {
        seen.add(name);
        if (problem) {
          this.fail(name, `${problem}.`);
          this.refused.add(name);
        } else if (screen.secrets?.has(name) && value.trim() !== '') this.secrets.push(value.trim());
      }
      return problem ? '' : value;
    };
  }

  /** Whether an input's raw value was refused by the screen. */
  wasRefused(name: N): boolean {
    return this.refused.has(name);
  }

  fail(name: N, message: string): undefined {
    if (this.refused.has(name)) return undefined;
    this.errors.push(`Input \`${name}\` ${message}`);
    return undefined;
  }

  text(name: N): string {
    return this.raw(name).trim();
  }

  optionalText(name: N): string | undefined {
    return this.text(name) || undefined;
  }

  /** Same spellings as @actions/core's getBooleanInput; empty takes the fallback. */
  bool(name: N, fallback: boolean): boolean {
    const value = this.text(name);
    if (value === '') return fallback;
    if (['true', 'True', 'TRUE'].includes(value)) return true;
    if (['false', 'False', 'FALSE'].includes(value)) return false;
    this.fail(name, `must be true or false, got ${JSON.stringify(value)}.`);
    return fallback;
  }

  oneOf<T extends string | number>(name: N, allowed: readonly T[], fallback: T): T;
  oneOf<T extends string | number>(name: N, allowed: readonly T[]): T | undefined;
  oneOf<T extends string | number>(name: N, allowed: readonly T[], fallback?: T): T | undefined {
    const value = this.text(name);
    if (value === '') return fallback;
    const match = allowed.find((option) => String(option) === value);
    if (match === undefined) {
      // The fallback, as the overload's type says: the rules still judge the rest (the error stops the run).
      this.fail(name, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}.`);
      return fallback;
    }
    return match;
  }

  positiveInteger(name: N, multipleOf = 1, why = ''): number | undefined {
    const value = this.text(name);
    if (value === '') return undefined;
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n <= 0 || n % multipleOf !== 0) {
      const what = multipleOf === 1 ? 'a positive whole number' : `a positive multiple of ${multipleOf}`;
      return this.fail(name, `must be ${what}${why}, got ${JSON.stringify(value)}.`);
    }
    return n;
  }

  positiveNumber(name: N, fallback: number): number {
    const value = this.text(name);
    if (value === '') return fallback;
    const n = PLAIN_DECIMAL.test(value) ? Number(value) : NaN;
    if (!Number.isFinite(n) || n <= 0) {
      this.fail(name, `must be a positive number of dB in plain decimal (such as 35 or 37.5), got ${JSON.stringify(value)}.`);
      return fallback;
    }
    return n;
  }

  /** A whole number from min to max (digits only: no sign, exponent or fraction); empty takes the fallback. */
  integerIn(name: N, min: number, max: number, fallback: number): number {
    const value = this.text(name);
    if (value === '') return fallback;
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      this.fail(name, `must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}.`);
      return fallback;
    }
    return n;
  }

  /** A plain decimal from min to max (PLAIN_DECIMAL: no sign, exponent or hex); empty takes the fallback. */
  decimalIn(name: N, min: number, max: number, fallback: number): number {
    const value = this.text(name);
    if (value === '') return fallback;
    const n = PLAIN_DECIMAL.test(value) ? Number(value) : NaN;
    if (!Number.isFinite(n) || n < min || n > max) {
      this.fail(name, `must be a plain decimal number from ${min} to ${max} (such as 7.5), got ${JSON.stringify(value)}.`);
      return fallback;
    }
    return n;
  }

  httpUrl(name: N): string | undefined {
    const value = this.text(name);
    if (value === '') return undefined;
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      return this.fail(name, `must be an http(s) URL, got ${JSON.stringify(value)}.`);
    }
    if (url.username !== '' || url.password !== '') {
      return this.fail(name, 'must be a URL without credentials (user:password@ before the host): the URL is passed to the converter and appears in its log; the value is not shown.');
    }
    return value;
  }

  /** Items separated by white space, commas or new lines. */
  list(name: N): string[] {
    return this.text(name)
      .split(/[\s,]+/)
      .filter((item) => item !== '');
  }

  /** One item a line, lines kept whole (for arguments that may hold spaces); `#` starts a comment line. */
  lines(name: N): string[] {
    return this.raw(name)
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
  }
}

/** A Hub repository id, as the Hub accepts it: [owner/]name of letters, digits, `-`, `_`, `.`. */
export function isHubId(value: string): boolean {
  return (
    /^(?:[A-Za-z0-9][\w.-]{0,95}\/)?[A-Za-z0-9][\w.-]{0,95}$/.test(value) &&
    !value.includes('--') &&
    !value.includes('..') &&
    !/[.-]$/.test(value)
  );
}

export function resolveIn(workspace: string, value: string): string {
  return path.resolve(workspace, value);
}

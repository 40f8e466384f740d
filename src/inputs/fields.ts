import * as path from 'node:path';
import type { InputName } from './names.js';

/**
 * Typed readers for single inputs (of action.yml by default; N names those of another action
 * file). Each reader records a message naming the input and saying what is accepted, and returns
 * undefined, so that every bad input is reported in one go.
 */
export class FieldReader<N extends string = InputName> {
  readonly errors: string[] = [];

  constructor(private readonly raw: (name: N) => string) {}

  fail(name: N, message: string): undefined {
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
      return this.fail(name, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}.`);
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
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) {
      this.fail(name, `must be a positive number of dB, got ${JSON.stringify(value)}.`);
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

import type { BackendName } from '../config.js';
import type { Backend } from '../backends/backend.js';
import { BACKENDS } from '../backends/registry.js';
import { INPUT_DEFAULTS, type InputName } from './names.js';

/**
 * Inputs that only another backend reads (its `ownInputs`), refused by name when given: a workflow
 * that sets compute-unit and then asks for core-ai would otherwise get a conversion that silently
 * ignored it. Generic over BACKENDS, so a third backend is checked the moment it is registered.
 */

/** An input given (trimmed, non-empty, and not action.yml's default) that the chosen backend does not read. */
export interface ForeignInput {
  input: InputName;
  /** The backend that reads it. */
  owner: Backend;
}

/**
 * Pure: whether the workflow gave an input. The runner passes action.yml's default for an input left
 * out, and a matrix passes '' for an entry without it; both mean "not given".
 */
export function isGiven(name: InputName, value: string): boolean {
  const trimmed = value.trim();
  return trimmed !== '' && trimmed !== INPUT_DEFAULTS[name];
}

/** Pure: the inputs given that another backend than `chosen` owns, in the backends' order, then their lists'. */
export function foreignInputs(
  raw: (name: InputName) => string,
  chosen: BackendName,
  backends: Readonly<Record<string, Backend>> = BACKENDS,
): ForeignInput[] {
  const mine = new Set(backends[chosen]?.ownInputs ?? []);
  return Object.values(backends)
    .filter((owner) => owner.name !== chosen)
    .flatMap((owner) => owner.ownInputs.filter((input) => !mine.has(input) && isGiven(input, raw(input))).map((input) => ({ input, owner })));
}

/** The error for a foreign input (never quoting its value, which was not screened). */
export function foreignMessage({ input, owner }: ForeignInput, chosen: BackendName): string {
  return `Input \`${input}\` is read by backend ${owner.name} only, for ${owner.label}; backend is ${chosen}, which has no use for it: remove it, or set \`backend: ${owner.name}\`.`;
}

/**
 * The raw inputs with each foreign one read as its action.yml default: it is reported once (above),
 * and neither a reader nor a preset sees it again. Pure.
 */
export function withoutForeign(raw: (name: InputName) => string, foreign: readonly ForeignInput[]): (name: InputName) => string {
  if (foreign.length === 0) return raw;
  const refused = new Set(foreign.map((f) => f.input));
  return (name) => (refused.has(name) ? INPUT_DEFAULTS[name] : raw(name));
}

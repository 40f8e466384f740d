import type { ConversionIdentity } from '../refresh/compare.js';
import { CONVERTER_COMMIT } from '../converter/vocabulary.js';

/**
 * Pure: the identity a hand-off carries, flat (one string per entry, so that a difference names its
 * entry): the action's major version, the converter's commit, each model's commit (`<role> <id>`),
 * every converter input (converterInputs), and a single file's sha256s. Both jobs compute it from
 * the same inputs and the Hub's answers; the converter's environment is not in it (each job has its
 * own, for its platform and its half).
 */
export function handoffIdentity(identity: ConversionIdentity): Record<string, string> {
  const flat: Record<string, string> = { action: identity.actionMajor, converter: CONVERTER_COMMIT };
  for (const m of identity.models) flat[`${m.role} ${m.id}`] = m.revision;
  for (const [name, value] of Object.entries(identity.inputs)) flat[name] = value;
  if (identity.singleFile !== undefined) flat['single file'] = typeof identity.singleFile === 'string' ? identity.singleFile : JSON.stringify(identity.singleFile);
  return flat;
}

import type { Config } from '../config.js';
import { backendOf } from '../backends/registry.js';
import { ACTION_MAJOR } from '../cache/keys.js';
import type { PublishedIdentity, Replaced } from '../package/manifest.js';
import type { SingleFileCheck } from '../single-file/check.js';
import { describeSingleFile, singleFileDifferences, singleFileIdentity, type SingleFileIdentity } from './single-file.js';

/**
 * Pure: is a published conversion still current? It is when the commit of every model involved
 * (main model, refiner, custom VAE, ControlNets), every converter input (converterInputs) and the
 * action's major version equal what the release's manifest recorded; for a single-file
 * model-version, also its files' sha256s, LoRA scales and config commit (./single-file.ts).
 * Anything else converts, and the verdict says why in one line.
 */

export type ModelRole = 'model' | 'refiner' | 'custom VAE' | 'ControlNet';

export interface ModelCommit {
  role: ModelRole;
  id: string;
  /** The commit sha; for a model the Hub could not resolve, the revision name (never current). */
  revision: string;
  resolved: boolean;
}

/** What decides a conversion's bytes: the same on both sides of the comparison. */
export interface ConversionIdentity {
  models: ModelCommit[];
  inputs: Record<string, string>;
  actionMajor: string;
  /** With a single-file model-version: its bytes, or why they cannot be compared. */
  singleFile?: SingleFileIdentity | string;
}

export type Verdict =
  | { current: true; matched: string }
  | { current: false; reason: string; differences: string[] };

/** What this run would convert: the models with the commits the Hub resolved, the Config, and what the single-file stage found. */
export function identityOf(config: Config, resolved: ReadonlyArray<{ id: string; revision: string; resolved: boolean }>, singleFile?: SingleFileCheck): ConversionIdentity {
  const o = config.conversion;
  const roles: Array<[ModelRole, string | undefined]> = [
    ['model', o.modelIsLocal ? undefined : o.modelVersion],
    ['refiner', o.refinerVersion],
    ['custom VAE', o.customVaeVersion],
    ...o.controlnets.map((id): [ModelRole, string] => ['ControlNet', id]),
  ];
  const models: ModelCommit[] = [];
  for (const [role, id] of roles) {
    if (id === undefined || !o.hubIds.includes(id)) continue;
    const r = resolved.find((m) => m.id === id);
    models.push({ role, id, revision: r?.revision ?? '', resolved: r?.resolved ?? false });
  }
  const identity: ConversionIdentity = { models, inputs: backendOf(config).inputs(config), actionMajor: ACTION_MAJOR };
  if (config.singleFile) identity.singleFile = singleFileIdentity(singleFile);
  return identity;
}

const short = (sha: string) => (/^[0-9a-f]{40}$/.test(sha) ? sha.slice(0, 12) : sha || '(none)');

/** Every difference between what would be converted and what was published; [] when current. */
export function differences(wanted: ConversionIdentity, published: PublishedIdentity): string[] {
  const out: string[] = [];
  for (const m of wanted.models) {
    const p = published.models.find((x) => x.id === m.id);
    if (!p) out.push(`${m.role} ${m.id} is not in the manifest`);
    else if (p.revision !== m.revision) out.push(`${m.role} ${m.id}: commit ${short(p.revision)} published, ${short(m.revision)} now`);
  }
  for (const p of published.models) {
    if (!wanted.models.some((m) => m.id === p.id)) out.push(`the manifest lists ${p.id}, which this run does not use`);
  }
  const names = [...new Set([...Object.keys(wanted.inputs), ...Object.keys(published.inputs)])];
  for (const name of names) {
    const now = wanted.inputs[name];
    const then = published.inputs[name];
    if (now === then) continue;
    if (then === undefined) out.push(`input ${name} is not recorded in the manifest`);
    else if (now === undefined) out.push(`the manifest records input ${name}, which this action does not know`);
    else out.push(`input ${name}: ${JSON.stringify(then)} published, ${JSON.stringify(now)} now`);
  }
  if (wanted.actionMajor !== published.actionMajor) out.push(`action version: ${published.actionMajor || '(none)'} published, ${wanted.actionMajor} now`);
  if (typeof wanted.singleFile === 'object') out.push(...singleFileDifferences(wanted.singleFile, published.singleFile));
  else if (wanted.singleFile === undefined && published.singleFile) out.push('the manifest records a single file (`singleFile`), which this run does not convert');
  return out;
}

/**
 * The verdict for one release: `manifest` is what reading it gave (undefined: the release exists
 * but has no manifest for this variant; an Error: unreadable), `release` whether the tag exists.
 * `place` names where the manifest is kept: the release of the tag, or a Hub repository.
 */
export function judge(
  wanted: ConversionIdentity,
  tag: string,
  lookup: { release: false } | { release: true; manifestName: string; manifest: PublishedIdentity | Error | undefined },
  place = `release ${tag}`,
): Verdict {
  const convert = (reason: string, diffs: string[] = []): Verdict => ({ current: false, reason, differences: diffs });
  const unresolved = wanted.models.filter((m) => !m.resolved);
  if (unresolved.length > 0) {
    return convert(`the Hub could not resolve ${unresolved.map((m) => `${m.id}@${m.revision}`).join(', ')} to a commit, so nothing can be compared`);
  }
  if (typeof wanted.singleFile === 'string') return convert(wanted.singleFile);
  if (wanted.models.length === 0 && !wanted.singleFile) return convert('model-version is a local folder: there is no commit to compare');
  if (!lookup.release) return convert(`there is no published ${place}`);
  if (lookup.manifest === undefined) return convert(`${place} has no ${lookup.manifestName}`);
  if (lookup.manifest instanceof Error) return convert(`${lookup.manifestName} of ${place} is unreadable (${lookup.manifest.message})`);
  const diffs = differences(wanted, lookup.manifest);
  if (diffs.length > 0) return convert(`${place} holds another conversion (${diffs.length} difference${diffs.length === 1 ? '' : 's'})`, diffs);
  const models = [...(wanted.singleFile ? [describeSingleFile(wanted.singleFile)] : []), ...wanted.models.map((m) => `${m.id}@${short(m.revision)} (${m.role})`)].join(', ');
  return {
    current: true,
    matched: `${lookup.manifestName} of ${place} matches: ${models}, all ${Object.keys(wanted.inputs).length} converter inputs, action ${wanted.actionMajor}`,
  };
}

export function replacedBy(wanted: ConversionIdentity, published: PublishedIdentity | Error | undefined): Replaced | undefined {
  if (published === undefined || published instanceof Error) return undefined;
  const changes = differences(wanted, published);
  if (changes.length === 0) return undefined;
  return { models: published.models.map(({ id, revision }) => ({ id, revision })), actionMajor: published.actionMajor, changes };
}

import { createHash } from 'node:crypto';
import type { BackendName } from '../../config.js';
import type { PublishedNames } from '../../package/names.js';
import { inFolder } from '../../hub/layout.js';
import type { CommitPlan, LocalFile, RemoteFile } from '../../hub/publish-client.js';

export type { CommitPlan, LocalFile, RemoteFile } from '../../hub/publish-client.js';
export { CARD_PATH, inFolder, variantFolder } from '../../hub/layout.js';

/**
 * Pure: which files of one variant go where in the Hub repository, and what a commit must change
 * there. The Hub stores big files by their sha256 (LFS) and small ones as git blobs, and its tree
 * listing gives either id: a file whose id matches is left out of the commit, and when nothing
 * differs no commit is made at all.
 */

/**
 * Pure: whether a path of the repository is one this variant's commits write: in its folder, and
 * named as packaging names this variant's files (a zip whole or in parts, the image check's two
 * images, the manifest, the checksums). Everything else, another variant's files included, is left alone.
 */
export function ownedBy(folder: string, names: PublishedNames): (path: string) => boolean {
  const exact = new Set([names.compiled, names.packages, names.manifest, names.sums, names.images.coreai, names.images.diffusers].map((n) => inFolder(folder, n)));
  const parts = [names.compiled, names.packages].map((n) => inFolder(folder, n));
  return (p) => exact.has(p) || parts.some((zip) => p.startsWith(`${zip}.`) && /^\d{3}$/.test(p.slice(zip.length + 1)));
}

/** The git blob id of some bytes: what the tree listing gives for a file kept in git. */
export function gitBlobId(bytes: Uint8Array): string {
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

/**
 * Pure: whether the repository already holds a file's content. An LFS entry is compared by its
 * sha256; a git entry by its blob id, which `gitIds` holds for the local files the caller could
 * hash that way (a file of a different size differs without hashing).
 */
export function sameContent(local: LocalFile, remote: RemoteFile | undefined, gitIds: ReadonlyMap<string, string>): boolean {
  if (!remote) return false;
  if (remote.lfs) return remote.lfs.oid === local.sha256 && remote.lfs.size === local.size;
  if (remote.size !== local.size) return false;
  const id = gitIds.get(local.path);
  return id !== undefined && id === remote.oid;
}

/** Local files of the same size as a git (non-LFS) entry: those whose git blob id must be computed to compare. */
export function needGitIds(files: readonly LocalFile[], remote: readonly RemoteFile[]): LocalFile[] {
  const byPath = new Map(remote.map((r) => [r.path, r]));
  return files.filter((f) => {
    const r = byPath.get(f.path);
    return r !== undefined && !r.lfs && r.size === f.size;
  });
}

/**
 * Pure: the commit that makes the repository hold `files` and none of this variant's older files
 * (`owned` paths that `files` no longer has), touching nothing else. `keep` lists files whose
 * remote copy stands for the local one although the bytes differ (the manifest when only its
 * run record changed: see manifestCurrent).
 */
export function planCommit(input: {
  files: readonly LocalFile[];
  remote: readonly RemoteFile[];
  owned: (path: string) => boolean;
  gitIds: ReadonlyMap<string, string>;
  keep?: ReadonlySet<string>;
}): CommitPlan {
  const byPath = new Map(input.remote.map((r) => [r.path, r]));
  const wanted = new Set(input.files.map((f) => f.path));
  const upload: LocalFile[] = [];
  const unchanged: string[] = [];
  for (const f of input.files) {
    const same = (input.keep?.has(f.path) === true && byPath.has(f.path)) || sameContent(f, byPath.get(f.path), input.gitIds);
    if (same) unchanged.push(f.path);
    else upload.push(f);
  }
  const remove = input.remote.map((r) => r.path).filter((p) => input.owned(p) && !wanted.has(p)).sort();
  return { upload, delete: remove, unchanged };
}

/**
 * Pure: whether the branch's tree, listed after a commit whose answer was lost (a 5xx from a proxy
 * after the Hub committed, or a dropped connection) and whose retry the Hub refused with 412,
 * holds exactly what `plan` commits: every uploaded file with the planned content, every file the
 * plan kept as it was when planning (`before`), and none of the planned deletions. Then the first
 * try committed; anything else means someone else moved the branch.
 */
export function commitLanded(input: { plan: CommitPlan; before: readonly RemoteFile[]; after: readonly RemoteFile[]; gitIds: ReadonlyMap<string, string> }): boolean {
  const after = new Map(input.after.map((r) => [r.path, r]));
  const before = new Map(input.before.map((r) => [r.path, r]));
  const uploaded = input.plan.upload.every((f) => sameContent(f, after.get(f.path), input.gitIds));
  const deleted = input.plan.delete.every((p) => !after.has(p));
  const kept = input.plan.unchanged.every((p) => {
    const was = before.get(p);
    const now = after.get(p);
    return was !== undefined && now !== undefined && was.size === now.size && was.oid === now.oid && was.lfs?.oid === now.lfs?.oid;
  });
  return uploaded && deleted && kept;
}

export const commitNeeded = (plan: CommitPlan): boolean => plan.upload.length > 0 || plan.delete.length > 0;

/**
 * Pure: whether the repository's manifest records the same conversion as this run's: equal once
 * the run record (workflow run id, attempt, commit) is set aside, which every rerun changes.
 */
export function manifestCurrent(remoteText: string | undefined, localText: string): boolean {
  if (remoteText === undefined) return false;
  const stable = (text: string): string | undefined => {
    try {
      const { run: _run, ...rest } = JSON.parse(text) as Record<string, unknown>;
      return JSON.stringify(rest);
    } catch {
      return undefined;
    }
  };
  const remote = stable(remoteText);
  return remote !== undefined && remote === stable(localText);
}

/** The commit's title and description: the source model and its commit, the variant, what changed. */
export function commitMessage(input: {
  base: string;
  model: { id: string; sha: string | null; revision: string; local: boolean };
  plan: CommitPlan;
  action: { name: string; version: string };
  /** Absent reads as core-ml. */
  backend?: BackendName;
}): { title: string; description: string } {
  const { model, plan } = input;
  const format = input.backend === 'core-ai' ? 'Core AI' : 'Core ML';
  const at = model.local ? ' (a local folder)' : model.sha ? `@${model.sha}` : `@${model.revision} (unresolved)`;
  const lines = [
    `Converted ${model.id}${at} to ${format} with ${input.action.name} ${input.action.version}.`,
    '',
    ...plan.upload.map((f) => `add/update ${f.path} (sha256 ${f.sha256})`),
    ...plan.delete.map((p) => `delete ${p}`),
  ];
  return { title: `${format} ${input.base} from ${model.id}${at}`, description: lines.join('\n') };
}

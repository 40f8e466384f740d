import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { HubPublishError, HubWriter, type HubTarget, type RepoState, type WriterOptions } from '../../hub/publish-client.js';
import { commitLanded, commitNeeded, gitBlobId, needGitIds, planCommit, type CommitPlan, type LocalFile, type RemoteFile } from './plan.js';

/**
 * The thin part of a Hub publish: read the repository (creating it when missing), plan the commit
 * against its tree, and make it, or make none when the repository already holds every file.
 */

export interface HubPublishRequest {
  target: HubTarget & { private: boolean };
  files: LocalFile[];
  /** Remote paths this variant owns: deleted when `files` no longer has them. */
  owned: (path: string) => boolean;
  title: string;
  /** Built once the plan is known (it lists what the commit changes). */
  description: string | ((plan: CommitPlan) => string);
  /**
   * Called with the repository as it is, before planning: may refuse (throw), add files made from
   * the repository's own (the merged model card), and name files whose remote copy stands for the
   * local one (the manifest, when only its run record differs).
   */
  withRepository?: (repo: RepositoryView) => Promise<{ files?: LocalFile[]; keep?: ReadonlySet<string> }>;
}

export interface RepositoryView {
  exists: boolean;
  private?: boolean;
  files: readonly RemoteFile[];
  /** A small file's text on the branch; undefined when the repository has no such file. */
  read(path: string): Promise<string | undefined>;
}

export interface HubPublishResult {
  /**
   * Undefined when no commit was needed: every file already had this content. `answerLost`: the
   * Hub's answer to the commit was lost and its retry refused (412), but the branch's head holds
   * exactly this commit's files: the first try had committed, and this is that commit.
   */
  commit?: { oid: string; url: string; answerLost?: boolean };
  created: boolean;
  uploaded: string[];
  deleted: string[];
  unchanged: string[];
  plan: CommitPlan;
  /** Every file of this variant, those made from the repository's own (the card) included. */
  files: LocalFile[];
  /** The branch's commit before this publish (undefined for a repository created empty). */
  head?: string;
}

/** The git blob id of a file on disk (a small file's id in the tree listing), read as a stream. */
async function gitBlobIdOf(file: LocalFile): Promise<string> {
  if (file.text !== undefined) return gitBlobId(Buffer.from(file.text, 'utf8'));
  const hash = createHash('sha1').update(`blob ${file.size}\0`);
  for (const source of file.sources ?? []) {
    for await (const chunk of createReadStream(source)) hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

/** The git blob ids of the local files that a same-sized git entry of the tree must be compared with. */
async function gitIdsFor(files: readonly LocalFile[], remote: readonly RemoteFile[]): Promise<Map<string, string>> {
  const gitIds = new Map<string, string>();
  for (const f of needGitIds(files, remote)) gitIds.set(f.path, await gitBlobIdOf(f));
  return gitIds;
}

/**
 * After a commit that failed with 412 on a retry (its first try's answer was lost): the branch's
 * head when it holds exactly what `plan` commits, else undefined (the failure stands).
 */
async function landedCommit(writer: HubWriter, plan: CommitPlan, planned: RepoState, error: unknown): Promise<{ oid: string; url: string; answerLost: true } | undefined> {
  if (!(error instanceof HubPublishError) || error.status !== 412 || (error.attempts ?? 1) < 2) return undefined;
  const now = await writer.state().catch(() => undefined);
  if (!now?.head || now.head === planned.head) return undefined;
  const gitIds = await gitIdsFor(plan.upload, now.files);
  if (!commitLanded({ plan, before: planned.files, after: now.files, gitIds })) return undefined;
  return { oid: now.head, url: writer.commitUrl(now.head), answerLost: true };
}

export async function publishToHub(request: HubPublishRequest, options: WriterOptions = {}): Promise<HubPublishResult> {
  const writer = new HubWriter(request.target, options);
  let state = await writer.state();
  const read = (path: string) => (state.files.some((f) => f.path === path) ? writer.readText(path) : Promise.resolve(undefined));
  const extra = (await request.withRepository?.({ exists: state.exists, private: state.private, files: state.files, read })) ?? {};
  let created = false;
  if (!state.exists) {
    await writer.create(request.target.private);
    created = true;
    state = await writer.state();
  }
  const files = [...request.files, ...(extra.files ?? [])];
  const gitIds = await gitIdsFor(files, state.files);
  const plan = planCommit({ files, remote: state.files, owned: request.owned, gitIds, keep: extra.keep });
  const base = { created, uploaded: plan.upload.map((f) => f.path), deleted: plan.delete, unchanged: plan.unchanged, plan, files, head: state.head };
  if (!commitNeeded(plan)) return base;
  const description = typeof request.description === 'function' ? request.description(plan) : request.description;
  try {
    return { ...base, commit: await writer.commit(plan, { title: request.title, description }, state.head) };
  } catch (error) {
    const landed = await landedCommit(writer, plan, state, error);
    if (!landed) throw error;
    options.log?.(`The Hub's answer to the commit was lost and its retry was refused (412, the branch had moved), but the branch's head ${landed.oid} holds exactly the files this commit planned: the first attempt had committed.`);
    return { ...base, commit: landed };
  }
}

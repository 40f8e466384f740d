import type { Config, HubPublishOptions } from '../../config.js';
import { backendOf } from '../../backends/registry.js';
import type { ModelRevision } from '../../hub/models.js';
import type { PackageResult } from '../../package/stage.js';
import type { WrittenFile } from '../../package/zip.js';
import { urlSegment, type ImageSection } from '../notes.js';
import { sha256sums, type ActionIdentity } from '../../package/manifest.js';
import { variantName } from '../../package/names.js';
import type { PsnrVerdict } from '../../verify/psnr.js';
import { mergeCard, type SourceModel } from './card.js';
import { HubPublishError } from '../../hub/publish-client.js';
import { CARD_PATH, commitMessage, inFolder, manifestCurrent, ownedBy, variantFolder, type LocalFile } from './plan.js';
import { publishToHub, type HubPublishResult } from './publish.js';
import { visibilityProblem } from './visibility.js';
import { createHash } from 'node:crypto';
import { info } from '../../log.js';

/** What the Hub publish did, for the outputs and the step summary. */
export interface HubReport {
  repo: string;
  revision: string;
  /** The repository's page, and the folder of this variant in it. */
  url: string;
  folderUrl: string;
  /** The new commit; undefined when the repository already held every file (no commit made). */
  commit?: { oid: string; url: string; answerLost?: boolean };
  /** The commit holding the files: the new one, or the branch's head when nothing changed. */
  head?: string;
  created: boolean;
  files: Array<{ path: string; size: number; sha256: string; uploaded: boolean }>;
  deleted: string[];
}

export interface HubStageInput {
  config: Config;
  hub: HubPublishOptions;
  models: readonly ModelRevision[];
  verdicts: PsnrVerdict[];
  packaged: PackageResult;
  action: ActionIdentity;
}

const textFile = (path: string, text: string): LocalFile => {
  const bytes = Buffer.from(text, 'utf8');
  return { path, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), text };
};

/** The source model as the card and the visibility rule see it. */
export function sourceModel(config: Config, models: readonly ModelRevision[]): SourceModel {
  const main = models.find((m) => m.id === config.conversion.modelVersion);
  return {
    id: config.conversion.modelVersion,
    revision: config.conversion.modelRevision,
    sha: main?.resolved ? main.revision : null,
    local: config.conversion.modelIsLocal,
    access: main?.access,
    card: main?.card,
  };
}

/**
 * Pure: this variant's files in the repository: each zip whole (a zip split for the release is
 * joined from its parts while uploading), the image check's two images when it ran, the manifest,
 * and checksums of exactly these files.
 */
export function hubFiles(packaged: PackageResult, folder: string): { payload: LocalFile[]; manifest: LocalFile; sums: LocalFile } {
  const one = (f: WrittenFile): LocalFile => ({ path: inFolder(folder, f.name), size: f.size, sha256: f.sha256, sources: [f.path] });
  const zips = packaged.archives.map((a): LocalFile => ({ path: inFolder(folder, a.name), size: a.size, sha256: a.sha256, sources: a.files.map((f) => f.path) }));
  const images = packaged.image ? [one(packaged.image.coreai), one(packaged.image.diffusers)] : [];
  const written = packaged.files.find((f) => f.name === packaged.names.manifest);
  if (!written) throw new Error(`package-dir has no ${packaged.names.manifest}`);
  const manifest = one(written);
  const records = [...packaged.archives, ...(packaged.image ? [packaged.image.coreai, packaged.image.diffusers] : []), written].map(({ name, size, sha256 }) => ({ name, size, sha256 }));
  return { payload: [...zips, ...images], manifest, sums: textFile(inFolder(folder, packaged.names.sums), sha256sums(records)) };
}

/**
 * Pure: the image check as the card shows it, each image linked relative to the card (README.md
 * at the repository's top), every path segment URL-encoded; undefined when it did not run.
 */
export function cardImage(packaged: Pick<PackageResult, 'image'>, folder: string): ImageSection | undefined {
  const image = packaged.image;
  if (!image) return undefined;
  const link = (name: string) => inFolder(folder, name).split('/').map(urlSegment).join('/');
  return { result: image.result, urls: { coreai: link(image.coreai.name), diffusers: link(image.diffusers.name) } };
}

/** Commits this variant to the Hub repository (one atomic commit, or none when nothing changed). */
export async function publishHubStage(input: HubStageInput): Promise<HubReport> {
  const { config, hub, packaged } = input;
  const variant = variantName(config.conversion, config.coreAi);
  const folder = variantFolder(hub.pathInRepo, variant);
  const { payload, manifest, sums } = hubFiles(packaged, folder);
  const model = sourceModel(config, input.models);
  const message = (plan: Parameters<typeof commitMessage>[0]['plan']) => commitMessage({ base: packaged.names.base, model, plan, action: input.action, backend: config.backend });
  const manifestText = packaged.manifest ? JSON.stringify(packaged.manifest) : '';

  const result: HubPublishResult = await publishToHub(
    {
      target: { repo: hub.repo, revision: hub.revision, endpoint: hub.endpoint, token: hub.token, private: hub.private ?? false },
      files: [...payload, manifest, sums],
      owned: ownedBy(folder, packaged.names),
      title: message({ upload: [], delete: [], unchanged: [] }).title,
      description: (plan) => message(plan).description,
      withRepository: async (repo) => {
        const problem = visibilityProblem({ source: model, repo: hub.repo, exists: repo.exists, isPrivate: repo.private, hubPrivate: hub.private });
        if (problem) throw new HubPublishError(problem);
        const card = mergeCard(await repo.read(CARD_PATH), {
          repo: hub.repo,
          names: packaged.names,
          variant,
          folder,
          model,
          options: backendOf(config).inputs(config),
          verdicts: input.verdicts,
          files: payload,
          xl: config.conversion.xlVersion,
          action: input.action,
          backend: config.backend,
          image: cardImage(packaged, folder),
        });
        // The manifest records the workflow run: a rerun of the same conversion keeps the one there (and its checksums).
        const remoteManifest = await repo.read(manifest.path);
        const current = manifestCurrent(remoteManifest, manifestText) && repo.files.some((f) => f.path === sums.path);
        return { files: [textFile(CARD_PATH, card)], keep: new Set(current ? [manifest.path, sums.path] : []) };
      },
    },
    { log: (line) => info(line) },
  );

  const uploaded = new Set(result.uploaded);
  const url = `${hub.endpoint}/${hub.repo}`;
  const report: HubReport = {
    repo: hub.repo,
    revision: hub.revision,
    url,
    folderUrl: folder === '' ? `${url}/tree/${hub.revision}` : `${url}/tree/${hub.revision}/${folder}`,
    commit: result.commit,
    head: result.commit?.oid ?? result.head,
    created: result.created,
    files: result.files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256, uploaded: uploaded.has(f.path) })),
    deleted: result.deleted,
  };
  if (result.commit) info(`Committed ${result.uploaded.length} file(s) and ${result.deleted.length} deletion(s) to ${hub.repo}@${hub.revision}: ${result.commit.url}`);
  else info(`${hub.repo}@${hub.revision} already holds these ${result.unchanged.length} files with the same content: no commit made.`);
  return report;
}

import * as path from 'node:path';
import type { GitHubContext } from '../config.js';
import type { WrittenFile } from '../package/zip.js';
import { errorMessage } from '../format/error.js';
import { info } from '../log.js';

/**
 * The workflow artifact: ONE artifact holding package-dir's files (the zips or their parts, the
 * image check's two images when it ran, the manifest, the checksum file), uploaded by @actions/artifact at compression level 0. The files
 * are zips already: level 0 stores them as they are instead of spending CPU deflating what does
 * not shrink. One artifact rather than one per file (skipArchive) keeps the artifact-name input
 * meaningful (skipArchive names each artifact after its file), gives one id and one URL, and keeps
 * the manifest and checksums with the zips they describe.
 */

export interface ArtifactResult {
  name: string;
  id: number;
  url: string;
  size: number;
  /** sha256 of what the service stores (the artifact's own zip), as the client computed it. */
  digest?: string;
}

/** Pure: why the artifact service cannot be used from here, or undefined (`missing`: RunnerContext.artifactServiceUnset). */
export function artifactServiceProblem(missing: readonly string[], github: Pick<GitHubContext, 'serverUrl'>): string | undefined {
  if (missing.length > 0) {
    return `the artifact service is not available (${missing.join(' and ')} unset: not a GitHub Actions runner, or a runner that gives actions no artifact service)`;
  }
  const host = new URL(github.serverUrl).hostname.toLowerCase();
  if (host !== 'github.com' && !host.endsWith('.ghe.com') && !host.endsWith('.localhost')) {
    return `the artifact service of ${host} is not supported by @actions/artifact 6 (GitHub Enterprise Server)`;
  }
  return undefined;
}

/** Pure: the artifact's page, as actions/upload-artifact reports it. */
export function artifactUrl(github: GitHubContext, id: number): string {
  return `${github.serverUrl}/${github.repository ?? ''}/actions/runs/${github.runId ?? ''}/artifacts/${id}`;
}

export class ArtifactError extends Error {}

const isConflict = (error: unknown) => /\b409\b|already exists/i.test(errorMessage(error));

/**
 * Uploads `files` (all in `dir`) as one artifact. A name already taken in this run (a rerun of
 * the job) is deleted first when `overwrite` allows, else the upload fails saying so.
 */
export async function uploadArtifact(options: {
  name: string;
  dir: string;
  files: WrittenFile[];
  retentionDays?: number;
  overwrite: boolean;
  /** Why an artifact of that name is replaced, for the log line (default: the overwrite-assets input). */
  overwriteReason?: string;
  github: GitHubContext;
}): Promise<ArtifactResult> {
  const { DefaultArtifactClient } = await import('@actions/artifact');
  const client = new DefaultArtifactClient();
  const paths = options.files.map((f) => path.join(options.dir, f.name));
  const upload = () => client.uploadArtifact(options.name, paths, options.dir, { compressionLevel: 0, retentionDays: options.retentionDays });
  let response;
  try {
    response = await upload();
  } catch (error) {
    if (!isConflict(error)) throw new ArtifactError(`Uploading the artifact ${options.name} failed: ${errorMessage(error)}`);
    if (!options.overwrite) {
      throw new ArtifactError(`An artifact named ${options.name} already exists in this workflow run (an earlier attempt, or another job of a matrix): set a unique artifact-name, or overwrite-assets: true to replace it.`);
    }
    info(`An artifact named ${options.name} already exists in this run: replacing it (${options.overwriteReason ?? 'overwrite-assets'}).`);
    await client.deleteArtifact(options.name);
    response = await upload();
  }
  if (response.id === undefined) throw new ArtifactError(`The artifact service gave no id for ${options.name}.`);
  return { name: options.name, id: response.id, url: artifactUrl(options.github, response.id), size: response.size ?? 0, digest: response.digest };
}

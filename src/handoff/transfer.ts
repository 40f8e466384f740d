import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readFile, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { GitHubContext } from '../config.js';
import { sha256File } from '../checksum.js';
import { errorMessage } from '../format/error.js';
import { info } from '../log.js';
import { uploadArtifact, type ArtifactResult } from '../publish/artifact.js';
import {
  HANDOFF_MANIFEST,
  HandoffError,
  buildManifest,
  compareFiles,
  compareIdentity,
  parseManifest,
  serializeManifest,
  type HandoffFile,
  type HandoffManifest,
  type HandoffSource,
} from './manifest.js';

/**
 * The hand-off's I/O (the deciding is in manifest.ts): writing handoff.json over output-dir,
 * uploading the folder as one artifact, downloading it in the finishing job and checking it.
 */

export { HandoffError } from './manifest.js';

const MANIFEST_TMP = `${HANDOFF_MANIFEST}.tmp`;

const native = (posix: string) => posix.split('/').join(path.sep);

/**
 * Every file under `dir` as a posix path relative to it, sorted, except the manifest. A symbolic
 * link, or anything that is neither a file nor a folder, is refused: the artifact client would
 * follow the link and upload what it points at, so the hand-off would not be the folder the
 * manifest describes. (Empty folders hold no file and do not travel: an artifact holds files.)
 */
export async function listHandoffFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(path.join(dir, native(rel)), { withFileTypes: true });
    for (const entry of entries) {
      const child = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isSymbolicLink()) throw new HandoffError(`The hand-off folder holds a symbolic link, ${child}: a hand-off holds files only (the artifact would hold what the link points at).`);
      if (entry.isDirectory()) await walk(child);
      else if (entry.isFile()) {
        if (child !== HANDOFF_MANIFEST) found.push(child);
      } else throw new HandoffError(`The hand-off folder holds ${child}, which is neither a file nor a folder.`);
    }
  };
  await walk('');
  return found.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The size of each file and, for those in `hash` (all when undefined), its sha256; '' for the others. */
async function describeFiles(dir: string, paths: readonly string[], hash?: (p: string, size: number) => boolean): Promise<HandoffFile[]> {
  const files: HandoffFile[] = [];
  for (const p of paths) {
    const file = path.join(dir, native(p));
    const { size } = await lstat(file);
    files.push({ path: p, size, sha256: hash === undefined || hash(p, size) ? await sha256File(file) : '' });
  }
  return files;
}

/**
 * Lists every file of `outputDir` (see listHandoffFiles) with its size and sha256 under
 * `identity`, and writes `.coreml-action/handoff.json` to a temporary name that is renamed into
 * place, so a killed job leaves the old manifest or the new one, never half of one. A temporary
 * name left by a killed run is removed first (the action's own file). Returns the manifest.
 */
export async function writeHandoff(outputDir: string, identity: Record<string, string>): Promise<HandoffManifest> {
  const target = path.join(outputDir, native(HANDOFF_MANIFEST));
  const tmp = path.join(outputDir, native(MANIFEST_TMP));
  await rm(tmp, { force: true });
  const paths = await listHandoffFiles(outputDir);
  const manifest = buildManifest(identity, await describeFiles(outputDir, paths));
  await mkdir(path.dirname(target), { recursive: true });
  await writeFile(tmp, serializeManifest(manifest));
  await rename(tmp, target);
  const bytes = manifest.files.reduce((sum, f) => sum + f.size, 0);
  info(`Hand-off: ${HANDOFF_MANIFEST} lists ${manifest.files.length} files (${bytes} bytes) with their sha256.`);
  return manifest;
}

async function readManifest(dir: string, where: string): Promise<HandoffManifest> {
  let text: string;
  try {
    text = await readFile(path.join(dir, native(HANDOFF_MANIFEST)), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    throw new HandoffError(`${where} holds no ${HANDOFF_MANIFEST}: it is not the hand-off of a convert job (split: convert), or that job stopped before writing it. Rerun the convert job.`);
  }
  try {
    return parseManifest(text);
  } catch (error) {
    if (error instanceof HandoffError) throw new HandoffError(`${where}: ${error.message}\nRerun the convert job (both jobs must run the same version of the action).`);
    throw error;
  }
}

/**
 * Uploads the hand-off folder as ONE artifact named `name`, rooted at `outputDir` (the paths in
 * the artifact are those of the manifest), replacing an artifact of that name from an earlier
 * attempt of the same run (a rerun of the convert job). The folder must still hold the files
 * writeHandoff listed, with their sizes (a cheap check; the finishing job checks every sha256).
 */
export async function uploadHandoff(options: { outputDir: string; name: string; github: GitHubContext; retentionDays?: number }): Promise<ArtifactResult> {
  const { outputDir, name } = options;
  const manifest = await readManifest(outputDir, `The output folder ${outputDir}`);
  // Sizes only: the sha256 of each file is taken as listed (hashing gigabytes again here would
  // only catch a change between two steps of this job; the finishing job hashes everything).
  const listed = new Map(manifest.files.map((f) => [f.path, f.sha256]));
  const found = (await describeFiles(outputDir, await listHandoffFiles(outputDir), () => false)).map((f) => ({ ...f, sha256: listed.get(f.path) ?? '' }));
  const differences = compareFiles(manifest.files, found);
  if (differences.length > 0) {
    throw new HandoffError(`The output folder changed after ${HANDOFF_MANIFEST} was written; not uploading it:\n${differences.map((d) => `  - ${d}`).join('\n')}`);
  }
  const manifestText = await readFile(path.join(outputDir, native(HANDOFF_MANIFEST)));
  const files = [
    ...manifest.files.map((f) => ({ name: native(f.path), path: path.join(outputDir, native(f.path)), size: f.size, sha256: f.sha256 })),
    { name: native(HANDOFF_MANIFEST), path: path.join(outputDir, native(HANDOFF_MANIFEST)), size: manifestText.length, sha256: createHash('sha256').update(manifestText).digest('hex') },
  ];
  info(`Hand-off: uploading ${files.length} files as one artifact.`);
  return uploadArtifact({ name, dir: outputDir, files, retentionDays: options.retentionDays, overwrite: true, overwriteReason: 'an earlier attempt of this convert job made it', github: options.github });
}

/**
 * Reads `dir`'s handoff.json and checks it against this job: the identity must be
 * `expectedIdentity`, every listed file must be there with its size and sha256, and no other
 * file may be there. Throws HandoffError listing every difference (`where` names the artifact or
 * folder in the message). Files whose size already differs are not hashed.
 */
export async function checkHandoff(dir: string, expectedIdentity: Record<string, string>, where = `The hand-off in ${dir}`): Promise<HandoffManifest> {
  const manifest = await readManifest(dir, where);
  const identityLines = compareIdentity(expectedIdentity, manifest.identity);
  const listed = new Map(manifest.files.map((f) => [f.path, f.size]));
  let fileLines: string[];
  try {
    const found = await describeFiles(dir, await listHandoffFiles(dir), (p, size) => listed.get(p) === size);
    fileLines = compareFiles(manifest.files, found);
  } catch (error) {
    if (!(error instanceof HandoffError)) throw error;
    fileLines = [error.message];
  }
  if (identityLines.length === 0 && fileLines.length === 0) return manifest;
  const parts = [`${where} is refused:`];
  if (identityLines.length > 0) {
    parts.push(...identityLines.map((l) => `  - identity: ${l}`));
  }
  parts.push(...fileLines.map((l) => `  - ${l}`));
  if (identityLines.length > 0) {
    parts.push('It was made by a conversion with other inputs: both jobs must run with the same inputs (one `with:` block), or `handoff` names another conversion\'s hand-off.');
  }
  if (fileLines.length > 0) {
    parts.push('Its files are not those the convert job listed (changed, damaged or added since): rerun the convert job.');
  }
  throw new HandoffError(parts.join('\n'));
}

export interface FetchedHandoff {
  /** The folder holding the checked hand-off: `into` for an artifact, the folder itself for a path. */
  dir: string;
  manifest: HandoffManifest;
  /** For messages: `the artifact <name> (id N)` or `the folder <path>`. */
  from: string;
}

async function isEmptyFolderOrMissing(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw error;
  }
}

/**
 * Takes the hand-off and checks it (checkHandoff) against `identity`.
 * - A path: checked and used where it is (no copy: the standard macOS runner's 14 GB disk would
 *   hold the packages twice); `into` is not touched, and `dir` is that folder.
 * - An artifact name: looked up in this workflow run (@actions/artifact's getArtifact) and
 *   downloaded into a fresh temporary folder beside `into`, with the zip's digest checked
 *   against the one the service recorded; checked; and only then renamed to `into`. A failed
 *   download or check removes the temporary folder, so nothing half-downloaded or refused is
 *   ever found at `into`. `into` must be missing or an empty folder: the action removes nothing
 *   it did not make.
 */
export async function fetchHandoff(options: { source: HandoffSource; into: string; identity: Record<string, string> }): Promise<FetchedHandoff> {
  const { source, identity } = options;
  if (source.kind === 'path') {
    const dir = path.resolve(source.path);
    const from = `the folder ${source.path}`;
    const stat = await lstat(dir).catch(() => undefined);
    if (!stat?.isDirectory()) throw new HandoffError(`The hand-off ${source.path} is not a folder (handoff names a folder when it holds a /).`);
    const manifest = await checkHandoff(dir, identity, `The hand-off in ${from}`);
    info(`Hand-off: ${from} checked (${manifest.files.length} files, identity and sha256 as expected).`);
    return { dir, manifest, from };
  }

  const into = path.resolve(options.into);
  if (!(await isEmptyFolderOrMissing(into))) {
    throw new HandoffError(`The hand-off is downloaded into ${into}, which is not empty: empty it or give another output-dir (the action removes nothing it did not make).`);
  }
  const { DefaultArtifactClient, ArtifactNotFoundError } = await import('@actions/artifact');
  const client = new DefaultArtifactClient();
  let artifact;
  try {
    ({ artifact } = await client.getArtifact(source.name));
  } catch (error) {
    if (error instanceof ArtifactNotFoundError) {
      throw new HandoffError(`No artifact named ${source.name} in this workflow run: the convert job (split: convert) has not uploaded it (did it run, succeed, and is it in this job's needs:?), or the two jobs' inputs differ, so they derive different names.`);
    }
    throw new HandoffError(`Looking up the hand-off artifact ${source.name} failed: ${errorMessage(error)}`);
  }
  const from = `the artifact ${source.name} (id ${artifact.id})`;
  const parent = path.dirname(into);
  await mkdir(parent, { recursive: true });
  const tmp = await mkdtemp(path.join(parent, `.${path.basename(into)}.handoff-`));
  try {
    let digestMismatch: boolean | undefined;
    try {
      ({ digestMismatch } = await client.downloadArtifact(artifact.id, { path: tmp, expectedHash: artifact.digest }));
    } catch (error) {
      throw new HandoffError(`Downloading ${from} failed: ${errorMessage(error)}`);
    }
    if (digestMismatch === true) throw new HandoffError(`The zip of ${from} did not download as the service recorded it (its sha256 differs): rerun this job, and if it fails again, the convert job.`);
    const manifest = await checkHandoff(tmp, identity, `The hand-off in ${from}`);
    // Missing or empty (checked above); an empty folder is replaced (rename onto it is not portable).
    await rmdir(into).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    await rename(tmp, into);
    info(`Hand-off: ${from} downloaded and checked (${manifest.files.length} files, identity and sha256 as expected).`);
    return { dir: into, manifest, from };
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw error;
  }
}

import { DEFAULT_MAX_ASSET_SIZE, maxAssetSizeProblem, parseSize } from '../package/split.js';
import type { HubPublishOptions, PublishOptions } from '../config.js';
import { isHubId, type FieldReader } from './fields.js';
import { hubEndpoint } from '../hub/files.js';

/** Characters the artifact service refuses in a name (@actions/artifact's own check). */
const ARTIFACT_NAME_FORBIDDEN = ['"', ':', '<', '>', '|', '*', '?', '\r', '\n', '\\', '/'] as const;

/** Pure: why the artifact service would refuse a name, or undefined. */
export function artifactNameProblem(name: string): string | undefined {
  if (name.trim() === '') return 'must not be empty';
  const bad = ARTIFACT_NAME_FORBIDDEN.filter((c) => name.includes(c));
  if (bad.length > 0) return `may not hold ${bad.map((c) => JSON.stringify(c)).join(', ')} (the artifact service refuses " : < > | * ? \\r \\n \\ /), got ${JSON.stringify(name)}`;
  if (name.length > 256) return `must be at most 256 characters, got ${name.length}`;
  return undefined;
}

/**
 * Pure: why a name is not one git accepts as refs/tags/<name> (git check-ref-format's rules), or
 * undefined: no component starting with "." or ending in ".lock", no "..", no control character,
 * space, ~ ^ : ? * [ or \\, no "@{", not "@" alone, no leading, trailing or double "/", no
 * trailing "."; and (GitHub) no leading "-".
 */
export function refNameProblem(tag: string): string | undefined {
  const control = [...tag].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
  const components = tag.split('/');
  const bad =
    control ||
    /[\s~^:?*[\\]/.test(tag) ||
    tag.includes('..') ||
    tag.includes('@{') ||
    tag === '@' ||
    tag.startsWith('-') ||
    tag.startsWith('/') ||
    tag.endsWith('/') ||
    tag.endsWith('.') ||
    tag.includes('//') ||
    components.some((c) => c.startsWith('.') || c.endsWith('.lock'));
  return bad ? 'must be a git tag name (git check-ref-format: no spaces, control characters, ~ ^ : ? * [ \\, "..", "@{", not "@" alone, no part between slashes starting with "." or ending in ".lock", not starting with - or /, not ending in / or .)' : undefined;
}

/** Pure: why a tag name is not one git and GitHub accept, or undefined. */
export function tagProblem(tag: string): string | undefined {
  const problem = refNameProblem(tag);
  return problem ? `${problem}, got ${JSON.stringify(tag)}` : undefined;
}

const ASSET_PREFIX = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** Reads the packaging and publishing inputs; every problem names its input and what is accepted. */
export function readPublishOptions(read: FieldReader, env: Readonly<Record<string, string | undefined>>): PublishOptions {
  const assetPrefix = read.optionalText('asset-prefix');
  if (assetPrefix !== undefined && !ASSET_PREFIX.test(assetPrefix)) {
    read.fail('asset-prefix', `must be letters, digits, ".", "_" or "-" (starting with a letter or digit, at most 100), so that GitHub keeps the asset names as they are; got ${JSON.stringify(assetPrefix)}.`);
  }

  let maxAssetSize = DEFAULT_MAX_ASSET_SIZE;
  const sizeText = read.text('max-asset-size');
  if (sizeText !== '') {
    const bytes = parseSize(sizeText);
    const problem = bytes === undefined ? 'must be a number of bytes, or a number with a unit (B, kB, MB, GB, KiB, MiB, GiB) such as 1.9GiB' : maxAssetSizeProblem(bytes);
    if (problem || bytes === undefined) read.fail('max-asset-size', `${problem}, got ${JSON.stringify(sizeText)}.`);
    else maxAssetSize = bytes;
  }

  const artifactName = read.optionalText('artifact-name');
  const nameProblem = artifactName === undefined ? undefined : artifactNameProblem(artifactName);
  if (nameProblem) read.fail('artifact-name', `${nameProblem}.`);

  const retentionDays = read.positiveInteger('retention-days');
  if (retentionDays !== undefined && retentionDays > 90) read.fail('retention-days', `must be 1 to 90 days (the most GitHub keeps an artifact; a repository may allow less), got ${retentionDays}.`);

  const tag = read.text('release-tag');
  const problem = tag === '' ? undefined : tagProblem(tag);
  if (problem) read.fail('release-tag', `${problem}.`);

  const release = {
    tag,
    name: read.text('release-name'),
    notes: read.text('release-notes'),
    draft: read.bool('draft', false),
    prerelease: read.bool('prerelease', false),
  };
  return {
    package: read.bool('package', true),
    assetPrefix: assetPrefix !== undefined && ASSET_PREFIX.test(assetPrefix) ? assetPrefix : undefined,
    compressionLevel: read.oneOf('compression-level', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] as const, 0),
    maxAssetSize,
    uploadArtifact: read.bool('upload-artifact', true),
    artifactName: nameProblem ? undefined : artifactName,
    retentionDays,
    release: tag === '' ? undefined : release,
    githubToken: read.text('github-token'),
    overwriteAssets: read.bool('overwrite-assets', true),
    github: {
      repository: env.GITHUB_REPOSITORY || undefined,
      apiUrl: (env.GITHUB_API_URL || 'https://api.github.com').replace(/\/+$/, ''),
      serverUrl: (env.GITHUB_SERVER_URL || 'https://github.com').replace(/\/+$/, ''),
      runId: env.GITHUB_RUN_ID || undefined,
      runAttempt: env.GITHUB_RUN_ATTEMPT || undefined,
      sha: env.GITHUB_SHA || undefined,
      actionRepository: env.GITHUB_ACTION_REPOSITORY || undefined,
      actionRef: env.GITHUB_ACTION_REF || undefined,
    },
    hub: readHubPublishOptions(read, hubEndpoint(env)),
  };
}

/** The placeholder of hub-path-in-repo that takes the variant's name (original, split_einsum_6bit, ...). */
export const VARIANT_PLACEHOLDER = '{variant}';
/** hub-path-in-repo's default: one folder per variant, as Apple's repositories have. */
export const DEFAULT_HUB_PATH = VARIANT_PLACEHOLDER;

/** Pure: why a hub-path-in-repo value is not a folder inside the repository, or undefined. */
export function hubPathProblem(value: string): string | undefined {
  if (value === '.' || value === '/') return undefined;
  const segments = value.replace(/^\/+|\/+$/g, '').split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return `must be a folder inside the repository (no empty, "." or ".." segments), got ${JSON.stringify(value)}`;
  if (segments.some((s) => !/^[\w.{}-]+$/.test(s))) return `may hold only letters, digits, "_", "-", ".", "/" and the placeholder ${VARIANT_PLACEHOLDER}, got ${JSON.stringify(value)}`;
  if (segments[0] === '.git' || segments[0]?.toLowerCase() === 'readme.md') return `must not be ${JSON.stringify(segments[0])}, got ${JSON.stringify(value)}`;
  if (value.replaceAll(VARIANT_PLACEHOLDER, '').includes('{') || value.replaceAll(VARIANT_PLACEHOLDER, '').includes('}')) return `knows only the placeholder ${VARIANT_PLACEHOLDER}, got ${JSON.stringify(value)}`;
  return undefined;
}

/**
 * Reads the Hugging Face Hub publishing inputs (hub-repo empty: no Hub publish). The checks that
 * need other inputs (hub-token given, package on) are rules in rules.ts.
 */
export function readHubPublishOptions(read: FieldReader, endpoint: string): HubPublishOptions | undefined {
  const repo = read.text('hub-repo');
  const token = read.text('hub-token');
  const privateText = read.text('hub-private');
  const isPrivate = privateText === '' ? undefined : read.bool('hub-private', false);
  const revision = read.text('hub-revision') || 'main';
  const branchProblem = /^[0-9a-f]{40}$/.test(revision) ? `must be a branch to commit to, not a commit sha, got ${JSON.stringify(revision)}` : tagProblem(revision)?.replace('a git tag name', 'a git branch name');
  const pathInRepo = read.text('hub-path-in-repo') || DEFAULT_HUB_PATH;
  const pathProblem = hubPathProblem(pathInRepo);
  if (repo === '') return undefined;
  if (!repo.includes('/') || !isHubId(repo)) {
    read.fail('hub-repo', `must be a Hub model repository id, owner/name (letters, digits, "-", "_", "."; the owner is your user or organization), got ${JSON.stringify(repo)}.`);
  }
  if (branchProblem) read.fail('hub-revision', `${branchProblem}.`);
  if (pathProblem) read.fail('hub-path-in-repo', `${pathProblem}.`);
  return { repo, token, private: isPrivate, revision, pathInRepo, endpoint };
}

// Publishing, the pure parts: the inputs and their rules, artifact names, the release body
// (sections per variant, notes once), the asset plan (broken, replaced, kept, stale), the errors.
import { describe, expect, it } from 'vitest';
import { parseInputs } from '../../src/inputs/parse.js';
import { artifactNameProblem, tagProblem } from '../../src/inputs/publish.js';
import { DEFAULT_MAX_ASSET_SIZE } from '../../src/package/split.js';
import { publishedNames } from '../../src/package/names.js';
import { sha256sums } from '../../src/package/manifest.js';
import type { ZipResult } from '../../src/package/zip.js';
import { artifactServiceProblem, artifactUrl } from '../../src/publish/artifact.js';
import { actionIdentity } from '../../src/package/stage.js';
import { mergeBody, renderSection, type SectionInput } from '../../src/publish/notes.js';
import { contentType, describeFailure, githubAssetName, isRetryable, ownedBy, planAssets } from '../../src/github/releases.js';
import { renderPublished } from '../../src/summary/summary.js';
import type { PublishReport } from '../../src/publish/stage.js';
import { ctx, raw } from './fixtures.js';

const errorFor = (errors: string[], name: string) => errors.find((e) => e.startsWith(`Input \`${name}\``));
const GITHUB_ENV = { GITHUB_REPOSITORY: 'octo/models', GITHUB_API_URL: 'https://api.github.com', GITHUB_RUN_ID: '7' };

describe('publishing inputs', () => {
  it('defaults: package, store, 1.9 GiB parts, one artifact, no release, overwrite', () => {
    const { config, errors } = parseInputs(raw(), ctx({ env: GITHUB_ENV }));
    expect(errors).toEqual([]);
    expect(config?.publish).toMatchObject({
      package: true,
      compressionLevel: 0,
      maxAssetSize: DEFAULT_MAX_ASSET_SIZE,
      uploadArtifact: true,
      overwriteAssets: true,
      github: { repository: 'octo/models', apiUrl: 'https://api.github.com', serverUrl: 'https://github.com', runId: '7' },
    });
    expect(config?.publish.release).toBeUndefined();
    expect(config?.publish.artifactName).toBeUndefined();
    expect(config?.publish.assetPrefix).toBeUndefined();
  });

  it('reads a release and the other settings', () => {
    const { config, errors } = parseInputs(
      raw({ 'release-tag': 'models-v1', 'release-name': 'Models', 'release-notes': 'Hello\nworld\n', draft: 'true', 'max-asset-size': '500MiB', 'compression-level': '6', 'retention-days': '30', 'asset-prefix': 'sd21', 'artifact-name': 'my bundle', 'github-token': 'ghs_x', 'overwrite-assets': 'false' }),
      ctx({ env: GITHUB_ENV }),
    );
    expect(errors).toEqual([]);
    expect(config?.publish).toMatchObject({
      release: { tag: 'models-v1', name: 'Models', notes: 'Hello\nworld', draft: true, prerelease: false },
      maxAssetSize: 500 * 1024 ** 2,
      compressionLevel: 6,
      retentionDays: 30,
      assetPrefix: 'sd21',
      artifactName: 'my bundle',
      githubToken: 'ghs_x',
      overwriteAssets: false,
    });
  });

  it('names the input and what is accepted, for every bad value, before anything runs', () => {
    const { config, errors } = parseInputs(
      raw({ 'compression-level': '10', 'max-asset-size': '2GiB', 'artifact-name': 'a/b', 'retention-days': '91', 'release-tag': 'v 1', 'asset-prefix': 'my model', draft: 'yes' }),
      ctx({ env: GITHUB_ENV }),
    );
    expect(config).toBeUndefined();
    expect(errorFor(errors, 'compression-level')).toMatch(/one of 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, got "10"/);
    expect(errorFor(errors, 'max-asset-size')).toMatch(/under 2 GiB .*got "2GiB"/);
    expect(errorFor(errors, 'artifact-name')).toMatch(/may not hold "\/"/);
    expect(errorFor(errors, 'retention-days')).toMatch(/1 to 90 days .*got 91/);
    expect(errorFor(errors, 'release-tag')).toMatch(/git tag name/);
    expect(errorFor(errors, 'asset-prefix')).toMatch(/letters, digits/);
    expect(errorFor(errors, 'draft')).toMatch(/true or false/);
    const sizes = parseInputs(raw({ 'max-asset-size': 'huge' }), ctx()).errors;
    expect(errorFor(sizes, 'max-asset-size')).toMatch(/a number of bytes, or a number with a unit .* got "huge"/);
    expect(errorFor(parseInputs(raw({ 'max-asset-size': '1000' }), ctx()).errors, 'max-asset-size')).toMatch(/at least 1 MiB/);
  });

  it('refuses a release without packaging, without a token, or outside a workflow run', () => {
    const noPackage = parseInputs(raw({ 'release-tag': 'v1', package: 'false', 'github-token': 't' }), ctx({ env: GITHUB_ENV })).errors;
    expect(errorFor(noPackage, 'release-tag')).toMatch(/package` is false/);
    const noToken = parseInputs(raw({ 'release-tag': 'v1', 'github-token': '' }), ctx({ env: GITHUB_ENV })).errors;
    expect(errorFor(noToken, 'github-token')).toMatch(/permissions: contents: write/);
    const noRepo = parseInputs(raw({ 'release-tag': 'v1', 'github-token': 't' }), ctx()).errors;
    expect(errorFor(noRepo, 'release-tag')).toMatch(/GITHUB_REPOSITORY/);
    // Without a release none of that matters.
    expect(parseInputs(raw({ package: 'false', 'github-token': '' }), ctx()).errors).toEqual([]);
  });

  it('checks artifact names and tags as the services do', () => {
    expect(artifactNameProblem('sd_split_einsum_6bit')).toBeUndefined();
    expect(artifactNameProblem('with space and (parens)')).toBeUndefined();
    for (const c of ['"', ':', '<', '>', '|', '*', '?', '\r', '\n', '\\', '/']) expect(artifactNameProblem(`a${c}b`), JSON.stringify(c)).toMatch(/may not hold/);
    expect(artifactNameProblem('  ')).toMatch(/empty/);
    expect(artifactNameProblem('x'.repeat(257))).toMatch(/at most 256/);
    for (const ok of ['v1', 'models/sd-2.1', 'release-2026-11-25', 'v1.0.0-rc.1']) expect(tagProblem(ok), ok).toBeUndefined();
    for (const bad of ['a b', 'a..b', '-v1', 'v1/', 'v1.lock', 'a~1', 'a^', 'a:b', 'a?', 'a*', 'a[b', 'a\\b', 'a@{1}', 'v1.']) expect(tagProblem(bad), bad).toBeDefined();
  });
});

const names = publishedNames({ conversion: { modelVersion: 'acme/sd', attention: 'SPLIT_EINSUM', quantizeNbits: 6, chunkUnet: false, unetSupportControlnet: false } });
const file = (name: string, size = 10, hash = 'a') => ({ name, path: `/p/${name}`, size, sha256: hash.repeat(64) });

function sectionInput(split: boolean): SectionInput {
  const compiledFiles = split ? [file(`${names.compiled}.001`, 100, 'b'), file(`${names.compiled}.002`, 5, 'c')] : [file(names.compiled, 105, 'd')];
  const compiled: ZipResult = { name: names.compiled, size: 105, sha256: 'd'.repeat(64), files: compiledFiles, sources: [], entries: 4, method: 'store' };
  const files = [...compiledFiles, file(names.manifest, 7, 'e')];
  return {
    names,
    model: { id: 'acme/sd', revision: 'main', sha: 'f'.repeat(40), local: false },
    options: { 'model-version': 'acme/sd', 'attention-implementation': 'SPLIT_EINSUM', 'quantize-nbits': '6', 'chunk-unet': 'false', 'latent-h': '' },
    verdicts: [{ part: 'unet', check: 'unet baseline | reference', psnr: 61.24, threshold: 40, passed: true, step: 'unet' }],
    archives: [compiled],
    files: [...files, file(names.sums, 3, '0')],
    sums: sha256sums(files),
    action: { name: 'owner/coreml-action', version: '1.0.0' },
  };
}

describe('the release body', () => {
  it('says what was converted, the options set, the PSNR table and the checksums', () => {
    const section = renderSection(sectionInput(false));
    expect(section.startsWith(`<!-- coreml-action:begin ${names.base} -->`)).toBe(true);
    expect(section.endsWith(`<!-- coreml-action:end ${names.base} -->`)).toBe(true);
    expect(section).toContain('[`acme/sd`](https://huggingface.co/acme/sd) at commit `ffffffffffffffffffffffffffffffffffffffff` (revision `main`)');
    expect(section).toContain('| `quantize-nbits` | 6 |');
    expect(section).not.toContain('chunk-unet');
    expect(section).toContain('| unet | unet baseline \\| reference | 61.2 dB | 40 dB | pass |');
    expect(section).toContain(`\`\`\`\n${sectionInput(false).sums.trimEnd()}\n\`\`\``);
    expect(section).not.toContain('cat ');
  });

  it('tells how to check and join parts with cat, and the joined sha256', () => {
    const section = renderSection(sectionInput(true));
    expect(section).toContain(`sha256sum -c ${names.sums}`);
    expect(section).toContain(`cat ${names.compiled}.001 ${names.compiled}.002 > ${names.compiled}`);
    expect(section).toContain(`joined: 105 B, sha256 \`${'d'.repeat(64)}\``);
  });

  it('a single file: the checkpoint and each LoRA as given with its sha256 (a LoRA with its scale), the config at its commit, the diffusers version', () => {
    const source = (input: string, repo: string | null, sha: string) => ({ input, repo, file: input.split('/').at(-1) ?? input, commit: repo ? '1'.repeat(40) : null, sha256: sha.repeat(64), size: 2048 });
    const singleFile = {
      checkpoint: source('acme/files/sd15/tiny.safetensors', 'acme/files', 'a'),
      kind: 'SD 1.x',
      config: { repo: 'acme/sd1-config', commit: '2'.repeat(40) },
      loras: [{ ...source('loras/style|v2.safetensors', null, 'b'), scale: 0.7 }],
      diffusers: '0.30.2',
      torch: '2.5.0',
    };
    const section = renderSection({ ...sectionInput(false), singleFile });
    expect(section).toContain('Core ML conversion of the single-file checkpoint `acme/files/sd15/tiny.safetensors` (SD 1.x)');
    expect(section).not.toContain('huggingface.co/acme/sd)');
    expect(section).toContain(`by diffusers 0.30.2 (torch 2.5.0), with the configs and tokenizers of [\`acme/sd1-config\`](https://huggingface.co/acme/sd1-config) at commit \`${'2'.repeat(40)}\``);
    expect(section).toContain(`| checkpoint | \`acme/files/sd15/tiny.safetensors\` | [\`acme/files\`](https://huggingface.co/acme/files) at commit \`${'1'.repeat(40)}\` | 2.0 KiB | \`${'a'.repeat(64)}\` | – |`);
    // The | in the LoRA's name is escaped, so the row keeps its six cells.
    expect(section).toContain(`| LoRA | \`loras/style\\|v2.safetensors\` | the workspace | 2.0 KiB | \`${'b'.repeat(64)}\` | 0.7 |`);
    const local = renderSection({ ...sectionInput(false), singleFile: { ...singleFile, config: { folder: 'configs/sd1' }, loras: [], diffusers: null } });
    expect(local).toContain('by diffusers (version unknown), with the configs and tokenizers of the folder `configs/sd1`.');
    expect(renderSection({ ...sectionInput(false), singleFile: null })).toBe(renderSection(sectionInput(false)));
  });

  it('merges one section per variant, replaces its own, keeps what else the body says, appends notes once', () => {
    const a = renderSection(sectionInput(false));
    const first = mergeBody(null, names.base, a, 'Made weekly.');
    expect(first).toBe(`${a}\n\nMade weekly.\n`);
    expect(mergeBody(first, names.base, a, 'Made weekly.')).toBe(first);
    const b = a.replaceAll(names.base, 'acme_original');
    const both = mergeBody(first, 'acme_original', b, 'Made weekly.');
    expect(both.indexOf(a)).toBeLessThan(both.indexOf(b));
    expect(both.indexOf(b)).toBeLessThan(both.indexOf('Made weekly.'));
    expect(both.split('Made weekly.')).toHaveLength(2);
    const a2 = renderSection(sectionInput(true));
    const replaced = mergeBody(both.replaceAll('\n', '\r\n'), names.base, a2, '');
    expect(replaced).toContain(a2);
    expect(replaced).not.toContain(a);
    expect(replaced).toContain(b);
    const foreign = mergeBody('Written by hand.', names.base, a, '');
    expect(foreign).toBe(`Written by hand.\n\n${a}\n`);
  });
});

describe('the asset plan', () => {
  const ours = [file(`${names.compiled}.001`, 100, 'b'), file(names.manifest, 7, 'e')];
  const asset = (id: number, name: string, state = 'uploaded', size = 100, digest: string | null = `sha256:${'b'.repeat(64)}`) => ({ id, name, state, size, digest });

  it('uploads what is new, and removes a broken starter of the same name first', () => {
    const plan = planAssets([asset(1, `${names.compiled}.001`, 'starter', 65536, null), asset(2, 'other_compiled.zip')], ours, true, names.base);
    expect(plan.steps.map((s) => [s.file.name, s.action, s.remove, s.replaces])).toEqual([
      [`${names.compiled}.001`, 'upload', [1], false],
      [names.manifest, 'upload', [], false],
    ]);
    expect(plan.conflicts).toEqual([]);
    expect(plan.stale).toEqual([]);
    expect(plan.total).toBe(3);
  });

  it('replaces same-named assets with overwrite; without, keeps identical ones and refuses different ones', () => {
    const existing = [asset(3, `${names.compiled}.001`), asset(4, names.manifest, 'uploaded', 7, `sha256:${'9'.repeat(64)}`)];
    expect(planAssets(existing, ours, true, names.base).steps.map((s) => [s.action, s.remove, s.replaces])).toEqual([
      ['upload', [3], true],
      ['upload', [4], true],
    ]);
    const careful = planAssets(existing, ours, false, names.base);
    expect(careful.steps.map((s) => [s.file.name, s.action])).toEqual([[`${names.compiled}.001`, 'keep']]);
    expect(careful.conflicts).toEqual([names.manifest]);
  });

  it('removes this variant\'s assets the run no longer publishes (a whole zip now in parts), never another variant\'s', () => {
    const existing = [asset(5, names.compiled), asset(6, `${names.compiled}.003`), asset(7, 'acme_split_einsum_compiled.zip'), asset(8, `${names.base}_notes.txt`), asset(9, 'README.md')];
    const plan = planAssets(existing, ours, true, names.base);
    expect(plan.stale).toEqual([
      { id: 5, name: names.compiled },
      { id: 6, name: `${names.compiled}.003` },
    ]);
    expect(plan.total).toBe(3 + ours.length);
    expect(planAssets(existing, ours, false, names.base).stale).toEqual([]);
    expect(ownedBy(names.base, `${names.base}_SHA256SUMS`)).toBe(true);
    expect(ownedBy(names.base, `${names.base}_packages.zip.012`)).toBe(true);
    expect(ownedBy('acme_split_einsum', 'acme_split_einsum_6bit_compiled.zip')).toBe(false);
  });

  it('names, types, retries and failures as GitHub has them', () => {
    expect(githubAssetName('a b(1).zip')).toBe('a.b.1..zip');
    expect(githubAssetName(names.compiled)).toBe(names.compiled);
    expect(contentType('x.zip')).toBe('application/zip');
    expect(contentType('x.zip.001')).toBe('application/octet-stream');
    expect(contentType('x_manifest.json')).toBe('application/json');
    expect(contentType('x_SHA256SUMS')).toMatch(/^text\/plain/);
    expect(isRetryable({ status: 502 })).toBe(true);
    expect(isRetryable({ status: 500, message: 'other side closed' })).toBe(true);
    expect(isRetryable(new Error('read ECONNRESET'))).toBe(true);
    for (const status of [401, 403, 404, 422]) expect(isRetryable({ status }), String(status)).toBe(false);
    const denied = describeFailure('Creating the release v1', Object.assign(new Error('Resource not accessible by integration'), { status: 403 }));
    expect(denied.message).toBe(
      'Creating the release v1 failed (HTTP 403): Resource not accessible by integration. The token may not write releases: ' +
        'give the job `permissions: contents: write` (a workflow or job with a `permissions:` block gets only what it lists), ' +
        'or pass a token that may write contents as `github-token`.',
    );
    expect(denied.status).toBe(403);
  });
});

describe('the workflow artifact', () => {
  it('needs the runtime token and results URL of a github.com-style host', () => {
    const problem = (env: Record<string, string>) => {
      const config = parseInputs(raw(), ctx({ env })).config!;
      return artifactServiceProblem(config.runner.artifactServiceUnset, config.publish.github);
    };
    expect(problem({})).toMatch(/ACTIONS_RUNTIME_TOKEN and ACTIONS_RESULTS_URL unset/);
    expect(problem({ ACTIONS_RUNTIME_TOKEN: 't' })).toMatch(/ACTIONS_RESULTS_URL unset/);
    const ok = { ACTIONS_RUNTIME_TOKEN: 't', ACTIONS_RESULTS_URL: 'https://results/' };
    expect(problem(ok)).toBeUndefined();
    expect(problem({ ...ok, GITHUB_SERVER_URL: 'https://octo.ghe.com' })).toBeUndefined();
    expect(problem({ ...ok, GITHUB_SERVER_URL: 'https://github.example.com' })).toMatch(/Enterprise Server/);
    expect(artifactUrl({ serverUrl: 'https://github.com', apiUrl: '', repository: 'o/r', runId: '9' }, 12)).toBe('https://github.com/o/r/actions/runs/9/artifacts/12');
  });
});

describe("the manifest's action", () => {
  it('names the action as the workflow uses it (GITHUB_ACTION_REPOSITORY, GITHUB_ACTION_REF), read with the inputs', () => {
    const github = (env: Record<string, string>) => parseInputs(raw(), ctx({ env })).config!.publish.github;
    expect(actionIdentity(github({ GITHUB_ACTION_REPOSITORY: 'octo/coreml-action', GITHUB_ACTION_REF: 'v1.2.0' }))).toMatchObject({ name: 'octo/coreml-action', ref: 'v1.2.0' });
    const unnamed = actionIdentity(github({}));
    expect(unnamed.name).not.toBe('octo/coreml-action');
    expect(unnamed.ref).toBeNull();
  });
});

describe('the Published section of the summary', () => {
  it('lists every file with size, sha256 and download link, and how to join parts', () => {
    const input = sectionInput(true);
    const report: PublishReport = {
      problems: [],
      packaged: { dir: '/t/pkg', names, archives: input.archives, manifest: {} as never, files: input.files.map((f) => ({ ...f, path: `/t/pkg/${f.name}` })), sums: input.sums, durationMs: 1500 },
      artifact: { name: names.base, id: 3, url: 'https://github.com/o/r/actions/runs/1/artifacts/3', size: 1 },
      release: { id: 1, url: 'https://github.com/o/r/releases/tag/v1', tag: 'v1', draft: false, created: true, assets: [{ name: names.manifest, size: 7, sha256: 'e'.repeat(64), url: 'https://dl/m' }], replaced: [], kept: [], removed: [] },
    };
    const md = renderPublished(report);
    expect(md).toContain('### Published');
    expect(md).toContain(`workflow artifact [${names.base}](https://github.com/o/r/actions/runs/1/artifacts/3)`);
    expect(md).toContain('release [v1](https://github.com/o/r/releases/tag/v1)');
    expect(md).toContain(`| \`${names.manifest}\` | 7 B | \`${'e'.repeat(64)}\` | [download](https://dl/m) |`);
    expect(md).toContain(`| \`${names.compiled}.001\` | 100 B | \`${'b'.repeat(64)}\` | – |`);
    expect(md).toContain(`cat ${names.compiled}.001 ${names.compiled}.002 > ${names.compiled}`);
  });
});

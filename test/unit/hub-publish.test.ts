// Publishing to a Hugging Face Hub repository (issue 11): the inputs and their rules, the commit
// planner, the model card and its merge, the visibility rule, the fault diagnosis and retry policy.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseInputs } from '../../src/inputs/parse.js';
import { publishedNames } from '../../src/package/names.js';
import { commitLanded, commitMessage, commitNeeded, gitBlobId, manifestCurrent, needGitIds, ownedBy, planCommit, variantFolder, type LocalFile, type RemoteFile } from '../../src/publish/hub/plan.js';
import { FRONT_MATTER_MARK, licenseOf, mergeCard, renderCardSection, splitCard, type CardInput } from '../../src/publish/hub/card.js';
import { visibilityProblem } from '../../src/publish/hub/visibility.js';
import { tokenRoleProblem } from '../../src/publish/hub/preflight.js';
import { diagnoseHubFailure, retryAfterMs, retryDelay } from '../../src/hub/write-faults.js';
import { identityFromText } from '../../src/refresh/hub.js';
import { retryingFetch } from '../../src/hub/publish-client.js';
import { renderHub } from '../../src/summary/summary.js';
import { judge } from '../../src/refresh/compare.js';
import { ctx, raw } from './fixtures.js';

const errorFor = (errors: string[], name: string) => errors.find((e) => e.startsWith(`Input \`${name}\``));
const sha = (text: string) => createHash('sha256').update(text).digest('hex');

describe('Hub inputs', () => {
  it('is off when hub-repo is empty, whatever the other hub inputs say', () => {
    const result = parseInputs(raw({ 'hub-token': 'hf_w' }), ctx());
    expect(result.errors).toEqual([]);
    expect(result.config?.publish.hub).toBeUndefined();
  });

  it('reads the defaults: branch main, one folder per variant, hub-private not given, the endpoint of HF_ENDPOINT', () => {
    const result = parseInputs(raw({ 'hub-repo': 'acme/coreml-sd', 'hub-token': 'hf_w' }), ctx({ env: { HF_ENDPOINT: 'http://127.0.0.1:9/' } }));
    expect(result.errors).toEqual([]);
    expect(result.config?.publish.hub).toEqual({ repo: 'acme/coreml-sd', token: 'hf_w', private: undefined, revision: 'main', pathInRepo: '{variant}', endpoint: 'http://127.0.0.1:9' });
  });

  it('tells hub-private false given from hub-private left empty', () => {
    const given = parseInputs(raw({ 'hub-repo': 'acme/x', 'hub-token': 't', 'hub-private': 'false' }), ctx());
    expect(given.config?.publish.hub?.private).toBe(false);
    const yes = parseInputs(raw({ 'hub-repo': 'acme/x', 'hub-token': 't', 'hub-private': 'true' }), ctx());
    expect(yes.config?.publish.hub?.private).toBe(true);
    expect(errorFor(parseInputs(raw({ 'hub-repo': 'acme/x', 'hub-token': 't', 'hub-private': 'yes' }), ctx()).errors, 'hub-private')).toMatch(/true or false/);
  });

  it.each([
    ['hub-repo', { 'hub-repo': 'just-a-name' }, /owner\/name/],
    ['hub-repo', { 'hub-repo': 'acme/bad name' }, /owner\/name/],
    ['hub-revision', { 'hub-revision': 'a'.repeat(40) }, /branch to commit to, not a commit sha/],
    ['hub-revision', { 'hub-revision': 'feature..x' }, /git branch name/],
    ['hub-path-in-repo', { 'hub-path-in-repo': '../up' }, /folder inside the repository/],
    ['hub-path-in-repo', { 'hub-path-in-repo': 'models/{model}' }, /only the placeholder \{variant\}/],
    ['hub-path-in-repo', { 'hub-path-in-repo': 'a b' }, /may hold only/],
    ['hub-path-in-repo', { 'hub-path-in-repo': '.git/x' }, /must not be/],
    ['hub-token', { 'hub-token': '' }, /write access.*hub-token: \$\{\{ secrets/],
    ['hub-repo', { package: 'false' }, /`package` is false: the Hub repository gets the zips/],
  ] as const)('refuses %s %j, naming the input', (name, overrides, message) => {
    const result = parseInputs(raw({ 'hub-repo': 'acme/coreml-sd', 'hub-token': 'hf_w', ...overrides }), ctx());
    expect(result.config).toBeUndefined();
    expect(errorFor(result.errors, name)).toMatch(message);
  });

  it('accepts `.` for the top of the repository and a nested template', () => {
    for (const value of ['.', '/', 'coreml/{variant}', 'v1/{variant}/zips']) {
      expect(parseInputs(raw({ 'hub-repo': 'acme/x', 'hub-token': 't', 'hub-path-in-repo': value }), ctx()).errors, value).toEqual([]);
    }
  });

  it('lets skip-if-unchanged compare with the Hub repository alone, and still refuses it with neither release nor Hub', () => {
    expect(parseInputs(raw({ 'skip-if-unchanged': 'true', 'hub-repo': 'acme/x', 'hub-token': 't' }), ctx()).errors).toEqual([]);
    expect(errorFor(parseInputs(raw({ 'skip-if-unchanged': 'true' }), ctx()).errors, 'skip-if-unchanged')).toMatch(/`release-tag` and `hub-repo` are empty/);
  });
});

const NAMES = publishedNames({ conversion: { modelVersion: 'acme/sd', attention: 'SPLIT_EINSUM', chunkUnet: false, unetSupportControlnet: false }, assetPrefix: undefined });
const local = (path: string, text: string): LocalFile => ({ path, size: Buffer.byteLength(text), sha256: sha(text), text });

describe('layout and ownership', () => {
  it('fills {variant} in, and `.` is the top', () => {
    expect(variantFolder('{variant}', 'split_einsum_6bit')).toBe('split_einsum_6bit');
    expect(variantFolder('coreml/{variant}/', 'original')).toBe('coreml/original');
    expect(variantFolder('.', 'original')).toBe('');
  });

  it('owns exactly the names packaging gives this variant, parts included, in its folder', () => {
    const owned = ownedBy('split_einsum', NAMES);
    for (const p of ['split_einsum/sd_split_einsum_compiled.zip', 'split_einsum/sd_split_einsum_compiled.zip.002', 'split_einsum/sd_split_einsum_packages.zip', 'split_einsum/sd_split_einsum_manifest.json', 'split_einsum/sd_split_einsum_SHA256SUMS']) {
      expect(owned(p), p).toBe(true);
    }
    // Another variant whose name starts like this one's, a hand-made file, the card, the top level.
    for (const p of ['split_einsum/sd_split_einsum_6bit_compiled.zip', 'split_einsum/notes.md', 'README.md', 'sd_split_einsum_compiled.zip', 'split_einsum/sd_split_einsum_compiled.zip.x01', '.gitattributes']) {
      expect(owned(p), p).toBe(false);
    }
  });
});

describe('planCommit', () => {
  const zip: LocalFile = { path: 'v/a.zip', size: 5, sha256: sha('zip-1'), sources: ['/tmp/a.zip'] };
  const card = local('README.md', 'card\n');
  const owned = (p: string) => p.startsWith('v/');

  it('uploads everything into an empty repository, and deletes nothing', () => {
    const plan = planCommit({ files: [zip, card], remote: [], owned, gitIds: new Map() });
    expect(plan.upload.map((f) => f.path)).toEqual(['v/a.zip', 'README.md']);
    expect(plan.delete).toEqual([]);
    expect(commitNeeded(plan)).toBe(true);
  });

  it('makes no commit when the LFS sha256 and the git blob id already match', () => {
    const remote: RemoteFile[] = [
      { path: 'v/a.zip', size: 130, oid: 'pointer-id', lfs: { oid: zip.sha256, size: 5 } },
      { path: 'README.md', size: card.size, oid: gitBlobId(Buffer.from(card.text!)) },
      { path: 'notes.md', size: 3, oid: 'x' },
    ];
    const plan = planCommit({ files: [zip, card], remote, owned, gitIds: new Map([['README.md', gitBlobId(Buffer.from(card.text!))]]) });
    expect(plan.upload).toEqual([]);
    expect(plan.unchanged).toEqual(['v/a.zip', 'README.md']);
    expect(commitNeeded(plan)).toBe(false);
  });

  it('replaces a changed file and deletes the variant\'s files it no longer has, leaving others alone', () => {
    const remote: RemoteFile[] = [
      { path: 'v/a.zip', size: 130, lfs: { oid: sha('zip-0'), size: 5 } },
      { path: 'v/a.zip.002', size: 130, lfs: { oid: sha('old part'), size: 9 } },
      { path: 'other/b.zip', size: 130, lfs: { oid: sha('b'), size: 1 } },
      { path: 'README.md', size: 4, oid: 'old' },
    ];
    const plan = planCommit({ files: [zip, card], remote, owned, gitIds: new Map() });
    expect(plan.upload.map((f) => f.path)).toEqual(['v/a.zip', 'README.md']);
    expect(plan.delete).toEqual(['v/a.zip.002']);
  });

  it('compares a git file of another size without hashing, and one of the same size by its blob id', () => {
    const remote: RemoteFile[] = [{ path: 'README.md', size: card.size, oid: gitBlobId(Buffer.from('CARD\n')) }];
    expect(needGitIds([zip, card], remote).map((f) => f.path)).toEqual(['README.md']);
    expect(needGitIds([card], [{ path: 'README.md', size: 99, oid: 'x' }])).toEqual([]);
    const plan = planCommit({ files: [card], remote, owned, gitIds: new Map([['README.md', gitBlobId(Buffer.from(card.text!))]]) });
    expect(plan.upload.map((f) => f.path)).toEqual(['README.md']);
  });

  it('keeps a file named in keep only when the repository has one', () => {
    const manifest = local('v/m.json', '{"run":2}');
    expect(planCommit({ files: [manifest], remote: [{ path: 'v/m.json', size: 9, oid: 'x' }], owned, gitIds: new Map(), keep: new Set(['v/m.json']) }).upload).toEqual([]);
    expect(planCommit({ files: [manifest], remote: [], owned, gitIds: new Map(), keep: new Set(['v/m.json']) }).upload).toHaveLength(1);
  });

  it('git blob ids are git\'s (`git hash-object` of "hello\\n")', () => {
    expect(gitBlobId(Buffer.from('hello\n'))).toBe('ce013625030ba8dba906f756967f9e9ca394464a');
  });
});

describe('commitLanded (a commit whose answer was lost, then 412 on its retry)', () => {
  const zip: LocalFile = { path: 'v/a.zip', size: 5, sha256: sha('zip-1'), sources: ['/tmp/a.zip'] };
  const card = local('README.md', 'card\n');
  const cardId = gitBlobId(Buffer.from(card.text!));
  const owned = (p: string) => p.startsWith('v/');
  const before: RemoteFile[] = [
    { path: 'v/a.zip', size: 130, lfs: { oid: sha('zip-0'), size: 5 } },
    { path: 'v/a.zip.002', size: 130, lfs: { oid: sha('old part'), size: 9 } },
    { path: 'v/m.json', size: 9, oid: 'manifest-id' },
    { path: 'notes.md', size: 3, oid: 'n' },
  ];
  const manifest = local('v/m.json', '{"run":2}');
  const plan = planCommit({ files: [zip, card, manifest], remote: before, owned, gitIds: new Map(), keep: new Set(['v/m.json']) });
  // What the branch holds once this plan is committed (the Hub may touch .gitattributes too).
  const committed: RemoteFile[] = [
    { path: '.gitattributes', size: 10, oid: 'attrs' },
    { path: 'v/a.zip', size: 130, oid: 'pointer', lfs: { oid: zip.sha256, size: 5 } },
    { path: 'README.md', size: card.size, oid: cardId },
    { path: 'v/m.json', size: 9, oid: 'manifest-id' },
    { path: 'notes.md', size: 3, oid: 'n' },
  ];
  const landed = (after: RemoteFile[], gitIds = new Map([['README.md', cardId]])) => commitLanded({ plan, before, after, gitIds });

  it('the plan is what the test means: two uploads, one deletion, one kept file', () => {
    expect(plan.upload.map((f) => f.path)).toEqual(['v/a.zip', 'README.md']);
    expect(plan.delete).toEqual(['v/a.zip.002']);
    expect(plan.unchanged).toEqual(['v/m.json']);
  });

  it('holds when every upload has the planned sha256 or blob id, the deletion is gone and the kept file is as it was', () => {
    expect(landed(committed)).toBe(true);
    // Files the plan does not name (another variant's, a new one of someone else's) do not matter.
    expect(landed([...committed, { path: 'other/x.zip', size: 1, oid: 'y' }])).toBe(true);
  });

  it('fails when an upload is missing or has other content', () => {
    expect(landed(committed.filter((f) => f.path !== 'README.md'))).toBe(false);
    expect(landed(committed.map((f) => (f.path === 'v/a.zip' ? { ...f, lfs: { oid: sha('zip-0'), size: 5 } } : f)))).toBe(false);
    expect(landed(committed.map((f) => (f.path === 'README.md' ? { ...f, oid: gitBlobId(Buffer.from('CARD\n')) } : f)))).toBe(false);
    // A git file of the same size whose blob id was not computed is not taken as the same.
    expect(landed(committed, new Map())).toBe(false);
  });

  it('fails when a planned deletion is still there, or a kept file changed or went away', () => {
    expect(landed([...committed, before[1]!])).toBe(false);
    expect(landed(committed.map((f) => (f.path === 'v/m.json' ? { ...f, oid: 'someone-else' } : f)))).toBe(false);
    expect(landed(committed.filter((f) => f.path !== 'v/m.json'))).toBe(false);
  });

  it('fails on the branch as it was before the commit (nothing of the plan landed)', () => {
    expect(landed(before)).toBe(false);
  });

  it('the summary tells a commit found after a lost answer from one answered as usual', () => {
    const report = { repo: 'acme/x', revision: 'main', url: 'https://hub/acme/x', folderUrl: 'https://hub/acme/x/tree/main/v', head: 'c'.repeat(40), created: false, files: [], deleted: [] };
    const lost = renderHub({ ...report, commit: { oid: 'c'.repeat(40), url: 'https://hub/acme/x/commit/c', answerLost: true } });
    expect(lost).toContain('Committed to [acme/x](https://hub/acme/x) on `main`: [`cccccccccccc`](https://hub/acme/x/commit/c)');
    expect(lost).toContain('the first attempt had committed, and this is that commit');
    expect(lost).not.toContain('No new commit');
    expect(renderHub({ ...report, commit: { oid: 'c'.repeat(40), url: 'https://hub/acme/x/commit/c' } })).not.toContain('answer to the commit was lost');
  });
});

describe('manifestCurrent', () => {
  const manifest = (run: string, sha256: string) => JSON.stringify({ schemaVersion: 1, archives: [{ sha256 }], run: { runId: run } });
  it('is current when only the run record differs', () => {
    expect(manifestCurrent(manifest('1', 'aa'), manifest('2', 'aa'))).toBe(true);
  });
  it('is not when anything else differs, or the repository has none or an unreadable one', () => {
    expect(manifestCurrent(manifest('1', 'aa'), manifest('1', 'bb'))).toBe(false);
    expect(manifestCurrent(undefined, manifest('1', 'aa'))).toBe(false);
    expect(manifestCurrent('{not json', manifest('1', 'aa'))).toBe(false);
  });
});

describe('commitMessage', () => {
  it('names the source model and its full commit sha, and lists what changes', () => {
    const plan = { upload: [{ path: 'v/a.zip', size: 1, sha256: 'ab'.repeat(32) }], delete: ['v/old.zip'], unchanged: [] };
    const m = commitMessage({ base: 'sd_split_einsum', model: { id: 'acme/sd', sha: 'c'.repeat(40), revision: 'main', local: false }, plan, action: { name: 'act', version: '1.2.3' } });
    expect(m.title).toBe(`Core ML sd_split_einsum from acme/sd@${'c'.repeat(40)}`);
    expect(m.description).toContain(`add/update v/a.zip (sha256 ${'ab'.repeat(32)})`);
    expect(m.description).toContain('delete v/old.zip');
  });
});

const cardInput = (overrides: Partial<CardInput> = {}): CardInput => ({
  repo: 'acme/coreml-sd',
  names: NAMES,
  variant: 'split_einsum',
  folder: 'split_einsum',
  model: { id: 'acme/sd', revision: 'main', sha: 'd'.repeat(40), local: false, access: 'public', card: { license: 'creativeml-openrail-m', tags: ['x'] } },
  options: { 'model-version': 'acme/sd', 'attention-implementation': 'SPLIT_EINSUM', 'quantize-nbits': '', 'extra-args': '--a\n--b' },
  verdicts: [{ part: 'unet', check: 'pytorch vs coreml', psnr: 42.5, threshold: 35, passed: true, step: 'unet' } as never],
  files: [
    { path: 'split_einsum/sd_split_einsum_compiled.zip', size: 2048, sha256: 'e'.repeat(64) },
    { path: 'split_einsum/sd_split_einsum_packages.zip', size: 4096, sha256: 'f'.repeat(64) },
  ],
  xl: false,
  action: { name: 'owner/coreml-action', version: '1.0.0' },
  ...overrides,
});

describe('the model card', () => {
  it('a new card: front matter with library_name, pipeline_tag, base_model, the copied license and the variant tag', () => {
    const text = mergeCard(undefined, cardInput());
    const { yaml, body } = splitCard(text);
    expect(yaml?.split('\n')[0]).toBe(FRONT_MATTER_MARK);
    expect(parseYaml(yaml!)).toEqual({
      library_name: 'coreml',
      pipeline_tag: 'text-to-image',
      base_model: 'acme/sd',
      license: 'creativeml-openrail-m',
      tags: ['coreml', 'stable-diffusion', 'text-to-image', 'split_einsum'],
    });
    expect(body).toMatch(/^# coreml-sd\n/);
    expect(body).toContain('<!-- coreml-action:begin sd_split_einsum -->');
  });

  it('the section: source commit, license, every converter input, PSNR, apps, files with sha256', () => {
    const s = renderCardSection(cardInput());
    expect(s).toContain(`at commit \`${'d'.repeat(40)}\``);
    expect(s).toContain('`creativeml-openrail-m`');
    expect(s).toContain('| `quantize-nbits` | (default) |');
    expect(s).toContain('| `extra-args` | --a --b |');
    expect(s).toContain('| unet | pytorch vs coreml | 42.5 dB | 35 dB | pass |');
    expect(s).toContain(`| \`split_einsum/sd_split_einsum_compiled.zip\` | 2.0 KiB | \`${'e'.repeat(64)}\` |`);
    expect(s).toMatch(/Mochi Diffusion \| `split_einsum\/sd_split_einsum_compiled.zip`/);
    expect(s).toMatch(/Python pipeline.*sd_split_einsum_packages.zip/);
    // In a folder, the Diffusers app cannot find the zip: the card says how to publish for it.
    expect(s).toContain('`hub-path-in-repo: .` and `asset-prefix: coreml-sd`');
    expect(s).toContain('cd split_einsum && sha256sum -c sd_split_einsum_SHA256SUMS');
  });

  it('says when the Diffusers app finds the zip by itself, and adds --xl for SDXL', () => {
    const names = publishedNames({ conversion: { modelVersion: 'acme/sd', attention: 'SPLIT_EINSUM', chunkUnet: false, unetSupportControlnet: false }, assetPrefix: 'coreml-sd' });
    const s = renderCardSection(cardInput({ names, folder: '', xl: true, files: [{ path: names.compiled, size: 1, sha256: 'e'.repeat(64) }] }));
    expect(s).toContain('downloads it itself');
    expect(s).toContain('with `--xl`');
    expect(s).not.toContain('Python pipeline');
  });

  it('a gated source: its license and that its terms apply to the converted weights', () => {
    const s = renderCardSection(cardInput({ model: { ...cardInput().model, access: 'gated', card: { license: 'other', license_name: 'sd3-community', license_link: 'https://x/LICENSE' } } }));
    expect(s).toContain('`other (sd3-community)` ([text](https://x/LICENSE))');
    expect(s).toMatch(/\*\*gated\*\*.*apply to these converted weights too/);
    expect(licenseOf({ license: ' mit ', license_link: 3 })).toEqual({ license: 'mit' });
    expect(renderCardSection(cardInput({ model: { ...cardInput().model, card: null } }))).toContain('names none');
  });

  it('keeps a hand-written card and its front matter, adding only the section; a second run replaces only that section', () => {
    const hand = '---\nlicense: mit\ntags:\n- mine\n---\n# My models\n\nWritten by hand.\n';
    const once = mergeCard(hand, cardInput());
    expect(once.startsWith('---\nlicense: mit\ntags:\n- mine\n---\n# My models\n\nWritten by hand.\n\n<!-- coreml-action:begin sd_split_einsum -->')).toBe(true);
    const changed = cardInput({ model: { ...cardInput().model, sha: '9'.repeat(40) } });
    const twice = mergeCard(once, changed);
    expect(twice).toContain('9'.repeat(40));
    expect(twice).not.toContain('d'.repeat(40));
    expect(twice.match(/coreml-action:begin sd_split_einsum /g)).toHaveLength(1);
    expect(twice).toContain('Written by hand.');
    expect(mergeCard(twice, changed)).toBe(twice);
  });

  it('a hand-written card without front matter gains the action\'s', () => {
    const out = mergeCard('# Mine\n', cardInput());
    expect(splitCard(out).yaml).toContain('base_model: acme/sd');
    expect(splitCard(out).body.startsWith('# Mine\n')).toBe(true);
  });

  it('the action\'s front matter gathers the tags of every variant', () => {
    const first = mergeCard(undefined, cardInput());
    const other = publishedNames({ conversion: { modelVersion: 'acme/sd', attention: 'ORIGINAL', chunkUnet: false, unetSupportControlnet: false }, assetPrefix: undefined });
    const both = mergeCard(first, cardInput({ names: other, variant: 'original', folder: 'original' }));
    expect((parseYaml(splitCard(both).yaml!) as { tags: string[] }).tags).toEqual(['coreml', 'stable-diffusion', 'text-to-image', 'split_einsum', 'original']);
    expect(both).toContain('<!-- coreml-action:begin sd_split_einsum -->');
    expect(both).toContain('<!-- coreml-action:begin sd_original -->');
  });
});

describe('visibilityProblem', () => {
  const priv = { id: 'acme/secret', access: 'private' as const };
  it('refuses a private source to a public repository or one that would be created public, naming hub-private', () => {
    expect(visibilityProblem({ source: priv, repo: 'acme/out', exists: false, hubPrivate: undefined })).toMatch(/^Input `hub-private` is empty, but the source model acme\/secret is private and acme\/out does not exist yet/);
    expect(visibilityProblem({ source: priv, repo: 'acme/out', exists: true, isPrivate: false, hubPrivate: true })).toMatch(/acme\/out is a public repository/);
  });
  it('lets it go private, or public when hub-private: false was given', () => {
    expect(visibilityProblem({ source: priv, repo: 'acme/out', exists: false, hubPrivate: true })).toBeUndefined();
    expect(visibilityProblem({ source: priv, repo: 'acme/out', exists: true, isPrivate: true, hubPrivate: undefined })).toBeUndefined();
    expect(visibilityProblem({ source: priv, repo: 'acme/out', exists: true, isPrivate: false, hubPrivate: false })).toBeUndefined();
    expect(visibilityProblem({ source: { id: 'acme/open', access: 'gated' }, repo: 'acme/out', exists: false, hubPrivate: undefined })).toBeUndefined();
  });
});

describe('faults', () => {
  it('reads Retry-After as seconds or as a date', () => {
    expect(retryAfterMs('3', 0)).toBe(3000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(retryAfterMs(null, 0)).toBeUndefined();
    expect(retryAfterMs('soon', 0)).toBeUndefined();
  });

  it('retries 429 after Retry-After, 5xx and dropped connections with backoff, and never 4xx', () => {
    const policy = { attempts: 4, baseMs: 100, maxWaitMs: 10_000 };
    expect(retryDelay(429, 2500, 1, policy)).toBe(2500);
    expect(retryDelay(429, undefined, 2, policy)).toBe(200);
    expect(retryDelay(429, 60_000, 1, policy)).toBeUndefined();
    expect(retryDelay(502, undefined, 1, policy)).toBe(100);
    expect(retryDelay(503, undefined, 3, policy)).toBe(400);
    expect(retryDelay(undefined, undefined, 1, policy)).toBe(100);
    expect(retryDelay(502, undefined, 4, policy)).toBeUndefined();
    for (const status of [400, 401, 403, 404, 409, 412]) expect(retryDelay(status, undefined, 1, policy), String(status)).toBeUndefined();
  });

  const d = (status: number | undefined, operation: Parameters<typeof diagnoseHubFailure>[0]['operation'] = 'commit') =>
    diagnoseHubFailure({ status, operation, repo: 'acme/out', revision: 'main', message: 'said so', attempts: 5 });
  it('says which permission a 403 lacks, and that nothing was committed', () => {
    expect(d(403)).toMatch(/no write access to acme\/out \(said so\)\. A classic token needs the "write" role; a fine-grained token needs "Write access to contents\/settings of all repos under acme"/);
    expect(d(403, 'create the repository')).toContain('"Create repos" permission');
    expect(d(401)).toMatch(/does not accept the token of `hub-token`/);
    for (const s of [401, 403, 404, 409, 429, 502, undefined]) expect(d(s), String(s)).toMatch(/[Nn]othing was committed/);
  });
  it('names the tries for 429 and 5xx', () => {
    expect(d(429)).toMatch(/kept answering 429 \(rate limited\) after 5 tries/);
    expect(d(502, 'upload')).toMatch(/failed to upload: the Hub answered 502 after 5 tries/);
  });
  it('tells a read token from a write one before converting', () => {
    expect(tokenRoleProblem('read', 'acme/out')).toMatch(/^Input `hub-token` is a "read" token/);
    expect(tokenRoleProblem('write', 'acme/out')).toBeUndefined();
    expect(tokenRoleProblem('fineGrained', 'acme/out')).toBeUndefined();
  });
});

describe('skip-if-unchanged against the Hub', () => {
  const wanted = { models: [{ role: 'model' as const, id: 'acme/sd', revision: 'a'.repeat(40), resolved: true }], inputs: { x: '1' }, actionMajor: 'v1' };
  const manifest = JSON.stringify({ models: [{ id: 'acme/sd', sha: 'a'.repeat(40) }], converterInputs: { x: '1' }, action: { major: 'v1' } });
  const place = 'Hub repository acme/out (main)';
  it('is current when the repository\'s manifest records the same conversion', () => {
    const verdict = judge(wanted, 'acme/out', { release: true, manifestName: 'v/m.json', manifest: identityFromText(manifest) }, place);
    expect(verdict).toMatchObject({ current: true, matched: expect.stringContaining('v/m.json of Hub repository acme/out (main) matches') });
  });
  it('converts when the repository is missing, has no manifest, or an unreadable one', () => {
    expect(judge(wanted, 'acme/out', { release: false }, place)).toMatchObject({ current: false, reason: 'there is no published Hub repository acme/out (main)' });
    expect(judge(wanted, 'acme/out', { release: true, manifestName: 'v/m.json', manifest: identityFromText(undefined) }, place)).toMatchObject({ reason: 'Hub repository acme/out (main) has no v/m.json' });
    expect(identityFromText('{oops')).toBeInstanceOf(Error);
  });
});

describe('retryingFetch', () => {
  const policy = { attempts: 3, baseMs: 10, maxWaitMs: 5000 };
  function harness(answers: Array<Response | Error>) {
    const waits: number[] = [];
    const logged: string[] = [];
    const tries = { last: 0 };
    let calls = 0;
    const base = (async () => {
      const next = answers[calls++];
      if (next instanceof Error) throw next;
      return next as Response;
    }) as unknown as typeof fetch;
    const wrapped = retryingFetch(base, { sleep: async (ms) => void waits.push(ms), policy, log: (l) => logged.push(l), tries });
    return { wrapped, waits, logged, tries, calls: () => calls };
  }

  it('waits what Retry-After says on a 429, then returns the answer', async () => {
    const h = harness([new Response('slow down', { status: 429, headers: { 'retry-after': '2' } }), new Response('ok')]);
    const res = await h.wrapped('http://hub/api/x', { method: 'POST' });
    expect(await res.text()).toBe('ok');
    expect(h.waits).toEqual([2000]);
    expect(h.logged[0]).toBe('POST http://hub/api/x: answered 429; trying again in 2 s (try 2 of 3).');
  });

  it('backs off on 5xx and dropped connections, and hands back the last answer when the tries run out', async () => {
    const h = harness([new Error('socket hang up'), new Response('', { status: 502 }), new Response('', { status: 503 })]);
    const res = await h.wrapped('http://hub/x');
    expect(res.status).toBe(503);
    expect(h.waits).toEqual([10, 20]);
    expect(h.tries.last).toBe(3);
  });

  it('does not retry a 403, and rethrows a connection failure on the last try', async () => {
    const denied = harness([new Response('', { status: 403 })]);
    expect((await denied.wrapped('http://hub/x')).status).toBe(403);
    expect(denied.calls()).toBe(1);
    const down = harness([new Error('refused'), new Error('refused'), new Error('refused')]);
    await expect(down.wrapped('http://hub/x')).rejects.toThrow('refused');
    expect(down.calls()).toBe(3);
  });
});

// skip-if-unchanged: the pure comparison of what a run would convert with a release's manifest.
import { describe, expect, it } from 'vitest';
import { ACTION_MAJOR } from '../../src/cache/keys.js';
import type { InputName } from '../../src/inputs/names.js';
import { parseInputs } from '../../src/inputs/parse.js';
import { buildManifest, publishedIdentity, type PublishedIdentity, type SingleFileRecord } from '../../src/package/manifest.js';
import type { SingleFileCheck } from '../../src/single-file/check.js';
import {
  differences,
  identityOf,
  judge,
  replacedBy,
  type ConversionIdentity,
} from '../../src/refresh/compare.js';
import { ACTION, HUB_MODEL, WORKSPACE, ctx, raw } from './fixtures.js';

const sha = (c: string) => c.repeat(40);
const REFINER = 'stabilityai/stable-diffusion-xl-refiner-1.0';
const VAE = 'madebyollin/sdxl-vae-fp16-fix';
const CN = 'lllyasviel/sd-controlnet-mlsd';

function configWith(overrides: Parameters<typeof raw>[0] = {}) {
  const result = parseInputs(raw(overrides), ctx());
  if (!result.config) throw new Error(result.errors.join('\n'));
  return result.config;
}

/** A run with every kind of model: main, refiner, custom VAE and a ControlNet, all resolved. */
const FULL = { 'refiner-version': REFINER, 'custom-vae-version': VAE, 'convert-controlnet': CN, 'unet-support-controlnet': 'false' } as const;
const full = configWith(FULL);
const resolved = [
  { id: HUB_MODEL, revision: sha('a'), resolved: true },
  { id: REFINER, revision: sha('b'), resolved: true },
  { id: VAE, revision: sha('c'), resolved: true },
  { id: CN, revision: sha('d'), resolved: true },
];
const wanted = identityOf(full, resolved);
const publishedAs = (w: ConversionIdentity): PublishedIdentity => ({
  models: w.models.map(({ id, revision }) => ({ id, revision })),
  inputs: { ...w.inputs },
  actionMajor: w.actionMajor,
  singleFile: null,
});
const TAG = 'sd21-v1';
const found = (manifest: PublishedIdentity | Error | undefined) => ({ release: true as const, manifestName: 'x_manifest.json', manifest });

describe('identityOf', () => {
  it('names every model with its role and commit, the converter inputs and the action major', () => {
    expect(wanted.models).toEqual([
      { role: 'model', id: HUB_MODEL, revision: sha('a'), resolved: true },
      { role: 'refiner', id: REFINER, revision: sha('b'), resolved: true },
      { role: 'custom VAE', id: VAE, revision: sha('c'), resolved: true },
      { role: 'ControlNet', id: CN, revision: sha('d'), resolved: true },
    ]);
    expect(wanted.actionMajor).toBe(ACTION_MAJOR);
  });

  it('records every input of action.yml that decides the conversion, as the runner passed it, defaults resolved', () => {
    // Where the result goes, credentials, caching, the PSNR gate, the budget, packaging and publishing; a preset
    // is recorded as the inputs it sets.
    const elsewhere = new Set([
      'preset', 'output-dir', 'hf-token', 'python', 'pip-constraints', 'min-psnr', 'psnr-thresholds', 'quantized-min-psnr', 'process-per-component', 'lean-conversion',
      'dry-run', 'over-budget', 'runner-memory', 'split', 'handoff', 'verify-bundle', 'cache', 'cache-outputs', 'skip-if-unchanged', 'package', 'asset-prefix', 'compression-level',
      'max-asset-size', 'upload-artifact', 'artifact-name', 'retention-days', 'release-tag', 'release-name', 'release-notes',
      'draft', 'prerelease', 'github-token', 'overwrite-assets', 'allow-pickle', 'check-compute-unit', 'hub-repo', 'hub-token', 'hub-private', 'hub-revision', 'hub-path-in-repo',
      // The Core AI checks and the image check's gate, as min-psnr is.
      'check-precision', 'image-check', 'image-prompt', 'image-seed', 'image-steps', 'image-guidance', 'image-min-psnr',
      // Not recorded yet, though they decide the conversion: src/converter/identity.ts has no entry for
      // them (adding one changes every manifest and the outputs cache key). This test fails once it does.
      'backend', 'compression',
    ]);
    const given = raw(FULL);
    const recorded = Object.keys(ACTION.inputs).filter((name) => !elsewhere.has(name)) as InputName[];
    expect(wanted.inputs).toEqual({
      ...Object.fromEntries(recorded.map((name) => [name, given(name)])),
      // action.yml leaves these empty; the action decides them.
      'convert-unet': 'true',
      'convert-mmdit': 'false',
      'compute-unit': 'ALL',
      'attention-implementation': 'SPLIT_EINSUM',
      'chunk-unet': 'false',
      'xl-version': 'false',
      // A fact beside the inputs: the single file model-version named (none here).
      'single-file': '',
      'ml-stable-diffusion': expect.stringMatching(/^python_coreml_stable_diffusion @ git\+https:\/\/github\.com\/apple\/ml-stable-diffusion\.git@[0-9a-f]{40}$/),
    });
    expect(wanted.inputs).toMatchObject({ 'refiner-version': REFINER, 'custom-vae-version': VAE, 'convert-controlnet': CN, 'unet-support-controlnet': 'false' });
  });
});

describe('judge', () => {
  it('current when every commit, input and the major version match; the line says what matched', () => {
    const verdict = judge(wanted, TAG, found(publishedAs(wanted)));
    expect(verdict.current).toBe(true);
    if (!verdict.current) return;
    expect(verdict.matched).toContain(`x_manifest.json of release ${TAG} matches`);
    expect(verdict.matched).toContain(`${HUB_MODEL}@aaaaaaaaaaaa (model)`);
    expect(verdict.matched).toContain(`${CN}@dddddddddddd (ControlNet)`);
    expect(verdict.matched).toContain(`all ${Object.keys(wanted.inputs).length} converter inputs, action ${ACTION_MAJOR}`);
  });

  it.each([
    ['model', 0],
    ['refiner', 1],
    ['custom VAE', 2],
    ['ControlNet', 3],
  ] as const)('a new commit of the %s is detected', (role, i) => {
    const published = publishedAs(wanted);
    published.models[i] = { id: published.models[i]!.id, revision: sha('e') };
    const verdict = judge(wanted, TAG, found(published));
    expect(verdict.current).toBe(false);
    if (verdict.current) return;
    expect(verdict.differences).toEqual([`${role} ${published.models[i]!.id}: commit eeeeeeeeeeee published, ${wanted.models[i]!.revision.slice(0, 12)} now`]);
    expect(verdict.reason).toBe(`release ${TAG} holds another conversion (1 difference)`);
  });

  it('every converter input, changed alone, is detected and named', () => {
    const names = Object.keys(wanted.inputs);
    expect(names.length).toBeGreaterThan(30);
    for (const name of names) {
      const published = publishedAs(wanted);
      published.inputs[name] = `${published.inputs[name]}-changed`;
      const diffs = differences(wanted, published);
      expect(diffs, name).toHaveLength(1);
      expect(diffs[0]).toMatch(new RegExp(`^input ${name}: `));
    }
  });

  it('a changed input from a real second Config is detected (compute-unit)', () => {
    const other = identityOf(configWith({ 'refiner-version': REFINER, 'custom-vae-version': VAE, 'convert-controlnet': CN, 'compute-unit': 'CPU_AND_NE' }), resolved);
    expect(differences(other, publishedAs(wanted))).toEqual(['input compute-unit: "ALL" published, "CPU_AND_NE" now']);
  });

  it('another action major, a model missing, a model extra, an input not recorded', () => {
    const published = publishedAs(wanted);
    published.actionMajor = 'v0';
    published.models = published.models.filter((m) => m.id !== VAE).concat([{ id: 'other/model', revision: sha('f') }]);
    delete published.inputs['prepare-fp16'];
    const diffs = differences(wanted, published);
    expect(diffs).toEqual([
      `custom VAE ${VAE} is not in the manifest`,
      'the manifest lists other/model, which this run does not use',
      'input prepare-fp16 is not recorded in the manifest',
      `action version: v0 published, ${ACTION_MAJOR} now`,
    ]);
  });

  it('converts, saying why, without a release, without a manifest, with an unreadable one', () => {
    expect(judge(wanted, TAG, { release: false })).toEqual({ current: false, reason: `there is no published release ${TAG}`, differences: [] });
    expect(judge(wanted, TAG, found(undefined))).toMatchObject({ current: false, reason: `release ${TAG} has no x_manifest.json` });
    expect(judge(wanted, TAG, found(new Error('not JSON')))).toMatchObject({ current: false, reason: `x_manifest.json of release ${TAG} is unreadable (not JSON)` });
  });

  it('converts when a model could not be resolved, or is a local folder', () => {
    const unresolved = identityOf(full, resolved.map((m) => (m.id === CN ? { id: CN, revision: 'main', resolved: false } : m)));
    const verdict = judge(unresolved, TAG, found(publishedAs(wanted)));
    expect(verdict).toMatchObject({ current: false, reason: `the Hub could not resolve ${CN}@main to a commit, so nothing can be compared` });
    const local = parseInputs(raw({ 'model-version': 'models/sd' }), ctx({ dirs: ['models/sd'] })).config!;
    expect(judge(identityOf(local, []), TAG, found(publishedAs(wanted)))).toMatchObject({ current: false, reason: 'model-version is a local folder: there is no commit to compare' });
  });
});

describe('manifest.json of src/package', () => {
  const manifest = buildManifest({
    action: { name: 'coreml-stable-diffusion-action', version: '1.0.0', major: 'v1', ref: 'v1' },
    model: { id: HUB_MODEL, revision: 'main', sha: sha('a'), local: false },
    models: wanted.models.map((m) => ({ id: m.id, sha: m.revision })),
    converterInputs: wanted.inputs,
    environment: { packages: null, python: null, macos: null, xcode: null },
    verdicts: [],
    bundle: null,
    archives: [],
    run: { repository: null, runId: null, runAttempt: null, commit: null },
  });

  it('reads back, through JSON, as the identity it recorded', () => {
    const identity = publishedIdentity(JSON.parse(JSON.stringify(manifest)));
    expect(identity).toEqual(publishedAs(wanted));
    expect(judge(wanted, TAG, found(identity as PublishedIdentity)).current).toBe(true);
  });

  it('names what an unreadable manifest lacks', () => {
    expect(publishedIdentity([])).toEqual(new Error('not a JSON object'));
    expect(publishedIdentity({ ...manifest, models: undefined })).toEqual(new Error('no `models` list'));
    expect(publishedIdentity({ ...manifest, converterInputs: { a: 1 } })).toEqual(new Error('no `converterInputs` object of strings'));
    expect(publishedIdentity({ ...manifest, action: {} })).toEqual(new Error('no `action.major`'));
  });
});

describe('replacedBy', () => {
  it('records the commits it replaces and what changed; nothing when current or unpublished', () => {
    const published = publishedAs(wanted);
    published.models[0] = { id: HUB_MODEL, revision: sha('9') };
    expect(replacedBy(wanted, published)).toEqual({
      models: published.models,
      actionMajor: ACTION_MAJOR,
      changes: [`model ${HUB_MODEL}: commit 999999999999 published, aaaaaaaaaaaa now`],
    });
    expect(replacedBy(wanted, publishedAs(wanted))).toBeUndefined();
    expect(replacedBy(wanted, undefined)).toBeUndefined();
    expect(replacedBy(wanted, new Error('x'))).toBeUndefined();
  });
});

describe('skip-if-unchanged input rules', () => {
  it('needs release-tag (or hub-repo): an error naming skip-if-unchanged, before anything runs', () => {
    const result = parseInputs(raw({ 'skip-if-unchanged': 'true', 'release-tag': '' }), ctx());
    expect(result.config).toBeUndefined();
    expect(result.errors).toEqual([
      'Input `skip-if-unchanged` is true, but `release-tag` and `hub-repo` are empty: the manifest it compares with is an asset of that release, or a file of that Hub repository. Set one of them, or leave skip-if-unchanged false.',
    ]);
  });

  it('with a release-tag it parses; a local folder gets a warning that it always converts', () => {
    const env = { GITHUB_REPOSITORY: 'acme/models' };
    const ok = parseInputs(raw({ 'skip-if-unchanged': 'true', 'release-tag': 'v1', 'github-token': 'ghs_x' }), ctx({ env }));
    expect(ok.errors).toEqual([]);
    expect(ok.config?.skipIfUnchanged).toBe(true);
    const local = parseInputs(raw({ 'model-version': 'models/sd', 'skip-if-unchanged': 'true', 'release-tag': 'v1', 'github-token': 'ghs_x' }), ctx({ env, dirs: ['models/sd'] }));
    expect(local.warnings).toContain('Input `skip-if-unchanged` is true, but model-version is a local folder, which has no commit to compare: the action always converts it.');
  });
});

describe('the action major version on both sides', () => {
  it('manifest.json records majorOf(package.json version), which is the ACTION_MAJOR the comparison uses', async () => {
    const { readFileSync } = await import('node:fs');
    const { majorOf } = await import('../../src/package/manifest.js');
    const { ROOT } = await import('./fixtures.js');
    const version = (JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { version: string }).version;
    expect(majorOf(version)).toBe(ACTION_MAJOR);
  });

  it('a manifest built with `replaces` carries it; without, null', () => {
    const base = {
      action: { name: 'a', version: '1.0.0', major: 'v1', ref: null },
      model: { id: HUB_MODEL, revision: 'main', sha: sha('a'), local: false },
      models: [{ id: HUB_MODEL, sha: sha('a') }],
      converterInputs: wanted.inputs,
      environment: { packages: null, python: null, macos: null, xcode: null },
      verdicts: [],
      bundle: null,
      archives: [],
      run: { repository: null, runId: null, runAttempt: null, commit: null },
    };
    const replaces = { models: [{ id: HUB_MODEL, revision: sha('9') }], actionMajor: 'v1', changes: ['x'] };
    expect(buildManifest({ ...base, replaces }).replaces).toEqual(replaces);
    expect(buildManifest(base).replaces).toBeNull();
  });
});

describe('skip-if-unchanged with a single-file model-version', () => {
  const CONFIG = 'acme/tiny-config';
  const CHECKPOINT = 'models/tiny.safetensors';
  const files = [CHECKPOINT, 'loras/style.safetensors', 'loras/extra.safetensors', 'cfg/model_index.json'];
  const singleConfig = (lora: string, modelConfig = CONFIG) =>
    parseInputs(raw({ 'model-version': CHECKPOINT, lora, 'model-config': modelConfig }), ctx({ files, dirs: ['cfg'] })).config!;
  const local = (input: string, sha256?: string) => ({ source: { where: 'local' as const, input, path: `${WORKSPACE}/${input}` }, sha256, size: 10 });
  const sha256 = (c: string) => c.repeat(64);
  const SHA_A = sha256('a');
  const SHA_B = sha256('b');
  const SHA_E = sha256('e');
  const checkOf = (loras: Array<[string, string | undefined, number]>, checkpointSha = SHA_A): SingleFileCheck => ({
    kind: 'sd1',
    checkpoint: local(CHECKPOINT, checkpointSha),
    loras: loras.map(([input, sha256, scale]) => ({ ...local(input, sha256), scale })),
    config: { where: 'hub', id: CONFIG, commit: sha('c'), files: [] },
  });
  const config = singleConfig('loras/style.safetensors:0.7');
  const check = checkOf([['loras/style.safetensors', SHA_B, 0.7]]);
  const wantedFile = identityOf(config, [], check);

  const manifestInput = (w: ConversionIdentity) => ({
    action: { name: 'a', version: '1.0.0', major: ACTION_MAJOR, ref: null },
    model: { id: config.conversion.modelVersion, revision: 'main', sha: null, local: true },
    models: [],
    converterInputs: w.inputs,
    environment: { packages: null, python: null, macos: null, xcode: null },
    verdicts: [],
    bundle: null,
    archives: [],
    run: { repository: null, runId: null, runAttempt: null, commit: null },
  });

  /** What the conversion of `check` publishes, as package/manifest.ts writes it and reads it back through JSON. */
  function publishedOf(c: SingleFileCheck, w: ConversionIdentity): PublishedIdentity {
    const record = (f: SingleFileCheck['checkpoint']) => ({ input: f.source.input, repo: null, file: f.source.input.split('/').pop() ?? '', commit: null, sha256: f.sha256 ?? '', size: 10 });
    const singleFile: SingleFileRecord = {
      checkpoint: record(c.checkpoint),
      kind: c.kind,
      config: c.config.where === 'hub' ? { repo: c.config.id, commit: c.config.commit } : { folder: 'cfg' },
      loras: c.loras.map((l) => ({ ...record(l), scale: l.scale })),
      diffusers: '0.30.2',
      torch: '2.5.0',
    };
    const manifest = buildManifest({ ...manifestInput(w), singleFile });
    const identity = publishedIdentity(JSON.parse(JSON.stringify(manifest)));
    if (identity instanceof Error) throw identity;
    return identity;
  }
  const published = publishedOf(check, wantedFile);

  it('identityOf: the checkpoint and each LoRA by sha256 (a LoRA with its scale), the config by its commit', () => {
    expect(wantedFile.models).toEqual([]);
    expect(wantedFile.singleFile).toEqual({
      checkpoint: { name: CHECKPOINT, sha256: SHA_A },
      loras: [{ name: 'loras/style.safetensors', sha256: SHA_B, scale: 0.7 }],
      config: { repo: CONFIG, commit: sha('c') },
    });
    expect(published.singleFile).toEqual({ checkpoint: { file: 'tiny.safetensors', sha256: SHA_A }, loras: [{ file: 'style.safetensors', sha256: SHA_B, scale: 0.7 }], config: { repo: CONFIG, commit: sha('c') } });
  });

  it('the same files, scales and config commit: current, and the line names them', () => {
    expect(differences(wantedFile, published)).toEqual([]);
    const verdict = judge(wantedFile, TAG, found(published));
    expect(verdict).toMatchObject({ current: true });
    if (!verdict.current) return;
    expect(verdict.matched).toContain(`${CHECKPOINT} sha256 aaaaaaaaaaaa (single file), LoRA loras/style.safetensors sha256 bbbbbbbbbbbb x0.7, config ${CONFIG}@cccccccccccc`);
  });

  it('a changed checkpoint sha256 (same path): one difference naming both', () => {
    const changed = identityOf(config, [], checkOf([['loras/style.safetensors', SHA_B, 0.7]], SHA_E));
    expect(differences(changed, published)).toEqual([`checkpoint ${CHECKPOINT}: sha256 aaaaaaaaaaaa published, eeeeeeeeeeee now`]);
    expect(judge(changed, TAG, found(published))).toMatchObject({ current: false, reason: `release ${TAG} holds another conversion (1 difference)` });
  });

  it('a changed LoRA scale: the lora input and the LoRA\'s scale', () => {
    const changed = identityOf(singleConfig('loras/style.safetensors:0.5'), [], checkOf([['loras/style.safetensors', SHA_B, 0.5]]));
    expect(differences(changed, published)).toEqual(['input lora: "loras/style.safetensors:0.7" published, "loras/style.safetensors:0.5" now', 'LoRA loras/style.safetensors: scale 0.7 published, 0.5 now']);
  });

  it('a LoRA added, a LoRA file replaced under its name, a LoRA dropped', () => {
    const added = identityOf(singleConfig('loras/style.safetensors:0.7, loras/extra.safetensors'), [], checkOf([['loras/style.safetensors', SHA_B, 0.7], ['loras/extra.safetensors', SHA_E, 1]]));
    expect(differences(added, published)).toEqual([
      'input lora: "loras/style.safetensors:0.7" published, "loras/style.safetensors:0.7\\nloras/extra.safetensors:1" now',
      'LoRA loras/extra.safetensors (sha256 eeeeeeeeeeee) is not in the manifest',
    ]);
    const replaced = identityOf(config, [], checkOf([['loras/style.safetensors', SHA_E, 0.7]]));
    expect(differences(replaced, published)).toEqual(['LoRA loras/style.safetensors: sha256 bbbbbbbbbbbb published, eeeeeeeeeeee now']);
    const dropped = identityOf(singleConfig(''), [], checkOf([]));
    expect(differences(dropped, published)).toEqual(['input lora: "loras/style.safetensors:0.7" published, "" now', 'the manifest lists LoRA style.safetensors (sha256 bbbbbbbbbbbb), which this run does not merge']);
  });

  it('another config commit; a manifest without a singleFile record', () => {
    const newer: SingleFileCheck = { ...check, config: { where: 'hub', id: CONFIG, commit: sha('d'), files: [] } };
    expect(differences(identityOf(config, [], newer), published)).toEqual([`config ${CONFIG}: commit cccccccccccc published, dddddddddddd now`]);
    expect(differences(wantedFile, { ...published, singleFile: null })).toEqual(['the manifest records no single file (`singleFile`)']);
  });

  it('not comparable, so converting and saying why: a Hub file the listing gives no sha256, a local config folder, no check', () => {
    const hubFile: SingleFileCheck = { ...check, checkpoint: { source: { where: 'hub', input: 'acme/files/tiny.safetensors', repo: 'acme/files', revision: 'main', file: 'tiny.safetensors' }, commit: sha('f') } };
    expect(judge(identityOf(config, [], hubFile), TAG, found(published))).toEqual({
      current: false,
      reason: "acme/files@main:tiny.safetensors has no sha256 in the Hub's listing (not an LFS file), so its bytes cannot be compared",
      differences: [],
    });
    const folder: SingleFileCheck = { ...check, config: { where: 'local', path: `${WORKSPACE}/cfg` } };
    expect(judge(identityOf(singleConfig('loras/style.safetensors:0.7', 'cfg'), [], folder), TAG, found(published))).toMatchObject({ current: false, reason: 'model-config is a local folder, which has no commit to compare' });
    expect(judge(identityOf(config, []), TAG, found(published))).toMatchObject({ current: false, reason: 'the single file was not read, so its sha256 is not known' });
  });

  it('publishedIdentity names what a singleFile record lacks', () => {
    const manifest = JSON.parse(JSON.stringify(buildManifest(manifestInput(wantedFile)))) as Record<string, unknown>;
    expect(publishedIdentity({ ...manifest, singleFile: { loras: [] } })).toEqual(new Error("a `singleFile` record without the checkpoint's file and sha256"));
    expect(publishedIdentity({ ...manifest, singleFile: { checkpoint: { file: 'a', sha256: 'b' }, loras: [{ file: 'l', sha256: 'c' }], config: { folder: 'f' } } })).toEqual(new Error('a `singleFile.loras` entry without its file, sha256 and scale'));
    expect(publishedIdentity({ ...manifest, singleFile: { checkpoint: { file: 'a', sha256: 'b' }, loras: [], config: {} } })).toEqual(new Error('a `singleFile` record without its config (repo and commit, or folder)'));
    expect(publishedIdentity(manifest)).toMatchObject({ singleFile: null });
  });
});

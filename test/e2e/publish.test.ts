import { DefaultArtifactClient } from '@actions/artifact';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { NODE24, messagesOf, type ActionRun } from '../support/action-runner.mjs';
import { freshRunner, type FreshRunner } from '../support/fresh-runner.mjs';
import { sha256File } from '../support/files.mjs';
import { sdPipelineFiles } from '../support/standin.mjs';
import { startAll, type Services } from '../services/index.mjs';
import { Releases } from '../../src/github/releases.js';
import { mergeBody } from '../../src/publish/notes.js';

/**
 * Packaging and publishing end to end: the bundle converts with the stand-in converter, zips,
 * uploads the workflow artifact with the real @actions/artifact (Azurite + the local Twirp
 * service) and publishes to the local releases API with Octokit; the test downloads everything
 * back with the real clients and checks the bytes. Each job runs on a fresh runner on the same
 * paths, so a rerun restores the finished conversion from the outputs cache.
 */
const MODEL = 'acme/sd-publish';
const MB = 1024 * 1024;
const FILES = sdPipelineFiles({ unet: MB, vae: MB, textEncoder: MB });
const BASE = 'sd-publish_split_einsum';
const NAMES = [`${BASE}_compiled.zip`, `${BASE}_packages.zip`, `${BASE}_manifest.json`, `${BASE}_SHA256SUMS`];

let services: Services;
let runner: FreshRunner;
const root = path.join(os.tmpdir(), `coreml-publish-e2e-${process.pid}`);
const kept = path.join(os.tmpdir(), `coreml-publish-e2e-kept-${process.pid}`);

beforeAll(async () => {
  services = await startAll({ models: [{ id: MODEL, files: FILES }] });
  runner = freshRunner(root, services);
});
afterAll(async () => {
  await services?.stop();
  rmSync(root, { recursive: true, force: true });
  rmSync(kept, { recursive: true, force: true });
});

interface Packed {
  name: string;
  size: number;
  sha256: string;
  path: string;
}

const sha = sha256File;
const errors = (run: ActionRun) => messagesOf(run, 'error');
const warnings = (run: ActionRun) => messagesOf(run, 'warning');
const release = (tag: string) => services.releases.state().releases.filter((r) => r.tag_name === tag);

/** A job on a fresh runner (same paths), under Node 20 or 24. */
async function job(inputs: Record<string, string>, env: Record<string, string> = {}, node = process.execPath) {
  const { run } = await runner.job(
    {
      'model-version': MODEL,
      'hf-token': services.hfToken,
      python: inject('venvPython'),
      'ml-stable-diffusion': inject('standinWheel'),
      'github-token': services.githubToken,
      ...inputs,
    },
    { env, node },
  );
  const packed = JSON.parse(run.outputs.packages || '[]') as Packed[];
  return { run, packed, dir: run.outputs['package-dir'] ?? '' };
}

/** Copies package-dir aside (the next job wipes the runner). */
function keep(dir: string, as: string): string {
  const target = path.join(kept, as);
  cpSync(dir, target, { recursive: true });
  return target;
}

/**
 * Runs fn with the environment @actions/artifact reads at call time, as the runner gives it, and
 * the client's log (it writes workflow commands to stdout) kept out of the test output.
 */
async function withArtifactEnv<T>(fn: () => Promise<T>): Promise<T> {
  const saved = { ...process.env };
  Object.assign(process.env, services.results.env, { RUNNER_TEMP: path.join(kept, 'runner-temp'), GITHUB_WORKSPACE: kept });
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((() => true) as typeof process.stdout.write);
  try {
    return await fn();
  } finally {
    spy.mockRestore();
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  }
}

let first: { dir: string; packed: Packed[]; assetIds: Record<string, number>; artifactId: string };

describe('packaging and publishing', () => {
  it('packages, uploads the artifact and publishes a release; every byte comes back the same', async () => {
    services.releases.reset();
    const { run, packed, dir } = await job({ 'release-tag': 'models-v1', 'release-notes': 'Weekly build.' });
    expect(run.exitCode, run.stdout).toBe(0);
    expect(packed.map((p) => p.name)).toEqual(NAMES);
    expect(dir).toBe(path.join(runner.runnerDir, 'temp', 'coreml-packages', BASE));
    for (const p of packed) expect(sha(p.path), p.name).toBe(p.sha256);
    for (const zip of packed.filter((p) => p.name.endsWith('.zip'))) {
      expect(execFileSync('unzip', ['-t', zip.path], { encoding: 'utf8' }), zip.name).toContain('No errors detected');
      const entries = execFileSync('unzip', ['-Z1', zip.path], { encoding: 'utf8' }).trim().split('\n');
      expect(new Set(entries.map((e) => e.split('/')[0]))).toEqual(new Set([zip.name.replace(/\.zip$/, '')]));
    }
    expect(execFileSync('unzip', ['-Z1', packed[0]?.path ?? ''], { encoding: 'utf8' })).toContain(`${BASE}_compiled/Unet.mlmodelc/weights/weight.bin`);
    expect(execFileSync('sha256sum', ['-c', `${BASE}_SHA256SUMS`], { cwd: dir, encoding: 'utf8' }).trim().split('\n')).toHaveLength(3);

    const manifest = JSON.parse(readFileSync(path.join(dir, `${BASE}_manifest.json`), 'utf8'));
    expect(manifest.model).toEqual({ id: MODEL, revision: 'main', sha: services.hub.resolve(MODEL), local: false });
    expect(manifest.models).toEqual([{ id: MODEL, sha: services.hub.resolve(MODEL) }]);
    expect(manifest.converterInputs['attention-implementation']).toBe('SPLIT_EINSUM');
    expect(manifest.environment.packages.python_coreml_stable_diffusion).toMatch(/^@ file:/);
    expect(manifest.environment.python).toMatch(/^3\.\d+\.\d+$/);
    expect(manifest.environment.macos).toBeNull(); // no sw_vers on Linux
    expect(manifest.psnr.map((v: { part: string }) => v.part).sort()).toEqual(['text_encoder', 'unet', 'unet', 'vae_decoder']);
    expect(manifest.bundle.models).toContain('Unet.mlmodelc');
    expect(manifest.files.map((f: Packed) => f.name)).toEqual(NAMES.slice(0, 2));
    const compiled = manifest.archives[0];
    expect(compiled.parts).toEqual([]);
    expect(compiled.sources.find((s: Packed) => s.name === `${BASE}_compiled/vocab.json`)?.sha256).toBe(sha(path.join(runner.workspace, 'coreml-models', 'Resources', 'vocab.json')));

    // The workflow artifact, downloaded by the real client: the same files, byte for byte.
    const artifactId = Number(run.outputs['artifact-id']);
    expect(run.outputs['artifact-url']).toBe(`https://github.com/${services.results.repository}/actions/runs/${services.results.runId}/artifacts/${artifactId}`);
    const download = path.join(kept, 'artifact-1');
    await withArtifactEnv(() => new DefaultArtifactClient().downloadArtifact(artifactId, { path: download }));
    expect(readdirSync(download).sort()).toEqual([...NAMES].sort());
    for (const p of packed) expect(sha(path.join(download, p.name)), p.name).toBe(p.sha256);

    // The release: one, with one uploaded asset per file; each download matches.
    const [rel] = release('models-v1');
    expect(release('models-v1')).toHaveLength(1);
    expect(rel?.assets.map((a) => [a.name, a.state, a.sha256, a.content_type])).toEqual(
      packed.map((p) => [p.name, 'uploaded', p.sha256, p.name.endsWith('.zip') ? 'application/zip' : p.name.endsWith('.json') ? 'application/json' : 'text/plain; charset=utf-8']),
    );
    const assets = JSON.parse(run.outputs.assets ?? '[]') as Array<{ name: string; sha256: string; url: string }>;
    for (const a of assets) {
      const body = Buffer.from(await (await fetch(a.url)).arrayBuffer());
      expect(createHash('sha256').update(body).digest('hex'), a.name).toBe(packed.find((p) => p.name === a.name)?.sha256);
    }
    expect(run.outputs['release-id']).toBe(String(rel?.id));
    expect(rel?.body).toContain(`### ${BASE}`);
    expect(rel?.body).toContain(services.hub.resolve(MODEL));
    expect(rel?.body?.trimEnd().endsWith('Weekly build.')).toBe(true);
    expect(run.summary).toContain('### Published');
    expect(run.summary).toContain(`release [models-v1](${run.outputs['release-url']})`);
    // The token reaches the runner only to be masked.
    const withToken = run.stdout.split('\n').filter((l) => l.includes(services.githubToken));
    expect(withToken.length).toBeGreaterThan(0);
    expect(withToken.every((l) => l === `::add-mask::${services.githubToken}`)).toBe(true);

    first = { dir: keep(dir, 'first'), packed, assetIds: Object.fromEntries((rel?.assets ?? []).map((a) => [a.name, a.id])), artifactId: String(artifactId) };
  });

  it('a rerun from the outputs cache splits into parts that cat joins, survives a 502, and replaces the assets', async () => {
    services.releases.failUploadOnce({ status: 502, afterBytes: 65_536 });
    const uploadsBefore = services.releases.stats().requests['POST /uploads/repos/{owner}/{repo}/releases/{id}/assets'] ?? 0;
    const { run, packed, dir } = await job({ 'release-tag': 'models-v1', 'max-asset-size': '1MiB' }, {}, NODE24);
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.outputs['cache-hit-outputs']).toBe('true');
    const compiled = first.packed[0] as Packed;
    const parts = packed.filter((p) => p.name.startsWith(`${compiled.name}.`));
    expect(parts.map((p) => p.name)).toEqual([`${compiled.name}.001`, `${compiled.name}.002`]);
    expect(parts[0]?.size).toBe(MB);
    expect(parts.every((p) => p.size <= MB && sha(p.path) === p.sha256)).toBe(true);
    // Joined with cat: the first run's zip, byte for byte (the same inputs give the same bytes).
    const joined = path.join(kept, 'joined.zip');
    execFileSync('sh', ['-c', 'cat "$@" > "$0"', joined, ...parts.map((p) => p.path)]);
    expect(sha(joined)).toBe(compiled.sha256);
    expect(execFileSync('unzip', ['-t', joined], { encoding: 'utf8' })).toContain('No errors detected');
    expect(readFileSync(path.join(dir, `${BASE}_packages.zip`)).equals(readFileSync(path.join(first.dir, `${BASE}_packages.zip`)))).toBe(true);
    const manifest = JSON.parse(readFileSync(path.join(dir, `${BASE}_manifest.json`), 'utf8'));
    expect(manifest.archives[0].sha256).toBe(compiled.sha256);
    expect(manifest.archives[0].parts.map((p: Packed) => p.name)).toEqual(parts.map((p) => p.name));
    // The environment that made the cached models, not this job's.
    expect(manifest.environment.packages.python_coreml_stable_diffusion).toMatch(/^@ file:/);

    // The 502 left a starter asset: deleted and uploaded again, so one more upload and no duplicate.
    const uploads = (services.releases.stats().requests['POST /uploads/repos/{owner}/{repo}/releases/{id}/assets'] ?? 0) - uploadsBefore;
    expect(uploads).toBe(packed.length + 1);
    expect(run.stdout).toMatch(/Uploading [^\n]* failed \(502 [^\n]*retrying in 1 s/);
    const [rel] = release('models-v1');
    expect(release('models-v1')).toHaveLength(1);
    // The whole zip of the first run is gone (now in parts); the rest replaced by new uploads.
    expect(rel?.assets.map((a) => [a.name, a.state, a.sha256])).toEqual(packed.map((p) => [p.name, 'uploaded', p.sha256]));
    const packagesAsset = rel?.assets.find((a) => a.name === `${BASE}_packages.zip`);
    expect(packagesAsset?.id).not.toBe(first.assetIds[`${BASE}_packages.zip`]);
    expect(packagesAsset?.sha256).toBe(first.packed[1]?.sha256);
    expect(rel?.body?.split(`### ${BASE}`)).toHaveLength(2);
    expect(rel?.body).toContain(`cat ${compiled.name}.001 ${compiled.name}.002 > ${compiled.name}`);
    // The artifact of the same name in this run was replaced, not duplicated.
    expect(run.outputs['artifact-id']).not.toBe(first.artifactId);
    const artifacts = services.results.stats().artifacts.filter((a) => (a as { name?: string }).name === BASE);
    expect(artifacts).toHaveLength(1);
  });

  it('two variants racing to create the release end with one release holding both sets', async () => {
    services.releases.failCreateOnce();
    const a = await job({ 'release-tag': 'models-v2', 'attention-implementation': 'ORIGINAL', 'upload-artifact': 'false' }, {}, NODE24);
    expect(a.run.exitCode, a.run.stdout).toBe(0);
    expect(a.run.stdout).toContain('was created meanwhile (another job)');
    const b = await job({ 'release-tag': 'models-v2', 'upload-artifact': 'false' });
    expect(b.run.exitCode, b.run.stdout).toBe(0);
    expect(b.run.stdout).toContain('Adding to the existing release models-v2');
    const rels = release('models-v2');
    expect(rels).toHaveLength(1);
    const names = rels[0]?.assets.map((x) => x.name).sort();
    expect(names).toEqual([...a.packed, ...b.packed].map((p) => p.name).sort());
    expect(names?.filter((n) => n.startsWith('sd-publish_original_'))).toHaveLength(4);
    expect(rels[0]?.assets.every((x) => x.state === 'uploaded')).toBe(true);
    // The other job's body is kept; each variant has its own section.
    expect(rels[0]?.body).toContain('created by another job');
    expect(rels[0]?.body).toContain('### sd-publish_original');
    expect(rels[0]?.body).toContain(`### ${BASE}`);
    expect(a.run.outputs['artifact-id'] ?? '').toBe('');
  });

  it('403 fails with the permissions hint; no artifact service is a warning; package-dir stays complete', async () => {
    services.releases.forbid();
    try {
      const { run, packed } = await job({ 'release-tag': 'models-v3' }, { ACTIONS_RUNTIME_TOKEN: '' });
      expect(run.exitCode).toBe(1);
      const denied = errors(run).find((e) => e.includes('HTTP 403'));
      expect(denied).toContain('Resource not accessible by integration');
      expect(denied).toContain('`permissions: contents: write`');
      expect(warnings(run).some((w) => w.startsWith('No workflow artifact uploaded: the artifact service is not available (ACTIONS_RUNTIME_TOKEN'))).toBe(true);
      expect(release('models-v3')).toHaveLength(0);
      expect(packed.map((p) => p.name)).toEqual(NAMES);
      expect(packed.every((p) => existsSync(p.path))).toBe(true);
      expect(run.summary).toContain('### Problems');
    } finally {
      services.releases.forbid(false);
    }
  });

  it('finds drafts by listing, reuses them, and reads a release\'s manifest back (for scheduled refreshes)', async () => {
    const quiet = vi.spyOn(process.stdout, 'write').mockImplementation((() => true) as typeof process.stdout.write);
    try {
      const github = { repository: services.results.repository, apiUrl: services.releases.apiUrl, serverUrl: 'https://github.com' };
      const releases = await Releases.open(services.githubToken, github);
      const dir = path.join(kept, 'draft');
      mkdirSync(dir, { recursive: true });
      const manifest = { schemaVersion: 1, model: { id: MODEL } };
      writeFileSync(path.join(dir, 'x_original_manifest.json'), JSON.stringify(manifest));
      const files = [{ name: 'x_original_manifest.json', path: path.join(dir, 'x_original_manifest.json'), size: readFileSync(path.join(dir, 'x_original_manifest.json')).length, sha256: sha(path.join(dir, 'x_original_manifest.json')) }];
      const SECTION = '<!-- coreml-action:begin x_original -->\nx\n<!-- coreml-action:end x_original -->';
      const request = { tag: 'drafts-v1', name: '', draft: true, prerelease: false, base: 'x_original', section: SECTION, mergeBody: (body: string | null | undefined) => mergeBody(body, 'x_original', SECTION, ''), files, overwrite: true };
      const made = await releases.publish(request, github);
      expect(made).toMatchObject({ created: true, draft: true });
      expect((await releases.findRelease('drafts-v1'))?.id).toBe(made.id);
      const again = await releases.publish(request, github);
      expect(again).toMatchObject({ id: made.id, created: false, replaced: ['x_original_manifest.json'] });
      expect(release('drafts-v1')).toHaveLength(1);
      expect(await releases.readReleaseManifest('drafts-v1', 'x_original_manifest.json')).toEqual(manifest);
      expect(await releases.readReleaseManifest('drafts-v1')).toEqual(manifest);
      expect(await releases.readReleaseManifest('drafts-v1', 'y_manifest.json')).toBeUndefined();
      expect(await releases.readReleaseManifest('no-such-tag')).toBeUndefined();
      // models-v1 holds one variant's manifest: found by its name, and as the only one.
      const published = await releases.readReleaseManifest('models-v1', `${BASE}_manifest.json`);
      expect(published?.model).toMatchObject({ id: MODEL, sha: services.hub.resolve(MODEL) });
      // models-v2 holds two variants' manifests: without a name it is ambiguous.
      expect(await releases.readReleaseManifest('models-v2')).toBeUndefined();
    } finally {
      quiet.mockRestore();
    }
  });

  it('retries API calls that answer 5xx or drop the connection, 4 times (plugin-retry), and never a 4xx', async () => {
    const github = { repository: services.results.repository, apiUrl: services.releases.apiUrl, serverUrl: 'https://github.com' };
    // A 1 ms base: the action's own is 500 ms (waits of 0.5, 2, 4.5 and 8 s).
    const releases = await Releases.open(services.githubToken, github, { retryBaseMs: 1 });
    const faults = () => services.releases.stats().apiFaults;
    const askedByTag = () => services.releases.stats().requests['GET /repos/{owner}/{repo}/releases/tags/{tag}'] ?? 0;
    try {
      const start = faults();
      services.releases.failApiNext({ status: 502, times: 4 });
      expect((await releases.findRelease('models-v1'))?.tag).toBe('models-v1');
      expect(faults() - start).toBe(4);

      services.releases.failApiNext({ reset: true, times: 1 });
      const id = release('models-v1')[0]!.id;
      expect((await releases.listAssets(id)).map((a) => a.name).sort()).toEqual(release('models-v1')[0]!.assets.map((a) => a.name).sort());
      expect(faults() - start).toBe(5);

      // A 404 is an answer (a draft is then looked for in the list): asked once.
      const asked = askedByTag();
      expect(await releases.findRelease('no-such-tag')).toBeUndefined();
      expect(askedByTag() - asked).toBe(1);

      // Five 503s outlast the four retries: the fifth is the error.
      services.releases.failApiNext({ status: 503, times: 5 });
      await expect(releases.findRelease('models-v1')).rejects.toMatchObject({ status: 503, message: expect.stringMatching(/^Getting the release of models-v1 failed \(HTTP 503\)/) });
      expect(faults() - start).toBe(10);
    } finally {
      services.releases.failApiNext({ times: 0 });
    }
  });
});

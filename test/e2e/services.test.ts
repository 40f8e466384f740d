import * as artifact from '@actions/artifact';
import * as cache from '@actions/cache';
import { getOctokit } from '@actions/github';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { REPO_ROOT } from '../support/action-runner.mjs';
import { captured } from '../support/captured.js';
import { ARTIFACT_SERVICE, CACHE_SERVICE, CLIP_MODEL_ID, backendIdsOf, processAlive, startAll, type Services } from '../services/index.mjs';

/**
 * The local stand-ins of test/services, proven with the real client libraries the action uses:
 * @actions/cache 6 and @actions/artifact 6 (in this process, against Azurite + the Twirp results
 * server), Octokit from @actions/github 9 (releases), and plain HTTP as huggingface_hub speaks it.
 */

const MODEL = 'acme/sd-mini';
const UNET = 'unet/diffusion_pytorch_model.safetensors';
const INDEX = '{"_class_name":"StableDiffusionPipeline"}';

let services: Services;
let tmp: string;
let workspace: string;
const savedEnv = { ...process.env };


function tree(dir: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    result[path.relative(dir, file)] = createHash('sha256').update(readFileSync(file)).digest('hex');
  }
  return result;
}

function makeFolder(dir: string, seed: string): Record<string, string> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(path.join(dir, 'sub'), { recursive: true });
  writeFileSync(path.join(dir, 'a.txt'), `hello ${seed}\n`);
  writeFileSync(path.join(dir, 'sub', 'weights.bin'), randomBytes(300_000));
  return tree(dir);
}

/**
 * Runs fn with the sleeps between @actions/cache's retries skipped (3 s and more each, not
 * configurable): what a test asserts is what the retries do and say, not how long they wait. The
 * requests are real. The Twirp client is not exported: its file, the module the package loads.
 */
async function withoutRetryWaits<T>(fn: () => Promise<T>): Promise<T> {
  const file = path.join(REPO_ROOT, 'node_modules', '@actions', 'cache', 'lib', 'internal', 'shared', 'cacheTwirpClient.js');
  const twirpClient = (await import(pathToFileURL(file).href)) as { internalCacheTwirpClient: () => { rpc: { sleep: (ms: number) => Promise<void> } } };
  const spy = vi.spyOn(Object.getPrototypeOf(twirpClient.internalCacheTwirpClient().rpc) as { sleep: (ms: number) => Promise<void> }, 'sleep').mockResolvedValue(undefined);
  try {
    return await fn();
  } finally {
    spy.mockRestore();
  }
}

async function twirp(service: string, method: string, body: object, token: string | null = services.results.token) {
  const res = await fetch(`${services.results.origin}/twirp/${service}/${method}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'services-test-'));
  workspace = path.join(tmp, 'ws');
  mkdirSync(workspace);
  services = await startAll({
    models: [
      { id: MODEL, files: { 'model_index.json': INDEX, [UNET]: 2_000_000, 'vae/config.json': '{}' } },
      { id: 'acme/gated', gated: true, files: { 'model.bin': 1000 } },
      { id: 'acme/private', private: true, files: { 'model.bin': 1000 } },
    ],
  });
  // @actions/cache and @actions/artifact read these at call time.
  Object.assign(process.env, services.results.env, { RUNNER_TEMP: path.join(tmp, 'runner-temp'), GITHUB_WORKSPACE: workspace });
  delete process.env.ACTIONS_CACHE_URL;
});

afterAll(async () => {
  await services?.stop();
  for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
  Object.assign(process.env, savedEnv);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('cache service v2 with @actions/cache', () => {
  test('saveCache then restoreCache by exact key restores the folder byte for byte', async () => {
    const dir = path.join(workspace, 'pip-cache');
    const before = makeFolder(dir, 'exact');
    const saved = await captured(() => cache.saveCache([dir], 'pip-linux-x64-abc'));
    expect(saved.value).toBeGreaterThan(0);
    expect(saved.out).toContain('Cache service version: v2');
    rmSync(dir, { recursive: true });
    const downloadedBefore = services.results.stats().blob.downloadedBytes;
    const restored = await captured(() => cache.restoreCache([dir], 'pip-linux-x64-abc', ['pip-linux-x64-']));
    expect(restored.value).toBe('pip-linux-x64-abc');
    expect(restored.out).toContain('Cache hit for: pip-linux-x64-abc');
    expect(tree(dir)).toEqual(before);
    const stats = services.results.stats();
    const entry = stats.cache.entries.find((e) => e.key === 'pip-linux-x64-abc');
    expect(entry?.finalized).toBe(true);
    expect(stats.blob.downloadedBytes - downloadedBefore).toBe(entry?.sizeBytes);
  });

  test('restore keys match as prefixes, newest first, within the same version', async () => {
    const dir = path.join(workspace, 'hf-hub');
    makeFolder(dir, 'older');
    expect((await captured(() => cache.saveCache([dir], 'hf-acme-sha1'))).value).toBeGreaterThan(0);
    const newer = makeFolder(dir, 'newer');
    expect((await captured(() => cache.saveCache([dir], 'hf-acme-sha2'))).value).toBeGreaterThan(0);
    rmSync(dir, { recursive: true });
    const hit = await captured(() => cache.restoreCache([dir], 'hf-acme-sha3', ['hf-acme-', 'hf-']));
    expect(hit.value).toBe('hf-acme-sha2');
    expect(hit.out).toContain('Cache hit for restore-key: hf-acme-sha2');
    expect(tree(dir)).toEqual(newer);
    // Another path list is another version: no match, and no download.
    const other = await captured(() => cache.restoreCache([path.join(workspace, 'elsewhere')], 'hf-acme-sha3', ['hf-acme-']));
    expect(other.value).toBeUndefined();
  });

  test('saving a key that exists is refused quietly (409, an info line, no warning)', async () => {
    const dir = path.join(workspace, 'pip-cache');
    makeFolder(dir, 'again');
    const again = await captured(() => cache.saveCache([dir], 'pip-linux-x64-abc'));
    expect(again.value).toBe(-1);
    expect(again.out).toContain('another job may be creating this cache');
    expect(again.out).not.toMatch(/::(warning|error)::/);
    expect(services.results.stats().statuses['CreateCacheEntry 409']).toBe(1);
  });

  test('only finalized entries restore; no bearer token is a 401', async () => {
    const created = await twirp(CACHE_SERVICE, 'CreateCacheEntry', { key: 'pending-key', version: 'v-raw' });
    expect(created.status).toBe(200);
    expect(created.body.signed_upload_url).toMatch(/sp=cw/);
    const lookup = await twirp(CACHE_SERVICE, 'GetCacheEntryDownloadURL', { key: 'pending-key', restore_keys: ['pending'], version: 'v-raw' });
    expect(lookup.body).toMatchObject({ ok: false });
    const anonymous = await twirp(CACHE_SERVICE, 'GetCacheEntryDownloadURL', { key: 'pending-key', version: 'v-raw' }, null);
    expect(anonymous).toMatchObject({ status: 401, body: { code: 'unauthenticated' } });
    const forged = await twirp(CACHE_SERVICE, 'GetCacheEntryDownloadURL', { key: 'pending-key', version: 'v-raw' }, 'x.y.z');
    expect(forged.status).toBe(401);
  });

  test('the service answering 500 (after its 5 retries) is a warning and a miss', async () => {
    const dir = path.join(workspace, 'pip-cache');
    services.results.failNext('GetCacheEntryDownloadURL', 500, 5);
    const restored = await captured(() => withoutRetryWaits(() => cache.restoreCache([dir], 'pip-linux-x64-abc')));
    expect(restored.value).toBeUndefined();
    expect(restored.out).toMatch(/::warning::Failed to restore: .*\(500\)/);
    expect(restored.out).toMatch(/Attempt 4 of 5 failed with error: Failed request: \(500\).*Retrying request in \d+ ms/);
    expect(services.results.stats().injectedFailures).toBe(5);
  });

  test('the service down is a warning on restore and -1 on save; back up, it works again', async () => {
    const dir = path.join(workspace, 'pip-cache');
    await services.results.down();
    try {
      const restored = await captured(() => cache.restoreCache([dir], 'pip-linux-x64-abc'));
      expect(restored.value).toBeUndefined();
      expect(restored.out).toMatch(/::warning::Failed to restore: .*ECONNREFUSED/);
      const saved = await captured(() => cache.saveCache([dir], 'pip-while-down'));
      // @actions/cache 6.3.0 reports any failure to reserve as "another job may be creating
      // this cache", as an info line: the action has to say itself that the service was absent.
      expect(saved.value).toBe(-1);
      expect(saved.out).toMatch(/Failed to CreateCacheEntry: Unable to make request: ECONNREFUSED/);
    } finally {
      await services.results.up();
    }
    expect((await captured(() => cache.restoreCache([dir], 'pip-linux-x64-abc'))).value).toBe('pip-linux-x64-abc');
  });
});

describe('artifact service with @actions/artifact', () => {
  const client = new artifact.DefaultArtifactClient();

  test('uploads a folder (level 0) and a single file (skipArchive), lists, downloads the same bytes', async () => {
    const dir = path.join(workspace, 'out');
    const files = makeFolder(dir, 'artifact');
    const up = await captured(() => client.uploadArtifact('bundle-original', ['a.txt', 'sub/weights.bin'].map((f) => path.join(dir, f)), dir, { compressionLevel: 0 }));
    expect(up.value.id).toBeGreaterThan(0);
    const zipName = path.join(tmp, 'model_original_compiled.zip');
    writeFileSync(zipName, randomBytes(123_457));
    const raw = await captured(() => client.uploadArtifact('ignored-for-skipArchive', [zipName], tmp, { skipArchive: true }));
    expect(raw.value.size).toBe(123_457);

    const list = (await captured(() => client.listArtifacts())).value.artifacts;
    expect(list.map((a) => a.name).sort()).toEqual(['bundle-original', 'model_original_compiled.zip']);
    expect(list.find((a) => a.id === up.value.id)?.digest).toBe(`sha256:${up.value.digest}`);

    const dl1 = path.join(tmp, 'dl1');
    const got = await captured(() => client.downloadArtifact(up.value.id as number, { path: dl1, expectedHash: `sha256:${up.value.digest}` }));
    expect(got.value.digestMismatch).toBe(false);
    expect(tree(dl1)).toEqual(files);
    // A .zip uploaded with skipArchive comes back as that zip when asked not to decompress.
    const dl2 = path.join(tmp, 'dl2');
    await captured(() => client.downloadArtifact(raw.value.id as number, { path: dl2, skipDecompress: true }));
    expect(readFileSync(path.join(dl2, 'model_original_compiled.zip')).equals(readFileSync(zipName))).toBe(true);

    const blob = services.results.stats().blob.byContainer['actions-results'];
    expect(blob?.uploadedBytes).toBe((up.value.size ?? 0) + 123_457);
  });

  test('a name is unique per run until deleted', async () => {
    const file = path.join(workspace, 'out', 'a.txt');
    const dup = await captured(() => client.uploadArtifact('bundle-original', [file], path.dirname(file)).catch((e: Error) => e));
    expect(dup.value).toBeInstanceOf(Error);
    expect(String(dup.value)).toMatch(/409.*already exists/);
    await captured(() => client.deleteArtifact('bundle-original'));
    const again = await captured(() => client.uploadArtifact('bundle-original', [file], path.dirname(file)));
    expect(again.value.id).toBeGreaterThan(0);
  });

  test('name_filter, and backend ids checked against the token', async () => {
    const { runBackendId, jobBackendId } = services.results;
    const ids = { workflow_run_backend_id: runBackendId, workflow_job_run_backend_id: jobBackendId };
    const filtered = await twirp(ARTIFACT_SERVICE, 'ListArtifacts', { ...ids, name_filter: 'bundle-original' });
    expect((filtered.body.artifacts as Array<{ name: string }>).map((a) => a.name)).toEqual(['bundle-original']);
    const spoofed = await twirp(ARTIFACT_SERVICE, 'CreateArtifact', { ...ids, workflow_run_backend_id: 'another-run', name: 'x', version: 7 });
    expect(spoofed).toMatchObject({ status: 403, body: { code: 'permission_denied' } });
    // Another job of the same run (a matrix sibling) sees the run's artifacts.
    const sibling = services.results.mintToken();
    const siblingIds = { workflow_run_backend_id: runBackendId, workflow_job_run_backend_id: backendIdsOf(sibling)?.jobBackendId };
    const listed = await twirp(ARTIFACT_SERVICE, 'ListArtifacts', siblingIds, sibling);
    expect((listed.body.artifacts as unknown[]).length).toBe(2);
    const url = await twirp(ARTIFACT_SERVICE, 'GetSignedArtifactURL', { ...ids, name: 'model_original_compiled.zip' });
    expect(url.body.signed_url).toMatch(/sp=r&/);
    // ...and downloads one with the uploader's ids, as ListArtifacts gave them (download-artifact in a
    // later job); its own job id names no artifact of that name, and another run's ids are refused.
    const fromSibling = await twirp(ARTIFACT_SERVICE, 'GetSignedArtifactURL', { ...ids, name: 'model_original_compiled.zip' }, sibling);
    expect(fromSibling.body.signed_url).toMatch(/sp=r&/);
    const ownJob = await twirp(ARTIFACT_SERVICE, 'GetSignedArtifactURL', { ...siblingIds, name: 'model_original_compiled.zip' }, sibling);
    expect(ownJob).toMatchObject({ status: 404, body: { code: 'not_found' } });
    const otherRun = await twirp(ARTIFACT_SERVICE, 'GetSignedArtifactURL', { ...ids, workflow_run_backend_id: 'another-run', name: 'model_original_compiled.zip' }, sibling);
    expect(otherRun).toMatchObject({ status: 403, body: { code: 'permission_denied' } });
    const deleteOtherRun = await twirp(ARTIFACT_SERVICE, 'DeleteArtifact', { ...ids, workflow_run_backend_id: 'another-run', name: 'model_original_compiled.zip' }, sibling);
    expect(deleteOtherRun).toMatchObject({ status: 403, body: { code: 'permission_denied' } });
  });
});

describe('releases API with Octokit from @actions/github', () => {
  const repo = { owner: 'octo-org', repo: 'coreml-models' };
  const octokit = () => getOctokit(services.releases.token, { baseUrl: services.releases.apiUrl });
  type Release = Awaited<ReturnType<ReturnType<typeof octokit>['rest']['repos']['createRelease']>>['data'];
  let release: Release;

  // A Buffer gets its Content-Length from fetch; giving it too makes undici 6 (Octokit's fetch)
  // fail with "invalid content-length header" on Node 24 (and under vitest): only a stream body
  // takes an explicit one (without it, it goes chunked and the upload endpoint answers 411).
  async function upload(name: string, data: Buffer | NodeJS.ReadableStream, size: number, uploadUrl = release.upload_url) {
    return octokit().request(`POST ${uploadUrl}`, {
      name,
      data,
      headers: { 'content-type': 'application/zip', ...(Buffer.isBuffer(data) ? {} : { 'content-length': size }) },
    });
  }
  const status = (e: unknown) => (e as { status?: number }).status;

  test('creates a release, finds it by tag; a duplicate tag is 422 already_exists', async () => {
    const created = await octokit().rest.repos.createRelease({ ...repo, tag_name: 'models-v1', name: 'Models v1', body: 'notes' });
    expect(created.status).toBe(201);
    release = created.data;
    expect(release.upload_url).toBe(`${services.releases.apiUrl}/uploads/repos/octo-org/coreml-models/releases/${release.id}/assets{?name,label}`);
    const byTag = await octokit().rest.repos.getReleaseByTag({ ...repo, tag: 'models-v1' });
    expect(byTag.data.id).toBe(release.id);
    const dup = await octokit().rest.repos.createRelease({ ...repo, tag_name: 'models-v1' }).catch((e: unknown) => e);
    expect(status(dup)).toBe(422);
    expect((dup as { response: { data: { errors: Array<{ code: string }> } } }).response.data.errors[0]?.code).toBe('already_exists');
  });

  test('uploads through upload_url (buffer and stream), downloads the same bytes; same name is 422', async () => {
    const bytes = randomBytes(250_000);
    const up = await upload('sd_original_compiled.zip', bytes, bytes.length);
    expect(up.status).toBe(201);
    expect(up.data).toMatchObject({ name: 'sd_original_compiled.zip', state: 'uploaded', size: bytes.length });
    expect(up.data.digest).toBe(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
    const file = path.join(tmp, 'streamed.zip');
    writeFileSync(file, randomBytes(400_000));
    const streamed = await upload('sd_original_packages.zip', createReadStream(file), statSync(file).size);
    expect(streamed.data.size).toBe(400_000);

    const got = await octokit().rest.repos.getReleaseAsset({ ...repo, asset_id: up.data.id, headers: { accept: 'application/octet-stream' } });
    expect(Buffer.from(got.data as unknown as ArrayBuffer).equals(bytes)).toBe(true);
    expect(services.releases.assetBytes(streamed.data.id).equals(readFileSync(file))).toBe(true);

    const dup = await upload('sd_original_compiled.zip', bytes, bytes.length).catch((e: unknown) => e);
    expect(status(dup)).toBe(422);
  });

  test('strict about headers, auth and the upload host', async () => {
    const url = release.upload_url.replace(/\{.*\}$/, '?name=x.zip');
    const auth = { Authorization: `Bearer ${services.releases.token}` };
    const noType = await fetch(url, { method: 'POST', headers: { ...auth, 'Content-Length': '3' }, body: Buffer.from('abc') });
    // fetch adds no Content-Type for a Buffer body.
    expect(noType.status).toBe(400);
    const chunked = await fetch(url, {
      method: 'POST', headers: { ...auth, 'Content-Type': 'application/zip' },
      body: new ReadableStream({ start(c) { c.enqueue(new Uint8Array([1, 2, 3])); c.close(); } }), duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(411);
    const anonymous = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/zip' }, body: Buffer.from('abc') });
    expect(anonymous.status).toBe(401);
    const wrong = await getOctokit('ghs_wrong', { baseUrl: services.releases.apiUrl }).rest.repos.getRelease({ ...repo, release_id: release.id }).catch((e: unknown) => e);
    expect(status(wrong)).toBe(401);
    // Uploading to the API host instead of upload_url does not exist.
    const apiHost = await fetch(`${services.releases.apiUrl}/repos/octo-org/coreml-models/releases/${release.id}/assets?name=y.zip`, {
      method: 'POST', headers: { ...auth, 'Content-Type': 'application/zip' }, body: Buffer.from('abc'),
    });
    expect(apiHost.status).toBe(404);
  });

  test('a 502 mid-upload leaves a starter asset that blocks the name until deleted', async () => {
    const bytes = randomBytes(200_000);
    services.releases.failUploadOnce({ status: 502, afterBytes: 65_536 });
    const failed = await upload('sd_split.zip.001', bytes, bytes.length).catch((e: unknown) => e);
    expect(status(failed)).toBe(502);
    const listed = await octokit().paginate(octokit().rest.repos.listReleaseAssets, { ...repo, release_id: release.id, per_page: 1 });
    const starter = listed.find((a) => a.name === 'sd_split.zip.001');
    expect(starter).toMatchObject({ state: 'starter', size: 65_536 });
    expect(status(await upload('sd_split.zip.001', bytes, bytes.length).catch((e: unknown) => e))).toBe(422);
    await octokit().rest.repos.deleteReleaseAsset({ ...repo, asset_id: starter?.id as number });
    const retried = await upload('sd_split.zip.001', bytes, bytes.length);
    expect(retried.data.state).toBe('uploaded');
    const state = services.releases.state().releases.find((r) => r.id === release.id);
    expect(state?.assets.map((a) => [a.name, a.state])).toEqual([
      ['sd_original_compiled.zip', 'uploaded'], ['sd_original_packages.zip', 'uploaded'], ['sd_split.zip.001', 'uploaded'],
    ]);
    expect(state?.assets[2]?.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
  });

  test('the create race: a forced 422 leaves the other job\'s release to fetch', async () => {
    services.releases.failCreateOnce();
    const lost = await octokit().rest.repos.createRelease({ ...repo, tag_name: 'models-v2' }).catch((e: unknown) => e);
    expect(status(lost)).toBe(422);
    const theirs = await octokit().rest.repos.getReleaseByTag({ ...repo, tag: 'models-v2' });
    expect(theirs.data.tag_name).toBe('models-v2');
  });

  test('403 Resource not accessible by integration when the token may not write', async () => {
    services.releases.forbid();
    try {
      const denied = await octokit().rest.repos.createRelease({ ...repo, tag_name: 'models-v3' }).catch((e: unknown) => e);
      expect(status(denied)).toBe(403);
      expect((denied as Error).message).toContain('Resource not accessible by integration');
      expect(status(await upload('z.zip', Buffer.from('z'), 1).catch((e: unknown) => e))).toBe(403);
    } finally {
      services.releases.forbid(false);
    }
  });
});

describe('Hugging Face Hub stand-in', () => {
  const hf = (p: string, init: RequestInit = {}) => fetch(`${services.hub.url}${p}`, init);
  const bearer = () => ({ Authorization: `Bearer ${services.hub.token}` });

  test('model info by revision: gated models listed to anyone, their files to the token only; private ones unknown without it; unknown revisions are RevisionNotFound', async () => {
    const info = await hf(`/api/models/${MODEL}/revision/main`);
    expect(info.status).toBe(200);
    const body = (await info.json()) as { id: string; sha: string; siblings: Array<{ rfilename: string }> };
    expect(body.id).toBe(MODEL);
    expect(body.sha).toMatch(/^[0-9a-f]{40}$/);
    expect(body.siblings.map((s) => s.rfilename)).toEqual(['model_index.json', UNET, 'vae/config.json']);
    const gated = await hf('/api/models/acme/gated/revision/main');
    expect(gated.status).toBe(200);
    expect(((await gated.json()) as { gated: unknown }).gated).toBe('manual');
    const file = await hf('/acme/gated/resolve/main/model.bin');
    expect([file.status, file.headers.get('x-error-code')]).toEqual([401, 'GatedRepo']);
    expect((await hf('/acme/gated/resolve/main/model.bin', { headers: bearer() })).status).toBe(200);
    const hidden = await hf('/api/models/acme/private/revision/main');
    expect([hidden.status, hidden.headers.get('x-error-code')]).toEqual([401, 'RepoNotFound']);
    const seen = await hf('/api/models/acme/private/revision/main', { headers: bearer() });
    expect(((await seen.json()) as { private: unknown }).private).toBe(true);
    expect((await hf('/api/models/acme/gated/revision/main', { headers: { Authorization: 'Bearer hf_wrong' } })).status).toBe(401);
    const rev = await hf(`/api/models/${MODEL}/revision/nope`);
    expect([rev.status, rev.headers.get('x-error-code')]).toEqual([404, 'RevisionNotFound']);
  });

  test('resolve serves bytes with ETag and X-Repo-Commit, counts them; a new commit keeps unchanged ETags', async () => {
    services.hub.resetStats();
    const sha = services.hub.resolve(MODEL);
    const head = await hf(`/${MODEL}/resolve/main/${UNET}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('x-repo-commit')).toBe(sha);
    expect(head.headers.get('content-length')).toBe('2000000');
    const etag = head.headers.get('etag');
    expect(etag).toMatch(/^"[0-9a-f]{64}"$/);
    const got = Buffer.from(await (await hf(`/${MODEL}/resolve/${sha}/${UNET}`)).arrayBuffer());
    expect(got.length).toBe(2_000_000);
    expect(`"${createHash('sha256').update(got).digest('hex')}"`).toBe(etag);
    const part = await hf(`/${MODEL}/resolve/main/${UNET}`, { headers: { Range: 'bytes=1000000-' } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer()).equals(got.subarray(1_000_000))).toBe(true);
    const index = await hf(`/${MODEL}/resolve/main/model_index.json`);
    expect(await index.text()).toBe(INDEX);
    expect(services.hub.stats().bytesServed[MODEL]).toBe(2_000_000 + 1_000_000 + INDEX.length);

    const sha2 = services.hub.setRevision(MODEL, 'main', undefined, { 'vae/config.json': '{"changed":true}' });
    expect(sha2).not.toBe(sha);
    const head2 = await hf(`/${MODEL}/resolve/main/${UNET}`, { method: 'HEAD' });
    expect([head2.headers.get('x-repo-commit'), head2.headers.get('etag')]).toEqual([sha2, etag]);
    expect((await hf(`/${MODEL}/resolve/${sha}/vae/config.json`).then((r) => r.text()))).toBe('{}');
    expect((await hf(`/${MODEL}/resolve/main/missing.bin`)).headers.get('x-error-code')).toBe('EntryNotFound');
  });

  test('CLIP tokenizer files for bundling: 49408-entry vocab and BPE merges', async () => {
    const vocab = (await (await hf(`/${CLIP_MODEL_ID}/resolve/main/vocab.json`)).json()) as Record<string, number>;
    expect(Object.keys(vocab).length).toBe(49408);
    expect(vocab['<|endoftext|>']).toBe(49407);
    const merges = (await (await hf(`/${CLIP_MODEL_ID}/resolve/main/merges.txt`)).text()).trimEnd().split('\n');
    expect(merges[0]).toBe('#version: 0.2');
    expect(merges.length - 1).toBe(49408 - 512 - 2);
  });
});

test('stopping leaves no process or listener behind', async () => {
  const { azurite, results, releases, hub } = services;
  await services.stop();
  expect(processAlive(azurite.pid)).toBe(false);
  expect(() => execFileSync('ps', ['-o', 'pid=', '-g', String(azurite.pid)])).toThrow();
  for (const url of [azurite.url, results.url, results.blobGatewayUrl, releases.apiUrl, hub.url]) {
    await expect(fetch(url)).rejects.toThrow();
  }
});

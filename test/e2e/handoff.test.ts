import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filesOf, sha256File } from '../support/files.mjs';
import { captured } from '../support/captured.js';
import { startAll, type Services } from '../services/index.mjs';
import type { GitHubContext } from '../../src/config.js';
import { HANDOFF_MANIFEST, handoffName, serializeManifest, type HandoffSource } from '../../src/handoff/manifest.js';
import { HandoffError, checkHandoff, fetchHandoff, listHandoffFiles, uploadHandoff, writeHandoff } from '../../src/handoff/transfer.js';

/**
 * The hand-off between the convert job and the finishing job (issue 23), through the real
 * @actions/artifact client against the local artifact service (Azurite + the Twirp stand-in):
 * the convert job writes handoff.json over its output folder and uploads it as one artifact; the
 * finishing job, another job of the same run (its own runtime token), finds it by the name its
 * identity gives, downloads it, and takes it only when the identity and every file's sha256 are
 * as the manifest says. The src/handoff functions are called directly (vitest runs TypeScript).
 */

let services: Services;
const root = path.join(os.tmpdir(), `coreml-handoff-e2e-${process.pid}`);
const MB = 1024 * 1024;

const IDENTITY = {
  'model-version': 'acme/sd-handoff',
  'model-sha': 'c0ffee0000000000000000000000000000000000',
  'attention-implementation': 'SPLIT_EINSUM',
  'compute-unit': 'CPU_AND_NE',
  'quantize-nbits': '6',
  'lock-sha256': createHash('sha256').update('lock').digest('hex'),
};
const WEIGHT = 'Unet.mlpackage/Data/com.apple.CoreML/weights/weight.bin';

beforeAll(async () => {
  services = await startAll();
  mkdirSync(root, { recursive: true });
});
afterAll(async () => {
  await services?.stop();
  rmSync(root, { recursive: true, force: true });
});

const github = (): GitHubContext => ({ serverUrl: 'https://github.com', apiUrl: services.releases.apiUrl, repository: services.results.repository, runId: services.results.runId });

/**
 * Runs fn as a job of the run: the environment the runner gives (a runtime token of this job),
 * read by @actions/artifact at call time; stdout (the client's and the action's log) captured.
 */
async function asJob<T>(token: string, fn: () => Promise<T>): Promise<{ value: T; out: string }> {
  const saved = { ...process.env };
  Object.assign(process.env, services.results.envFor(token), { RUNNER_TEMP: path.join(root, 'runner-temp'), GITHUB_WORKSPACE: root });
  try {
    return await captured(fn);
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  }
}

/** What the convert half leaves in output-dir: packages (nested), the state, parity's reference files. */
function convertOutput(dir: string, seed = 'a'): void {
  const put = (rel: string, content: string | Buffer) => {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), content);
  };
  put('Unet.mlpackage/Manifest.json', `{"fileFormatVersion":"1.0.0","seed":"${seed}"}`);
  put('Unet.mlpackage/Data/com.apple.CoreML/model.mlmodel', randomBytes(40_000));
  put(WEIGHT, randomBytes(3 * MB + 17));
  put('TextEncoder.mlpackage/Manifest.json', '{"fileFormatVersion":"1.0.0"}');
  put('TextEncoder.mlpackage/Data/com.apple.CoreML/weights/weight.bin', randomBytes(MB));
  put('.coreml-action/state.json', '{"version":1,"fingerprint":{},"psnr":[],"quantized":[]}\n');
  put('.coreml-action/parity/unet/inputs.npz', randomBytes(5_000));
  put('.coreml-action/parity/unet/outputs.npz', randomBytes(5_000));
  put('.coreml-action/parity/text_encoder/empty.npz', '');
}

/** The error fn throws, which must be a HandoffError. */
async function refusal(fn: () => Promise<unknown>): Promise<string> {
  const error = await fn().then(() => undefined, (e: unknown) => e);
  expect(error, 'expected a refusal').toBeInstanceOf(HandoffError);
  return (error as Error).message;
}

const siblings = (dir: string) => readdirSync(path.dirname(dir)).filter((n) => n.startsWith(`.${path.basename(dir)}.handoff-`));
const artifactNamed = (name: string) => services.results.stats().artifacts.filter((a) => a.name === name && a.finalized);

describe('the hand-off through the artifact service', () => {
  const outputDir = path.join(root, 'convert', 'coreml-models');
  const name = handoffName(IDENTITY);
  const convertToken = () => services.results.token;
  let finishToken: string;
  let downloaded: string;

  it('the convert job lists every file with its sha256 and uploads the folder as one artifact', async () => {
    convertOutput(outputDir);
    // A manifest half-written by a killed run is the action's own and does not get listed.
    mkdirSync(path.join(outputDir, '.coreml-action'), { recursive: true });
    writeFileSync(path.join(outputDir, `${HANDOFF_MANIFEST}.tmp`), '{"vers');
    const { value: manifest } = await asJob(convertToken(), () => writeHandoff(outputDir, IDENTITY));
    const onDisk = filesOf(outputDir);
    const listed = Object.keys(onDisk).filter((p) => p !== HANDOFF_MANIFEST).sort();
    expect(manifest.files.map((f) => f.path)).toEqual(listed);
    expect(listed).toContain(WEIGHT);
    expect(listed).toContain('.coreml-action/parity/text_encoder/empty.npz');
    for (const f of manifest.files) {
      expect(f.sha256, f.path).toBe(sha256File(path.join(outputDir, f.path)));
      expect(f.size, f.path).toBe(onDisk[f.path]?.length);
    }
    expect(readFileSync(path.join(outputDir, HANDOFF_MANIFEST), 'utf8')).toBe(serializeManifest(manifest));
    expect(existsSync(path.join(outputDir, `${HANDOFF_MANIFEST}.tmp`))).toBe(false);

    const { value: up } = await asJob(convertToken(), () => uploadHandoff({ outputDir, name, github: github(), retentionDays: 1 }));
    expect(up.name).toBe(name);
    expect(up.url).toBe(`https://github.com/${services.results.repository}/actions/runs/${services.results.runId}/artifacts/${up.id}`);
    expect(artifactNamed(name)).toHaveLength(1);
  });

  it('the finishing job (another job of the run) finds it by its identity\'s name, downloads and takes it', async () => {
    finishToken = services.results.mintToken();
    downloaded = path.join(root, 'finish', 'coreml-models');
    const source: HandoffSource = { kind: 'artifact', name: handoffName({ ...IDENTITY }) };
    const { value: got, out } = await asJob(finishToken, () => fetchHandoff({ source, into: downloaded, identity: { ...IDENTITY } }));
    expect(got.dir).toBe(downloaded);
    expect(got.from).toMatch(new RegExp(`^the artifact ${name} \\(id \\d+\\)$`));
    // The same tree, byte for byte, handoff.json included: paths in the artifact are relative to output-dir.
    const want = filesOf(outputDir);
    const have = filesOf(downloaded);
    expect(Object.keys(have).sort()).toEqual(Object.keys(want).sort());
    for (const [p, bytes] of Object.entries(want)) expect(have[p]?.equals(bytes), p).toBe(true);
    expect(siblings(downloaded)).toEqual([]);
    expect(out).toContain('downloaded and checked');
    // And a check of it again passes, returning the manifest as written.
    expect(await checkHandoff(downloaded, IDENTITY)).toEqual(got.manifest);
  });

  describe('a downloaded hand-off that is not the one listed is refused, naming what differs', () => {
    const copy = (as: string) => {
      const dir = path.join(root, 'tampered', as);
      cpSync(downloaded, dir, { recursive: true });
      return dir;
    };

    it('one byte changed in a package', async () => {
      const dir = copy('byte');
      const file = path.join(dir, WEIGHT);
      const bytes = readFileSync(file);
      bytes[1234] = (bytes[1234] ?? 0) ^ 0x01;
      writeFileSync(file, bytes);
      const message = await refusal(() => checkHandoff(dir, IDENTITY, 'The hand-off in the artifact X'));
      expect(message).toContain(`changed: ${WEIGHT} has sha256 ${sha256File(file)}, the manifest lists `);
      expect(message).toMatch(/^The hand-off in the artifact X is refused:/);
      expect(message).toContain('rerun the convert job');
      expect(message.split('\n').filter((l) => l.startsWith('  - '))).toHaveLength(1);
    });

    it('a file added, one removed, one truncated: every one listed', async () => {
      const dir = copy('files');
      writeFileSync(path.join(dir, 'Unet.mlpackage/Data/com.apple.CoreML/extra.bin'), 'x');
      unlinkSync(path.join(dir, '.coreml-action/parity/unet/inputs.npz'));
      writeFileSync(path.join(dir, 'TextEncoder.mlpackage/Manifest.json'), '{');
      writeFileSync(path.join(dir, `${HANDOFF_MANIFEST}.tmp`), '{}');
      const message = await refusal(() => checkHandoff(dir, IDENTITY));
      expect(message).toContain(`extra: ${HANDOFF_MANIFEST}.tmp (in the folder, not in the manifest)`);
      expect(message.split('\n').filter((l) => l.startsWith('  - '))).toHaveLength(4);
      expect(message).toContain('extra: Unet.mlpackage/Data/com.apple.CoreML/extra.bin (in the folder, not in the manifest)');
      expect(message).toContain('missing: .coreml-action/parity/unet/inputs.npz (listed in the manifest, not in the folder)');
      expect(message).toContain('changed: TextEncoder.mlpackage/Manifest.json has 1 bytes, the manifest lists 29');
    });

    it('another identity: the key and both values are named, and what to do', async () => {
      const dir = copy('identity');
      const mine = { ...IDENTITY, 'model-version': 'acme/other', 'convert-unet': 'true' };
      delete (mine as Record<string, string>)['quantize-nbits'];
      const message = await refusal(() => checkHandoff(dir, mine));
      expect(message).toContain('identity: model-version was "acme/sd-handoff", this job has "acme/other"');
      expect(message).toContain('identity: convert-unet is not in the hand-off, this job has "true"');
      expect(message).toContain('identity: quantize-nbits was "6", this job has no quantize-nbits');
      expect(message).toContain('both jobs must run with the same inputs');
      expect(message).not.toContain('rerun the convert job');
    });

    it('a handoff.json edited to match a tampered file is still refused by the identity it holds or by JSON checks', async () => {
      const dir = copy('manifest');
      writeFileSync(path.join(dir, HANDOFF_MANIFEST), '{"version": 2, "identity": {}, "files": []}');
      expect(await refusal(() => checkHandoff(dir, IDENTITY))).toMatch(/version 2; this action reads version 1 only/);
      unlinkSync(path.join(dir, HANDOFF_MANIFEST));
      expect(await refusal(() => checkHandoff(dir, IDENTITY))).toMatch(/holds no \.coreml-action\/handoff\.json: it is not the hand-off of a convert job/);
    });

    it('a symbolic link in the folder', async () => {
      const dir = copy('symlink');
      symlinkSync('/etc/hostname', path.join(dir, 'Unet.mlpackage/link'));
      expect(await refusal(() => checkHandoff(dir, IDENTITY))).toContain('symbolic link, Unet.mlpackage/link');
    });
  });

  it('an artifact of other inputs is not found under this job\'s name, and nothing is left at into', async () => {
    const into = path.join(root, 'finish-other', 'coreml-models');
    const other = { ...IDENTITY, 'compute-unit': 'ALL' };
    const message = await asJob(finishToken, () => refusal(() => fetchHandoff({ source: { kind: 'artifact', name: handoffName(other) }, into, identity: other })));
    expect(message.value).toContain(`No artifact named ${handoffName(other)} in this workflow run`);
    expect(message.value).toContain('the two jobs\' inputs differ');
    expect(existsSync(into)).toBe(false);
    expect(existsSync(path.dirname(into)) ? siblings(into) : []).toEqual([]);
  });

  it('an artifact named explicitly but made with other inputs is downloaded, refused, and removed again', async () => {
    const into = path.join(root, 'finish-named', 'coreml-models');
    const other = { ...IDENTITY, 'compute-unit': 'ALL' };
    const { value: message } = await asJob(finishToken, () => refusal(() => fetchHandoff({ source: { kind: 'artifact', name }, into, identity: other })));
    expect(message).toMatch(new RegExp(`^The hand-off in the artifact ${name} \\(id \\d+\\) is refused:`));
    expect(message).toContain('identity: compute-unit was "CPU_AND_NE", this job has "ALL"');
    expect(existsSync(into)).toBe(false);
    expect(siblings(into)).toEqual([]);
  });

  it('a tampered upload: the convert job refuses a changed size; a same-size change is refused by the finishing job', async () => {
    const dir = path.join(root, 'convert-tampered', 'coreml-models');
    const identity = { ...IDENTITY, 'model-version': 'acme/tampered' };
    convertOutput(dir, 'b');
    await asJob(convertToken(), () => writeHandoff(dir, identity));
    const manifestJson = path.join(dir, 'Unet.mlpackage/Manifest.json');
    writeFileSync(manifestJson, `${readFileSync(manifestJson, 'utf8')} `);
    const before = services.results.stats().requests.CreateArtifact ?? 0;
    const { value: sized } = await asJob(convertToken(), () => refusal(() => uploadHandoff({ outputDir: dir, name: handoffName(identity), github: github() })));
    expect(sized).toContain('changed: Unet.mlpackage/Manifest.json has');
    expect(services.results.stats().requests.CreateArtifact ?? 0).toBe(before);

    await asJob(convertToken(), () => writeHandoff(dir, identity));
    const weight = path.join(dir, WEIGHT);
    const bytes = readFileSync(weight);
    bytes[0] = (bytes[0] ?? 0) ^ 0xff;
    writeFileSync(weight, bytes);
    await asJob(convertToken(), () => uploadHandoff({ outputDir: dir, name: handoffName(identity), github: github() }));
    const into = path.join(root, 'finish-tampered', 'coreml-models');
    mkdirSync(into, { recursive: true }); // an empty folder is fine, and is where it would go
    const { value: message } = await asJob(finishToken, () => refusal(() => fetchHandoff({ source: { kind: 'artifact', name: handoffName(identity) }, into, identity })));
    expect(message).toContain(`changed: ${WEIGHT} has sha256 ${sha256File(weight)}`);
    expect(readdirSync(into)).toEqual([]);
    expect(siblings(into)).toEqual([]);
  });

  it('a rerun of the convert job (a new job of the run) replaces its own hand-off', async () => {
    const rerun = services.results.mintToken();
    const firstId = artifactNamed(name)[0]?.id;
    const weight = path.join(outputDir, WEIGHT);
    writeFileSync(weight, randomBytes(2 * MB));
    const { value: manifest } = await asJob(rerun, () => writeHandoff(outputDir, IDENTITY));
    const { value: up, out } = await asJob(rerun, () => uploadHandoff({ outputDir, name, github: github() }));
    expect(out).toContain(`An artifact named ${name} already exists in this run: replacing it`);
    expect(up.id).not.toBe(firstId);
    expect(artifactNamed(name).map((a) => a.id)).toEqual([up.id]);
    const into = path.join(root, 'finish-rerun', 'coreml-models');
    const { value: got } = await asJob(finishToken, () => fetchHandoff({ source: { kind: 'artifact', name }, into, identity: IDENTITY }));
    expect(got.manifest).toEqual(manifest);
    expect(readFileSync(path.join(into, WEIGHT)).equals(readFileSync(weight))).toBe(true);
  });

  it('an artifact whose stored zip is not the one the convert job uploaded is refused by its digest', async () => {
    // Another valid hand-off's zip put in the place of this one's blob (what the service recorded
    // for it stays): the download's sha256 differs from the recorded digest.
    const otherDir = path.join(root, 'convert-other', 'coreml-models');
    const other = { ...IDENTITY, 'model-version': 'acme/swapped' };
    convertOutput(otherDir, 'c');
    await asJob(convertToken(), () => writeHandoff(otherDir, other));
    const { value: otherUp } = await asJob(convertToken(), () => uploadHandoff({ outputDir: otherDir, name: handoffName(other), github: github() }));
    const target = artifactNamed(name)[0];
    expect(target).toBeDefined();
    const container = new BlobServiceClient(services.azurite.url, new StorageSharedKeyCredential(services.azurite.accountName, services.azurite.accountKey)).getContainerClient('actions-results');
    const blobOf = async (id: number) => {
      for await (const blob of container.listBlobsFlat({ prefix: `${services.results.runBackendId}/${id}/` })) return blob.name;
      throw new Error(`no blob for artifact ${id}`);
    };
    const saved = await container.getBlockBlobClient(await blobOf(target?.id ?? 0)).downloadToBuffer();
    const swapped = await container.getBlockBlobClient(await blobOf(otherUp.id)).downloadToBuffer();
    const targetBlob = container.getBlockBlobClient(await blobOf(target?.id ?? 0));
    await targetBlob.uploadData(swapped);
    try {
      const into = path.join(root, 'finish-swapped', 'coreml-models');
      const { value: message } = await asJob(finishToken, () => refusal(() => fetchHandoff({ source: { kind: 'artifact', name }, into, identity: IDENTITY })));
      expect(message).toMatch(new RegExp(`^The zip of the artifact ${name} \\(id \\d+\\) did not download as the service recorded it`));
      expect(existsSync(into)).toBe(false);
      expect(siblings(into)).toEqual([]);
    } finally {
      await targetBlob.uploadData(saved);
    }
  });

  it('into must be missing or empty: a folder holding anything is refused before any download', async () => {
    const into = path.join(root, 'finish-busy', 'coreml-models');
    mkdirSync(into, { recursive: true });
    writeFileSync(path.join(into, 'mine.txt'), 'the user\'s');
    services.results.resetStats();
    const { value: message } = await asJob(finishToken, () => refusal(() => fetchHandoff({ source: { kind: 'artifact', name }, into, identity: IDENTITY })));
    expect(message).toContain(`${into}, which is not empty`);
    expect(services.results.stats().requests).toEqual({});
    expect(readdirSync(into)).toEqual(['mine.txt']);
  });

  it('a failed download leaves nothing behind', async () => {
    const into = path.join(root, 'finish-failed', 'coreml-models');
    services.results.failNext('GetSignedArtifactURL', 403);
    const { value: message } = await asJob(finishToken, () => refusal(() => fetchHandoff({ source: { kind: 'artifact', name }, into, identity: IDENTITY })));
    expect(message).toMatch(new RegExp(`^Downloading the artifact ${name} \\(id \\d+\\) failed:`));
    expect(existsSync(into)).toBe(false);
    expect(siblings(into)).toEqual([]);
  });
});

describe('the hand-off from a folder (handoff: a path)', () => {
  it('is checked and used in place; into is not touched', async () => {
    const dir = path.join(root, 'local', 'coreml-models');
    convertOutput(dir);
    await writeHandoff(dir, IDENTITY);
    const into = path.join(root, 'local-into');
    const got = await fetchHandoff({ source: { kind: 'path', path: dir }, into, identity: IDENTITY });
    expect(got.dir).toBe(dir);
    expect(got.from).toBe(`the folder ${dir}`);
    expect(existsSync(into)).toBe(false);
    writeFileSync(path.join(dir, '.coreml-action/parity/unet/outputs.npz'), 'short');
    expect(await refusal(() => fetchHandoff({ source: { kind: 'path', path: dir }, into, identity: IDENTITY })))
      .toMatch(new RegExp(`^The hand-off in the folder ${dir} is refused:\\n  - changed: \\.coreml-action/parity/unet/outputs\\.npz has 5 bytes, the manifest lists 5000`));
    expect(await refusal(() => fetchHandoff({ source: { kind: 'path', path: path.join(root, 'nowhere') }, into, identity: IDENTITY }))).toMatch(/is not a folder/);
  });

  it('writeHandoff refuses a symbolic link and a name no artifact can hold', async () => {
    const dir = path.join(root, 'local-bad');
    convertOutput(dir);
    symlinkSync(path.join(dir, WEIGHT), path.join(dir, 'Unet.mlpackage/alias.bin'));
    expect(await refusal(() => writeHandoff(dir, IDENTITY))).toContain('symbolic link, Unet.mlpackage/alias.bin');
    unlinkSync(path.join(dir, 'Unet.mlpackage/alias.bin'));
    writeFileSync(path.join(dir, 'what?.bin'), '');
    expect(await refusal(() => writeHandoff(dir, IDENTITY))).toContain('"what?.bin" holds the character "?"');
    expect(existsSync(path.join(dir, HANDOFF_MANIFEST))).toBe(false);
    unlinkSync(path.join(dir, 'what?.bin'));
    writeFileSync(path.join(dir, 'unet.mlpackage'), '');
    expect(await refusal(() => writeHandoff(dir, IDENTITY))).toContain('differ in case only');
    unlinkSync(path.join(dir, 'unet.mlpackage'));
    expect((await listHandoffFiles(dir)).length).toBe(9);
  });
});

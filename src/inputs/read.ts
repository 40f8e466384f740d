import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as core from '@actions/core';
import { Halt } from '../halt.js';
import type { Config } from '../config.js';
import { childEnvironment } from '../process.js';
import { maskSecret } from '../secrets.js';
import { SECRET_INPUTS } from './names.js';
import { parseInputs, type ParseResult } from './parse.js';
import { PROBE_CODE, PROBE_TIMEOUT_MS, type ProbeOutcome } from './python-probe.js';

/** The folder holding action.yml: dist/index.js lives one level below it. */
export function actionRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
}

const isDirectory = (p: string) => existsSync(p) && statSync(p).isDirectory();
const isFile = (p: string) => existsSync(p) && statSync(p).isFile();

/** A path through symlinks: the real path of its nearest existing ancestor, then the rest as written. */
export function realPathOf(p: string): string {
  const absolute = path.resolve(p);
  let existing = absolute;
  while (!existsSync(existing) && path.dirname(existing) !== existing) existing = path.dirname(existing);
  try {
    return path.join(realpathSync(existing), path.relative(existing, absolute));
  } catch {
    return absolute;
  }
}

/** Runs the `python` input with -c (argv, no shell, a timeout, the allow-listed environment without any token). */
export function probePython(file: string): ProbeOutcome {
  const result = spawnSync(file, ['-c', PROBE_CODE], { encoding: 'utf8', timeout: PROBE_TIMEOUT_MS, env: childEnvironment(), stdio: ['ignore', 'pipe', 'ignore'], shell: false });
  const error = (result.error as NodeJS.ErrnoException | undefined)?.code ?? (result.signal ? 'ETIMEDOUT' : undefined);
  return { status: result.status, stdout: result.stdout ?? '', error };
}

/**
 * The thin part: masks the tokens as given (whole, and in the pieces a newline would split them
 * into), then reads the runner's inputs and environment and parses them purely.
 */
export function readInputs(): ParseResult {
  for (const name of SECRET_INPUTS) maskSecret(core.getInput(name));
  maskSecret(process.env.HF_TOKEN);
  return parseInputs((name) => core.getInput(name), { env: process.env, actionRoot: actionRoot(), isDirectory, isFile, realPath: realPathOf, probePython });
}

/**
 * The inputs stage: the one Config the stages below read, its secrets masked in the logs. Bad
 * input halts the run before anything is installed, each problem annotated.
 */
export function readConfig(parsed: ParseResult = readInputs()): Config {
  // Masked before the first line is written.
  parsed.secrets.forEach(maskSecret);
  parsed.warnings.forEach((w) => core.warning(w));
  if (!parsed.config) {
    throw new Halt(parsed.errors, 'Invalid input', `${parsed.errors.length} input problem(s), nothing was installed or run:\n- ${parsed.errors.join('\n- ')}`);
  }
  const config = parsed.config;
  [config.hfToken, config.publish.githubToken, config.publish.hub?.token].forEach(maskSecret);
  return config;
}

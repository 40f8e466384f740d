import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as core from '@actions/core';
import { Halt } from '../halt.js';
import type { Config } from '../config.js';
import { parseInputs, type ParseResult } from './parse.js';

/** The folder holding action.yml: dist/index.js lives one level below it. */
export function actionRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
}

const isDirectory = (p: string) => existsSync(p) && statSync(p).isDirectory();
const isFile = (p: string) => existsSync(p) && statSync(p).isFile();

/** The thin part: reads the runner's inputs and environment, then parses them purely. */
export function readInputs(): ParseResult {
  return parseInputs((name) => core.getInput(name), { env: process.env, actionRoot: actionRoot(), isDirectory, isFile });
}

/**
 * The inputs stage: the one Config the stages below read, its secrets masked in the logs. Bad
 * input halts the run before anything is installed, each problem annotated.
 */
export function readConfig(parsed: ParseResult = readInputs()): Config {
  parsed.warnings.forEach((w) => core.warning(w));
  if (!parsed.config) {
    throw new Halt(parsed.errors, 'Invalid input', `${parsed.errors.length} input problem(s), nothing was installed or run:\n- ${parsed.errors.join('\n- ')}`);
  }
  const config = parsed.config;
  if (config.hfToken) core.setSecret(config.hfToken);
  if (config.publish.githubToken) core.setSecret(config.publish.githubToken);
  if (config.publish.hub?.token) core.setSecret(config.publish.hub.token);
  return config;
}

import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as core from '@actions/core';
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

import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as core from '@actions/core';
import { STATE_DIR } from '../convert/state.js';
import { childEnvironment } from '../process.js';
import { parseFreeze, parseXcodeVersion, type EnvironmentRecord } from './manifest.js';
import { errorMessage } from '../format/error.js';

/**
 * What the conversion ran with, recorded next to the converter's state in output-dir, so that a
 * run restored from the outputs cache publishes the environment that made the models, not its own.
 */
const FILE = 'environment.json';

export const UNKNOWN_ENVIRONMENT: EnvironmentRecord = { packages: null, python: null, macos: null, xcode: null };

/** stdout of argv (no shell), or undefined when it cannot run or fails. */
function output(argv: readonly string[], cwd: string): Promise<string | undefined> {
  const [command, ...args] = argv;
  if (!command) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env: childEnvironment(), timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout) => {
      resolve(error ? undefined : String(stdout));
    });
  });
}

/** Asks the converter's interpreter and the machine; what cannot be asked is null. */
export async function gatherEnvironment(python: string, cwd: string): Promise<EnvironmentRecord> {
  const [freeze, version, macos, xcode] = await Promise.all([
    output([python, '-m', 'pip', 'freeze'], cwd),
    output([python, '-c', 'import platform; print(platform.python_version())'], cwd),
    output(['sw_vers', '-productVersion'], cwd),
    output(['xcodebuild', '-version'], cwd),
  ]);
  return {
    packages: freeze === undefined ? null : parseFreeze(freeze),
    python: version?.trim() || null,
    macos: macos?.trim() || null,
    xcode: (xcode && parseXcodeVersion(xcode)) ?? null,
  };
}

/** Writes the record (atomically) into output-dir/.coreml-action/; a failure is a warning naming `what`. */
function writeRecord(outputDir: string, record: EnvironmentRecord, what: string): void {
  try {
    const dir = path.join(outputDir, STATE_DIR);
    mkdirSync(dir, { recursive: true });
    const target = path.join(dir, FILE);
    writeFileSync(`${target}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
    renameSync(`${target}.tmp`, target);
  } catch (error) {
    core.warning(`Could not record ${what} for manifest.json: ${errorMessage(error)}`);
  }
}

/** After a conversion: writes the record into output-dir/.coreml-action/. */
export async function recordEnvironment(outputDir: string, python: string, cwd: string): Promise<EnvironmentRecord> {
  const record = await gatherEnvironment(python, cwd);
  writeRecord(outputDir, record, "the conversion's environment");
  return record;
}

/**
 * The finishing job of a split conversion: the packages were converted by the converting job's
 * environment, whose record came with the hand-off and stays; the macOS and Xcode that compiled
 * the Resources are this job's.
 */
export async function recordFinishingEnvironment(outputDir: string, python: string, cwd: string): Promise<void> {
  const converted = readEnvironment(outputDir);
  const here = await gatherEnvironment(python, cwd);
  writeRecord(outputDir, { ...converted, macos: here.macos, xcode: here.xcode }, "the finishing job's macOS and Xcode");
}

/** The record of the conversion that made output-dir; all null when there is none (an older cache entry). */
export function readEnvironment(outputDir: string): EnvironmentRecord {
  try {
    const parsed = JSON.parse(readFileSync(path.join(outputDir, STATE_DIR, FILE), 'utf8')) as Partial<EnvironmentRecord>;
    return {
      packages: parsed.packages && typeof parsed.packages === 'object' ? parsed.packages : null,
      python: typeof parsed.python === 'string' ? parsed.python : null,
      macos: typeof parsed.macos === 'string' ? parsed.macos : null,
      xcode: typeof parsed.xcode === 'string' ? parsed.xcode : null,
    };
  } catch {
    return UNKNOWN_ENVIRONMENT;
  }
}

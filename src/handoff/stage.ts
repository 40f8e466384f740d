import { cpSync, existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../config.js';
import { Halt } from '../halt.js';
import { info } from '../log.js';
import { setOutput } from '../outputs.js';
import { formatBytes } from '../format/markdown.js';
import { HandoffError, handoffName, type HandoffSource } from './manifest.js';
import { fetchHandoff, uploadHandoff, writeHandoff } from './transfer.js';

/** What the converting job handed off (the summary shows it). */
export interface HandoffReport {
  name: string;
  files: number;
  bytes: number;
  url?: string;
}

/** Pure: the hand-off's artifact name: `handoff` as given, else the one the identity gives (both jobs compute the same). */
export function handoffArtifact(config: Pick<Config, 'split'>, identity: Record<string, string>): string {
  const given = config.split.handoff;
  return given && 'artifact' in given ? given.artifact : handoffName(identity);
}

/**
 * The converting job's last stage: output-dir (the packages, the parity references, the state) with
 * the sha256 of every file, uploaded as one workflow artifact for the finishing job. Only a
 * conversion that passed what this job can check is handed off.
 */
export async function handOffStage(config: Config, identity: Record<string, string>): Promise<HandoffReport> {
  const { outputDir } = config.conversion;
  const name = handoffArtifact(config, identity);
  const manifest = await writeHandoff(outputDir, identity);
  const bytes = manifest.files.reduce((sum, f) => sum + f.size, 0);
  info(`Handing off ${manifest.files.length} files (${formatBytes(bytes)}) as the workflow artifact ${name}, for the finishing job (split: finish).`);
  const uploaded = await uploadHandoff({ outputDir, name, github: config.publish.github, retentionDays: config.publish.retentionDays });
  setOutput('handoff', name);
  return { name, files: manifest.files.length, bytes, url: uploaded.url };
}

/** Pure: where the finishing job takes the hand-off from: `handoff` as read, else the artifact the identity names. */
export function handoffSourceOf(config: Pick<Config, 'split'>, identity: Record<string, string>): HandoffSource {
  const given = config.split.handoff;
  if (given && 'path' in given) return { kind: 'path', path: given.path };
  return { kind: 'artifact', name: handoffArtifact(config, identity) };
}

/**
 * The finishing job's first stage after the checks that need no install: the hand-off fetched (by
 * name, or from a folder), checked against this job's own identity and the sha256 of every file
 * (a difference refuses it, naming what differs), and made output-dir. output-dir must not hold
 * anything yet, unless it is the hand-off folder itself: the hand-off is the conversion, whole
 * (fetchHandoff refuses a download into a folder that is not empty; a folder copied in is checked here).
 */
export async function takeOverStage(config: Config, identity: Record<string, string>): Promise<void> {
  const { outputDir } = config.conversion;
  const source = handoffSourceOf(config, identity);
  const copied = source.kind === 'path' && path.resolve(source.path) !== path.resolve(outputDir);
  if (copied && existsSync(outputDir) && readdirSync(outputDir).length > 0) {
    throw new Halt(
      [`output-dir (${outputDir}) already holds files: the finishing job takes the hand-off into an empty output-dir, so that nothing else is checked, compiled or published with it. Give a new output-dir, or remove that folder in an earlier step.`],
      'Hand-off',
    );
  }
  let fetched;
  try {
    fetched = await fetchHandoff({ source, into: outputDir, identity });
  } catch (error) {
    if (error instanceof HandoffError) throw new Halt([error.message], 'Hand-off');
    throw error;
  }
  // A folder elsewhere is copied: the stages after work in output-dir, and the folder stays as it was.
  if (fetched.dir !== path.resolve(outputDir)) cpSync(fetched.dir, outputDir, { recursive: true });
  const bytes = fetched.manifest.files.reduce((sum, f) => sum + f.size, 0);
  info(`Took the hand-off from ${fetched.from}: ${fetched.manifest.files.length} files (${formatBytes(bytes)}), the conversion this job expects, every sha256 as written.`);
}

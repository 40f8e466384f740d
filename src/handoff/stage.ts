import { existsSync, readdirSync } from 'node:fs';
import type { Config } from '../config.js';
import { Halt } from '../halt.js';
import { info } from '../log.js';
import { setOutput } from '../outputs.js';
import { formatBytes } from '../format/markdown.js';
import { handoffName } from './manifest.js';
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

/**
 * The finishing job's first stage after the checks that need no install: the hand-off fetched (by
 * name, or from a folder), checked against this job's own identity and the sha256 of every file,
 * and put in place as output-dir. output-dir must not hold anything yet: the hand-off is the
 * conversion, whole.
 */
export async function takeOverStage(config: Config, identity: Record<string, string>): Promise<void> {
  const { outputDir } = config.conversion;
  if (existsSync(outputDir) && readdirSync(outputDir).length > 0) {
    throw new Halt(
      [`output-dir (${outputDir}) already holds files: the finishing job takes the hand-off into an empty output-dir, so that nothing else is checked, compiled or published with it. Give a new output-dir, or remove that folder in an earlier step.`],
      'Hand-off',
    );
  }
  const source = config.split.handoff ?? { artifact: handoffArtifact(config, identity) };
  const taken = await fetchHandoff({ source, into: outputDir, expected: identity });
  info(`Took the hand-off ${'artifact' in source ? `artifact ${source.artifact}` : `folder ${source.path}`}: ${taken.files.length} files, the conversion this job expects, every sha256 as written.`);
}

import { existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import * as core from '@actions/core';
import * as tc from '@actions/tool-cache';
import { bundleStep, parseVerifyInputs } from './verify/bundle/entry-inputs.js';
import { detectKind } from './verify/bundle/check.js';
import { expectationsForBundle } from './verify/bundle/expect.js';
import { linksLeaving, readBundle } from './verify/bundle/read.js';
import { verifyResources } from './verify/bundle/stage.js';
import { renderBundleSection } from './summary/summary.js';
import { writeStepSummary } from './summary/write.js';
import { failRun } from './halt.js';
import { setVerifyOutput } from './outputs.js';
import { info } from './log.js';

// verify/action.yml: the bundle check on a folder or zip converted elsewhere. Thin.
const isDirectory = (p: string) => existsSync(p) && statSync(p).isDirectory();
const isFile = (p: string) => existsSync(p) && statSync(p).isFile();

/** Walks down to the Resources folder (a few levels at most), or undefined. */
function findResources(dir: string): string | undefined {
  let current = dir;
  for (let depth = 0; depth < 4; depth++) {
    const step = bundleStep(readdirSync(current, { withFileTypes: true }).map((e) => ({ name: e.name, isDirectory: e.isDirectory() })));
    if (step === 'here') return current;
    if (step === 'none') return undefined;
    current = path.join(current, step.into);
  }
  return undefined;
}

async function run(): Promise<void> {
  const parsed = parseVerifyInputs((name) => core.getInput(name), { env: process.env, isDirectory, isFile });
  if (!parsed.config) {
    parsed.errors.forEach((e) => core.error(e, { title: 'Invalid input' }));
    core.setFailed(`${parsed.errors.length} input problem(s):\n- ${parsed.errors.join('\n- ')}`);
    return;
  }
  const config = parsed.config;
  let root = config.path;
  if (config.isZip) {
    root = await tc.extractZip(config.path, mkdtempSync(path.join(config.temp, 'coreml-verify-')));
    info(`Extracted ${config.path} into ${root}.`);
  }
  const leaving = linksLeaving(root);
  if (leaving.length > 0) {
    const message = `Input \`path\`: ${config.path} holds symlinks that lead out of it (or nowhere): ${leaving.slice(0, 10).join(', ')}${leaving.length > 10 ? ', ...' : ''}. A bundle is checked as the files it holds; copy the files in instead of linking them.`;
    core.error(message, { title: 'Invalid input' });
    setVerifyOutput('passed', false);
    core.setFailed(message);
    return;
  }
  const resources = findResources(root);
  if (!resources) {
    const message = `Input \`path\`: ${config.path} holds no Resources folder (no .mlmodelc, vocab.json or merges.txt in it, in Resources/, or in its only folder).`;
    core.error(message, { title: 'Bundle check' });
    setVerifyOutput('passed', false);
    core.setFailed(message);
    return;
  }
  const listing = readBundle(resources);
  const kind = config.kind ?? detectKind(listing);
  if (!config.kind) info(`model-kind is empty: the bundle looks like ${kind}.`);
  const report = verifyResources(resources, expectationsForBundle({ ...config, kind }), listing);
  setVerifyOutput('passed', report.passed);
  setVerifyOutput('facts', report.facts);
  const markdown = `${renderBundleSection(report, '##')}\n`;
  await writeStepSummary(markdown, Boolean(process.env.GITHUB_STEP_SUMMARY));
  if (!report.passed) {
    core.setFailed(`The bundle in ${resources} fails ${report.findings.filter((f) => f.severity === 'error').length} check(s); each is annotated above.`);
  }
}

run().catch(failRun);

import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as core from '@actions/core';
import type { Config } from '../../config.js';
import { RESOURCES_DIR } from '../../converter/vocabulary.js';
import type { ConversionResult } from '../../convert/run.js';
import { checkBundle, findingText, type BundleListing, type BundleReport } from './check.js';
import { expectationsFor, type BundleExpectations } from './expect.js';
import { readBundle } from './read.js';
import { info } from '../../log.js';

/** The thin part: reads the folder, checks it, and turns each finding into an annotation. */
export function verifyResources(dir: string, expectations: BundleExpectations, listing: BundleListing = readBundle(dir)): BundleReport {
  core.startGroup(`Verify the bundle in ${dir}`);
  const report = checkBundle(listing, expectations);
  info(`Facts the apps read: ${JSON.stringify(report.facts)}`);
  core.endGroup();
  for (const finding of report.findings) {
    const title = finding.app ? `Bundle check: what ${finding.app} reads` : 'Bundle check';
    if (finding.severity === 'error') core.error(findingText(finding), { title });
    else core.warning(findingText(finding), { title });
  }
  return report;
}

/**
 * After the conversion: verifies Resources when it was bundled by a conversion that finished
 * (a failed process already fails the step with its own diagnosis).
 */
export function verifyConversion(config: Config, conversion: ConversionResult): BundleReport | undefined {
  const dir = path.join(config.conversion.outputDir, RESOURCES_DIR);
  if (!config.verifyBundle || !config.conversion.bundleResources || conversion.failure || !existsSync(dir)) return undefined;
  const { outputDir } = config.conversion;
  return verifyResources(dir, expectationsFor(config.conversion, (pkg) => existsSync(path.join(outputDir, pkg))));
}

/** The message that fails the step, or undefined when the bundle passed. */
export function bundleProblem(report: BundleReport | undefined): string | undefined {
  if (!report || report.passed) return undefined;
  const errors = report.findings.filter((f) => f.severity === 'error');
  const files = [...new Set(errors.map((f) => f.file))];
  return `The bundle in ${RESOURCES_DIR} fails ${errors.length} check(s), so the apps would not load it as asked: ${files.join(', ')} (each annotated above).`;
}

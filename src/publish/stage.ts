import * as core from '@actions/core';
import { backendOf } from '../backends/registry.js';
import { setOutput } from '../outputs.js';
import { actionIdentity, packageOutputs, type PackageInput, type PackageResult } from '../package/stage.js';
import { artifactServiceProblem, uploadArtifact, type ArtifactResult } from './artifact.js';
import { mergeBody, releaseAssetUrl, renderSection } from './notes.js';
import { Releases, type ReleaseResult } from '../github/releases.js';
import { errorMessage } from '../format/error.js';
import { publishHubStage, type HubReport } from './hub/stage.js';
import { info } from '../log.js';

/**
 * After every check passed: package, then the workflow artifact, then the release. Each failure
 * becomes an error annotation with what to do and a problem that fails the step; the artifact
 * and the release are tried independently of each other.
 */
export interface PublishReport {
  packaged?: PackageResult;
  artifact?: ArtifactResult;
  /** Why no artifact was uploaded although upload-artifact is true (a warning, not a failure). */
  artifactSkipped?: string;
  release?: ReleaseResult;
  /** The Hugging Face Hub commit (or the note that none was needed), with hub-repo. */
  hub?: HubReport;
  problems: string[];
}


function fail(report: PublishReport, title: string, error: unknown): void {
  const message = errorMessage(error);
  core.error(message, { title });
  report.problems.push(message);
}

export async function publishOutputs(input: PackageInput): Promise<PublishReport> {
  const { config } = input;
  const p = config.publish;
  const report: PublishReport = { problems: [] };
  if (!p.package) {
    info('package is false: nothing is zipped or published.');
    return report;
  }

  try {
    report.packaged = await core.group('Package the outputs', () => packageOutputs(input));
  } catch (error) {
    fail(report, 'Packaging failed', error);
    return report;
  }
  const packaged = report.packaged;
  setOutput('package-dir', packaged.dir);
  setOutput('packages', packaged.files);

  if (p.uploadArtifact) {
    const unavailable = artifactServiceProblem(config.runner.artifactServiceUnset, p.github);
    const name = p.artifactName ?? packaged.names.base;
    if (unavailable) {
      // Not fatal: off GitHub's hosted service the files stay in package-dir for the steps after.
      core.warning(`No workflow artifact uploaded: ${unavailable}. The files are in package-dir, ${packaged.dir}.`, { title: 'Workflow artifact' });
      report.artifactSkipped = unavailable;
    } else {
      try {
        report.artifact = await core.group(`Upload the workflow artifact ${name}`, () =>
          uploadArtifact({ name, dir: packaged.dir, files: packaged.files, retentionDays: p.retentionDays, overwrite: p.overwriteAssets, github: p.github }),
        );
        setOutput('artifact-id', report.artifact.id);
        setOutput('artifact-url', report.artifact.url);
      } catch (error) {
        fail(report, 'Workflow artifact', new Error(`${errorMessage(error)} The files are still in package-dir, ${packaged.dir}.`));
      }
    }
  }

  if (p.release) {
    const release = p.release;
    try {
      const releases = await Releases.open(p.githubToken, p.github);
      const main = input.models.find((m) => m.id === config.conversion.modelVersion);
      const section = renderSection({
        names: packaged.names,
        model: { id: config.conversion.modelVersion, revision: config.conversion.modelRevision, sha: main?.resolved ? main.revision : null, local: config.conversion.modelIsLocal },
        options: backendOf(config).inputs(config),
        verdicts: input.verdicts,
        archives: packaged.archives,
        files: packaged.files,
        sums: packaged.sums,
        action: actionIdentity(p.github),
        singleFile: packaged.manifest.singleFile,
        backend: config.backend,
        image: packaged.image && {
          result: packaged.image.result,
          urls: { coreai: releaseAssetUrl(p.github, release.tag, packaged.image.coreai.name), diffusers: releaseAssetUrl(p.github, release.tag, packaged.image.diffusers.name) },
        },
      });
      report.release = await core.group(`Publish to the release ${release.tag}`, () =>
        releases.publish(
          { ...release, base: packaged.names.base, section, mergeBody: (body) => mergeBody(body, packaged.names.base, section, release.notes), files: packaged.files, overwrite: p.overwriteAssets },
          p.github,
        ),
      );
      setOutput('release-url', report.release.url);
      setOutput('release-id', report.release.id);
      setOutput('assets', report.release.assets);
    } catch (error) {
      fail(report, `Release ${release.tag}`, error);
    }
  }

  if (p.hub) {
    const hub = p.hub;
    try {
      report.hub = await core.group(`Publish to the Hugging Face Hub repository ${hub.repo}`, () =>
        publishHubStage({ config, hub, models: input.models, verdicts: input.verdicts, packaged, action: actionIdentity(p.github) }),
      );
      setOutput('hub-commit', report.hub.head ?? '');
      setOutput('hub-url', report.hub.url);
    } catch (error) {
      fail(report, `Hugging Face Hub ${hub.repo}`, error);
    }
  }
  return report;
}

// Rehearses the bundled action as the runner would run it, on this machine, with the STAND-IN
// converter of test/standin (not Apple's torch2coreml, which needs macOS and PyPI) and local
// stand-ins of the services (Azurite + cache/artifact service, a GitHub releases API, a Hugging
// Face Hub; see test/services). Runs dist/index.js with INPUT_* variables and file commands, twice:
// a cold job, then a rerun on a fresh runner that the caches make cheap. Prints the step summary
// and where the outputs are.
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from '../test/support/action-runner.mjs';
import { freshRunner } from '../test/support/fresh-runner.mjs';
import { diffusersModelFiles, prepareStandin } from '../test/support/standin.mjs';
import { startAll } from '../test/services/index.mjs';
import { logFilter } from './local-env.mjs';

const banner = (text) => console.log(`\n\x1b[1m== ${text}\x1b[0m`);

if (!existsSync(path.join(REPO_ROOT, 'dist', 'index.js'))) {
  console.error('dist/index.js is missing: run npm run build first.');
  process.exit(1);
}

banner("This demo runs the action with a STAND-IN converter (test/standin), not Apple's torch2coreml,");
console.log('and with local stand-ins of the cache, artifact and release services and of the Hugging Face Hub.');
console.log('The stand-in converter has the same module name and command line and writes small fake models;');
console.log('everything else (input checks, plan, conda/pip setup, caches, processes, PSNR gate, bundle check,');
console.log('packaging, artifact and release upload, summary) is the real bundled action.');

const MODEL = 'demo/sd-tiny';
const root = path.join(os.tmpdir(), `coreml-demo-${process.pid}`);
const { wheel } = prepareStandin(path.join(REPO_ROOT, '.tmp', 'demo'));
const services = await startAll({ models: [{ id: MODEL, files: diffusersModelFiles(64) }] });
let exitCode;
try {
  const inputs = {
    'model-version': MODEL,
    preset: 'ios',
    'quantize-nbits': '6',
    'min-deployment-target': 'iOS17',
    'psnr-thresholds': 'unet=40',
    'hf-token': services.hfToken,
    'ml-stable-diffusion': wheel,
    'release-tag': 'demo-v1',
    'github-token': services.githubToken,
    'hub-repo': 'demo/coreml-sd-tiny',
    'hub-token': services.hub.token,
  };
  banner('Inputs');
  for (const [name, value] of Object.entries(inputs)) console.log(`  ${name}: ${name.endsWith('token') ? '***' : value}`);

  const runner = freshRunner(root, services);
  const job = async (label, echo) => {
    banner(`${label}: node dist/index.js, as the runner would start it`);
    // ::debug:: lines hidden, as on the runner, unless --debug or RUNNER_DEBUG=1.
    return (await runner.job(inputs, { echo: echo && logFilter(process.argv.includes('--debug') || process.env.RUNNER_DEBUG === '1') })).run;
  };

  const cold = await job('Cold job', true);
  banner('Step summary of the cold job (GITHUB_STEP_SUMMARY)');
  console.log(cold.summary);
  banner('Outputs (GITHUB_OUTPUT)');
  for (const [name, value] of Object.entries(cold.outputs)) console.log(`  ${name}: ${value.length > 200 ? `${value.slice(0, 200)}…` : value}`);

  const warm = await job('Rerun on a fresh runner', false);
  banner('The rerun');
  console.log(`  exit code ${warm.exitCode} after ${(warm.durationMs / 1000).toFixed(1)} s (the cold job took ${(cold.durationMs / 1000).toFixed(1)} s)`);
  for (const name of ['cache-hit-outputs', 'cache-hit-hf', 'cache-hit-env', 'release-url', 'hub-commit', 'hub-url']) console.log(`  ${name}: ${warm.outputs[name] ?? ''}`);
  banner('The release on the local releases API');
  for (const release of services.releases.state().releases) {
    console.log(`  ${release.tag_name}:`);
    for (const asset of release.assets ?? []) console.log(`    ${asset.name}  ${asset.size} bytes  ${asset.state}`);
  }
  banner('The model repository on the local Hub');
  for (const commit of services.hub.commits('demo/coreml-sd-tiny')) console.log(`  ${commit.oid.slice(0, 12)} ${commit.title}`);
  for (const [name, file] of Object.entries(services.hub.files('demo/coreml-sd-tiny'))) console.log(`    ${name}  ${file.size} bytes`);
  exitCode = cold.exitCode === 0 && warm.exitCode === 0 ? 0 : 1;
  banner(`Exit codes ${cold.exitCode} and ${warm.exitCode}; the converted models are in ${cold.outputs['output-dir'] ?? runner.workspace}`);
} finally {
  await services.stop();
}
process.exit(exitCode);

// Rehearses the bundled action as the runner would run it, on this machine, with the STAND-IN
// converter of test/standin (not Apple's torch2coreml, which needs macOS and PyPI): builds the
// stand-in's wheel and a venv, runs dist/index.js with INPUT_* variables and file commands, and
// prints the step summary and where the outputs are.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT, makeWorkspace, runAction } from '../test/support/action-runner.mjs';
import { prepareStandin } from '../test/support/standin.mjs';

const banner = (text) => console.log(`\n\x1b[1m== ${text}\x1b[0m`);

if (!existsSync(path.join(REPO_ROOT, 'dist', 'index.js'))) {
  console.error('dist/index.js is missing: run npm run build first.');
  process.exit(1);
}

banner('This demo runs the action with a STAND-IN converter (test/standin), not Apple\'s torch2coreml.');
console.log('The stand-in has the same module name and command line and writes small fake models;');
console.log('everything else (input checks, plan, pip install, processes, PSNR gate, summary) is the real action.');

const { wheel, python } = prepareStandin(path.join(REPO_ROOT, '.tmp', 'demo'));
const workspace = makeWorkspace('coreml-demo-');
const inputs = {
  'model-version': 'stabilityai/stable-diffusion-2-1-base',
  'attention-implementation': 'SPLIT_EINSUM_V2',
  'compute-unit': 'CPU_AND_NE',
  'min-deployment-target': 'iOS17',
  'chunk-unet': 'true',
  'quantize-nbits': '6',
  'psnr-thresholds': 'unet=40',
  'hf-token': 'hf_demo_token_not_real',
  python,
  'ml-stable-diffusion': wheel,
};
banner('Inputs');
for (const [name, value] of Object.entries(inputs)) console.log(`  ${name}: ${name === 'hf-token' ? '***' : value}`);

banner('The action, as the runner would start it (node dist/index.js)');
const run = await runAction({ inputs, workspace, echo: true });

banner('Step summary (GITHUB_STEP_SUMMARY)');
console.log(run.summary);
banner('Outputs (GITHUB_OUTPUT)');
for (const [name, value] of Object.entries(run.outputs)) console.log(`  ${name}: ${value.length > 300 ? `${value.slice(0, 300)}…` : value}`);
banner(`Exit code ${run.exitCode} after ${(run.durationMs / 1000).toFixed(1)} s; outputs in ${run.outputs['output-dir'] ?? workspace}`);
process.exit(run.exitCode ?? 1);

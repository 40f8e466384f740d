// Runs the bundled action on this machine with your own inputs, as the runner would run it (like
// @github/local-action, but the bundle itself, not the sources): dist/ with INPUT_* variables and
// file commands, against local stand-ins of the cache, artifact and release services and of the
// Hugging Face Hub (test/services), with the STAND-IN converter of test/standin (not Apple's
// torch2coreml, which needs macOS). A Hub model-version is served by the local Hub as a small
// synthetic SD pipeline, so the input checks, plan, caches, gate, packaging and publishing run for
// real on your inputs; the models converted are fake.
//
//   npm run local -- --inputs my.env [--entry main|plan|verify] [--workspace DIR] [--debug]
//
// my.env holds the inputs as `name=value` lines (scripts/local-env.mjs). Tokens you give are
// replaced by the local services' own: nothing leaves this machine. ::debug:: lines are hidden
// unless --debug (or RUNNER_DEBUG=1), as on the runner without step debug logging.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT, actionDefaults, runAction } from '../test/support/action-runner.mjs';
import { diffusersModelFiles, prepareStandin, standinJobEnv } from '../test/support/standin.mjs';
import { startAll } from '../test/services/index.mjs';
import { logFilter, parseInputsFile } from './local-env.mjs';

const ENTRIES = { main: ['action.yml', 'dist/index.js'], plan: ['plan/action.yml', 'dist/plan/index.js'], verify: ['verify/action.yml', 'dist/verify/index.js'] };
const TOKENS = ['hf-token', 'github-token', 'hub-token'];

const { values } = parseArgs({ options: {
  inputs: { type: 'string' }, entry: { type: 'string', default: 'main' }, workspace: { type: 'string' }, debug: { type: 'boolean', default: false },
} });
const entry = ENTRIES[/** @type {keyof typeof ENTRIES} */ (values.entry ?? 'main')];
if (!entry) fail(`--entry is main, plan or verify, got ${JSON.stringify(values.entry)}`);
if (!values.inputs) fail('give your inputs with --inputs FILE (name=value lines, see scripts/local-env.mjs)');
if (!existsSync(path.join(REPO_ROOT, entry[1]))) fail(`${entry[1]} is missing: run npm run build first`);
const declared = actionDefaults(path.join(REPO_ROOT, entry[0]));
const { inputs, errors } = parseInputsFile(readFileSync(path.resolve(values.inputs), 'utf8'), new Set(Object.keys(declared)));
if (errors.length > 0) fail(`${values.inputs}:\n  ${errors.join('\n  ')}`);

const model = inputs['model-version'] ?? '';
const hubModel = /^[\w.-]+\/[\w.-]+$/.test(model) && !existsSync(path.resolve(values.workspace ?? '.', model));
const { wheel } = prepareStandin(path.join(REPO_ROOT, '.tmp', 'local'));
const services = await startAll({ models: hubModel ? [{ id: model, files: diffusersModelFiles(64) }] : [] });
/** @type {number} */
let exitCode;
try {
  const own = { 'hf-token': services.hfToken, 'github-token': services.githubToken, 'hub-token': services.hub.token };
  const given = TOKENS.filter((t) => t in declared && (inputs[t] ?? '') !== '');
  if (given.length > 0) console.log(`Your ${given.join(', ')} replaced by the local services' own: nothing leaves this machine.`);
  const run = { ...inputs };
  for (const t of TOKENS) if (t in declared) run[t] = own[/** @type {keyof typeof own} */ (t)];
  if ('ml-stable-diffusion' in declared && !inputs['ml-stable-diffusion']) run['ml-stable-diffusion'] = wheel;
  const workspace = values.workspace ? path.resolve(values.workspace) : mkdtempSync(path.join(os.tmpdir(), 'coreml-local-'));
  const home = mkdtempSync(path.join(os.tmpdir(), 'coreml-local-home-'));
  console.log(`Running ${entry[1]} in ${workspace}${hubModel ? ` (${model} served by the local Hub as a synthetic SD pipeline)` : ''}, with the STAND-IN converter.\n`);
  const result = await runAction({
    entry: path.join(REPO_ROOT, entry[1]),
    inputs: run,
    workspace,
    env: { ...standinJobEnv(services, home, path.join(home, 'standin.jsonl')), ...(values.debug ? { RUNNER_DEBUG: '1' } : {}) },
    echo: logFilter(values.debug || process.env.RUNNER_DEBUG === '1'),
  });
  console.log('\n== Step summary\n');
  console.log(result.summary || '(none)');
  console.log('== Outputs\n');
  for (const [name, value] of Object.entries(result.outputs)) console.log(`  ${name}: ${value.length > 300 ? `${value.slice(0, 300)}…` : value}`);
  console.log(`\nExit code ${result.exitCode}; the workspace is ${workspace}`);
  exitCode = result.exitCode ?? 1;
} finally {
  await services.stop();
}
process.exit(exitCode);

/** @param {string} message @returns {never} */
function fail(message) {
  console.error(`npm run local: ${message}`);
  process.exit(2);
}

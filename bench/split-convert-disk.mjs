// The converting half of a split conversion (split: convert) at full size, through the bundled
// action as the runner runs it (dist/index.js, INPUT_*, file commands), with Apple's real converter
// on Linux, against the local services (the hand-off goes to the local artifact service): the job's
// disk, sampled every 5 s with `du` over everything it writes (the workspace with the model's
// folder, output-dir and the runner's temp and tool cache), and each process's peak memory as the
// action measures it (its summary). Not in CI: it needs Apple's converter in a scratch venv outside
// the repo (test/fixtures/real-converter/README.md), with pip in it, and a full-size pipeline
// (bench/full_size_pipeline.py); it takes tens of minutes.
//
//   node bench/split-convert-disk.mjs --python <converter venv python> --converter <the converter's
//     source folder, as ml-stable-diffusion> --model <diffusers folder> [--work /tmp/split-convert-disk]
//
// The model is a local folder copied into the workspace (as a checkout would hold it): it stands
// where a runner's Hugging Face cache would, with the same bytes. The environment is the one given
// (`python`), so its disk is not in the samples: bench/finish-install.mjs measures the Linux lock's.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { clearInterval, setInterval } from 'node:timers';
import { parseArgs } from 'node:util';
import { runAction } from '../test/support/action-runner.mjs';
import { CLIP_MODEL_ID, startAll } from '../test/services/index.mjs';

const { values: opts } = parseArgs({ options: { python: { type: 'string' }, converter: { type: 'string' }, model: { type: 'string' }, work: { type: 'string', default: '/tmp/split-convert-disk' } } });
if (!opts.python || !opts.converter || !opts.model) {
  console.error('usage: node bench/split-convert-disk.mjs --python <venv python> --converter <converter folder> --model <diffusers folder> [--work DIR]');
  process.exit(2);
}
const root = path.resolve(opts.work ?? '/tmp/split-convert-disk');
rmSync(root, { recursive: true, force: true });
const workspace = path.join(root, 'workspace');
const runnerDir = path.join(root, 'runner');
mkdirSync(workspace, { recursive: true });
mkdirSync(runnerDir, { recursive: true });
const services = await startAll({});
try {
  const clip = (/** @type {string} */ f) => `${services.hub.env.HF_ENDPOINT}/${CLIP_MODEL_ID}/resolve/main/${f}`;
  cpSync(opts.model, path.join(workspace, 'model'), { recursive: true });
  const du = () => Number(execFileSync('du', ['-sb', root], { encoding: 'utf8' }).split('\t')[0]);
  const modelBytes = du();
  /** @type {Array<[number, number]>} */
  const samples = [];
  const started = Date.now();
  const timer = setInterval(() => samples.push([Date.now() - started, du()]), 5000);
  const run = await runAction({
    inputs: {
      'model-version': 'model',
      split: 'convert',
      python: opts.python,
      'ml-stable-diffusion': path.resolve(opts.converter),
      'text-encoder-vocabulary-url': clip('vocab.json'),
      'text-encoder-merges-url': clip('merges.txt'),
      'github-token': services.githubToken,
    },
    // The real converter: none of the stand-in's hooks; pip may reach PyPI.
    env: { ...services.env, RUNNER_OS: 'Linux', RUNNER_ARCH: 'X64', RUNNER_ENVIRONMENT: 'github-hosted', PARITY_REFERENCE: '', PARITY_COREML: '', LEAN_CONVERT_LOADER: '', STANDIN_SYNTHESIZE_MODELS: '', PIP_NO_INDEX: 'false', HF_HUB_OFFLINE: '1' },
    workspace,
    runnerDir,
  });
  clearInterval(timer);
  samples.push([Date.now() - started, du()]);
  const peak = samples.reduce((best, s) => (s[1] > best[1] ? s : best), [0, 0]);
  const end = samples.at(-1)?.[1] ?? 0;
  const GB = 1e9;
  console.log(`# bench/split-convert-disk.mjs, ${new Date().toISOString()}\n`);
  console.log(`converting job: exit ${run.exitCode}, ${((Date.now() - started) / 1000).toFixed(0)} s; hand-off ${run.outputs.handoff ?? '(none)'}`);
  console.log(`disk below ${root}: the model folder ${(modelBytes / GB).toFixed(2)} GB before the job; peak ${(peak[1] / GB).toFixed(2)} GB at ${(peak[0] / 1000).toFixed(0)} s; at the end ${(end / GB).toFixed(2)} GB; the job's own at the peak ${((peak[1] - modelBytes) / GB).toFixed(2)} GB`);
  console.log(`samples (s: GB): ${samples.map(([t, d]) => `${(t / 1000).toFixed(0)}: ${(d / GB).toFixed(2)}`).join(', ')}`);
  const start = run.summary.indexOf('### Converter processes');
  console.log(`\n${run.summary.slice(start, run.summary.indexOf('### ', start + 5))}`);
  if (run.exitCode !== 0) console.log(run.stdout.slice(-4000));
} finally {
  await services.stop();
}

// Benchmark (issue 23): one macOS job against the same conversion split in two (split: convert on a
// Linux runner, split: finish on a macOS runner), in the same harness and the same process: the
// local services (Azurite + Twirp + releases API + stand-in Hub), the stand-in converter (sleeping
// 2 s per converter process, as in bench/skip.mjs) and, for the finishing job, the finish lock
// installed for real from PyPI (coremltools, numpy: what it installs on a runner) into a fresh venv
// on each run, with the stand-in's Core ML hook and xcrun. Each job runs on a fresh runner, caches
// off. Prints each job's wall time, medians of N rounds, and the ratios to the single job measured
// in the same run. (The real installs, finish lock against the converter's: bench/finish-install.mjs.)
// Usage: node bench/split.mjs [model MiB, default 64] [rounds, default 3]
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from '../test/support/action-runner.mjs';
import { freshRunner } from '../test/support/fresh-runner.mjs';
import { diffusersModelFiles, prepareStandin } from '../test/support/standin.mjs';
import { CLIP_MODEL_ID, startAll } from '../test/services/index.mjs';

const modelMiB = Number(process.argv[2] ?? 64);
const rounds = Number(process.argv[3] ?? 3);
const MODEL = 'bench/sd-split';

const root = path.join(os.tmpdir(), `coreml-bench-split-${process.pid}`);
const { wheel, python } = prepareStandin(path.join(root, 'standin'));
const services = await startAll({ models: [{ id: MODEL, files: diffusersModelFiles(modelMiB) }] });
const clip = (/** @type {string} */ f) => `${services.hub.env.HF_ENDPOINT}/${CLIP_MODEL_ID}/resolve/main/${f}`;
const inputs = {
  'model-version': MODEL,
  'hf-token': services.hfToken,
  'ml-stable-diffusion': wheel,
  'github-token': services.githubToken,
  'text-encoder-vocabulary-url': clip('vocab.json'),
  'text-encoder-merges-url': clip('merges.txt'),
  cache: 'false',
  'upload-artifact': 'false',
};
const median = (/** @type {number[]} */ xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

try {
  const runner = freshRunner(path.join(root, 'runner'), services);
  const rows = { single: /** @type {number[]} */ ([]), convert: /** @type {number[]} */ ([]), finish: /** @type {number[]} */ ([]) };
  for (let i = 0; i < rounds; i++) {
    const single = await runner.job({ ...inputs, python }, { env: { STANDIN_DELAY_MS: '2000' } });
    if (single.run.exitCode !== 0) throw new Error(`single job failed:\n${single.run.stdout.slice(-3000)}`);
    const convert = await runner.job({ ...inputs, python, split: 'convert' }, { env: { STANDIN_DELAY_MS: '2000', RUNNER_OS: 'Linux', RUNNER_ARCH: 'X64' } });
    if (convert.run.exitCode !== 0) throw new Error(`converting job failed:\n${convert.run.stdout.slice(-3000)}`);
    const venv = path.join(root, `finish-venv-${i}`);
    execFileSync('python3', ['-m', 'venv', venv]);
    const finish = await runner.job(
      { ...inputs, 'ml-stable-diffusion': wheel, python: path.join(venv, 'bin', 'python'), split: 'finish' },
      {
        env: {
          ...services.results.envFor(services.results.mintToken()),
          PIP_NO_INDEX: 'false',
          PARITY_COREML: 'standin_coreml:parity_predict',
          PYTHONPATH: path.join(REPO_ROOT, 'test', 'standin', 'coreml_only'),
        },
      },
    );
    if (finish.run.exitCode !== 0) throw new Error(`finishing job failed:\n${finish.run.stdout.slice(-3000)}`);
    rows.single.push(single.run.durationMs / 1000);
    rows.convert.push(convert.run.durationMs / 1000);
    rows.finish.push(finish.run.durationMs / 1000);
    console.log(`round ${i + 1}: single ${rows.single.at(-1)?.toFixed(2)} s, convert ${rows.convert.at(-1)?.toFixed(2)} s, finish ${rows.finish.at(-1)?.toFixed(2)} s`);
  }
  const [s, c, f] = [median(rows.single), median(rows.convert), median(rows.finish)];
  console.log(`\nmodel: ${modelMiB} MiB of fp16 weights; stand-in converter sleeping 2 s per process; caches off; medians of ${rounds}`);
  console.log(`single job (macOS)        ${s.toFixed(2).padStart(7)} s`);
  console.log(`converting job (Linux)    ${c.toFixed(2).padStart(7)} s   / single ${(c / s).toFixed(2)}`);
  console.log(`finishing job (macOS)     ${f.toFixed(2).padStart(7)} s   / single ${(f / s).toFixed(2)}   (installs coremltools and numpy from PyPI)`);
  console.log(`both jobs, one after the other ${(c + f).toFixed(2)} s   / single ${((c + f) / s).toFixed(2)}`);
} finally {
  await services.stop();
  rmSync(root, { recursive: true, force: true });
}

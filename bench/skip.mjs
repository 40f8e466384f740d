// Benchmark (issue 5): a run that skip-if-unchanged ends at once, against the full run that
// published the release it compares with, in the same harness and the same process: the local
// services (Azurite + Twirp + releases API + stand-in Hub) and the stand-in converter and conda of
// test/standin. The full run converts (the stand-in sleeping 2 s per part, as in
// bench/cache-rerun.mjs), packages and publishes its manifest; then the same job runs N times with
// nothing changed. Prints the wall times, the ratio skipped/full and the 3 s budget.
// Usage: node bench/skip.mjs [model MiB, default 512] [skipped runs, default 5]
import { rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freshRunner } from '../test/support/fresh-runner.mjs';
import { diffusersModelFiles, prepareStandin } from '../test/support/standin.mjs';
import { startAll } from '../test/services/index.mjs';

const modelMiB = Number(process.argv[2] ?? 512);
const repeats = Number(process.argv[3] ?? 5);
const MODEL = 'bench/sd-refresh';
const TAG = 'sd-refresh-bench';
const files = diffusersModelFiles(modelMiB);

const root = path.join(os.tmpdir(), `coreml-bench-skip-${process.pid}`);
const { wheel } = prepareStandin(path.join(root, 'standin'));
const services = await startAll({ models: [{ id: MODEL, files }] });
try {
  const runner = freshRunner(root, services);
  /** @param {string} label */
  const job = async (label) => {
    const { run, converterCalls, condaCalls } = await runner.job(
      {
        'model-version': MODEL,
        'hf-token': services.hfToken,
        'ml-stable-diffusion': wheel,
        'release-tag': TAG,
        'skip-if-unchanged': 'true',
        'github-token': services.githubToken,
        'upload-artifact': 'false',
        cache: 'false',
      },
      { env: { STANDIN_DELAY_MS: '2000' } },
    );
    if (run.exitCode !== 0) throw new Error(`${label} run failed:\n${run.stdout.slice(-3000)}`);
    return { label, seconds: run.durationMs / 1000, skipped: run.outputs.skipped, converter: converterCalls, conda: condaCalls };
  };
  const full = await job('full');
  if (full.skipped !== 'false') throw new Error('the full run was skipped: the release existed before the bench');
  const skipped = [];
  for (let i = 0; i < repeats; i++) skipped.push(await job(`skipped ${i + 1}`));
  if (skipped.some((s) => s.skipped !== 'true' || s.converter > 0 || s.conda > 0)) throw new Error(`a skipped run converted: ${JSON.stringify(skipped)}`);
  const times = skipped.map((s) => s.seconds).sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)] ?? 0;
  const worst = times.at(-1) ?? 0;
  console.log(`model: ${modelMiB} MiB of fp16 weights; stand-in converter sleeping 2 s per part; caches off`);
  console.log(`full     wall ${full.seconds.toFixed(2).padStart(6)} s   converter processes ${full.converter}   conda ${full.conda}   (converts, packages, publishes ${TAG})`);
  console.log(`skipped  wall ${median.toFixed(2).padStart(6)} s median, ${worst.toFixed(2)} s worst of ${repeats}   converter processes 0   conda 0`);
  console.log(`skipped/full wall time: ${(median / full.seconds).toFixed(3)} (median), ${(worst / full.seconds).toFixed(3)} (worst)`);
  console.log(`budget: worst skipped run ${worst.toFixed(2)} s of 3 s ${worst < 3 ? '(met)' : '(MISSED)'}`);
} finally {
  await services.stop();
  rmSync(root, { recursive: true, force: true });
}

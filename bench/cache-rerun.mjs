// Benchmark (issue 3): a cold job against a warm rerun of the same job, on fresh runners with the
// same paths, against the local services (Azurite + Twirp cache service + stand-in Hub) and the
// stand-in converter and conda of test/standin. Prints wall times, the time spent outside the
// converter, the ratios warm/cold, and the model bytes each run downloaded from the Hub.
// Usage: node bench/cache-rerun.mjs [model MiB, default 512]
import { rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freshRunner } from '../test/support/fresh-runner.mjs';
import { diffusersModelFiles, prepareStandin } from '../test/support/standin.mjs';
import { startAll } from '../test/services/index.mjs';

const MiB = 1024 * 1024;
const modelMiB = Number(process.argv[2] ?? 512);
const MODEL = 'bench/sd-bench';
const files = diffusersModelFiles(modelMiB);

/**
 * Sum of the converter processes' times, from the summary's process table.
 * @param {string} summary
 */
function converterSeconds(summary) {
  let total = 0;
  for (const m of summary.matchAll(/^\| [^|]+ \| done \| ([^|]+) \|$/gm)) {
    const t = (m[1] ?? '').trim();
    const min = /(\d+) min (\d+) s/.exec(t);
    total += min ? Number(min[1]) * 60 + Number(min[2]) : t.endsWith(' ms') ? Number.parseFloat(t) / 1000 : Number.parseFloat(t);
  }
  return total;
}

const root = path.join(os.tmpdir(), `coreml-bench-cache-${process.pid}`);
const { wheel } = prepareStandin(path.join(root, 'standin'));
const services = await startAll({ models: [{ id: MODEL, files }] });
try {
  const runner = freshRunner(root, services);
  const job = async (/** @type {string} */ label) => {
    services.hub.resetStats();
    const { run } = await runner.job(
      { 'model-version': MODEL, 'hf-token': services.hfToken, 'ml-stable-diffusion': wheel },
      { env: { STANDIN_DELAY_MS: '2000' } },
    );
    if (run.exitCode !== 0) throw new Error(`${label} run failed:\n${run.stdout.slice(-3000)}`);
    const seconds = run.durationMs / 1000;
    const converter = converterSeconds(run.summary);
    const bytes = services.hub.stats().bytesServed[MODEL] ?? 0;
    return { label, seconds, converter, outside: seconds - converter, bytes, outputsHit: run.outputs['cache-hit-outputs'] };
  };
  const cold = await job('cold');
  const warm = await job('warm');
  const row = (/** @type {Awaited<ReturnType<typeof job>>} */ r) =>
    `${r.label.padEnd(5)} wall ${r.seconds.toFixed(1).padStart(6)} s   converter ${r.converter.toFixed(1).padStart(5)} s   outside the converter ${r.outside.toFixed(1).padStart(6)} s   model bytes from the Hub ${(r.bytes / MiB).toFixed(1)} MiB   outputs cache hit ${r.outputsHit}`;
  console.log(`model: ${modelMiB} MiB of fp16 weights; stand-in converter sleeping 2 s per part`);
  console.log(row(cold));
  console.log(row(warm));
  console.log(`warm/cold wall time: ${(warm.seconds / cold.seconds).toFixed(3)}`);
  console.log(`warm/cold time outside the converter: ${(warm.outside / cold.outside).toFixed(3)} (target < 0.10)`);
  console.log(`warm model bytes downloaded: ${warm.bytes} (target 0)`);
} finally {
  await services.stop();
  rmSync(root, { recursive: true, force: true });
}

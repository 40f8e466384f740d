// coreai-core's runtime on Linux, float16 against float32, per part at full size: what
// check-precision chooses between. Each part is exported and checked by python/coreai_export.py
// export as the action runs it, once with --precision float16 (the bundle's own model: the
// baseline) and once with --precision float32 (the float32 twin the action checks on Linux), each in
// its own process; the row gives the process's wall time, CPU, peak RSS (bench/convert-common.mjs),
// and from its parity record the export and parity seconds (the parity: one runtime call on seeded
// random inputs beside the PyTorch module's) and the PSNR. Then float16 / float32 ratios of the
// parity time and the peak, measured in the same run. Not in CI: it needs the Core AI lock's venv
// and a full-size pipeline (bench/full_size_pipeline.py), and the float16 checks take long (the SD
// 1.5 text encoder's about 10 minutes, the VAE decoder's 30, the unet's hours): --float16-parts
// says which parts get the float16 baseline (default text_encoder).
//
//   node bench/coreai-runtime.mjs --python .venv-coreai/bin/python --model /tmp/full/sd15 \
//     [--name sd15] [--parts text_encoder,vae_decoder,unet] [--float16-parts text_encoder] \
//     [--work /tmp/coreai-runtime] [--out bench/results/x.md]
//
// One process at a time. PYTHONUNBUFFERED=1, HF_HUB_OFFLINE=1, TRANSFORMERS_OFFLINE=1 as the action
// sets them. Linux only (/proc).
import { appendFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bytesUnder, gib, mb, measure, mmss } from './convert-common.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({
  options: {
    python: { type: 'string' },
    model: { type: 'string' },
    name: { type: 'string' },
    parts: { type: 'string', default: 'text_encoder,vae_decoder,unet' },
    'float16-parts': { type: 'string', default: 'text_encoder' },
    work: { type: 'string', default: '/tmp/coreai-runtime' },
    out: { type: 'string' },
    interval: { type: 'string', default: '500' },
  },
});
if (!opts.python || !opts.model) {
  console.error('usage: node bench/coreai-runtime.mjs --python <Core AI venv python> --model <diffusers folder> [options]');
  process.exit(2);
}
const python = path.resolve(opts.python);
const model = path.resolve(opts.model);
const name = opts.name ?? path.basename(model);
const parts = opts.parts.split(',').filter(Boolean);
const float16Parts = new Set(opts['float16-parts'].split(',').filter(Boolean));
const work = path.join(opts.work, name);
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const logFile = path.join(work, 'output.log');
const env = { PYTHONUNBUFFERED: '1', HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1' };
const exportPy = path.join(ROOT, 'python/coreai_export.py');

/** @param {string} text */
const emit = (text) => {
  console.log(text);
  if (opts.out) appendFileSync(opts.out, `${text}\n`);
};

/**
 * @typedef {{ psnr: number, export_seconds: number, parity_seconds: number, peak_rss_bytes: number, component: string }} Parity
 * @typedef {import('./convert-common.mjs').Measured & { part: string, precision: string, record?: Parity, bytes: number }} Row
 */
/** @type {Row[]} */
const rows = [];

/** @param {string} part @param {'float16' | 'float32'} precision */
async function check(part, precision) {
  const bundle = path.join(work, precision);
  const json = path.join(work, `${part}.${precision}.json`);
  const r = await measure([python, '-W', 'ignore', exportPy, 'export', '--model', model, '--part', part, '--bundle', bundle, '--compression', 'none',
    '--height', '512', '--width', '512', '--precision', precision, '--parity-json', json], { cwd: work, logFile, intervalMs: Number(opts.interval), env });
  /** @type {Parity | undefined} */
  let record;
  try {
    record = r.code === 0 ? JSON.parse(readFileSync(json, 'utf8')) : undefined;
  } catch {
    record = undefined;
  }
  const bytes = record ? bytesUnder(path.join(bundle, record.component)) : 0;
  const row = { part, precision, ...r, record, bytes };
  rows.push(row);
  const figures = record ? `${record.export_seconds.toFixed(0)} | ${record.parity_seconds.toFixed(1)} | ${record.psnr.toFixed(1)}` : '- | - | -';
  emit(`| ${part} | ${precision} | ${r.code} | ${mmss(r.wallS)} | ${r.cpuS.toFixed(0)} | ${gib(r.peak.total)} | ${gib(r.maxRss)} | ${figures} | ${bytes > 0 ? mb(bytes) : '-'} |`);
  if (r.code !== 0) console.error(r.tail);
  // The float32 twin of the unet is 3.4 GB: one part's assets at a time on disk.
  rmSync(bundle, { recursive: true, force: true });
}

emit(`## ${name} (${opts.model}), ${new Date().toISOString()}\n`);
emit('| part | precision | exit | wall | CPU s | peak RSS GiB (tree) | time -v max RSS GiB | export s | parity s (one runtime call + PyTorch) | PSNR dB | .aimodel |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const part of parts) {
  if (float16Parts.has(part)) await check(part, 'float16');
  await check(part, 'float32');
}

emit('\n### float16 / float32, measured in this run\n\n| part | parity time | wall | peak RSS (tree) | .aimodel |\n| --- | --- | --- | --- | --- |');
const ratio = (/** @type {number} */ a, /** @type {number} */ b) => (b > 0 ? (a / b).toFixed(2) : '-');
for (const part of parts) {
  const half = rows.find((r) => r.part === part && r.precision === 'float16');
  const full = rows.find((r) => r.part === part && r.precision === 'float32');
  if (!half?.record || !full?.record) {
    emit(`| ${part} | ${half ? 'a side failed' : 'float16 not run (--float16-parts)'} | - | - | - |`);
    continue;
  }
  emit(`| ${part} | ${ratio(half.record.parity_seconds, full.record.parity_seconds)} | ${ratio(half.wallS, full.wallS)} | ${ratio(half.peak.total, full.peak.total)} | ${ratio(half.bytes, full.bytes)} |`);
}
emit('');

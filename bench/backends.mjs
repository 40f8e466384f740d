// The two backends side by side at full size, one part at a time: Core ML (Apple's torch2coreml
// through the action's lean entry, python/lean_convert.py, one process per part, as
// bench/convert-memory.mjs runs it) and Core AI (python/coreai_export.py export, one process per
// part, which also checks the saved model against PyTorch; then its finish). Per process: exit,
// wall, CPU, peak RSS of the process tree and time -v's maximum RSS (bench/convert-common.mjs), and
// the output's bytes (the part's .mlpackage, the part's .aimodel folder); then Core AI / Core ML
// ratios measured in the same run. Not in CI: it needs Apple's converter in a scratch venv (see
// test/fixtures/real-converter/README.md), the Core AI lock's venv and a full-size pipeline
// (bench/full_size_pipeline.py), and takes tens of minutes.
//
//   node bench/backends.mjs --coreml-python /tmp/apple-venv/bin/python \
//     --coreai-python .venv-coreai/bin/python --model /tmp/full/sd15 [--name sd15] \
//     [--parts text_encoder,vae_decoder,unet] [--backends coreml,coreai] [--int4] [--baseline] \
//     [--work /tmp/backends] [--out bench/results/x.md]
//
// --int4 adds a Core AI unet export with --compression int4 (into a bundle of its own); --baseline
// first measures each venv's Python importing its stack and nothing else. One process at a time
// (never two at once). Both sides get PYTHONUNBUFFERED=1, HF_HUB_OFFLINE=1, TRANSFORMERS_OFFLINE=1
// (what the action sets for Core AI). Core ML: the action's default flags (--compute-unit ALL
// --attention-implementation SPLIT_EINSUM --min-deployment-target macOS13), no
// --check-output-correctness. Core AI: 512×512, --compression none, the parity check on seeded
// random inputs (its PSNR is printed beside the row). Linux only (/proc).
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, appendFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { COREML_FLAG, bytesUnder, coremlModelFlags, gib, measure, mb, mmss } from './convert-common.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({
  options: {
    'coreml-python': { type: 'string' },
    'coreai-python': { type: 'string' },
    model: { type: 'string' },
    name: { type: 'string' },
    parts: { type: 'string', default: 'text_encoder,vae_decoder,unet' },
    backends: { type: 'string', default: 'coreml,coreai' },
    int4: { type: 'boolean', default: false },
    baseline: { type: 'boolean', default: false },
    work: { type: 'string', default: '/tmp/backends' },
    out: { type: 'string' },
    interval: { type: 'string', default: '500' },
  },
});
const backends = opts.backends.split(',').filter(Boolean);
if (!opts.model || (backends.includes('coreml') && !opts['coreml-python']) || (backends.includes('coreai') && !opts['coreai-python'])) {
  console.error('usage: node bench/backends.mjs --coreml-python <converter venv python> --coreai-python <Core AI venv python> --model <diffusers folder> [options]');
  process.exit(2);
}
const coremlPython = opts['coreml-python'] ?? '';
const coreaiPython = path.resolve(opts['coreai-python'] ?? '');
const model = path.resolve(opts.model);
const name = opts.name ?? path.basename(model);
const parts = opts.parts.split(',').filter(Boolean);
const env = { TRANSFORMERS_OFFLINE: '1' };

const work = path.join(opts.work, name);
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const logFile = path.join(work, 'output.log');
const run = (/** @type {string[]} */ argv) => measure(argv, { cwd: work, logFile, intervalMs: Number(opts.interval), env });
const coremlFlags = backends.includes('coreml') ? coremlModelFlags(work, model, name) : [];
const bundle = path.join(work, 'bundle');
const exportPy = path.join(ROOT, 'python/coreai_export.py');

/**
 * @typedef {import('./convert-common.mjs').Measured} Measured
 * @typedef {Measured & { part: string, process: string, backend: string, bytes: number, note: string }} Row
 */
/** @type {Row[]} */
const rows = [];
/** @param {string} text */
const emit = (text) => {
  console.log(text);
  if (opts.out) appendFileSync(opts.out, `${text}\n`);
};
const HEAD = '| process | backend | exit | wall | CPU s | peak RSS GiB (tree, anon + file at peak) | time -v max RSS GiB | output MB | note |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |';
/** @param {Row} r */
const line = (r) => `| ${r.process} | ${r.backend} | ${r.code} | ${mmss(r.wallS)} | ${r.cpuS.toFixed(0)} | ${gib(r.peak.total)} (${gib(r.peak.anonAtPeak)} + ${gib(r.peak.fileAtPeak)}) | ${gib(r.maxRss)} | ${r.bytes > 0 ? mb(r.bytes) : '-'} | ${r.note} |`;

/** @param {string} part @param {string} process @param {string} backend @param {string[]} argv @param {(r: Measured) => { bytes: number, note: string }} after */
async function step(part, process, backend, argv, after) {
  const r = await run(argv);
  /** @type {{ bytes: number, note: string }} */
  let found = { bytes: 0, note: 'failed' };
  if (r.code === 0) {
    try {
      found = after(r);
    } catch (error) {
      found = { bytes: 0, note: `exit 0 but no output read: ${String(error).split('\n')[0]}` };
    }
  }
  const row = { part, process, backend, ...r, ...found };
  rows.push(row);
  emit(line(row));
  if (r.code !== 0) console.error(r.tail);
  return row;
}

/** The .mlpackage folders in dir and their bytes. @param {string} dir */
function mlpackages(dir) {
  const names = existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith('.mlpackage')) : [];
  return { bytes: names.reduce((sum, n) => sum + bytesUnder(path.join(dir, n)), 0), note: names.join(', ') };
}

/** The part's .aimodel bytes and its parity figures from --parity-json. @param {string} json @param {string} dir */
function aimodel(json, dir) {
  const record = JSON.parse(readFileSync(json, 'utf8'));
  const folder = path.join(dir, record.component);
  return {
    bytes: bytesUnder(folder),
    note: `${record.component}; PSNR ${record.psnr.toFixed(1)} dB; in-process peak ${gib(record.peak_rss_bytes)} GiB; load ${record.load_seconds.toFixed(0)} s, export+save ${record.export_seconds.toFixed(0)} s (compress ${record.compress_seconds.toFixed(0)} s), parity ${record.parity_seconds.toFixed(0)} s`,
  };
}

/** @param {string} part @param {string} compression @param {string} dir */
function coreaiExport(part, compression, dir) {
  const json = path.join(work, `parity-${part}-${compression}.json`);
  return step(part, `${part}${compression === 'none' ? '' : ` (${compression})`}`, 'Core AI',
    [coreaiPython, exportPy, 'export', '--model', model, '--part', part, '--bundle', dir, '--compression', compression,
      '--height', '512', '--width', '512', '--parity-json', json],
    () => aimodel(json, dir));
}

emit(`## ${name} (${opts.model}), ${new Date().toISOString()}\n`);
if (opts.baseline) {
  emit(`### Import only (each venv's Python importing its stack, nothing loaded)\n\n${HEAD}`);
  if (backends.includes('coreml')) {
    await step('import', 'import only', 'Core ML', [coremlPython, '-c', 'import torch, diffusers, transformers, coremltools, python_coreml_stable_diffusion.torch2coreml'], () => ({ bytes: 0, note: 'torch, diffusers, transformers, coremltools, torch2coreml' }));
  }
  if (backends.includes('coreai')) {
    await step('import', 'import only', 'Core AI', [coreaiPython, '-c', 'import torch, diffusers, transformers, coreai_torch, coreai'], () => ({ bytes: 0, note: 'torch, diffusers, transformers, coreai_torch, coreai' }));
  }
  emit('');
}

for (const part of parts) {
  emit(`### ${part}\n\n${HEAD}`);
  if (backends.includes('coreai')) await coreaiExport(part, 'none', bundle);
  if (backends.includes('coreml')) {
    const out = path.join(work, `coreml-${part}`);
    await step(part, part, 'Core ML', [coremlPython, path.join(ROOT, 'python/lean_convert.py'), ...coremlFlags, COREML_FLAG[part] ?? '', '-o', out], () => mlpackages(out));
    rmSync(out, { recursive: true, force: true });
  }
  // Printed as soon as both sides ran, so that a run cut off later keeps this part's ratios.
  const r = ratioRow(part);
  if (r) emit(`\nCore AI / Core ML:\n\n| part | wall | CPU | peak RSS (tree) | time -v max RSS | output size |\n| --- | --- | --- | --- | --- | --- |\n${r}`);
  emit('');
}

if (backends.includes('coreai')) {
  emit(`### Core AI only\n\n${HEAD}`);
  await step('finish', 'finish', 'Core AI',
    [coreaiPython, exportPy, 'finish', '--model', model, '--bundle', bundle, '--parts', parts.join(',')],
    () => ({ bytes: bytesUnder(bundle), note: 'the whole bundle: the parts, metadata.json, tokenizer/' }));
  if (opts.int4) await coreaiExport('unet', 'int4', path.join(work, 'bundle-int4'));
  emit('');
}

emit('### Core AI / Core ML, measured in this run\n\n| part | wall | CPU | peak RSS (tree) | time -v max RSS | output size |\n| --- | --- | --- | --- | --- | --- |');
for (const part of parts) {
  const r = ratioRow(part);
  if (r) emit(r);
}
emit('');

/** The part's Core AI / Core ML ratios as a table row, or undefined when either side failed. @param {string} part */
function ratioRow(part) {
  const ml = rows.find((r) => r.process === part && r.backend === 'Core ML');
  const ai = rows.find((r) => r.process === part && r.backend === 'Core AI');
  if (!ml || !ai || ml.code !== 0 || ai.code !== 0) return undefined;
  const ratio = (/** @type {number} */ a, /** @type {number} */ b) => (b > 0 ? (a / b).toFixed(2) : '-');
  return `| ${part} | ${ratio(ai.wallS, ml.wallS)} | ${ratio(ai.cpuS, ml.cpuS)} | ${ratio(ai.peak.total, ml.peak.total)} | ${ratio(ai.maxRss, ml.maxRss)} | ${ratio(ai.bytes, ml.bytes)} |`;
}

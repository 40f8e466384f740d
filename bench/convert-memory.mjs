// Memory of each conversion process at full size, both ways: the converter's own command line
// (`python -m python_coreml_stable_diffusion.torch2coreml <flags>`, as the action ran every part
// before lean-conversion) and the action's lean entry (`python/lean_convert.py <the same flags>`).
// Not in CI: it needs Apple's converter in a scratch venv (see test/fixtures/real-converter/README.md)
// and a full-size pipeline (bench/full_size_pipeline.py), and takes tens of minutes.
//
//   node bench/convert-memory.mjs --python /tmp/apple-venv/bin/python --model /tmp/full/sd15 \
//     [--name sd15] [--parts text_encoder,vae_decoder,unet] [--paths cli,lean] [--xl] \
//     [--after-unet quantize,chunk [--unet-from <an -o holding the unet>]] [--work /tmp/convert-memory]
//     [--out bench/results/x.md]
// --after-unet runs the 6-bit quantize (python/quantize_bundle.py) and the chunking of the float16
// unet (chunk_mlprogram) on a copy of the unet's -o: the lean one of this run, or --unet-from's
// (with --parts '' to measure only those).
//
// One process at a time (never two conversions at once). Per process (bench/convert-common.mjs):
// the peak RSS of its process tree, sampled from /proc/<pid>/status every 0.5 s (RssAnon and
// RssFile apart, and their sum at its peak), wall time, CPU (user+sys of the child and its
// children, from /usr/bin/time -v), the packages written (bytes, weight.bin sha256, the spec's
// sha256 serialized deterministically, by test/python/compare_packages.py in the same Python), and
// lean/cli ratios measured in the same run.
// The action's default flags: --compute-unit ALL --attention-implementation SPLIT_EINSUM
// --min-deployment-target macOS13, HF_HUB_OFFLINE=1, PYTHONUNBUFFERED=1; no --check-output-correctness.
// Linux only (/proc).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, appendFileSync, cpSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { COREML_FLAG as FLAG, coremlModelFlags, gib, measure as measureTree, mb, mmss } from './convert-common.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({
  options: {
    python: { type: 'string' },
    model: { type: 'string' },
    name: { type: 'string' },
    parts: { type: 'string', default: 'text_encoder,vae_decoder,unet' },
    paths: { type: 'string', default: 'cli,lean' },
    xl: { type: 'boolean', default: false },
    'after-unet': { type: 'string', default: '' },
    'unet-from': { type: 'string' },
    work: { type: 'string', default: '/tmp/convert-memory' },
    out: { type: 'string' },
    interval: { type: 'string', default: '500' },
  },
});
if (!opts.python || !opts.model) {
  console.error('usage: node bench/convert-memory.mjs --python <converter venv python> --model <diffusers folder> [options]');
  process.exit(2);
}
const python = opts.python;
const name = opts.name ?? path.basename(opts.model);
const interval = Number(opts.interval);

/** @typedef {import('./convert-common.mjs').Measured} Measured */
/** @typedef {{ weight_bin_sha256: string, spec_sha256: string, package_bytes: number }} PackageFacts */

/** @param {string} dir @returns {Record<string, PackageFacts>} */
function packages(dir) {
  if (!existsSync(dir) || !readdirSync(dir).some((n) => n.endsWith('.mlpackage'))) return {};
  const json = execFileSync(python, [path.join(ROOT, 'test/python/compare_packages.py'), dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return JSON.parse(json)[dir];
}

const work = path.join(opts.work, name);
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const logFile = path.join(work, 'output.log');
const measure = (/** @type {string[]} */ argv, /** @type {string} */ cwd, /** @type {string} */ log) => measureTree(argv, { cwd, logFile: log, intervalMs: interval });
const shared = coremlModelFlags(work, opts.model, name, opts.xl);
/** @type {Record<string, string[]>} */
const runner = { cli: ['-m', 'python_coreml_stable_diffusion.torch2coreml'], lean: [path.join(ROOT, 'python/lean_convert.py')] };

/** @typedef {Measured & { process: string, path: string, sizes: string, same: string }} Row */
/** @type {Row[]} */
const rows = [];
const header = `## ${name} (${opts.model}), ${new Date().toISOString()}\n\n` +
  '| process | path | exit | peak RSS GiB (anon + file at peak) | peak anon / file GiB | time -v max RSS GiB | wall | CPU s | packages | same weight.bin + spec as cli |\n' +
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |';
console.log(header);
if (opts.out) appendFileSync(opts.out, `${header}\n`);

/** @param {Row} row */
function report(row) {
  const line = `| ${row.process} | ${row.path} | ${row.code} | ${gib(row.peak.total)} (${gib(row.peak.anonAtPeak)} + ${gib(row.peak.fileAtPeak)}) | ${gib(row.peak.anon)} / ${gib(row.peak.file)} | ${gib(row.maxRss)} | ${mmss(row.wallS)} | ${row.cpuS.toFixed(0)} | ${row.sizes} | ${row.same} |`;
  console.log(line);
  if (opts.out) appendFileSync(opts.out, `${line}\n`);
}

for (const part of opts.parts.split(',').filter(Boolean)) {
  /** @type {Record<string, Record<string, PackageFacts>>} */
  const results = {};
  for (const which of opts.paths.split(',').filter(Boolean)) {
    const out = path.join(work, `${which}-${part}`);
    const r = await measure([python, ...(runner[which] ?? []), ...shared, FLAG[part] ?? '', '-o', out], work, logFile);
    const pk = r.code === 0 ? packages(out) : {};
    results[which] = pk;
    const cli = results.cli;
    const same = which === 'lean' && cli
      ? Object.keys(pk).length > 0 && Object.entries(pk).every(([p, facts]) => cli[p]?.weight_bin_sha256 === facts.weight_bin_sha256 && cli[p]?.spec_sha256 === facts.spec_sha256) ? 'yes' : 'NO'
      : '';
    const row = { process: part, path: which, ...r, sizes: Object.values(pk).map((p) => mb(p.package_bytes)).join(' + ') || '-', same };
    rows.push(row);
    report(row);
    if (r.code !== 0) console.error(r.tail);
  }
  // The unet's later processes (the same entry either way): on the lean path's output.
  if (part === 'unet') await afterUnet(path.join(work, `${opts.paths.includes('lean') ? 'lean' : 'cli'}-unet`));
}
if (opts['unet-from']) await afterUnet(path.resolve(opts['unet-from']));

/** The quantize and chunk processes on a copy of `source`. @param {string} source */
async function afterUnet(source) {
  {
    for (const step of opts['after-unet'].split(',').filter(Boolean)) {
      const dir = path.join(work, `${step}-unet`);
      rmSync(dir, { recursive: true, force: true });
      cpSync(source, dir, { recursive: true });
      const pkg = readdirSync(dir).find((n) => n.endsWith('_unet.mlpackage'));
      const argv = step === 'quantize'
        ? [python, path.join(ROOT, 'python/quantize_bundle.py'), ...shared, '--quantize-nbits', '6', '-o', dir]
        : [python, '-m', 'python_coreml_stable_diffusion.chunk_mlprogram', '--mlpackage-path', path.join(dir, pkg ?? ''), '-o', dir];
      const r = await measure(argv, work, logFile);
      const pk = r.code === 0 ? packages(dir) : {};
      const row = { process: step === 'quantize' ? 'quantize 6 bit (unet)' : 'chunk the float16 unet', path: 'same', ...r, sizes: Object.values(pk).map((p) => mb(p.package_bytes)).join(' + ') || '-', same: '' };
      rows.push(row);
      report(row);
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

const ratio = ['', '| process | peak RSS lean/cli | wall lean/cli | CPU lean/cli |', '| --- | --- | --- | --- |'];
for (const part of new Set(rows.map((r) => r.process))) {
  const cli = rows.find((r) => r.process === part && r.path === 'cli');
  const lean = rows.find((r) => r.process === part && r.path === 'lean');
  if (cli && lean) ratio.push(`| ${part} | ${(lean.peak.total / cli.peak.total).toFixed(2)} | ${(lean.wallS / cli.wallS).toFixed(2)} | ${(lean.cpuS / cli.cpuS).toFixed(2)} |`);
}
console.log(ratio.join('\n'));
if (opts.out) appendFileSync(opts.out, `${ratio.join('\n')}\n\n`);

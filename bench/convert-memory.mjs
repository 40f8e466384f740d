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
// One process at a time (never two conversions at once). Per process: the peak RSS of its process
// tree, sampled from /proc/<pid>/status every 0.5 s (RssAnon and RssFile apart, and their sum at
// its peak), wall time, CPU (user+sys of the child and its children, from /usr/bin/time -v), the
// packages written (bytes, weight.bin sha256, the spec's sha256 serialized deterministically, by
// test/python/compare_packages.py in the same Python), and lean/cli ratios measured in the same run.
// The action's default flags: --compute-unit ALL --attention-implementation SPLIT_EINSUM
// --min-deployment-target macOS13, HF_HUB_OFFLINE=1, PYTHONUNBUFFERED=1; no --check-output-correctness.
// Linux only (/proc).
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, appendFileSync, cpSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { clearInterval, setInterval } from 'node:timers';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const GiB = 1024 ** 3;
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
/** @type {Record<string, string>} */
const FLAG = { text_encoder: '--convert-text-encoder', vae_decoder: '--convert-vae-decoder', vae_encoder: '--convert-vae-encoder', unet: '--convert-unet' };

/** Every pid below root (root included), from /proc/<pid>/task/<tid>/children. @param {number} root @returns {number[]} */
function tree(root) {
  const pids = [root];
  for (let i = 0; i < pids.length; i++) {
    /** @type {string[]} */
    let tasks;
    try {
      tasks = readdirSync(`/proc/${pids[i]}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) {
      try {
        const children = readFileSync(`/proc/${pids[i]}/task/${task}/children`, 'utf8').trim();
        if (children) pids.push(...children.split(/\s+/).map(Number));
      } catch {
        /* gone */
      }
    }
  }
  return pids;
}

/** RssAnon and RssFile (bytes) of one process, 0 when it is gone. @param {number} pid */
function rssOf(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (/** @type {string} */ key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { anon: kib('RssAnon') * 1024, file: kib('RssFile') * 1024, name: /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '' };
  } catch {
    return { anon: 0, file: 0, name: '' };
  }
}

/**
 * @typedef {{ total: number, anonAtPeak: number, fileAtPeak: number, anon: number, file: number }} Peak
 * @typedef {{ code: number | null, wallS: number, cpuS: number, maxRss: number, leanOwnPeak: number, peak: Peak, tail: string }} Measured
 * @typedef {{ weight_bin_sha256: string, spec_sha256: string, package_bytes: number }} PackageFacts
 */

/**
 * Runs argv under /usr/bin/time -v, sampling the tree below `time` (its own few MB left out).
 * @param {string[]} argv @param {string} cwd @param {string} logFile @returns {Promise<Measured>}
 */
function measure(argv, cwd, logFile) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-v', ...argv], {
      cwd,
      env: { ...process.env, PYTHONUNBUFFERED: '1', HF_HUB_OFFLINE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (/** @type {Buffer} */ d) => (output += d.toString()));
    child.stderr.on('data', (/** @type {Buffer} */ d) => (output += d.toString()));
    const peak = { total: 0, anonAtPeak: 0, fileAtPeak: 0, anon: 0, file: 0 };
    const sample = () => {
      if (child.pid === undefined) return;
      let anon = 0;
      let file = 0;
      for (const pid of tree(child.pid)) {
        if (pid === child.pid) continue; // /usr/bin/time itself
        const r = rssOf(pid);
        anon += r.anon;
        file += r.file;
      }
      peak.anon = Math.max(peak.anon, anon);
      peak.file = Math.max(peak.file, file);
      if (anon + file > peak.total) Object.assign(peak, { total: anon + file, anonAtPeak: anon, fileAtPeak: file });
    };
    const timer = setInterval(sample, interval);
    child.on('close', (code) => {
      clearInterval(timer);
      const wallS = Number(process.hrtime.bigint() - started) / 1e9;
      appendFileSync(logFile, output);
      const num = (/** @type {RegExp} */ re) => Number(re.exec(output)?.[1] ?? NaN);
      const cpuS = num(/User time \(seconds\): ([\d.]+)/) + num(/System time \(seconds\): ([\d.]+)/);
      const maxRss = num(/Maximum resident set size \(kbytes\): (\d+)/) * 1024;
      const own = num(/lean_convert: peak RSS (\d+) bytes/);
      resolve({ code, wallS, cpuS, maxRss, leanOwnPeak: own, peak, tail: output.slice(-1500) });
    });
  });
}

/** @param {string} dir @returns {Record<string, PackageFacts>} */
function packages(dir) {
  if (!existsSync(dir) || !readdirSync(dir).some((n) => n.endsWith('.mlpackage'))) return {};
  const json = execFileSync(python, [path.join(ROOT, 'test/python/compare_packages.py'), dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return JSON.parse(json)[dir];
}

const gib = (/** @type {number} */ b) => (Number.isFinite(b) && b > 0 ? `${(b / GiB).toFixed(2)}` : '-');
const mmss = (/** @type {number} */ s) => (Number.isFinite(s) ? `${Math.floor(s / 60)}:${String(Math.round(s % 60)).padStart(2, '0')}` : '-');
const mb = (/** @type {number} */ b) => `${Math.round(b / 1e6)} MB`;

const work = path.join(opts.work, name);
rmSync(work, { recursive: true, force: true });
mkdirSync(path.join(work, 'models'), { recursive: true });
symlinkSync(path.resolve(opts.model), path.join(work, 'models', name));
const modelVersion = `models/${name}`;
const logFile = path.join(work, 'output.log');
const shared = ['--model-version', modelVersion, '--compute-unit', 'ALL', '--attention-implementation', 'SPLIT_EINSUM', '--min-deployment-target', 'macOS13', ...(opts.xl ? ['--xl-version'] : [])];
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

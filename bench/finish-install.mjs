// Benchmark (issue 23): what the finishing half (split: finish) installs against the converter's
// whole environment, measured in the same run on this machine.
//
// Installed here (Linux x86_64, Python 3.11, from PyPI, each into a fresh venv under /tmp, with the steps the action's lock install runs: the build backends from the lock,
// then `pip install --require-hashes --no-deps [--no-build-isolation] -r <lock>`, then `pip check`):
//   - finish:    constraints/.../finish-macos-arm64-py3.11.txt. It is resolved for macOS arm64 but
//                pins every file of each version, so pip takes the Linux wheels of the same versions.
//   - converter: constraints/.../linux-x86_64-py3.11.txt (the convert half's env on Linux x64).
//   Each cold (downloads from PyPI) and warm (every file already in a local folder, as a restored
//   pip cache gives them; a new venv).
//   Apple's converter package itself (a git requirement, small, pure Python) is not installed:
//   GitHub is not reachable from here; the finishing half does not install it anyway.
// Computed from PyPI's JSON (PEP 691/700 `size`), for the file pip picks for each pin:
//   the download of every lock on its own platform, the macOS ones included (their wheels cannot be
//   installed here).
// Usage: node bench/finish-install.mjs [--no-warm] [--keep]   (removes what it made unless --keep)
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { normalName, parseLock } from '../scripts/lock-check.mjs';
import { timed } from './timed.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FOLDER = path.join(ROOT, 'constraints', 'ml-stable-diffusion-e12202c');
const warm = !process.argv.includes('--no-warm');
const keep = process.argv.includes('--keep');
const scratch = path.join(os.tmpdir(), `coreml-bench-finish-install-${process.pid}`);
const MB = 1e6;
const PYTHON = process.env.BENCH_PYTHON ?? 'python3.11';
const REPEAT = 3;

/** Bytes under a folder (files and symlinks as themselves, hard links once). @param {string} dir */
function treeBytes(dir) {
  let total = 0;
  const seen = new Set();
  const walk = (/** @type {string} */ d) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      const st = lstatSync(p);
      if (entry.isDirectory()) walk(p);
      else if (!seen.has(st.ino)) {
        seen.add(st.ino);
        total += st.size;
      }
    }
  };
  walk(dir);
  return total;
}

/** The lock's entries whose names are in `names` (each with its hash lines), as a requirements file's text. */
function subset(/** @type {string} */ text, /** @type {string[]} */ names) {
  const { pins } = parseLock(text);
  return names.flatMap((n) => {
    const pin = pins.get(normalName(n));
    return pin ? [[`${pin.name}==${pin.version}`, ...pin.hashes.map((h) => `    --hash=sha256:${h}`)].join(' \\\n')] : [];
  }).join('\n') + '\n';
}

/**
 * One environment installed as the action installs a lock. @param {string} label @param {string} lock
 * @param {string | undefined} wheels a folder holding every file already (warm: pip takes them from
 * there, `--no-index`), or undefined (cold: from PyPI). pip's HTTP cache is not used: on this machine
 * it never fills (the responses come through a proxy), so a folder stands for a restored cache.
 */
async function install(label, lock, wheels) {
  const venv = path.join(scratch, `${label}-venv-${Date.now()}`);
  execFileSync(PYTHON, ['-m', 'venv', venv]);
  const python = path.join(venv, 'bin', 'python');
  const env = { PIP_NO_CACHE_DIR: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_INPUT: '1', PIP_FIND_LINKS: wheels ?? '', ...(wheels ? { PIP_NO_INDEX: '1' } : {}) };
  const text = readFileSync(lock, 'utf8');
  const steps = [];
  const backends = subset(text, ['setuptools', 'wheel']);
  if (backends.trim()) {
    const file = path.join(scratch, `${label}-backends.txt`);
    mkdirSync(scratch, { recursive: true });
    writeFileSync(file, backends);
    steps.push(['-m', 'pip', 'install', '--require-hashes', '--no-deps', '-r', file]);
  }
  steps.push(['-m', 'pip', 'install', '--require-hashes', '--no-deps', ...(backends.trim() ? ['--no-build-isolation'] : []), '-r', lock]);
  steps.push(['-m', 'pip', 'check']);
  let wallMs = 0;
  let cpuS = 0;
  for (const step of steps) {
    const r = await timed([python, ...step], { env });
    wallMs += r.wallMs;
    cpuS += r.cpuS ?? 0;
  }
  const site = execFileSync(python, ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], { encoding: 'utf8' }).trim();
  const bytes = treeBytes(site);
  const cuda = ['nvidia', 'triton'].map((d) => path.join(site, d)).filter((d) => { try { return statSync(d).isDirectory(); } catch { return false; } })
    .reduce((sum, d) => sum + treeBytes(d), 0);
  // What the lock added to the bare venv (pip and setuptools come with `python -m venv`).
  const packages = readdirSync(site).filter((n) => n.endsWith('.dist-info')).length - bare.packages;
  // The env's own imports, so that a size is of a working env.
  const probe = label === 'finish' ? 'import coremltools, numpy; print(coremltools.__version__, numpy.__version__)'
    : 'import torch, coremltools, diffusers, transformers; print(torch.__version__, coremltools.__version__, diffusers.__version__, transformers.__version__)';
  const imported = execFileSync(python, ['-W', 'ignore', '-c', probe], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n').at(-1);
  return { venv, wallMs, cpuS, bytes: bytes - bare.bytes, cuda, packages, imported };
}

/**
 * The tags a wheel file name carries: python, abi, platform sets.
 * @param {string} filename
 */
function wheelTags(filename) {
  const parts = filename.slice(0, -4).split('-');
  const [py = '', abi = '', plat = ''] = parts.slice(-3);
  return { py: py.split('.'), abi: abi.split('.'), plat: plat.split('.') };
}

/**
 * The file pip would take for a pin on a platform, simplified: a wheel for CPython 3.11 (cp311, abi3,
 * py3, none) whose platform tag is the platform's or `any`; else the sdist. @param {Array<{ filename: string, size?: number }>} files
 * @param {'macos-arm64' | 'linux-x86_64'} platform
 */
function pick(files, platform) {
  const okPy = (/** @type {{ py: string[], abi: string[] }} */ t) => t.py.some((p) => ['cp311', 'py3', 'py311'].includes(p)) ||
    (t.abi.includes('abi3') && t.py.some((p) => /^cp3\d+$/.test(p) && Number(p.slice(3)) <= 11));
  const okPlat = (/** @type {string[]} */ plat) => plat.some((t) => t === 'any' || (platform === 'macos-arm64'
    ? /^macosx_(\d+)_(\d+)_(arm64|universal2)$/.test(t) && Number(/^macosx_(\d+)/.exec(t)?.[1]) <= 14
    : /^(manylinux(1|2010|2014)_x86_64|manylinux_2_(\d+)_x86_64|linux_x86_64)$/.test(t) && Number(/^manylinux_2_(\d+)/.exec(t)?.[1] ?? 0) <= 35));
  const wheels = files.filter((f) => f.filename.endsWith('.whl')).filter((f) => {
    const t = wheelTags(f.filename);
    return okPy(t) && okPlat(t.plat) && (t.abi.includes('none') || t.abi.includes('abi3') || t.abi.includes('cp311'));
  });
  // Prefer a platform wheel over a pure one, and cp311 over abi3.
  wheels.sort((a, b) => score(b.filename) - score(a.filename));
  return wheels[0] ?? files.find((f) => f.filename.endsWith('.tar.gz'));
}
const score = (/** @type {string} */ f) => (f.includes('-cp311-') ? 4 : 0) + (f.includes('abi3') ? 2 : 0) + (f.endsWith('-any.whl') ? 0 : 1);

/** The download of a lock on its platform, from PyPI's JSON. @param {string} lock @param {'macos-arm64' | 'linux-x86_64'} platform */
async function download(lock, platform) {
  const { pins } = parseLock(readFileSync(lock, 'utf8'));
  let total = 0;
  let cuda = 0;
  const largest = [];
  for (const pin of pins.values()) {
    const response = await fetch(`https://pypi.org/simple/${normalName(pin.name)}/`, { headers: { Accept: 'application/vnd.pypi.simple.v1+json' } });
    if (!response.ok) throw new Error(`PyPI answered ${response.status} for ${pin.name}`);
    const body = /** @type {{ files: Array<{ filename: string, size?: number, hashes?: { sha256?: string } }> }} */ (await response.json());
    const own = body.files.filter((f) => pin.hashes.includes(f.hashes?.sha256 ?? ''));
    const file = pick(own, platform);
    if (!file?.size) throw new Error(`no file of ${pin.name}==${pin.version} for ${platform}`);
    total += file.size;
    if (/^(nvidia-|triton$)/.test(normalName(pin.name))) cuda += file.size;
    largest.push([file.filename, file.size]);
  }
  largest.sort((a, b) => Number(b[1]) - Number(a[1]));
  return { packages: pins.size, total, cuda, largest: largest.slice(0, 3) };
}

const mb = (/** @type {number} */ b) => `${(b / MB).toFixed(0)} MB`;
const s = (/** @type {number} */ ms) => `${(ms / 1000).toFixed(1)} s`;
const ratio = (/** @type {number} */ a, /** @type {number} */ b) => (b ? (a / b).toFixed(3) : 'n/a');

/** A bare venv's site-packages (pip, setuptools), subtracted from each env's. */
const bare = (() => {
  const venv = path.join(scratch, 'bare-venv');
  execFileSync(PYTHON, ['-m', 'venv', venv]);
  const site = execFileSync(path.join(venv, 'bin', 'python'), ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], { encoding: 'utf8' }).trim();
  const found = { bytes: treeBytes(site), packages: readdirSync(site).filter((n) => n.endsWith('.dist-info')).length };
  rmSync(venv, { recursive: true, force: true });
  return found;
})();

const LOCKS = {
  finish: path.join(FOLDER, 'finish-macos-arm64-py3.11.txt'),
  converter: path.join(FOLDER, 'linux-x86_64-py3.11.txt'),
  macosConverter: path.join(FOLDER, 'macos-arm64-py3.11.txt'),
};

try {
  mkdirSync(scratch, { recursive: true });
  console.log(`# finish-install bench, ${new Date().toISOString()}`);
  console.log(`machine: ${os.platform()} ${os.arch()}, ${os.cpus().length} cores (shared), ${execFileSync(PYTHON, ['--version'], { encoding: 'utf8' }).trim()}, pip ${execFileSync(PYTHON, ['-m', 'pip', '--version'], { encoding: 'utf8' }).split(' ')[1]}; load average at start ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  console.log('\n## Download of each lock on its own platform (PyPI JSON sizes, the file pip picks for CPython 3.11)\n');
  const dl = {
    finishMac: await download(LOCKS.finish, 'macos-arm64'),
    converterMac: await download(LOCKS.macosConverter, 'macos-arm64'),
    finishLinux: await download(LOCKS.finish, 'linux-x86_64'),
    converterLinux: await download(LOCKS.converter, 'linux-x86_64'),
  };
  console.log('| lock | platform | packages | download | of it nvidia-* and triton | largest files |');
  console.log('| --- | --- | ---: | ---: | ---: | --- |');
  for (const [label, lock, platform, d] of /** @type {const} */ ([
    ['finish-macos-arm64-py3.11', 'macOS arm64', 'macos-arm64', dl.finishMac],
    ['macos-arm64-py3.11 (single job)', 'macOS arm64', 'macos-arm64', dl.converterMac],
    ['finish-macos-arm64-py3.11', 'Linux x86_64 (this machine)', 'linux-x86_64', dl.finishLinux],
    ['linux-x86_64-py3.11 (convert half)', 'Linux x86_64', 'linux-x86_64', dl.converterLinux],
  ])) {
    void platform;
    console.log(`| ${label} | ${lock} | ${d.packages} | ${mb(d.total)} | ${mb(d.cuda)} | ${d.largest.map(([f, b]) => `${f} (${mb(Number(b))})`).join(', ')} |`);
  }
  console.log(`\nmacOS arm64 download, finish / single job: ${ratio(dl.finishMac.total, dl.converterMac.total)}`);
  console.log(`Linux x86_64 download, finish set / convert half: ${ratio(dl.finishLinux.total, dl.converterLinux.total)}`);

  console.log('\n## Installed on this machine (pip, the action\'s lock steps, fresh venv; cold = from PyPI, warm = from a local folder of the lock\'s files)\n');
  console.log('| env | run | wall | CPU | installed (site-packages, beyond a bare venv) | of it nvidia + triton | packages | files fetched | imports |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  /** @typedef {Awaited<ReturnType<typeof install>>} Installed */
  /** @type {Map<string, Installed>} keyed `<env> <run>` */
  const results = new Map();
  for (const label of /** @type {const} */ (['finish', 'converter'])) {
    const wheels = path.join(scratch, `${label}-wheels`);
    for (const run of warm ? ['cold', 'warm'] : ['cold']) {
      if (run === 'warm' && !existsSync(wheels)) {
        // Not timed: every file of the lock fetched once (the argmaxtools sdist as it is).
        execFileSync(PYTHON, ['-m', 'pip', 'download', '--quiet', '--no-deps', '--require-hashes', '--no-binary', 'argmaxtools', '-d', wheels, '-r', LOCKS[label]],
          { env: { ...process.env, PIP_NO_CACHE_DIR: '1', PIP_FIND_LINKS: '' }, stdio: ['ignore', 'ignore', 'inherit'] });
      }
      // The finish env installs in seconds, so its wall time is at the mercy of the shared machine's
      // load: it is installed REPEAT times and the run with the median wall time is taken. The
      // converter env (minutes, 3 GB from PyPI) once.
      const runs = [];
      for (let i = 0; i < (label === 'finish' ? REPEAT : 1); i++) {
        const one = await install(label, LOCKS[label], run === 'warm' ? wheels : undefined);
        if (!keep) rmSync(one.venv, { recursive: true, force: true });
        runs.push(one);
      }
      runs.sort((a, b) => a.wallMs - b.wallMs);
      const r = runs[Math.floor(runs.length / 2)] ?? runs[0];
      if (!r) throw new Error('no run');
      results.set(`${label} ${run}`, r);
      const fetched = run === 'warm' ? mb(treeBytes(wheels)) : 'from PyPI';
      const all = runs.length > 1 ? ` (median of ${runs.length}: ${runs.map((x) => s(x.wallMs)).join(', ')})` : '';
      console.log(`| ${label} (${path.basename(LOCKS[label])}) | ${run} | ${s(r.wallMs)}${all} | ${r.cpuS.toFixed(1)} s | ${mb(r.bytes)} | ${mb(r.cuda)} | ${r.packages} | ${fetched} | ${r.imported} |`);
    }
    if (!keep) rmSync(wheels, { recursive: true, force: true });
  }
  const none = { wallMs: 0, cpuS: 0, bytes: 0, cuda: 0 };
  const get = (/** @type {string} */ key) => results.get(key) ?? none;
  const [fc, cc, fw, cw] = [get('finish cold'), get('converter cold'), get('finish warm'), get('converter warm')];
  console.log('\n## Ratios, finish / converter (same run)\n');
  console.log(`install wall, cold: ${ratio(fc.wallMs, cc.wallMs)} (${s(fc.wallMs)} / ${s(cc.wallMs)})`);
  if (warm) console.log(`install wall, warm: ${ratio(fw.wallMs, cw.wallMs)} (${s(fw.wallMs)} / ${s(cw.wallMs)})`);
  console.log(`install CPU, cold: ${ratio(fc.cpuS, cc.cpuS)} (${fc.cpuS.toFixed(1)} s / ${cc.cpuS.toFixed(1)} s)`);
  console.log(`installed size: ${ratio(fc.bytes, cc.bytes)} (${mb(fc.bytes)} / ${mb(cc.bytes)}); the converter env without nvidia + triton: ${mb(cc.bytes - cc.cuda)}, finish / that: ${ratio(fc.bytes, cc.bytes - cc.cuda)}`);
  console.log(`download, macOS arm64 (computed): ${ratio(dl.finishMac.total, dl.converterMac.total)} (${mb(dl.finishMac.total)} / ${mb(dl.converterMac.total)})`);
  console.log(`\nload average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
} finally {
  if (!keep) rmSync(scratch, { recursive: true, force: true });
}

// What bench/convert-memory.mjs and bench/backends.mjs share: the memory of a child process and
// everything it starts (the peak RSS of the process tree below /usr/bin/time -v, sampled from
// /proc/<pid>/status: RssAnon and RssFile apart, and their sum at its peak), with wall time, CPU
// (user+sys of the child and its children) and time -v's maximum RSS; and the Core ML converter's
// argv as the action runs it (the model linked as models/<name>, the action's default flags).
// Linux only (/proc).
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { clearInterval, setInterval } from 'node:timers';

export const GiB = 1024 ** 3;

/** Every pid below root (root included), from /proc/<pid>/task/<tid>/children. @param {number} root @returns {number[]} */
export function tree(root) {
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
export function rssOf(pid) {
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
 * @typedef {{ code: number | null, wallS: number, cpuS: number, maxRss: number, leanOwnPeak: number, peak: Peak, output: string, tail: string }} Measured
 */

/**
 * Runs argv under /usr/bin/time -v, sampling the tree below `time` (its own few MB left out) every
 * `intervalMs`. Everything it printed is appended to logFile.
 * @param {string[]} argv @param {{ cwd: string, logFile: string, intervalMs?: number, env?: Record<string, string> }} options
 * @returns {Promise<Measured>}
 */
export function measure(argv, { cwd, logFile, intervalMs = 500, env = {} }) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-v', ...argv], {
      cwd,
      env: { ...process.env, PYTHONUNBUFFERED: '1', HF_HUB_OFFLINE: '1', ...env },
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
    const timer = setInterval(sample, intervalMs);
    child.on('close', (code) => {
      clearInterval(timer);
      const wallS = Number(process.hrtime.bigint() - started) / 1e9;
      appendFileSync(logFile, `\n$ ${argv.join(' ')}\n${output}`);
      const num = (/** @type {RegExp} */ re) => Number(re.exec(output)?.[1] ?? NaN);
      const cpuS = num(/User time \(seconds\): ([\d.]+)/) + num(/System time \(seconds\): ([\d.]+)/);
      const maxRss = num(/Maximum resident set size \(kbytes\): (\d+)/) * 1024;
      const own = num(/lean_convert: peak RSS (\d+) bytes/);
      resolve({ code, wallS, cpuS, maxRss, leanOwnPeak: own, peak, output, tail: output.slice(-1500) });
    });
  });
}

/** Bytes of the files under p (p itself when a file; 0 when absent). @param {string} p @returns {number} */
export function bytesUnder(p) {
  let st;
  try {
    st = statSync(p);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.size;
  return readdirSync(p).reduce((sum, n) => sum + bytesUnder(path.join(p, n)), 0);
}

export const gib = (/** @type {number} */ b) => (Number.isFinite(b) && b > 0 ? `${(b / GiB).toFixed(2)}` : '-');
export const mmss = (/** @type {number} */ s) => (Number.isFinite(s) ? `${Math.floor(Math.round(s) / 60)}:${String(Math.round(s) % 60).padStart(2, '0')}` : '-');
export const mb = (/** @type {number} */ b) => `${Math.round(b / 1e6)} MB`;

/** torch2coreml's flag for each part. @type {Record<string, string>} */
export const COREML_FLAG = { text_encoder: '--convert-text-encoder', vae_decoder: '--convert-vae-decoder', vae_encoder: '--convert-vae-encoder', unet: '--convert-unet' };

/**
 * Links the diffusers folder as `<work>/models/<name>` (a local folder that reads as a Hub id, as the
 * action passes it) and returns the action's default converter flags for it.
 * @param {string} work @param {string} model @param {string} name @param {boolean} [xl] @returns {string[]}
 */
export function coremlModelFlags(work, model, name, xl = false) {
  mkdirSync(path.join(work, 'models'), { recursive: true });
  symlinkSync(path.resolve(model), path.join(work, 'models', name));
  return ['--model-version', `models/${name}`, '--compute-unit', 'ALL', '--attention-implementation', 'SPLIT_EINSUM', '--min-deployment-target', 'macOS13', ...(xl ? ['--xl-version'] : [])];
}

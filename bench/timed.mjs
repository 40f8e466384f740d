// Runs a benchmark's child process under /usr/bin/time -v (when there is one): wall time, peak
// RSS and CPU seconds of the process, and what it printed.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * @param {string[]} argv
 * @param {{ cwd?: string, env?: Record<string, string> }} [options] env is added to this process's
 * @returns {Promise<{ wallMs: number, maxRssKiB: number | null, cpuS: number | null, stdout: string }>}
 */
export function timed(argv, options = {}) {
  const time = existsSync('/usr/bin/time') ? ['/usr/bin/time', '-v'] : [];
  const [command = '', ...args] = [...time, ...argv];
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (/** @type {Buffer} */ d) => (stdout += d.toString()));
    child.stderr.on('data', (/** @type {Buffer} */ d) => (stderr += d.toString()));
    child.on('close', (code) => {
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      if (code !== 0) return reject(new Error(`${argv.join(' ')} exited ${code}: ${stderr.slice(-2000)}`));
      const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1];
      const user = /User time \(seconds\): ([\d.]+)/.exec(stderr)?.[1];
      const sys = /System time \(seconds\): ([\d.]+)/.exec(stderr)?.[1];
      resolve({ wallMs, maxRssKiB: rss ? Number(rss) : null, cpuS: user && sys ? Number(user) + Number(sys) : null, stdout });
    });
  });
}

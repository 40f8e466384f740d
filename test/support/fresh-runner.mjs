// A job on a fresh runner, as a rerun of a workflow gets one: the runner dir (RUNNER_TEMP, tool
// cache), workspace and home emptied before each job but on the same paths, since cache versions
// hash the paths. Shared by the e2e tests, the demo and bench/.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { runAction } from './action-runner.mjs';
import { standinJobEnv } from './standin.mjs';

/**
 * @typedef {import('./action-runner.mjs').ActionRun} ActionRun
 * @typedef {{ env?: Record<string, string>, node?: string, echo?: boolean, prepare?: (dirs: { workspace: string, runnerDir: string, home: string }) => void }} JobOptions
 *   prepare: what the job finds on its runner (a checked-out file), put there after the wipe
 * @typedef {{
 *   run: ActionRun, converterCalls: number, condaCalls: number, invocationsFile: string
 * }} Job what the job did, with how many times the stand-in converter and conda were started
 * @typedef {{
 *   root: string, runnerDir: string, workspace: string, home: string,
 *   job: (inputs: Record<string, string>, options?: JobOptions) => Promise<Job>
 * }} FreshRunner
 */

/** @param {string} file @returns {number} the non-empty lines of a log, 0 when it was never written */
function logLines(file) {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;
}

/**
 * @param {string} root the runner's paths live below it; the stand-in's call logs too, kept across jobs
 * @param {{ env: Record<string, string> }} services the local services the jobs use (standinJobEnv)
 * @returns {FreshRunner}
 */
export function freshRunner(root, services) {
  const runnerDir = path.join(root, 'runner');
  const workspace = path.join(root, 'workspace');
  const home = path.join(root, 'home');
  let jobs = 0;
  return {
    root,
    runnerDir,
    workspace,
    home,
    async job(inputs, options = {}) {
      for (const dir of [runnerDir, workspace, home]) {
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir, { recursive: true });
      }
      options.prepare?.({ workspace, runnerDir, home });
      jobs += 1;
      const log = path.join(root, 'logs', `job-${jobs}.jsonl`);
      mkdirSync(path.dirname(log), { recursive: true });
      const run = await runAction({
        inputs,
        env: { ...standinJobEnv(services, home, log), ...options.env },
        workspace,
        runnerDir,
        node: options.node,
        echo: options.echo,
      });
      return { run, converterCalls: logLines(log), condaCalls: logLines(`${log}.conda`), invocationsFile: log };
    },
  };
}

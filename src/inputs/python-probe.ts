/**
 * The `python` input is run before anything is installed, to tell an interpreter from any other
 * file (`/bin/sh` would otherwise be handed pip's and the converter's argv an hour later). The
 * probe is `<python> -c PROBE_CODE`, argv only (no shell), with a timeout and the allow-listed
 * environment. This module is the pure part: the code, and the verdict on what came back.
 */
export const PROBE_CODE = 'import sys; print("coreml-action-python-probe", *sys.version_info[:3])';
export const PROBE_TIMEOUT_MS = 20_000;

export interface ProbeOutcome {
  /** Exit status, null when killed (the timeout) or not started. */
  status: number | null;
  stdout: string;
  /** The start error's code (ENOENT, EACCES, ETIMEDOUT...), if any. */
  error?: string;
}

/** Pure: the interpreter's version (`3.11.9`), or why the file is not a Python interpreter (completing "Input `python` ..."). */
export function judgeProbe(file: string, outcome: ProbeOutcome): { version: string } | { problem: string } {
  const line = outcome.stdout.split(/\r?\n/).find((l) => l.startsWith('coreml-action-python-probe '));
  const version = line?.split(' ').slice(1).join('.');
  if (outcome.status === 0 && version && /^3\.\d+\.\d+$/.test(version)) return { version };
  const what =
    outcome.error === 'ETIMEDOUT'
      ? `did not answer within ${PROBE_TIMEOUT_MS / 1000} s`
      : outcome.error
        ? `could not be run (${outcome.error})`
        : version
          ? `is Python ${version}, not Python 3`
          : `did not print sys.version_info when run with -c (exit status ${outcome.status ?? 'none'})`;
  return { problem: `is ${file}, which is not a Python 3 interpreter: it ${what}. Give the path of a python3 executable (or leave python empty to install one).` };
}

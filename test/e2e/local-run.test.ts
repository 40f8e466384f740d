// `npm run local` (scripts/local.mjs): the bundle run with a user's inputs file against the local
// stand-ins, as a person would start it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/action-runner.mjs';

function local(inputs: string, ...args: string[]) {
  const dir = mkdtempSync(path.join(tmpdir(), 'local-run-'));
  writeFileSync(path.join(dir, 'my.env'), inputs);
  return spawnSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'local.mjs'), '--inputs', path.join(dir, 'my.env'), ...args], { encoding: 'utf8', cwd: dir, timeout: 170_000 });
}

describe('npm run local', () => {
  it("runs the bundle on the user's inputs: converts, publishes locally, hides ::debug:: lines, never shows the user's token", () => {
    const run = local('model-version=acme/my-sd\npreset=ios\nhf-token=hf_mine_0123456789\nrelease-tag=local-v1\n');
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain("Your hf-token replaced by the local services' own");
    expect(run.stdout).toMatch(/psnr-passed: true/);
    expect(run.stdout).toMatch(/release-url: https:\/\/github\.com\/.*\/releases\/tag\/local-v1/);
    expect(run.stdout).not.toMatch(/^::debug::/m);
    expect(run.stdout + run.stderr).not.toContain('hf_mine_0123456789');
  });

  it('with --debug the ::debug:: lines show', () => {
    const run = local('model-version=acme/my-sd\n', '--debug');
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^::debug::/m);
  });

  it('refuses an inputs file with a mistake before starting anything', () => {
    const run = local('model-versoin=acme/my-sd\n');
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('line 1: "model-versoin" is not an input of this entry');
  });
});

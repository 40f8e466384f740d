// src/outputs.ts is the one place outputs are named and encoded: its names must be each
// action.yml's, in order, and the runner must receive the strings the outputs' descriptions promise.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ACTION_OUTPUTS, PLAN_OUTPUTS, setOutput, setPlanOutput, setVerifyOutput, VERIFY_OUTPUTS } from '../../src/outputs.js';
import { ROOT } from './fixtures.js';

const declared = (file: string) => Object.keys((parse(readFileSync(path.join(ROOT, file), 'utf8')) as { outputs: Record<string, unknown> }).outputs);

describe('output names', () => {
  it.each([
    ['action.yml', ACTION_OUTPUTS],
    ['verify/action.yml', VERIFY_OUTPUTS],
    ['plan/action.yml', PLAN_OUTPUTS],
  ])('%s declares exactly the outputs the code sets, in order', (file, outputs) => {
    expect(Object.keys(outputs)).toEqual(declared(file));
  });
});

describe('setting outputs', () => {
  const saved = process.env.GITHUB_OUTPUT;
  let dir: string | undefined;
  afterEach(() => {
    if (saved === undefined) delete process.env.GITHUB_OUTPUT;
    else process.env.GITHUB_OUTPUT = saved;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `set` with GITHUB_OUTPUT pointing at a fresh file; returns name -> value as the runner reads them. */
  function written(set: () => void): Record<string, string> {
    dir = mkdtempSync(path.join(tmpdir(), 'outputs-test-'));
    const file = path.join(dir, 'output');
    writeFileSync(file, '');
    process.env.GITHUB_OUTPUT = file;
    set();
    const values: Record<string, string> = {};
    for (const [, name, delimiter, value] of readFileSync(file, 'utf8').matchAll(/^(.+?)<<(.+)\n([\s\S]*?)\n\2$/gm)) {
      if (name !== undefined && delimiter !== undefined && value !== undefined) values[name] = value;
    }
    return values;
  }

  it('writes flags and numbers as the runner strings, and JSON lists only the documented fields', () => {
    const verdict = { part: 'unet', check: 'torch vs coreml', psnr: null, threshold: 35, passed: false, step: 'unet' };
    const file = { name: 'a.zip', size: 3, sha256: 'f'.repeat(64), path: '/p/a.zip', archive: 'a' };
    const asset = { name: 'a.zip', size: 3, sha256: 'f'.repeat(64), url: 'https://x/a.zip', id: 9 };
    expect(
      written(() => {
        setOutput('psnr-passed', false);
        setOutput('release-id', 42);
        setOutput('psnr', [verdict]);
        setOutput('packages', [file]);
        setOutput('assets', [asset]);
        setOutput('output-dir', '/out');
      }),
    ).toEqual({
      'psnr-passed': 'false',
      'release-id': '42',
      psnr: '[{"part":"unet","check":"torch vs coreml","psnr":null,"threshold":35,"passed":false}]',
      packages: `[{"name":"a.zip","size":3,"sha256":"${'f'.repeat(64)}","path":"/p/a.zip"}]`,
      assets: `[{"name":"a.zip","size":3,"sha256":"${'f'.repeat(64)}","url":"https://x/a.zip"}]`,
      'output-dir': '/out',
    });
  });

  it('sets the verify and plan outputs under their own names', () => {
    expect(
      written(() => {
        setVerifyOutput('passed', true);
        setPlanOutput('count', 2);
        setPlanOutput('skipped', ['sd-macos']);
      }),
    ).toEqual({ passed: 'true', count: '2', skipped: '["sd-macos"]' });
  });
});

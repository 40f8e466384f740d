// verify/action.yml: its interface, its inputs, and how it finds the Resources in a folder or zip.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { VERIFY_INPUT_NAMES, type VerifyInputName } from '../../src/inputs/names.js';
import { bundleStep, parseVerifyInputs } from '../../src/verify/bundle/entry-inputs.js';
import { ROOT } from './fixtures.js';

const VERIFY = parse(readFileSync(path.join(ROOT, 'verify', 'action.yml'), 'utf8')) as {
  inputs: Record<string, { default?: string; required?: boolean }>;
  runs: { using: string; main: string };
};
const WS = '/home/runner/work/r/r';

function parseWith(values: Partial<Record<VerifyInputName, string>>, files: string[] = [], dirs: string[] = []) {
  const all: Record<string, string> = Object.fromEntries(Object.entries(VERIFY.inputs).map(([k, v]) => [k, v.default ?? '']));
  Object.assign(all, values);
  return parseVerifyInputs((name) => {
    if (!(name in VERIFY.inputs)) throw new Error(`read ${name}, which verify/action.yml does not declare`);
    return all[name] ?? '';
  }, { env: { GITHUB_WORKSPACE: WS, RUNNER_TEMP: '/tmp/r' }, isFile: (p) => files.includes(p), isDirectory: (p) => dirs.includes(p) });
}

describe('verify/action.yml', () => {
  it('declares the inputs the code reads, in order (outputs.test.ts: the outputs)', () => {
    expect(Object.keys(VERIFY.inputs)).toEqual([...VERIFY_INPUT_NAMES]);
    expect(VERIFY.runs).toEqual({ using: 'node24', main: '../dist/verify/index.js' });
    expect(VERIFY.inputs.path?.required).toBe(true);
  });
});

describe('parseVerifyInputs', () => {
  it('takes a folder, with every expectation optional', () => {
    expect(parseWith({ path: 'coreml/Resources' }, [], [`${WS}/coreml/Resources`])).toEqual({
      config: { path: `${WS}/coreml/Resources`, isZip: false, kind: undefined, attention: undefined, quantizeNbits: undefined, chunked: false, controlnets: [], temp: '/tmp/r' },
      errors: [],
    });
  });

  it('takes a zip and the expectations', () => {
    const { config } = parseWith(
      { path: 'b.zip', 'model-kind': 'sdxl', 'attention-implementation': 'ORIGINAL', 'quantize-nbits': '6', chunked: 'true', controlnets: 'a/b, c/d' },
      [`${WS}/b.zip`],
    );
    expect(config).toMatchObject({ isZip: true, kind: 'sdxl', attention: 'ORIGINAL', quantizeNbits: 6, chunked: true, controlnets: ['a/b', 'c/d'] });
  });

  it('names every bad input and what it accepts', () => {
    const { config, errors } = parseWith({ path: 'x.tar', 'model-kind': 'sd2', 'quantize-nbits': '3', controlnets: 'not an/id/x' }, [`${WS}/x.tar`]);
    expect(config).toBeUndefined();
    expect(errors).toEqual([
      `Input \`path\` must be a folder or a .zip file, but ${WS}/x.tar is another kind of file.`,
      'Input `model-kind` must be one of sd, sdxl, sd3, got "sd2".',
      'Input `quantize-nbits` must be one of 1, 2, 4, 6, 8, got "3".',
      'Input `controlnets` lists "an/id/x", which is not a Hub id (owner/name): the bundle names each ControlNet after its id.',
    ]);
    expect(parseWith({ path: 'missing' }).errors).toEqual([`Input \`path\` must be an existing folder or .zip file, but ${WS}/missing does not exist.`]);
    expect(parseWith({ path: '' }).errors[0]).toMatch(/^Input `path` is required/);
  });
});

describe('bundleStep: down to the Resources', () => {
  const dir = (name: string) => ({ name, isDirectory: true });
  const file = (name: string) => ({ name, isDirectory: false });
  it('stops where the models or tokenizer files are', () => {
    expect(bundleStep([dir('Unet.mlmodelc'), file('x')])).toBe('here');
    expect(bundleStep([file('vocab.json')])).toBe('here');
  });
  it("goes into Resources/ (the converter's -o), else into a zip's only folder", () => {
    expect(bundleStep([dir('Resources'), file('Stable_Diffusion_version_x_unet.mlpackage')])).toEqual({ into: 'Resources' });
    expect(bundleStep([dir('coreml-sd_split_einsum_compiled'), dir('__MACOSX'), file('.DS_Store')])).toEqual({ into: 'coreml-sd_split_einsum_compiled' });
    expect(bundleStep([dir('a'), dir('b')])).toBe('none');
    expect(bundleStep([])).toBe('none');
  });
});

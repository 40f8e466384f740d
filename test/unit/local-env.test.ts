// scripts/local-env.mjs: a user's inputs file for `npm run local`, and the runner's debug filter.
import { describe, expect, it } from 'vitest';
import { logFilter, parseInputsFile } from '../../scripts/local-env.mjs';

const KNOWN = new Set(['model-version', 'preset', 'psnr-thresholds', 'extra-args', 'hf-token']);

describe('parseInputsFile', () => {
  it('reads name=value lines, quoted values with escapes, INPUT_ names; skips comments and blanks', () => {
    const text = '# mine\nmodel-version = acme/sd\n\npreset=ios\npsnr-thresholds="unet=40\\ntext_encoder=38"\nINPUT_HF-TOKEN=hf_x\nexport extra-args=\'--a b\'\n';
    expect(parseInputsFile(text, KNOWN)).toEqual({
      inputs: { 'model-version': 'acme/sd', preset: 'ios', 'psnr-thresholds': 'unet=40\ntext_encoder=38', 'hf-token': 'hf_x', 'extra-args': '--a b' },
      errors: [],
    });
  });

  it('names the line of an unknown input, a missing =, an unclosed quote and a repeated input', () => {
    const text = 'model-version=a/b\nmodel-vesion=a/b\njust words\npreset="ios\nmodel-version=c/d\n';
    expect(parseInputsFile(text, KNOWN).errors).toEqual([
      'line 2: "model-vesion" is not an input of this entry',
      'line 3: not name=value',
      'line 4: the value of preset opens a double quote it does not close',
      'line 5: model-version is given twice',
    ]);
  });
});

describe('logFilter', () => {
  it('hides ::debug:: lines unless debugging, and nothing else', () => {
    expect(['::debug::x', '::warning::y', 'plain', ' ::debug::indented'].filter(logFilter(false))).toEqual(['::warning::y', 'plain', ' ::debug::indented']);
    expect(['::debug::x'].filter(logFilter(true))).toEqual(['::debug::x']);
  });
});

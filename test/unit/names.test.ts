// INPUT_NAMES is the code's single list of the action's inputs: action.yml's (read with yaml), in
// action.yml's order. The outputs are checked against the three action.yml files in outputs.test.
import { describe, expect, it } from 'vitest';
import { INPUT_NAMES } from '../../src/inputs/names.js';
import { ACTION } from './fixtures.js';

describe('input names', () => {
  it('INPUT_NAMES equals the inputs of action.yml, in order', () => {
    expect([...INPUT_NAMES]).toEqual(Object.keys(ACTION.inputs));
  });

  it('marks model-version as the only required input', () => {
    const required = Object.entries(ACTION.inputs).filter(([, spec]) => spec?.required === true).map(([name]) => name);
    expect(required).toEqual(['model-version']);
  });
});

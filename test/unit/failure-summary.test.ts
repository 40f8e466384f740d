// src/summary/failure.ts: the step summary of a run a stage ended by throwing.
import { describe, expect, it } from 'vitest';
import { Halt } from '../../src/halt.js';
import { renderFailure } from '../../src/summary/failure.js';

describe('renderFailure', () => {
  it('a Halt: the stage and its title, each error, and the plan', () => {
    const text = renderFailure({ stage: 'budget', commands: [['python', '-m', 'x', '--convert-unet']] }, new Halt(['the unet needs 9 GiB\nof 7'], 'Budget'));
    expect(text).toContain('**Stage:** budget (Budget)');
    expect(text).toContain('- the unet needs 9 GiB\n  of 7');
    expect(text).toContain('```\npython -m x --convert-unet\n```');
  });

  it('any other error: its message; before the plan, says that nothing ran', () => {
    const text = renderFailure({ stage: 'inputs' }, new Error('boom'));
    expect(text).toContain('**Stage:** inputs\n');
    expect(text).toContain('- boom');
    expect(text).toContain('Nothing was planned yet: no converter process ran, nothing was installed.');
  });
});

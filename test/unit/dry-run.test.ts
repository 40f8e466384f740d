import { describe, expect, it } from 'vitest';
import { dryRunChecks } from '../../src/summary/dry-run.js';
import type { ModelRevision } from '../../src/hub/models.js';
import { parseInputs } from '../../src/inputs/parse.js';
import type { InputName } from '../../src/inputs/names.js';
import { ctx, raw } from './fixtures.js';

function parsedConfig(overrides: Partial<Record<InputName, string>>) {
  const parsed = parseInputs(raw(overrides), ctx());
  if (!parsed.config) throw new Error(parsed.errors.join('\n'));
  return parsed.config;
}

const resolved: ModelRevision = { id: 'acme/sd', revision: 'a'.repeat(40), resolved: true, files: [{ rfilename: 'model_index.json' }, { rfilename: 'unet/config.json' }] };

describe('what a dry run reports', () => {
  it('names the commit each model resolves to, with the revision asked for', () => {
    const config = parsedConfig({ 'model-version': 'acme/sd', 'model-revision': 'v2' });
    const lines = dryRunChecks(config, { models: [resolved, { id: 'acme/vae', revision: 'main', resolved: false, files: [] }], kind: {} });
    expect(lines[0]).toBe(`\`acme/sd\`@v2 resolves to commit \`${'a'.repeat(40)}\` (2 files).`);
    expect(lines[1]).toBe('`acme/vae`@main could not be resolved on the Hub: a real run would go on keyed by the revision name.');
    expect(lines[2]).toBe('Model kind: consistent with `xl-version: false`.');
  });

  it("gives the kind check's error or warning instead of the all-clear", () => {
    const config = parsedConfig({ 'model-version': 'acme/sd' });
    expect(dryRunChecks(config, { models: [resolved], kind: { error: 'Input `xl-version` is false, but ...' } })).toContain('Model kind: Input `xl-version` is false, but ...');
    expect(dryRunChecks(config, { models: [resolved], kind: { warning: 'Could not check' } })).toContain('Model kind: Could not check');
  });

  it("says whether skip-if-unchanged would skip, from the release's verdict", () => {
    const config = parsedConfig({ 'model-version': 'acme/sd' });
    expect(dryRunChecks(config, { models: [resolved], kind: {}, refresh: { current: true, lines: ['Unchanged: m.json matches.'] } }).at(-1)).toBe('skip-if-unchanged: a real run would skip. Unchanged: m.json matches.');
    expect(dryRunChecks(config, { models: [resolved], kind: {}, refresh: { current: false, lines: ['Converting: x.', '- y'] } }).at(-1)).toBe('skip-if-unchanged: a real run would convert. Converting: x. - y');
  });

  it('says what the budget would do on this runner', () => {
    const config = parsedConfig({ 'model-version': 'acme/sd' });
    const line = (budget: Parameters<typeof dryRunChecks>[1]['budget']) => dryRunChecks(config, { models: [resolved], kind: {}, budget }).find((l) => l.startsWith('Budget'));
    expect(line(undefined)).toBeUndefined();
    expect(line({ memory: '6.5 GiB', refused: [], warned: [], disk: 'ok' })).toBe('Budget on this runner (6.5 GiB of memory): a real run would go on, every process within its memory. The figures are in the log and the summary.');
    expect(line({ memory: '5.0 GiB', refused: ['Convert unet (6.2 GiB)'], warned: ['Bundle Resources (2.1 GiB)'], disk: 'refuse' })).toBe(
      "Budget on this runner (5.0 GiB of memory): a real run would refuse Convert unet (6.2 GiB) (over the runner's memory); warn that Bundle Resources (2.1 GiB) would swap; refuse for lack of disk. The figures are in the log and the summary.",
    );
  });
});

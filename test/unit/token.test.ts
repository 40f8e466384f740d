import { describe, expect, it } from 'vitest';
import { tokenProblem, type ModelRevision } from '../../src/hub/models.js';

const model = (id: string, extra: Partial<ModelRevision>): ModelRevision => ({ id, revision: 'a'.repeat(40), resolved: true, files: [], ...extra });

describe('when a token is needed', () => {
  it('not for public models, nor whenever one is given', () => {
    expect(tokenProblem([model('acme/sd', { access: 'public' }), model('acme/cn', { access: 'public' })], '')).toBeUndefined();
    expect(tokenProblem([model('acme/sd', { access: 'gated' }), model('acme/p', { resolved: false, refusedWith: 401 })], 'hf_x')).toBeUndefined();
  });

  it('for a gated model: names it, and says the account must accept its terms', () => {
    const problem = tokenProblem([model('acme/sd', { access: 'public' }), model('stabilityai/sd3', { access: 'gated' })], '');
    expect(problem).toMatch(/^Input `hf-token` is empty, but stabilityai\/sd3 is gated on the Hub/);
    expect(problem).toContain("accepted the model's terms");
    expect(problem).not.toContain('acme/sd');
  });

  it('for a private model, or one the Hub refuses to list without a token', () => {
    expect(tokenProblem([model('acme/mine', { access: 'private' })], '')).toMatch(/acme\/mine is private on the Hub: .*read access/);
    expect(tokenProblem([model('acme/gone', { resolved: false, refusedWith: 401, revision: 'main' })], '')).toMatch(/refused to list acme\/gone \(401\): the repository is private, or there is none of that name/);
  });
});

// scripts/release.mjs: what the release workflow checks and drafts, pure.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { changelogSection, checkRelease, parseTag, releasePlan } from '../../scripts/release.mjs';
import { REPO_ROOT } from '../support/action-runner.mjs';

const CHANGELOG = `# Changelog

## [Unreleased]
- next thing

## [1.2.0] - 2027-01-02
### Added
- a thing

## 1.1.0
### Fixed
- another

## [1.0.0]

[Unreleased]: https://example.com/compare/v1.2.0...HEAD
[1.2.0]: https://example.com/releases/tag/v1.2.0
`;

describe('release tags and notes', () => {
  it('takes vX.Y.Z only, and names its major tag', () => {
    expect(parseTag('v1.2.3')).toEqual({ version: '1.2.3', major: 'v1' });
    expect(parseTag('v10.0.0')).toEqual({ version: '10.0.0', major: 'v10' });
    for (const bad of ['1.2.3', 'v1.2', 'v1.2.3-rc.1', 'v01.2.3', 'v1.2.3\n', ' v1.2.3']) expect(parseTag(bad)).toBeUndefined();
  });

  it("reads a version's section, bracketed or not, up to the next heading or the link references", () => {
    expect(changelogSection(CHANGELOG, '1.2.0')).toBe('### Added\n- a thing');
    expect(changelogSection(CHANGELOG, '1.1.0')).toBe('### Fixed\n- another');
    expect(changelogSection(CHANGELOG, '1.0.0')).toBeUndefined(); // empty
    expect(changelogSection(CHANGELOG, '1.3.0')).toBeUndefined();
    expect(changelogSection(CHANGELOG, '1.2')).toBeUndefined();
  });

  it('refuses a tag that package.json or the changelog does not carry, saying what to do', () => {
    expect(checkRelease('v1.2.0', { packageVersion: '1.2.0', changelog: CHANGELOG })).toEqual({ problems: [], version: '1.2.0', major: 'v1', notes: '### Added\n- a thing' });
    expect(checkRelease('v1.3.0', { packageVersion: '1.2.0', changelog: CHANGELOG }).problems).toEqual([
      'package.json says version 1.2.0, the tag v1.3.0: bump package.json in the tagged commit',
      'CHANGELOG.md has no section "## [1.3.0]" with text: move the Unreleased entries under it',
    ]);
    expect(checkRelease('latest', { packageVersion: '1.2.0', changelog: CHANGELOG }).problems[0]).toMatch(/is not a release tag/);
    expect(releasePlan('v1.2.0', 'v1').at(-1)).toBe('git tag -f v1 v1.2.0^{commit} && git push -f origin refs/tags/v1');
  });

  it("the repository's own package.json and CHANGELOG.md can release their version", () => {
    const version = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    const result = checkRelease(`v${version}`, { packageVersion: version, changelog: readFileSync(path.join(REPO_ROOT, 'CHANGELOG.md'), 'utf8') });
    expect(result.problems).toEqual([]);
    expect(result.notes).toMatch(/^The first release|^### /);
  });
});

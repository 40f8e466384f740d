// What the release workflow (.github/workflows/release.yml) decides, kept here so that it is tested
// and can be run by hand:
//   node scripts/release.mjs check v1.2.3    the tag is vX.Y.Z, package.json says X.Y.Z, and
//                                             CHANGELOG.md has a section for it; prints the major tag
//   node scripts/release.mjs notes v1.2.3    that section's text, the draft release's notes
//   node scripts/release.mjs plan v1.2.3     what the workflow will do (its dry run), nothing done
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `v1.2.3` -> its parts; undefined for anything else (pre-releases are not moved onto vX).
 * @param {string} tag
 */
export function parseTag(tag) {
  const m = /^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/.exec(tag);
  if (!m) return undefined;
  return { version: `${m[1]}.${m[2]}.${m[3]}`, major: `v${m[1]}` };
}

/**
 * The body of `## [X.Y.Z]` (or `## X.Y.Z`) in a Keep a Changelog file, without its heading and the
 * link references; undefined when there is no such section or it is empty.
 * @param {string} changelog @param {string} version
 */
export function changelogSection(changelog, version) {
  const lines = changelog.split('\n');
  const escaped = version.replace(/\./g, '\\.');
  const start = lines.findIndex((l) => new RegExp(`^## \\[?${escaped}\\]?( |$)`).test(l));
  if (start < 0) return undefined;
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => /^## /.test(l) || /^\[[^\]]+\]: /.test(l));
  const body = (end < 0 ? rest : rest.slice(0, end)).join('\n').trim();
  return body === '' ? undefined : body;
}

/**
 * Everything wrong with releasing this tag from these files, and what to do. Pure.
 * @param {string} tag @param {{ packageVersion: string, changelog: string }} files
 * @returns {{ problems: string[], version?: string, major?: string, notes?: string }}
 */
export function checkRelease(tag, files) {
  const parsed = parseTag(tag);
  if (!parsed) return { problems: [`${JSON.stringify(tag)} is not a release tag: vX.Y.Z, digits only (pre-releases are not released by this workflow)`] };
  const problems = [];
  if (files.packageVersion !== parsed.version) problems.push(`package.json says version ${files.packageVersion}, the tag ${tag}: bump package.json in the tagged commit`);
  const notes = changelogSection(files.changelog, parsed.version);
  if (!notes) problems.push(`CHANGELOG.md has no section "## [${parsed.version}]" with text: move the Unreleased entries under it`);
  return { problems, ...parsed, notes };
}

/** @param {string} tag @param {string} major */
export function releasePlan(tag, major) {
  return [
    `npm ci && npm test (CI, the dist check among it) on ${tag}'s commit`,
    `gh release create ${tag} --draft --verify-tag --title ${tag} --notes-file <CHANGELOG.md's section>`,
    `git tag -f ${major} ${tag}^{commit} && git push -f origin refs/tags/${major}`,
  ];
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [command, tag = ''] = process.argv.slice(2);
  const packageVersion = /** @type {{ version: string }} */ (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'))).version;
  const changelog = readFileSync(path.join(root, 'CHANGELOG.md'), 'utf8');
  const result = checkRelease(tag, { packageVersion, changelog });
  if (result.problems.length > 0 || !result.major) {
    console.error(`Cannot release ${tag}:\n  ${result.problems.join('\n  ')}`);
    process.exit(1);
  }
  if (command === 'check') console.log(result.major);
  else if (command === 'notes') console.log(result.notes);
  else if (command === 'plan') console.log(`Releasing ${tag} would:\n  ${releasePlan(tag, result.major).join('\n  ')}\n\nNotes:\n${result.notes}`);
  else {
    console.error('usage: node scripts/release.mjs check|notes|plan vX.Y.Z');
    process.exit(2);
  }
}

// Regenerates the Python locks with uv's resolver (the uv pinned in test/python/requirements.in,
// from the project's .venv: run `node scripts/python-env.mjs` first). Each lock is resolved for
// one platform and Python, with hashes, and against PyPI as it stood on EXCLUDE_NEWER, so running
// this again gives the same file until someone moves that date on purpose (see README, "Bumping
// the converter pin").
//   node scripts/python-lock.mjs          rewrite the locks
//   node scripts/python-lock.mjs --check  fail when a lock differs from what the resolver gives, or
//                                         when a dry-run install for its platform (wheels only, no
//                                         build, hashes required) cannot take it
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOCKS, EXCLUDE_NEWER, uvPath } from './python-locks.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const scratch = mkdtempSync(path.join(tmpdir(), 'python-lock-'));
let stale = 0;

for (const lock of LOCKS) {
  const out = path.join(scratch, path.basename(lock.output));
  const args = ['pip', 'compile', path.join(root, lock.input), '--python-platform', lock.platform, '--python-version', lock.python,
    '--generate-hashes', '--exclude-newer', EXCLUDE_NEWER, '--no-header', '--quiet', '-o', out];
  execFileSync(uvPath(root), args, { stdio: ['ignore', 'inherit', 'inherit'], cwd: root });
  const header = `# ${lock.about}\n# Made by \`node scripts/python-lock.mjs\` (uv pip compile ${lock.input} --python-platform ${lock.platform}\n# --python-version ${lock.python} --generate-hashes --exclude-newer ${EXCLUDE_NEWER}). Do not edit by hand.\n`;
  const text = header + readFileSync(out, 'utf8').replaceAll(path.join(root, ''), '');
  const target = path.join(root, lock.output);
  const current = (() => { try { return readFileSync(target, 'utf8'); } catch { return ''; } })();
  const count = text.split('\n').filter((l) => /^[a-z0-9]/i.test(l)).length;
  if (check) {
    if (current !== text) {
      stale += 1;
      console.error(`${lock.output} is not what the resolver gives for ${lock.input} (${lock.platform}, Python ${lock.python}): run node scripts/python-lock.mjs`);
    } else console.log(`${lock.output}: ${count} packages, as the resolver gives them`);
    stale += dryRun(lock, text) ? 0 : 1;
  } else {
    writeFileSync(target, text);
    console.log(`${lock.output}: ${count} packages for ${lock.platform}, Python ${lock.python}`);
  }
}
process.exit(stale ? 1 : 0);

/**
 * Installs the lock for its platform in a dry run (uv, against PyPI, into a scratch target):
 * every package but the declared sdists must come as a wheel, and every file must match its hash.
 * @param {import('./python-locks.mjs').Lock} lock @param {string} text
 */
function dryRun(lock, text) {
  const sdists = new Set(lock.sdists ?? []);
  /** @type {{ wheels: string[], sdists: string[] }} */
  const parts = { wheels: [], sdists: [] };
  let into = parts.wheels;
  for (const line of text.split('\n')) {
    const name = /^([A-Za-z0-9][A-Za-z0-9._-]*)==/.exec(line)?.[1];
    if (name) into = sdists.has(name.toLowerCase()) ? parts.sdists : parts.wheels;
    if (name || /^\s+--hash=/.test(line)) into.push(line);
  }
  let ok = true;
  for (const [kind, lines] of Object.entries(parts)) {
    if (!lines.length) continue;
    const file = path.join(scratch, `${path.basename(lock.output)}.${kind}`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    const args = ['pip', 'install', '--dry-run', '--quiet', '--target', path.join(scratch, 'target'), '--python-platform', lock.platform, '--python-version', lock.python,
      '--no-deps', '--require-hashes', '--exclude-newer', EXCLUDE_NEWER, ...(kind === 'wheels' ? ['--no-build'] : []), '-r', file];
    try {
      execFileSync(uvPath(root), args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: root });
    } catch (error) {
      ok = false;
      const stderr = /** @type {{ stderr?: Buffer }} */ (error).stderr?.toString() ?? '';
      console.error(`${lock.output}: a dry-run install for ${lock.platform}, Python ${lock.python} (${kind === 'wheels' ? 'wheels only' : 'the declared sdists'}) failed:\n${stderr}` +
        (kind === 'wheels' ? `A package with no wheel for the platform goes in its \`sdists\` list in scripts/python-locks.mjs.` : ''));
    }
  }
  if (ok) console.log(`${lock.output}: installs for ${lock.platform}, Python ${lock.python} (dry run: ${parts.sdists.length ? `${lock.sdists?.join(', ')} from source, the rest` : 'all'} as wheels, hashes checked)`);
  return ok;
}

// Regenerates the Python locks with uv's resolver (the uv pinned in test/python/requirements.in,
// from the project's .venv: run `node scripts/python-env.mjs` first). Each lock is resolved for
// one platform and Python, with hashes, and against PyPI as it stood on EXCLUDE_NEWER, so running
// this again gives the same file until someone moves that date on purpose (see README, "Bumping
// the converter pin").
//   node scripts/python-lock.mjs          rewrite the locks
//   node scripts/python-lock.mjs --check  fail when a lock differs from what the resolver gives
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
  } else {
    writeFileSync(target, text);
    console.log(`${lock.output}: ${count} packages for ${lock.platform}, Python ${lock.python}`);
  }
}
process.exit(stale ? 1 : 0);

// The Python locks: made with uv's resolver (the uv pinned in test/python/requirements.in, from the
// project's .venv: run `node scripts/python-env.mjs` first), each for one platform and Python, with
// hashes, against PyPI as it stood on EXCLUDE_NEWER (see CONTRIBUTING.md, "Bumping the converter pin").
//   node scripts/python-lock.mjs          rewrite the locks (re-resolve)
//   node scripts/python-lock.mjs --check  the blocking check (.ci/run): each lock pins every package
//                                         with a hash, satisfies its .in file exactly, and installs
//                                         for its platform in a dry run (scripts/lock-check.mjs).
//                                         It does not re-resolve, so a registry that back-fills
//                                         releases cannot fail it.
//   node scripts/python-lock.mjs --drift  re-resolve and say which locks the resolver would now
//                                         write differently (exit 1 if any): the scheduled relock
//                                         workflow's question, never a gate on a change.
//   node scripts/python-lock.mjs --only linux-x86_64
//                                         any mode, on the locks whose path contains the text only
//   node scripts/python-lock.mjs --exclude-newer 2027-01-01T00:00:00Z
//                                         move the PyPI date in scripts/python-locks.mjs (only that)
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOCKS, EXCLUDE_NEWER, uvPath } from './python-locks.mjs';
import { checkLock, parseLock, versionsOf } from './lock-check.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dateAt = process.argv.indexOf('--exclude-newer');
if (dateAt >= 0) {
  const date = process.argv[dateAt + 1] ?? '';
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(date) || Number.isNaN(Date.parse(date))) {
    console.error('--exclude-newer takes a UTC date and time such as 2027-01-01T00:00:00Z');
    process.exit(2);
  }
  const file = path.join(root, 'scripts', 'python-locks.mjs');
  const text = readFileSync(file, 'utf8');
  const moved = text.replace(/^export const EXCLUDE_NEWER = '[^']*';$/m, `export const EXCLUDE_NEWER = '${date}';`);
  if (moved === text && !text.includes(`'${date}'`)) throw new Error(`no EXCLUDE_NEWER line in ${file}`);
  writeFileSync(file, moved);
  console.log(`EXCLUDE_NEWER is now ${date}: run node scripts/python-lock.mjs to re-resolve against it`);
  process.exit(0);
}
const mode = process.argv.includes('--check') ? 'check' : process.argv.includes('--drift') ? 'drift' : 'write';
// `--only TEXT`: the locks whose path contains TEXT (to add a lock without re-resolving the others).
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt >= 0 ? process.argv[onlyAt + 1] ?? '' : undefined;
const chosen = only === undefined ? LOCKS : LOCKS.filter((lock) => lock.output.includes(only));
if (chosen.length === 0) {
  console.error(`--only ${only}: no lock's path contains it`);
  process.exit(2);
}
const scratch = mkdtempSync(path.join(tmpdir(), 'python-lock-'));

/** The resolver's environment for a lock: the macOS version it is for, when it names one. @param {import('./python-locks.mjs').Lock} lock */
function lockEnv(lock) {
  return lock.macosTarget ? { ...process.env, MACOSX_DEPLOYMENT_TARGET: lock.macosTarget } : process.env;
}
let failed = 0;

/** What the resolver gives for a lock now, with the header the file carries. @param {import('./python-locks.mjs').Lock} lock */
function resolve(lock) {
  const out = path.join(scratch, path.basename(lock.output));
  // Another lock's versions: its pins (hashes left out) as constraints, read from the file just written.
  // (Written under the scratch folder at the lock's own path, so that the `# via -c` lines name that lock.)
  const constraints = lock.versionsFrom ? path.join(scratch, lock.versionsFrom) : undefined;
  if (constraints && lock.versionsFrom) {
    mkdirSync(path.dirname(constraints), { recursive: true });
    writeFileSync(constraints, versionsOf(readFileSync(path.join(root, lock.versionsFrom), 'utf8')));
  }
  const args = ['pip', 'compile', path.join(root, lock.input), '--python-platform', lock.platform, '--python-version', lock.python,
    '--generate-hashes', '--exclude-newer', EXCLUDE_NEWER, ...(constraints ? ['-c', constraints] : []), '--no-header', '--quiet', '-o', out];
  execFileSync(uvPath(root), args, { stdio: ['ignore', 'inherit', 'inherit'], cwd: root, env: lockEnv(lock) });
  const within = lock.versionsFrom ? `\n# -c ${lock.versionsFrom} without its hashes` : '';
  const header = `# ${lock.about}\n# Made by \`node scripts/python-lock.mjs\` (uv pip compile ${lock.input} --python-platform ${lock.platform}\n# --python-version ${lock.python} --generate-hashes --exclude-newer ${EXCLUDE_NEWER}${within}). Do not edit by hand.\n` +
    (lock.notes ?? []).map((line) => `# ${line}\n`).join('');
  return header + readFileSync(out, 'utf8').replaceAll(path.join(root, ''), '').replaceAll(scratch + path.sep, '');
}

for (const lock of chosen) {
  const target = path.join(root, lock.output);
  const current = (() => { try { return readFileSync(target, 'utf8'); } catch { return ''; } })();
  if (mode === 'check') {
    const problems = await checkLock(lock, current, { root, uv: uvPath(root), excludeNewer: EXCLUDE_NEWER, env: lockEnv(lock) });
    if (problems.length > 0) {
      failed += 1;
      console.error(`${lock.output} does not hold for ${lock.input} (${lock.platform}, Python ${lock.python}):\n  ${problems.join('\n  ')}`);
    } else {
      console.log(`${lock.output}: ${parseLock(current).pins.size} packages, each pinned with the hash of every file of its version; exactly what ${lock.input} needs; installs for ${lock.platform}, Python ${lock.python} (dry run${lock.sdists?.length ? `, ${lock.sdists.join(', ')} from source` : ''})` +
        `${lock.versionsFrom ? `; the versions of ${lock.versionsFrom}` : ''}${lock.without?.length ? `; no ${lock.without.join(', ')}` : ''}`);
    }
    continue;
  }
  const text = resolve(lock);
  const count = parseLock(text).pins.size;
  if (mode === 'drift') {
    if (text !== current) {
      failed += 1;
      console.error(`${lock.output}: the resolver now gives something else for ${lock.input} (run node scripts/python-lock.mjs to rewrite it)`);
    } else console.log(`${lock.output}: ${count} packages, as the resolver gives them`);
  } else {
    writeFileSync(target, text);
    console.log(`${lock.output}: ${count} packages for ${lock.platform}, Python ${lock.python}`);
  }
}
process.exit(failed ? 1 : 0);

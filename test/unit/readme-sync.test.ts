// Keeps the README's input and output tables in step with the action metadata.
//
// Convention (also stated in the README above the Inputs table):
// - `## Inputs` has the columns | Name | Default | Description |, one row per input of action.yml,
//   in action.yml's order; Name is the input's name in backticks; Default is the default in
//   backticks, an EMPTY cell when the default is the empty string (or absent), and `*required*`
//   for a required input without a default.
// - `## Outputs` has the columns | Name | Description |, one row per output, in order.
// - Another action file one folder down (plan/action.yml, verify/action.yml, ...) is checked only
//   when the README has a heading that names it (e.g. "## The planner (`plan/action.yml`)"):
//   under that heading, the first table after a sub-heading starting with "Inputs", and the one
//   after a sub-heading starting with "Outputs", follow the same convention.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

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

/** Headings of a Markdown text, ignoring lines inside fenced code blocks. */
export function headings(lines: string[]): Heading[] {
  const out: Heading[] = [];
  let fence: string | null = null;
  lines.forEach((text, line) => {
    const f = /^\s*(`{3,}|~{3,})/.exec(text);
    if (f) {
      if (fence === null) fence = f[1]!;
      else if (f[1]!.startsWith(fence)) fence = null;
      return;
    }
    if (fence !== null) return;
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

const readme = readFileSync(join(root, 'README.md'), 'utf8');
const lines = readme.split(/\r?\n/);
const allHeadings = headings(lines);

/** The README's tables for one action file, or undefined when it has no section for it. */
function tablesFor(file: string): { inputs?: Table; outputs?: Table } | undefined {
  let scope: Heading[];
  let end: number;
  const pick = (hs: Heading[], word: string): Heading[] =>
    file === 'action.yml'
      ? hs.filter((h) => h.level === 2 && h.text === word)
      : hs.filter((h) => h.text.startsWith(word));
  if (file === 'action.yml') {
    scope = allHeadings;
    end = lines.length;
  } else {
    const owner = allHeadings.find((h) => h.text.includes(file));
    if (!owner) return undefined;
    end = sectionEnd(allHeadings, owner, lines.length);
    scope = allHeadings.filter((h) => h.line > owner.line && h.line < end);
  }
  const table = (word: string): Table | undefined => {
    const found = pick(scope, word);
    if (found.length > 1) {
      throw new Error(`README has ${found.length} "${word}" headings for ${file} (lines ${found.map((h) => h.line + 1).join(', ')})`);
    }
    const h = found[0];
    if (!h) return undefined;
    return firstTable(lines, h.line + 1, Math.min(sectionEnd(allHeadings, h, lines.length), end));
  };
  return { inputs: table('Inputs'), outputs: table('Outputs') };
}

describe('README tables match the action files', () => {
  const files = actionFiles();

  it('finds action.yml', () => {
    expect(files).toContain('action.yml');
  });

  for (const file of files) {
    const meta = parse(readFileSync(join(root, file), 'utf8')) as ActionMeta;
    const tables = tablesFor(file);
    const inputs = Object.entries(meta.inputs ?? {});
    const outputs = Object.entries(meta.outputs ?? {});

    it.skipIf(tables === undefined)(`${file}: Inputs table lists every input, in order, with its default`, () => {
      const t = tables?.inputs;
      if (inputs.length === 0 && t === undefined) return;
      expect(t, `README has no Inputs table for ${file}`).toBeDefined();
      expect(t!.header, `README line ${t!.line}: Inputs table columns`).toEqual(['Name', 'Default', 'Description']);
      const expected = inputs.map(([name, spec]) => `${name} | ${renderDefault(spec)}`);
      const actual = t!.rows.map((r) => `${unquote(r[0] ?? '')} | ${r[1] ?? ''}`);
      expect(actual, mismatch(`README Inputs table for ${file} (line ${t!.line})`, expected, actual)).toEqual(expected);
      const blank = t!.rows.filter((r) => !(r[2] ?? '').trim()).map((r) => r[0]);
      expect(blank, 'Inputs rows without a description').toEqual([]);
    });

    it.skipIf(tables === undefined)(`${file}: Outputs table lists every output, in order`, () => {
      const t = tables?.outputs;
      if (outputs.length === 0 && t === undefined) return;
      expect(t, `README has no Outputs table for ${file}`).toBeDefined();
      expect(t!.header, `README line ${t!.line}: Outputs table columns`).toEqual(['Name', 'Description']);
      const expected = outputs.map(([name]) => name);
      const actual = t!.rows.map((r) => unquote(r[0] ?? ''));
      expect(actual, mismatch(`README Outputs table for ${file} (line ${t!.line})`, expected, actual)).toEqual(expected);
      const blank = t!.rows.filter((r) => !(r[1] ?? '').trim()).map((r) => r[0]);
      expect(blank, 'Outputs rows without a description').toEqual([]);
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
});

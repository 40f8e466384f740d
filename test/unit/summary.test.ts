// renderSummary: the step summary's Parts table (part, PSNR, threshold, verdict, size, time) and the plan.
import { describe, expect, it } from 'vitest';
import { renderSummary, type SummaryInput } from '../../src/summary/summary.js';
import { parseInputs } from '../../src/inputs/parse.js';
import type { PsnrVerdict } from '../../src/verify/psnr.js';
import type { ConversionResult } from '../../src/convert/run.js';
import type { Config } from '../../src/config.js';
import { WORKSPACE, ctx, raw } from './fixtures.js';
import { makePlan } from '../../src/plan/plan.js';
import { planCommands } from '../../src/convert/run.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

function config(overrides: Parameters<typeof raw>[0] = {}): Config {
  const parsed = parseInputs(raw(overrides), ctx());
  if (!parsed.config) throw new Error(parsed.errors.join('\n'));
  return parsed.config;
}

const verdict = (part: PsnrVerdict['part'], psnr: number | null, threshold: number, check = `${part} baseline PyTorch to reference CoreML`): PsnrVerdict => ({
  part,
  check,
  psnr,
  threshold,
  passed: psnr !== null && psnr >= threshold,
  step: `Convert ${part}`,
});

const conversion: ConversionResult = {
  steps: [
    { label: 'Convert vae_decoder', argv: [], status: 'done', durationMs: 42_000, partTimes: { vae_decoder: 41_000 } },
    { label: 'Convert unet', argv: [], status: 'done', durationMs: 130_000, partTimes: { unet: 125_000 } },
    { label: 'Convert text_encoder', argv: [], status: 'done', durationMs: 20_000, partTimes: { text_encoder: 19_000 } },
  ],
  psnr: [],
  converterRejectedPsnr: false,
};

function input(fields: Partial<SummaryInput> = {}): SummaryInput {
  return {
    config: config({ 'psnr-thresholds': 'unet=40' }),
    commands: [['python', '-m', 'python_coreml_stable_diffusion.torch2coreml', '--model-version', 'stabilityai/stable-diffusion-2-1-base']],
    conversion,
    verdicts: [
      verdict('vae_decoder', 65.1, 35, 'vae_decoder baseline PyTorch to baseline CoreML'),
      verdict('unet', 38.2, 40),
      verdict('text_encoder', null, 35),
    ],
    missing: [],
    sizes: { 'a_unet.mlpackage': 1.5 * GiB, 'a_vae_decoder.mlpackage': 94 * MiB, 'a_text_encoder.mlpackage': 235 * MiB },
    packageParts: { 'a_unet.mlpackage': 'unet', 'a_vae_decoder.mlpackage': 'vae_decoder', 'a_text_encoder.mlpackage': 'text_encoder' },
    problems: [],
    ...fields,
  };
}

/** Cells of a Markdown table row, split on unescaped `|`. */
const cells = (row: string) =>
  row
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());

/** The table after a heading: header cells and rows of cells. */
function tableAfter(markdown: string, heading: string): { header: string[]; rows: string[][] } | undefined {
  const lines = markdown.split('\n');
  const at = lines.findIndex((l) => l.trim() === heading);
  if (at < 0) return undefined;
  let i = at + 1;
  while (i < lines.length && !lines[i]!.trim().startsWith('|')) {
    if (lines[i]!.startsWith('#')) return undefined;
    i++;
  }
  const header = cells(lines[i]!);
  const rows: string[][] = [];
  for (let j = i + 2; j < lines.length && lines[j]!.trim().startsWith('|'); j++) rows.push(cells(lines[j]!));
  return { header, rows };
}

describe('renderSummary: the Parts table', () => {
  const markdown = renderSummary(input());
  const table = tableAfter(markdown, '### Parts')!;
  const row = (part: string) => table.rows.find((r) => r[0] === part);

  it('has the columns part, PSNR, threshold, verdict, size and time, in that order', () => {
    expect(table).toBeDefined();
    const wanted = [/part/i, /psnr/i, /threshold/i, /verdict/i, /size/i, /time/i];
    expect(table.header).toHaveLength(6);
    table.header.forEach((h, i) => expect(h).toMatch(wanted[i]!));
  });

  it('has one row per part, each with six cells', () => {
    expect(table.rows.map((r) => r[0]).sort()).toEqual(['text_encoder', 'unet', 'vae_decoder']);
    for (const r of table.rows) expect(r).toHaveLength(6);
  });

  it('a passing part: figure, threshold, pass, size, time', () => {
    const r = row('vae_decoder')!;
    expect(r[1]).toContain('65.1');
    expect(r[1]).toContain('vae_decoder baseline PyTorch to baseline CoreML');
    expect(r[2]).toMatch(/\b35\b/);
    expect(r[3]).toMatch(/pass/i);
    expect(r[4]).toMatch(/94(\.0)? MiB/);
    expect(r[5]).toMatch(/41 s/);
  });

  it('a part under its own threshold fails, with that threshold shown', () => {
    const r = row('unet')!;
    expect(r[1]).toContain('38.2');
    expect(r[2]).toMatch(/\b40\b/);
    expect(r[3]).toMatch(/fail/i);
    expect(r[4]).toMatch(/1\.5 GiB/);
    expect(r[5]).toMatch(/2 min 5 s/);
  });

  it('nan/inf shows as such and fails', () => {
    const r = row('text_encoder')!;
    expect(r[1]).toMatch(/nan|inf/);
    expect(r[3]).toMatch(/fail/i);
  });

  it('says "not checked" for a part whose check never came', () => {
    const md = renderSummary(input({ verdicts: [], missing: ['unet'] }));
    const r = tableAfter(md, '### Parts')!.rows.find((x) => x[0] === 'unet')!;
    expect(r[3]).toMatch(/not checked/i);
  });

  it('escapes | inside cells so that every row keeps six cells', () => {
    const md = renderSummary(input({ verdicts: [verdict('unet', 58.2, 40, 'unet | odd | prefix')] }));
    const t = tableAfter(md, '### Parts')!;
    const r = t.rows.find((x) => x[0] === 'unet')!;
    expect(r).toHaveLength(6);
    expect(r[1]).toContain('unet \\| odd \\| prefix');
    expect(md).not.toMatch(/unet \| odd/);
  });

  it('rows for parts with packages but no checks (mmdit) show a size and a dash for the PSNR', () => {
    const md = renderSummary(input({ verdicts: [], packageParts: { 'a_mmdit.mlpackage': 'mmdit' }, sizes: { 'a_mmdit.mlpackage': 2 * GiB } }));
    const r = tableAfter(md, '### Parts')!.rows.find((x) => x[0] === 'mmdit')!;
    expect(r[4]).toMatch(/2(\.0)? GiB/);
    expect(r[1]).not.toMatch(/\d/);
  });
});

describe('renderSummary: the plan and the header', () => {
  it('shows every command of the plan, quoting arguments with spaces', () => {
    const commands = [
      ['python', '-m', 'python_coreml_stable_diffusion.torch2coreml', '--model-version', './my model', '-o', '/w/out'],
      ['python', '-m', 'python_coreml_stable_diffusion.chunk_mlprogram', '--mlpackage-path', '/w/out/x_unet.mlpackage', '-o', '/w/out'],
    ];
    const md = renderSummary(input({ commands }));
    expect(md).toContain("python -m python_coreml_stable_diffusion.torch2coreml --model-version './my model' -o /w/out");
    expect(md).toContain('python -m python_coreml_stable_diffusion.chunk_mlprogram --mlpackage-path /w/out/x_unet.mlpackage -o /w/out');
  });

  it('names the model and the output folder', () => {
    // A model and folder of their own: the commands fixture names the default model too.
    const md = renderSummary(input({ config: config({ 'model-version': 'acme/named-in-summary', 'output-dir': 'out/models' }) }));
    const [title, , settings] = md.split('\n');
    expect(title).toBe('## Core ML conversion of `acme/named-in-summary`');
    expect(settings).toBe(`SPLIT_EINSUM, ALL, macOS13 → \`${WORKSPACE}/out/models\``);
  });

  it('a dry run shows the plan and no Parts table', () => {
    const md = renderSummary(input({ config: config({ 'dry-run': 'true' }), conversion: undefined, verdicts: [] }));
    expect(md).toMatch(/dry run/i);
    expect(tableAfter(md, '### Parts')).toBeUndefined();
    expect(md).toContain('python -m python_coreml_stable_diffusion.torch2coreml --model-version stabilityai/stable-diffusion-2-1-base');
  });

  it("a dry run's plan lists each check process (python/parity.py) after its part's conversion", () => {
    const dry = config({ 'dry-run': 'true', 'check-compute-unit': 'CPU_AND_GPU' });
    const commands = planCommands(dry, makePlan(dry.conversion, dry.processPerComponent));
    const md = renderSummary(input({ config: dry, commands, conversion: undefined, verdicts: [] }));
    const lines = md.split('\n').filter((l) => l.includes('/python/lean_convert.py --model-version') || l.includes('/python/parity.py '));
    expect(lines.map((l) => (l.includes('/python/parity.py ') ? `check ${/--parity-part (\S+)/.exec(l)?.[1]}` : /--convert-(\S+)/.exec(l)?.[1]))).toEqual([
      'vae-decoder',
      'check vae_decoder',
      'unet',
      'check unet',
      'text-encoder',
      'check text_encoder',
    ]);
    expect(lines.filter((l) => l.includes('/python/parity.py ')).every((l) => l.endsWith('--check-compute-unit CPU_AND_GPU'))).toBe(true);
  });

  it('lists the problems', () => {
    const md = renderSummary(input({ problems: ['PSNR of unet is 38.2 dB, under the threshold of 40 dB.'] }));
    expect(md).toContain('PSNR of unet is 38.2 dB, under the threshold of 40 dB.');
  });
});

describe('renderSummary: the converter processes, estimated beside measured', () => {
  const measured: ConversionResult = {
    ...conversion,
    steps: [
      { label: 'Convert vae_decoder', argv: [], status: 'done', durationMs: 42_000, partTimes: {}, peakRssBytes: 2.1 * GiB },
      { label: 'Convert unet', argv: [], status: 'done', durationMs: 130_000, partTimes: {}, peakRssBytes: 8 * GiB },
      { label: 'Convert text_encoder', argv: [], status: 'not run', durationMs: 0, partTimes: {} },
    ],
  };
  const budget = {
    lines: ['Budget (the lean conversion; runner: 6.5 GiB of memory):', '  Convert unet: 6.2 GiB peak memory (swapping expected).'],
    estimates: [
      { label: 'Convert vae_decoder', peakBytes: 2.2 * GiB },
      { label: 'Convert unet', peakBytes: 6.2 * GiB },
      { label: 'Convert text_encoder', peakBytes: 2.4 * GiB },
    ],
  };
  const md = renderSummary(input({ conversion: measured, budget }));
  const table = tableAfter(md, '### Converter processes')!;
  const row = (label: string) => table.rows.find((r) => r[0] === label)!;

  it('has the columns step, status, time, estimated peak and measured peak', () => {
    expect(table.header).toEqual(['Step', 'Status', 'Time', 'Estimated peak', 'Measured peak']);
  });

  it('each process: its estimate, and its measured peak, marked when more than 25% over', () => {
    expect(row('Convert vae_decoder').slice(3)).toEqual(['2.2 GiB', '2.1 GiB']);
    expect(row('Convert unet').slice(3)).toEqual(['6.2 GiB', '8.0 GiB ⚠️ over the estimate']);
    // A process that did not run has an estimate and no measurement.
    expect(row('Convert text_encoder').slice(3)).toEqual(['2.4 GiB', '–']);
  });

  it('the budget as it was logged before install', () => {
    expect(md).toContain('### Budget\n\n```\nBudget (the lean conversion; runner: 6.5 GiB of memory):\n  Convert unet: 6.2 GiB peak memory (swapping expected).\n```');
  });

  it('without a budget the columns stay, empty', () => {
    const plain = tableAfter(renderSummary(input()), '### Converter processes')!;
    expect(plain.rows.every((r) => r[3] === '–' && r[4] === '–')).toBe(true);
  });
});

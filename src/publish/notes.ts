import type { PublishedNames } from '../package/names.js';
import { joinCommand } from '../package/split.js';
import type { PublishedFileRecord } from '../package/manifest.js';
import type { ZipResult } from '../package/zip.js';
import { formatBytes, tableLines } from '../format/markdown.js';
import { formatPsnr, type PsnrVerdict } from '../verify/psnr.js';

/**
 * Pure: the release body. Each variant (each job of a matrix) owns one section between markers,
 * which a later run replaces and other variants leave alone; the workflow's release-notes follow
 * the sections.
 */

export interface SectionInput {
  names: PublishedNames;
  model: { id: string; revision: string; sha: string | null; local: boolean };
  /** converterInputs(config). */
  options: Record<string, string>;
  verdicts: PsnrVerdict[];
  archives: ZipResult[];
  /** Every published file, the manifest and checksum file included. */
  files: PublishedFileRecord[];
  /** The checksum file's text. */
  sums: string;
  action: { name: string; version: string };
}

const begin = (base: string) => `<!-- coreml-action:begin ${base} -->`;
const end = (base: string) => `<!-- coreml-action:end ${base} -->`;
export function renderSection(input: SectionInput): string {
  const { names, model } = input;
  const lines: string[] = [begin(names.base), `### ${names.base}`, ''];
  const source = model.local ? `\`${model.id}\` (a local folder)` : `[\`${model.id}\`](https://huggingface.co/${model.id})`;
  const commit = model.sha && model.sha !== model.revision ? ` at commit \`${model.sha}\` (revision \`${model.revision}\`)` : model.local ? '' : ` at revision \`${model.revision}\``;
  lines.push(`Core ML conversion of ${source}${commit}, made by ${input.action.name} ${input.action.version} with Apple's torch2coreml.`, '');

  const options = Object.entries(input.options).filter(([k, v]) => v !== '' && v !== 'false' && k !== 'model-version' && k !== 'model-revision');
  lines.push(...tableLines(['Option', 'Value'], options.map(([k, v]) => [`\`${k}\``, v])), '');

  if (input.verdicts.length > 0) {
    lines.push('**PSNR** (Core ML against PyTorch)', '');
    lines.push(...tableLines(['Part', 'Check', 'PSNR', 'Threshold', 'Result'], input.verdicts.map((v) => [v.part, v.check, formatPsnr(v.psnr), `${v.threshold} dB`, v.passed ? 'pass' : 'FAIL'])), '');
  }

  lines.push('**Files**', '');
  lines.push(...tableLines(['File', 'Size', 'SHA-256'], input.files.map((f) => [`\`${f.name}\``, formatBytes(f.size), `\`${f.sha256}\``])), '');

  const split = input.archives.filter((a) => a.files.length > 1);
  if (split.length > 0) {
    lines.push('A release asset must be under 2 GiB, so these zips come in parts. Check the parts, join them in order, then unzip:', '');
    lines.push('```sh', `sha256sum -c ${names.sums}`);
    for (const a of split) lines.push(joinCommand(a.name, a.files.map((f) => f.name)));
    lines.push('```', '');
    for (const a of split) lines.push(`- \`${a.name}\` joined: ${formatBytes(a.size)}, sha256 \`${a.sha256}\``);
    lines.push('');
  }

  lines.push(`**Checksums** (\`sha256sum -c ${names.sums}\`)`, '', '```', input.sums.trimEnd(), '```', end(names.base));
  return lines.join('\n');
}

/**
 * The body with this variant's section in it: replacing its own earlier section, else after the
 * last section of another variant, else after whatever the release already says. The notes
 * are appended once.
 */
export function mergeBody(existing: string | null | undefined, base: string, section: string, notes: string): string {
  let body = (existing ?? '').replace(/\r\n/g, '\n');
  const from = body.indexOf(begin(base));
  const to = body.indexOf(end(base));
  if (from >= 0 && to > from) {
    body = body.slice(0, from) + section + body.slice(to + end(base).length);
  } else {
    const markers = [...body.matchAll(/<!-- coreml-action:end [^>]* -->/g)];
    const last = markers.at(-1);
    if (last?.index !== undefined) {
      const at = last.index + last[0].length;
      body = `${body.slice(0, at)}\n\n${section}${body.slice(at)}`;
    } else {
      body = body.trim() === '' ? section : `${body.trimEnd()}\n\n${section}`;
    }
  }
  const trimmedNotes = notes.trim();
  if (trimmedNotes !== '' && !body.includes(trimmedNotes)) body = `${body.trimEnd()}\n\n${trimmedNotes}`;
  return `${body.trimEnd()}\n`;
}

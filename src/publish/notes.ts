import type { ImageCheckResult } from '../backends/core-ai/image.js';
import type { BackendName, GitHubContext } from '../config.js';
import { githubAssetName } from '../github/releases.js';
import type { PublishedNames } from '../package/names.js';
import { joinCommand } from '../package/split.js';
import type { PublishedFileRecord, SingleFileRecord, SourceFileRecord } from '../package/manifest.js';
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
  /** The manifest's `singleFile` record, when model-version was a single file. */
  singleFile?: SingleFileRecord | null;
  /** Which converter made the models (config.backend); absent reads as core-ml. */
  backend?: BackendName;
  /** The end-to-end image check, with the two images' release download URLs (releaseAssetUrl). */
  image?: ImageSection;
}

/** What a section says each backend made, with what, and what its per-part PSNR compared. */
export const BACKEND_WORDS: Readonly<Record<BackendName, { conversion: string; tool: string; compared: string }>> = {
  'core-ml': { conversion: 'Core ML conversion', tool: "Apple's torch2coreml", compared: 'Core ML against PyTorch' },
  'core-ai': { conversion: 'Core AI conversion', tool: "Apple's coreai-torch", compared: 'Core AI runtime (coreai-core) against PyTorch' },
};

/** The image check as the release section and the model card show it. */
export interface ImageSection {
  result: Pick<ImageCheckResult, 'psnr' | 'identical' | 'minPsnr' | 'passed' | 'prompt' | 'seed' | 'steps' | 'guidance' | 'scheduler' | 'height' | 'width'>;
  /** Link destinations of the two images, already URL-encoded: release download URLs, or paths relative to the card. */
  urls: { coreai: string; diffusers: string };
}

/**
 * Pure: text (the prompt, the scheduler's name) as Markdown that renders as exactly these
 * characters: every ASCII punctuation character but `|` backslash-escaped (CommonMark allows it
 * for each), so no backtick, `*`, `[`, `<` or HTML comment, a section marker included, can start
 * a construct; runs of whitespace and control characters become one space. `|` is left to
 * tableCell, which every table cell passes through (two escapes would end the cell).
 */
export function markdownText(text: string): string {
  return text.replace(/[\s\p{Cc}]+/gu, ' ').replace(/[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{}~]/g, '\\$&');
}

/** Pure: one URL path segment, every character outside A-Z a-z 0-9 - . _ ~ percent-encoded (parentheses too: they end a Markdown link). */
export function urlSegment(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * Pure: where a release asset downloads from once the release is published,
 * `<server>/<owner>/<repo>/releases/download/<tag>/<name>`, each part encoded as one segment (a
 * tag `a/b` is `a%2Fb`, as GitHub writes it) and the name as GitHub stores it. Built rather than
 * read from the upload's browser_download_url: the section is rendered before any upload (a new
 * release is created with its body), and a draft's URL (`download/untagged-…/`) stops working
 * when the draft is published, while this one starts working then.
 */
export function releaseAssetUrl(github: Pick<GitHubContext, 'serverUrl' | 'repository'>, tag: string, name: string): string {
  const repo = (github.repository ?? '').split('/').map(urlSegment).join('/');
  return `${github.serverUrl.replace(/\/+$/, '')}/${repo}/releases/download/${urlSegment(tag)}/${urlSegment(githubAssetName(name))}`;
}

/**
 * The two images side by side, then what made them and how close they are: the same lines for
 * the release section and the model card (under their own headings).
 */
export function imageLines(image: ImageSection): string[] {
  const r = image.result;
  const psnr = r.identical ? 'identical images (infinite)' : formatPsnr(r.psnr);
  return [
    ...tableLines(['Core AI runtime (coreai-core)', 'diffusers (PyTorch)'], [[`![Core AI](${image.urls.coreai})`, `![diffusers](${image.urls.diffusers})`]]),
    '',
    ...tableLines(
      ['Setting', 'Value'],
      [
        ['Prompt', markdownText(r.prompt)],
        ['Seed', String(r.seed)],
        ['Steps', String(r.steps)],
        ['Guidance', String(r.guidance)],
        ['Scheduler', markdownText(r.scheduler)],
        ['Size', `${r.width}×${r.height}`],
        ['PSNR (8-bit RGB)', `${psnr} against a threshold of ${r.minPsnr} dB: ${r.passed ? 'pass' : 'FAIL'}`],
      ],
    ),
  ];
}

const begin = (base: string) => `<!-- coreml-action:begin ${base} -->`;
const end = (base: string) => `<!-- coreml-action:end ${base} -->`;
export function renderSection(input: SectionInput): string {
  const { names } = input;
  const words = BACKEND_WORDS[input.backend ?? 'core-ml'];
  const lines: string[] = [begin(names.base), `### ${names.base}`, ''];
  lines.push(...(input.singleFile ? singleFileLines(input.singleFile, input.action, words) : modelLines(input.model, input.action, words)), '');

  const options = Object.entries(input.options).filter(([k, v]) => v !== '' && v !== 'false' && k !== 'model-version' && k !== 'model-revision');
  lines.push(...tableLines(['Option', 'Value'], options.map(([k, v]) => [`\`${k}\``, v])), '');

  if (input.verdicts.length > 0) {
    lines.push(`**PSNR** (${words.compared})`, '');
    lines.push(...tableLines(['Part', 'Check', 'PSNR', 'Threshold', 'Result'], input.verdicts.map((v) => [v.part, v.check, formatPsnr(v.psnr), `${v.threshold} dB`, v.passed ? 'pass' : 'FAIL'])), '');
  }

  if (input.image) {
    lines.push('**End-to-end image** (the bundle run by the Core AI runtime, and diffusers from the same initial latents)', '');
    lines.push(...imageLines(input.image), '');
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

type Words = (typeof BACKEND_WORDS)[BackendName];
const madeBy = (action: SectionInput['action'], words: Words) => `made by ${action.name} ${action.version} with ${words.tool}`;
const hubLink = (repo: string) => `[\`${repo}\`](https://huggingface.co/${repo})`;

function modelLines(model: SectionInput['model'], action: SectionInput['action'], words: Words): string[] {
  const source = model.local ? `\`${model.id}\` (a local folder)` : hubLink(model.id);
  const commit = model.sha && model.sha !== model.revision ? ` at commit \`${model.sha}\` (revision \`${model.revision}\`)` : model.local ? '' : ` at revision \`${model.revision}\``;
  return [`${words.conversion} of ${source}${commit}, ${madeBy(action, words)}.`];
}

/**
 * A single file: what the diffusers folder was made of, byte for byte (the checkpoint and each
 * LoRA as given, with its sha256 and where it came from), the config at its commit, and the
 * diffusers that made the folder, so a reader can rebuild or check it.
 */
function singleFileLines(record: SingleFileRecord, action: SectionInput['action'], words: Words): string[] {
  const from = (f: SourceFileRecord) => (f.repo && f.commit ? `${hubLink(f.repo)} at commit \`${f.commit}\`` : 'the workspace');
  const row = (role: string, f: SourceFileRecord, scale: string) => [role, `\`${f.input}\``, from(f), formatBytes(f.size), `\`${f.sha256}\``, scale];
  const config = 'repo' in record.config ? `${hubLink(record.config.repo)} at commit \`${record.config.commit}\`` : `the folder \`${record.config.folder}\``;
  const diffusers = record.diffusers ? `diffusers ${record.diffusers}${record.torch ? ` (torch ${record.torch})` : ''}` : 'diffusers (version unknown)';
  return [
    `${words.conversion} of the single-file checkpoint \`${record.checkpoint.input}\` (${record.kind}), ${madeBy(action, words)}.`,
    '',
    `Made into a diffusers folder by ${diffusers}, with the configs and tokenizers of ${config}${record.loras.length > 0 ? ` and ${record.loras.length} LoRA(s) merged at their scale` : ''}.`,
    '',
    ...tableLines(['Role', 'File', 'From', 'Size', 'SHA-256', 'LoRA scale'], [row('checkpoint', record.checkpoint, '–'), ...record.loras.map((l) => row('LoRA', l, String(l.scale)))]),
  ];
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

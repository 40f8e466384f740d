import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { formatBytes, tableLines } from '../../format/markdown.js';
import { formatPsnr, type PsnrVerdict } from '../../verify/psnr.js';
import { MOCHI } from '../../verify/bundle/apps.js';
import { BACKEND_WORDS, imageLines, mergeBody, type ImageSection } from '../notes.js';
import type { BackendName } from '../../config.js';
import type { PublishedNames } from '../../package/names.js';
import { inFolder } from './plan.js';

/**
 * Pure: the model card (README.md) of the Hub repository. Each variant owns one section between
 * markers, replaced by its next commit; a card somebody wrote keeps its text and its front
 * matter, and only gains or updates the action's sections. The front matter is the action's
 * when it carries FRONT_MATTER_MARK: then each variant adds its tag to it.
 */

/** The first line of a front matter the action wrote (a YAML comment, invisible on the Hub). */
export const FRONT_MATTER_MARK = '# Written by coreml-stable-diffusion-action: edit this front matter (and drop this line) to keep it as you want it.';

/** What the Hub's API says of the source model (src/hub/client.ts). */
export interface SourceModel {
  id: string;
  revision: string;
  sha: string | null;
  local: boolean;
  access?: 'public' | 'gated' | 'private';
  /** Its card's front matter (the Hub's cardData), null when it has none. */
  card?: Record<string, unknown> | null;
}

export interface CardInput {
  /** owner/name of the repository the card is for. */
  repo: string;
  names: PublishedNames;
  variant: string;
  /** The variant's folder in the repository ('' the top). */
  folder: string;
  model: SourceModel;
  /** converterInputs(config): every input that decides what the converter makes. */
  options: Record<string, string>;
  verdicts: PsnrVerdict[];
  /** The files this variant commits, with their paths in the repository. */
  files: Array<{ path: string; size: number; sha256: string }>;
  xl: boolean;
  action: { name: string; version: string };
  /** Which converter made the models (config.backend); absent reads as core-ml. */
  backend?: BackendName;
  /** The end-to-end image check, each image linked relative to the card (cardImage). */
  image?: ImageSection;
}

/** The license fields of the source card that the Hub reads (license, license_name, license_link). */
export function licenseOf(card: Record<string, unknown> | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of ['license', 'license_name', 'license_link']) {
    const value = card?.[key];
    if (typeof value === 'string' && value.trim() !== '') out[key] = value.trim();
  }
  return out;
}

const hubLink = (id: string) => `[\`${id}\`](https://huggingface.co/${id})`;

function sourceLine(m: SourceModel): string {
  if (m.local) return `\`${m.id}\` (a local folder)`;
  const commit = m.sha ? ` at commit \`${m.sha}\`${m.revision !== m.sha ? ` (revision \`${m.revision}\`)` : ''}` : ` at revision \`${m.revision}\``;
  return `${hubLink(m.id)}${commit}`;
}

/** The license paragraph: copied from the source card, and what gating means for these files. */
function licenseLines(m: SourceModel): string[] {
  const license = licenseOf(m.card);
  const lines: string[] = [];
  if (m.local) lines.push('**License**: the source is a local folder; its license was not read.');
  else if (license.license) {
    const named = license.license_name ? `${license.license} (${license.license_name})` : license.license;
    const link = license.license_link ? ` ([text](${license.license_link}))` : '';
    lines.push(`**License**: \`${named}\`${link}, copied from the card of ${hubLink(m.id)}: these converted weights are under the same license.`);
  } else lines.push(`**License**: the card of ${hubLink(m.id)} names none; check its repository before using these weights.`);
  if (m.access === 'gated') lines.push('', `The source model is **gated**: its terms were accepted on [its page](https://huggingface.co/${m.id}) to download it, and they apply to these converted weights too.`);
  if (m.access === 'private') lines.push('', 'The source model is **private**.');
  return lines;
}

/** Which app loads which file of this variant. */
function appRows(input: CardInput): string[][] {
  if (input.backend === 'core-ai') return coreAiAppRows(input);
  const compiled = inFolder(input.folder, input.names.compiled);
  const packages = inFolder(input.folder, input.names.packages);
  const has = (p: string) => input.files.some((f) => f.path === p);
  const rows: string[][] = [];
  if (has(compiled)) {
    const repoName = input.repo.split('/')[1] ?? input.repo;
    const diffusersName = `${repoName}_${input.variant}_compiled.zip`;
    const fits = input.folder === '' && input.names.compiled === diffusersName;
    rows.push(['Hugging Face Diffusers app', `\`${compiled}\``, fits ? 'downloads it itself (`<repo>_<variant>_compiled.zip` at the top)' : `looks for \`${diffusersName}\` at the repository's top: publish with \`hub-path-in-repo: .\` and \`asset-prefix: ${repoName}\` for it`]);
    rows.push([MOCHI, `\`${compiled}\``, 'unzip it into the models folder (one folder per model)']);
    rows.push(['Guernika', `\`${compiled}\``, 'unzip it and add the folder']);
    rows.push(["Apple's Swift package and `StableDiffusionSample`", `\`${compiled}\``, `unzip it; pass the folder as \`--resource-path\`${input.xl ? ' with `--xl`' : ''}`]);
  }
  if (has(packages)) rows.push(["Apple's Python pipeline (`python_coreml_stable_diffusion.pipeline`)", `\`${packages}\``, 'unzip it; pass the folder as `-i`']);
  return rows;
}

/**
 * A Core AI bundle is loaded by Apple's Core AI diffusion runtime (the Swift package of
 * apple/coreai-models), not by the Core ML apps: each zip holds the bundle folder as it loads it.
 */
function coreAiAppRows(input: CardInput): string[][] {
  const zips = [input.names.compiled, input.names.packages].map((n) => inFolder(input.folder, n)).filter((p) => input.files.some((f) => f.path === p));
  return zips.map((zip) => ["Apple's Core AI diffusion runtime (`CoreAIDiffusionPipeline`, apple/coreai-models)", `\`${zip}\``, 'unzip it; load the folder (its `metadata.json` names the models)']);
}

/** One variant's section of the card, between its markers (the same markers as the release notes). */
export function renderCardSection(input: CardInput): string {
  const { names } = input;
  const words = BACKEND_WORDS[input.backend ?? 'core-ml'];
  const lines: string[] = [`<!-- coreml-action:begin ${names.base} -->`, `## ${input.variant} (\`${names.base}\`)`, ''];
  lines.push(`${words.conversion} of ${sourceLine(input.model)}, made by ${input.action.name} ${input.action.version} with ${words.tool}.`, '');
  lines.push(...licenseLines(input.model), '');

  lines.push('### How it was converted', '');
  lines.push(...tableLines(['Converter input', 'Value'], Object.entries(input.options).map(([k, v]) => [`\`${k}\``, v === '' ? '(default)' : v.replaceAll('\n', ' ')])), '');

  lines.push(`### PSNR (${words.compared})`, '');
  if (input.verdicts.length > 0) {
    lines.push(...tableLines(['Part', 'Check', 'PSNR', 'Threshold', 'Result'], input.verdicts.map((v) => [v.part, v.check, formatPsnr(v.psnr), `${v.threshold} dB`, v.passed ? 'pass' : 'FAIL'])), '');
  } else lines.push('No PSNR check ran (check-output-correctness was false).', '');

  if (input.image) {
    lines.push('### End-to-end image', '', 'The bundle run by the Core AI runtime, and diffusers from the same initial latents:', '');
    lines.push(...imageLines(input.image), '');
  }

  lines.push('### Which app loads which file', '');
  lines.push(...tableLines(['App', 'File', 'How'], appRows(input)), '');

  lines.push('### Files and checksums', '');
  lines.push(...tableLines(['File', 'Size', 'SHA-256'], input.files.map((f) => [`\`${f.path}\``, formatBytes(f.size), `\`${f.sha256}\``])), '');
  const sums = inFolder(input.folder, names.sums);
  const cd = input.folder === '' ? '' : `cd ${input.folder} && `;
  lines.push(`After downloading, \`${cd}sha256sum -c ${names.sums}\` checks them (\`${sums}\`); \`${inFolder(input.folder, names.manifest)}\` records the whole conversion.`);
  lines.push(`<!-- coreml-action:end ${names.base} -->`);
  return lines.join('\n');
}

/**
 * The front matter this variant wants: the Hub's metadata for a Core ML or Core AI text-to-image
 * model, tagged `coreml` or `coreai` (the other variants' tags kept). The Hub knows no Core AI
 * library: a Core AI variant sets no library_name (`coreml` would offer Core ML's snippets) and
 * keeps the one a Core ML variant of the same repository set (`existingLibrary`).
 */
export function frontMatterFields(input: CardInput, existingTags: readonly string[] = [], existingLibrary?: string): Record<string, unknown> {
  const coreAi = input.backend === 'core-ai';
  const tags = [...new Set([coreAi ? 'coreai' : 'coreml', 'stable-diffusion', 'text-to-image', ...existingTags, input.variant])];
  const library = coreAi ? existingLibrary : 'coreml';
  return {
    ...(library ? { library_name: library } : {}),
    pipeline_tag: 'text-to-image',
    ...(input.model.local ? {} : { base_model: input.model.id }),
    ...licenseOf(input.model.card),
    tags,
  };
}

/** Splits a card into its front matter (the YAML between the leading `---` lines) and its body. */
export function splitCard(text: string): { yaml?: string; body: string } {
  const normalized = text.replace(/\r\n/g, '\n');
  const match = /^---\n([\s\S]*?)\n---\n?/.exec(normalized);
  return match ? { yaml: match[1] ?? '', body: normalized.slice(match[0].length) } : { body: normalized };
}

const renderFrontMatter = (fields: Record<string, unknown>) => `---\n${FRONT_MATTER_MARK}\n${stringifyYaml(fields).trimEnd()}\n---\n`;

/**
 * The card with this variant's section in it. No card yet: the action's front matter, a title
 * and the section. A card of the action's: its front matter regenerated (tags of the other
 * variants kept), its section replaced. A hand-written card: everything kept as written, only
 * the section added or replaced (and a front matter added when it had none).
 */
export function mergeCard(existing: string | undefined, input: CardInput): string {
  const section = renderCardSection(input);
  if (existing === undefined || existing.trim() === '') {
    const title = `# ${input.repo.split('/')[1] ?? input.repo}\n\n${input.backend === 'core-ai' ? 'Core AI' : 'Core ML'} conversions of ${input.model.local ? `\`${input.model.id}\`` : hubLink(input.model.id)} for Apple Silicon (macOS, iOS, iPadOS), one section per variant.\n\n`;
    return renderFrontMatter(frontMatterFields(input)) + mergeBody(title, input.names.base, section, '');
  }
  const { yaml, body } = splitCard(existing);
  const merged = mergeBody(body, input.names.base, section, '');
  if (yaml === undefined) return renderFrontMatter(frontMatterFields(input)) + merged;
  if (!yaml.split('\n').some((line) => line.trim() === FRONT_MATTER_MARK)) return `---\n${yaml}\n---\n${merged}`;
  let tags: string[] = [];
  let library: string | undefined;
  try {
    const parsed = parseYaml(yaml) as { tags?: unknown; library_name?: unknown } | null;
    if (Array.isArray(parsed?.tags)) tags = parsed.tags.filter((t): t is string => typeof t === 'string');
    if (typeof parsed?.library_name === 'string') library = parsed.library_name;
  } catch {
    tags = [];
  }
  return renderFrontMatter(frontMatterFields(input, tags, library)) + merged;
}

import type { Config } from '../config.js';
import { IMAGE_CHECK_DIR, IMAGE_FILES, type ImageCheckResult } from '../backends/core-ai/image.js';
import { imageSize } from '../backends/core-ai/plan.js';
import type { HandoffReport } from '../handoff/stage.js';
import { COMPILED_SUFFIX, PSNR_PARTS } from '../converter/vocabulary.js';
import type { ConversionResult } from '../convert/run.js';
import { formatPsnr, type PsnrVerdict } from '../verify/psnr.js';
import { findingText, type BundleReport } from '../verify/bundle/check.js';
import type { CacheReport } from '../cache/cache.js';
import { KIND_LABELS } from '../verify/bundle/expect.js';
import { MOCHI } from '../verify/bundle/apps.js';
import type { PublishReport } from '../publish/stage.js';
import type { HubReport } from '../publish/hub/stage.js';
import { formatBytes, formatDuration, tableCell, tableLines } from '../format/markdown.js';
import type { SingleFileRecord, SourceFileRecord } from '../package/manifest.js';
import { measuredOverEstimate } from '../budget/verdict.js';

/** What the run found, stage by stage: main gathers it and writes it once, as the step summary. */
export interface RunReport {
  commands: string[][];
  conversion?: ConversionResult;
  verdicts: PsnrVerdict[];
  missing: string[];
  problems: string[];
  /** The bundle check, when Resources were verified. */
  bundle?: BundleReport;
  caches?: CacheReport[];
  /** What was packaged and published, when anything was. */
  published?: PublishReport;
  /** A dry run's checks (dryRunChecks), one line each. */
  dryRunChecks?: string[];
  /** model-version was a single file: what the diffusers folder was made of. */
  singleFile?: SingleFileRecord;
  /** The budget checked before install: its lines, and each process's estimated peak by step label. */
  budget?: BudgetSummary;
  /** split: convert: what was handed off to the finishing job. */
  handoff?: HandoffReport;
  /** backend core-ai: the end-to-end image check, when it ran. */
  image?: ImageCheckResult;
}

export interface BudgetSummary {
  lines: string[];
  estimates: Array<{ label: string; peakBytes?: number }>;
}

/** Everything the step summary shows: the run report, and what output-dir holds. */
export interface SummaryInput extends RunReport {
  config: Config;
  /** Package file name -> bytes on disk. */
  sizes: Record<string, number>;
  /** Package file name -> the part it holds, for the table's rows. */
  packageParts: Record<string, string>;
}

const table = (header: string[], rows: string[][]): string => tableLines(header, rows).join('\n');

/** The parts table: one row per part that has a package or a PSNR check. */
function partRows(input: SummaryInput): string[][] {
  const times: Record<string, number> = {};
  for (const step of input.conversion?.steps ?? []) Object.assign(times, step.partTimes);
  const parts = new Set<string>([...Object.values(input.packageParts), ...input.verdicts.map((v) => v.part)]);
  const rank = (part: string) => {
    const i = (PSNR_PARTS as readonly string[]).indexOf(part);
    return i === -1 ? PSNR_PARTS.length : i;
  };
  return [...parts].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b)).map((part) => {
    const checks = input.verdicts.filter((v) => v.part === part);
    const bytes = Object.entries(input.packageParts)
      .filter(([, p]) => p === part)
      .reduce((sum, [pkg]) => sum + (input.sizes[pkg] ?? 0), 0);
    const verdict = checks.length === 0 ? (input.missing.includes(part) ? '⚠️ not checked' : '–') : checks.every((c) => c.passed) ? '✅ pass' : '❌ fail';
    return [
      part,
      checks.map((c) => `${c.check}: ${formatPsnr(c.psnr)}${c.step === 'earlier run' ? ' (earlier run)' : ''}`).join('<br>') || '–',
      checks.length > 0 ? `${checks[0]?.threshold} dB` : '–',
      verdict,
      bytes > 0 ? formatBytes(bytes) : '–',
      times[part] !== undefined ? formatDuration(times[part] ?? 0) : '–',
    ];
  });
}

/** The single file, its config and LoRAs, each with its sha256: what was converted, byte for byte. */
export function renderSingleFile(record: SingleFileRecord): string {
  const where = (f: SourceFileRecord) => (f.repo && f.commit ? `${f.repo}@${f.commit.slice(0, 12)}` : 'workspace');
  const row = (role: string, f: SourceFileRecord, scale: string) => [role, `\`${tableCell(f.file)}\``, where(f), formatBytes(f.size), `\`${f.sha256}\``, scale];
  const config = 'repo' in record.config ? `\`${record.config.repo}\`@${record.config.commit.slice(0, 12)}` : `\`${tableCell(record.config.folder)}\``;
  return [
    '### Single-file checkpoint',
    '',
    `${record.kind}, configs and tokenizers from ${config}; made into a diffusers folder by diffusers ${record.diffusers ?? '(unknown)'}${record.torch ? ` (torch ${record.torch})` : ''}.`,
    '',
    table(['Role', 'File', 'From', 'Size', 'SHA-256', 'LoRA scale'], [row('checkpoint', record.checkpoint, '–'), ...record.loras.map((l) => row('LoRA', l, String(l.scale)))]),
  ].join('\n');
}

export function renderSummary(input: SummaryInput): string {
  const { config } = input;
  const o = config.conversion;
  const lines: string[] = [];
  lines.push(`## ${config.backend === 'core-ai' ? 'Core AI' : 'Core ML'} conversion of \`${o.modelVersion}\`${config.dryRun ? ' (dry run)' : ''}`);
  lines.push('');
  if (config.coreAi) {
    const { height, width } = imageSize(config);
    lines.push(`coreai-torch, ${height}×${width}, compression ${config.coreAi.compression}; each part checked with coreai-core's runtime against PyTorch → \`${o.outputDir}\``);
  } else {
    lines.push(`${o.attention}, ${o.computeUnit}, ${o.minDeploymentTarget}` + (o.quantizeNbits ? `, ${o.quantizeNbits}-bit` : '') + (o.chunkUnet ? ', chunked unet' : '') + ` → \`${o.outputDir}\``);
  }
  lines.push('');
  if (config.split.mode !== 'none') lines.push(splitLine(config.split.mode, input.handoff), '');
  if (input.problems.length > 0) {
    lines.push('### Problems');
    lines.push('');
    for (const p of input.problems) lines.push(`- ${p}`);
    lines.push('');
  }
  if (input.dryRunChecks && input.dryRunChecks.length > 0) {
    lines.push('### Dry run checks');
    lines.push('');
    for (const check of input.dryRunChecks) lines.push(`- ${check}`);
    lines.push('');
  }
  if (!config.dryRun) {
    lines.push('### Parts');
    lines.push('');
    lines.push(table(['Part', 'PSNR checks', 'Threshold', 'Verdict', 'Size on disk', 'Time'], partRows(input)));
    lines.push('');
    const steps = input.conversion?.steps ?? [];
    if (steps.length > 0) {
      lines.push('### Converter processes');
      lines.push('');
      const estimates = new Map((input.budget?.estimates ?? []).map((e) => [e.label, e.peakBytes]));
      const over = new Set(measuredOverEstimate(input.budget?.estimates ?? [], steps).map((w) => w.slice(0, w.indexOf(':'))));
      // A process the converter only skipped still ran (and took its time): its time and peak are shown.
      const ran = (s: (typeof steps)[number]) => s.status === 'done' || s.status === 'failed' || (s.status === 'skipped' && s.durationMs > 0);
      lines.push(
        table(
          ['Step', 'Status', 'Time', 'Estimated peak', 'Measured peak'],
          steps.map((s) => {
            const estimate = estimates.get(s.label);
            const measured = ran(s) && s.peakRssBytes !== undefined ? `${formatBytes(s.peakRssBytes)}${over.has(s.label) ? ' ⚠️ over the estimate' : ''}` : '–';
            return [s.label, s.note ? `${s.status} (${s.note})` : s.status, ran(s) ? formatDuration(s.durationMs) : '–', estimate !== undefined ? formatBytes(estimate) : '–', measured];
          }),
        ),
      );
      lines.push('');
      lines.push('Peak memory: estimated before install from the model\'s file sizes (src/budget/estimate.ts); measured as the process tree\'s resident memory, sampled every second.');
      lines.push('');
    }
  }
  if (input.image) lines.push(renderImageCheck(input.image), '');
  if (input.budget && input.budget.lines.length > 0) lines.push('### Budget', '', '```', ...input.budget.lines, '```', '');
  if (input.singleFile) lines.push(renderSingleFile(input.singleFile), '');
  if (input.bundle) lines.push(renderBundleSection(input.bundle), '');
  if (input.caches && input.caches.length > 0) lines.push(renderCaches(input.caches), '');
  if (input.published?.packaged) lines.push(renderPublished(input.published), '');
  lines.push('<details><summary>Plan: the converter commands</summary>');
  lines.push('');
  lines.push('```');
  for (const argv of input.commands) lines.push(argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(' '));
  lines.push('```');
  lines.push('');
  lines.push('</details>');
  return `${lines.join('\n')}\n`;
}

/** The end-to-end image check: the figures, and where the two images are (a step summary cannot show a runner's file). */
export function renderImageCheck(image: ImageCheckResult): string {
  const verdict = image.passed ? '✅ pass' : '❌ fail';
  const psnr = image.identical ? 'identical images' : formatPsnr(image.psnr);
  return [
    '### Image check',
    '',
    `The bundle generated an image with coreai-core's runtime; diffusers generated one from the same initial latents, prompt, scheduler (${tableCell(image.scheduler)}), ${image.steps} steps, guidance ${image.guidance}, seed ${image.seed}, ${image.height}×${image.width}.`,
    '',
    table(['PSNR of the two images', 'Threshold (image-min-psnr)', 'Verdict', 'Core AI runtime', 'diffusers'], [[psnr, `${image.minPsnr} dB`, verdict, formatDuration(image.coreaiSeconds * 1000), formatDuration(image.diffusersSeconds * 1000)]]),
    '',
    `Prompt: \`${image.prompt.replaceAll('`', "'")}\`. The two images are in output-dir's \`${IMAGE_CHECK_DIR}/\` (${IMAGE_FILES.coreai}, ${IMAGE_FILES.diffusers}), in the workflow artifact and, when published, beside the bundle on the release and the Hub.`,
  ].join('\n');
}

const model = (m: string) => (m.endsWith(COMPILED_SUFFIX) ? m.slice(0, -COMPILED_SUFFIX.length) : m);

/** What each cache restored (size, time) and whether it was saved. */
export function renderCaches(caches: CacheReport[]): string {
  const restored: Record<CacheReport['restored'], string> = { exact: 'hit', partial: 'partial hit', miss: 'miss', off: 'off' };
  const saved = (c: CacheReport) =>
    c.saved === 'saved' ? `saved${c.savedBytes ? `, ${formatBytes(c.savedBytes)}` : ''}` : c.saved === 'exists' ? 'already cached' : (c.saved ?? '–');
  return [
    '### Caches',
    '',
    table(
      ['Cache', 'Restored', 'Size', 'Time', 'Saved'],
      caches.map((c) => [c.of ? `${c.name} (${c.of})` : c.name, restored[c.restored], c.restoredBytes > 0 ? formatBytes(c.restoredBytes) : '–', c.restoreMs > 0 ? formatDuration(c.restoreMs) : '–', saved(c)]),
    ),
  ].join('\n');
}

/** The bundle check: verdict, the facts the apps read, and every finding. Also the verify entry's summary. */
export function renderBundleSection(report: BundleReport, heading = '###'): string {
  const { facts } = report;
  const errors = report.findings.filter((f) => f.severity === 'error').length;
  const lines = [`${heading} Bundle check: ${report.passed ? '✅ passed' : `❌ ${errors} problem(s)`}`, ''];
  const rows: string[][] = [
    ['Models', `${facts.models.map(model).join(', ') || 'none'} (${formatBytes(facts.sizeBytes)})`],
    [`Kind, as ${MOCHI} detects it`, facts.kind ? `${KIND_LABELS[facts.kind]} (from ${facts.unetModel})` : '–'],
    [`Attention, as ${MOCHI} and Guernika detect it`, facts.attention ?? '–'],
    ['Image size', facts.imageSize ? `${facts.imageSize.width}×${facts.imageSize.height} (from ${facts.imageSize.from})` : '–'],
    ['Unet weights', facts.unetModel ? (facts.quantizedBits === null ? 'float16' : `palettized${facts.quantizedBits ? `, ${facts.quantizedBits} bits` : ''}`) : '–'],
    ['Chunked unet', facts.chunked ? 'yes' : 'no'],
    ['CLIP vocabulary', facts.vocabularySize === null ? '–' : `${facts.vocabularySize} entries`],
  ];
  if (facts.controlnets.length > 0) rows.push(['ControlNets', facts.controlnets.join(', ')]);
  lines.push(table(['Fact', 'Value'], rows));
  if (report.findings.length > 0) {
    lines.push('');
    for (const f of report.findings) lines.push(`- ${f.severity === 'error' ? '❌' : '⚠️'} ${tableCell(findingText(f))}`);
  }
  return lines.join('\n');
}

/** The files made, their sizes and sha256, and where they went (artifact, release). */
export function renderPublished(report: PublishReport): string {
  const packaged = report.packaged;
  if (!packaged) return '';
  const urls = new Map((report.release?.assets ?? []).map((a) => [a.name, a.url]));
  const lines = ['### Published', ''];
  const where: string[] = [];
  if (report.artifact) where.push(`workflow artifact [${report.artifact.name}](${report.artifact.url})`);
  if (report.artifactSkipped) where.push(`no workflow artifact (${report.artifactSkipped})`);
  if (report.release) where.push(`release [${report.release.tag}](${report.release.url})${report.release.draft ? ' (draft)' : ''}`);
  lines.push(`Zipped in ${formatDuration(packaged.durationMs)} into \`${packaged.dir}\`${where.length > 0 ? `; ${where.join(', ')}` : ''}.`, '');
  lines.push(
    table(
      ['File', 'Size', 'SHA-256', 'Link'],
      packaged.files.map((f) => [`\`${f.name}\``, formatBytes(f.size), `\`${f.sha256}\``, urls.has(f.name) ? `[download](${urls.get(f.name)})` : '–']),
    ),
  );
  const split = packaged.archives.filter((a) => a.files.length > 1);
  if (split.length > 0) {
    lines.push('', 'Join the parts with `cat` in order:', '');
    for (const a of split) lines.push(`- \`cat ${a.files.map((f) => f.name).join(' ')} > ${a.name}\` (sha256 \`${a.sha256}\`)`);
  }
  if (report.hub) lines.push('', renderHub(report.hub));
  return lines.join('\n');
}

/** The Hub commit (or why none was made) and the variant's files in the repository. */
export function renderHub(hub: HubReport): string {
  const repo = `[${hub.repo}](${hub.url})${hub.created ? ' (created by this step)' : ''}`;
  const head = hub.head ? ` [\`${hub.head.slice(0, 12)}\`](${hub.url}/commit/${hub.head})` : '';
  const lines = ['#### Hugging Face Hub', ''];
  if (hub.commit) lines.push(`Committed to ${repo} on \`${hub.revision}\`: [\`${hub.commit.oid.slice(0, 12)}\`](${hub.commit.url}), ${hub.files.filter((f) => f.uploaded).length} file(s) added or updated, ${hub.deleted.length} deleted.`);
  else lines.push(`No new commit: ${repo} on \`${hub.revision}\` already holds every file with the same content (compared by sha256 and git blob id), at${head || ' its head'}.`);
  if (hub.commit?.answerLost) lines.push('', "The Hub's answer to the commit was lost and its retry was refused (412: the branch had moved), but the branch's head holds exactly the files of this commit: the first attempt had committed, and this is that commit.");
  lines.push('', table(['File', 'Size', 'SHA-256', 'This run'], hub.files.map((f) => [`[\`${f.path}\`](${hub.url}/blob/${hub.revision}/${f.path})`, formatBytes(f.size), `\`${f.sha256}\``, f.uploaded ? 'uploaded' : 'unchanged'])));
  if (hub.deleted.length > 0) lines.push('', `Deleted (older files of this variant): ${hub.deleted.map((p) => `\`${p}\``).join(', ')}.`);
  return lines.join('\n');
}

/** skip-if-unchanged found the release current: the run ends before any setup. */
export function renderSkipped(verdictLine: string | undefined): string {
  return `## Skipped: unchanged\n\n${verdictLine} Nothing was installed or converted.\n`;
}

/** Pure: what this job of a split conversion did, and what the other does. */
export function splitLine(mode: 'convert' | 'finish', handoff?: HandoffReport): string {
  if (mode === 'finish') {
    return 'The finishing job of a split conversion: the packages came from the converting job\'s hand-off (checked: this conversion, every sha256 as written); here the Core ML half of each parity check ran, the Resources were compiled, verified and published.';
  }
  const what = 'The converting job of a split conversion: the parts were converted, quantized and chunked here, and each part\'s PyTorch reference outputs saved; the Core ML half of the parity check, the Resources and publishing are the finishing job\'s (`split: finish`, on macOS).';
  return handoff
    ? `${what} Handed off as the workflow artifact \`${handoff.name}\` (${handoff.files} files, ${formatBytes(handoff.bytes)}).`
    : `${what} Nothing was handed off: the conversion failed here.`;
}

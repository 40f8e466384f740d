import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import * as core from '@actions/core';
import type { Config } from '../../config.js';
import { diskFacts, type ConversionResult, type PsnrResult, type StepReport } from '../../convert/run.js';
import { diagnose, lastErrorLine, type Diagnosis } from '../../converter/diagnose.js';
import { childEnvironment, runProcess, type ProcessResult } from '../../process.js';
import { info } from '../../log.js';
import { writeState } from '../../convert/state.js';
import { IMAGE_CHECK_DIR, IMAGE_FILES, type ImageCheckResult } from './image.js';
import { BUNDLE_DIR, coreAiArguments, imageRecord, parityRecord, psnrPartOf, compressionOf, twinsDir, type CoreAiStep } from './plan.js';

/** What python/coreai_export.py writes after checking a part (--parity-json). */
interface ParityRecord {
  part: string;
  component: string;
  compression: string;
  psnr: number | null;
  max_abs_diff?: number;
  /** --skip-parity: saved unchecked. */
  skipped?: boolean;
}

/** What python/coreai_image.py writes (--json). */
interface ImageRecord {
  psnr: number | null;
  prompt: string;
  seed: number;
  steps: number;
  guidance: number;
  scheduler: string;
  height: number;
  width: number;
  coreai_seconds: number;
  diffusers_seconds: number;
}

/** A helper's JSON record, undefined when missing or unreadable. */
export const readJson = <T>(file: string): T | undefined => {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
};

/** Pure: the check a part's parity record gives, under the gate's name for the part. */
export function parityCheck(config: Config, step: CoreAiStep & { kind: 'coreai-export' }, record: ParityRecord | undefined): PsnrResult | undefined {
  if (!record || record.skipped) return undefined;
  const psnr = typeof record.psnr === 'number' && Number.isFinite(record.psnr) ? record.psnr : null;
  const compression = compressionOf(config, step.part);
  const precision = step.twin ? 'float32 twin' : 'float16';
  const check = compression === 'none' ? `Core AI runtime (${precision}) to PyTorch` : `Core AI runtime (${compression}, ${precision}) to PyTorch (float)`;
  return { part: psnrPartOf(config, step.part), check, psnr, printed: psnr === null ? String(record.psnr) : psnr.toFixed(2), step: step.label };
}

/** Pure: the image check's record as the gate reads it; identical images (PSNR infinite) pass. */
export function imageResult(record: ImageRecord | undefined, minPsnr: number, folder: string): ImageCheckResult | undefined {
  if (!record) return undefined;
  const psnr = typeof record.psnr === 'number' && Number.isFinite(record.psnr) ? record.psnr : null;
  // JSON holds no infinity: a record whose figure is null (or absent) stands for identical images.
  const identical = psnr === null && (record.psnr === null || record.psnr === undefined);
  return {
    psnr,
    identical,
    minPsnr,
    passed: psnr === null ? identical : psnr >= minPsnr,
    prompt: record.prompt,
    seed: record.seed,
    steps: record.steps,
    guidance: record.guidance,
    height: record.height,
    width: record.width,
    scheduler: record.scheduler,
    coreaiSeconds: record.coreai_seconds,
    diffusersSeconds: record.diffusers_seconds,
    images: { coreai: path.join(folder, IMAGE_FILES.coreai), diffusers: path.join(folder, IMAGE_FILES.diffusers) },
  };
}

/** The image check a restored output-dir holds (its record beside the two images), as the gate reads it. */
export function imageResultFromFolder(config: Config): ImageCheckResult | undefined {
  const { outputDir } = config.conversion;
  return config.coreAi?.image ? imageResult(readJson<ImageRecord>(imageRecord(outputDir)), config.coreAi.image.minPsnr, path.join(outputDir, IMAGE_CHECK_DIR)) : undefined;
}

/** A failed Core AI process: its own one-line refusal (exit 2), else what the converter diagnoses say. */
export function diagnoseCoreAi(end: Pick<ProcessResult, 'exitCode' | 'signal' | 'tail'>, disk?: { freeBytes: number; outputBytes: number }): Diagnosis {
  if (end.exitCode === 2) {
    const said = [...end.tail].reverse().find((l) => l.trim() !== '')?.trim();
    return { title: `The helper refused its arguments: ${said ?? 'it said nothing'}`, hints: ['The log group of this step above has the full output.'] };
  }
  const found = diagnose(end, disk);
  // A known diagnosis (out of memory, disk) does not name the Python error; the generic one does.
  const error = lastErrorLine(end.tail);
  const unnamed = error !== undefined && !found.title.includes(error) ? ` (${error})` : '';
  return { ...found, title: found.title.replace(/^The converter\b/, 'The Core AI helper') + unnamed };
}

/** What a failed process may have left half-written in the bundle: `.partial` entries (a killed process cannot clean up). */
function removePartials(outputDir: string): string[] {
  const removed: string[] = [];
  for (const folder of [path.join(outputDir, BUNDLE_DIR), path.join(outputDir, IMAGE_CHECK_DIR), twinsDir(outputDir)]) {
    if (!existsSync(folder)) continue;
    for (const name of readdirSync(folder).filter((n) => n.includes('.partial'))) {
      rmSync(path.join(folder, name), { recursive: true, force: true });
      removed.push(path.join(path.basename(folder), name));
    }
  }
  return removed;
}


const partsOf = (step: CoreAiStep): string[] => (step.kind === 'coreai-export' ? [step.part] : []);

/**
 * Runs the Core AI plan's processes in order, each in its own log group, with the model's local
 * folder; stops at the first failure. No token: every helper reads local folders only (offline).
 */
export async function runCoreAi(config: Config, steps: readonly CoreAiStep[], python: string, model: string): Promise<ConversionResult> {
  const { outputDir } = config.conversion;
  for (const folder of [path.join(outputDir, BUNDLE_DIR), path.dirname(parityRecord(outputDir, 'unet')), path.join(outputDir, IMAGE_CHECK_DIR)]) mkdirSync(folder, { recursive: true });
  const reports: StepReport[] = [];
  const psnr: PsnrResult[] = [];
  let image: ImageCheckResult | undefined;
  let failure: ConversionResult['failure'];
  const env = childEnvironment({ PYTHONUNBUFFERED: '1', HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1' });

  for (const step of steps) {
    const argv = [python, ...coreAiArguments(step, config, model)];
    if (failure) {
      reports.push({ label: step.label, argv, status: 'not run', parts: partsOf(step), durationMs: 0, partTimes: {} });
      continue;
    }
    if (step.kind === 'coreai-export') rmSync(parityRecord(outputDir, step.part, step.twin), { force: true });
    if (step.kind === 'coreai-image') rmSync(imageRecord(outputDir), { force: true });
    core.startGroup(step.label);
    const result = await runProcess(argv, { cwd: config.runner.workspace, env });
    core.endGroup();
    const ok = result.exitCode === 0;
    reports.push({
      label: step.label,
      argv,
      status: ok ? 'done' : 'failed',
      parts: partsOf(step),
      durationMs: result.durationMs,
      // A part's time is its bundle export's; its twin's export and check are the step's own.
      partTimes: step.kind === 'coreai-export' && !step.twin ? { [step.part]: result.durationMs } : {},
      peakRssBytes: result.peakRssBytes,
    });
    if (!ok) {
      failure = { step: step.label, diagnosis: diagnoseCoreAi(result, diskFacts(outputDir)), removed: removePartials(outputDir) };
      continue;
    }
    if (step.kind === 'coreai-export') {
      const record = readJson<ParityRecord>(parityRecord(outputDir, step.part, step.twin));
      const check = parityCheck(config, step, record);
      if (check) psnr.push(check);
      else if (!record) info(`${step.label}: no parity record was written.`);
    }
    if (step.kind === 'coreai-image') {
      image = imageResult(readJson<ImageRecord>(imageRecord(outputDir)), config.coreAi?.image?.minPsnr ?? 0, path.join(outputDir, IMAGE_CHECK_DIR));
      if (!image) failure = { step: step.label, diagnosis: { title: 'The image check wrote no record.', hints: ['The log group of this step above has the full output.'] }, removed: [] };
    }
  }
  // The float32 twins served the checks alone: gigabytes at full size, never published nor cached.
  rmSync(twinsDir(outputDir), { recursive: true, force: true });
  // The checks, for a run that finds this folder in the outputs cache (cache/outputs.ts conversionFromCache).
  writeState(outputDir, { version: 1, fingerprint: { backend: config.backend, compression: config.coreAi?.compression ?? 'none' }, psnr: psnr.map(({ step: _step, ...check }) => check), quantized: [] });
  return { steps: reports, psnr, converterRejectedPsnr: false, failure, ...(image ? { image } : {}) };
}

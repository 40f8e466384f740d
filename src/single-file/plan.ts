import type { CheckpointKind } from './kind.js';

/**
 * What python/single_file.py is given and what it answers, pure. diffusers' from_single_file reads
 * the configs and tokenizers of a diffusers pipeline (model-config, else its own default for the
 * kind); the action fetches exactly those files beforehand, so the helper runs offline.
 */

/** diffusers 0.30.2's own defaults (single_file_utils.DIFFUSERS_DEFAULT_PIPELINE_PATHS: v1, v2, xl_base). */
export const DEFAULT_CONFIGS: Record<CheckpointKind, string> = {
  sd1: 'Lykon/dreamshaper-8',
  sd2: 'stabilityai/stable-diffusion-2-1',
  sdxl: 'stabilityai/stable-diffusion-xl-base-1.0',
};

/**
 * The files from_single_file(config=<Hub id>) fetches of the config repository: its
 * allow_patterns "**\/*.json", "*.json", "*.txt", "**\/*.txt", "**\/*.model" as huggingface_hub's
 * fnmatch reads them (`*` spans folders): every .json and .txt file, and a .model inside a folder
 * (`**\/` needs a `/`); never weights.
 */
export const isConfigFile = (file: string): boolean => /\.(json|txt)$/.test(file) || (file.includes('/') && file.endsWith('.model'));

/** A file the helper reads, with the path it has on this machine. */
export interface HelperFile {
  path: string;
  scale?: number;
}

export interface HelperCall {
  python: string;
  helper: string;
  checkpoint: string;
  kind: CheckpointKind;
  /** A Hub id (with its commit) or a local folder. */
  config: { id: string; commit: string } | { path: string };
  loras: Array<{ path: string; scale: number }>;
  output: string;
  allowPickle: boolean;
}

/** The helper's argv (no shell: paths with spaces stay one argument each). */
export function helperArgv(call: HelperCall): string[] {
  const config = 'id' in call.config ? ['--config', call.config.id, '--config-revision', call.config.commit] : ['--config', call.config.path];
  return [
    call.python, call.helper,
    '--checkpoint', call.checkpoint,
    '--kind', call.kind,
    ...config,
    '--output', call.output,
    ...call.loras.flatMap((l) => ['--lora', `${l.path}:${l.scale}`]),
    ...(call.allowPickle ? ['--allow-pickle'] : []),
  ];
}

/** What the helper reports on its last line: `SINGLE_FILE_RESULT {json}`. */
export interface HelperResult {
  diffusers: string;
  torch?: string;
  kind?: string;
}

const RESULT_LINE = /^SINGLE_FILE_RESULT (\{.*\})\s*$/;

/** The helper's result from its output's last lines, or undefined when it printed none. */
export function helperResult(tail: readonly string[]): HelperResult | undefined {
  for (const line of [...tail].reverse()) {
    const json = RESULT_LINE.exec(line)?.[1];
    if (!json) continue;
    try {
      const parsed = JSON.parse(json) as Partial<HelperResult>;
      if (typeof parsed.diffusers === 'string') return { diffusers: parsed.diffusers, torch: typeof parsed.torch === 'string' ? parsed.torch : undefined, kind: typeof parsed.kind === 'string' ? parsed.kind : undefined };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * The kind of a .ckpt, whose tensor names cannot be read without unpickling it: xl-version says
 * SDXL, else SD 1.x or 2.x, which load with the same pipeline class (an SD 2.x .ckpt needs
 * model-config, as nothing before loading tells it from SD 1.x).
 */
export function pickleKind(xlVersion: boolean): CheckpointKind {
  return xlVersion ? 'sdxl' : 'sd1';
}

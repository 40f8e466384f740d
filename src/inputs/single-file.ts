import * as path from 'node:path';
import type { FileSource, LoraOptions, SingleFileOptions } from '../config.js';
import { FieldReader, isHubId, resolveIn } from './fields.js';
import { FILE_FORMS, SINGLE_FILE_HELPER, fileSource, splitScale, type SourceContext } from '../single-file/source.js';

/** What the single-file inputs need from parsing: the workspace, the Hub endpoint, the file system's answers. */
export interface SingleFileContext {
  workspace: string;
  endpoint: string;
  actionRoot: string;
  isFile(p: string): boolean;
  isDirectory(p: string): boolean;
}

export type CheckpointInput = { singleFile: SingleFileOptions } | { failed: true } | undefined;

/**
 * model-version as a single file, with model-config, lora and allow-pickle. Undefined when
 * model-version is no file (a Hub id or a folder: read as before); `failed` when it is a file
 * that cannot be used (the message is recorded). model-config and lora without a single file
 * are input rules (they are read here only when there is one).
 */
export function readSingleFile(read: FieldReader, ctx: SingleFileContext, modelRevision: string): CheckpointInput {
  const sourceContext = (revision: string): SourceContext => ({ workspace: ctx.workspace, endpoint: ctx.endpoint, isFile: ctx.isFile, revision });
  const value = read.text('model-version');
  const checkpoint = value === '' || ctx.isDirectory(resolveIn(ctx.workspace, value)) ? undefined : fileSource(value, sourceContext(modelRevision));
  if (checkpoint === undefined) return refuseWithoutSingleFile(read);
  if ('error' in checkpoint) {
    read.fail('model-version', `${checkpoint.error}.`);
    return { failed: true };
  }
  if (checkpoint.where === 'hub' && /^https?:/i.test(value) && modelRevision !== 'main' && modelRevision !== checkpoint.revision) {
    read.fail('model-revision', `is ${JSON.stringify(modelRevision)}, but model-version is a Hub URL of revision ${JSON.stringify(checkpoint.revision)}: give the revision in one place (the URL's, or owner/repo/path with model-revision).`);
  }
  const loras: LoraOptions[] = [];
  for (const entry of loraEntries(read)) {
    const split = splitScale(entry);
    if ('error' in split) {
      read.fail('lora', `${split.error}.`);
      continue;
    }
    const source = fileSource(split.target, sourceContext('main'));
    if (source === undefined) read.fail('lora', `lists ${JSON.stringify(split.target)}, which is not a LoRA file: each entry is ${FILE_FORMS}, with an optional :scale.`);
    else if ('error' in source) read.fail('lora', `lists ${JSON.stringify(split.target)}, which ${source.error}.`);
    else loras.push({ source, scale: split.scale });
  }
  return {
    singleFile: {
      checkpoint,
      modelConfig: readModelConfig(read, ctx),
      loras,
      allowPickle: read.bool('allow-pickle', false),
      helper: path.join(ctx.actionRoot, SINGLE_FILE_HELPER),
    },
  };
}

/** model-config and lora belong to a single file: given with a Hub id or folder, they are refused. */
function refuseWithoutSingleFile(read: FieldReader): undefined {
  if (read.text('model-config') !== '') read.fail('model-config', 'is set, but model-version is not a single-file checkpoint: model-config names the diffusers config for a .safetensors or .ckpt model-version only.');
  read.bool('allow-pickle', false); // still checked for its spelling
  if (loraEntries(read).length > 0) read.fail('lora', 'is set, but model-version is not a single-file checkpoint: LoRAs are merged into a .safetensors or .ckpt model-version (not into a diffusers folder or Hub id).');
  return undefined;
}

/** `lora`: one entry a line, or several separated by commas. */
export function loraEntries(read: FieldReader): string[] {
  return read.lines('lora').flatMap((line) => line.split(',')).map((e) => e.trim()).filter((e) => e !== '');
}

function readModelConfig(read: FieldReader, ctx: SingleFileContext): SingleFileOptions['modelConfig'] {
  const value = read.text('model-config');
  if (value === '') return undefined;
  const folder = resolveIn(ctx.workspace, value);
  if (ctx.isDirectory(folder)) {
    if (ctx.isFile(path.join(folder, 'model_index.json'))) return { where: 'local', input: value, path: folder };
    return read.fail('model-config', `is the folder ${folder}, which has no model_index.json: it must be a diffusers pipeline folder (its configs and tokenizers are what from_single_file reads).`);
  }
  if (isHubId(value) && value.includes('/')) return { where: 'hub', id: value };
  return read.fail('model-config', `must be a Hub id of a diffusers pipeline (such as stabilityai/stable-diffusion-2-1-base) or a pipeline folder in the workspace, got ${JSON.stringify(value)}.`);
}

/** Every file the run reads, the checkpoint first. */
export function singleFiles(options: SingleFileOptions): FileSource[] {
  return [options.checkpoint, ...options.loras.map((l) => l.source)];
}

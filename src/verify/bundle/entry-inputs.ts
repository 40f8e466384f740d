import * as path from 'node:path';
import { ATTENTION_IMPLEMENTATIONS, COMPILED_SUFFIX, QUANTIZE_NBITS, RESOURCES_DIR, TOKENIZER_FILES, type AttentionImplementation } from '../../converter/vocabulary.js';
import { FieldReader, isHubId } from '../../inputs/fields.js';
import { VERIFY_INPUT_SCREEN, type VerifyInputName } from '../../inputs/names.js';
import { MODEL_KINDS, type ModelKind } from './expect.js';

/** verify/action.yml's inputs, read into one typed config before anything is extracted. Pure. */
export interface VerifyConfig {
  /** Absolute: a folder, or a .zip file. */
  path: string;
  isZip: boolean;
  /** undefined: detect it from the bundle. */
  kind?: ModelKind;
  attention?: AttentionImplementation;
  quantizeNbits?: number;
  chunked: boolean;
  controlnets: string[];
  /** RUNNER_TEMP, where a zip is extracted. */
  temp: string;
}

export interface VerifyContext {
  env: Readonly<Record<string, string | undefined>>;
  isDirectory(p: string): boolean;
  isFile(p: string): boolean;
}

export function parseVerifyInputs(raw: (name: VerifyInputName) => string, ctx: VerifyContext): { config?: VerifyConfig; errors: string[] } {
  const read = new FieldReader<VerifyInputName>(raw, VERIFY_INPUT_SCREEN);
  const workspace = ctx.env.GITHUB_WORKSPACE ?? process.cwd();
  const given = read.text('path');
  const resolved = path.resolve(workspace, given);
  let isZip = false;
  if (given === '') read.fail('path', 'is required: a Resources folder, a folder holding one, or a .zip of either.');
  else if (ctx.isFile(resolved)) {
    isZip = /\.zip$/i.test(resolved);
    if (!isZip) read.fail('path', `must be a folder or a .zip file, but ${resolved} is another kind of file.`);
  } else if (!ctx.isDirectory(resolved)) read.fail('path', `must be an existing folder or .zip file, but ${resolved} does not exist.`);
  const kind = read.oneOf('model-kind', MODEL_KINDS);
  const attention = read.oneOf('attention-implementation', ATTENTION_IMPLEMENTATIONS);
  const quantizeNbits = read.oneOf('quantize-nbits', QUANTIZE_NBITS);
  const chunked = read.bool('chunked', false);
  const controlnets = read.list('controlnets');
  controlnets.filter((id) => !isHubId(id)).forEach((id) => read.fail('controlnets', `lists ${JSON.stringify(id)}, which is not a Hub id (owner/name): the bundle names each ControlNet after its id.`));
  if (read.errors.length > 0) return { errors: read.errors };
  return {
    config: { path: resolved, isZip, kind, attention, quantizeNbits, chunked, controlnets, temp: ctx.env.RUNNER_TEMP ?? path.join(workspace, '.tmp') },
    errors: [],
  };
}

/**
 * One step of finding the Resources inside a folder: the folder itself when it holds compiled
 * models or tokenizer files, else its Resources/ (the converter's -o), else its only folder (a
 * zip's top folder, as in the `<repo>_<variant>_compiled.zip` archives the apps download).
 */
export function bundleStep(entries: ReadonlyArray<{ name: string; isDirectory: boolean }>): 'here' | { into: string } | 'none' {
  if (entries.some((e) => e.name.endsWith(COMPILED_SUFFIX) || (TOKENIZER_FILES as readonly string[]).includes(e.name))) return 'here';
  if (entries.some((e) => e.isDirectory && e.name === RESOURCES_DIR)) return { into: RESOURCES_DIR };
  const folders = entries.filter((e) => e.isDirectory && !e.name.startsWith('.') && e.name !== '__MACOSX');
  return folders.length === 1 && folders[0] ? { into: folders[0].name } : 'none';
}

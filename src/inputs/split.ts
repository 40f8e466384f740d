import * as path from 'node:path';
import type { SplitMode, SplitOptions } from '../config.js';
import { resolveIn, type FieldReader } from './fields.js';
import type { InputName } from './names.js';
import { isWithin } from './output-dir.js';
import { artifactNameProblem } from './publish.js';
import { HANDOFF_MANIFEST } from '../handoff/manifest.js';

export const SPLIT_MODES = ['none', 'convert', 'finish'] as const satisfies readonly SplitMode[];


export interface SplitPlaces {
  workspace: string;
  temp: string;
  isDirectory(p: string): boolean;
  isFile(p: string): boolean;
  realPath(p: string): string;
}

/**
 * Pure: `handoff` as given. A value holding `/` or `\\`, or `.` or `..` alone, is a folder (an
 * artifact name can hold neither; a folder in the workspace is written `./name`), resolved in the
 * workspace and confined to it or RUNNER_TEMP; anything else is an artifact name. Only the finishing job reads a folder: the converting job's hand-off is
 * output-dir itself, uploaded under the name.
 */
export function readHandoff(read: FieldReader<InputName>, mode: SplitMode, places: SplitPlaces): SplitOptions['handoff'] {
  const value = read.text('handoff');
  if (value === '') return undefined;
  if (mode === 'none') return read.fail('handoff', 'is set, but `split` is none: the hand-off is between the two jobs of a split conversion.');
  if (!/[/\\]/.test(value) && value !== '.' && value !== '..') {
    const problem = artifactNameProblem(value);
    return problem ? read.fail('handoff', `is taken as an artifact name (it has no /), which ${problem}.`) : { artifact: value };
  }
  if (mode === 'convert') {
    return read.fail('handoff', 'is a folder, but `split` is convert: the converting job hands off output-dir itself as a workflow artifact; give an artifact name, or leave it empty.');
  }
  const folder = resolveIn(places.workspace, value);
  const real = places.realPath(folder);
  if (!isWithin(places.realPath(places.workspace), real) && !isWithin(places.realPath(places.temp), real)) {
    return read.fail('handoff', `resolves to ${real}, outside the workspace and RUNNER_TEMP: give the folder the hand-off was downloaded to, inside the workspace.`);
  }
  if (!places.isDirectory(folder)) return read.fail('handoff', `is the folder ${folder}, which does not exist.`);
  if (!places.isFile(path.join(folder, HANDOFF_MANIFEST))) {
    return read.fail('handoff', `is the folder ${folder}, which has no ${HANDOFF_MANIFEST}: it is not a hand-off written by a \`split: convert\` job.`);
  }
  return { path: folder };
}

export function readSplit(read: FieldReader<InputName>, places: SplitPlaces): SplitOptions {
  const mode = read.oneOf('split', SPLIT_MODES, 'none');
  return { mode, handoff: readHandoff(read, mode, places) };
}

import * as core from '@actions/core';
import type { BundleFacts } from './verify/bundle/check.js';
import type { ImageCheckResult } from './backends/core-ai/image.js';

/**
 * The outputs of the three actions, each keyed by the name its action.yml declares (a unit test
 * holds keys and order to the files), each with how its value becomes the string the runner
 * stores. Every output is set through these, so a name or an encoding is written once.
 */
type Encoders = Record<string, (value: never) => string>;

const text = (value: string): string => value;
const flag = (value: boolean): string => String(value);
const number = (value: number): string => String(value);
const json = <T>() => (value: T): string => JSON.stringify(value);

/** The JSON outputs list only these fields, in this order, of the richer records passed in. */
interface PsnrRow { part: string; check: string; psnr: number | null; threshold: number; passed: boolean }
interface FileRow { name: string; size: number; sha256: string; path: string }
interface AssetRow { name: string; size: number; sha256: string; url: string }

/** action.yml: the main action. */
export const ACTION_OUTPUTS = {
  'output-dir': text,
  'resources-dir': text,
  mlpackages: json<string[]>(),
  plan: json<string[][]>(),
  psnr: (rows: readonly PsnrRow[]) => JSON.stringify(rows.map(({ part, check, psnr, threshold, passed }) => ({ part, check, psnr, threshold, passed }))),
  'psnr-passed': flag,
  'bundle-dir': text,
  'image-check': (image: ImageCheckResult | undefined) =>
    image ? JSON.stringify({ psnr: image.psnr, 'min-psnr': image.minPsnr, passed: image.passed, prompt: image.prompt, seed: image.seed, steps: image.steps, guidance: image.guidance, scheduler: image.scheduler, images: image.images }) : '',
  'model-revision-sha': text,
  'cache-hit-pip': flag,
  'cache-hit-hf': flag,
  'cache-hit-env': flag,
  'cache-hit-outputs': flag,
  skipped: flag,
  'package-dir': text,
  packages: (rows: readonly FileRow[]) => JSON.stringify(rows.map(({ name, size, sha256, path }) => ({ name, size, sha256, path }))),
  'artifact-id': number,
  'artifact-url': text,
  handoff: text,
  'release-url': text,
  'release-id': number,
  assets: (rows: readonly AssetRow[]) => JSON.stringify(rows.map(({ name, size, sha256, url }) => ({ name, size, sha256, url }))),
  'hub-commit': text,
  'hub-url': text,
} satisfies Encoders;

/** verify/action.yml: the standalone bundle check. */
export const VERIFY_OUTPUTS = {
  passed: flag,
  facts: json<BundleFacts>(),
} satisfies Encoders;

/** plan/action.yml: the matrix planner. */
export const PLAN_OUTPUTS = {
  matrix: json<{ include: Record<string, string>[] }>(),
  count: number,
  skipped: json<string[]>(),
} satisfies Encoders;

/** A setter that accepts only the declared names, each with its value's type. */
function outputSetter<E extends Encoders>(encoders: E) {
  return <K extends keyof E & string>(name: K, value: Parameters<E[K]>[0]): void => {
    const encode = encoders[name] as E[K];
    core.setOutput(name, encode(value as never));
  };
}

export const setOutput = outputSetter(ACTION_OUTPUTS);
export const setVerifyOutput = outputSetter(VERIFY_OUTPUTS);
export const setPlanOutput = outputSetter(PLAN_OUTPUTS);

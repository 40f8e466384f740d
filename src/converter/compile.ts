import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { HttpClient } from '@actions/http-client';
import type { ConversionOptions, TokenizerUrls } from '../config.js';
import { STATE_DIR } from '../convert/state.js';
import { errorMessage } from '../format/error.js';
import { info } from '../log.js';
import { childEnvironment, runProcess, type ProcessResult, type RunOptions } from '../process.js';
import { knownDiagnosis, type Diagnosis } from './diagnose.js';
import { COMPILED_SUFFIX, DEFAULT_TOKENIZER_URLS, PACKAGE_SUFFIX, RESOURCES_DIR, TOKENIZER_FILES, compiledResources } from './vocabulary.js';

/**
 * The Resources of --bundle-resources-for-swift-cli made without the converter (the finishing job of
 * a split conversion installs coremltools and numpy only): each package in output-dir that the
 * converter's bundling compiles, compiled by Xcode's coremlcompiler and named as the converter names
 * it, then the tokenizer's vocab.json and merges.txt. Where the converter is careless, this is not:
 * coremlcompiler runs from an argv (never a shell), its exit status is checked, and so is the
 * compiled model it should have written; the downloads' HTTP status is checked, so an error page
 * never lands in vocab.json, and each file is written whole or not at all. As the converter: a
 * compiled model already in Resources is kept (not compiled again), the tokenizer files are
 * fetched on every run, and T5's resources (include-t5) are the converter's alone (see compileRefusal).
 */

export type CompileOptions = Pick<ConversionOptions, 'outputDir' | 'modelVersion' | 'controlnets' | 'urls' | 'includeT5'>;

/** One compile: a package in output-dir and the compiled model the converter's bundling makes of it. */
export interface ResourceTarget {
  /** The package's file name in output-dir (`Stable_Diffusion_version_<model>_unet.mlpackage`). */
  package: string;
  /** Where its compiled model goes, relative to output-dir, `/`-separated (`Resources/Unet.mlmodelc`, `Resources/controlnet/<Name>.mlmodelc`). */
  target: string;
}

/**
 * Pure: the packages among `present` (output-dir's entries, by name) that the converter's bundling
 * compiles, with its Resources names, in its order (its list of parts, then the ControlNets). Like
 * the converter it compiles every such package that is there, whatever this run converted.
 */
export function resourceTargets(o: Pick<ConversionOptions, 'modelVersion' | 'controlnets'>, present: Iterable<string>): ResourceTarget[] {
  const there = new Set(present);
  return [...compiledResources(o.modelVersion, o.controlnets)].filter(([pkg]) => there.has(pkg)).map(([pkg, target]) => ({ package: pkg, target }));
}

/** Pure: the argv of one compile (`xcrun coremlcompiler compile <package> <output folder>`), for runProcess. */
export function compileCommand(packagePath: string, outputFolder: string): string[] {
  return ['xcrun', 'coremlcompiler', 'compile', packagePath, outputFolder];
}

/** Pure: the name coremlcompiler gives the compiled model of a package (`X.mlpackage` -> `X.mlmodelc`). */
export function compiledName(packageFile: string): string {
  const stem = packageFile.endsWith(PACKAGE_SUFFIX) ? packageFile.slice(0, -PACKAGE_SUFFIX.length) : path.parse(packageFile).name;
  return `${stem}${COMPILED_SUFFIX}`;
}

export interface TokenizerDownload {
  file: (typeof TOKENIZER_FILES)[number];
  url: string;
}

/** Pure: the tokenizer files bundling writes into Resources and where they come from (the converter's defaults where no URL is configured). */
export function tokenizerDownloads(urls: TokenizerUrls): TokenizerDownload[] {
  const [vocab, merges] = TOKENIZER_FILES;
  return [
    { file: vocab, url: urls.vocabulary ?? DEFAULT_TOKENIZER_URLS.vocabulary },
    { file: merges, url: urls.merges ?? DEFAULT_TOKENIZER_URLS.merges },
  ];
}

/**
 * Pure: why this step cannot make the Resources asked for, undefined when it can. include-t5 needs
 * the converter's T5 download (a pre-converted TextEncoderT5.mlmodelc fetched from the Hub with its
 * tokenizer files), which this step does not do: refuse it before anything is installed.
 */
export function compileRefusal(o: Pick<ConversionOptions, 'includeT5'>): string | undefined {
  return o.includeT5 ? 'include-t5: the T5 resources (TextEncoderT5.mlmodelc, tokenizer.json, tokenizer_config.json) are bundled by the converter only, which the finishing job does not install' : undefined;
}

/**
 * Pure: how one compile ended, judged (unlike the converter, which ignores coremlcompiler's exit
 * status): undefined when it exited 0 and wrote the compiled model; else the diagnosis, the
 * action's own where it knows the failure (no coremlcompiler or no xcrun at all, disk full, out of memory).
 */
export function compileFailure(end: Pick<ProcessResult, 'exitCode' | 'signal' | 'tail'>, packageFile: string, wroteModel: boolean): Diagnosis | undefined {
  if (end.exitCode === 0 && end.signal === null) {
    if (wroteModel) return undefined;
    return {
      title: `coremlcompiler exited 0 but wrote no ${compiledName(packageFile)} for ${packageFile}.`,
      hints: ['The log group of this step above has its output.'],
    };
  }
  const known = knownDiagnosis(end);
  if (known) return known;
  const status = end.signal ? `was killed by ${end.signal}` : `exited with code ${end.exitCode}`;
  const last = [...end.tail].reverse().find((line) => line.trim() !== '')?.trim();
  return {
    title: `coremlcompiler ${status} compiling ${packageFile}${last ? `: ${last}` : '.'}`,
    hints: ['The log group of this step above has its output; a package that coremlcompiler cannot read was most likely cut short (convert it again).'],
  };
}

/** A compile or download that failed, with what to tell the user. */
export class CompileError extends Error {
  constructor(readonly diagnosis: Diagnosis) {
    super(diagnosis.title);
    this.name = 'CompileError';
  }
}

/** What an HTTP GET of a tokenizer file gave. */
export interface Fetched {
  status: number;
  body: Buffer;
}

export type Fetch = (url: string) => Promise<Fetched>;

/**
 * The toolkit's HTTP client (the runner's proxy settings, redirects, retries on 5xx and resets), as
 * src/hub/client.ts uses it, with a socket timeout so that a silent server fails the step instead of
 * hanging it; no token: the converter sends none.
 */
export const httpFetch: Fetch = async (url) => {
  const http = new HttpClient('coreml-stable-diffusion-action', [], { allowRetries: true, maxRetries: 3, socketTimeout: 60_000 });
  try {
    const response = await http.get(url);
    const body = await response.readBodyBuffer?.() ?? Buffer.from(await response.readBody(), 'utf8');
    return { status: response.message.statusCode ?? 0, body };
  } finally {
    http.dispose();
  }
};

export interface CompileDeps {
  run?: (argv: readonly string[], options: RunOptions) => Promise<ProcessResult>;
  fetch?: Fetch;
  /** The compile processes' environment: the runner's allow-listed part (src/process.ts) unless given. */
  env?: NodeJS.ProcessEnv;
}

export interface CompileReport {
  /** Compiled by this run, in order. */
  compiled: ResourceTarget[];
  /** Already in Resources, kept as they are. */
  kept: ResourceTarget[];
  /** The tokenizer files written, relative to output-dir. */
  tokenizer: string[];
}

const isDirectory = (p: string): boolean => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/** Writes `body` to `file` whole: into a file of its own beside it, then renamed over it. */
function writeWhole(file: string, body: Buffer): void {
  const partial = `${file}.partial-${randomUUID()}`;
  try {
    writeFileSync(partial, body);
    renameSync(partial, file);
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  }
}

async function compileOne(outputDir: string, item: ResourceTarget, deps: Required<Pick<CompileDeps, 'run'>> & { env: NodeJS.ProcessEnv }): Promise<void> {
  const source = path.join(outputDir, item.package);
  const target = path.join(outputDir, ...item.target.split('/'));
  const scratchRoot = path.join(outputDir, STATE_DIR);
  mkdirSync(scratchRoot, { recursive: true });
  // A fresh folder of the action's own for each compile: nothing else is ever in it, and it is on
  // output-dir's file system, so the compiled model is renamed into Resources, not copied.
  const scratch = mkdtempSync(path.join(scratchRoot, 'compile-'));
  try {
    info(`Compiling ${source}`);
    const end = await deps.run(compileCommand(source, scratch), { cwd: outputDir, env: deps.env, sampleMs: 0 });
    const made = path.join(scratch, compiledName(item.package));
    const failure = compileFailure(end, item.package, isDirectory(made));
    if (failure) throw new CompileError(failure);
    mkdirSync(path.dirname(target), { recursive: true });
    renameSync(made, target);
    info(`Compiled ${source} to ${target}`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function download(resources: string, item: TokenizerDownload, fetch: Fetch): Promise<void> {
  let fetched: Fetched;
  try {
    fetched = await fetch(item.url);
  } catch (error) {
    throw new CompileError({ title: `Downloading ${item.file} from ${item.url} failed: ${errorMessage(error)}`, hints: ['Check the URL (text-encoder-vocabulary-url, text-encoder-merges-url) and that the runner reaches it.'] });
  }
  if (fetched.status !== 200) {
    throw new CompileError({
      title: `GET ${item.url} answered ${fetched.status}, so ${item.file} was not written (the converter would have written the error page into it).`,
      hints: ['Check the URL (text-encoder-vocabulary-url, text-encoder-merges-url), and run again if the server had a passing problem.'],
    });
  }
  if (fetched.body.length === 0) {
    throw new CompileError({ title: `GET ${item.url} answered ${fetched.status} with an empty body, so ${item.file} was not written.`, hints: ['Check the URL (text-encoder-vocabulary-url, text-encoder-merges-url).'] });
  }
  writeWhole(path.join(resources, item.file), fetched.body);
  info(`Downloaded ${item.file} (${fetched.body.length} bytes) from ${item.url}`);
}

/**
 * The thin part: compiles every package of output-dir that bundling compiles into
 * `<output-dir>/Resources` (one `xcrun coremlcompiler compile` process each, into a fresh folder,
 * then renamed to its Resources name; a compiled model already there is kept), then writes
 * vocab.json and merges.txt. Throws CompileError (its diagnosis) at the first failure, with no
 * half-written file left in Resources.
 */
export async function compileResources(o: CompileOptions, deps: CompileDeps = {}): Promise<CompileReport> {
  const refusal = compileRefusal(o);
  if (refusal) throw new CompileError({ title: `The Resources cannot be bundled here: ${refusal}.`, hints: ['Bundle in a single job (split: none), or set include-t5: false.'] });
  const run = deps.run ?? runProcess;
  const env = deps.env ?? childEnvironment();
  const resources = path.join(o.outputDir, RESOURCES_DIR);
  const present = readdirSync(o.outputDir).filter((name) => isDirectory(path.join(o.outputDir, name)));
  const report: CompileReport = { compiled: [], kept: [], tokenizer: [] };
  mkdirSync(resources, { recursive: true });
  for (const item of resourceTargets(o, present)) {
    const target = path.join(o.outputDir, ...item.target.split('/'));
    if (existsSync(target)) {
      info(`Found an existing compiled model at ${target}: kept (the converter does not compile it again either)`);
      report.kept.push(item);
      continue;
    }
    await compileOne(o.outputDir, item, { run, env });
    report.compiled.push(item);
  }
  for (const item of tokenizerDownloads(o.urls)) {
    await download(resources, item, deps.fetch ?? httpFetch);
    report.tokenizer.push(`${RESOURCES_DIR}/${item.file}`);
  }
  return report;
}

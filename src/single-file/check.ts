import { statSync } from 'node:fs';
import * as path from 'node:path';
import * as core from '@actions/core';
import type { Config, FileSource } from '../config.js';
import type { HubClient, HubAccess } from '../hub/client.js';
import { HubRequestError } from '../hub/client.js';
import { repoFolder, type HubFile } from '../hub/files.js';
import { tokenProblem } from '../hub/models.js';
import { Halt } from '../halt.js';
import { setOutput } from '../outputs.js';
import { errorMessage } from '../format/error.js';
import { sha256File } from '../checksum.js';
import { HeaderError, readFileHeader, readHeaderWith, type SafetensorsHeader } from './header.js';
import { checkpointKind, loraBaseProblem, loraFacts, sd2ConfigProblem, xlVersionMismatch, type CheckpointFacts, type CheckpointKind } from './kind.js';
import { DEFAULT_CONFIGS, isConfigFile, pickleKind } from './plan.js';
import { describeSource, isPickle } from './source.js';
import { info } from '../log.js';

/** A file of the run, found: where it is, its commit (Hub), its sha256 when known before a download. */
export interface FoundFile {
  source: FileSource;
  /** The commit the Hub revision points at. */
  commit?: string;
  /** The Hub's listing entry (its LFS sha256 and size, which the download is checked against). */
  listed?: HubFile;
  /** Of the content: a local file's, or the Hub's LFS sha256; undefined for a small Hub file until downloaded. */
  sha256?: string;
  size?: number;
}

/** The diffusers pipeline whose configs and tokenizers from_single_file reads. */
export type ConfigSource = { where: 'hub'; id: string; commit: string; files: HubFile[] } | { where: 'local'; path: string };

/** What the single-file stage found, before anything was installed. */
export interface SingleFileCheck {
  kind: CheckpointKind;
  checkpoint: FoundFile;
  loras: Array<FoundFile & { scale: number }>;
  config: ConfigSource;
}

const isSafetensors = (source: FileSource) => !isPickle(source);

interface Listing {
  commit: string;
  files: HubFile[];
  access: HubAccess;
}

/**
 * Finds the files and reads what they are; every problem is collected and reported at once, each
 * naming its input. Reads no weights: a Hub file's header comes by a byte range.
 */
class Finder {
  readonly errors: string[] = [];
  private readonly listings = new Map<string, Promise<Listing>>();
  readonly refused: Array<{ id: string; access?: HubAccess; refusedWith?: number }> = [];

  constructor(
    private readonly hub: HubClient,
    private readonly hubCache: string,
  ) {}

  listing(repo: string, revision: string): Promise<Listing> {
    const key = `${repo}@${revision}`;
    let found = this.listings.get(key);
    if (!found) {
      found = this.hub.resolve(repo, revision).then(({ sha, files, access }) => ({ commit: sha, files, access }));
      this.listings.set(key, found);
    }
    return found;
  }

  /** The file and its header (undefined for a .ckpt, or when it could not be read: then an error is recorded). */
  async find(input: 'model-version' | 'lora', source: FileSource): Promise<{ file: FoundFile; header?: SafetensorsHeader } | undefined> {
    const where = describeSource(source);
    const fail = (message: string) => {
      this.errors.push(`Input \`${input}\` ${message}`);
      return undefined;
    };
    try {
      if (source.where === 'local') {
        const header = isSafetensors(source) ? await readFileHeader(source.path) : undefined;
        return { file: { source, sha256: await sha256File(source.path), size: statSync(source.path).size }, header };
      }
      let listing: Listing;
      try {
        listing = await this.listing(source.repo, source.revision);
      } catch (error) {
        if (error instanceof HubRequestError && (error.status === 401 || error.status === 403 || error.status === 404) && this.hub.anonymous) {
          this.refused.push({ id: source.repo, refusedWith: error.status });
          return undefined;
        }
        return fail(`names ${where}, but the Hub could not list ${source.repo}@${source.revision}: ${errorMessage(error)}.`);
      }
      if (listing.access !== 'public') this.refused.push({ id: source.repo, access: listing.access });
      const listed = listing.files.find((f) => f.rfilename === source.file);
      if (!listed) return fail(`names ${where}, but ${source.repo} has no file ${source.file} at ${source.revision} (${listing.commit.slice(0, 12)}).`);
      const file: FoundFile = { source, commit: listing.commit, listed, sha256: listed.lfs ? listed.blobId : undefined, size: listed.size };
      if (!isSafetensors(source) || (listing.access !== 'public' && this.hub.anonymous)) return { file };
      try {
        return { file, header: await readHeaderWith((start, length) => this.hub.readRange(source.repo, listing.commit, source.file, start, length), listed.size ?? 0) };
      } catch (error) {
        if (!(error instanceof HubRequestError && error.status === 200)) throw error;
        // The server (a mirror, a proxy) ignores byte ranges: the whole file, checked, then its header from the cache.
        info(`${where}: the Hub answered a byte range with the whole file; downloading it to read its header.`);
        await this.hub.fill(this.hubCache, source.repo, source.revision, listing.commit, [listed], [source.file]);
        return { file, header: await readFileHeader(path.join(repoFolder(this.hubCache, source.repo), 'snapshots', listing.commit, source.file)) };
      }
    } catch (error) {
      if (error instanceof HeaderError) return fail(`names ${where}, which is not a safetensors file: ${error.message}.`);
      return fail(`names ${where}, which could not be read: ${errorMessage(error)}.`);
    }
  }
}

/** The config repository: model-config, else diffusers' default for the kind, resolved to its commit. */
async function findConfig(config: Config, kind: CheckpointKind, finder: Finder): Promise<ConfigSource | undefined> {
  const given = config.singleFile?.modelConfig;
  if (given?.where === 'local') return { where: 'local', path: given.path };
  const id = given?.id ?? DEFAULT_CONFIGS[kind];
  try {
    const listing = await finder.listing(id, 'main');
    return { where: 'hub', id, commit: listing.commit, files: listing.files.filter((f) => isConfigFile(f.rfilename)) };
  } catch (error) {
    const which = given ? 'Input `model-config` names' : `Input \`model-config\` is empty, and diffusers' default config for ${kind} is`;
    finder.errors.push(`${which} ${id}, which the Hub could not list (${errorMessage(error)}): from_single_file needs its configs and tokenizers.`);
    return undefined;
  }
}

/**
 * The single-file stage, before any setup: finds the checkpoint and the LoRAs (local, or on the
 * Hub at a commit), reads the checkpoint's kind and each LoRA's base from their headers, and
 * resolves the config repository. Halts on any problem, naming the input. Undefined when
 * model-version is not a single file.
 */
export async function singleFileStage(config: Config, hub: HubClient): Promise<SingleFileCheck | undefined> {
  const options = config.singleFile;
  if (!options) return undefined;
  return core.group('Single-file checkpoint', async () => {
    const finder = new Finder(hub, config.runner.hubCache);
    const where = describeSource(options.checkpoint);
    const found = await finder.find('model-version', options.checkpoint);
    const loras = await Promise.all(options.loras.map(async (l) => ({ lora: l, found: await finder.find('lora', l.source) })));
    let facts: CheckpointFacts | undefined;
    if (found?.header) {
      const kind = checkpointKind(found.header.tensors, where);
      if ('error' in kind) finder.errors.push(`Input \`model-version\` ${kind.error}`);
      else facts = kind;
    } else if (found && !isSafetensors(options.checkpoint)) {
      facts = { kind: pickleKind(config.conversion.xlVersion) };
    }
    if (facts) {
      const problems = [xlVersionMismatch(facts.kind, config.conversion.xlVersion, where, config.backend), sd2ConfigProblem(facts.kind, options.modelConfig !== undefined, where)];
      finder.errors.push(...problems.filter((p): p is string => p !== undefined));
      for (const { lora, found: l } of loras) {
        if (!l?.header) continue;
        const lf = loraFacts(l.header.tensors, describeSource(lora.source));
        const problem = 'error' in lf ? lf.error : loraBaseProblem(lf, facts, describeSource(lora.source));
        if (problem) finder.errors.push(`Input \`lora\` ${problem}`);
      }
    }
    const token = tokenProblem(finder.refused.map((r) => ({ ...r, revision: '', resolved: false, files: [] })), config.hfToken);
    if (token) finder.errors.push(token);
    const configSource = facts && finder.errors.length === 0 ? await findConfig(config, facts.kind, finder) : undefined;
    if (finder.errors.length > 0 || !facts || !found || !configSource) throw new Halt(finder.errors, 'Invalid input');
    const check: SingleFileCheck = {
      kind: facts.kind,
      checkpoint: found.file,
      loras: loras.map(({ lora, found: l }) => ({ ...(l as { file: FoundFile }).file, scale: lora.scale })),
      config: configSource,
    };
    info(singleFileSummary(check));
    // The commit of a Hub file's repository is the one converted (a file in the workspace has none).
    if (check.checkpoint.commit) setOutput('model-revision-sha', check.checkpoint.commit);
    return check;
  });
}

/** One line for the log: the kind, the config, the LoRAs. */
export function singleFileSummary(check: SingleFileCheck): string {
  const config = check.config.where === 'hub' ? `${check.config.id}@${check.config.commit.slice(0, 12)}` : check.config.path;
  const loras = check.loras.map((l) => `${describeSource(l.source)} x${l.scale}`);
  return `${describeSource(check.checkpoint.source)}: ${check.kind}, configs from ${config}${loras.length > 0 ? `, LoRAs ${loras.join(', ')}` : ''}.`;
}

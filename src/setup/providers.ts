import { existsSync, writeFileSync } from 'node:fs';
import { sha256File } from '../checksum.js';
import * as path from 'node:path';
import * as io from '@actions/io';
import * as tc from '@actions/tool-cache';
import type { Config } from '../config.js';
import { childEnvironment, runProcess } from '../process.js';
import { condaCreateArgs, envPrefix, envPython, miniforgeInstallArgs } from './commands.js';
import { miniforgeInstaller } from './miniforge.js';
import type { SetupHalf } from './locks.js';
import { info } from '../log.js';

export interface SetupContext {
  config: Config;
  /** The half of a split conversion: the finishing half's env has its own prefix. */
  half: SetupHalf;
}

/**
 * A way to get a Python interpreter. Tried in order; the first that `provides` is used, so a
 * new way (say, a pyenv) is one more entry in PROVIDERS.
 */
export interface PythonProvider {
  label: string;
  provides(ctx: SetupContext): Promise<boolean>;
  interpreter(ctx: SetupContext): Promise<string>;
  /** Where the provider keeps the env it creates (so that it can be cached); none for a given one. */
  envPrefix?(ctx: SetupContext): string;
}

const condaEnvPrefix = (ctx: SetupContext) => envPrefix(ctx.config.runner.toolCache, ctx.config.setup.pythonVersion, ctx.config.runner.arch, ctx.half, ctx.config.backend);

export class SetupError extends Error {}

/**
 * Runs one setup command; a failure is a SetupError naming it, with how it ended, what `explain`
 * makes of its output, and its last output.
 */
export async function run(
  argv: string[],
  what: string,
  options = { cwd: process.cwd(), env: childEnvironment() },
  explain: (tail: string[]) => string | undefined = () => undefined,
): Promise<void> {
  const result = await runProcess(argv, options);
  if (result.exitCode !== 0) {
    const status = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.exitCode}`;
    const why = explain(result.tail);
    throw new SetupError(`${what} failed: \`${argv.join(' ')}\` ${status}.${why ? ` ${why}` : ''} Last output:\n${result.tail.slice(-15).join('\n')}`);
  }
}

/** Creates the env for this Python version unless it exists already. */
async function condaEnv(conda: string, ctx: SetupContext): Promise<string> {
  const { setup } = ctx.config;
  const prefix = condaEnvPrefix(ctx);
  const python = envPython(prefix);
  if (existsSync(python)) {
    info(`Reusing the conda env at ${prefix}.`);
    return python;
  }
  await run(condaCreateArgs(conda, prefix, setup.pythonVersion), `Creating a Python ${setup.pythonVersion} conda env`);
  return python;
}

async function existingConda(ctx: SetupContext): Promise<string | undefined> {
  const condaRoot = ctx.config.runner.conda;
  const fromVariable = condaRoot ? path.join(condaRoot, 'bin', 'conda') : undefined;
  if (fromVariable && existsSync(fromVariable)) return fromVariable;
  const onPath = await io.which('conda', false);
  return onPath || undefined;
}

export const PROVIDERS: readonly PythonProvider[] = [
  {
    label: 'the interpreter given in `python`',
    provides: async (ctx) => ctx.config.setup.python !== undefined,
    interpreter: async (ctx) => ctx.config.setup.python ?? '',
  },
  {
    label: 'the conda already on the runner',
    provides: async (ctx) => (await existingConda(ctx)) !== undefined,
    interpreter: async (ctx) => condaEnv((await existingConda(ctx)) ?? 'conda', ctx),
    envPrefix: condaEnvPrefix,
  },
  {
    label: 'Miniforge from the tool cache, or downloaded and checked',
    provides: async () => true,
    envPrefix: condaEnvPrefix,
    interpreter: async (ctx) => {
      const installer = (() => {
        try {
          return miniforgeInstaller(ctx.config.runner.arch, ctx.config.runner.os);
        } catch (error) {
          throw new SetupError(error instanceof Error ? error.message : String(error));
        }
      })();
      let root = tc.find('Miniforge3', installer.version, installer.cacheArch);
      if (!root) {
        const script = await tc.downloadTool(installer.url);
        const actual = await sha256File(script);
        if (actual !== installer.sha256) {
          throw new SetupError(`The Miniforge installer from ${installer.url} has sha256 ${actual}, expected ${installer.sha256}: refusing to run it.`);
        }
        // Installed in place: a conda install embeds its prefix, so tc.cacheDir's copy would break it.
        root = path.join(ctx.config.runner.toolCache, 'Miniforge3', installer.version, installer.cacheArch);
        await run(miniforgeInstallArgs(script, root), `Installing Miniforge ${installer.version}`);
        writeFileSync(`${root}.complete`, '');
      }
      return condaEnv(path.join(root, 'bin', 'conda'), ctx);
    },
  },
];

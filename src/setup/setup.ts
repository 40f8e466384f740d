import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import * as core from '@actions/core';
import type { Config } from '../inputs/config.js';
import { childEnvironment, runProcess } from '../process.js';
import { restore, save, type CacheReport } from '../cache/cache.js';
import { envKey, pipKey, type EnvironmentIdentity } from '../cache/keys.js';
import { envPython, pipCacheDirArgs, pipInstallArgs } from './commands.js';
import { PROVIDERS, SetupError, type PythonProvider } from './providers.js';

export interface SetupResult {
  python: string;
  provider: string;
  durationMs: number;
  caches: CacheReport[];
}

/** What identifies an installed converter env: the cache keys are made of it. */
export function environmentIdentity(config: Config): EnvironmentIdentity {
  const constraints = readFileSync(config.setup.constraintsFile);
  return {
    runnerOs: config.runner.os,
    arch: config.runner.arch,
    pythonVersion: config.setup.pythonVersion,
    requirement: config.setup.requirement,
    constraintsHash: createHash('sha256').update(constraints).digest('hex').slice(0, 16),
  };
}

async function firstProvider(config: Config): Promise<PythonProvider> {
  for (const provider of PROVIDERS) if (await provider.provides({ config })) return provider;
  throw new SetupError('No provider could give a Python interpreter.');
}

const nonEmpty = (dir: string) => existsSync(dir) && readdirSync(dir).length > 0;

/**
 * Gets an interpreter from the first provider that can give one and pip installs the converter
 * into it. With caching, a conda env restored by its exact key is used as it is (no conda, no
 * pip); otherwise pip's download cache is restored first, and both are saved once installed.
 */
export async function setupConverter(config: Config, caching = false): Promise<SetupResult> {
  const started = Date.now();
  const ctx = { config };
  return core.group('Set up Python and the converter', async () => {
    const provider = await firstProvider(config);
    const identity = environmentIdentity(config);
    const caches: CacheReport[] = [];
    const prefix = provider.envPrefix?.(ctx);

    let envReport: CacheReport | undefined;
    if (caching && prefix) {
      envReport = await restore('conda env', [prefix], envKey(identity));
      if (envReport.restored === 'exact' && existsSync(envPython(prefix))) {
        core.info(`The conda env at ${prefix} came from the cache: nothing to install.`);
        return { python: envPython(prefix), provider: `${provider.label} (cached env)`, durationMs: Date.now() - started, caches: [envReport] };
      }
    }

    core.info(`Python from ${provider.label}.`);
    const python = await provider.interpreter(ctx);
    const env = childEnvironment({ PYTHONUNBUFFERED: '1' });
    let pipDir: string | undefined;
    let pipReport: CacheReport | undefined;
    if (caching) {
      const dir = await runProcess(pipCacheDirArgs(python), { cwd: config.runner.workspace, env, echo: false });
      pipDir = dir.exitCode === 0 ? dir.tail.at(-1)?.trim() : undefined;
      if (pipDir) pipReport = await restore('pip', [pipDir], pipKey(identity));
    }

    const result = await runProcess(pipInstallArgs(python, config.setup.requirement, config.setup.constraintsFile), { cwd: config.runner.workspace, env });
    if (result.exitCode !== 0) {
      throw new SetupError(
        `pip could not install the converter (${config.setup.requirement}) with the constraints in ${config.setup.constraintsFile}. ` +
          `Last output:\n${result.tail.slice(-15).join('\n')}`,
      );
    }
    // Saved only after a finished install: a half-filled cache would be restored as good later.
    if (pipReport && pipDir) caches.push(nonEmpty(pipDir) ? await save(pipReport, [pipDir]) : { ...pipReport, saved: 'skipped' });
    if (envReport && prefix) caches.push(await save(envReport, [prefix]));
    return { python, provider: provider.label, durationMs: Date.now() - started, caches };
  });
}

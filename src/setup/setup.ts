import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import * as core from '@actions/core';
import type { Config } from '../config.js';
import { childEnvironment, runProcess } from '../process.js';
import { CACHE_NAMES, restore, save, type CacheReport } from '../cache/cache.js';
import { envKey, pipKey, type EnvironmentIdentity } from '../cache/keys.js';
import { DEFAULT_REQUIREMENT } from '../converter/install.js';
import { diagnosePipInstall } from '../converter/diagnose.js';
import { envPython, pipCacheDirArgs } from './commands.js';
import { installPlan, type InstallPlan } from './pins.js';
import { PROVIDERS, SetupError, run, type PythonProvider } from './providers.js';
import { info } from '../log.js';

export interface SetupResult {
  python: string;
  provider: string;
  durationMs: number;
  caches: CacheReport[];
}

/** Packages the action's helpers need beyond the converter's: diffusers' load_lora_weights / fuse_lora need the peft backend. */
export function helperExtras(config: Config): string[] {
  return config.singleFile && config.singleFile.loras.length > 0 ? ['peft'] : [];
}

/** What identifies an installed converter env: the cache keys are made of it. */
export function environmentIdentity(config: Config): EnvironmentIdentity {
  const pins = readFileSync(config.setup.pinsFile);
  return {
    runnerOs: config.runner.os,
    arch: config.runner.arch,
    pythonVersion: config.setup.pythonVersion,
    // An env cached without the extras would lack them.
    requirement: [config.setup.requirement, ...helperExtras(config)].join(' '),
    pinsHash: createHash('sha256').update(pins).digest('hex').slice(0, 16),
  };
}

async function firstProvider(config: Config): Promise<PythonProvider> {
  for (const provider of PROVIDERS) if (await provider.provides({ config })) return provider;
  throw new SetupError('No provider could give a Python interpreter.');
}

/** The shipped lock is of the pinned converter; the user's own pins file is for their requirement. */
export function converterInstallPlan(config: Config, python: string): InstallPlan {
  const { setup, runner } = config;
  return installPlan({
    python,
    requirement: setup.requirement,
    pinsFile: setup.pinsFile,
    pinsText: readFileSync(setup.pinsFile, 'utf8'),
    lockApplies: setup.pinsFromInput || setup.requirement === DEFAULT_REQUIREMENT,
    scratch: path.join(runner.temp, 'coreml-sd-pins'),
    extras: helperExtras(config),
  });
}

async function install(plan: InstallPlan, config: Config, env: NodeJS.ProcessEnv): Promise<void> {
  const explainPip = (tail: string[]) => {
    const found = diagnosePipInstall(tail, { pythonVersion: config.setup.pythonVersion, os: config.runner.os, arch: config.runner.arch });
    return found && [found.title, ...found.hints].join(' ');
  };
  for (const file of plan.files) {
    mkdirSync(path.dirname(file.path), { recursive: true });
    writeFileSync(file.path, file.text);
  }
  info(plan.mode === 'lock' ? `Installing from the lock ${config.setup.pinsFile}.` : `Installing within the constraints of ${config.setup.pinsFile}.`);
  for (const step of plan.steps) {
    info(`pip: ${step.label}`);
    await run(step.argv, `pip could not install the converter (${config.setup.requirement}): the step "${step.label}" (${plan.mode} ${config.setup.pinsFile})`, { cwd: config.runner.workspace, env }, explainPip);
  }
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
      envReport = await restore(CACHE_NAMES.env, [prefix], envKey(identity));
      if (envReport.restored === 'exact' && existsSync(envPython(prefix))) {
        info(`The conda env at ${prefix} came from the cache: nothing to install.`);
        return { python: envPython(prefix), provider: `${provider.label} (cached env)`, durationMs: Date.now() - started, caches: [envReport] };
      }
    }

    info(`Python from ${provider.label}.`);
    const python = await provider.interpreter(ctx);
    const env = childEnvironment({ PYTHONUNBUFFERED: '1' });
    let pipDir: string | undefined;
    let pipReport: CacheReport | undefined;
    if (caching) {
      const dir = await runProcess(pipCacheDirArgs(python), { cwd: config.runner.workspace, env, echo: false });
      pipDir = dir.exitCode === 0 ? dir.tail.at(-1)?.trim() : undefined;
      if (pipDir) pipReport = await restore(CACHE_NAMES.pip, [pipDir], pipKey(identity));
    }

    await install(converterInstallPlan(config, python), config, env);
    // Saved only after a finished install: a half-filled cache would be restored as good later.
    if (pipReport && pipDir) caches.push(nonEmpty(pipDir) ? await save(pipReport, [pipDir]) : { ...pipReport, saved: 'skipped' });
    if (envReport && prefix) caches.push(await save(envReport, [prefix]));
    return { python, provider: provider.label, durationMs: Date.now() - started, caches };
  });
}

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
import { installPlan, pinnedVersion, type InstallPlan } from './pins.js';
import { FINISH_REQUIREMENTS, installsConverter, type SetupHalf } from './locks.js';
import { CORE_AI_REQUIREMENTS } from '../backends/core-ai/requirements.js';
import { PROVIDERS, SetupError, run, type PythonProvider } from './providers.js';
import { info } from '../log.js';

export interface SetupResult {
  python: string;
  provider: string;
  durationMs: number;
  caches: CacheReport[];
}

/**
 * The half of a split conversion this job runs: Config's `split` ('none' when the Config has none).
 * Read from the one Config, never from the inputs.
 */
export function setupHalf(config: Config): SetupHalf {
  return config.split.mode;
}

/**
 * Packages the action's helpers need beyond the converter's: diffusers' load_lora_weights / fuse_lora
 * need the peft backend (the LoRA merge runs where the conversion does, never in the finishing half).
 */
export function helperExtras(config: Config, half: SetupHalf = setupHalf(config)): string[] {
  return installsConverter(half) && config.singleFile && config.singleFile.loras.length > 0 ? ['peft'] : [];
}

/**
 * What identifies an installed env: the cache keys are made of it. The finishing half's env (no
 * converter, its own lock) is marked `environment: 'finish'`; the platform is in runnerOs and arch.
 */
export function environmentIdentity(config: Config, half: SetupHalf = setupHalf(config)): EnvironmentIdentity {
  const pins = readFileSync(config.setup.pinsFile);
  const pinsHash = createHash('sha256').update(pins).digest('hex').slice(0, 16);
  const common = { runnerOs: config.runner.os, arch: config.runner.arch, pythonVersion: config.setup.pythonVersion, pinsHash };
  if (!installsConverter(half)) return { ...common, requirement: FINISH_REQUIREMENTS.join(' '), environment: 'finish' };
  if (config.backend === 'core-ai') return { ...common, requirement: CORE_AI_REQUIREMENTS.join(' '), environment: 'core-ai' };
  // An env cached without the extras would lack them.
  return { ...common, requirement: [config.setup.requirement, ...helperExtras(config, half)].join(' ') };
}

async function firstProvider(config: Config, half: SetupHalf): Promise<PythonProvider> {
  for (const provider of PROVIDERS) if (await provider.provides({ config, half })) return provider;
  throw new SetupError('No provider could give a Python interpreter.');
}

/**
 * The shipped lock is of the pinned converter; the user's own pins file is for their requirement.
 * The finishing half installs no converter: the shipped finish lock as it is, or finish.in's
 * requirements within the user's pins (a converter lock of theirs would bring torch and the rest).
 */
export function converterInstallPlan(config: Config, python: string, half: SetupHalf = setupHalf(config)): InstallPlan {
  const { setup, runner } = config;
  const pinsText = readFileSync(setup.pinsFile, 'utf8');
  const common = { python, pinsFile: setup.pinsFile, pinsText, scratch: path.join(runner.temp, 'coreml-sd-pins') };
  // Core AI: the lock is the whole install (its converter is a package of it); a pins file of the user's
  // that is constraints resolves the backend's requirements within it.
  if (config.backend === 'core-ai') return installPlan({ ...common, requirement: undefined, lockApplies: true, extras: CORE_AI_REQUIREMENTS });
  if (!installsConverter(half)) {
    if (!setup.pinsFromInput && pinnedVersion(pinsText, 'torch') !== undefined) {
      throw new SetupError(`internal: the finishing half was given the converter's lock ${setup.pinsFile} (it pins torch); it installs the finish lock (setup/locks.ts shippedLock with its half).`);
    }
    return installPlan({ ...common, requirement: undefined, lockApplies: !setup.pinsFromInput, extras: FINISH_REQUIREMENTS });
  }
  return installPlan({
    ...common,
    requirement: setup.requirement,
    lockApplies: setup.pinsFromInput || setup.requirement === DEFAULT_REQUIREMENT,
    extras: helperExtras(config, half),
  });
}

async function install(plan: InstallPlan, config: Config, env: NodeJS.ProcessEnv, half: SetupHalf): Promise<void> {
  const explainPip = (tail: string[]) => {
    const found = diagnosePipInstall(tail, { pythonVersion: config.setup.pythonVersion, os: config.runner.os, arch: config.runner.arch });
    return found && [found.title, ...found.hints].join(' ');
  };
  for (const file of plan.files) {
    mkdirSync(path.dirname(file.path), { recursive: true });
    writeFileSync(file.path, file.text);
  }
  info(plan.mode === 'lock' ? `Installing from the lock ${config.setup.pinsFile}.` : `Installing within the constraints of ${config.setup.pinsFile}.`);
  const what = config.backend === 'core-ai' ? 'the Core AI converter and runtime' : installsConverter(half) ? `the converter (${config.setup.requirement})` : `what the finishing half needs (${FINISH_REQUIREMENTS.join(', ')})`;
  for (const step of plan.steps) {
    info(`pip: ${step.label}`);
    await run(step.argv, `pip could not install ${what}: the step "${step.label}" (${plan.mode} ${config.setup.pinsFile})`, { cwd: config.runner.workspace, env }, explainPip);
  }
}

const nonEmpty = (dir: string) => existsSync(dir) && readdirSync(dir).length > 0;

/**
 * Gets an interpreter from the first provider that can give one and pip installs the converter
 * into it (the finishing half: its own lock, no converter). With caching, a conda env restored by
 * its exact key is used as it is (no conda, no pip); otherwise pip's download cache is restored
 * first, and both are saved once installed.
 */
export async function setupConverter(config: Config, caching = false, half: SetupHalf = setupHalf(config)): Promise<SetupResult> {
  const started = Date.now();
  const ctx = { config, half };
  return core.group(config.backend === 'core-ai' ? 'Set up Python and Core AI (coreai-torch, coreai-core, coreai-opt)' : installsConverter(half) ? 'Set up Python and the converter' : 'Set up Python and coremltools (the finishing half)', async () => {
    const provider = await firstProvider(config, half);
    const identity = environmentIdentity(config, half);
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

    await install(converterInstallPlan(config, python, half), config, env, half);
    // Saved only after a finished install: a half-filled cache would be restored as good later.
    if (pipReport && pipDir) caches.push(nonEmpty(pipDir) ? await save(pipReport, [pipDir]) : { ...pipReport, saved: 'skipped' });
    if (envReport && prefix) caches.push(await save(envReport, [prefix]));
    return { python, provider: provider.label, durationMs: Date.now() - started, caches };
  });
}

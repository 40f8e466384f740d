// The locks a runner installs by platform and half (src/setup/locks.ts), what the finishing half
// installs (no converter), the Linux refusals, the Miniforge installer for Linux x64, and the env
// cache keys of each kind of env. The locks themselves are read from constraints/.
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  FINISH_REQUIREMENTS, LOCKED_PYTHONS, finishProblem, installsConverter, linuxConvertProblem, lockPlatform, shippedLock, type SetupHalf,
} from '../../src/setup/locks.js';
import { installPlan, isLock, pinnedVersion } from '../../src/setup/pins.js';
import { miniforgeInstaller } from '../../src/setup/miniforge.js';
import { envPrefix } from '../../src/setup/commands.js';
import { converterInstallPlan, environmentIdentity, helperExtras, setupHalf } from '../../src/setup/setup.js';
import { SetupError } from '../../src/setup/providers.js';
import { envKey, pipKey } from '../../src/cache/keys.js';
import { parseInputs } from '../../src/inputs/parse.js';
import type { Config } from '../../src/config.js';
import { compareVersions, parseLock } from '../../scripts/lock-check.mjs';
import { ROOT, ctx, raw } from './fixtures.js';

const MAC = { os: 'macOS', arch: 'ARM64' };
const LINUX = { os: 'Linux', arch: 'X64' };
const HALVES: SetupHalf[] = ['none', 'convert', 'finish'];
const read = (relative: string) => readFileSync(path.join(ROOT, relative), 'utf8');
const requirementLines = (text: string) => text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

describe('the shipped lock by platform and half', () => {
  it('macOS arm64 converts with the macOS lock, Linux x64 with the Linux one, the finishing half with its own', () => {
    expect(shippedLock('3.11', MAC, 'none')).toBe('constraints/ml-stable-diffusion-e12202c/macos-arm64-py3.11.txt');
    expect(shippedLock('3.11', LINUX, 'convert')).toBe('constraints/ml-stable-diffusion-e12202c/linux-x86_64-py3.11.txt');
    expect(shippedLock('3.10', MAC, 'finish')).toBe('constraints/ml-stable-diffusion-e12202c/finish-macos-arm64-py3.10.txt');
    // Without a runner: today's single job's lock, as before.
    expect(shippedLock('3.9')).toBe('constraints/ml-stable-diffusion-e12202c/macos-arm64-py3.9.txt');
    // A Python with no lock takes the newest's.
    expect(shippedLock('3.12', LINUX, 'convert')).toBe(shippedLock('3.11', LINUX, 'convert'));
    expect(lockPlatform({ os: 'Linux', arch: 'ARM64' })).toBe('linux-x86_64');
    expect(lockPlatform({ os: 'macOS', arch: 'X64' })).toBe('macos-arm64');
  });

  it('every lock it can name is shipped, a lock with hashes', () => {
    const named = new Set(LOCKED_PYTHONS.flatMap((v) => HALVES.flatMap((half) => [MAC, LINUX].map((runner) => shippedLock(v, runner, half)))));
    expect(named.size).toBe(LOCKED_PYTHONS.length * 3);
    for (const lock of named) {
      expect(existsSync(path.join(ROOT, lock)), lock).toBe(true);
      expect(isLock(read(lock)), lock).toBe(true);
    }
  });

  it('the finishing half installs no converter; the other halves do', () => {
    expect(installsConverter('finish')).toBe(false);
    expect(installsConverter('convert')).toBe(true);
    expect(installsConverter('none')).toBe(true);
  });
});

describe('the locks of the two halves', () => {
  it.each(LOCKED_PYTHONS)('Python %s: the finish lock holds coremltools and numpy at the macOS lock\'s versions, and no torch, diffusers, transformers', (v) => {
    const finish = read(shippedLock(v, MAC, 'finish'));
    const mac = read(shippedLock(v, MAC, 'none'));
    for (const name of ['torch', 'diffusers', 'transformers', 'python_coreml_stable_diffusion', 'huggingface-hub']) expect(pinnedVersion(finish, name), name).toBeUndefined();
    expect(pinnedVersion(finish, 'coremltools')).toBe('8.3.0');
    expect(pinnedVersion(finish, 'numpy')).toBe(pinnedVersion(mac, 'numpy'));
    expect(compareVersions(parseLock(finish).pins, parseLock(mac).pins, 'mac')).toEqual([]);
    // Only coremltools' and numpy's dependencies: a handful, not the converter's ninety.
    expect(parseLock(finish).pins.size).toBeLessThan(20);
  });

  it.each(LOCKED_PYTHONS)('Python %s: the Linux lock pins what the macOS lock pins, at the same versions, but mlx-metal; CUDA wheels are its own', (v) => {
    const linux = parseLock(read(shippedLock(v, LINUX, 'convert'))).pins;
    const mac = parseLock(read(shippedLock(v, MAC, 'none'))).pins;
    expect(compareVersions(linux, mac, 'mac')).toEqual([]);
    expect([...mac.keys()].filter((name) => !linux.has(name))).toEqual(['mlx-metal']);
    const onlyLinux = [...linux.keys()].filter((name) => !mac.has(name));
    expect(onlyLinux.filter((name) => !name.startsWith('nvidia-'))).toEqual(['triton']);
    expect(onlyLinux.length).toBeGreaterThan(10);
    expect(linux.get('torch')?.version).toBe('2.5.0');
    expect(linux.get('coremltools')?.version).toBe('8.3.0');
  });

  it('what the finishing half installs is finish.in, word for word', () => {
    expect(requirementLines(read('constraints/ml-stable-diffusion-e12202c/finish.in'))).toEqual([...FINISH_REQUIREMENTS]);
  });
});

describe('runners the halves refuse', () => {
  it('Linux arm64 (and any Linux but x64) cannot convert: no coremltools 8.3 Linux arm64 wheel', () => {
    const problem = linuxConvertProblem({ os: 'Linux', arch: 'ARM64' });
    expect(problem).toMatch(/coremltools 8\.3/);
    expect(problem).toMatch(/no Linux arm64 wheel/);
    expect(problem).toMatch(/ubuntu-latest/);
    expect(linuxConvertProblem({ os: 'Linux', arch: 'ARM' })).toBeDefined();
    expect(linuxConvertProblem({ os: 'Linux', arch: 'X86' })).toBeDefined();
    expect(linuxConvertProblem(LINUX)).toBeUndefined();
    expect(linuxConvertProblem({ os: 'Linux', arch: 'x64' })).toBeUndefined();
    // Not its question on macOS (the input rules judge macOS runners).
    expect(linuxConvertProblem(MAC)).toBeUndefined();
  });

  it('the finishing half needs macOS arm64', () => {
    expect(finishProblem(MAC)).toBeUndefined();
    expect(finishProblem(LINUX)).toMatch(/coremlcompiler/);
    expect(finishProblem({ os: 'macOS', arch: 'X64' })).toMatch(/macOS X64/);
  });
});

describe('the Miniforge installer on Linux x64', () => {
  it('Linux X64 -> the Linux x86_64 installer of the same release, with its sha256', () => {
    const i = miniforgeInstaller('X64', 'Linux');
    expect(i.url).toBe('https://github.com/conda-forge/miniforge/releases/download/25.3.1-0/Miniforge3-25.3.1-0-Linux-x86_64.sh');
    // The AUR package miniforge 25.3.1.0's sha256sums_x86_64 (src/setup/miniforge.ts says where it came from).
    expect(i.sha256).toBe('376b160ed8130820db0ab0f3826ac1fc85923647f75c1b8231166e3d559ab768');
    expect(i.cacheArch).toBe('x64');
    expect(miniforgeInstaller('X64', 'linux').url).toBe(i.url);
  });

  it('refuses a runner it has no pinned installer for, naming it', () => {
    expect(() => miniforgeInstaller('ARM64', 'Linux')).toThrow(/Linux ARM64/);
    expect(() => miniforgeInstaller('X64', 'Windows')).toThrow(/Windows X64/);
    // macOS as before (the default OS).
    expect(miniforgeInstaller('ARM64').url).toMatch(/MacOSX-arm64\.sh$/);
  });
});

describe('the finishing half\'s setup', () => {
  /** A Config as the inputs give it, its pins the shipped lock of this checkout, and a split. */
  function config(runner: { os: string; arch: string }, half: SetupHalf): Config {
    // (Parsed as on macOS: the input rules for Linux runners are the lead's, not this file's.)
    const parsed = parseInputs(raw(), ctx());
    if (!parsed.config) throw new Error(parsed.errors.join('\n'));
    const pinsFile = path.join(ROOT, shippedLock(parsed.config.setup.pythonVersion, runner, half));
    return { ...parsed.config, runner: { ...parsed.config.runner, ...runner }, setup: { ...parsed.config.setup, pinsFile }, split: { mode: half } };
  }

  it('reads the half from the Config (none when it has no split)', () => {
    expect(setupHalf(config(MAC, 'finish'))).toBe('finish');
    expect(setupHalf(config(MAC, 'none'))).toBe('none');
  });

  it('installs the finish lock with hashes, then pip check: no converter step, no build backends', () => {
    const plan = converterInstallPlan(config(MAC, 'finish'), '/env/bin/python');
    expect(plan.mode).toBe('lock');
    expect(plan.files).toEqual([]);
    expect(plan.steps.map((s) => s.argv.slice(3))).toEqual([
      ['install', '--disable-pip-version-check', '--no-input', '--require-hashes', '--no-deps', '-r', path.join(ROOT, shippedLock('3.11', MAC, 'finish'))],
      ['check'],
    ]);
    expect(plan.steps.flatMap((s) => s.argv).join(' ')).not.toMatch(/ml-stable-diffusion\.git|python_coreml_stable_diffusion/);
    // The converting halves still install the converter after the lock.
    const converting = converterInstallPlan(config(LINUX, 'convert'), '/env/bin/python');
    expect(converting.steps.some((s) => s.argv.at(-1)?.includes('ml-stable-diffusion.git'))).toBe(true);
    expect(converting.steps.find((s) => s.argv.includes('-r') && s.argv.includes('--no-build-isolation'))?.argv.at(-1)).toBe(path.join(ROOT, shippedLock('3.11', LINUX, 'convert')));
  });

  it('refuses the converter\'s lock given to the finishing half (it would install torch)', () => {
    const wrong = config(MAC, 'finish');
    const withConverterLock = { ...wrong, setup: { ...wrong.setup, pinsFile: path.join(ROOT, shippedLock('3.11', MAC, 'none')) } };
    expect(() => converterInstallPlan(withConverterLock, '/env/bin/python')).toThrow(SetupError);
  });

  it('with pins of the user\'s own, resolves what finish.in asks for within them', () => {
    const finish = config(MAC, 'finish');
    const users = { ...finish, setup: { ...finish.setup, pinsFile: path.join(ROOT, shippedLock('3.11', MAC, 'none')), pinsFromInput: true } };
    const plan = converterInstallPlan(users, '/env/bin/python');
    expect(plan.mode).toBe('constraints');
    const argv = plan.steps[0]?.argv ?? [];
    expect(argv.slice(-2)).toEqual([...FINISH_REQUIREMENTS]);
    expect(argv.join(' ')).not.toContain('ml-stable-diffusion.git');
  });

  it('no peft for a LoRA in the finishing half (the merge ran in the convert half)', () => {
    // helperExtras asks only whether the single file has LoRAs.
    const withLora = (c: Config) => ({ ...c, singleFile: { loras: [{}] } }) as unknown as Config;
    expect(helperExtras(withLora(config(MAC, 'finish')))).toEqual([]);
    expect(helperExtras(withLora(config(LINUX, 'convert')))).toEqual(['peft']);
    expect(helperExtras(withLora(config(MAC, 'none')))).toEqual(['peft']);
  });

  it('the env cache key differs between the converter\'s env and the finish env, and between platforms', () => {
    const keys = [config(MAC, 'none'), config(MAC, 'finish'), config(LINUX, 'convert')].map((c) => envKey(environmentIdentity(c)).key);
    expect(new Set(keys).size).toBe(3);
    expect(keys[1]).toMatch(/^coreml-sd-v1-env-finish-macOS-ARM64-py3\.11-/);
    expect(keys[2]).toMatch(/^coreml-sd-v1-env-Linux-X64-py3\.11-/);
    // The same lock on another half would still differ: the identity says which env it is.
    const mac = config(MAC, 'none');
    expect(envKey(environmentIdentity(mac, 'finish')).key).not.toBe(envKey(environmentIdentity(mac, 'none')).key);
    // pip's restore key never crosses from one kind to the other.
    const [finishRestore = ''] = pipKey(environmentIdentity(config(MAC, 'finish'))).restoreKeys;
    expect(pipKey(environmentIdentity(mac)).key.startsWith(finishRestore)).toBe(false);
    // Today's single job keeps its key's form (no marker).
    expect(environmentIdentity(mac)).not.toHaveProperty('environment');
  });

  it('the finish env lives beside the converter\'s, never inside it', () => {
    const converter = envPrefix('/cache', '3.11', 'ARM64');
    const finish = envPrefix('/cache', '3.11', 'ARM64', 'finish');
    expect(finish).not.toBe(converter);
    expect(finish.startsWith(`${converter}${path.sep}`)).toBe(false);
    expect(path.dirname(finish)).toBe(path.dirname(converter));
    expect(envPrefix('/cache', '3.11', 'X64', 'convert')).toBe(envPrefix('/cache', '3.11', 'X64'));
    // Core AI's env apart from Core ML's (another torch): a runner keeping its tool cache reuses the right one.
    expect(envPrefix('/cache', '3.11', 'X64', 'none', 'core-ai')).toBe('/cache/coreml-stable-diffusion-env/py3.11/x64-coreai');
    expect(envPrefix('/cache', '3.11', 'X64', 'none', 'core-ai')).not.toBe(envPrefix('/cache', '3.11', 'X64'));
  });
});

describe('installPlan without a converter', () => {
  it('a lock: the lock with hashes, then pip check', () => {
    const text = 'six==1.17.0 \\\n    --hash=sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274\n';
    const plan = installPlan({ python: 'py', requirement: undefined, pinsFile: '/l.txt', pinsText: text, lockApplies: true, scratch: '/s', extras: FINISH_REQUIREMENTS });
    expect(plan.steps.map((s) => s.argv.at(-1))).toEqual(['/l.txt', 'check']);
  });
});

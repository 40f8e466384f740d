// Setup argv builders and the pinned Miniforge installer.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { condaCreateArgs, envPrefix, envPython, miniforgeInstallArgs } from '../../src/setup/commands.js';
import { installPlan, isLock, pinnedVersion, shippedLock, withoutHashes, type InstallRequest } from '../../src/setup/pins.js';
import { MINIFORGE_VERSION, miniforgeInstaller } from '../../src/setup/miniforge.js';
import { SetupError, run } from '../../src/setup/providers.js';

describe('setup argv', () => {
  it('conda create: a prefix env with the requested Python from conda-forge, no prompt', () => {
    const argv = condaCreateArgs('/opt/conda/bin/conda', '/cache/env/py3.11/arm64', '3.11');
    expect(argv[0]).toBe('/opt/conda/bin/conda');
    expect(argv[1]).toBe('create');
    expect(argv).toContain('--yes');
    expect(argv[argv.indexOf('--prefix') + 1]).toBe('/cache/env/py3.11/arm64');
    expect(argv[argv.indexOf('--channel') + 1]).toBe('conda-forge');
    expect(argv).toContain('python=3.11');
  });

  it('the Miniforge installer runs in batch mode into the prefix', () => {
    const argv = miniforgeInstallArgs('/tmp/Miniforge3.sh', '/cache/Miniforge3/25.3.1-0/arm64');
    expect(argv).toContain('/tmp/Miniforge3.sh');
    expect(argv).toContain('-b');
    expect(argv[argv.indexOf('-p') + 1]).toBe('/cache/Miniforge3/25.3.1-0/arm64');
  });

  it('one env per Python version and arch under the tool cache', () => {
    const a = envPrefix('/Users/runner/hostedtoolcache', '3.11', 'ARM64');
    const b = envPrefix('/Users/runner/hostedtoolcache', '3.10', 'ARM64');
    const c = envPrefix('/Users/runner/hostedtoolcache', '3.11', 'X64');
    expect(new Set([a, b, c]).size).toBe(3);
    for (const p of [a, b, c]) expect(p.startsWith('/Users/runner/hostedtoolcache/')).toBe(true);
    expect(envPython(a)).toBe(path.join(a, 'bin', 'python'));
  });
});

describe('miniforgeInstaller', () => {
  // The checksums conda-forge publishes with release 25.3.1-0 (Miniforge3-25.3.1-0-MacOSX-<arch>.sh.sha256),
  // as the Homebrew cask `miniforge` 25.3.1-0 pins them too. A new pin updates this table with them.
  const PUBLISHED = {
    version: '25.3.1-0',
    arm64: 'd9eabd1868030589a1d74017b8723b01cf81b5fec1b9da8021b6fa44be7bbeae',
    x86_64: '6c09a3550bb65bdb6d3db6f6c2b890b987b57189f3b71c67a5af49943d2522e8',
  };

  it('ARM64 -> the arm64 macOS installer of the pinned release, with its published sha256', () => {
    const i = miniforgeInstaller('ARM64');
    expect(MINIFORGE_VERSION).toBe(PUBLISHED.version);
    expect(i.version).toBe(PUBLISHED.version);
    expect(i.url).toBe('https://github.com/conda-forge/miniforge/releases/download/25.3.1-0/Miniforge3-25.3.1-0-MacOSX-arm64.sh');
    expect(i.sha256).toBe(PUBLISHED.arm64);
    expect(i.cacheArch).toBe('arm64');
  });

  it('X64 -> the x86_64 installer with its published sha256', () => {
    const i = miniforgeInstaller('X64');
    expect(i.url).toBe('https://github.com/conda-forge/miniforge/releases/download/25.3.1-0/Miniforge3-25.3.1-0-MacOSX-x86_64.sh');
    expect(i.sha256).toBe(PUBLISHED.x86_64);
    expect(i.cacheArch).toBe('x64');
  });

  it('reads RUNNER_ARCH case-insensitively', () => {
    expect(miniforgeInstaller('arm64').url).toBe(miniforgeInstaller('ARM64').url);
  });
});

describe('the converter install from its pins', () => {
  const requirement = 'python_coreml_stable_diffusion @ git+https://github.com/apple/ml-stable-diffusion.git@e12202c1f6405b83918b58a5d097cd61e3e1f702';
  const lockFile = path.resolve(shippedLock('3.11'));
  const lockText = readFileSync(lockFile, 'utf8');
  const request = (over: Partial<InstallRequest> = {}): InstallRequest => ({
    python: '/env/bin/python', requirement, pinsFile: lockFile, pinsText: lockText, lockApplies: true, scratch: '/tmp/pins', ...over,
  });

  it('the shipped lock pins what the converter pins at e12202c, each with hashes', () => {
    expect(isLock(lockText)).toBe(true);
    expect(pinnedVersion(lockText, 'diffusers')).toBe('0.30.2');
    expect(pinnedVersion(lockText, 'transformers')).toBe('4.44.2');
    expect(pinnedVersion(lockText, 'huggingface_hub')).toBe('0.24.6');
    expect(pinnedVersion(lockText, 'diffusionkit')).toBe('0.4.0');
    expect(pinnedVersion(lockText, 'coremltools')).toBe('8.3.0');
    expect(pinnedVersion(lockText, 'torch')).toBe('2.5.0');
    expect(pinnedVersion(lockText, 'numpy')).toBe('1.23.5');
    expect(pinnedVersion(lockText, 'python_coreml_stable_diffusion')).toBeUndefined();
  });

  it('a lock: build backends first, then everything with hashes and no resolution, then the converter alone, then pip check', () => {
    const plan = installPlan(request());
    expect(plan.mode).toBe('lock');
    const [backends, deps, converter, check] = plan.steps.map((s) => s.argv);
    expect(plan.files).toHaveLength(1);
    expect(backends).toEqual(['/env/bin/python', '-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--require-hashes', '--no-deps', '-r', plan.files[0]!.path]);
    expect(plan.files[0]!.text).toMatch(/^setuptools==[\d.]+ \\\n\s+--hash=sha256:/m);
    expect(plan.files[0]!.text).toMatch(/^wheel==/m);
    expect(plan.files[0]!.text).not.toMatch(/^torch==/m);
    expect(deps).toEqual(expect.arrayContaining(['--require-hashes', '--no-deps', '--no-build-isolation']));
    expect(deps!.slice(-2)).toEqual(['-r', lockFile]);
    // pip refuses hash mode beside a git requirement: the commit in the URL pins the converter.
    expect(converter).not.toContain('--require-hashes');
    expect(converter).toEqual(expect.arrayContaining(['--no-deps', '--no-build-isolation']));
    expect(converter!.at(-1)).toBe(requirement);
    expect(check).toEqual(['/env/bin/python', '-m', 'pip', 'check']);
  });

  it('a lock without build backends builds with isolation', () => {
    const text = 'six==1.17.0 \\\n    --hash=sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274\n';
    const plan = installPlan(request({ pinsText: text }));
    expect(plan.files).toEqual([]);
    expect(plan.steps).toHaveLength(3);
    expect(plan.steps.flatMap((s) => s.argv)).not.toContain('--no-build-isolation');
  });

  it('the shipped lock for another requirement: its versions as constraints, hashes stripped (pip would demand them of the requirement)', () => {
    const plan = installPlan(request({ requirement: '/work/my-fork', lockApplies: false }));
    expect(plan.mode).toBe('constraints');
    expect(plan.steps).toHaveLength(1);
    const argv = plan.steps[0]!.argv;
    expect(argv[argv.indexOf('--constraint') + 1]).toBe('/tmp/pins/constraints.txt');
    expect(argv.at(-1)).toBe('/work/my-fork');
    const constraints = plan.files[0]!.text;
    expect(constraints).not.toContain('--hash');
    expect(constraints).not.toContain('#');
    expect(constraints).toContain('torch==2.5.0\n');
    expect(constraints.trim().split('\n')).toHaveLength(lockText.split('\n').filter((l) => /^[a-z0-9]/i.test(l)).length);
  });

  it('a constraints file (no hashes) is used as it is', () => {
    const plan = installPlan(request({ pinsFile: '/w/c.txt', pinsText: '# mine\ntorch==2.5.0\nnumpy<1.24\n', lockApplies: true }));
    expect(isLock('# mine\ntorch==2.5.0\nnumpy<1.24\n')).toBe(false);
    expect(plan.mode).toBe('constraints');
    expect(plan.files).toEqual([]);
    expect(plan.steps[0]!.argv).toEqual(['/env/bin/python', '-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--constraint', '/w/c.txt', requirement]);
  });

  it('withoutHashes keeps extras and markers of the pin line', () => {
    expect(withoutHashes('diffusers[torch]==0.30.2 ; python_version >= "3.9" \\\n    --hash=sha256:ab\n    # via x\n')).toBe('diffusers[torch]==0.30.2 ; python_version >= "3.9"\n');
  });
});

describe('run: a failed setup command', () => {
  const failing = [process.execPath, '-e', 'console.log("ERROR: No matching distribution found for mlx==0.29.3"); process.exit(1)'];

  it('is a SetupError with what explain makes of its output, before the last lines', async () => {
    const error = await run(failing, 'pip install', { cwd: process.cwd(), env: process.env }, (tail) =>
      tail.some((l) => l.includes('mlx')) ? 'mlx has Apple-silicon wheels only.' : undefined,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SetupError);
    expect((error as Error).message).toMatch(/^pip install failed: .* exited with code 1\. mlx has Apple-silicon wheels only\. Last output:\nERROR: No matching/);
  });
});

// Setup argv builders and the pinned Miniforge installer.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { condaCreateArgs, envPrefix, envPython, miniforgeInstallArgs, pipInstallArgs } from '../../src/setup/commands.js';
import { MINIFORGE_VERSION, miniforgeInstaller } from '../../src/setup/miniforge.js';

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

  it('pip install: the requirement as one element, with the constraints file', () => {
    const requirement = 'python_coreml_stable_diffusion @ git+https://github.com/apple/ml-stable-diffusion.git@e12202c';
    const argv = pipInstallArgs('/env/bin/python', requirement, '/action/constraints/c.txt');
    expect(argv.slice(0, 4)).toEqual(['/env/bin/python', '-m', 'pip', 'install']);
    expect(argv[argv.indexOf('--constraint') + 1]).toBe('/action/constraints/c.txt');
    expect(argv).toContain(requirement);
    expect(argv.at(-1)).toBe(requirement);
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
  it('ARM64 -> the arm64 macOS installer of the pinned release, with a sha256', () => {
    const i = miniforgeInstaller('ARM64');
    expect(i.version).toBe(MINIFORGE_VERSION);
    expect(MINIFORGE_VERSION).toMatch(/^\d+\.\d+\.\d+-\d+$/);
    expect(i.url).toBe(
      `https://github.com/conda-forge/miniforge/releases/download/${MINIFORGE_VERSION}/Miniforge3-${MINIFORGE_VERSION}-MacOSX-arm64.sh`,
    );
    expect(i.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(i.cacheArch).toBe('arm64');
  });

  it('X64 -> the x86_64 installer with another checksum', () => {
    const i = miniforgeInstaller('X64');
    expect(i.url).toMatch(/MacOSX-x86_64\.sh$/);
    expect(i.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(i.sha256).not.toBe(miniforgeInstaller('ARM64').sha256);
    expect(i.cacheArch).toBe('x64');
  });

  it('reads RUNNER_ARCH case-insensitively', () => {
    expect(miniforgeInstaller('arm64').url).toBe(miniforgeInstaller('ARM64').url);
  });
});

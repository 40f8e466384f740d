// scripts/lock-check.mjs, its pure parts (the whole check against a registry: test/e2e/python-lock.test.ts).
import { describe, expect, it } from 'vitest';
import { compareHashes, compareInstall, compareVersions, fileVersion, forbiddenPins, parseLock, versionsOf } from '../../scripts/lock-check.mjs';

const h = (c: string) => c.repeat(64);

describe('the lock check, pure', () => {
  it('reads pins with their hashes and names what is not pinned', () => {
    const { pins, problems } = parseLock(`# header\ntorch==2.5.0 \\\n    --hash=sha256:${h('a')} \\\n    --hash=sha256:${h('b')}\n    # via -r x.in\nNumPy==1.23.5 \\\n    --hash=sha256:${h('c')}\nscipy\n`);
    expect([...pins.values()]).toEqual([{ name: 'torch', version: '2.5.0', hashes: [h('a'), h('b')] }, { name: 'NumPy', version: '1.23.5', hashes: [h('c')] }]);
    expect(problems).toEqual(['not pinned as name==version: scipy']);
  });

  it('compares what the resolver installs within the pins with the lock, by normalised name', () => {
    const { pins } = parseLock(`huggingface_hub==0.24.6 \\\n    --hash=sha256:${h('a')}\nsix==1.17.0 \\\n    --hash=sha256:${h('b')}\n`);
    expect(compareInstall(pins, 'Would install 2 packages\n + huggingface-hub==0.24.6\n + six==1.17.0\n')).toEqual([]);
    expect(compareInstall(pins, ' + huggingface-hub==0.25.0\n + six==1.17.0\n + tqdm==4.0.0\n')).toEqual([
      'huggingface_hub is pinned at 0.24.6 but the .in file needs 0.25.0',
      'tqdm==4.0.0 is needed by the .in file but not in the lock',
    ]);
    expect(compareInstall(pins, ' + six==1.17.0\n')).toEqual(['huggingface_hub==0.24.6 is in the lock but nothing in the .in file needs it']);
  });

  it("takes a file's version from wheel and sdist names, and wants every file of the version hashed", () => {
    expect(fileVersion('torch-2.5.0-cp311-none-macosx_11_0_arm64.whl', 'torch')).toBe('2.5.0');
    expect(fileVersion('huggingface_hub-0.24.6.tar.gz', 'huggingface-hub')).toBe('0.24.6');
    expect(fileVersion('torchvision-0.20.0-cp311-none-any.whl', 'torch')).toBeUndefined();
    const files = [
      { filename: 'six-1.17.0-py2.py3-none-any.whl', hashes: { sha256: h('a') } },
      { filename: 'six-1.17.0.tar.gz', hashes: { sha256: h('b') } },
      { filename: 'six-1.16.0.tar.gz', hashes: { sha256: h('c') } },
    ];
    expect(compareHashes({ name: 'six', version: '1.17.0', hashes: [h('a'), h('b')] }, files)).toEqual([]);
    expect(compareHashes({ name: 'six', version: '1.17.0', hashes: [h('a'), h('c')] }, files)).toEqual([
      `six==1.17.0: the hash ${'c'.repeat(12)}… is not that of any file of this version`,
      'six==1.17.0: six-1.17.0.tar.gz has no hash in the lock',
    ]);
    expect(compareHashes({ name: 'six', version: '9.9.9', hashes: [h('a')] }, files)).toEqual(['six==9.9.9: the registry publishes no file of this version']);
  });

  it("takes another lock's versions: every package both pin at the same version, a platform's own packages aside", () => {
    const mac = parseLock(`torch==2.5.0 \\
    --hash=sha256:${h('a')}
mlx-metal==0.29.3 \\
    --hash=sha256:${h('b')}
FontTools==4.68.0 \\
    --hash=sha256:${h('c')}
`).pins;
    const linux = parseLock(`torch==2.5.0 \\
    --hash=sha256:${h('d')}
nvidia-nccl-cu12==2.21.5 \\
    --hash=sha256:${h('e')}
fonttools==4.68.0 \\
    --hash=sha256:${h('f')}
`).pins;
    expect(compareVersions(linux, mac, 'macos.txt')).toEqual([]);
    const drifted = parseLock(`torch==2.5.0 \\
    --hash=sha256:${h('d')}
fonttools==4.69.1 \\
    --hash=sha256:${h('f')}
`).pins;
    expect(compareVersions(drifted, mac, 'macos.txt')).toEqual(['fonttools is pinned at 4.69.1 but macos.txt pins 4.68.0']);
  });

  it("a lock's versions as constraints: one name==version a line, no hashes or comments", () => {
    expect(versionsOf(`# header\ntorch==2.5.0 \\
    --hash=sha256:${h('a')}\n    # via x\nsix==1.17.0 \\
    --hash=sha256:${h('b')}\n`)).toBe('torch==2.5.0\nsix==1.17.0\n');
  });

  it('names a package the lock must not hold', () => {
    const { pins } = parseLock(`coremltools==8.3.0 \\
    --hash=sha256:${h('a')}
Torch==2.5.0 \\
    --hash=sha256:${h('b')}
`);
    expect(forbiddenPins(pins, ['torch', 'diffusers'])).toEqual(['Torch==2.5.0 is in the lock, which must not hold torch']);
    expect(forbiddenPins(pins, ['transformers'])).toEqual([]);
  });
});

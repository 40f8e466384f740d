import { describe, expect, it } from 'vitest';
import { runProcess } from '../../src/process.js';

/**
 * The sampler of src/process.ts on real processes (Linux: /proc): the peak of the whole tree,
 * grandchildren included, and the larger of the sample and what the process printed.
 */
const MiB = 2 ** 20;
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

describe.runIf(process.platform === 'linux')('runProcess measures the process tree', () => {
  it('counts a grandchild\'s memory, touched and held for a second', async () => {
    const grandchild = 'import time; b = bytearray(300 * 2**20); time.sleep(1.5)';
    const child = `import subprocess, sys; sys.exit(subprocess.call([sys.executable, "-c", ${JSON.stringify(grandchild)}]))`;
    const result = await runProcess(['python3', '-c', child], { cwd: process.cwd(), env, echo: false, sampleMs: 200 });
    expect(result.exitCode).toBe(0);
    expect(result.peakRssBytes).toBeGreaterThan(300 * MiB);
    expect(result.peakRssBytes).toBeLessThan(1024 * MiB);
  }, 30_000); // two Python starts: slow on a loaded machine

  it('takes the peak a process printed when it is larger than what was sampled', async () => {
    const result = await runProcess(['python3', '-c', 'print("lean_convert: peak RSS 6635044864 bytes")'], { cwd: process.cwd(), env, echo: false });
    expect(result.peakRssBytes).toBe(6635044864);
  });

  it('gives no figure with sampling off and nothing printed', async () => {
    const result = await runProcess(['python3', '-c', 'pass'], { cwd: process.cwd(), env, echo: false, sampleMs: 0 });
    expect(result.peakRssBytes).toBeUndefined();
  });
});

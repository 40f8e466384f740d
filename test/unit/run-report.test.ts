// src/convert/run.ts, its pure parts: what a process's log says it did, and how long each part took.
import { describe, expect, it } from 'vitest';
import { onlySkipped, partTimes } from '../../src/convert/run.js';
import type { ConverterEvent } from '../../src/converter/log.js';

const at = (ms: number, event: ConverterEvent) => ({ at: ms, event });

describe('the report of one converter process', () => {
  it('a one-part process: the part took the process\'s wall time, loading included', () => {
    const timed = [at(1000, { kind: 'converting', part: 'unet' }), at(1500, { kind: 'converted', part: 'unet' })];
    expect(partTimes(timed, 'unet', 90_000)).toEqual({ unet: 90_000 });
    expect(partTimes(timed, 'control-unet', 90_000)).toEqual({ 'control-unet': 90_000 });
  });

  it('several parts in one process: each from its Converting line to its Converted line', () => {
    const timed = [
      at(0, { kind: 'converting', part: 'vae_decoder' }), at(2000, { kind: 'converted', part: 'vae_decoder' }),
      at(2000, { kind: 'converting', part: 'unet' }), at(9000, { kind: 'converted', part: 'unet' }),
    ];
    expect(partTimes(timed, 'unet', 12_000)).toEqual({ vae_decoder: 2000, unet: 7000 });
  });

  it('a part the converter skipped has no time (not 0 ms)', () => {
    expect(partTimes([at(5, { kind: 'skipped', part: 'unet', path: 'p' })], 'unet', 30_000)).toEqual({});
  });

  it('a process that only found its packages is skipped, naming them; one that worked is not', () => {
    expect(onlySkipped([at(0, { kind: 'skipped', part: 'unet', path: 'p' })])).toEqual(['unet']);
    expect(onlySkipped([at(0, { kind: 'skipped', part: 'unet', path: 'p' }), at(1, { kind: 'chunking', part: 'unet' })])).toEqual([]);
    expect(onlySkipped([at(0, { kind: 'converting', part: 'unet' }), at(1, { kind: 'converted', part: 'unet' })])).toEqual([]);
    expect(onlySkipped([])).toEqual([]);
  });
});

// diffSnapshots: what a converter process added or rewrote in the output folder.
import { describe, expect, it } from 'vitest';
import { diffSnapshots } from '../../src/convert/snapshot.js';

describe('diffSnapshots', () => {
  const before = new Map([
    ['a_unet.mlpackage', '100:10'],
    ['a_text_encoder.mlpackage', '100:20'],
    ['Resources/Unet.mlmodelc', '100:30'],
  ]);

  it('nothing changed', () => {
    expect(diffSnapshots(before, new Map(before))).toEqual({ added: [], modified: [] });
  });

  it('new entries are added, entries with a new signature are modified, sorted', () => {
    const after = new Map([
      ...before,
      ['a_unet.mlpackage', '200:10'],
      ['a_vae_decoder.mlpackage', '200:5'],
      ['Resources/controlnet/X.mlmodelc', '200:1'],
      ['Resources/Unet.mlmodelc', '100:31'],
    ]);
    expect(diffSnapshots(before, after)).toEqual({
      added: ['Resources/controlnet/X.mlmodelc', 'a_vae_decoder.mlpackage'],
      modified: ['Resources/Unet.mlmodelc', 'a_unet.mlpackage'],
    });
  });

  it('removed entries are neither added nor modified', () => {
    const after = new Map([['a_unet.mlpackage', '100:10']]);
    expect(diffSnapshots(before, after)).toEqual({ added: [], modified: [] });
  });

  it('from an empty folder everything is added', () => {
    expect(diffSnapshots(new Map(), before).added).toEqual(['Resources/Unet.mlmodelc', 'a_text_encoder.mlpackage', 'a_unet.mlpackage']);
  });
});

// What the action remembers in the output folder: the fingerprint of the options and the PSNR checks.
import { describe, expect, it } from 'vitest';
import { fingerprintConflicts, mergePsnr } from '../../src/convert/state.js';
import { folderInputs } from '../../src/converter/identity.js';
import type { PsnrCheck } from '../../src/converter/log.js';
import type { ConversionOptions } from '../../src/config.js';
import { identitySource } from './fixtures.js';

const fingerprint = (o: Partial<ConversionOptions>) => folderInputs(identitySource(o));

// Which options are in the fingerprint, and that each changes it: test/unit/identity.test.ts.
describe('fingerprint', () => {
  const base = fingerprint({});

  it('does not change with what is added to the same folder or how it is checked', () => {
    const same = {
      parts: ['vae_encoder' as const, 'safety_checker' as const],
      controlnets: ['lllyasviel/sd-controlnet-mlsd'],
      checkOutputCorrectness: false,
      bundleResources: false,
      outputDir: '/elsewhere',
    };
    expect(fingerprint(same)).toEqual(base);
  });

  it('holds strings only, empty for unset options', () => {
    for (const value of Object.values(base)) expect(typeof value).toBe('string');
    expect(base['quantize-nbits']).toBe('');
  });
});

describe('fingerprintConflicts', () => {
  it('none between equal fingerprints', () => {
    expect(fingerprintConflicts(fingerprint({}), fingerprint({}))).toEqual([]);
  });

  it('one entry per differing input, naming it with both values', () => {
    const conflicts = fingerprintConflicts(fingerprint({}), fingerprint({ quantizeNbits: 6, attention: 'ORIGINAL' }));
    expect(conflicts).toHaveLength(2);
    const q = conflicts.find((c) => c.startsWith('quantize-nbits'));
    expect(q).toContain('""');
    expect(q).toContain('"6"');
    const a = conflicts.find((c) => c.startsWith('attention-implementation'));
    expect(a).toContain('"SPLIT_EINSUM_V2"');
    expect(a).toContain('"ORIGINAL"');
  });

  it('reads a key an older state lacks as empty', () => {
    const stored = { ...fingerprint({}) };
    delete stored['extra-args'];
    expect(fingerprintConflicts(stored, fingerprint({}))).toEqual([]);
    expect(fingerprintConflicts(stored, fingerprint({ extraArgs: ['--x'] }))).toHaveLength(1);
  });
});

describe('mergePsnr', () => {
  const check = (part: PsnrCheck['part'], text: string, psnr: number | null): PsnrCheck => ({ part, check: text, psnr, printed: String(psnr) });
  const te = check('text_encoder', 'text_encoder baseline PyTorch to reference CoreML', 75.9);
  const unetRef = check('unet', 'unet baseline to reference PyTorch', 64.9);
  const unetCoreml = check('unet', 'unet baseline PyTorch to reference CoreML', 38);

  it('replaces a stored check by a fresh one of the same part and check text', () => {
    const fresh = check('unet', 'unet baseline PyTorch to reference CoreML', 58.2);
    const merged = mergePsnr([te, unetRef, unetCoreml], [fresh]);
    expect(merged).toHaveLength(3);
    expect(merged).toContainEqual(te);
    expect(merged).toContainEqual(unetRef);
    expect(merged).toContainEqual(fresh);
    expect(merged).not.toContainEqual(unetCoreml);
  });

  it('keeps text_encoder_2 apart from text_encoder although they share the check text', () => {
    const te2 = check('text_encoder_2', te.check, 70.2);
    expect(mergePsnr([te], [te2])).toEqual([te, te2]);
  });

  it('keeps everything stored when nothing is fresh, and adds fresh checks of new parts', () => {
    expect(mergePsnr([te, unetRef], [])).toEqual([te, unetRef]);
    const vae = check('vae_decoder', 'vae_decoder baseline PyTorch to baseline CoreML', 65.1);
    expect(mergePsnr([te], [vae])).toEqual([te, vae]);
  });
});

// The PSNR gate: thresholds per part over min-psnr, nan/inf failing, and checks that never came.
import { describe, expect, it } from 'vitest';
import { failureMessage, judgePsnr, missingChecks, thresholdFor, type PsnrVerdict } from '../../src/verify/psnr.js';
import type { PsnrResult } from '../../src/convert/run.js';
import type { PsnrPart } from '../../src/converter/vocabulary.js';
import { options } from './fixtures.js';

function result(part: PsnrPart, psnr: number | null, check = `${part} baseline PyTorch to reference CoreML`): PsnrResult {
  return { part, check, psnr, printed: psnr === null ? 'nan' : psnr.toFixed(1), step: `Convert ${part}` };
}

const gate = { minPsnr: 35, quantizedMinPsnr: 20, thresholds: { unet: 40, text_encoder: 36.5, unet_quantized: 28 } };

describe('thresholdFor', () => {
  it('takes the part threshold where there is one, else min-psnr', () => {
    expect(thresholdFor('unet', gate)).toBe(40);
    expect(thresholdFor('text_encoder', gate)).toBe(36.5);
    expect(thresholdFor('vae_decoder', gate)).toBe(35);
    expect(thresholdFor('text_encoder_2', gate)).toBe(35);
  });

  it('takes quantized-min-psnr for a quantized check, unless psnr-thresholds names it', () => {
    expect(thresholdFor('text_encoder_quantized', gate)).toBe(20);
    expect(thresholdFor('unet_quantized', gate)).toBe(28);
    expect(thresholdFor('unet_chunks', gate)).toBe(35);
  });

  it('lets a part threshold be below min-psnr too', () => {
    expect(thresholdFor('unet_chunks', { minPsnr: 40, quantizedMinPsnr: 20, thresholds: { unet_chunks: 30 } })).toBe(30);
  });
});

describe('judgePsnr', () => {
  it('a part threshold overrides min-psnr in both directions', () => {
    const verdicts = judgePsnr([result('unet', 39.9), result('vae_decoder', 39.9)], gate);
    expect(verdicts.map((v) => [v.part, v.threshold, v.passed])).toEqual([
      ['unet', 40, false],
      ['vae_decoder', 35, true],
    ]);
    const lenient = judgePsnr([result('unet', 32)], { minPsnr: 35, quantizedMinPsnr: 20, thresholds: { unet: 30 } });
    expect(lenient[0]?.passed).toBe(true);
  });

  it('a figure equal to its threshold passes', () => {
    expect(judgePsnr([result('unet', 40), result('text_encoder', 36.5), result('safety_checker', 35)], gate).map((v) => v.passed)).toEqual([true, true, true]);
  });

  it('null (nan or inf) fails whatever the threshold', () => {
    const verdicts = judgePsnr([result('vae_decoder', null)], { minPsnr: 1, quantizedMinPsnr: 20, thresholds: {} });
    expect(verdicts[0]).toMatchObject({ part: 'vae_decoder', psnr: null, passed: false });
  });

  it('keeps part, check text, figure and step for the psnr output', () => {
    const r = result('text_encoder_2', 70.2, 'text_encoder baseline PyTorch to reference CoreML');
    expect(judgePsnr([r], gate)).toEqual([
      { part: 'text_encoder_2', check: 'text_encoder baseline PyTorch to reference CoreML', psnr: 70.2, threshold: 35, passed: true, step: r.step },
    ]);
  });

  it('judges each check on its own: one failing unet check among two', () => {
    const verdicts = judgePsnr([result('unet', 64.9, 'unet baseline to reference PyTorch'), result('unet', 38)], gate);
    expect(verdicts.map((v) => v.passed)).toEqual([true, false]);
  });
});

describe('failureMessage', () => {
  it('names the part, the figure and the threshold', () => {
    const v: PsnrVerdict = { part: 'unet', check: 'unet baseline PyTorch to reference CoreML', psnr: 38.04, threshold: 40, passed: false, step: 's' };
    const message = failureMessage(v);
    expect(message).toContain('unet');
    expect(message).toContain('38.0');
    expect(message).toContain('40');
  });

  it('says nan/inf rather than a number for null', () => {
    const v: PsnrVerdict = { part: 'vae_decoder', check: 'c', psnr: null, threshold: 35, passed: false, step: 's' };
    expect(failureMessage(v)).toMatch(/nan|inf/);
  });
});

describe('missingChecks', () => {
  const verdicts = (parts: PsnrPart[]) => judgePsnr(parts.map((p) => result(p, 60)), gate);

  it('lists the converted parts that reported no check', () => {
    expect(missingChecks(options(), verdicts(['text_encoder'])).sort()).toEqual(['unet', 'vae_decoder']);
    expect(missingChecks(options(), verdicts(['text_encoder', 'vae_decoder', 'unet']))).toEqual([]);
  });

  it('expects nothing when check-output-correctness is false', () => {
    expect(missingChecks(options({ checkOutputCorrectness: false }), [])).toEqual([]);
  });

  it('expects control-unet instead of unet for a ControlNet-ready unet, and controlnet for ControlNets', () => {
    const o = options({ unetSupportControlnet: true, controlnets: ['lllyasviel/sd-controlnet-mlsd'], parts: ['unet'] });
    expect(missingChecks(o, []).sort()).toEqual(['control-unet', 'controlnet']);
  });

  it('expects the refiner when one is converted', () => {
    const o = options({ refinerVersion: 'stabilityai/stable-diffusion-xl-refiner-1.0', xlVersion: true, parts: ['unet'] });
    expect(missingChecks(o, verdicts(['unet']))).toEqual(['refiner']);
  });

  it("expects DiffusionKit's checks of the SD3 VAE decoder and MMDiT, not the chunks' (coremltools prints only low ones)", () => {
    const o = options({ sd3Version: true, parts: ['vae_decoder', 'mmdit'], chunkUnet: true });
    expect(missingChecks(o, [])).toEqual(['vae_decoder', 'mmdit']);
    expect(missingChecks(o, verdicts(['vae_decoder', 'mmdit']))).toEqual([]);
  });

  it('does not demand text_encoder_2 (only SDXL pipelines have one)', () => {
    expect(missingChecks(options({ parts: ['text_encoder'], xlVersion: true }), verdicts(['text_encoder']))).toEqual([]);
  });

  it('expects the VAE encoder and safety checker when converted', () => {
    expect(missingChecks(options({ parts: ['vae_encoder', 'safety_checker'] }), []).sort()).toEqual(['safety_checker', 'vae_encoder']);
  });
});

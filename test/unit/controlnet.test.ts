import { describe, expect, it } from 'vitest';
import { checkControlNetBases } from '../../src/hub/controlnet.js';
import type { ModelRevision } from '../../src/hub/models.js';
import { options } from './fixtures.js';

const SD15 = 'runwayml/stable-diffusion-v1-5';
const CN = 'lllyasviel/sd-controlnet-mlsd';
const config = (modelVersion: string) => ({ conversion: options({ modelVersion, controlnets: [CN], hubIds: [modelVersion, CN] }) });
const cn = (card: ModelRevision['card'], resolved = true): ModelRevision => ({ id: CN, revision: 'a'.repeat(40), resolved, files: [], card });

describe("the ControlNet cards, as the converter reads them", () => {
  it('passes a card whose base_model is model-version', () => {
    expect(checkControlNetBases(config(SD15), [cn({ base_model: SD15 })])).toEqual({ errors: [], warnings: [] });
  });

  it('refuses another base_model, naming it and the input to set', () => {
    const { errors } = checkControlNetBases(config('stabilityai/stable-diffusion-2-1-base'), [cn({ base_model: SD15 })]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(new RegExp(`^Input \`convert-controlnet\` names ${CN}, which its model card says was trained on ${SD15}, but \`model-version\` is stabilityai/stable-diffusion-2-1-base`));
    expect(errors[0]).toContain(`Set \`model-version: ${SD15}\``);
  });

  it('refuses a card with no metadata (the converter crashes on it) and a base_model list (never equal to a string)', () => {
    expect(checkControlNetBases(config(SD15), [cn(null)]).errors[0]).toContain("AttributeError: 'NoneType' object has no attribute 'get'");
    expect(checkControlNetBases(config(SD15), [cn({ base_model: [SD15] })]).errors[0]).toContain(`lists base_model as ["${SD15}"]`);
  });

  it('only warns where the card names no base_model, and not at all for SD 1.5, as the converter does', () => {
    expect(checkControlNetBases(config('acme/sd'), [cn({ license: 'openrail' })]).warnings[0]).toMatch(/names no base_model: the converter converts it, but it may not fit acme\/sd/);
    expect(checkControlNetBases(config(SD15), [cn({ license: 'openrail' })])).toEqual({ errors: [], warnings: [] });
  });

  it('says nothing of a ControlNet the Hub could not be asked about', () => {
    expect(checkControlNetBases(config('acme/sd'), [cn(undefined, false)])).toEqual({ errors: [], warnings: [] });
  });
});

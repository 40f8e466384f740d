// prepare-fp16: the input, the rules, and the decision (when the helper runs, where the copy goes).
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseInputs } from '../../src/inputs/parse.js';
import type { Config } from '../../src/config.js';
import { binOnlyFolders, decidePrepareFp16, stagedFolder, stagingLinks } from '../../src/fp16/decide.js';
import { isFp16Safetensors } from '../../src/hub/files.js';
import { prepareFp16 } from '../../src/fp16/prepare.js';
import { ACTION_ROOT, HUB_MODEL, WORKSPACE, ctx, options, raw } from './fixtures.js';

const HUB_FILES_NO_FP16 = ['model_index.json', 'unet/config.json', 'unet/diffusion_pytorch_model.safetensors', 'text_encoder/model.safetensors', 'v1-5-pruned.ckpt'];
const HUB_FILES_FP16 = [...HUB_FILES_NO_FP16, 'unet/diffusion_pytorch_model.fp16.safetensors'];

function config(mode: Config['prepareFp16']['mode'], o: Parameters<typeof options>[0] = {}): Pick<Config, 'prepareFp16' | 'conversion'> {
  return { prepareFp16: { mode, helper: '/a/python/prepare_fp16.py' }, conversion: options(o) };
}

describe('the prepare-fp16 and verify-bundle inputs', () => {
  it('default to auto and true, with the helper shipped beside action.yml', () => {
    const c = parseInputs(raw(), ctx()).config!;
    expect(c.prepareFp16).toEqual({ mode: 'auto', helper: path.join(ACTION_ROOT, 'python', 'prepare_fp16.py') });
    expect(c.verifyBundle).toBe(true);
  });

  it('map true/false and reject anything else, naming the input', () => {
    expect(parseInputs(raw({ 'prepare-fp16': 'true' }), ctx()).config?.prepareFp16.mode).toBe('always');
    expect(parseInputs(raw({ 'prepare-fp16': 'false', 'verify-bundle': 'false' }), ctx()).config).toMatchObject({ prepareFp16: { mode: 'never' }, verifyBundle: false });
    expect(parseInputs(raw({ 'prepare-fp16': 'yes' }), ctx()).errors).toEqual(['Input `prepare-fp16` must be one of auto, true, false, got "yes".']);
    expect(parseInputs(raw({ 'verify-bundle': 'maybe' }), ctx()).errors).toEqual(['Input `verify-bundle` must be true or false, got "maybe".']);
  });

  it('true with a model outside the workspace is an error before anything runs', () => {
    const result = parseInputs(raw({ 'prepare-fp16': 'true', 'model-version': '/models/sd' }), ctx({ dirs: ['/models/sd'] }));
    expect(result.errors).toEqual([expect.stringMatching(/^Input `prepare-fp16` is true, but model-version \/models\/sd is an absolute path/)]);
    expect(parseInputs(raw({ 'prepare-fp16': 'auto', 'model-version': '/models/sd' }), ctx({ dirs: ['/models/sd'] })).errors).toEqual([]);
  });

  it('true for SD3 is a warning: nothing there loads variant fp16', () => {
    const result = parseInputs(raw({ 'prepare-fp16': 'true', 'sd3-version': 'true', 'convert-mmdit': 'true' }), ctx());
    expect(result.warnings).toContainEqual(expect.stringMatching(/^Input `prepare-fp16` is true, but has no effect: SD3/));
  });
});

describe('decidePrepareFp16', () => {
  it('auto runs the helper only when the Hub lists no fp16 safetensors', () => {
    expect(decidePrepareFp16(config('auto'), { files: HUB_FILES_NO_FP16 })).toEqual({
      run: true,
      reason: "the Hub's file list of stabilityai/stable-diffusion-2-1-base has no *.fp16.safetensors files",
    });
    expect(decidePrepareFp16(config('auto'), { files: HUB_FILES_FP16 }).run).toBe(false);
    // Sharded fp16 weights count too.
    expect(decidePrepareFp16(config('auto'), { files: [...HUB_FILES_NO_FP16, 'unet/diffusion_pytorch_model.fp16-00001-of-00002.safetensors'] }).run).toBe(false);
  });

  it('auto over a local folder needs no copy: diffusers loads its plain weights, .bin too', () => {
    for (const modelVersion of ['models/sd', '/abs/sd']) {
      const d = decidePrepareFp16(config('auto', { modelVersion, modelIsLocal: true }));
      expect(d).toEqual({ run: false, reason: `diffusers loads the plain weights of the folder ${modelVersion} where it has no fp16 files` });
    }
  });

  it('auto needs no copy when the converter loads offline from the filled cache, unless a folder has only .bin weights', () => {
    const plain = { files: ['model_index.json', 'unet/diffusion_pytorch_model.safetensors', 'vae/diffusion_pytorch_model.safetensors'] };
    expect(decidePrepareFp16(config('auto'), plain, true).run).toBe(false);
    expect(decidePrepareFp16(config('auto'), plain, false).run).toBe(true);
    const binVae = { files: ['model_index.json', 'unet/diffusion_pytorch_model.safetensors', 'vae/diffusion_pytorch_model.bin'] };
    expect(decidePrepareFp16(config('auto'), binVae, true).run).toBe(true);
    expect(binOnlyFolders(binVae.files)).toEqual(['vae']);
  });

  it('auto warns and converts as is when the file list cannot be read', () => {
    const d = decidePrepareFp16(config('auto'), { error: 'GET https://huggingface.co/api/models/x/revision/main answered 401' });
    expect(d.run).toBe(false);
    expect(d.warning).toMatch(/could not be read \(GET .* answered 401\); converting as is\. Set prepare-fp16: true/);
  });

  it('true and false need no file list; SD3 never runs it', () => {
    expect(decidePrepareFp16(config('always')).run).toBe(true);
    expect(decidePrepareFp16(config('never'), { files: [] }).run).toBe(false);
    expect(decidePrepareFp16(config('always', { sd3Version: true })).run).toBe(false);
    expect(decidePrepareFp16(config('auto', { sd3Version: true }), { files: [] }).run).toBe(false);
  });

  it('recognises fp16 safetensors names only', () => {
    expect(['a/model.fp16.safetensors', 'a/x.fp16-00002-of-00002.safetensors'].every(isFp16Safetensors)).toBe(true);
    expect(['a/model.safetensors', 'a/model.fp16.bin', 'fp16/model.safetensors', 'a/model.safetensors.index.fp16.json'].some(isFp16Safetensors)).toBe(false);
  });
});

describe('where the copy goes', () => {
  it('under the staging root at the model-version path, so the converter finds it by the same name', () => {
    expect(stagedFolder('/tmp/s', 'stabilityai/stable-diffusion-2-1-base')).toBe('/tmp/s/stabilityai/stable-diffusion-2-1-base');
    expect(stagedFolder('/tmp/s', './models/sd')).toBe('/tmp/s/models/sd');
    for (const outside of ['/abs/sd', '../sd', '.', 'a/../../b']) expect(stagedFolder('/tmp/s', outside), outside).toBeUndefined();
  });

  it('links the local folders given by relative path, which must stay reachable from there', () => {
    const c = { conversion: options({ refinerVersion: 'models/refiner', customVaeVersion: 'org/vae', controlnets: ['cn/local', 'lllyasviel/sd-controlnet-mlsd'] }), runner: { os: 'macOS', arch: 'ARM64', temp: '/t', toolCache: '/tc', workspace: WORKSPACE, hubEndpoint: 'https://huggingface.co', hubCache: '/h/hub', stepSummary: false, artifactServiceUnset: [] } };
    const local = new Set([path.join(WORKSPACE, 'models/refiner'), path.join(WORKSPACE, 'cn/local')]);
    expect(stagingLinks(c, '/t/s', (p) => local.has(p))).toEqual([
      { link: '/t/s/models/refiner', target: path.join(WORKSPACE, 'models/refiner') },
      { link: '/t/s/cn/local', target: path.join(WORKSPACE, 'cn/local') },
    ]);
  });
});

describe('prepareFp16 and the Hub', () => {
  /** The Hub stage's client, recording what it is asked; its listing already has fp16 files, so no helper runs. */
  function hub() {
    const asked: string[] = [];
    const client = {
      resolve: async (id: string, revision: string) => {
        asked.push(`${id}@${revision}`);
        return { sha: 'c'.repeat(40), files: HUB_FILES_FP16.map((rfilename) => ({ rfilename })), access: 'public' as const, card: null };
      },
    };
    return { asked, client };
  }

  it('lists the files at model-revision when the Hub stage could not resolve it, through the Hub stage\'s client', async () => {
    const { asked, client } = hub();
    const config = parseInputs(raw({ 'model-revision': 'v2.1' }), ctx()).config!;
    const prepared = await prepareFp16(config, '/no/python', undefined, client);
    expect(asked).toEqual([`${HUB_MODEL}@v2.1`]);
    expect([prepared.cwd, prepared.failure]).toEqual([undefined, undefined]);
  });

  it('does not ask again when the Hub stage resolved the commit', async () => {
    const { asked, client } = hub();
    const config = parseInputs(raw({ 'model-revision': 'v2.1' }), ctx()).config!;
    await prepareFp16(config, '/no/python', { revision: 'c'.repeat(40), files: HUB_FILES_FP16 }, client);
    expect(asked).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import { envKey, hubKey, keyPart, outputsKey, pipKey, type EnvironmentIdentity, type ResolvedModel } from '../../src/cache/keys.js';
import { outputOptions, outputsCacheBlocker } from '../../src/cache/outputs.js';
import { cacheHits, type CacheReport } from '../../src/cache/cache.js';
import { renderCaches } from '../../src/summary/summary.js';
import { canRunOffline } from '../../src/hub/stage.js';
import { filesToFetch, hubCacheDir, repoFolder } from '../../src/hub/files.js';
import { parseInputs } from '../../src/inputs/parse.js';
import type { Config } from '../../src/config.js';
import type { ModelRevision } from '../../src/hub/models.js';
import { ctx, raw } from './fixtures.js';

const identity: EnvironmentIdentity = {
  runnerOs: 'macOS',
  arch: 'ARM64',
  pythonVersion: '3.11',
  requirement: 'python_coreml_stable_diffusion @ git+https://github.com/apple/ml-stable-diffusion.git@e12202c',
  pinsHash: 'abcdef0123456789',
};
const model = (id: string, revision: string, resolved = true): ResolvedModel => ({ id, revision, resolved });
const SHA1 = '1'.repeat(40);
const SHA2 = '2'.repeat(40);

function config(overrides: Parameters<typeof raw>[0] = {}): Config {
  const parsed = parseInputs(raw(overrides), ctx());
  if (!parsed.config) throw new Error(parsed.errors.join('\n'));
  return parsed.config;
}

describe('cache keys', () => {
  it('stay under 512 characters without commas, even for long ids and many models', () => {
    const long = `owner/${'n'.repeat(96)}`;
    const keys = [
      hubKey([model(long, SHA1), ...Array.from({ length: 30 }, (_, i) => model(`cn/controlnet-${i}`, SHA2))]),
      outputsKey([model(long, SHA1)], { a: 'x,y' }, identity),
      pipKey({ ...identity, requirement: 'r,'.repeat(400) }),
    ];
    for (const k of keys) for (const key of [k.key, ...k.restoreKeys]) {
      expect(key.length).toBeLessThanOrEqual(512);
      expect(key).not.toContain(',');
    }
  });

  it('pip: keyed on OS, arch, Python, the requirement and the constraints; the restore key leaves out the constraints', () => {
    // dfd8088bb936fe93: the first 16 hex digits of sha256(requirement + NUL), from sha256sum.
    expect(pipKey(identity)).toEqual({
      key: 'coreml-sd-v1-pip-macOS-ARM64-py3.11-dfd8088bb936fe93-abcdef0123456789',
      restoreKeys: ['coreml-sd-v1-pip-macOS-ARM64-py3.11-dfd8088bb936fe93-'],
    });
    const [restore = ''] = pipKey(identity).restoreKeys;
    expect(pipKey({ ...identity, pinsHash: 'ffff' }).key.startsWith(restore)).toBe(true);
    for (const change of [{ runnerOs: 'Linux' }, { arch: 'X64' }, { pythonVersion: '3.10' }, { requirement: 'other' }]) {
      expect(pipKey({ ...identity, ...change }).key.startsWith(restore), JSON.stringify(change)).toBe(false);
    }
  });

  it('env: exact only, and any of OS, arch, Python, requirement or constraints changes the key', () => {
    const base = envKey(identity);
    expect(base.restoreKeys).toEqual([]);
    for (const change of [{ runnerOs: 'Linux' }, { arch: 'X64' }, { pythonVersion: '3.10' }, { requirement: 'other' }, { pinsHash: '0' }]) {
      expect(envKey({ ...identity, ...change }).key).not.toBe(base.key);
    }
  });

  it('Hub: keyed on every model and commit; the restore key on the main model alone matches a new commit', () => {
    const first = hubKey([model('acme/sd', SHA1)]);
    const next = hubKey([model('acme/sd', SHA2)]);
    expect(next.key).not.toBe(first.key);
    expect(first.key.startsWith(next.restoreKeys[0] ?? '-')).toBe(true);
    expect(hubKey([model('acme/sd', SHA1), model('cn/a', SHA1)]).key).not.toBe(hubKey([model('acme/sd', SHA1), model('cn/a', SHA2)]).key);
    expect(hubKey([model('acme/other', SHA1)]).restoreKeys[0]).not.toBe(first.restoreKeys[0]);
  });

  it('outputs: a new commit, an option or the constraints change the key; nothing to restore from', () => {
    const base = outputsKey([model('acme/sd', SHA1)], { attention: 'SPLIT_EINSUM' }, identity);
    expect(base.restoreKeys).toEqual([]);
    expect(outputsKey([model('acme/sd', SHA2)], { attention: 'SPLIT_EINSUM' }, identity).key).not.toBe(base.key);
    expect(outputsKey([model('acme/sd', SHA1)], { attention: 'ORIGINAL' }, identity).key).not.toBe(base.key);
    expect(outputsKey([model('acme/sd', SHA1)], { attention: 'SPLIT_EINSUM' }, { ...identity, pinsHash: '9' }).key).not.toBe(base.key);
  });

  it('keyPart keeps letters, digits, dot, dash and underscore only', () => {
    expect(keyPart('a/b c,d')).toBe('a-b-c-d');
  });
});

describe('outputs cache', () => {
  const resolved: ModelRevision[] = [{ id: 'stabilityai/stable-diffusion-2-1-base', revision: SHA1, resolved: true, files: [] }];

  it('is used only with caching on, a Hub model and resolved commits', () => {
    expect(outputsCacheBlocker(config(), resolved)).toBeUndefined();
    expect(outputsCacheBlocker(config({ 'cache-outputs': 'false' }), resolved)).toBe('turned off');
    expect(outputsCacheBlocker(config({ cache: 'false' }), resolved)).toBe('turned off');
    expect(outputsCacheBlocker(config(), [{ ...resolved[0]!, revision: 'main', resolved: false }])).toMatch(/could not be asked/);
  });

  it('keys on the options that shape the output, not on the token or the output path', () => {
    const a = outputOptions(config({ 'hf-token': 'hf_a', 'output-dir': 'one' }));
    expect(outputOptions(config({ 'hf-token': 'hf_b', 'output-dir': 'two' }))).toEqual(a);
    expect(outputOptions(config({ 'chunk-unet': 'true' }))).not.toEqual(a);
    expect(JSON.stringify(a)).not.toContain('hf_a');
  });
});

describe('Hub files and offline runs', () => {
  const files = (names: string[]) => names.map((rfilename) => ({ rfilename }));

  it('takes what diffusers loads with variant fp16: configs, tokenizers, fp16 weights; no float32 weights, README or single-file checkpoints', () => {
    const picked = filesToFetch(
      files([
        'model_index.json', 'README.md', 'v1-5-pruned.safetensors',
        'unet/config.json', 'unet/diffusion_pytorch_model.fp16.safetensors', 'unet/diffusion_pytorch_model.safetensors', 'unet/diffusion_pytorch_model.bin',
        'text_encoder/model.fp16.safetensors', 'text_encoder/model.safetensors', 'text_encoder/pytorch_model.bin',
        'tokenizer/vocab.json', 'tokenizer/merges.txt', 'scheduler/scheduler_config.json',
        'safety_checker/model.safetensors', 'safety_checker/config.json',
      ]),
    ).map((f) => f.rfilename);
    expect(picked.sort()).toEqual(
      [
        'model_index.json', 'unet/config.json', 'unet/diffusion_pytorch_model.fp16.safetensors', 'text_encoder/model.fp16.safetensors',
        'tokenizer/vocab.json', 'tokenizer/merges.txt', 'scheduler/scheduler_config.json',
        // No fp16 weights in this component: diffusers falls back to its plain safetensors.
        'safety_checker/model.safetensors', 'safety_checker/config.json',
      ].sort(),
    );
  });

  it('a VAE or ControlNet repository (no model_index.json): its config and plain safetensors', () => {
    const picked = filesToFetch(files(['config.json', 'diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.bin', 'diffusion_pytorch_model.fp16.safetensors', 'README.md', 'images/a.png']));
    expect(picked.map((f) => f.rfilename).sort()).toEqual(['config.json', 'diffusion_pytorch_model.safetensors']);
  });

  it('uses huggingface_hub cache paths', () => {
    expect(hubCacheDir({ HF_HUB_CACHE: '/c' }, '/home/u')).toBe('/c');
    expect(hubCacheDir({ HF_HOME: '/h' }, '/home/u')).toBe('/h/hub');
    expect(hubCacheDir({}, '/home/u')).toBe('/home/u/.cache/huggingface/hub');
    expect(repoFolder('/c', 'acme/sd')).toBe('/c/models--acme--sd');
  });

  it('runs offline only when every model is pinned and nothing needs the Hub', () => {
    const m: ModelRevision[] = [{ id: 'stabilityai/stable-diffusion-2-1-base', revision: SHA1, resolved: true, files: [] }];
    expect(canRunOffline(config(), m, true)).toBe(true);
    expect(canRunOffline(config(), m, false)).toBe(false);
    expect(canRunOffline(config(), [{ ...m[0]!, resolved: false }], true)).toBe(false);
    expect(canRunOffline(config({ 'convert-controlnet': 'lllyasviel/sd-controlnet-mlsd' }), m, true)).toBe(false);
    expect(canRunOffline(config({ 'include-t5': 'true' }), m, true)).toBe(false);
  });
});

describe('cache-hit-hf with two Hugging Face caches (the Hub models and a single file\'s downloads)', () => {
  const hf = (restored: CacheReport['restored'], of?: string): CacheReport => ({ name: 'Hugging Face', ...(of ? { of } : {}), key: `hf-${of ?? 'models'}`, restored, restoredBytes: 1024, restoreMs: 1500 });
  it('is true only when every Hugging Face cache the run used was restored by its exact key', () => {
    expect(cacheHits([hf('exact'), hf('exact', 'the single file')])['cache-hit-hf']).toBe(true);
    expect(cacheHits([hf('exact'), hf('miss', 'the single file')])['cache-hit-hf']).toBe(false);
    expect(cacheHits([hf('miss'), hf('exact', 'the single file')])['cache-hit-hf']).toBe(false);
    expect(cacheHits([hf('exact'), hf('partial', 'the single file')])['cache-hit-hf']).toBe(false);
    expect(cacheHits([hf('exact', 'the single file')])['cache-hit-hf']).toBe(true);
    expect(cacheHits([hf('off'), hf('off', 'the single file')])['cache-hit-hf']).toBe(false);
    expect(cacheHits([])['cache-hit-hf']).toBe(false);
  });
  it('the summary lists both, each named by what it holds', () => {
    const table = renderCaches([hf('exact'), { ...hf('miss', 'the single file'), saved: 'saved', savedBytes: 2048 }]);
    expect(table).toContain('| Hugging Face | hit | 1.0 KiB | 2 s | – |');
    expect(table).toContain('| Hugging Face (the single file) | miss | 1.0 KiB | 2 s | saved, 2.0 KiB |');
  });
});

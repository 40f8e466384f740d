// Single-file checkpoints (issue 12), the pure parts: the inputs' forms, the safetensors header,
// the kind from tensor names, LoRA bases, SD 2.x's config, pickle refusal.
import { describe, expect, it } from 'vitest';
import { parseInputs } from '../../src/inputs/parse.js';
import { ACTION_ROOT, WORKSPACE, ctx, raw } from './fixtures.js';
import { FIRST_READ, HeaderError, headerLength, parseHeader, readHeaderWith, type TensorInfo } from '../../src/single-file/header.js';
import { checkpointKind, loraBaseProblem, loraFacts, sd2ConfigProblem, xlVersionMismatch, type CheckpointFacts } from '../../src/single-file/kind.js';
import { modelNameOf, splitScale } from '../../src/single-file/source.js';
import { DEFAULT_CONFIGS, helperArgv, helperResult, isConfigFile } from '../../src/single-file/plan.js';
import { contentConflict } from '../../src/single-file/record.js';
import type { SingleFileCheck } from '../../src/single-file/check.js';
import { outputOptions, outputsCacheBlocker, singleFileModels } from '../../src/cache/outputs.js';
import { hubFilesKey, outputsKey } from '../../src/cache/keys.js';
import { hubFilesOf } from '../../src/single-file/prepare.js';

const BYTES: Record<string, number> = { F16: 2, F32: 4 };

/** A safetensors file's header bytes (8-byte length + JSON) for these tensors, and the whole file's size. */
function safetensors(shapes: Record<string, number[]>, metadata?: Record<string, string>): { bytes: Buffer; size: number } {
  let offset = 0;
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  for (const [name, shape] of Object.entries(shapes)) {
    const length = shape.reduce((a, b) => a * b, 1) * (BYTES.F16 ?? 2);
    header[name] = { dtype: 'F16', shape, data_offsets: [offset, offset + length] };
    offset += length;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return { bytes: Buffer.concat([length, json]), size: 8 + json.length + offset };
}

const tensors = (shapes: Record<string, number[]>): Map<string, TensorInfo> => {
  const { bytes, size } = safetensors(shapes);
  return parseHeader(bytes, size).tensors;
};

const UNET_TO_K = (width: number) => ({ 'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight': [320, width], 'model.diffusion_model.out.2.weight': [4, 320, 3, 3] });
const SD1 = { ...UNET_TO_K(768), 'cond_stage_model.transformer.text_model.embeddings.token_embedding.weight': [49408, 768], 'first_stage_model.decoder.conv_in.weight': [512, 4, 3, 3] };
const SD2 = { ...UNET_TO_K(1024), 'cond_stage_model.model.token_embedding.weight': [49408, 1024] };
const SDXL = { ...UNET_TO_K(2048), 'conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight': [49408, 768], 'conditioner.embedders.1.model.token_embedding.weight': [49408, 1280] };
const REFINER = { ...UNET_TO_K(1280), 'conditioner.embedders.0.model.token_embedding.weight': [49408, 1280] };

describe('the safetensors header', () => {
  it('parses names, dtypes, shapes and metadata, and where the weights start', () => {
    const { bytes, size } = safetensors({ a: [2, 3], 'b.weight': [4] }, { format: 'pt' });
    const header = parseHeader(bytes, size);
    expect([...header.tensors.entries()]).toEqual([['a', { dtype: 'F16', shape: [2, 3] }], ['b.weight', { dtype: 'F16', shape: [4] }]]);
    expect(header.metadata).toEqual({ format: 'pt' });
    expect(header.headerBytes).toBe(bytes.length);
  });

  it('refuses a file shorter than its length field, a length past the end (truncated), zero or over 100 MB', () => {
    expect(() => headerLength(Buffer.from([1, 2, 3]), 3)).toThrow(/fewer than the 8/);
    const { bytes, size } = safetensors({ a: [2] });
    expect(() => headerLength(bytes, bytes.length - 1)).toThrow(/truncated/);
    expect(() => headerLength(Buffer.alloc(8), 1000)).toThrow(/header of 0 bytes/);
    const huge = Buffer.alloc(8);
    huge.writeBigUInt64LE(200_000_000n);
    expect(() => headerLength(huge, 10 ** 10)).toThrow(HeaderError);
    expect(headerLength(bytes, size)).toBe(bytes.length - 8);
  });

  it('refuses garbage: text that is not JSON, a JSON array, an entry without data_offsets, offsets past the end', () => {
    const withJson = (text: string, size?: number) => {
      const json = Buffer.from(text);
      const length = Buffer.alloc(8);
      length.writeBigUInt64LE(BigInt(json.length));
      const bytes = Buffer.concat([length, json]);
      return () => parseHeader(bytes, size ?? bytes.length);
    };
    expect(withJson('PK\u0003\u0004 a zip, or a pickle')).toThrow(/not JSON/);
    expect(withJson('[1,2]')).toThrow(/not a JSON object/);
    expect(withJson('{"a":{"dtype":"F16","shape":[2]}}')).toThrow(/"a" is not a tensor/);
    expect(withJson('{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}')).toThrow(/"a" is not a tensor/);
    expect(withJson('{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}', 100)).not.toThrow();
    // A pickle's first bytes read as a length: far past the end of a small file.
    const pickle = Buffer.from([0x80, 0x02, 0x63, 0x63, 0x6f, 0x6c, 0x6c, 0x65, 0x63]);
    expect(() => parseHeader(pickle, pickle.length)).toThrow(HeaderError);
  });

  it('reads once when the header fits the first read, twice when it is longer, never the weights', async () => {
    const reads: Array<[number, number]> = [];
    const file = (bytes: Buffer) => async (start: number, length: number) => {
      reads.push([start, length]);
      return bytes.subarray(start, start + length);
    };
    const small = safetensors({ a: [1000, 1000] });
    await readHeaderWith(file(Buffer.concat([small.bytes, Buffer.alloc(64)])), small.size);
    expect(reads).toEqual([[0, FIRST_READ]]);
    reads.length = 0;
    const many = Object.fromEntries(Array.from({ length: 9000 }, (_, i) => [`model.diffusion_model.block_${i}.weight`, [8, 8]]));
    const big = safetensors(many);
    expect(big.bytes.length).toBeGreaterThan(FIRST_READ);
    const header = await readHeaderWith(file(big.bytes), big.size);
    expect(header.tensors.size).toBe(9000);
    expect(reads).toEqual([[0, FIRST_READ], [FIRST_READ, big.bytes.length - FIRST_READ]]);
  });
});

describe('the kind of a checkpoint, from its tensor names', () => {
  it('tells SD 1.x, 2.x and SDXL apart by their text encoders, with the unet\'s cross-attention width', () => {
    expect(checkpointKind(tensors(SD1), 'x')).toEqual({ kind: 'sd1', crossAttentionWidth: 768 });
    expect(checkpointKind(tensors(SD2), 'x')).toEqual({ kind: 'sd2', crossAttentionWidth: 1024 });
    expect(checkpointKind(tensors(SDXL), 'x')).toEqual({ kind: 'sdxl', crossAttentionWidth: 2048 });
  });

  it('refuses what is not a checkpoint, saying what it looks like', () => {
    const error = (shapes: Record<string, number[]>) => {
      const result = checkpointKind(tensors(shapes), 'models/x.safetensors');
      return 'error' in result ? result.error : '';
    };
    expect(error({ 'lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight': [4, 320] })).toMatch(/^names models\/x\.safetensors, which is not a single-file Stable Diffusion checkpoint: it is a LoRA \(give it in the `lora` input\)/);
    expect(error({ 'encoder.conv_in.weight': [128, 3, 3, 3], 'decoder.conv_out.weight': [3, 128, 3, 3] })).toMatch(/it is a VAE alone/);
    expect(error({ 'down_blocks.0.resnets.0.conv1.weight': [320, 320, 3, 3] })).toMatch(/diffusers-layout weights/);
    expect(error({ 'foo.weight': [1] })).toMatch(/a file of 1 tensors without a unet/);
    expect(error(UNET_TO_K(768))).toMatch(/a unet without a text encoder/);
    expect(error(REFINER)).toMatch(/refiner.*refiner-version/);
  });

  it('asks for model-config for SD 2.x only, naming both configs', () => {
    expect(sd2ConfigProblem('sd1', false, 'f')).toBeUndefined();
    expect(sd2ConfigProblem('sd2', true, 'f')).toBeUndefined();
    const message = sd2ConfigProblem('sd2', false, 'models/sd21.safetensors') ?? '';
    expect(message).toMatch(/^Input `model-config` is empty, but model-version models\/sd21\.safetensors is Stable Diffusion 2\.x/);
    expect(message).toContain('stabilityai/stable-diffusion-2-1 for a 768x768 v-prediction');
    expect(message).toContain('stabilityai/stable-diffusion-2-1-base for a 512x512 epsilon');
  });

  it('wants xl-version exactly for SDXL', () => {
    expect(xlVersionMismatch('sdxl', true, 'f')).toBeUndefined();
    expect(xlVersionMismatch('sd1', false, 'f')).toBeUndefined();
    expect(xlVersionMismatch('sdxl', false, 'f')).toMatch(/^Input `xl-version` is false, but model-version f is Stable Diffusion XL/);
    expect(xlVersionMismatch('sd2', true, 'f')).toMatch(/^Input `xl-version` is true, but model-version f is Stable Diffusion 2\.x/);
  });
});

describe('LoRAs and their base', () => {
  const KOHYA_SD1 = { 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight': [4, 768], 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight': [320, 4], 'lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight': [4, 768] };
  const KOHYA_SDXL = { 'lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.lora_down.weight': [4, 2048], 'lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight': [4, 1280] };
  const PEFT_SD1 = { 'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight': [4, 768], 'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.lora_B.weight': [320, 4] };
  const PEFT_SDXL_TE_ONLY = { 'text_encoder_2.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight': [4, 1280] };
  const sd1 = checkpointKind(tensors(SD1), 'm') as CheckpointFacts;
  const sdxl = checkpointKind(tensors(SDXL), 'm') as CheckpointFacts;
  const facts = (shapes: Record<string, number[]>) => loraFacts(tensors(shapes), 'l');

  it('reads kohya-ss and diffusers / peft names, the second text encoder and the to_k input width', () => {
    expect(facts(KOHYA_SD1)).toEqual({ format: 'kohya', secondTextEncoder: false, crossAttentionWidth: 768 });
    expect(facts(KOHYA_SDXL)).toEqual({ format: 'kohya', secondTextEncoder: true, crossAttentionWidth: 2048 });
    expect(facts(PEFT_SD1)).toEqual({ format: 'diffusers', secondTextEncoder: false, crossAttentionWidth: 768 });
    expect(facts(PEFT_SDXL_TE_ONLY)).toEqual({ format: 'diffusers', secondTextEncoder: true });
  });

  it('refuses a file that is not a LoRA, and says when it is a whole checkpoint', () => {
    expect(facts({ 'foo.weight': [1] })).toEqual({ error: expect.stringMatching(/^lists l, which is not a LoRA: accepted are LoRAs in kohya-ss names/) });
    expect(facts(SD1)).toEqual({ error: expect.stringContaining('it looks like a whole checkpoint: that goes in model-version') });
  });

  it('passes a LoRA of the same base, refuses an SDXL LoRA on SD 1.x by width or by the second text encoder', () => {
    expect(loraBaseProblem(facts(KOHYA_SD1) as never, sd1, 'l')).toBeUndefined();
    expect(loraBaseProblem(facts(PEFT_SD1) as never, sd1, 'l')).toBeUndefined();
    expect(loraBaseProblem(facts(KOHYA_SDXL) as never, sdxl, 'l')).toBeUndefined();
    expect(loraBaseProblem(facts(KOHYA_SDXL) as never, sd1, 'loras/xl.safetensors')).toBe(
      'lists loras/xl.safetensors, a LoRA for Stable Diffusion XL (cross-attention width 2048), but model-version is Stable Diffusion 1.x (cross-attention width 768): its weights do not fit. Use a LoRA trained on a Stable Diffusion 1.x model.',
    );
    expect(loraBaseProblem(facts(PEFT_SDXL_TE_ONLY) as never, sd1, 'l')).toMatch(/a LoRA for Stable Diffusion XL, but model-version is Stable Diffusion 1\.x/);
    expect(loraBaseProblem(facts(KOHYA_SD1) as never, sdxl, 'l')).toMatch(/a LoRA for Stable Diffusion 1\.x .* but model-version is Stable Diffusion XL/);
  });
});

describe('the single-file inputs', () => {
  // Folders as given: a model_index.json in one is listed in files.
  const parse = (inputs: Parameters<typeof raw>[0], files: string[] = [], dirs: string[] = []) => parseInputs(raw(inputs), ctx({ files, bareDirs: dirs }));
  const errorsOf = (r: ReturnType<typeof parse>) => r.errors;

  it('a local .safetensors: converted as the folder named after its stem, the path resolved in the workspace', () => {
    const r = parse({ 'model-version': 'models/My Model v2.safetensors' }, ['models/My Model v2.safetensors']);
    expect(r.errors).toEqual([]);
    expect(r.config?.conversion).toMatchObject({ modelVersion: 'My_Model_v2', modelIsLocal: true, hubIds: [] });
    expect(r.config?.singleFile).toEqual({
      checkpoint: { where: 'local', input: 'models/My Model v2.safetensors', path: `${WORKSPACE}/models/My Model v2.safetensors` },
      modelConfig: undefined,
      loras: [],
      allowPickle: false,
      helper: `${ACTION_ROOT}/python/single_file.py`,
    });
  });

  it('a Hub file as owner/repo/path at model-revision, and as a Hub URL with its own revision', () => {
    const path = parse({ 'model-version': 'acme/checkpoints/sd15/dream.safetensors', 'model-revision': 'v2' });
    expect(path.errors).toEqual([]);
    expect(path.config?.singleFile?.checkpoint).toEqual({ where: 'hub', input: 'acme/checkpoints/sd15/dream.safetensors', repo: 'acme/checkpoints', revision: 'v2', file: 'sd15/dream.safetensors' });
    expect(path.config?.conversion.modelVersion).toBe('dream');
    const url = parse({ 'model-version': 'https://huggingface.co/acme/checkpoints/blob/refs%2Fpr%2F3/dream.safetensors?download=true' });
    expect(url.errors).toEqual([]);
    expect(url.config?.singleFile?.checkpoint).toMatchObject({ where: 'hub', repo: 'acme/checkpoints', revision: 'refs/pr/3', file: 'dream.safetensors' });
  });

  it('refuses a URL not of the Hub, a Hub URL of no file, a missing local file, a file of another type, two revisions', () => {
    expect(errorsOf(parse({ 'model-version': 'https://civitai.com/api/download/models/1234.safetensors' }))).toEqual([expect.stringMatching(/^Input `model-version` is a URL of https:\/\/civitai\.com, not of the Hub/)]);
    expect(errorsOf(parse({ 'model-version': 'https://huggingface.co/acme/checkpoints/tree/main/dream.safetensors' }))).toEqual([expect.stringMatching(/^Input `model-version` is not the URL of a file on the Hub: the form is https:\/\/huggingface\.co\/owner\/repo\/resolve/)]);
    expect(errorsOf(parse({ 'model-version': './models/missing.safetensors' }))).toEqual([`Input \`model-version\` names ${WORKSPACE}/models/missing.safetensors, which does not exist (the forms: a .safetensors (or .ckpt) file in the workspace, a Hub file as owner/repo/path/file.safetensors, or its Hub URL https://huggingface.co/owner/repo/resolve/<revision>/<path>).`]);
    expect(errorsOf(parse({ 'model-version': 'models/x.bin' }, ['models/x.bin']))).toEqual([`Input \`model-version\` is the file ${WORKSPACE}/models/x.bin, which is not a .safetensors or .ckpt checkpoint.`]);
    expect(errorsOf(parse({ 'model-version': 'https://huggingface.co/a/b/resolve/main/x.safetensors', 'model-revision': 'v2' }))).toEqual([expect.stringMatching(/^Input `model-revision` is "v2", but model-version is a Hub URL of revision "main"/)]);
  });

  it('reads LoRAs one a line or comma-separated, with a scale or 1.0, from files and the Hub', () => {
    const r = parse({ 'model-version': 'm.safetensors', lora: 'loras/a.safetensors:0.8, acme/loras/b.safetensors\nhttps://huggingface.co/acme/loras/resolve/main/c.safetensors:-0.5\n# a comment\n' }, ['m.safetensors', 'loras/a.safetensors']);
    expect(r.errors).toEqual([]);
    expect(r.config?.singleFile?.loras).toEqual([
      { source: { where: 'local', input: 'loras/a.safetensors', path: `${WORKSPACE}/loras/a.safetensors` }, scale: 0.8 },
      { source: { where: 'hub', input: 'acme/loras/b.safetensors', repo: 'acme/loras', revision: 'main', file: 'b.safetensors' }, scale: 1 },
      { source: { where: 'hub', input: 'https://huggingface.co/acme/loras/resolve/main/c.safetensors', repo: 'acme/loras', revision: 'main', file: 'c.safetensors' }, scale: -0.5 },
    ]);
  });

  it('refuses a scale that is not a number, a LoRA that is no file, and lora or model-config without a single file', () => {
    const bad = parse({ 'model-version': 'm.safetensors', lora: 'loras/a.safetensors:strong\nloras/b.safetensors:\nloras/notes.txt' }, ['m.safetensors', 'loras/a.safetensors', 'loras/b.safetensors']);
    expect(bad.errors).toEqual([
      expect.stringMatching(/^Input `lora` gives "loras\/a\.safetensors:strong" the scale "strong", which is not a number: write file-or-hub-path:scale/),
      expect.stringMatching(/^Input `lora` gives "loras\/b\.safetensors:" the scale "", which is not a number/),
      expect.stringMatching(/^Input `lora` lists "loras\/notes\.txt", which is not a LoRA file: each entry is a \.safetensors/),
    ]);
    // Plain decimal only: an exponent, hex or a plus sign is refused (issue 20), a minus kept.
    expect(splitScale('x.safetensors:1e-1')).toHaveProperty('error');
    expect(splitScale('x.safetensors:0x1')).toHaveProperty('error');
    expect(splitScale('x.safetensors:-0.5')).toEqual({ target: 'x.safetensors', scale: -0.5 });
    expect(splitScale('x.safetensors:Infinity')).toHaveProperty('error');
    const without = parse({ lora: 'loras/a.safetensors', 'model-config': 'stabilityai/stable-diffusion-2-1' });
    expect(without.errors).toEqual([
      expect.stringMatching(/^Input `model-config` is set, but model-version is not a single-file checkpoint/),
      expect.stringMatching(/^Input `lora` is set, but model-version is not a single-file checkpoint/),
    ]);
  });

  it('model-config: a Hub id or a pipeline folder (with model_index.json)', () => {
    const hub = parse({ 'model-version': 'm.safetensors', 'model-config': 'stabilityai/stable-diffusion-2-1-base' }, ['m.safetensors']);
    expect(hub.config?.singleFile?.modelConfig).toEqual({ where: 'hub', id: 'stabilityai/stable-diffusion-2-1-base' });
    const folder = parse({ 'model-version': 'm.safetensors', 'model-config': 'configs/sd21' }, ['m.safetensors', 'configs/sd21/model_index.json'], ['configs/sd21']);
    expect(folder.config?.singleFile?.modelConfig).toEqual({ where: 'local', input: 'configs/sd21', path: `${WORKSPACE}/configs/sd21` });
    expect(parse({ 'model-version': 'm.safetensors', 'model-config': 'configs/empty' }, ['m.safetensors'], ['configs/empty']).errors).toEqual([expect.stringMatching(/^Input `model-config` is the folder .*configs\/empty, which has no model_index\.json/)]);
    expect(parse({ 'model-version': 'm.safetensors', 'model-config': 'not an id' }, ['m.safetensors']).errors).toEqual([expect.stringMatching(/^Input `model-config` must be a Hub id of a diffusers pipeline/)]);
  });

  it('refuses a .ckpt, as model-version or LoRA, unless allow-pickle, saying that a pickle runs code', () => {
    const refused = parse({ 'model-version': 'old.ckpt', lora: 'acme/loras/l.ckpt' }, ['old.ckpt']);
    expect(refused.errors).toEqual([expect.stringMatching(/^Input `allow-pickle` is false, but old\.ckpt, acme\/loras@main:l\.ckpt are \.ckpt: a \.ckpt is a Python pickle, and loading a pickle runs whatever code it holds/)]);
    const allowed = parse({ 'model-version': 'old.ckpt', 'allow-pickle': 'true' }, ['old.ckpt']);
    expect(allowed.errors).toEqual([]);
    expect(allowed.config?.singleFile?.allowPickle).toBe(true);
    expect(parse({ 'allow-pickle': 'maybe' }).errors).toEqual(['Input `allow-pickle` must be true or false, got "maybe".']);
  });

  it('a Hub id or a folder stays what it was; sd3-version is refused with a single file', () => {
    const id = parse({});
    expect(id.config?.singleFile).toBeUndefined();
    const folder = parse({ 'model-version': 'models/x.safetensors' }, ['models/x.safetensors/model_index.json'], ['models/x.safetensors']);
    expect(folder.config?.singleFile).toBeUndefined();
    expect(folder.config?.conversion.modelVersion).toBe('models/x.safetensors');
    expect(parse({ 'model-version': 'm.safetensors', 'sd3-version': 'true' }, ['m.safetensors']).errors).toEqual([expect.stringMatching(/^Input `sd3-version` cannot be used with a single-file model-version/)]);
  });

  it('names the outputs after the stem, only with characters a shell leaves alone', () => {
    expect(modelNameOf({ where: 'local', input: '', path: '/w/Realistic Vision V5.1 (baked VAE).safetensors' })).toBe('Realistic_Vision_V5.1_baked_VAE_');
    expect(modelNameOf({ where: 'hub', input: '', repo: 'a/b', revision: 'main', file: 'x/v1-5-pruned-emaonly.ckpt' })).toBe('v1-5-pruned-emaonly');
  });
});

describe('the helper call and what it answers', () => {
  it('passes every file as one argument, the config with its commit, each LoRA with its scale', () => {
    expect(helperArgv({ python: '/env/bin/python', helper: '/a/python/single_file.py', checkpoint: '/w/My Model.safetensors', kind: 'sd1', config: { id: 'Lykon/dreamshaper-8', commit: 'c'.repeat(40) }, loras: [{ path: '/w/l a.safetensors', scale: 0.5 }, { path: '/c/l2.safetensors', scale: 1 }], output: '/t/My_Model', allowPickle: false })).toEqual([
      '/env/bin/python', '/a/python/single_file.py', '--checkpoint', '/w/My Model.safetensors', '--kind', 'sd1', '--config', 'Lykon/dreamshaper-8', '--config-revision', 'c'.repeat(40),
      '--output', '/t/My_Model', '--lora', '/w/l a.safetensors:0.5', '--lora', '/c/l2.safetensors:1',
    ]);
    expect(helperArgv({ python: 'p', helper: 'h', checkpoint: 'c.ckpt', kind: 'sdxl', config: { path: '/w/cfg' }, loras: [], output: 'o', allowPickle: true })).toEqual(['p', 'h', '--checkpoint', 'c.ckpt', '--kind', 'sdxl', '--config', '/w/cfg', '--output', 'o', '--allow-pickle']);
  });

  it('reads the last SINGLE_FILE_RESULT line, and nothing from output without one', () => {
    expect(helperResult(['Saved 3 files', 'SINGLE_FILE_RESULT {"diffusers": "0.30.2", "torch": "2.5.0", "kind": "sd1", "loras": []}'])).toEqual({ diffusers: '0.30.2', torch: '2.5.0', kind: 'sd1' });
    expect(helperResult(['Traceback (most recent call last):', 'RuntimeError: boom'])).toBeUndefined();
    expect(helperResult(['SINGLE_FILE_RESULT {"torch": "2.5.0"}'])).toBeUndefined();
  });

  it('prefetches the configs and tokenizers of the config repository, never its weights', () => {
    const files = ['model_index.json', 'unet/config.json', 'tokenizer/vocab.json', 'tokenizer/merges.txt', 'tokenizer_2/spiece.model', 'spiece.model', 'unet/diffusion_pytorch_model.fp16.safetensors', 'v1-5.ckpt', 'README.md', 'text_encoder/model.safetensors.index.json'];
    expect(files.filter(isConfigFile)).toEqual(['model_index.json', 'unet/config.json', 'tokenizer/vocab.json', 'tokenizer/merges.txt', 'tokenizer_2/spiece.model', 'text_encoder/model.safetensors.index.json']);
    expect(DEFAULT_CONFIGS).toEqual({ sd1: 'Lykon/dreamshaper-8', sd2: 'stabilityai/stable-diffusion-2-1', sdxl: 'stabilityai/stable-diffusion-xl-base-1.0' });
  });

  it('refuses to keep packages made of other bytes under the same name', () => {
    const file = (sha256: string) => ({ input: 'm.safetensors', repo: null, file: 'm.safetensors', commit: null, sha256, size: 1 });
    const record = { checkpoint: file('a'.repeat(64)), kind: 'sd1', config: { folder: 'c' }, loras: [{ ...file('b'.repeat(64)), scale: 1 }], diffusers: '0.30.2', torch: null };
    expect(contentConflict(undefined, record)).toBeUndefined();
    expect(contentConflict(record, record)).toBeUndefined();
    expect(contentConflict(record, { ...record, checkpoint: file('c'.repeat(64)) })).toMatch(/^Input `output-dir` holds a conversion of other bytes \(the checkpoint's sha256 was a{64}, now c{64}\)/);
    expect(contentConflict(record, { ...record, loras: [{ ...file('b'.repeat(64)), scale: 0.5 }] })).toMatch(/the LoRAs merged \(their sha256 or scale\) changed/);
  });
});

describe('the outputs cache of a single-file conversion', () => {
  const config = parseInputs(raw({ 'model-version': 'm.safetensors', lora: 'l.safetensors:0.5' }), ctx({ files: ['m.safetensors', 'l.safetensors'] })).config!;
  const local = (name: string, sha256?: string) => ({ source: { where: 'local' as const, input: name, path: `${WORKSPACE}/${name}` }, sha256, size: 10 });
  const check: SingleFileCheck = { kind: 'sd1', checkpoint: local('m.safetensors', 'a'.repeat(64)), loras: [{ ...local('l.safetensors', 'b'.repeat(64)), scale: 0.5 }], config: { where: 'hub', id: 'Lykon/dreamshaper-8', commit: 'c'.repeat(40), files: [] } };

  it('keys on every file\'s sha256 (a LoRA with its scale) and the config commit, the checkpoint first', () => {
    expect(singleFileModels(check)).toEqual([
      { id: 'm.safetensors', revision: 'a'.repeat(64), resolved: true },
      { id: 'l.safetensors:0.5', revision: 'b'.repeat(64), resolved: true },
      { id: 'Lykon/dreamshaper-8', revision: 'c'.repeat(40), resolved: true },
    ]);
    expect(outputsCacheBlocker(config, [], check)).toBeUndefined();
    const key = (c: SingleFileCheck) => outputsKey(singleFileModels(c) as never, outputOptions(config), { runnerOs: 'macOS', arch: 'ARM64', pythonVersion: '3.11', requirement: 'r', pinsHash: 'p' }).key;
    expect(key({ ...check, checkpoint: local('m.safetensors', 'd'.repeat(64)) })).not.toBe(key(check));
    expect(key({ ...check, loras: [{ ...check.loras[0]!, scale: 0.6 }] })).not.toBe(key(check));
  });

  it('is not used when a file has no sha256 to key on, or the config is a local folder', () => {
    expect(outputsCacheBlocker(config, [], { ...check, loras: [{ ...local('l.safetensors'), scale: 1 }] })).toMatch(/^l\.safetensors has no sha256/);
    expect(outputsCacheBlocker(config, [], { ...check, config: { where: 'local', path: '/w/cfg' } })).toMatch(/^model-config is a local folder/);
    expect(outputsCacheBlocker(config, [])).toBe('the single file was not checked');
  });
});

describe('skip-if-unchanged with a single file', () => {
  const parse = (extra: Parameters<typeof raw>[0]) =>
    parseInputs(raw({ 'model-version': 'm.safetensors', 'skip-if-unchanged': 'true', 'release-tag': 'v1', ...extra }), ctx({ files: ['m.safetensors', 'cfg/model_index.json'], dirs: ['cfg'], env: { GITHUB_REPOSITORY: 'o/r' } }));
  const skipWarnings = (r: ReturnType<typeof parse>) => r.warnings.filter((w) => w.startsWith('Input `skip-if-unchanged`'));

  it('no warning with a Hub config: the file is compared by its sha256', () => {
    const r = parse({ 'model-config': 'acme/config' });
    expect(r.errors).toEqual([]);
    expect(skipWarnings(r)).toEqual([]);
  });

  it('warns that a single file with a local model-config folder is always converted (the folder has no commit)', () => {
    const r = parse({ 'model-config': 'cfg' });
    expect(r.errors).toEqual([]);
    expect(skipWarnings(r)).toEqual(['Input `skip-if-unchanged` is true, but model-config is a local folder, which has no commit to compare: the action always converts the single file.']);
  });
});

describe('the Hugging Face cache of a single file\'s Hub downloads', () => {
  it('keys on every Hub file\'s repository, commit and path (the checkpoint, LoRAs, the config\'s files), not on local ones', () => {
    const check: SingleFileCheck = {
      kind: 'sd1',
      checkpoint: { source: { where: 'hub', input: 'a/b/m.safetensors', repo: 'a/b', revision: 'main', file: 'm.safetensors' }, commit: '1'.repeat(40) },
      loras: [{ source: { where: 'local', input: 'l.safetensors', path: '/w/l.safetensors' }, scale: 1 }],
      config: { where: 'hub', id: 'c/d', commit: '2'.repeat(40), files: [{ rfilename: 'model_index.json' }, { rfilename: 'unet/config.json' }] },
    };
    expect(hubFilesOf(check)).toEqual([
      { repo: 'a/b', commit: '1'.repeat(40), file: 'm.safetensors' },
      { repo: 'c/d', commit: '2'.repeat(40), file: 'model_index.json' },
      { repo: 'c/d', commit: '2'.repeat(40), file: 'unet/config.json' },
    ]);
    const key = hubFilesKey(hubFilesOf(check));
    expect(key.key).toMatch(/^coreml-sd-v1-hf-file-a-b-[0-9a-f]{16}$/);
    expect(key.restoreKeys).toEqual([]);
    const moved = { ...check, checkpoint: { ...check.checkpoint, commit: '3'.repeat(40) } };
    expect(hubFilesKey(hubFilesOf(moved)).key).not.toBe(key.key);
  });
});

describe('what a single file cannot be converted with', () => {
  it('refuses an inpainting unet (9 input channels) and convert-safety-checker', () => {
    const inpainting = tensors({ ...SD1, 'model.diffusion_model.input_blocks.0.0.weight': [320, 9, 3, 3] });
    expect(checkpointKind(inpainting, 'x')).toEqual({ error: 'names x, whose unet takes 9 input channels (an inpainting model): the converter converts text-to-image unets of 4 latent channels only.' });
    expect(checkpointKind(tensors({ ...SD1, 'model.diffusion_model.input_blocks.0.0.weight': [320, 4, 3, 3] }), 'x')).toEqual({ kind: 'sd1', crossAttentionWidth: 768 });
    const r = parseInputs(raw({ 'model-version': 'm.safetensors', 'convert-safety-checker': 'true' }), ctx({ files: ['m.safetensors'] }));
    expect(r.errors).toEqual([expect.stringMatching(/^Input `convert-safety-checker` cannot be used with a single-file model-version: diffusers' from_single_file makes the pipeline without a safety checker/)]);
  });
});

describe('the other inputs with a single file', () => {
  const parseWith = (inputs: Parameters<typeof raw>[0]) => parseInputs(raw({ 'model-version': 'm.safetensors', ...inputs }), ctx({ files: ['m.safetensors'] }));
  it('model-revision applies to a Hub file only; prepare-fp16 true has nothing to do', () => {
    expect(parseWith({ 'model-revision': 'v2' }).errors).toEqual(['Input `model-revision` applies to a Hub model, but model-version is a local file.']);
    expect(parseInputs(raw({ 'model-version': 'a/b/m.safetensors', 'model-revision': 'v2' }), ctx()).errors).toEqual([]);
    expect(parseWith({ 'prepare-fp16': 'true' }).warnings).toContain('Input `prepare-fp16` is true, but has no effect with a single-file model-version: the folder made of it is saved in fp16 already.');
  });
});

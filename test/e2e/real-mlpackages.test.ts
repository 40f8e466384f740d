import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { chunkPackageName, packageName, quantizedPackages, type PackagePart } from '../../src/converter/vocabulary.js';
import { prepareStep } from '../../src/convert/decisions.js';
import { diffSnapshots, takeSnapshot } from '../../src/convert/snapshot.js';
import { LATENT_INPUT, SDXL_INPUTS } from '../../src/verify/bundle/apps.js';
import { packageParts, packagesToRemoveFor } from '../../src/verify/packages.js';
import { REPO_ROOT } from '../support/action-runner.mjs';
import { options } from '../unit/fixtures.js';

/**
 * The package-level facts the action relies on, against packages written by real coremltools
 * 8.3 (test/python/real_mlpackages.py: converted, palettized with palettize_weights, chunked
 * with bisect_model, as torch2coreml does). The bundle check itself reads compiled .mlmodelc
 * metadata, which only coremlcompiler (macOS) writes; what it assumes of the packages the
 * compiler starts from is checked here.
 */
interface Facts {
  root_model: string;
  opset: string;
  inputs: Record<string, number[]>;
  outputs: Record<string, number[]>;
  ops: Record<string, number>;
  palettized_nbits: number[];
}
interface Touched {
  manifest_mtime_changed: boolean;
  manifest_bytes_same: boolean;
  spec_or_weights_mtime_changed: boolean;
}
type Report = Record<'sd' | 'sd.converted' | 'sdxl', Record<string, Facts>> & { reading: Record<'bisect_model_source' | 'load_spec', Touched> };

const SD = 'tiny/sd-1';
const XL = 'tiny/sdxl';
const sd = (part: string) => packageName(SD, part);
const xl = (part: string) => packageName(XL, part);

let out: string;
let report: Report;

beforeAll(() => {
  out = mkdtempSync(path.join(os.tmpdir(), 'real-mlpackages-'));
  execFileSync(inject('realPython'), [path.join(REPO_ROOT, 'test', 'python', 'real_mlpackages.py'), out], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  });
  report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')) as Report;
}, 180_000);

afterAll(() => {
  if (out) rmSync(out, { recursive: true, force: true });
});

describe('real packages: layout and names', () => {
  it('has the layout the snapshot and the stand-in assume: Manifest.json at the top, the spec and weights under Data', () => {
    for (const run of ['sd', 'sdxl'] as const) {
      for (const name of Object.keys(report[run])) {
        const pkg = path.join(out, run, name);
        expect(report[run][name]?.root_model, name).toBe('com.apple.CoreML/model.mlmodel');
        expect(statSync(path.join(pkg, 'Manifest.json')).isFile(), name).toBe(true);
        expect(statSync(path.join(pkg, 'Data', 'com.apple.CoreML', 'model.mlmodel')).size, name).toBeGreaterThan(0);
        expect(statSync(path.join(pkg, 'Data', 'com.apple.CoreML', 'weights', 'weight.bin')).size, name).toBeGreaterThan(0);
      }
    }
  });

  it("names bisect_model's chunks as the action does, and reads every package's part from its name", () => {
    const names = readdirSync(path.join(out, 'sd')).sort();
    const parts: PackagePart[] = ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder'];
    expect(names).toEqual([...parts.map(sd), chunkPackageName(SD, 'unet', 1), chunkPackageName(SD, 'unet', 2)].sort());
    expect(packageParts(options({ modelVersion: SD }), names)).toEqual({
      [sd('text_encoder')]: 'text_encoder',
      [sd('unet')]: 'unet',
      [sd('unet_chunk1')]: 'unet_chunks',
      [sd('unet_chunk2')]: 'unet_chunks',
      [sd('vae_decoder')]: 'vae_decoder',
      [sd('vae_encoder')]: 'vae_encoder',
    });
    // A failed unet takes its real chunks along, and nothing else.
    const doomed = packagesToRemoveFor(options({ modelVersion: SD }), ['unet']).filter((p) => existsSync(path.join(out, 'sd', p)));
    expect(doomed.sort()).toEqual([sd('unet'), sd('unet_chunk1'), sd('unet_chunk2')].sort());
  });
});

describe('real packages: quantized or not', () => {
  it('a converted package is float16: no palettized weights anywhere', () => {
    for (const [name, facts] of Object.entries(report['sd.converted'])) {
      expect(facts.palettized_nbits, name).toEqual([]);
      expect(facts.ops.constexpr_lut_to_dense, name).toBeUndefined();
    }
  });

  it("quantize-nbits 6 palettizes exactly the packages the action lists as quantized, to 6 bits (iOS16 ops)", () => {
    const palettized = Object.entries(report.sd).filter(([, f]) => f.palettized_nbits.length > 0);
    const expected = quantizedPackages(SD, []).filter((p) => p in report.sd);
    expect(palettized.map(([name]) => name).sort()).toEqual(expected.sort());
    for (const [name, facts] of palettized) {
      expect(facts.palettized_nbits, name).toEqual([6]);
      expect(facts.opset, name).toBe('CoreML6');
    }
  });

  it('upstream quantizes after chunking, so its chunks stay float16 next to a palettized unet', () => {
    // What the bundle check reports as "float16 chunks next to a palettized Unet".
    expect(report.sd[sd('unet')]?.palettized_nbits).toEqual([6]);
    for (const n of [1, 2] as const) expect(report.sd[chunkPackageName(SD, 'unet', n)]?.palettized_nbits).toEqual([]);
  });

  it('chunks cut from a palettized unet (the action chunks after quantizing) are both palettized to the same bits', () => {
    expect(report.sdxl[xl('unet')]?.palettized_nbits).toEqual([8]);
    for (const n of [1, 2] as const) {
      const chunk = report.sdxl[chunkPackageName(XL, 'unet', n)];
      expect(chunk?.palettized_nbits).toEqual([8]);
      expect(chunk?.opset).toBe('CoreML8'); // macOS15: the iOS18 constexpr_lut_to_dense
      expect(chunk?.ops.constexpr_lut_to_dense).toBeGreaterThan(0);
    }
    for (const part of ['text_encoder', 'text_encoder_2']) expect(report.sdxl[xl(part)]?.palettized_nbits).toEqual([8]);
    expect(report.sdxl[xl('vae_decoder')]?.palettized_nbits).toEqual([]);
  });
});

describe('real packages: chunks and snapshots', () => {
  it("UnetChunk1 keeps the unet's inputs the apps read when there is no Unet (SDXL signs, the latent); chunk2 ends in its outputs", () => {
    const unet = report.sdxl[xl('unet')];
    const [one, two] = [1, 2].map((n) => report.sdxl[chunkPackageName(XL, 'unet', n as 1 | 2)]);
    for (const input of [...SDXL_INPUTS, LATENT_INPUT]) {
      expect(one?.inputs[input], input).toEqual(unet?.inputs[input]);
      expect(two?.inputs[input], input).toBeUndefined();
    }
    expect(unet?.inputs[LATENT_INPUT]).toEqual([2, 4, 8, 8]);
    expect(two?.outputs).toEqual(unet?.outputs);
    expect(Object.keys(two?.inputs ?? {})).toEqual(Object.keys(one?.outputs ?? {}));
  });

  it('reading a package with coremltools (load_spec, bisect_model on the unet) rewrites its Manifest.json, same bytes, and nothing else', () => {
    // So a Manifest.json mtime says "read or written", not "written": the spec and weights say "written".
    for (const [how, t] of Object.entries(report.reading)) {
      expect(t, how).toEqual({ manifest_mtime_changed: true, manifest_bytes_same: true, spec_or_weights_mtime_changed: false });
    }
  });

  it('the snapshot does not take a package that was only read for one that was rewritten', () => {
    // sdxl.before-reading is the folder before load_spec (vae decoder) and bisect_model (unet):
    // the chunks are new, and nothing was rewritten, so a failed chunk step deletes only chunks.
    const changes = diffSnapshots(takeSnapshot(path.join(out, 'sdxl.before-reading')), takeSnapshot(path.join(out, 'sdxl')));
    expect(changes.modified).toEqual([]);
    expect(changes.added).toEqual([chunkPackageName(XL, 'unet', 1), chunkPackageName(XL, 'unet', 2)].sort());
  });

  it('in-place quantization rewrites exactly the quantized packages as the snapshot sees them', () => {
    // sd.converted is the folder before quantization, copied with mtimes kept.
    const changes = diffSnapshots(takeSnapshot(path.join(out, 'sd.converted')), takeSnapshot(path.join(out, 'sd')));
    expect(changes.added).toEqual([]);
    expect(changes.modified).toEqual([sd('text_encoder'), sd('unet')].sort());
  });

  it('so a later chunk step cuts the chunks again from the quantized unet instead of keeping the float16 ones', () => {
    const changed = diffSnapshots(takeSnapshot(path.join(out, 'sd.converted')), takeSnapshot(path.join(out, 'sd')));
    const step = { kind: 'chunk', label: 'Chunk unet', part: 'unet', checkCorrectness: false } as const;
    const o = options({ modelVersion: SD, chunkUnet: true, quantizeNbits: 6 });
    const now = takeSnapshot(path.join(out, 'sd'));
    expect(prepareStep(step, o, now, new Set(changed.modified), new Set())).toEqual({
      remove: [chunkPackageName(SD, 'unet', 1), chunkPackageName(SD, 'unet', 2)],
      hide: [],
    });
    // Unchanged since the chunks were cut: they are kept.
    expect(prepareStep(step, o, now, new Set(), new Set()).skip).toMatch(/chunks .* exist/);
  });
});

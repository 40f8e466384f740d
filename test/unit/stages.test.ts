// The deciding parts of main's stages (plan, convert, verify, caches), without I/O.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseInputs } from '../../src/inputs/parse.js';
import type { Config } from '../../src/config.js';
import type { ConversionResult, PsnrResult } from '../../src/convert/run.js';
import type { ModelRevision } from '../../src/hub/models.js';
import type { CacheReport } from '../../src/cache/cache.js';
import { cacheHits } from '../../src/cache/cache.js';
import { shouldSaveOutputs } from '../../src/cache/outputs.js';
import { planRun } from '../../src/plan/stage.js';
import { recordsEnvironment, resolvedMainModel, withInterpreter } from '../../src/convert/stage.js';
import { judgeConversion, psnrPassed } from '../../src/verify/stage.js';
import { Halt } from '../../src/halt.js';
import { HUB_MODEL, ctx, raw } from './fixtures.js';

function config(overrides: Parameters<typeof raw>[0] = {}): Config {
  const parsed = parseInputs(raw(overrides), ctx());
  if (!parsed.config) throw new Error(parsed.errors.join('\n'));
  return parsed.config;
}

const pkg = (part: string) => `Stable_Diffusion_version_${HUB_MODEL.replaceAll('/', '_')}_${part}.mlpackage`;
const psnr = (part: PsnrResult['part'], value: number | null): PsnrResult => ({ part, check: `${part} baseline PyTorch to reference CoreML`, psnr: value, printed: String(value), step: `Convert ${part}` });
const conversion = (fields: Partial<ConversionResult> = {}): ConversionResult => ({ steps: [], psnr: [], converterRejectedPsnr: false, ...fields });
const cache = (name: CacheReport['name'], restored: CacheReport['restored']): CacheReport => ({ name, key: `${name}-key`, restored, restoredBytes: 0, restoreMs: 0 });

describe('planRun', () => {
  it('computes the commands once, with python for the interpreter, and one log line per process', () => {
    const { steps, commands, lines } = planRun(config({ 'process-per-component': 'true' }));
    expect(commands.map((argv) => argv[0])).toEqual(Array(7).fill('python'));
    expect(commands[2]).toEqual(expect.arrayContaining(['--convert-unet', '--model-version', HUB_MODEL]));
    // lean-conversion (default true): each part through the action's lean entry, each check through
    // python/parity.py, bundling through the quantize/bundle entry.
    expect(commands.map((argv) => path.basename(argv[1] ?? ''))).toEqual([
      'lean_convert.py', 'parity.py', 'lean_convert.py', 'parity.py', 'lean_convert.py', 'parity.py', 'quantize_bundle.py',
    ]);
    expect(lines).toEqual([
      'Plan (7 converter processes):',
      '  1. Convert vae_decoder (lean entry python/lean_convert.py)',
      '  2. Check vae_decoder (Core ML on CPU_ONLY) (entry python/parity.py)',
      '  3. Convert unet (lean entry python/lean_convert.py)',
      '  4. Check unet (Core ML on CPU_ONLY) (entry python/parity.py)',
      '  5. Convert text_encoder (lean entry python/lean_convert.py)',
      '  6. Check text_encoder (Core ML on CPU_ONLY) (entry python/parity.py)',
      '  7. Bundle Resources (entry python/quantize_bundle.py)',
    ]);
    expect(steps.map((s) => s.label)).toEqual(lines.slice(1).map((l) => l.replace(/^ {2}\d\. /, '').replace(/ \((lean entry|entry|converter command line) [^()]*\)$/, '')));
  });

  it('prints the converter command line for every converting process with lean-conversion false', () => {
    const { commands, lines } = planRun(config({ 'process-per-component': 'true', 'lean-conversion': 'false' }));
    expect(commands.filter((argv) => argv[1] === '-m').map((argv) => argv.slice(1, 3))).toEqual(Array(3).fill(['-m', 'python_coreml_stable_diffusion.torch2coreml']));
    expect(lines.filter((l) => / Convert /.test(l))).toEqual([
      '  1. Convert vae_decoder (converter command line -m python_coreml_stable_diffusion.torch2coreml)',
      '  3. Convert unet (converter command line -m python_coreml_stable_diffusion.torch2coreml)',
      '  5. Convert text_encoder (converter command line -m python_coreml_stable_diffusion.torch2coreml)',
    ]);
  });

  it('says process, not processes, for one; all parts in one process keep the command line', () => {
    expect(planRun(config({ 'process-per-component': 'false', 'check-output-correctness': 'false' })).lines).toEqual([
      'Plan (1 converter process):',
      '  1. Convert all parts (converter command line -m python_coreml_stable_diffusion.torch2coreml)',
    ]);
  });
});

describe('convert stage decisions', () => {
  it('withInterpreter puts setup\'s python first and keeps every argument', () => {
    const commands = [['python', '-m', 'a', '--x'], ['python', '-m', 'b']];
    expect(withInterpreter(commands, '/env/bin/python')).toEqual([['/env/bin/python', '-m', 'a', '--x'], ['/env/bin/python', '-m', 'b']]);
    expect(commands[0]![0]).toBe('python');
  });

  const model = (id: string, resolved: boolean): ModelRevision => ({ id, revision: resolved ? 'c0ffee' : 'main', resolved, files: resolved ? [{ rfilename: 'model_index.json' } as ModelRevision['files'][number]] : [] });

  it('resolvedMainModel: the main model at its resolved commit, with its file names', () => {
    expect(resolvedMainModel(config(), [model('other/controlnet', true), model(HUB_MODEL, true)])).toMatchObject({ revision: 'c0ffee', files: ['model_index.json'] });
  });

  it('resolvedMainModel: none when the Hub could not resolve the main model', () => {
    expect(resolvedMainModel(config(), [model(HUB_MODEL, false), model('other/controlnet', true)])).toBeUndefined();
  });

  it('records the environment only for a finished conversion that is packaged', () => {
    expect(recordsEnvironment(config(), conversion())).toBe(true);
    expect(recordsEnvironment(config({ package: 'false' }), conversion())).toBe(false);
    expect(recordsEnvironment(config(), conversion({ failure: { step: 'Convert', diagnosis: { title: 't', hints: [] }, removed: [] } }))).toBe(false);
  });
});

describe('judgeConversion', () => {
  const gated = config({ 'psnr-thresholds': 'unet=40' });

  it('a part under its threshold: an error, a problem, and its package to remove', () => {
    const d = judgeConversion(gated, conversion({ psnr: [psnr('unet', 38.2), psnr('text_encoder', 60), psnr('vae_decoder', 70)] }));
    expect(d.problems).toEqual(['PSNR of unet is 38.2 dB (unet baseline PyTorch to reference CoreML), under the threshold of 40 dB.']);
    expect(d.annotations).toEqual([{ level: 'error', message: d.problems[0], title: 'PSNR gate: unet' }]);
    expect(d.remove).toContain(pkg('unet'));
    expect(d.remove).not.toContain(pkg('text_encoder'));
    expect(d.missing).toEqual([]);
  });

  it('every part passed: nothing to remove, nothing fails', () => {
    const d = judgeConversion(gated, conversion({ psnr: [psnr('unet', 41), psnr('text_encoder', 60), psnr('vae_decoder', 70)] }));
    expect(d).toMatchObject({ problems: [], annotations: [], remove: [] });
  });

  it('a part without a check is a warning, after the errors, and fails nothing', () => {
    const d = judgeConversion(gated, conversion({ psnr: [psnr('unet', 30), psnr('text_encoder', 60)] }));
    expect(d.missing).toEqual(['vae_decoder']);
    expect(d.annotations.map((a) => [a.level, a.title])).toEqual([['error', 'PSNR gate: unet'], ['warning', 'PSNR gate']]);
    expect(d.annotations[1]!.message).toBe('No PSNR check was reported for vae_decoder.');
    expect(d.problems.length).toBe(1);
  });

  it('a part whose process never ran (an earlier one failed) is not warned as unreported', () => {
    const notRun = { label: 'Convert text_encoder', argv: [], status: 'not run' as const, parts: ['text_encoder'], durationMs: 0, partTimes: {} };
    const d = judgeConversion(gated, conversion({ psnr: [psnr('vae_decoder', 70)], steps: [notRun], failure: { step: 'Convert unet', diagnosis: { title: 'x', hints: [] }, removed: [] } }));
    expect(d.missing).toEqual(['unet']);
    expect(d.annotations.filter((a) => a.level === 'warning').map((a) => a.message)).toEqual(['No PSNR check was reported for unet.']);
  });

  const failure = { step: 'Convert unet', diagnosis: { title: 'The converter ran out of memory.', hints: ['Use a bigger runner.'] }, removed: [pkg('unet')] };

  it('a failed process: its diagnosis with the hints annotated, the message without them fails the step', () => {
    const d = judgeConversion(gated, conversion({ failure }));
    const message = `Convert unet failed. The converter ran out of memory. Removed what it left half-written, so that a rerun converts it again: ${pkg('unet')}.`;
    expect(d.problems).toEqual([message]);
    expect(d.annotations.find((a) => a.level === 'error')).toEqual({ level: 'error', message: `${message}\n- Use a bigger runner.`, title: 'Conversion failed: Convert unet' });
  });

  it('a failed parity process: what it removed was finished but unchecked, and the message says so', () => {
    const d = judgeConversion(gated, conversion({ failure: { ...failure, step: 'Check unet (Core ML on CPU_ONLY)', unchecked: true } }));
    expect(d.problems).toEqual([
      `Check unet (Core ML on CPU_ONLY) failed. The converter ran out of memory. Removed what it was checking, so that a rerun converts and checks it again: ${pkg('unet')}.`,
    ]);
  });

  it('the converter rejecting a figure the gate already failed is told once, by the gate', () => {
    const d = judgeConversion(gated, conversion({ failure, converterRejectedPsnr: true, psnr: [psnr('unet', 20)] }));
    expect(d.problems).toEqual(['PSNR of unet is 20.0 dB (unet baseline PyTorch to reference CoreML), under the threshold of 40 dB.']);
  });

  it('the converter rejecting a figure with no gate failure still fails with its diagnosis', () => {
    const d = judgeConversion(gated, conversion({ failure, converterRejectedPsnr: true }));
    expect(d.problems.length).toBe(1);
    expect(d.problems[0]).toMatch(/^Convert unet failed\./);
  });
});

describe('psnrPassed', () => {
  const passed = { verdicts: [{ part: 'unet', check: 'c', psnr: 50, threshold: 35, passed: true, step: 's' }], missing: [] } as const;
  it('true only when every check passed, none is missing, and the converter rejected none', () => {
    expect(psnrPassed(config(), { verdicts: [...passed.verdicts], missing: [] }, conversion())).toBe(true);
    expect(psnrPassed(config(), { verdicts: [{ ...passed.verdicts[0], passed: false }], missing: [] }, conversion())).toBe(false);
    expect(psnrPassed(config(), { verdicts: [...passed.verdicts], missing: ['vae_decoder'] }, conversion())).toBe(false);
    expect(psnrPassed(config(), { verdicts: [...passed.verdicts], missing: [] }, conversion({ converterRejectedPsnr: true }))).toBe(false);
  });
  it('a dry run passed nothing', () => {
    expect(psnrPassed(config({ 'dry-run': 'true' }))).toBe(false);
  });
  it('no check run is not a pass (check-output-correctness false, nothing converted)', () => {
    expect(psnrPassed(config({ 'check-output-correctness': 'false' }), { verdicts: [], missing: [] }, conversion())).toBe(false);
    expect(psnrPassed(config(), { verdicts: [], missing: [] }, conversion())).toBe(false);
  });
});

describe('caches', () => {
  it('a partial pip restore is a hit; a partial Hub restore is not; off and miss never are', () => {
    expect(cacheHits([cache('pip', 'partial'), cache('Hugging Face', 'partial'), cache('conda env', 'exact'), cache('outputs', 'off')])).toEqual({
      'cache-hit-pip': true,
      'cache-hit-hf': false,
      'cache-hit-env': true,
      'cache-hit-outputs': false,
    });
    expect(Object.values(cacheHits([cache('pip', 'miss')]))).toEqual([false, false, false, false]);
  });

  it('the outputs are saved after a passed gate, unless they came from the cache', () => {
    expect(shouldSaveOutputs(cache('outputs', 'miss'), true)).toBe(true);
    expect(shouldSaveOutputs(cache('outputs', 'partial'), true)).toBe(true);
    expect(shouldSaveOutputs(cache('outputs', 'miss'), false)).toBe(false);
    expect(shouldSaveOutputs(cache('outputs', 'exact'), true)).toBe(false);
  });
});

describe('Halt', () => {
  it('fails with its errors, one a line, unless given its own message', () => {
    expect(new Halt(['a', 'b'], 'Invalid input').message).toBe('a\nb');
    expect(new Halt(['a'], 'Invalid input', '1 problem').message).toBe('1 problem');
  });
});

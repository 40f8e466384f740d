import { closeSync, existsSync, mkdirSync, openSync, ftruncateSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { makeWorkspace, runAction, type ActionRun } from '../support/action-runner.mjs';
import { startHubServer, type HubServer } from '../services/hub-server.mjs';

/**
 * The budget end to end: the bundle run as the runner runs it, SD 1.5's file sizes (unet 1.72 GB,
 * text encoder 246 MB, VAE 167 MB) listed by the stand-in Hub or held as sparse files in a local
 * folder, and the runner's memory set with the runner-memory input. A refusal happens before
 * anything is installed; a warning lets the stand-in converter run, and the summary shows each
 * process's estimate beside the peak the action measured.
 */
const MODEL = 'acme/sd15-sized';
const SIZES = {
  'unet/diffusion_pytorch_model.fp16.safetensors': 1.72e9,
  'text_encoder/model.fp16.safetensors': 246e6,
  'vae/diffusion_pytorch_model.fp16.safetensors': 167e6,
};
const CONFIGS = {
  'model_index.json': JSON.stringify({ _class_name: 'StableDiffusionPipeline', unet: ['diffusers', 'UNet2DConditionModel'], vae: ['diffusers', 'AutoencoderKL'], text_encoder: ['transformers', 'CLIPTextModel'] }),
  'unet/config.json': JSON.stringify({ sample_size: 64, in_channels: 4 }),
  'vae/config.json': JSON.stringify({ latent_channels: 4 }),
  'text_encoder/config.json': JSON.stringify({ hidden_size: 768 }),
};

let hub: HubServer;
beforeAll(async () => {
  hub = await startHubServer({ clip: false, models: [{ id: MODEL, files: { ...CONFIGS, ...SIZES } }] });
});
afterAll(async () => {
  await hub?.stop();
});

/** A local diffusers folder with SD 1.5's sizes: sparse files, so nothing is written but their length. */
function localModel(workspace: string): string {
  const folder = path.join(workspace, 'models', 'sd15');
  for (const [file, text] of Object.entries(CONFIGS)) {
    mkdirSync(path.dirname(path.join(folder, file)), { recursive: true });
    writeFileSync(path.join(folder, file), text);
  }
  for (const [file, size] of Object.entries(SIZES)) {
    const fd = openSync(path.join(folder, file), 'w');
    ftruncateSync(fd, size);
    closeSync(fd);
  }
  return 'models/sd15';
}

async function convert(inputs: Record<string, string>, workspace = makeWorkspace('coreml-budget-')) {
  const log = path.join(workspace, '..', `${path.basename(workspace)}-calls.jsonl`);
  const run = await runAction({
    inputs: {
      'model-version': MODEL,
      python: inject('venvPython'),
      'ml-stable-diffusion': inject('standinWheel'),
      package: 'false',
      cache: 'false',
      ...inputs,
    },
    env: { ...hub.env, HF_HOME: path.join(workspace, '..', `${path.basename(workspace)}-hf`), STANDIN_INVOCATIONS: log },
    workspace,
  });
  return { run, converterRan: existsSync(log) };
}

/** The rows of the summary's Converter processes table, by step label: [status, time, estimated, measured]. */
function processRows(summary: string): Map<string, string[]> {
  const lines = summary.split('\n');
  const at = lines.indexOf('### Converter processes');
  const rows = new Map<string, string[]>();
  expect(lines[at + 2]).toBe('| Step | Status | Time | Estimated peak | Measured peak |');
  for (let i = at + 4; i < lines.length && lines[i]!.startsWith('|'); i++) {
    const cells = lines[i]!.slice(1, -1).split('|').map((c) => c.trim());
    rows.set(cells[0]!, cells.slice(1));
  }
  return rows;
}

const BYTES = /^\d+(\.\d)? (B|KiB|MiB|GiB)$/;

const annotations = (run: ActionRun, level: 'error' | 'warning', title?: string) =>
  run.annotations.filter((a) => a.level === level && (title === undefined || a.title === title)).map((a) => a.message);

describe('the budget before anything is installed', () => {
  it('refuses the unet on a runner with too little memory, naming the part, the estimate and what to do; nothing is installed or downloaded', async () => {
    hub.resetStats();
    const { run, converterRan } = await convert({ 'runner-memory': '5GiB', 'check-output-correctness': 'false' });
    expect(run.exitCode).not.toBe(0);
    const refused = annotations(run, 'error', 'Over budget');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatch(/^Convert unet: the unet process is estimated at 6\.2 GiB peak memory, more than this runner's 5\.0 GiB \(the input runner-memory\)\./);
    expect(refused[0]).toContain('more memory');
    expect(refused[0]).toContain('fewer parts per job');
    // Before setup: no pip, no download of the weights, no converter.
    expect(run.stdout).not.toContain('pip install');
    expect(hub.stats().bytesServed[MODEL] ?? 0).toBe(0);
    expect(converterRan).toBe(false);
    expect(run.stdout).toMatch(/Budget \(the lean conversion; runner: 5\.0 GiB of memory from the input runner-memory/);
  });

  it('over-budget: warn goes on past the same refusal, as a warning, and the converter runs', async () => {
    const workspace = makeWorkspace('coreml-budget-');
    const { run, converterRan } = await convert({ 'model-version': localModel(workspace), 'runner-memory': '5GiB', 'over-budget': 'warn', 'convert-text-encoder': 'false', 'convert-vae-decoder': 'false', 'check-output-correctness': 'false' }, workspace);
    expect(run.exitCode, run.stdout).toBe(0);
    expect(annotations(run, 'error')).toEqual([]);
    expect(annotations(run, 'warning', 'Over budget')).toEqual([expect.stringMatching(/^Convert unet: the unet process is estimated at 6\.2 GiB .* Going on: over-budget is warn\.$/)]);
    expect(converterRan).toBe(true);
  });

  it('a runner with a little less than the unet needs: a warning with the figures, the conversion runs, and the summary shows each estimate beside its measured peak', async () => {
    const workspace = makeWorkspace('coreml-budget-');
    const { run, converterRan } = await convert({ 'model-version': localModel(workspace), 'runner-memory': '7GB', 'check-output-correctness': 'false' }, workspace);
    expect(run.exitCode, run.stdout).toBe(0);
    expect(converterRan).toBe(true);
    expect(annotations(run, 'warning', 'Budget')).toEqual([
      expect.stringMatching(/^Convert unet: the unet process is estimated at 6\.2 GiB peak memory; this runner has 6\.5 GiB \(the input runner-memory\), of which about 4\.5 GiB is left once the system has its share: swapping expected/),
    ]);
    if (process.env.BUDGET_E2E_PRINT) console.log(run.summary);
    const rows = processRows(run.summary);
    expect([...rows.keys()]).toEqual(['Convert vae_decoder', 'Convert unet', 'Convert text_encoder', 'Bundle Resources']);
    expect(rows.get('Convert unet')?.[2]).toBe('6.2 GiB');
    for (const [label, [status, , estimated, measured]] of rows) {
      expect(status, label).toBe('done');
      expect(estimated, label).toMatch(BYTES);
      // Measured by the action itself, sampling the stand-in's process tree: a Python interpreter's
      // MiB, not the KiB of a process caught as it forks.
      expect(measured, label).toMatch(/^\d+\.\d (MiB|GiB)$/);
      expect(Number.parseFloat(measured ?? ''), label).toBeGreaterThanOrEqual(measured?.endsWith('GiB') ? 0 : 4);
    }
    expect(run.summary).toContain('### Budget');
  });

  it('dry-run prints the budget from the Hub\'s listing, refusing nothing', async () => {
    hub.resetStats();
    const { run, converterRan } = await convert({ 'dry-run': 'true', 'runner-memory': '5GiB' });
    expect(run.exitCode, run.stdout).toBe(0);
    expect(converterRan).toBe(false);
    expect(annotations(run, 'error')).toEqual([]);
    for (const text of [run.stdout, run.summary]) {
      expect(text).toContain('Budget (the lean conversion; runner: 5.0 GiB of memory from the input runner-memory');
      expect(text).toContain('  Convert unet: 6.2 GiB peak memory (over the runner\'s memory).');
      expect(text).toMatch(/ {2}Convert text_encoder: 1\.4 GiB peak memory \(fits\)/);
      expect(text).toMatch(/ {2}Disk: about \d+\.\d GiB at the peak/);
    }
    expect(run.summary).toContain("Budget on this runner (5.0 GiB of memory): a real run would refuse Convert unet (6.2 GiB), Check unet (Core ML on CPU_ONLY) (5.5 GiB) (over the runner's memory).");
    expect(hub.stats().bytesServed[MODEL] ?? 0).toBe(0);
  });
});

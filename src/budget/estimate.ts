import type { Config, ConversionOptions, SplitMode } from '../config.js';
import type { Step } from '../plan/plan.js';
import { chunkableParts } from '../converter/order.js';
import { needsNoPipeline } from '../converter/commands.js';
import type { ParityPart } from '../converter/parity.js';
import type { SelectablePart } from '../converter/vocabulary.js';

/**
 * The budget, pure: each planned process's peak memory and the job's peak disk, estimated from the
 * model's file sizes and the figures measured at full size. Nothing here reads a file or the
 * runner; src/budget/stage.ts gathers the sizes and compares with the runner.
 *
 * Model of a process's peak: BASE (Python with torch, coremltools, diffusers imported) + k × the
 * part's fp16 weight bytes (+ share × the whole fp16 pipeline on the command line, which loads it
 * in every process) + the unet's attention maps, which grow with the square of the latent's tokens.
 */

const GIB = 2 ** 30;

/** A component folder of a diffusers pipeline whose weights the budget reads. */
export type Component = 'unet' | 'text_encoder' | 'text_encoder_2' | 'vae' | 'safety_checker';
export const COMPONENTS: readonly Component[] = ['unet', 'text_encoder', 'text_encoder_2', 'vae', 'safety_checker'];

/** The conversion route: the action's lean entry (python/lean_convert.py), or the converter's own command line. */
export type Route = 'lean' | 'command-line';

/** What a process does, as the figures tell them apart. */
export type ProcessKind = 'text_encoder' | 'vae' | 'unet' | 'safety_checker' | 'controlnet' | 'mmdit' | 'quantize' | 'chunk' | 'chunk-quantized' | 'bundle' | 'check-in-process';

export interface Figure {
  /** Multiplies the part's fp16 weight bytes (for quantize, chunk, bundle and the check: the package's bytes). */
  k: number;
  /** Multiplies the whole fp16 pipeline's bytes (the command line loads it in every converting process). */
  pipelineShare?: number;
  /** The unet's SPLIT_EINSUM attention maps at 4096 tokens (SD 1.5's 64×64 latent); scales with tokens². */
  attentionBytes?: number;
  /** Where the figure comes from: a measurement, or what it was derived from when nothing was measured. */
  source: string;
  /** False when no process of this kind was measured on this route (the figure is borrowed or derived). */
  measured: boolean;
}

/**
 * The conversion route the budget estimates: the lean entry (lean-conversion, one part per
 * process), else the converter's command line. THE one place that reads it.
 */
export function conversionRoute(config: Pick<Config, 'conversion' | 'processPerComponent'>): Route {
  return config.conversion.leanConversion && config.processPerComponent ? 'lean' : 'command-line';
}

/** Python + torch + coremltools + diffusers + transformers imported, nothing loaded. */
export const BASE_BYTES = 0.54 * GIB;
/** Measured here: `/usr/bin/time -v python -c "import torch, coremltools, diffusers, transformers"` (locked packages, Linux x86_64) peaks at 0.54 GiB; memory-at-full-size.md says "about 0.6 GiB runtime" of the lean unet. */
export const BASE_SOURCE = 'import torch, coremltools, diffusers, transformers: 0.54 GiB peak RSS, measured (Linux x86_64, locked packages)';

// SD 1.5 at full size (memory-at-full-size.md, Linux x86_64, the pinned converter and locked
// packages, no --check-output-correctness): its fp16 files are unet 1.72 GB, text encoder 246 MB,
// VAE 167 MB; pipeline (the three) 2.133 GB. The command line's three small-part figures fit
// BASE + share × pipeline + k × part exactly: text encoder 2.39 GiB and VAE decoder 2.23 GiB give
// k = 2.19 (about the fp32 copy the converter traces) and share = 0.68 (the mapped fp16 pipeline
// resident; the unet process had 1.86 GiB of it mapped); the unet's 9.25 GiB then gives k = 3.07
// with the 2.44 GiB of attention maps the lean path measured at 64×64.
const SD15 = { unet: 1.72e9, textEncoder: 246e6, vae: 167e6, pipeline: 2.133e9 };
const ATTENTION_64 = 6.17 * GIB - BASE_BYTES - 2 * SD15.unet; // 2.43 GiB: the lean unet's 6.17 GiB (bench/convert-memory.mjs) less BASE and its fp32 reference weights
const SHARE = 0.68;
const SMALL_K = 2.19;
const UNET_K_COMMAND_LINE = (9.25 * GIB - BASE_BYTES - SHARE * SD15.pipeline - ATTENTION_64) / SD15.unet; // 3.07

/**
 * THE table: every figure the budget uses, per route, with where it comes from. The two routes
 * apart: the lean path measured only its unet; its other parts take the command line's part term
 * without the pipeline (the lean entry loads the component alone), marked unmeasured.
 */
export const FIGURES: Record<Route, Record<ProcessKind, Figure>> = {
  'command-line': {
    text_encoder: { k: SMALL_K, pipelineShare: SHARE, source: 'SD 1.5 text encoder, command line: 2.39 GiB (memory-at-full-size.md)', measured: true },
    vae: { k: SMALL_K, pipelineShare: SHARE, source: 'SD 1.5 VAE decoder, command line: 2.23 GiB (memory-at-full-size.md); the VAE encoder not measured, taken alike', measured: true },
    unet: { k: UNET_K_COMMAND_LINE, pipelineShare: SHARE, attentionBytes: ATTENTION_64, source: 'SD 1.5 unet, command line: 9.25 GiB (memory-at-full-size.md)', measured: true },
    safety_checker: { k: SMALL_K, pipelineShare: SHARE, source: 'not measured: the text encoder\'s figures (a CLIP model too)', measured: false },
    controlnet: { k: UNET_K_COMMAND_LINE, pipelineShare: SHARE, attentionBytes: ATTENTION_64, source: 'not measured: the unet\'s figures', measured: false },
    mmdit: { k: UNET_K_COMMAND_LINE, pipelineShare: SHARE, source: 'not measured (DiffusionKit): the unet\'s k', measured: false },
    quantize: { k: (3.87 * GIB - BASE_BYTES) / SD15.unet, source: 'SD 1.5 6-bit quantize (python/quantize_bundle.py): 3.87 GiB, per fp16 byte of the largest package (memory-at-full-size.md)', measured: true },
    chunk: { k: (4.67 * GIB - BASE_BYTES) / SD15.unet, source: 'chunking the SD 1.5 float16 unet: 4.67 GiB (memory-at-full-size.md)', measured: true },
    'chunk-quantized': { k: (2.18 * GIB - BASE_BYTES) / 646e6, source: 'chunking the 6-bit SD 1.5 unet (646 MB): 2.18 GiB (memory-at-full-size.md)', measured: true },
    bundle: { k: 1, source: 'not measured: coremlcompiler reading the largest package once', measured: false },
    'check-in-process': { k: 1, source: 'not measured (Core ML runs only on macOS): the Core ML model of the part loaded beside the PyTorch one', measured: false },
  },
  lean: {
    text_encoder: { k: (1.45 * GIB - BASE_BYTES) / SD15.textEncoder, source: 'SD 1.5 text encoder, python/lean_convert.py: 1.45 GiB (bench/convert-memory.mjs, time -v; SD 2.1 base\'s 680 MB encoder measured 2.59 GiB, under this figure\'s 3.2)', measured: true },
    vae: { k: (1.84 * GIB - BASE_BYTES) / SD15.vae, source: 'SD 1.5 VAE decoder, python/lean_convert.py: 1.84 GiB (bench/convert-memory.mjs, time -v; activations dominate); the encoder taken alike', measured: true },
    unet: { k: 2, attentionBytes: ATTENTION_64, source: 'SD 1.5 unet, python/lean_convert.py: 6.17 GiB = runtime + fp32 reference weights (2 × fp16) + 2.43 GiB of SPLIT_EINSUM attention maps at 64×64 (bench/convert-memory.mjs, time -v; SD 2.1 base measured 5.81 GiB)', measured: true },
    safety_checker: { k: SMALL_K, source: 'not measured: the text encoder\'s figures', measured: false },
    controlnet: { k: 2, attentionBytes: ATTENTION_64, source: 'not measured: the lean unet\'s figures', measured: false },
    mmdit: { k: 2, source: 'not measured (DiffusionKit): the lean unet\'s k', measured: false },
    quantize: { k: (3.87 * GIB - BASE_BYTES) / SD15.unet, source: 'SD 1.5 6-bit quantize (python/quantize_bundle.py): 3.87 GiB (memory-at-full-size.md); the same entry on both routes', measured: true },
    chunk: { k: (4.67 * GIB - BASE_BYTES) / SD15.unet, source: 'chunking the SD 1.5 float16 unet: 4.67 GiB (memory-at-full-size.md)', measured: true },
    'chunk-quantized': { k: (2.18 * GIB - BASE_BYTES) / 646e6, source: 'chunking the 6-bit SD 1.5 unet (646 MB): 2.18 GiB (memory-at-full-size.md)', measured: true },
    bundle: { k: 1, source: 'not measured: coremlcompiler reading the largest package once', measured: false },
    // The lean route checks parity in a process of its own (python/parity.py): nothing is added here.
    'check-in-process': { k: 0, source: 'the parity check runs in its own process on the lean route', measured: false },
  },
};

/**
 * SDXL's unet on the lean route, measured (bench/convert-memory.mjs, full size with random weights,
 * 2567.5M parameters, 5143 MB package): 16.68 GiB (time -v; 16.65 sampled, 20:22 on 2 shared cores).
 * Its attention term is SD 1.5's (the same 4096 tokens at 128x128 latents); the rest is its k, above
 * SD 1.5's 2: more transformer blocks hold more at once. The command line was not run (it would pass
 * this machine's 24 GiB).
 */
const SDXL_UNET = 5.135e9;
export const LEAN_UNET_XL: Figure = {
  k: (16.68 * GIB - BASE_BYTES - ATTENTION_64) / SDXL_UNET,
  attentionBytes: ATTENTION_64,
  source: 'SDXL unet, python/lean_convert.py: 16.68 GiB (bench/convert-memory.mjs, time -v)',
  measured: true,
};

/**
 * The check process (python/parity.py): its PyTorch half loads the part alone and runs the
 * converter's sample inputs, then lets it go; its Core ML half holds the package and the saved
 * arrays (not measured: Core ML runs only on macOS; taken as the package once, less than the
 * PyTorch half). Measured on full-size SD 1.5 (Linux x86_64, Apple's module at e12202c, PyTorch
 * half alone): text encoder 1.28 GiB, VAE decoder 1.75 GiB, unet 5.50 GiB at 64×64.
 */
export const PARITY_FIGURES: Record<'text_encoder' | 'vae' | 'unet', Figure> = {
  text_encoder: { k: (1.28 * GIB - BASE_BYTES) / SD15.textEncoder, source: 'SD 1.5 text encoder check (python/parity.py, PyTorch half): 1.28 GiB, measured', measured: true },
  vae: { k: (1.75 * GIB - BASE_BYTES) / SD15.vae, source: 'SD 1.5 VAE decoder check (python/parity.py, PyTorch half): 1.75 GiB, measured; the encoder taken alike', measured: true },
  unet: { k: 2, attentionBytes: 5.5 * GIB - BASE_BYTES - 2 * SD15.unet, source: 'SD 1.5 unet check (python/parity.py, PyTorch half, the batch one item at a time): 5.50 GiB at 64×64, measured', measured: true },
};

const PARITY_KIND: Record<ParityPart, { figure: keyof typeof PARITY_FIGURES; component: Component }> = {
  text_encoder: { figure: 'text_encoder', component: 'text_encoder' },
  vae_decoder: { figure: 'vae', component: 'vae' },
  vae_encoder: { figure: 'vae', component: 'vae' },
  unet: { figure: 'unet', component: 'unet' },
  refiner: { figure: 'unet', component: 'unet' },
};

/** What the operating system keeps for itself, taken off the runner's total memory. */
export const OS_RESERVE: { macOS: number; other: number; source: string } = {
  macOS: 2 * GIB,
  other: 1 * GIB,
  source: 'macOS: "7 GB of RAM, of which macOS itself takes 1.5-2 GB" (users-and-runners.md); other systems: 1 GiB, an allowance, not measured',
};

/**
 * Disk the converter's environment takes: the locked macOS arm64 Python 3.11 wheels unpacked
 * (0.93 GB, measured: `pip download` of constraints/…/macos-arm64-py3.11.txt, sizes summed from
 * the wheels' listings) and pip's cache of the same wheels (0.27 GB); conda with the env's Python
 * is an allowance of 0.6 GB, not measured.
 */
export const ENVIRONMENT_BYTES = 0.93e9 + 0.27e9 + 0.6e9;

/**
 * The converter's environment on Linux x86_64 (the converting half of a split conversion): the
 * locked wheels installed, 6.19 GB (3.46 GB of it the CUDA wheels and triton that PyPI's torch
 * imports), and pip's cache of their 3.22 GB download, both measured (bench/finish-install.mjs);
 * conda with its Python: the same 0.6 GB allowance.
 */
export const LINUX_ENVIRONMENT_BYTES = 6.19e9 + 3.22e9 + 0.6e9;

/** Pure: the converter environment's disk on this runner. */
export function environmentBytes(os: string): number {
  return os === 'Linux' ? LINUX_ENVIRONMENT_BYTES : ENVIRONMENT_BYTES;
}
/** Of a VAE file's bytes, the decoder's package (SD 1.5: 99 MB of 167 MB, measured); the encoder the rest. */
const VAE_DECODER_SHARE = 99 / 167;
/** The disk margin kept free beyond the estimate. */
export const DISK_MARGIN = 1 * GIB;

/** The model's sizes as the budget needs them: fp16 bytes per component, and what is still to be written. */
export interface ModelSizes {
  /** fp16 bytes of each component of the main pipeline (files as the converter loads them; fp32 files halved). */
  components: Partial<Record<Component, number>>;
  /** The refiner's unet, fp16 bytes. */
  refinerUnet?: number;
  /** Each ControlNet's fp16 bytes, by id. */
  controlnets: Record<string, number>;
  /** Bytes still to download into the Hub cache (files already there are not counted). */
  downloadBytes: number;
  /** Bytes made before conversion and removed after it: the fp16 copy, or a single file's diffusers folder. */
  stagedBytes: number;
}

export interface ProcessEstimate {
  label: string;
  /** undefined when the sizes it needs are unknown (a model the Hub did not list). */
  peakBytes?: number;
  /** The part that sets the peak (`unet`, `text_encoder`, ...), named in a refusal. */
  part: string;
  /** How the figure is made, for the log and the README. */
  basis: string;
  measured: boolean;
}

/** The unet's tokens at its first attention level; SDXL's first level has no attention (half the size each side). */
export function attentionTokens(o: Pick<ConversionOptions, 'latentH' | 'latentW' | 'xlVersion'>): number {
  const side = o.xlVersion ? 128 : 64;
  const h = o.latentH ?? side;
  const w = o.latentW ?? side;
  return o.xlVersion ? (h / 2) * (w / 2) : h * w;
}

const attention = (figure: Figure, tokens: number) => (figure.attentionBytes ?? 0) * (tokens / 4096) ** 2;

/** fp16 bytes of a selectable part, and the figure's kind. */
function partFacts(part: SelectablePart, sizes: ModelSizes): Array<{ name: string; kind: ProcessKind; bytes: number | undefined }> {
  const c = sizes.components;
  switch (part) {
    case 'text_encoder':
      return [{ name: 'text_encoder', kind: 'text_encoder', bytes: c.text_encoder }, ...(c.text_encoder_2 ? [{ name: 'text_encoder_2', kind: 'text_encoder' as const, bytes: c.text_encoder_2 }] : [])];
    case 'vae_decoder':
    case 'vae_encoder':
      return [{ name: part, kind: 'vae', bytes: c.vae }];
    case 'unet':
      return [{ name: 'unet', kind: 'unet', bytes: c.unet }];
    case 'safety_checker':
      return [{ name: 'safety_checker', kind: 'safety_checker', bytes: c.safety_checker }];
    case 'mmdit':
      return [{ name: 'mmdit', kind: 'mmdit', bytes: undefined }];
  }
}

/** The whole fp16 pipeline the command line loads. */
export function pipelineBytes(sizes: ModelSizes): number {
  return COMPONENTS.reduce((sum, c) => sum + (sizes.components[c] ?? 0), 0);
}

/** fp16 bytes of each package the plan makes (before quantization), by part; chunks apart. */
export function packageBytes(o: ConversionOptions, sizes: ModelSizes): Record<string, number> {
  const c = sizes.components;
  const out: Record<string, number> = {};
  if (o.parts.includes('text_encoder')) {
    out.text_encoder = c.text_encoder ?? 0;
    if (c.text_encoder_2) out.text_encoder_2 = c.text_encoder_2;
  }
  if (o.parts.includes('vae_decoder')) out.vae_decoder = (c.vae ?? 0) * VAE_DECODER_SHARE;
  if (o.parts.includes('vae_encoder')) out.vae_encoder = (c.vae ?? 0) * (1 - VAE_DECODER_SHARE);
  if (o.parts.includes('unet')) out.unet = c.unet ?? 0;
  if (o.parts.includes('unet') && o.refinerVersion) out.refiner = sizes.refinerUnet ?? 0;
  if (o.parts.includes('safety_checker')) out.safety_checker = c.safety_checker ?? 0;
  for (const id of o.controlnets) out[`controlnet ${id}`] = sizes.controlnets[id] ?? 0;
  return out;
}

const QUANTIZABLE = new Set(['text_encoder', 'text_encoder_2', 'unet', 'refiner']);
const quantizedShare = (o: ConversionOptions) => (o.quantizeNbits ? o.quantizeNbits / 16 : 1);
const gib = (bytes: number) => `${(bytes / GIB).toFixed(2)} GiB`;

/** Pure: one process's estimate. */
export function estimateStep(step: Step, o: ConversionOptions, sizes: ModelSizes, route: Route): ProcessEstimate {
  const figures = FIGURES[route];
  const packages = packageBytes(o, sizes);
  if (step.kind === 'chunk') {
    const bytes = (step.part === 'refiner' ? sizes.refinerUnet : sizes.components.unet) ?? undefined;
    const figure = figures[o.quantizeNbits ? 'chunk-quantized' : 'chunk'];
    const packageSize = bytes === undefined ? undefined : bytes * quantizedShare(o);
    return {
      label: step.label,
      part: step.part,
      peakBytes: packageSize === undefined ? undefined : BASE_BYTES + figure.k * packageSize,
      basis: `${figure.k.toFixed(2)} × the ${o.quantizeNbits ? `${o.quantizeNbits}-bit ` : ''}package + base; ${figure.source}`,
      measured: figure.measured,
    };
  }
  if (step.kind === 'parity' && step.half === 'check') {
    // The Core ML half alone (the finishing job): the package and the saved arrays.
    const bytes = packages[step.part];
    return {
      label: step.label,
      part: step.part,
      peakBytes: bytes === undefined ? undefined : BASE_BYTES + bytes,
      basis: `the ${step.part} package ${gib(bytes ?? 0)} + base; not measured: Core ML runs only on macOS`,
      measured: false,
    };
  }
  if (step.kind === 'parity') {
    const { figure: kind, component } = PARITY_KIND[step.part];
    const figure = PARITY_FIGURES[kind];
    // One text_encoder check covers text_encoder_2 too, one after the other: the larger sets the peak.
    const bytes = step.part === 'refiner' ? sizes.refinerUnet
      : step.part === 'text_encoder' && sizes.components.text_encoder_2 !== undefined ? Math.max(sizes.components.text_encoder ?? 0, sizes.components.text_encoder_2)
      : sizes.components[component];
    const tokens = attentionTokens(o);
    return {
      label: step.label,
      part: step.part,
      peakBytes: bytes === undefined ? undefined : BASE_BYTES + figure.k * bytes + attention(figure, tokens),
      basis: `${figure.k.toFixed(2)} × ${step.part} ${gib(bytes ?? 0)}${figure.attentionBytes ? ` + attention maps at ${tokens} tokens` : ''} + base; ${figure.source}`,
      measured: figure.measured,
    };
  }
  // A kind of process the figures do not know (one added to the plan later): no estimate rather than a wrong one.
  if (!('convert' in step)) return { label: (step as { label: string }).label, part: '', basis: 'no figures for this kind of process', measured: false };
  if (needsNoPipeline(step)) {
    // quantize or bundle: the largest package it reads (fp16 bytes: quantize reads it before palettizing)
    const kind: ProcessKind = step.quantize ? 'quantize' : 'bundle';
    const figure = figures[kind];
    const read = Object.entries(packages).filter(([name]) => !step.quantize || QUANTIZABLE.has(name) || name.startsWith('controlnet '));
    const [part, largest] = read.reduce<[string, number]>((best, entry) => (entry[1] > best[1] ? entry : best), ['', 0]);
    const bytes = step.quantize ? largest : largest * quantizedShare(o);
    return { label: step.label, part: part || kind, peakBytes: BASE_BYTES + figure.k * bytes, basis: `${figure.k.toFixed(2)} × the largest package${part ? ` (${part})` : ''} + base; ${figure.source}`, measured: figure.measured };
  }

  // A converting process: each part's term; the peak is the largest, with the other parts held too.
  const tokens = attentionTokens(o);
  const terms: Array<{ name: string; bytes: number | undefined; term: number | undefined; figure: Figure }> = [];
  for (const part of step.convert) {
    for (const fact of partFacts(part, sizes)) {
      const figure = fact.kind === 'unet' && o.xlVersion && route === 'lean' ? LEAN_UNET_XL : figures[fact.kind];
      terms.push({ name: fact.name, bytes: fact.bytes, term: fact.bytes === undefined ? undefined : figure.k * fact.bytes + attention(figure, tokens), figure });
    }
  }
  if (step.refiner) {
    const figure = figures.unet;
    terms.push({ name: 'refiner', bytes: sizes.refinerUnet, term: sizes.refinerUnet === undefined ? undefined : figure.k * sizes.refinerUnet + attention(figure, tokens), figure });
  }
  for (const id of step.controlnets) {
    const figure = figures.controlnet;
    const bytes = sizes.controlnets[id];
    terms.push({ name: `controlnet ${id}`, bytes, term: bytes === undefined ? undefined : figure.k * bytes + attention(figure, tokens), figure });
  }
  const unknown = terms.find((t) => t.term === undefined);
  const top = terms.reduce<(typeof terms)[number] | undefined>((best, t) => (best === undefined || (t.term ?? 0) > (best.term ?? 0) ? t : best), undefined);
  if (!top || unknown) {
    return { label: step.label, part: unknown?.name ?? top?.name ?? 'pipeline', basis: `no size known for ${unknown?.name ?? 'the parts'}`, measured: false };
  }
  const others = terms.filter((t) => t !== top).reduce((sum, t) => sum + (t.bytes ?? 0), 0);
  const share = top.figure.pipelineShare ?? 0;
  const pipeline = share * pipelineBytes(sizes);
  const check = step.checkCorrectness ? figures['check-in-process'].k * (packages[top.name] ?? top.bytes ?? 0) : 0;
  const peak = BASE_BYTES + (top.term ?? 0) + pipeline + others + check;
  const basis = [
    `base ${gib(BASE_BYTES)}`,
    `${top.figure.k.toFixed(2)} × ${top.name} ${gib(top.bytes ?? 0)}`,
    ...(top.figure.attentionBytes ? [`attention maps ${gib(attention(top.figure, tokens))} at ${tokens} tokens`] : []),
    ...(pipeline > 0 ? [`${share} × the fp16 pipeline ${gib(pipelineBytes(sizes))}`] : []),
    ...(others > 0 ? ['the other parts of the process'] : []),
    ...(check > 0 ? ['the Core ML model for check-output-correctness'] : []),
  ].join(' + ');
  return { label: step.label, part: top.name, peakBytes: peak, basis: `${basis}; ${top.figure.source}`, measured: top.figure.measured && check === 0 };
}

/** Pure: every planned process's estimate. */
export function estimateProcesses(steps: readonly Step[], o: ConversionOptions, sizes: ModelSizes, route: Route): ProcessEstimate[] {
  return steps.map((step) => estimateStep(step, o, sizes, route));
}

export interface DiskItem {
  what: string;
  bytes: number;
}

export interface DiskEstimate {
  /** What the job writes, item by item. */
  items: DiskItem[];
  /** The most the job holds at once beyond what is on disk now. */
  peakBytes: number;
  /** The moment of that peak. */
  peakAt: string;
  /** With the Hub downloads let go once the last converting process has run (what stage.ts decides). */
  peakWithoutDownloads: number;
}

/**
 * Pure: the job's peak disk. Phases: converting (downloads, env, staged copy, fp16 packages, chunks;
 * quantize holds one quantized copy beside its fp16 package); then, the staged copy gone, the
 * outputs cache's archive (about output-dir's size, removed once saved) and the zips (about the
 * packages and Resources: stored, fp16 weights do not deflate).
 */
export function estimateDisk(o: ConversionOptions, sizes: ModelSizes, publish: { package: boolean; outputsCache: boolean; split?: SplitMode; environment?: number }): DiskEstimate {
  if (publish.split === 'finish') return finishingDisk(o, sizes, publish.package);
  if (publish.split === 'convert') return estimateDisk({ ...o, bundleResources: false }, sizes, { package: false, outputsCache: publish.outputsCache, environment: publish.environment });
  const environment = publish.environment ?? ENVIRONMENT_BYTES;
  const packages = packageBytes(o, sizes);
  const fp16Packages = Object.values(packages).reduce((a, b) => a + b, 0);
  const { chunked, finalPackages } = finalPackageBytes(o, packages);
  const quantizeExtra = o.quantizeNbits ? Math.max(0, ...Object.entries(packages).filter(([n]) => QUANTIZABLE.has(n)).map(([, b]) => b * quantizedShare(o))) : 0;
  const resources = o.bundleResources ? finalPackages : 0;
  const output = finalPackages + resources;
  const items: DiskItem[] = [
    { what: 'Hub downloads (Hugging Face cache)', bytes: sizes.downloadBytes },
    { what: 'converter environment (conda, pip packages and cache)', bytes: environment },
    ...(sizes.stagedBytes > 0 ? [{ what: 'fp16 copy / single file\'s folder (removed after conversion)', bytes: sizes.stagedBytes }] : []),
    { what: 'mlpackages', bytes: finalPackages },
    ...(resources > 0 ? [{ what: 'Resources (compiled)', bytes: resources }] : []),
    ...(publish.outputsCache ? [{ what: 'outputs cache archive (removed once saved)', bytes: output }] : []),
    ...(publish.package ? [{ what: 'zips in package-dir', bytes: output }] : []),
  ];
  const fixed = sizes.downloadBytes + environment;
  const converting = fixed + sizes.stagedBytes + Math.max(fp16Packages + chunked + quantizeExtra, finalPackages);
  const after = Math.max(publish.outputsCache ? output : 0, publish.package ? output : 0);
  const finishing = fixed + output + after;
  const peakBytes = Math.max(converting, finishing);
  const peakWithoutDownloads = Math.max(converting, finishing - sizes.downloadBytes);
  const peakAt = converting >= finishing ? 'while converting' : publish.package ? 'while zipping' : publish.outputsCache ? 'while saving the outputs cache' : 'once converted';
  return { items, peakBytes, peakAt, peakWithoutDownloads };
}

/** Pure: the packages a conversion ends with (quantized ones at nbits/16), and its chunks among them. */
function finalPackageBytes(o: ConversionOptions, packages: Record<string, number>): { chunked: number; finalPackages: number } {
  const chunked = o.chunkUnet ? chunkableParts(o).reduce((sum, p) => sum + (p === 'refiner' ? packages.refiner ?? 0 : packages.unet ?? 0), 0) * quantizedShare(o) : 0;
  const finalPackages = Object.entries(packages).reduce((sum, [name, bytes]) => sum + (o.quantizeNbits && (QUANTIZABLE.has(name) || name.startsWith('controlnet ')) ? bytes * quantizedShare(o) : bytes), 0) + chunked;
  return { chunked, finalPackages };
}

/**
 * Disk the finishing job's environment takes: coremltools, numpy and their dependencies (no torch),
 * installed 184 MB and downloaded 24 MB for macOS arm64 (bench/finish-install.mjs), with conda's
 * Python (the 0.6 GB allowance).
 */
export const FINISH_ENVIRONMENT_BYTES = 0.184e9 + 0.024e9 + 0.6e9;

/**
 * Pure: the finishing job's peak disk: its environment, the hand-off (the final packages, unzipped as
 * they download), the Resources compiled from them, then the zips. Nothing is downloaded from the
 * Hub, nothing staged, no outputs cache (the converting job caches the conversion).
 */
function finishingDisk(o: ConversionOptions, sizes: ModelSizes, zips: boolean): DiskEstimate {
  const handoff = finalPackageBytes(o, packageBytes(o, sizes)).finalPackages;
  const resources = o.bundleResources ? handoff : 0;
  const output = handoff + resources;
  const items: DiskItem[] = [
    { what: 'finishing environment (conda, coremltools and numpy)', bytes: FINISH_ENVIRONMENT_BYTES },
    { what: 'the hand-off (mlpackages)', bytes: handoff },
    ...(resources > 0 ? [{ what: 'Resources (compiled)', bytes: resources }] : []),
    ...(zips ? [{ what: 'zips in package-dir', bytes: output }] : []),
  ];
  const peakBytes = FINISH_ENVIRONMENT_BYTES + output + (zips ? output : 0);
  return { items, peakBytes, peakAt: zips ? 'while zipping' : 'once compiled', peakWithoutDownloads: peakBytes };
}

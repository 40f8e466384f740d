import { PSNR_PARTS, QUANTIZED_CHECK, type PsnrPart } from './vocabulary.js';
import { DIFFUSIONKIT_CHECK, DIFFUSIONKIT_MIN_PSNR } from './diffusionkit.js';

/**
 * Reads the converter's log as it streams. Lines come from Python's logging (`LEVEL:logger:msg`),
 * from coremltools and from tqdm, whose `\r` frames get log lines glued to them: so the text is
 * split on `\r` and `\n`, and no pattern is anchored at the start of a line.
 */
export type ConverterEvent =
  | { kind: 'converting'; part: string }
  | { kind: 'converted'; part: string }
  | { kind: 'saved'; path: string }
  | { kind: 'skipped'; part: string; path: string }
  | { kind: 'chunking'; part: string }
  | { kind: 'quantizing'; part: string }
  | { kind: 'compiled'; source: string; target: string }
  | { kind: 'psnr'; check: PsnrCheck }
  | { kind: 'too-low'; figure: string };

export interface PsnrCheck {
  part: PsnrPart;
  /** The converter's own prefix, e.g. `unet baseline PyTorch to reference CoreML`. */
  check: string;
  /** The figure that matters; null for nan and inf, which upstream lets pass. */
  psnr: number | null;
  /** As the converter printed it (keeps `nan`, `inf`). */
  printed: string;
}

/** What a step tells the parser about names the log leaves ambiguous. */
export interface LogContext {
  /** `unet` or `control-unet`: upstream logs the same prefix for both. */
  unetPart: 'unet' | 'control-unet';
  /** The package a chunk_mlprogram step splits (its log never names the part). */
  chunkPart?: 'unet' | 'control-unet' | 'refiner';
}

const FIGURE = String.raw`(-?inf|nan|-?\d+(?:\.\d+)?)`;
/** DiffusionKit prints `{psnr:.3g}` and unittest a float's repr: either may have an exponent. */
const DK_FIGURE = String.raw`(-?inf|nan|-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)`;
/** unittest's report of DiffusionKit's failed assertGreater(psnr, 35), with the figure. */
export const DIFFUSIONKIT_PARITY_FAILED = new RegExp(String.raw`AssertionError: ${DK_FIGURE} not greater than ${DIFFUSIONKIT_MIN_PSNR}\b`);
/** Part names hold dots where a ControlNet id does (`..._1.0`). */
const NAME = String.raw`[\w.-]+`;
const PATTERNS = {
  psnr: new RegExp(
    String.raw`([\w.\-]+) (baseline (?:PyTorch )?to (?:reference|baseline) (?:PyTorch|CoreML)): PSNR changed by \S+ dB \(\S+ -> ${FIGURE}\)`,
  ),
  tooLow: new RegExp(String.raw`ValueError: ${FIGURE} dB is too low!`),
  chunkLow: new RegExp(String.raw`WARNING:coremltools:${FIGURE} dB is low!`),
  // DiffusionKit 0.4.0 converts SD3's MMDiT and VAE decoder through argmaxtools' CoreMLTestsMixin,
  // whose parity check always runs: it logs the figure, and on a failure unittest prints the
  // assertion and the package is never saved (the converter then fails opening it).
  diffusionKitPsnr: new RegExp(String.raw`:torch2coreml PSNR=${DK_FIGURE}`),
  diffusionKitFailed: DIFFUSIONKIT_PARITY_FAILED,
  converting: new RegExp(String.raw`:Converting (${NAME})$`),
  converted: new RegExp(String.raw`:Converted (${NAME})$`),
  saved: new RegExp(String.raw`:Saved ${NAME} into (.+\.mlpackage)$`),
  skipped: new RegExp(String.raw`\`(${NAME})\` already exists at (.+), skipping conversion\.$`),
  chunksExist: /`unet` chunks already exist, skipping conversion\./,
  chunking: /:Chunking (\S+) in two approximately equal MLModels/,
  chunkingModel: /:Start chunking model (.+) into two pieces\./,
  // `Quantizing <part> to N-bit precision` heads every candidate, found or not (`Skipped quantizing
  // <part> (Not found at ...)` follows); the bare `Quantizing <part>` only one that is rewritten.
  quantizing: new RegExp(String.raw`:Quantizing (${NAME})$`),
  // python/quantize_bundle.py's check of each quantized package against its float16 outputs.
  quantizedPsnr: new RegExp(String.raw`^quantize_bundle: (${NAME}) quantized to float16 Core ML: PSNR ${FIGURE} dB$`),
  // python/parity.py names the package before each of its halves: the converter's prefixes do not
  // tell text_encoder_2 from text_encoder, nor the refiner from the unet.
  parityChecking: new RegExp(String.raw`parity: checking (${NAME}) \((?:reference|check)\)$`),
  compiled: /:Compiled (.+) to (.+\.mlmodelc)$/,
};

export function parsePsnrFigure(text: string): number | null {
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}

export class ConverterLogParser {
  private pending = '';
  private currentPart = '';
  private chunkPart: LogContext['chunkPart'];

  constructor(private readonly context: LogContext) {
    this.chunkPart = context.chunkPart;
  }

  /** Feed a chunk of output; returns the events of every segment it completed. */
  push(text: string): ConverterEvent[] {
    const segments = (this.pending + text).split(/\r\n|\r|\n/);
    this.pending = segments.pop() ?? '';
    return segments.flatMap((s) => this.parseSegment(s));
  }

  /** The stream ended: parse what is left. */
  end(): ConverterEvent[] {
    const rest = this.pending;
    this.pending = '';
    return rest ? this.parseSegment(rest) : [];
  }

  private parseSegment(raw: string): ConverterEvent[] {
    const line = raw.trimEnd();
    let m: RegExpExecArray | null;
    if ((m = PATTERNS.psnr.exec(line))) {
      const [, subject = '', rest = '', figure = ''] = m;
      return [{ kind: 'psnr', check: { part: this.psnrPart(subject), check: `${subject} ${rest}`, psnr: parsePsnrFigure(figure), printed: figure } }];
    }
    if ((m = PATTERNS.tooLow.exec(line) ?? PATTERNS.diffusionKitFailed.exec(line))) return [{ kind: 'too-low', figure: m[1] ?? '' }];
    if ((m = PATTERNS.diffusionKitPsnr.exec(line))) {
      const part = this.currentPart === 'vae_decoder' ? 'vae_decoder' : 'mmdit';
      return [{ kind: 'psnr', check: { part, check: DIFFUSIONKIT_CHECK, psnr: parsePsnrFigure(m[1] ?? ''), printed: m[1] ?? '' } }];
    }
    if ((m = PATTERNS.chunkLow.exec(line))) {
      const part = `${this.chunkPart ?? this.context.unetPart}_chunks` as PsnrPart;
      return [{ kind: 'psnr', check: { part, check: 'chunks against the full model (coremltools)', psnr: parsePsnrFigure(m[1] ?? ''), printed: m[1] ?? '' } }];
    }
    if ((m = PATTERNS.parityChecking.exec(line))) {
      this.currentPart = m[1] ?? '';
      return [];
    }
    if ((m = PATTERNS.converting.exec(line))) {
      this.currentPart = m[1] ?? '';
      return [{ kind: 'converting', part: this.currentPart }];
    }
    if ((m = PATTERNS.converted.exec(line))) return [{ kind: 'converted', part: m[1] ?? '' }];
    if ((m = PATTERNS.saved.exec(line))) return [{ kind: 'saved', path: m[1] ?? '' }];
    if ((m = PATTERNS.skipped.exec(line))) return [{ kind: 'skipped', part: m[1] ?? '', path: m[2] ?? '' }];
    if (PATTERNS.chunksExist.test(line)) return [{ kind: 'skipped', part: `${this.unetLike()}_chunks`, path: '' }];
    if ((m = PATTERNS.chunking.exec(line))) {
      // Upstream prints the model_name argument: literally None for the base unet.
      this.chunkPart = m[1] === 'refiner' ? 'refiner' : this.context.unetPart;
      return [{ kind: 'chunking', part: this.chunkPart }];
    }
    if (PATTERNS.chunkingModel.test(line)) return [{ kind: 'chunking', part: this.chunkPart ?? this.context.unetPart }];
    if ((m = PATTERNS.quantizedPsnr.exec(line))) {
      const part = `${m[1] ?? ''}_quantized`;
      if (!(PSNR_PARTS as readonly string[]).includes(part)) return [];
      return [{ kind: 'psnr', check: { part: part as PsnrPart, check: QUANTIZED_CHECK, psnr: parsePsnrFigure(m[2] ?? ''), printed: m[2] ?? '' } }];
    }
    if ((m = PATTERNS.quantizing.exec(line))) return [{ kind: 'quantizing', part: m[1] ?? '' }];
    if ((m = PATTERNS.compiled.exec(line))) return [{ kind: 'compiled', source: m[1] ?? '', target: m[2] ?? '' }];
    return [];
  }

  private unetLike(): string {
    return this.currentPart === 'refiner' ? 'refiner' : this.context.unetPart;
  }

  /** Upstream reuses prefixes: text_encoder_2 logs as text_encoder, refiner and control-unet as unet. */
  private psnrPart(subject: string): PsnrPart {
    switch (subject) {
      case 'text_encoder':
        return this.currentPart === 'text_encoder_2' ? 'text_encoder_2' : 'text_encoder';
      case 'unet':
        return this.unetLike() as PsnrPart;
      case 'vae_decoder':
      case 'vae_encoder':
      case 'safety_checker':
        return subject;
      default:
        // `controlnet ...` and `<ControlNet id with / as _> baseline to reference PyTorch`.
        return 'controlnet';
    }
  }
}

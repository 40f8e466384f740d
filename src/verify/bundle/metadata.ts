import { errorMessage } from '../../format/error.js';
/**
 * What a compiled model's metadata.json says, as far as the checks and the apps read it. Pure.
 *
 * coremlcompiler writes a JSON array holding one object per model, with string-valued
 * `inputSchema` entries (`"shape": "[2, 4, 64, 64]"`), an op histogram
 * `mlProgramOperationTypeHistogram` whose keys carry the opset (`Ios16.einsum`,
 * `Ios16.constexprLutToDense`, `Ios18.constexprLutToDense`), and for compressed weights a
 * `storagePrecision` such as `Mixed (Float16, Palettized (6 bits))`. Newer compilers (iOS 18
 * targets) add a `functions` array that repeats the histogram per function.
 */
export interface ModelMetadata {
  modelType?: string;
  /** The top-level histogram: the one Mochi Diffusion and Guernika read. */
  histogram: Record<string, number>;
  /** Op names of the top-level histogram and of every `functions` entry. */
  allOps: string[];
  storagePrecision?: string;
  inputs: ModelInput[];
}

export interface ModelInput {
  name: string;
  /** The parsed `shape` string, when it is a list of whole numbers. */
  shape?: number[];
  shapeText?: string;
}

export type MetadataReading = { ok: true; metadata: ModelMetadata } | { ok: false; problem: string };

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function histogramOf(value: unknown): Record<string, number> {
  if (!isObject(value)) return {};
  return Object.fromEntries(Object.entries(value).filter((entry): entry is [string, number] => typeof entry[1] === 'number'));
}

/** `"[1, 3, 512, 512]"` -> [1, 3, 512, 512]; undefined for anything else. */
export function parseShape(text: string): number[] | undefined {
  const match = /^\s*\[([\d\s,]*)\]\s*$/.exec(text);
  if (!match) return undefined;
  const parts = (match[1] ?? '').split(',').map((p) => p.trim());
  if (parts.length === 1 && parts[0] === '') return [];
  if (parts.some((p) => !/^\d+$/.test(p))) return undefined;
  return parts.map(Number);
}

export function readMetadata(text: string): MetadataReading {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { ok: false, problem: `is not valid JSON (${errorMessage(error)})` };
  }
  // Mochi Diffusion decodes an array and refuses anything but exactly one entry.
  if (!Array.isArray(parsed) || parsed.length !== 1 || !isObject(parsed[0])) {
    return { ok: false, problem: 'is not the JSON array of one object that coremlcompiler writes' };
  }
  const entry = parsed[0];
  const histogram = histogramOf(entry.mlProgramOperationTypeHistogram);
  const functionOps = Array.isArray(entry.functions)
    ? entry.functions.flatMap((f: unknown) => (isObject(f) ? Object.keys(histogramOf(f.mlProgramOperationTypeHistogram)) : []))
    : [];
  const inputs: ModelInput[] = (Array.isArray(entry.inputSchema) ? entry.inputSchema : []).filter(isObject).map((input) => {
    const shapeText = typeof input.shape === 'string' ? input.shape : undefined;
    return { name: typeof input.name === 'string' ? input.name : '', shapeText, shape: shapeText === undefined ? undefined : parseShape(shapeText) };
  });
  return {
    ok: true,
    metadata: {
      modelType: isObject(entry.modelType) && typeof entry.modelType.name === 'string' ? entry.modelType.name : undefined,
      histogram,
      allOps: [...new Set([...Object.keys(histogram), ...functionOps])],
      storagePrecision: typeof entry.storagePrecision === 'string' ? entry.storagePrecision : undefined,
      inputs,
    },
  };
}

/**
 * Palettized weights, as --quantize-nbits makes them: `constexprLutToDense` ops (whatever the
 * opset prefix) or `Palettized (N bits)` in storagePrecision. `bits` lists every N named there.
 */
export function palettization(m: ModelMetadata): { palettized: boolean; bits: number[] } {
  const bits = [...(m.storagePrecision ?? '').matchAll(/Palettized \((\d+) bits?\)/g)].map((match) => Number(match[1]));
  const palettized = bits.length > 0 || m.allOps.some((op) => /(^|\.)constexprLutToDense$/.test(op));
  return { palettized, bits: [...new Set(bits)].sort((a, b) => a - b) };
}

export function inputNamed(m: ModelMetadata, name: string): ModelInput | undefined {
  return m.inputs.find((input) => input.name === name);
}

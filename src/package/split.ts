/**
 * Pure: the size limit of a release asset and how the parts of a zip over it are named (the zip
 * writer cuts them as it writes). GitHub refuses an asset of 2 GiB or more; `.zip.001`, `.zip.002`, ... joined with `cat` give the zip back.
 */

export const GIB = 1024 ** 3;
/** GitHub's limit: every asset must be smaller than this. */
export const ASSET_LIMIT = 2 * GIB;
export const MIN_PART_SIZE = 1024 ** 2;
export const DEFAULT_MAX_ASSET_SIZE = Math.floor(1.9 * GIB);

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  kib: 1024,
  mib: 1024 ** 2,
  gib: GIB,
};

/** Bytes, or a number with a unit (B, kB, MB, GB, KiB, MiB, GiB); undefined when unreadable. */
export function parseSize(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  if (!match) return undefined;
  const [, figure = '', unit = ''] = match;
  const factor = unit === '' ? 1 : UNITS[unit.toLowerCase()];
  if (factor === undefined) return undefined;
  const bytes = Math.floor(Number(figure) * factor);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Why a max-asset-size cannot be used, or undefined. */
export function maxAssetSizeProblem(bytes: number): string | undefined {
  if (bytes >= ASSET_LIMIT) return `must be under 2 GiB (${ASSET_LIMIT} bytes): GitHub refuses a release asset of 2 GiB or more`;
  if (bytes < MIN_PART_SIZE) return `must be at least 1 MiB (${MIN_PART_SIZE} bytes)`;
  return undefined;
}

/** Three digits: `.1000` would sort before `.101`, and `cat <zip>.*` would join the parts out of order. */
export const MAX_PARTS = 999;

/** `<zip>.001`: parts sort, and join, in the order of their names. */
export function partName(zipName: string, index: number): string {
  if (index > MAX_PARTS) {
    throw new Error(`${zipName} would need more than ${MAX_PARTS} parts, whose names would not sort in order: raise \`max-asset-size\` (up to just under 2 GiB).`);
  }
  return `${zipName}.${String(index).padStart(3, '0')}`;
}

/** The command that joins parts back into the zip. */
export function joinCommand(zipName: string, parts: readonly string[]): string {
  return `cat ${parts.join(' ')} > ${zipName}`;
}

import { open } from 'node:fs/promises';

/**
 * The safetensors header, pure: 8 bytes of little-endian length N, then N bytes of JSON naming
 * every tensor (dtype, shape, data_offsets) and an optional `__metadata__`. Only the header is
 * read, never the weights, so the kind of a checkpoint of gigabytes is known from a few hundred KB.
 */
export interface TensorInfo {
  dtype: string;
  shape: number[];
}

export interface SafetensorsHeader {
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
  /** 8 + N: where the weights start. */
  headerBytes: number;
}

/** The safetensors format's own limit on the header (its reference reader refuses more). */
export const MAX_HEADER = 100_000_000;
/** What a first read fetches; SD and SDXL checkpoints' headers are 100 to 300 KB. */
export const FIRST_READ = 512 * 1024;

export class HeaderError extends Error {}

/** The JSON's length from the first 8 bytes; an error when the file cannot be safetensors. */
export function headerLength(first: Uint8Array, fileSize: number): number {
  if (first.length < 8 || fileSize < 8) throw new HeaderError(`it has ${fileSize} bytes, fewer than the 8 of a safetensors header's length`);
  const n = Buffer.from(first.buffer, first.byteOffset, 8).readBigUInt64LE(0);
  if (n < 2n || n > BigInt(MAX_HEADER)) throw new HeaderError(`its first 8 bytes give a header of ${n} bytes, which no safetensors file has (2 to ${MAX_HEADER})`);
  if (8n + n > BigInt(fileSize)) throw new HeaderError(`its header would be ${n} bytes, but the file has only ${fileSize} (truncated?)`);
  return Number(n);
}

/** The header from the file's first 8 + N bytes (more may follow). */
export function parseHeader(bytes: Uint8Array, fileSize: number): SafetensorsHeader {
  const n = headerLength(bytes, fileSize);
  if (bytes.length < 8 + n) throw new HeaderError(`only ${bytes.length} of its ${8 + n} header bytes were read`);
  const text = Buffer.from(bytes.buffer, bytes.byteOffset + 8, n).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new HeaderError('its header is not JSON');
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new HeaderError('its header is not a JSON object');
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = value !== null && typeof value === 'object' ? (Object.fromEntries(Object.entries(value).filter(([, v]) => typeof v === 'string')) as Record<string, string>) : {};
      continue;
    }
    const t = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    const shapeOk = Array.isArray(t?.shape) && t.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0);
    const offsets = t?.data_offsets;
    const offsetsOk = Array.isArray(offsets) && offsets.length === 2 && offsets.every((o) => Number.isSafeInteger(o)) && (offsets[0] as number) <= (offsets[1] as number) && 8 + n + (offsets[1] as number) <= fileSize;
    if (typeof t?.dtype !== 'string' || !shapeOk || !offsetsOk) throw new HeaderError(`its header entry ${JSON.stringify(name)} is not a tensor (dtype, shape, data_offsets within the file)`);
    tensors.set(name, { dtype: t.dtype, shape: t.shape as number[] });
  }
  return { tensors, metadata, headerBytes: 8 + n };
}

/**
 * Reads a header through `read(start, length)` (a file or a Hub byte range): one read of
 * FIRST_READ bytes, a second only when the header is longer.
 */
export async function readHeaderWith(read: (start: number, length: number) => Promise<Uint8Array>, fileSize: number): Promise<SafetensorsHeader> {
  const first = await read(0, Math.min(FIRST_READ, fileSize));
  const n = headerLength(first, fileSize);
  if (first.length >= 8 + n) return parseHeader(first, fileSize);
  const rest = await read(first.length, 8 + n - first.length);
  return parseHeader(Buffer.concat([first, rest]), fileSize);
}

/** The header of a local file. */
export async function readFileHeader(file: string): Promise<SafetensorsHeader> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    return await readHeaderWith(async (start, length) => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, start);
      return buffer.subarray(0, bytesRead);
    }, size);
  } finally {
    await handle.close();
  }
}

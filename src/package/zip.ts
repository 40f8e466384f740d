import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, type FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { Readable, Transform, Writable, type TransformCallback } from 'node:stream';
import compressCommons, { type ZipArchiveEntry as Entry } from 'compress-commons';
import { partName } from './split.js';

const { ZipArchiveEntry, ZipArchiveOutputStream } = compressCommons;

/**
 * The thin part of packaging: a streaming zip writer on compress-commons (the writer under
 * archiver, already in the bundle through @actions/artifact). Each source file is read once, in
 * 1 MiB chunks: the chunk is hashed (sha256, for the manifest), CRC'd and stored by the zip
 * writer, and its zip bytes are hashed (the whole zip, and each part) on their way to disk.
 * Stored entries are read into a fixed pool of buffers that come back once written, so memory
 * stays flat whatever the size (fresh buffers per read would pile up as garbage between
 * collections: about 64 MB more at the peak).
 */

/** Every entry gets this time (the DOS epoch, UTC) and fixed modes: same tree, same bytes. */
export const ZIP_DATE = new Date(Date.UTC(1980, 0, 1, 0, 0, 0));
const FILE_MODE = 0o644;
const DIR_MODE = 0o755;
const CHUNK = 1024 * 1024;
const POOL_BUFFERS = 16;
const ZIP64_LIMIT = 0xffffffff;

export interface ZipEntrySource {
  /** Name inside the zip, `/`-separated; a folder's ends with `/`. */
  name: string;
  /** Absolute path of the file to read; none for a folder. */
  path?: string;
  /** Bytes, as listed (checked against what is read). */
  size: number;
}

export interface WrittenFile {
  name: string;
  path: string;
  size: number;
  sha256: string;
}

export interface SourceDigest {
  /** Name inside the zip. */
  name: string;
  size: number;
  sha256: string;
}

export interface ZipResult {
  /** The zip's own name, also when it was written as parts. */
  name: string;
  size: number;
  sha256: string;
  /** What was written: the zip itself, or its parts in order. */
  files: WrittenFile[];
  sources: SourceDigest[];
  entries: number;
  method: 'store' | 'deflate';
}

/**
 * One entry's header fields, fixed so that only names and contents decide the bytes. A file of
 * 4 GiB or more gets an empty ZIP64 field in its local header: the writer streams (sizes follow
 * the data in a descriptor) and readers take that descriptor's sizes as 8 bytes only when the
 * local header carries a ZIP64 field (the central directory gets the full one either way).
 */
export function zipEntry(name: string, size: number, level: number): Entry {
  const entry = new ZipArchiveEntry(name);
  entry.setTime(ZIP_DATE, false);
  entry.setUnixMode(name.endsWith('/') ? DIR_MODE : FILE_MODE);
  entry.setMethod(level === 0 || name.endsWith('/') ? 0 : 8);
  if (size > ZIP64_LIMIT) {
    entry.setSize(size);
    const extra = Buffer.alloc(20);
    extra.writeUInt16LE(0x0001, 0);
    extra.writeUInt16LE(16, 2);
    entry.setExtra(extra);
  }
  return entry;
}

/**
 * Fixed buffers handed out for reads and given back by the writer once their bytes are on disk.
 * A chunk passes through the hash, the CRC and the zip stream as the same bytes (a whole buffer,
 * or the front of one at the end of a file), so the writer can tell a pooled one by its memory.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  private readonly waiting: Array<(buffer: Buffer) => void> = [];
  private readonly owners = new Map<ArrayBufferLike, Buffer>();

  constructor(count: number, size: number) {
    for (let i = 0; i < count; i++) {
      const buffer = Buffer.allocUnsafeSlow(size);
      this.owners.set(buffer.buffer, buffer);
      this.free.push(buffer);
    }
  }

  get available(): number {
    return this.free.length;
  }

  acquire(): Promise<Buffer> {
    const buffer = this.free.pop();
    return buffer ? Promise.resolve(buffer) : new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Gives back the pool's buffer behind `chunk`; any other chunk is ignored. */
  release(chunk: Buffer): void {
    const buffer = this.owners.get(chunk.buffer);
    if (!buffer) return;
    const next = this.waiting.shift();
    if (next) next(buffer);
    else this.free.push(buffer);
  }
}

/** A file read into pool buffers, one chunk at a time (the pool bounds how many are in flight). */
class PooledFileReader extends Readable {
  private handle?: FileHandle;

  constructor(
    private readonly file: string,
    private readonly pool: BufferPool,
  ) {
    super({ highWaterMark: CHUNK });
  }

  override _construct(callback: (error?: Error | null) => void): void {
    open(this.file, 'r').then((handle) => {
      this.handle = handle;
      callback();
    }, callback);
  }

  override _read(): void {
    const handle = this.handle;
    if (!handle) return;
    this.pool
      .acquire()
      .then(async (buffer) => {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
        if (bytesRead === 0) {
          this.pool.release(buffer);
          this.push(null);
        } else {
          this.push(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead));
        }
      })
      .catch((error: unknown) => this.destroy(error as Error));
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const handle = this.handle;
    this.handle = undefined;
    if (!handle) return callback(error);
    handle.close().then(() => callback(error), () => callback(error));
  }
}

/** Passes bytes through while hashing and counting them. */
class Digest extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

/**
 * Writes the zip's bytes as `<name>.001`, `.002`, ... of at most `max` bytes each, hashing the
 * whole and every part on the way. Part 1's hash is the whole hash up to the cut (a copy), so a
 * zip that fits in one part is hashed once.
 */
class PartWriter extends Writable {
  readonly whole = createHash('sha256');
  readonly parts: WrittenFile[] = [];
  total = 0;
  private handle?: FileHandle;
  private partHash?: Hash;
  private partBytes = 0;

  constructor(
    private readonly dir: string,
    private readonly name: string,
    private readonly max: number,
    private readonly pool?: BufferPool,
  ) {
    super({ highWaterMark: CHUNK });
  }

  private async openPart(): Promise<FileHandle> {
    const index = this.parts.length + 1;
    const file = path.join(this.dir, partName(this.name, index));
    this.handle = await open(file, 'wx');
    this.partBytes = 0;
    this.partHash = index === 1 ? undefined : createHash('sha256');
    this.parts.push({ name: partName(this.name, index), path: file, size: 0, sha256: '' });
    return this.handle;
  }

  private async closePart(): Promise<void> {
    const part = this.parts.at(-1);
    if (!this.handle || !part) return;
    await this.handle.close();
    this.handle = undefined;
    part.size = this.partBytes;
    part.sha256 = (this.partHash ?? this.whole.copy()).digest('hex');
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.put(chunk).then(() => {
      this.pool?.release(chunk);
      callback();
    }, callback);
  }

  /** The zip writer emits headers as many tiny buffers: small neighbours go to disk in one write. */
  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    const groups: Buffer[] = [];
    let small: Buffer[] = [];
    for (const { chunk } of chunks) {
      if (chunk.length >= 65536) {
        if (small.length > 0) groups.push(Buffer.concat(small));
        small = [];
        groups.push(chunk);
      } else {
        small.push(chunk);
      }
    }
    if (small.length > 0) groups.push(Buffer.concat(small));
    (async () => {
      for (const group of groups) await this.put(group);
    })().then(() => {
      for (const { chunk } of chunks) this.pool?.release(chunk);
      callback();
    }, callback);
  }

  private async put(chunk: Buffer): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      const handle = this.handle ?? (await this.openPart());
      const n = Math.min(this.max - this.partBytes, chunk.length - offset);
      const piece = chunk.subarray(offset, offset + n);
      let written = 0;
      while (written < piece.length) written += (await handle.write(piece, written)).bytesWritten;
      this.whole.update(piece);
      this.partHash?.update(piece);
      this.partBytes += n;
      this.total += n;
      offset += n;
      // Cut exactly at the limit: a zip of exactly `max` bytes stays one file.
      if (this.partBytes === this.max) await this.closePart();
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.closePart().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const handle = this.handle;
    this.handle = undefined;
    if (!handle) return callback(error);
    handle.close().then(() => callback(error), () => callback(error));
  }
}

function appendEntry(zip: InstanceType<typeof ZipArchiveOutputStream>, entry: Entry, source: Buffer | NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    zip.entry(entry, source as Buffer, (error) => (error ? reject(error) : resolve()));
  });
}

/**
 * Writes `entries`, in the order given, into `dir/<name>` (or its parts when over
 * `maxPartSize`). `dir` must be a fresh folder: the caller moves it into place once this
 * resolves and removes it when it rejects, so nothing half-written survives.
 */
export async function writeZip(options: { entries: ZipEntrySource[]; dir: string; name: string; level: number; maxPartSize: number }): Promise<ZipResult> {
  const { entries, dir, name, level, maxPartSize } = options;
  const zip = new ZipArchiveOutputStream({ zlib: { level: level === 0 ? 0 : level } });
  // Deflate turns the read buffers into new ones, so only stored entries can give theirs back.
  const pool = level === 0 ? new BufferPool(POOL_BUFFERS, CHUNK) : undefined;
  const out = new PartWriter(dir, name, maxPartSize, pool);
  const finished = new Promise<void>((resolve, reject) => {
    out.on('finish', () => resolve());
    out.on('error', reject);
    zip.on('error', reject);
  });
  zip.pipe(out);
  const sources: SourceDigest[] = [];
  let reading: Readable | undefined;
  try {
    const adding = (async () => {
      for (const e of entries) {
        const entry = zipEntry(e.name, e.size, level);
        if (e.path === undefined) {
          await appendEntry(zip, entry, Buffer.alloc(0));
          continue;
        }
        const digest = new Digest({ highWaterMark: CHUNK });
        const file: Readable = pool ? new PooledFileReader(e.path, pool) : createReadStream(e.path, { highWaterMark: CHUNK });
        reading = file;
        file.on('error', (error: Error) => digest.destroy(error));
        await appendEntry(zip, entry, file.pipe(digest));
        if (digest.bytes !== e.size) {
          throw new Error(`${e.path} changed while it was packaged (${e.size} bytes listed, ${digest.bytes} read).`);
        }
        sources.push({ name: e.name, size: e.size, sha256: digest.hash.digest('hex') });
      }
      zip.finish();
    })();
    // Either the entries fail, or the writing does (a full disk): whichever comes first.
    await Promise.all([adding, finished]);
  } catch (error) {
    reading?.destroy();
    zip.unpipe(out);
    zip.destroy();
    out.destroy();
    throw error;
  }

  let files = out.parts;
  if (files.length === 1 && files[0]) {
    const only = { ...files[0], name, path: path.join(dir, name) };
    await rename(files[0].path, only.path);
    files = [only];
  }
  return {
    name,
    size: out.total,
    sha256: out.whole.digest('hex'),
    files,
    sources,
    entries: entries.length,
    method: level === 0 ? 'store' : 'deflate',
  };
}

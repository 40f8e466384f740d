import { createReadStream, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';

/** The size of the two buffers an upload reads into (DiskBlob.writeTo). */
const WRITE_CHUNK = 1 << 20;

/** A byte range of a file on disk. */
interface Range {
  path: string;
  start: number;
  end: number;
}

/**
 * A Blob over files on disk, read only when the Hub client reads it: a zip published in parts
 * for the release is committed to the Hub whole, its parts joined in order while streaming, so
 * that a multi-GB file never sits in memory. The client slices it for the preupload sample and
 * multipart parts, and streams it for uploads.
 */
export class DiskBlob extends Blob {
  private constructor(private readonly ranges: readonly Range[]) {
    super();
  }

  /** The files joined in this order. */
  static of(paths: readonly string[]): DiskBlob {
    return new DiskBlob(paths.map((p) => ({ path: p, start: 0, end: statSync(p).size })));
  }

  override get size(): number {
    return this.ranges.reduce((sum, r) => sum + r.end - r.start, 0);
  }

  override slice(start = 0, end = this.size): DiskBlob {
    if (start < 0 || end < 0) throw new TypeError('DiskBlob.slice takes no negative offsets');
    const out: Range[] = [];
    let offset = 0;
    for (const r of this.ranges) {
      const length = r.end - r.start;
      const from = Math.max(start - offset, 0);
      const to = Math.min(end - offset, length);
      if (from < to) out.push({ path: r.path, start: r.start + from, end: r.start + to });
      offset += length;
    }
    return new DiskBlob(out);
  }

  override async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = new Uint8Array(this.size);
    let at = 0;
    for (const r of this.ranges) {
      const file = await open(r.path, 'r');
      try {
        await file.read(bytes, at, r.end - r.start, r.start);
      } finally {
        await file.close();
      }
      at += r.end - r.start;
    }
    return bytes.buffer;
  }

  override async text(): Promise<string> {
    return Buffer.from(await this.arrayBuffer()).toString('utf8');
  }

  /** The bytes as a Node stream. */
  nodeStream(): Readable {
    const ranges = this.ranges.filter((r) => r.end > r.start);
    async function* chunks(): AsyncGenerator<Buffer> {
      for (const r of ranges) {
        for await (const chunk of createReadStream(r.path, { start: r.start, end: r.end - 1 })) yield chunk as Buffer;
      }
    }
    return Readable.from(chunks(), { objectMode: false });
  }

  /**
   * Writes the bytes to `out` (an upload's request) and ends it, through two buffers used in turn,
   * each read into again only once `out` has handed it to the socket (its write callback). A
   * stream allocates a buffer per chunk, and V8 collects them only once tens of MiB of them have
   * piled up: an upload of GBs, four at a time, held 100 MiB of such garbage. Stops when `out` is
   * destroyed (an error, an abort).
   */
  async writeTo(out: Writable): Promise<void> {
    const buffers = [Buffer.allocUnsafe(WRITE_CHUNK), Buffer.allocUnsafe(WRITE_CHUNK)];
    const handed: Promise<void>[] = [Promise.resolve(), Promise.resolve()];
    let turn = 0;
    for (const r of this.ranges) {
      const file = await open(r.path, 'r');
      try {
        for (let at = r.start; at < r.end; turn = 1 - turn) {
          await handed[turn];
          if (out.destroyed) return;
          const buffer = buffers[turn] as Buffer;
          const { bytesRead } = await file.read(buffer, 0, Math.min(WRITE_CHUNK, r.end - at), at);
          if (bytesRead === 0) throw new Error(`${r.path} ended at byte ${at}, not ${r.end}: it changed while it was being uploaded`);
          // Called with an error too (the request destroyed): the loop then stops above.
          handed[turn] = new Promise<void>((resolve) => out.write(buffer.subarray(0, bytesRead), () => resolve()));
          at += bytesRead;
        }
      } finally {
        await file.close();
      }
    }
    await Promise.all(handed);
    if (!out.destroyed) out.end();
  }

  override stream(): ReturnType<Blob['stream']> {
    return Readable.toWeb(this.nodeStream()) as ReturnType<Blob['stream']>;
  }
}

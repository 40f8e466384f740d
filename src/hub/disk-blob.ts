import { createReadStream, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';

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

  /** The bytes as a Node stream, read in chunks of 1 MiB (what an upload pipes to its socket). */
  nodeStream(): Readable {
    const ranges = this.ranges.filter((r) => r.end > r.start);
    async function* chunks(): AsyncGenerator<Buffer> {
      for (const r of ranges) {
        for await (const chunk of createReadStream(r.path, { start: r.start, end: r.end - 1, highWaterMark: 1 << 20 })) yield chunk as Buffer;
      }
    }
    return Readable.from(chunks(), { objectMode: false, highWaterMark: 1 << 20 });
  }

  override stream(): ReturnType<Blob['stream']> {
    return Readable.toWeb(this.nodeStream()) as ReturnType<Blob['stream']>;
  }
}

// The part of compress-commons 6 (the zip writer under archiver and zip-stream) that
// src/package/zip.ts uses; the package ships no types.
declare module 'compress-commons' {
  import type { Readable, Transform } from 'node:stream';

  export class ZipArchiveEntry {
    constructor(name: string);
    getName(): string;
    setTime(date: Date, forceLocalTime?: boolean): void;
    setUnixMode(mode: number): void;
    /** 0: STORE, 8: DEFLATE. */
    setMethod(method: number): void;
    getMethod(): number;
    setSize(size: number): void;
    setExtra(extra: Buffer): void;
    getLocalFileDataExtra(): Buffer;
    isZip64(): boolean;
  }

  export class ZipArchiveOutputStream extends Transform {
    constructor(options?: { zlib?: { level?: number }; forceZip64?: boolean; forceLocalTime?: boolean });
    entry(entry: ZipArchiveEntry, source: Buffer | Readable, callback: (error?: Error | null) => void): this;
    finish(): void;
    getBytesWritten(): number;
  }

  const compressCommons: { ZipArchiveEntry: typeof ZipArchiveEntry; ZipArchiveOutputStream: typeof ZipArchiveOutputStream };
  export default compressCommons;
}

import type { FileHandle } from 'node:fs/promises';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { HttpClient, HttpClientResponse } from '@actions/http-client';

/**
 * File downloads' HTTP: a GET whose body goes straight into a file. Without a proxy the action
 * speaks HTTP/1.1 on its own keep-alive sockets, which read into large reused buffers that are
 * hashed where the bytes land and written from there (Node's HTTP client copies every received
 * chunk into a new buffer: for a multi-GB model that copy and its garbage cost more CPU than the
 * sha256 check). Through a proxy the toolkit's HTTP client is used: it knows the runner's proxy settings.
 */

/** The answer to a GET whose body goes to a file. */
export interface FileResponse {
  readonly status: number;
  /** A response header (name in lower case; several of one name joined by ", "). */
  header(name: string): string | undefined;
  /**
   * Streams the body into `file` from `position`, handing every byte to `onBytes` (before its
   * buffer is reused) and writing every byte so handed; resolves with the bytes written. A dropped
   * connection rejects with BodyDropped once the bytes before the drop are written.
   */
  saveTo(file: FileHandle, position: number, onBytes: (bytes: Buffer) => void, signal: AbortSignal): Promise<number>;
  /** Drops the body (a redirect's, an error's): read to its end when short, else the connection is closed. */
  discard(): void;
}

/** The connection ended before the whole body came; `written` bytes of it are in the file. */
export class BodyDropped extends Error {
  constructor(
    readonly written: number,
    message: string,
  ) {
    super(message);
    this.name = 'BodyDropped';
  }
}

/** Size of each read buffer; two per download, one filling while the other is written. */
const BATCH = 1024 * 1024;
/** A read buffer is written out once less than this is left in it (one socket read's worth). */
const MIN_READ = 64 * 1024;
const HEAD_LIMIT = 64 * 1024;
/** The short body of an answer not saved is read to its end, so that the connection serves the next request. */
const DISCARD_LIMIT = 64 * 1024;
const SOCKET_TIMEOUT_MS = 60_000;

/** Pure: the status and headers of a response head (the bytes before the empty line). */
export function parseHead(head: string): { status: number; headers: Map<string, string> } {
  const [statusLine = '', ...lines] = head.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(statusLine)?.[1];
  if (!status) throw new Error(`not an HTTP/1.1 response: ${JSON.stringify(statusLine.slice(0, 80))}`);
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`a malformed response header: ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const before = headers.get(name);
    headers.set(name, before === undefined ? value : `${before}, ${value}`);
  }
  return { status: Number(status), headers };
}

/** How a response's body ends: after a length, at the chunked coding's last chunk, or when the server closes. */
export type Framing = { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };

/** Pure: the length of the body of an answer to a GET (RFC 9112, section 6.3). */
export function framingOf(status: number, headers: Map<string, string>): Framing {
  if (status === 204 || status === 304 || status < 200) return { kind: 'length', length: 0 };
  const coding = headers.get('transfer-encoding');
  if (coding !== undefined) return coding.split(',').at(-1)?.trim().toLowerCase() === 'chunked' ? { kind: 'chunked' } : { kind: 'close' };
  const length = headers.get('content-length');
  if (length === undefined) return { kind: 'close' };
  if (!/^\d+$/.test(length)) throw new Error(`an invalid Content-Length ${JSON.stringify(length)}`);
  return { kind: 'length', length: Number(length) };
}

/**
 * The chunked transfer coding, decoded in place: the data among buffer[start, end) moves to
 * start, without the chunk sizes and line ends. Keeps its state from one read to the next.
 */
export class Dechunker {
  private state: 'size' | 'data' | 'data-end' | 'trailer' | 'done' = 'size';
  private line = '';
  private left = 0;

  /** The last chunk and the trailer have been read. */
  get done(): boolean {
    return this.state === 'done';
  }

  /** Decodes buffer[start, end); returns where the data, now at [start, returned), ends. Bytes after the body are an error. */
  decode(buffer: Buffer, start: number, end: number): number {
    let out = start;
    let at = start;
    while (at < end) {
      if (this.state === 'done') throw new Error('bytes after the end of a chunked body');
      if (this.state === 'data') {
        const n = Math.min(this.left, end - at);
        if (out !== at) buffer.copyWithin(out, at, at + n);
        out += n;
        at += n;
        this.left -= n;
        if (this.left === 0) this.state = 'data-end';
        continue;
      }
      const lf = buffer.indexOf(10, at);
      const stop = lf < 0 || lf >= end ? end : lf;
      this.line += buffer.toString('latin1', at, stop);
      if (this.line.length > 4096) throw new Error('a chunked body with an overlong line');
      at = stop;
      if (stop === end) break;
      at += 1;
      this.endOfLine(this.line.replace(/\r$/, ''));
      this.line = '';
    }
    return out;
  }

  private endOfLine(line: string): void {
    if (this.state === 'data-end') {
      if (line !== '') throw new Error('a chunked body without the line end after a chunk');
      this.state = 'size';
    } else if (this.state === 'size') {
      const size = /^([0-9a-fA-F]{1,12})[ \t]*(?:;.*)?$/.exec(line)?.[1];
      if (size === undefined) throw new Error(`a chunked body with a bad chunk size ${JSON.stringify(line.slice(0, 40))}`);
      this.left = parseInt(size, 16);
      this.state = this.left === 0 ? 'trailer' : 'data';
    } else if (line === '') {
      this.state = 'done';
    }
  }
}

/** What a connection's reads go to: bytes come in the buffer `next` gave for the read (or, before that, another one). */
interface Reader {
  next(): Buffer;
  data(bytes: Buffer): void;
  /** The connection closed: with the socket's error, or none when the server just closed it. */
  closed(error: Error | undefined): void;
}

/**
 * One keep-alive connection, one request at a time. Its socket reads (with `onread`, no buffer
 * allocated per read) into the buffer its current reader gives.
 */
class Connection {
  readonly socket: net.Socket;
  private readonly headBuffer = Buffer.allocUnsafe(16 * 1024);
  private reader: Reader | undefined;
  /** Bytes read between a response head and the reading of its body (TLS hands over what it already decrypted after a pause). */
  private held: Buffer[] | undefined;
  private problem: Error | undefined;
  closed = false;

  constructor(readonly key: string, origin: URL) {
    const port = Number(origin.port || (origin.protocol === 'https:' ? 443 : 80));
    // Node asks for the next read's buffer right after each read is handed over.
    const onread = { buffer: () => this.reader?.next() ?? this.headBuffer, callback: (n: number, buffer: Uint8Array) => this.received(n, buffer) };
    this.socket =
      origin.protocol === 'https:'
        ? tls.connect({ host: origin.hostname, port, servername: net.isIP(origin.hostname) ? undefined : origin.hostname, ALPNProtocols: ['http/1.1'], onread } as tls.ConnectionOptions)
        : net.connect({ host: origin.hostname, port, onread });
    this.socket.setTimeout(SOCKET_TIMEOUT_MS, () => this.socket.destroy(new Error(`no data for ${SOCKET_TIMEOUT_MS / 1000} s`)));
    this.socket.on('error', (error) => (this.problem ??= error));
    this.socket.on('end', () => this.socket.end());
    this.socket.on('close', () => {
      this.closed = true;
      const reader = this.reader;
      this.reader = undefined;
      reader?.closed(this.problem);
    });
  }

  private received(n: number, buffer: Uint8Array): boolean {
    const bytes = Buffer.from(buffer.buffer, buffer.byteOffset, n);
    if (this.reader) this.reader.data(bytes);
    else if (this.held) this.held.push(Buffer.from(bytes));
    else this.socket.destroy(new Error('the server sent bytes while no request was open'));
    return true;
  }

  /** After a response head: the socket waits, keeping what still comes, until the body is read or dropped. */
  hold(): void {
    this.read(undefined);
    this.held = [];
  }

  /** What came after the head while the body waited. */
  takeHeld(): Buffer {
    const held = Buffer.concat(this.held ?? []);
    this.held = undefined;
    return held;
  }

  read(reader: Reader | undefined): void {
    this.reader = reader;
    this.held = undefined;
    if (reader && this.closed) {
      this.reader = undefined;
      queueMicrotask(() => reader.closed(this.problem));
    } else if (reader) {
      this.socket.ref();
      this.socket.resume();
    } else {
      this.socket.pause();
      this.socket.unref();
    }
  }

  /** Sends a GET; resolves with the response head and the bytes of the body that came with it. */
  request(url: URL, headers: Record<string, string>): Promise<{ status: number; headers: Map<string, string>; early: Buffer }> {
    const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`, 'User-Agent: coreml-stable-diffusion-action', 'Accept-Encoding: identity'];
    for (const [name, value] of Object.entries(headers)) {
      if (/[\r\n]/.test(name + value)) throw new Error(`the request header ${name} has a line break`);
      lines.push(`${name}: ${value}`);
    }
    return new Promise((resolve, reject) => {
      let head = Buffer.alloc(0);
      this.read({
        next: () => this.headBuffer,
        data: (bytes) => {
          head = Buffer.concat([head, bytes]);
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) {
            if (head.length > HEAD_LIMIT) this.socket.destroy(new Error(`a response head over ${HEAD_LIMIT} bytes`));
            return;
          }
          this.hold();
          try {
            resolve({ ...parseHead(head.toString('latin1', 0, end)), early: head.subarray(end + 4) });
          } catch (error) {
            this.socket.destroy();
            reject(error as Error);
          }
        },
        closed: (error) => reject(error ?? new Error('the server closed the connection before answering')),
      });
      this.socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
  }
}

/** Keep-alive connections by origin, for downloads without a proxy. */
export class DirectHttp {
  private readonly idle = new Map<string, Connection[]>();

  /** One GET (no redirect followed). A reused connection that the server closed meanwhile: the request goes again on a new one. */
  async get(url: URL, headers: Record<string, string>): Promise<FileResponse> {
    const key = `${url.protocol}//${url.host}`;
    for (;;) {
      const reused = this.take(key);
      const connection = reused ?? new Connection(key, url);
      try {
        const head = await connection.request(url, headers);
        return new DirectResponse(head.status, head.headers, head.early, connection, (c) => this.release(c));
      } catch (error) {
        connection.socket.destroy();
        if (!reused) throw error;
      }
    }
  }

  dispose(): void {
    for (const connections of this.idle.values()) for (const c of connections) c.socket.destroy();
    this.idle.clear();
  }

  private take(key: string): Connection | undefined {
    const connections = this.idle.get(key) ?? [];
    let connection = connections.pop();
    while (connection?.closed) connection = connections.pop();
    return connection;
  }

  private release(connection: Connection): void {
    if (connection.closed) return;
    const connections = this.idle.get(connection.key) ?? [];
    connections.push(connection);
    this.idle.set(connection.key, connections);
  }
}

class DirectResponse implements FileResponse {
  private readonly framing: Framing;
  private used = false;

  constructor(
    readonly status: number,
    private readonly headers: Map<string, string>,
    private early: Buffer,
    private readonly connection: Connection,
    private readonly release: (connection: Connection) => void,
  ) {
    this.framing = framingOf(status, headers);
  }

  header(name: string): string | undefined {
    return this.headers.get(name);
  }

  /** The connection can serve another request once this body has been read to its end. */
  private get keepAlive(): boolean {
    return this.framing.kind !== 'close' && !/(^|,)\s*close\s*(,|$)/i.test(this.headers.get('connection') ?? '');
  }

  discard(): void {
    if (this.used) return;
    this.used = true;
    const { framing, connection } = this;
    this.early = Buffer.concat([this.early, connection.takeHeld()]);
    if (framing.kind === 'close' || (framing.kind === 'length' && framing.length > DISCARD_LIMIT)) {
      connection.socket.destroy();
      return;
    }
    // Read to the end (a few bytes: a redirect's, an error's) to keep the connection.
    const dechunker = framing.kind === 'chunked' ? new Dechunker() : undefined;
    let left = framing.kind === 'length' ? framing.length : DISCARD_LIMIT;
    const scratch = Buffer.allocUnsafe(16 * 1024);
    /** Takes bytes; true once the body's end is among them. */
    const take = (bytes: Buffer): boolean => {
      left -= bytes.length;
      if (!dechunker) return left <= 0;
      bytes.copy(scratch);
      dechunker.decode(scratch, 0, bytes.length);
      return dechunker.done;
    };
    const done = (reuse: boolean) => {
      connection.read(undefined);
      if (reuse && this.keepAlive) this.release(connection);
      else connection.socket.destroy();
    };
    const takeOrClose = (bytes: Buffer) => {
      try {
        if (take(bytes)) done(dechunker !== undefined || left === 0);
        else if (left <= 0) done(false);
        return left <= 0 || dechunker?.done === true;
      } catch {
        done(false);
        return true;
      }
    };
    if (left === 0) return done(true);
    if (this.early.length > 0 && takeOrClose(this.early)) return;
    connection.read({ next: () => scratch, data: (bytes) => void takeOrClose(bytes), closed: () => undefined });
  }

  saveTo(file: FileHandle, position: number, onBytes: (bytes: Buffer) => void, signal: AbortSignal): Promise<number> {
    if (this.used) throw new Error('the body was already read');
    this.used = true;
    const { connection, framing } = this;
    this.early = Buffer.concat([this.early, connection.takeHeld()]);
    const socket = connection.socket;
    const dechunker = framing.kind === 'chunked' ? new Dechunker() : undefined;
    let left = framing.kind === 'length' ? framing.length : Infinity;
    const buffers = [Buffer.allocUnsafeSlow(BATCH), Buffer.allocUnsafeSlow(BATCH)];
    /** Writes in flight, and the one (if any) of each buffer. */
    const writes = new Set<Promise<void>>();
    const busy: Array<Promise<void> | undefined> = [undefined, undefined];
    /** Where a read lands while the current buffer is still being written (TLS delivers what it decrypted even when paused). */
    const spare = Buffer.allocUnsafeSlow(MIN_READ);
    let current = 0;
    let fill = 0;
    let written = 0;
    let failed: Error | undefined;

    return new Promise<number>((resolve, reject) => {
      let settled = false;
      const finish = (error: Error | undefined, reuse: boolean) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        connection.read(undefined);
        if (!reuse) socket.destroy();
        void Promise.all(writes).then(() => {
          if (failed) return reject(failed);
          if (error) return reject(error);
          if (reuse) this.release(connection);
          resolve(written);
        });
      };
      const onAbort = () => finish(new Error('stopped'), false);
      signal.addEventListener('abort', onAbort, { once: true });

      /** Writes the filled part of the current buffer, and moves to the other (waiting for its write, socket paused). */
      const flush = () => {
        if (fill === 0) return;
        const index = current;
        const bytes = fill;
        const at = position + written;
        written += bytes;
        const write = file.write(buffers[index] as Buffer, 0, bytes, at).then(
          () => undefined,
          (error: unknown) => {
            failed ??= error as Error;
            socket.destroy();
          },
        );
        writes.add(write);
        busy[index] = write;
        void write.then(() => {
          writes.delete(write);
          if (busy[index] === write) busy[index] = undefined;
        });
        current = 1 - current;
        fill = 0;
        const wait = busy[current];
        if (wait) {
          socket.pause();
          void wait.then(() => {
            if (!settled) socket.resume();
          });
        }
      };
      /**
       * Bytes of the body: in place at buffers[current][fill...], or elsewhere (the bytes that came
       * with the head or while the body waited): then copied there, into a new buffer if that one
       * is still being written.
       */
      const take = (bytes: Buffer) => {
        let offset = 0;
        while (offset < bytes.length && !settled) {
          const inPlace = bytes.buffer === buffers[current]?.buffer && bytes.byteOffset === (buffers[current]?.byteOffset ?? 0) + fill;
          if (!inPlace && busy[current]) {
            buffers[current] = Buffer.allocUnsafeSlow(BATCH);
            busy[current] = undefined;
          }
          const buffer = buffers[current] as Buffer;
          const n = inPlace ? bytes.length : Math.min(bytes.length - offset, BATCH - fill);
          if (!inPlace) bytes.copy(buffer, fill, offset, offset + n);
          offset += n;
          let end = fill + n;
          if (dechunker) end = dechunker.decode(buffer, fill, end);
          else if (end - fill > left) throw new Error(`the server sent more than the Content-Length`);
          left -= end - fill;
          if (end > fill) onBytes(buffer.subarray(fill, end));
          fill = end;
          if (left === 0 || dechunker?.done) {
            flush();
            return finish(undefined, this.keepAlive);
          }
          if (BATCH - fill < MIN_READ) flush();
        }
      };
      const reader: Reader = {
        // Never the buffer of a write in flight: a read into it would change bytes already hashed.
        next: () => (busy[current] ? spare : (buffers[current] as Buffer).subarray(fill)),
        data: (bytes) => {
          try {
            take(bytes);
          } catch (error) {
            flush();
            finish(new BodyDropped(written, (error as Error).message), false);
          }
        },
        closed: (error) => {
          flush();
          // A body without a length ends when the server closes; any other close is a drop.
          const ended = framing.kind === 'close' && error === undefined;
          finish(ended ? undefined : new BodyDropped(written, error?.message ?? 'the server closed the connection'), false);
        },
      };
      try {
        if (signal.aborted) return finish(new Error('stopped'), false);
        if (left === 0) return finish(undefined, this.keepAlive);
        if (this.early.length > 0) take(this.early);
        if (!settled) connection.read(reader);
      } catch (error) {
        flush();
        finish(new BodyDropped(written, (error as Error).message), false);
      }
    });
  }
}

/** A download through the toolkit's HTTP client (when a proxy applies): its response as a FileResponse. */
export async function proxiedGet(http: HttpClient, url: URL, headers: Record<string, string>): Promise<FileResponse> {
  const response: HttpClientResponse = await http.get(url.href, headers);
  const message = response.message;
  return {
    status: message.statusCode ?? 0,
    header: (name) => {
      const value = message.headers[name];
      return Array.isArray(value) ? value.join(', ') : value;
    },
    discard: () => {
      message.resume();
    },
    saveTo: async (file, position, onBytes, signal) => {
      // Received chunks batched into writes of about BATCH bytes, one write in flight while more arrive.
      let batch: Buffer[] = [];
      let batched = 0;
      let written = 0;
      let writing: Promise<unknown> = Promise.resolve();
      const flush = async () => {
        await writing;
        if (batched === 0) return;
        writing = file.writev(batch, position + written);
        written += batched;
        batch = [];
        batched = 0;
      };
      let dropped: unknown;
      try {
        for await (const chunk of message as AsyncIterable<Buffer>) {
          if (signal.aborted) {
            message.destroy();
            throw new Error('stopped');
          }
          onBytes(chunk);
          batch.push(chunk);
          batched += chunk.length;
          if (batched >= BATCH) await flush();
        }
      } catch (error) {
        if (signal.aborted) throw error;
        dropped = error;
      }
      await flush();
      await writing;
      if (dropped !== undefined) throw new BodyDropped(written, dropped instanceof Error ? dropped.message : String(dropped));
      return written;
    },
  };
}

/** Node's codes for a certificate chain this machine does not trust (OpenSSL's verification failures). */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'CERT_SIGNATURE_FAILURE', 'CERT_CHAIN_TOO_LONG', 'INVALID_CA',
]);
const MISNAMED = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'HOSTNAME_MISMATCH']);
const OUT_OF_DATE = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

/** A host's TLS certificate was refused: asking again cannot help. */
export class CertificateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CertificateError';
  }
}

/**
 * Pure: what to say when the TLS certificate `url`'s host presented was refused (Node's error
 * carries only OpenSSL's words and code, not the host), or undefined for any other error.
 */
export function certificateProblem(error: unknown, url: URL): string | undefined {
  const code = error instanceof Error ? (error as NodeJS.ErrnoException).code : undefined;
  if (code === undefined) return undefined;
  const said = `${(error as Error).message} (${code})`;
  if (UNTRUSTED.has(code)) {
    return `the TLS certificate of ${url.host} is not trusted on this machine: ${said}. Behind a TLS-inspecting proxy or with a private CA, give the action that CA's certificate as a PEM file in the NODE_EXTRA_CA_CERTS environment variable (the converter's Python reads REQUESTS_CA_BUNDLE).`;
  }
  if (MISNAMED.has(code)) return `the TLS certificate ${url.host} presented is not for that host: ${said}.`;
  if (OUT_OF_DATE.has(code)) return `the TLS certificate of ${url.host} is outside its dates of validity: ${said}. Check the runner's clock.`;
  return undefined;
}

/** The error to throw for a request to `url` that failed with `error`: a CertificateError naming the host, or the error itself. */
export function withCertificateProblem(error: unknown, url: URL): unknown {
  const problem = certificateProblem(error, url);
  return problem ? new CertificateError(problem) : error;
}

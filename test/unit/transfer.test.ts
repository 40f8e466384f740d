import { describe, expect, it } from 'vitest';
import { Dechunker, framingOf, parseHead } from '../../src/hub/transfer.js';

describe('reading a response head', () => {
  it('gives the status and the headers, names in lower case, repeated ones joined', () => {
    const { status, headers } = parseHead('HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 5-9/10\r\nX-A: 1\r\nx-a: 2\r\nLocation:  http://cdn/x ');
    expect(status).toBe(206);
    expect(headers.get('content-range')).toBe('bytes 5-9/10');
    expect(headers.get('x-a')).toBe('1, 2');
    expect(headers.get('location')).toBe('http://cdn/x');
  });

  it('refuses what is not an HTTP/1.x answer or has a header without a name', () => {
    expect(() => parseHead('HTTP/2 200\r\n')).toThrow(/not an HTTP\/1.1 response/);
    expect(() => parseHead('SSH-2.0-OpenSSH')).toThrow(/not an HTTP\/1.1 response/);
    expect(() => parseHead('HTTP/1.1 200 OK\r\n: x')).toThrow(/malformed response header/);
  });
});

describe('where a body ends', () => {
  const h = (entries: Record<string, string>) => new Map(Object.entries(entries));
  it('after Content-Length, at the last chunk, or at the close; never for 204 and 304', () => {
    expect(framingOf(200, h({ 'content-length': '42' }))).toEqual({ kind: 'length', length: 42 });
    expect(framingOf(200, h({ 'transfer-encoding': 'gzip, chunked', 'content-length': '42' }))).toEqual({ kind: 'chunked' });
    expect(framingOf(200, h({ 'transfer-encoding': 'gzip' }))).toEqual({ kind: 'close' });
    expect(framingOf(200, h({}))).toEqual({ kind: 'close' });
    expect(framingOf(304, h({ 'content-length': '42' }))).toEqual({ kind: 'length', length: 0 });
    expect(framingOf(204, h({}))).toEqual({ kind: 'length', length: 0 });
  });

  it('refuses a Content-Length that is not a number', () => {
    expect(() => framingOf(200, h({ 'content-length': '4, 2' }))).toThrow(/invalid Content-Length/);
  });
});

describe('the chunked coding, decoded in place', () => {
  const body = Buffer.from('5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n');

  it('gives the data in place, whatever the reads are cut into', () => {
    for (const cut of [1, 2, 3, 5, 8, body.length]) {
      const buffer = Buffer.from(body);
      const d = new Dechunker();
      const parts: string[] = [];
      for (let at = 0; at < buffer.length; at += cut) {
        const end = d.decode(buffer, at, Math.min(at + cut, buffer.length));
        parts.push(buffer.toString('latin1', at, end));
      }
      expect(parts.join('')).toBe('hello, world');
      expect(d.done).toBe(true);
    }
  });

  it('is not done before the last chunk and its trailer', () => {
    const d = new Dechunker();
    const buffer = Buffer.from('5\r\nhello\r\n0\r\n');
    expect(buffer.toString('latin1', 0, d.decode(buffer, 0, buffer.length))).toBe('hello');
    expect(d.done).toBe(false);
  });

  it('refuses a bad chunk size, data without its line end, and bytes after the body', () => {
    expect(() => new Dechunker().decode(Buffer.from('zz\r\n'), 0, 4)).toThrow(/bad chunk size/);
    expect(() => new Dechunker().decode(Buffer.from('2\r\nabc\r\n'), 0, 8)).toThrow(/without the line end/);
    const extra = Buffer.from('0\r\n\r\nHTTP/1.1');
    expect(() => new Dechunker().decode(extra, 0, extra.length)).toThrow(/after the end/);
  });
});

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** The sha256 of a file's bytes, in hex, read in large pieces (an installer, a checkpoint of gigabytes). */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 * 1024 * 1024 }) as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('hex');
}

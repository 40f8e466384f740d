import { vi } from 'vitest';

/** Runs fn with stdout (where @actions/core writes) captured instead of printed: its value, and what it wrote. */
export async function captured<T>(fn: () => Promise<T>): Promise<{ value: T; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  }) as typeof process.stdout.write);
  try {
    return { value: await fn(), out };
  } finally {
    spy.mockRestore();
  }
}

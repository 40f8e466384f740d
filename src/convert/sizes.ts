import { readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';

/** Bytes under a path (files counted once; links not followed). */
export function directorySize(target: string): number {
  let total = 0;
  const stack = [target];
  while (stack.length > 0) {
    const current = stack.pop() as string;
    let stat;
    try {
      stat = statSync(current, { throwIfNoEntry: false });
    } catch {
      continue;
    }
    if (!stat) continue;
    if (stat.isDirectory()) {
      for (const name of readdirSync(current)) stack.push(path.join(current, name));
    } else {
      total += stat.size;
    }
  }
  return total;
}

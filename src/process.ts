import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';

export interface ProcessResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines of output (stdout and stderr together), for diagnoses. */
  tail: string[];
  durationMs: number;
}

export interface RunOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Called with every piece of output as it arrives (both streams). */
  onOutput?: (text: string) => void;
  /** Write the output through to this process's stdout, live (default true). */
  echo?: boolean;
  tailLines?: number;
}

/**
 * Runs argv without a shell, streaming its output. Never rejects for a failing process: the
 * exit code, signal and tail are the caller's to judge. A process that cannot start at all
 * (ENOENT) is reported as exit code 127 with the error in the tail.
 */
export function runProcess(argv: readonly string[], options: RunOptions): Promise<ProcessResult> {
  const [command, ...args] = argv;
  if (command === undefined) throw new Error('runProcess: empty argv');
  const started = Date.now();
  const tailLimit = options.tailLines ?? 200;
  const tail: string[] = [];
  let partial = '';
  const keep = (text: string) => {
    const pieces = (partial + text).split(/\r\n|\r|\n/);
    partial = pieces.pop() ?? '';
    for (const piece of pieces) if (piece.trim() !== '') tail.push(piece);
    if (tail.length > tailLimit) tail.splice(0, tail.length - tailLimit);
  };

  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const handle = (stream: NodeJS.ReadableStream) => {
      const decoder = new StringDecoder('utf8');
      stream.on('data', (data: Buffer) => {
        const text = decoder.write(data);
        if (options.echo !== false) process.stdout.write(text);
        keep(text);
        options.onOutput?.(text);
      });
    };
    handle(child.stdout);
    handle(child.stderr);
    let spawnError: Error | undefined;
    child.on('error', (error) => {
      spawnError = error;
    });
    child.on('close', (code, signal) => {
      if (partial.trim() !== '') tail.push(partial);
      if (spawnError) tail.push(`${command}: ${spawnError.message}`);
      resolve({
        exitCode: spawnError && code === null ? 127 : code,
        signal: spawnError ? null : signal,
        tail,
        durationMs: Date.now() - started,
      });
    });
  });
}

/** The environment for child processes: the runner's, without the action's own inputs. */
export function childEnvironment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    // INPUT_* hold the raw inputs, the token among them; no child needs them.
    if (!key.startsWith('INPUT_')) env[key] = value;
  }
  return { ...env, ...extra };
}

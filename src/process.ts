import { execFile, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

export interface ProcessResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines of output (stdout and stderr together), for diagnoses. */
  tail: string[];
  durationMs: number;
  /**
   * The largest resident memory of the process and its children, in bytes: the larger of the
   * action's own sampling (every sampleMs) and what the process printed as `<name>: peak RSS <n> bytes`.
   * undefined when neither gave a figure (a process that ended before the first sample, on a system without /proc or ps).
   */
  peakRssBytes?: number;
}

export interface RunOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Called with every piece of output as it arrives (both streams). */
  onOutput?: (text: string) => void;
  /** Write the output through to this process's stdout, live (default true). */
  echo?: boolean;
  tailLines?: number;
  /** How often the process tree's resident memory is sampled (default 1000 ms; 0 turns sampling off). */
  sampleMs?: number;
}

/** One process as a memory sample sees it. */
export interface ProcessSample {
  pid: number;
  ppid: number;
  rssBytes: number;
  /** The process's own peak so far (VmHWM; Linux only): it catches a peak between two samples. */
  hwmBytes?: number;
}

/** Pure: a /proc/<pid>/status text (Linux): Pid, PPid, VmRSS and VmHWM (kB); undefined without them (a kernel thread, a zombie). */
export function parseProcStatus(text: string): ProcessSample | undefined {
  const field = (name: string) => new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1];
  const pid = field('Pid');
  const ppid = field('PPid');
  const rss = field('VmRSS');
  const hwm = field('VmHWM');
  if (pid === undefined || ppid === undefined || rss === undefined) return undefined;
  return { pid: Number(pid), ppid: Number(ppid), rssBytes: Number(rss) * 1024, ...(hwm === undefined ? {} : { hwmBytes: Number(hwm) * 1024 }) };
}

/** Pure: `ps -A -o pid=,ppid=,rss=` output (macOS, BSD; rss in KiB), one process a line. */
export function parsePsTable(text: string): ProcessSample[] {
  return text
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), rssBytes: Number(m[3]) * 1024 }));
}

/** Pure: the processes of the tree under `root`, root included. */
export function treeOf(samples: readonly ProcessSample[], root: number): ProcessSample[] {
  const children = new Map<number, ProcessSample[]>();
  for (const s of samples) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s]);
  const tree: ProcessSample[] = [];
  const seen = new Set<number>();
  const stack = samples.filter((s) => s.pid === root);
  while (stack.length > 0) {
    const s = stack.pop() as ProcessSample;
    if (seen.has(s.pid)) continue;
    seen.add(s.pid);
    tree.push(s);
    stack.push(...(children.get(s.pid) ?? []));
  }
  return tree;
}

/** Pure: the resident bytes of `root` and every process below it. */
export function treeRss(samples: readonly ProcessSample[], root: number): number {
  return treeOf(samples, root).reduce((sum, s) => sum + s.rssBytes, 0);
}

/**
 * Pure: what one sample tells of the tree's peak: the sum of its resident memory now, or the
 * largest single process's own peak (VmHWM), whichever is larger. Both are at most the true peak.
 */
export function samplePeak(samples: readonly ProcessSample[], root: number): number {
  const tree = treeOf(samples, root);
  return Math.max(0, tree.reduce((sum, s) => sum + s.rssBytes, 0), ...tree.map((s) => s.hwmBytes ?? 0));
}

/** Pure: the largest `<name>: peak RSS <bytes> bytes` line the action's own Python entries print at exit. */
export function reportedPeak(lines: readonly string[]): number | undefined {
  let peak: number | undefined;
  for (const line of lines) {
    const m = /^[\w.-]+: peak RSS (\d+) bytes\s*$/.exec(line.trim());
    if (m) peak = Math.max(peak ?? 0, Number(m[1]));
  }
  return peak;
}

/** Every process's sample: /proc on Linux, ps elsewhere; [] when neither can be read. */
async function sampleProcesses(): Promise<ProcessSample[]> {
  if (process.platform === 'linux') {
    const samples: ProcessSample[] = [];
    let pids: string[];
    try {
      pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
    } catch {
      return [];
    }
    for (const pid of pids) {
      try {
        const sample = parseProcStatus(readFileSync(`/proc/${pid}/status`, 'utf8'));
        if (sample) samples.push(sample);
      } catch {
        // gone between the listing and the read
      }
    }
    return samples;
  }
  return new Promise((resolve) => {
    execFile('ps', ['-A', '-o', 'pid=,ppid=,rss='], { maxBuffer: 16 * 1024 * 1024 }, (error, stdout) => resolve(error ? [] : parsePsTable(stdout)));
  });
}

/** Samples a process tree's resident memory until stopped; keeps the largest sum. */
function startSampler(pid: number | undefined, everyMs: number): { stop(): Promise<number | undefined> } {
  if (pid === undefined || everyMs <= 0) return { stop: async () => undefined };
  let peak: number | undefined;
  let running: Promise<void> = Promise.resolve();
  const sample = (): void => {
    running = running.then(async () => {
      const rss = samplePeak(await sampleProcesses(), pid);
      if (rss > 0) peak = Math.max(peak ?? 0, rss);
    });
  };
  // Early samples too, so that a short process is seen once it has started (not only as it forks).
  const early = [50, 250].filter((ms) => ms < everyMs).map((ms) => setTimeout(sample, ms));
  const timer = setInterval(sample, everyMs);
  return {
    stop: async () => {
      early.forEach(clearTimeout);
      clearInterval(timer);
      await running;
      return peak;
    },
  };
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
  const peakLines: string[] = [];
  let partial = '';
  const keep = (text: string) => {
    const pieces = (partial + text).split(/\r\n|\r|\n/);
    partial = pieces.pop() ?? '';
    for (const piece of pieces) {
      if (piece.trim() !== '') tail.push(piece);
      if (piece.includes(': peak RSS ')) peakLines.push(piece);
    }
    if (tail.length > tailLimit) tail.splice(0, tail.length - tailLimit);
  };

  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const sampler = startSampler(child.pid, options.sampleMs ?? 1000);
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
      if (partial.includes(': peak RSS ')) peakLines.push(partial);
      if (spawnError) tail.push(`${command}: ${spawnError.message}`);
      const durationMs = Date.now() - started;
      void sampler.stop().then((sampled) => {
        const reported = reportedPeak(peakLines);
        const peaks = [sampled, reported].filter((p): p is number => p !== undefined);
        resolve({
          exitCode: spawnError && code === null ? 127 : code,
          signal: spawnError ? null : signal,
          tail,
          durationMs,
          peakRssBytes: peaks.length > 0 ? Math.max(...peaks) : undefined,
        });
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

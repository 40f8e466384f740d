import { execFile, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { CommandPause } from './log.js';

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

  // The echo is the child's text: no line of it may be read as a workflow command (log.ts).
  const pause = new CommandPause();
  let lastEcho = '\n';
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const sampler = startSampler(child.pid, options.sampleMs ?? 1000);
    const handle = (stream: NodeJS.ReadableStream) => {
      const decoder = new StringDecoder('utf8');
      stream.on('data', (data: Buffer) => {
        const text = decoder.write(data);
        if (options.echo !== false && text !== '') {
          pause.start();
          process.stdout.write(text);
          lastEcho = text;
        }
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
      pause.stop(lastEcho.endsWith('\n'));
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

/**
 * What a child process may see of the runner's environment, one list: names, and prefixes ending
 * in `_` or `*`. Everything else is left out: the runner's own credentials (ACTIONS_RUNTIME_TOKEN,
 * ACTIONS_RESULTS_URL, ACTIONS_CACHE_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN/URL: with them a process
 * could write the caches later runs restore), GITHUB_TOKEN, the GITHUB_* file commands
 * (GITHUB_ENV, GITHUB_PATH, GITHUB_OUTPUT: a process could set the next steps' environment), the
 * raw inputs (INPUT_*), and HF_TOKEN unless the process reads the Hub (`hubToken`).
 */
export const CHILD_ENV_ALLOWED: readonly string[] = [
  // The system: where programs are, who and where the user is, text, time zone, terminal.
  'PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'TMPDIR', 'TMP', 'TEMP', 'LANG', 'LANGUAGE', 'LC_*', 'TZ', 'TERM',
  'LD_LIBRARY_PATH', 'DYLD_FALLBACK_LIBRARY_PATH', 'DEVELOPER_DIR', 'SDKROOT', 'MACOSX_DEPLOYMENT_TARGET',
  // The network: proxies and the CA bundles of Python (ssl, requests, pip, curl).
  'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'all_proxy',
  'SSL_CERT_FILE', 'SSL_CERT_DIR', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'NODE_EXTRA_CA_CERTS',
  // The runner's folders (not its credentials).
  'RUNNER_TEMP', 'RUNNER_TOOL_CACHE', 'RUNNER_OS', 'RUNNER_ARCH', 'CI',
  // Python, conda and pip; building a wheel from source.
  'PYTHON*', 'CONDA*', 'MAMBA*', 'PIP_*', 'VIRTUAL_ENV', 'CC', 'CXX', 'CFLAGS', 'CXXFLAGS', 'CPPFLAGS', 'LDFLAGS', 'ARCHFLAGS', 'SOURCE_DATE_EPOCH',
  // The Hub's and the libraries' settings (not the token: see hubToken).
  'HF_ENDPOINT', 'HF_HOME', 'HF_HUB_*', 'HUGGINGFACE_HUB_CACHE', 'HF_DATASETS_OFFLINE', 'TRANSFORMERS_*', 'DIFFUSERS_*', 'XDG_CACHE_HOME', 'TORCH_HOME',
  'OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'KMP_*', 'PYTORCH_*', 'TOKENIZERS_PARALLELISM', 'COREMLTOOLS_*',
  // The Python helpers' loaders and hooks (python/helper_common.py, python/parity.py) and the test stand-in's knobs (test/standin/README.md).
  'PREPARE_FP16_LOADER', 'SINGLE_FILE_LOADER', 'PARITY_REFERENCE', 'PARITY_COREML', 'LEAN_CONVERT_LOADER', 'STANDIN_*',
];

/** The Hub tokens huggingface_hub reads: only for a process that reads the Hub. */
export const HUB_TOKEN_NAMES = ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN'] as const;

/** Pure: whether a variable is on the list. */
export function childMayInherit(name: string): boolean {
  return CHILD_ENV_ALLOWED.some((entry) => (entry.endsWith('*') ? name.startsWith(entry.slice(0, -1)) : name === entry));
}

/** Pure: the allow-listed part of `from`, then `extra` (the action's own settings for the child). */
export function allowedEnvironment(from: Readonly<Record<string, string | undefined>>, extra: Record<string, string> = {}, hubToken?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(from)) if (value !== undefined && childMayInherit(key)) env[key] = value;
  for (const [key, value] of Object.entries(extra)) if (!(HUB_TOKEN_NAMES as readonly string[]).includes(key)) env[key] = value;
  if (hubToken) env.HF_TOKEN = hubToken;
  return env;
}

/**
 * The environment for a child process: the allow-listed part of the runner's, plus `extra`.
 * `hubToken`: the Hub token, for a process that reads the Hub (the converter, the fp16 copy); any
 * other process gets no HF_TOKEN, whatever the runner's environment holds.
 */
export function childEnvironment(extra: Record<string, string> = {}, hubToken?: string): NodeJS.ProcessEnv {
  return allowedEnvironment(process.env, extra, hubToken);
}

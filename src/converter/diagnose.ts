import { APPLE_SILICON_ONLY, APPLE_SILICON_RUNNERS, SUPPORTED_PYTHON } from './install.js';
import { DIFFUSIONKIT_MIN_PSNR } from './diffusionkit.js';
import { DIFFUSIONKIT_PARITY_FAILED } from './log.js';

/**
 * Turns a failed converter process into a diagnosis a user can act on. Pure: it reads the exit
 * status and the last lines the process printed.
 */
export interface ProcessEnd {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines of output, oldest first. */
  tail: string[];
}

export interface DiskFacts {
  freeBytes: number;
  outputBytes: number;
}

export interface Diagnosis {
  /** One line: what went wrong. */
  title: string;
  /** What to try. */
  hints: string[];
}


const GiB = 1024 ** 3;
const gib = (bytes: number) => `${(bytes / GiB).toFixed(1)} GiB`;

interface Matcher {
  applies(end: ProcessEnd, text: string): boolean;
  diagnose(end: ProcessEnd, disk?: DiskFacts): Diagnosis;
}

const OUT_OF_MEMORY_HINTS = [
  'Keep `process-per-component: true` so that each part is converted in a process of its own (Apple advises this under 8 GB; the standard arm64 runner has 7 GB).',
  'Use a larger runner (macos-15-xlarge or macos-15-large) for SDXL.',
  'Set `check-output-correctness: false` to save the memory the parity check takes, or use SPLIT_EINSUM instead of SPLIT_EINSUM_V2 for SDXL.',
  'Quantize (`quantize-nbits: 6`) to shrink the models that the later phases load.',
];

/** In order: the first that applies wins. */
const MATCHERS: readonly Matcher[] = [
  {
    applies: (end, text) =>
      end.signal === 'SIGKILL' || end.exitCode === 137 || /\bKilled\b/.test(text) ||
      end.signal === 'SIGBUS' || end.exitCode === 138 || /bus error/i.test(text),
    diagnose: (end) => ({
      title: `The converter ran out of memory (${end.signal ? `killed by ${end.signal}` : `exit code ${end.exitCode}`}).`,
      hints: OUT_OF_MEMORY_HINTS,
    }),
  },
  {
    applies: (_end, text) => /No space left on device|\[Errno 28\]|ENOSPC/.test(text),
    diagnose: (_end, disk) => ({
      title: `The disk is full${disk ? `: ${gib(disk.freeBytes)} free, the output folder holds ${gib(disk.outputBytes)}` : ''}.`,
      hints: [
        'An SD 1.5 conversion needs about 15 GB free, SDXL about 30 GB (the Hub cache, the packages and the compiled Resources).',
        'Free space before this step, e.g. delete unused Xcode versions and simulator runtimes (sudo rm -rf /Library/Developer/CoreSimulator/Profiles/Runtimes, xcrun simctl delete all).',
      ],
    }),
  },
  {
    // xcrun's own line, or (the action's compile step, src/converter/compile.ts) no xcrun at all:
    // runProcess reports a command that cannot start as `xcrun: spawn xcrun ENOENT`.
    applies: (_end, text) => /unable to find utility "coremlcompiler"|\bspawn xcrun ENOENT\b/.test(text),
    diagnose: () => ({
      title: "Xcode's coremlcompiler was not found, so the Resources could not be compiled.",
      hints: [
        'Select an Xcode before this step: `sudo xcode-select -s /Applications/Xcode.app` (the Command Line Tools alone have no coremlcompiler).',
      ],
    }),
  },
  {
    applies: (_end, text) => /\(variant=fp16\)|`variant=fp16`, but no such modeling files are available/.test(text),
    diagnose: () => ({
      title: 'The checkpoint has no fp16 safetensors files, and the converter loads variant="fp16" only.',
      hints: [
        'Use a checkpoint that ships fp16 safetensors (files named *.fp16.safetensors), or save an fp16 safetensors copy of the pipeline with diffusers and convert that folder.',
      ],
    }),
  },
  {
    applies: (_end, text) => /LocalTokenNotFoundError|Token is required \(`token=True`\)/.test(text),
    diagnose: () => ({
      title: 'The converter found no Hugging Face token.',
      hints: ['Pass one with `hf-token: ${{ secrets.HF_TOKEN }}` (a read token is enough); the pinned converter loads public models without one, so something asked for a token explicitly.'],
    }),
  },
  {
    applies: (_end, text) => /GatedRepoError|Cannot access gated repo|401 Client Error/.test(text),
    diagnose: () => ({
      title: 'The Hub refused the token for this model (a gated or private repository).',
      hints: ["Accept the model's license on its Hub page with the token's account, and check that the token has read access."],
    }),
  },
  {
    applies: (_end, text) => /RepositoryNotFoundError|404 Client Error|is not a valid model identifier/.test(text),
    diagnose: () => ({
      title: 'The Hub has no such model (or the token may not see it).',
      hints: ['Check `model-version` (and refiner, VAE and ControlNet ids) for typos.'],
    }),
  },
  {
    applies: (_end, text) => /dB is too low!/.test(text),
    diagnose: () => ({
      title: "The converter's own parity check failed (PSNR under 35 dB).",
      hints: [
        'Try another attention implementation or compute unit; ORIGINAL is the most robust, especially for non-square latents.',
      ],
    }),
  },
  {
    applies: (_end, text) => DIFFUSIONKIT_PARITY_FAILED.test(text),
    diagnose: (end) => {
      const figure = DIFFUSIONKIT_PARITY_FAILED.exec(end.tail.join('\n'))?.[1];
      return {
        title: `DiffusionKit's parity check failed (PSNR ${figure} dB, not over ${DIFFUSIONKIT_MIN_PSNR} dB), so it saved no package and the converter failed opening it.`,
        hints: [
          `DiffusionKit converts SD3's MMDiT and VAE decoder with settings of its own (float32, CPU_AND_GPU), whatever compute-unit says; try another latent size (latent-h, latent-w) or report it to DiffusionKit.`,
        ],
      };
    },
  },
  {
    applies: (_end, text) => /Error computing NN outputs/.test(text),
    diagnose: () => ({
      title: 'Core ML failed to run the converted model during the parity check.',
      hints: ['Try `compute-unit: CPU_ONLY` or `CPU_AND_GPU` for the check, or `check-output-correctness: false`.'],
    }),
  },
  {
    applies: (_end, text) => /No module named '(mlx|diffusionkit)'/.test(text),
    diagnose: () => ({
      title: "The converter's diffusionkit dependency needs mlx, which ships Apple-silicon wheels only.",
      hints: [`Run on ${APPLE_SILICON_RUNNERS}.`],
    }),
  },
];

/** Where pip ran, for saying why it found no distribution. */
export interface PipContext {
  pythonVersion: string;
  os: string;
  arch: string;
}

/**
 * pip's `No matching distribution found for <requirement>` (a package with no release that
 * installs on this Python and platform, or none that the pins allow), diagnosed by the package.
 */
export function diagnosePipInstall(tail: string[], context: PipContext): Diagnosis | undefined {
  const text = tail.join('\n');
  const requirement = /No matching distribution found for ([A-Za-z0-9][\w.-]*)/.exec(text)?.[1];
  if (!requirement) return undefined;
  // PEP 503 normalization, as pip compares names.
  const name = requirement.toLowerCase().replace(/[-_.]+/g, '-');
  const offered = new RegExp(String.raw`requirement ${requirement.replace(/[.]/g, '\\.')}\S* \(from versions: ([^)]*)\)`).exec(text)?.[1]?.trim();
  const where = `Python ${context.pythonVersion} on ${context.os} ${context.arch}`;
  const versions = offered === undefined ? '' : offered === 'none' ? ' (the index offers no version of it here)' : ` (the index offers ${offered})`;
  const title = `pip found no distribution of ${name} for ${where}${versions}`;
  const appleOnly = APPLE_SILICON_ONLY[name];
  if (appleOnly && context.os === 'macOS' && context.arch.toUpperCase() !== 'ARM64') {
    return { title: `${title}: ${appleOnly}.`, hints: [`Use ${APPLE_SILICON_RUNNERS}.`] };
  }
  if (context.os === 'Linux') {
    // The Linux locks are resolved for manylinux_2_35 (mlx 0.29.3 has no Linux wheel for an older glibc).
    return {
      title: `${title}.`,
      hints: [
        'The Linux locks take wheels for x86_64 with glibc 2.35 or newer (mlx 0.29.3 sets that floor): use `runs-on: ubuntu-latest` (ubuntu-22.04 or 24.04); an older self-hosted Linux cannot install them.',
        'Check `python-version` (3.9 to 3.11) and `pip-constraints`.',
      ],
    };
  }
  const [min, max] = [SUPPORTED_PYTHON.min.join('.'), SUPPORTED_PYTHON.max.join('.')];
  return {
    title: `${title}.`,
    hints: [
      `Check \`python-version\`: the pinned converter needs Python ${min} to ${max} (numpy<1.24 has no wheels for 3.12 and newer).`,
      `Check that \`pip-constraints\` (or the lock shipped for this Python) pins a version of ${name} that has wheels for ${where}.`,
    ],
  };
}

/** The last Python exception line, e.g. `ValueError: 20.0 dB is too low!`. */
export function lastErrorLine(tail: string[]): string | undefined {
  return [...tail].reverse().find((line) => /^[\w.]*(Error|Exception|Exit)\b.*:/.test(line.trim()))?.trim();
}

/** The diagnosis of a failure the action recognises (out of memory, disk full, no coremlcompiler, ...), undefined for any other. */
export function knownDiagnosis(end: ProcessEnd, disk?: DiskFacts): Diagnosis | undefined {
  const text = end.tail.join('\n');
  return MATCHERS.find((m) => m.applies(end, text))?.diagnose(end, disk);
}

export function diagnose(end: ProcessEnd, disk?: DiskFacts): Diagnosis {
  const known = knownDiagnosis(end, disk);
  if (known) return known;
  const status = end.signal ? `was killed by ${end.signal}` : `exited with code ${end.exitCode}`;
  const error = lastErrorLine(end.tail);
  return {
    title: `The converter ${status}${error ? `: ${error}` : '.'}`,
    hints: ['The log group of this step above has the full output.'],
  };
}

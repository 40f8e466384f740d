// diagnose: a failed converter process becomes a diagnosis a user can act on (the list).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { diagnose, diagnosePipInstall, lastErrorLine, type ProcessEnd } from '../../src/converter/diagnose.js';

const GiB = 1024 ** 3;

const TRACEBACK = [
  'Traceback (most recent call last):',
  '  File "<frozen runpy>", line 198, in _run_module_as_main',
  '  File "/env/lib/python3.11/site-packages/python_coreml_stable_diffusion/torch2coreml.py", line 1780, in <module>',
  '    main(args)',
];

function end(fields: Partial<ProcessEnd>): ProcessEnd {
  return { exitCode: 1, signal: null, tail: [], ...fields };
}

const text = (d: { title: string; hints: string[] }) => [d.title, ...d.hints].join('\n');

describe('diagnose: out of memory', () => {
  const cases: Array<[string, ProcessEnd]> = [
    ['SIGKILL', end({ exitCode: null, signal: 'SIGKILL', tail: ['INFO:__main__:Converting unet'] })],
    ['exit 137', end({ exitCode: 137, tail: ['Killed: 9'] })],
    ['exit 137 with nothing printed', end({ exitCode: 137 })],
    ['"Killed" printed by a wrapper', end({ exitCode: 1, tail: ['/bin/sh: line 1: 4242 Killed python -m ...'] })],
  ];
  for (const [title, e] of cases) {
    it(`${title} -> out of memory, with process-per-component, a larger runner and quantization as hints`, () => {
      const d = diagnose(e);
      expect(d.title).toMatch(/out of memory/i);
      expect(text(d)).toMatch(/process-per-component/);
      expect(text(d)).toMatch(/larger runner/i);
      expect(text(d)).toMatch(/quantiz/i);
    });
  }

  it('names the signal or the exit code it saw', () => {
    expect(diagnose(end({ exitCode: null, signal: 'SIGKILL' })).title).toContain('SIGKILL');
    expect(diagnose(end({ exitCode: 137 })).title).toContain('137');
  });
});

describe('diagnose: disk full', () => {
  const tail = [...TRACEBACK, 'OSError: [Errno 28] No space left on device'];

  it('ENOSPC -> disk full, with the free space and the output size', () => {
    const d = diagnose(end({ tail }), { freeBytes: 0.5 * GiB, outputBytes: 12.25 * GiB });
    expect(d.title).toMatch(/disk is full/i);
    expect(d.title).toContain('0.5 GiB');
    expect(d.title).toMatch(/12\.[23] GiB/);
    expect(d.hints.join('\n')).toMatch(/GB/);
  });

  it('the bare ENOSPC code is recognised too, without sizes when none are known', () => {
    const d = diagnose(end({ tail: ["Error: ENOSPC: no space left on device, write"] }));
    expect(d.title).toMatch(/disk is full/i);
    expect(d.title).not.toMatch(/GiB/);
  });
});

describe('diagnose: converter environment', () => {
  it('coremlcompiler missing -> select Xcode with xcode-select', () => {
    const d = diagnose(
      end({
        tail: [
          'INFO:__main__:Compiling /o/Stable_Diffusion_version_x_unet.mlpackage',
          'xcrun: error: unable to find utility "coremlcompiler", not a developer tool or in PATH',
          ...TRACEBACK,
          "FileNotFoundError: [Errno 2] No such file or directory: '/o/Resources/Stable_Diffusion_version_x_unet.mlmodelc'",
        ],
      }),
    );
    expect(d.title).toMatch(/coremlcompiler/);
    expect(d.hints.join('\n')).toMatch(/xcode-select/);
  });

  const noFp16 = end({
    tail: [
      ...TRACEBACK,
      "OSError: Could not find the necessary `safetensors` weights in {'unet/diffusion_pytorch_model.safetensors', 'vae/diffusion_pytorch_model.safetensors'} (variant=fp16)",
    ],
  });

  it('a checkpoint without fp16 safetensors (diffusers 0.30: "... (variant=fp16)") -> says so, not just quoting the error', () => {
    const d = diagnose(noFp16);
    expect(d.title).toMatch(/fp16/);
    expect(d.title).not.toContain('Could not find the necessary');
    expect(d.hints.join('\n')).toMatch(/fp16/);
  });

  // The alternative pattern `no such modeling files are available.*fp16` wants fp16 AFTER the
  // phrase, but diffusers prints the variant before it, so this wording never matches and falls
  // through to the generic quote of the exception.
  it('a checkpoint without fp16 files (diffusers: "`variant=fp16`, but no such modeling files") -> the fp16 diagnosis', () => {
    const d = diagnose(
      end({ tail: [...TRACEBACK, 'ValueError: You are trying to load the model files of the `variant=fp16`, but no such modeling files are available.'] }),
    );
    expect(d).toEqual(diagnose(noFp16));
  });

  it('no token -> says how to pass one', () => {
    const d = diagnose(
      end({
        tail: [
          ...TRACEBACK,
          'huggingface_hub.errors.LocalTokenNotFoundError: Token is required (`token=True`), but no token found. You need to provide a token or be logged in to Hugging Face with `huggingface-cli login` or `huggingface_hub.login`. See https://huggingface.co/settings/tokens.',
        ],
      }),
    );
    expect(d.title).toMatch(/token/i);
    expect(d.hints.join('\n')).toMatch(/hf-token/);
  });

  it('the converter raising too-low -> its own parity check failed', () => {
    const d = diagnose(end({ tail: [...TRACEBACK, 'ValueError: 20.1 dB is too low!'] }));
    expect(d.title).toMatch(/parity|PSNR/);
  });
});

describe('diagnose: fallback', () => {
  it('quotes the last exception line of an unknown failure', () => {
    const d = diagnose(
      end({
        exitCode: 1,
        tail: [...TRACEBACK, 'KeyError: "first"', 'During handling of the above exception, another exception occurred:', ...TRACEBACK, 'RuntimeError: Something odd happened: 42'],
      }),
    );
    expect(d.title).toBe('The converter exited with code 1: RuntimeError: Something odd happened: 42');
    expect(d.hints.length).toBeGreaterThan(0);
  });

  it('says the exit code when there is no exception line', () => {
    const d = diagnose(end({ exitCode: 3, tail: ['INFO:__main__:Converting unet'] }));
    expect(d.title).toBe('The converter exited with code 3.');
  });

  it('lastErrorLine finds dotted exception names and ignores indented source lines', () => {
    expect(lastErrorLine(['huggingface_hub.errors.GatedRepoError: 401 Client Error.', '    raise ValueError("x")'])).toBe(
      'huggingface_hub.errors.GatedRepoError: 401 Client Error.',
    );
    expect(lastErrorLine(['INFO:__main__:Converting unet'])).toBeUndefined();
  });

  it("lastErrorLine finds a bare Exception, as coremltools' predict raises it off macOS (test/fixtures/real-converter/sd-text-encoder-check.stderr)", () => {
    const tail = readFileSync(new URL('../fixtures/real-converter/sd-text-encoder-check.stderr', import.meta.url), 'utf8').split(/\r?\n|\r/);
    expect(lastErrorLine(tail)).toBe('Exception: Model prediction is only supported on macOS version 10.13 or later.');
  });
});

// pip's own words, from `pip download --only-binary=:all: --platform macosx_13_0_x86_64 --python-version 3.11`.
const pipTail = (requirement: string, versions: string) => [
  'Collecting diffusionkit==0.4.0 (from -r /tmp/lock.txt (line 120))',
  `ERROR: Could not find a version that satisfies the requirement ${requirement} (from versions: ${versions})`,
  `ERROR: No matching distribution found for ${requirement}`,
];
const INTEL = { pythonVersion: '3.11', os: 'macOS', arch: 'X64' };

describe('diagnosePipInstall: No matching distribution found, by package', () => {
  it('torch on Intel macOS: no x86_64 wheels after 2.2, names the versions pip saw and the Apple-silicon runners', () => {
    const d = diagnosePipInstall(pipTail('torch==2.5.0', '2.0.0, 2.0.1, 2.1.0, 2.1.1, 2.1.2, 2.2.0, 2.2.1, 2.2.2'), INTEL)!;
    expect(d.title).toMatch(/^pip found no distribution of torch for Python 3\.11 on macOS X64 \(the index offers 2\.0\.0, .*2\.2\.2\): PyTorch publishes no macOS x86_64 wheels after 2\.2/);
    expect(text(d)).toMatch(/macos-latest/);
    expect(text(d)).toMatch(/not macos-15-intel/);
  });

  it('mlx on Intel macOS: Apple-silicon wheels only', () => {
    const d = diagnosePipInstall(pipTail('mlx==0.29.3', 'none'), INTEL)!;
    expect(d.title).toMatch(/no distribution of mlx .*offers no version.*Apple silicon only/);
  });

  it('another package (or torch on arm64): the Python version and the pins to check', () => {
    const d = diagnosePipInstall(pipTail('Some_Package.Name==1.0', 'none'), { pythonVersion: '3.12', os: 'macOS', arch: 'ARM64' })!;
    expect(d.title).toMatch(/^pip found no distribution of some-package-name for Python 3\.12 on macOS ARM64/);
    expect(text(d)).toMatch(/python-version.*3\.9 to 3\.11/);
    expect(text(d)).toMatch(/pip-constraints/);
    expect(diagnosePipInstall(pipTail('torch==2.5.0', 'none'), { ...INTEL, arch: 'ARM64' })!.title).not.toMatch(/x86_64/);
  });

  it('on Linux (the converting half of a split): glibc 2.35 and ubuntu-latest, never "Apple silicon only"', () => {
    const d = diagnosePipInstall(pipTail('mlx==0.29.3', 'none'), { pythonVersion: '3.11', os: 'Linux', arch: 'X64' })!;
    expect(d.title).toMatch(/^pip found no distribution of mlx for Python 3\.11 on Linux X64/);
    expect(d.title).not.toMatch(/Apple silicon/);
    expect(text(d)).toMatch(/glibc 2\.35 or newer .*ubuntu-latest/);
  });

  it('says nothing about other pip failures', () => {
    expect(diagnosePipInstall(['ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE.'], INTEL)).toBeUndefined();
  });
});

describe("diagnose: DiffusionKit's parity check failed (SD3)", () => {
  it('says the check failed with its figure, not only that the package it never saved is missing', () => {
    const d = diagnose(
      end({
        tail: [
          'AssertionError: 20.123456789 not greater than 35',
          'FAILED (failures=1)',
          ...TRACEBACK,
          "FileNotFoundError: [Errno 2] No such file or directory: '/w/out/MultiModalDiffusionTransformer.mlpackage'",
        ],
      }),
    );
    expect(d.title).toBe("DiffusionKit's parity check failed (PSNR 20.123456789 dB, not over 35 dB), so it saved no package and the converter failed opening it.");
    expect(text(d)).toMatch(/latent-h/);
  });
});

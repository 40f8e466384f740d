"""The end-to-end image check of a Core AI bundle: one image made with the bundle's models on
coreai-core's runtime, the way Apple's Swift pipeline makes it, and one made by diffusers'
StableDiffusionPipeline from the model folder the bundle was exported from, with the same prompt,
initial latents, scheduler, steps and guidance; both saved as PNG and their PSNR written as JSON.

    python coreai_image.py --bundle BUNDLE_DIR [--assets DIR] --model DIFFUSERS_FOLDER --prompt TEXT
        --seed N --steps N [--guidance 7.5] [--negative-prompt TEXT] [--height H --width W]
        [--scheduler dpmpp|pndm] [--tokenizer runtime|clip] --out-dir DIR --json PATH
        [--min-psnr X]

Writes DIR/coreai.png and DIR/diffusers.png (uint8 RGB) and PATH:
    {"psnr", "mse", "prompt", "negative_prompt", "seed", "steps", "guidance", "scheduler",
     "diffusers_scheduler", "scheduler_config", "timesteps", "diffusers_timesteps_given", "tokenizer",
     "token_ids_match",
     "height", "width", "coreai_seconds", "diffusers_seconds", "peak_rss_bytes",
     "images": {"coreai": "coreai.png", "diffusers": "diffusers.png"}, "min_psnr", "passed"}
each file through a `.partial` file renamed into place. PSNR is of the two uint8 RGB images with
peak 255 (100.0 when they are identical, the cap). passed: psnr >= --min-psnr (true without it).
Exit 0 when written (also below --min-psnr: the caller gates; one line says so), 2 on bad
arguments or a bundle that lacks a model the Swift runtime needs (text_encoder, unet, vae_decoder)
or its metadata.json or tokenizer, 1 on any other failure (nothing half-written left).

--assets DIR: the .aimodel folders are read from DIR instead of the bundle (the metadata.json
and the tokenizer still from the bundle), under the names the bundle's metadata.json gives: the
action passes the float32 twins of the bundle's models there on Linux (check-precision, see
coreai_export.py), because coreai-core's Linux runtime computes float16 through software
conversions (a full-size SD 1.5 unet call: not ended after 31 minutes in float16, 4.3 minutes in
float32; the text encoder 560 s against 1.4 s).

Memory: the Core AI half runs first, one model loaded at a time (the text encoder, then the unet
for the loop, then the VAE decoder), its image saved; then the diffusers pipeline is loaded in
float32 on the CPU (no safety checker; its fp16 weights upcast when the folder has only those) for
its half. seconds: each half's wall time from its first model load to its image in memory (module
imports excluded). SIGTERM: exit 1 at the next return from the Core AI runtime, nothing left.

Cost on Linux: coreai-core's runtime is slow here. Measured on this project's 2-core machine (with
other jobs running): the tiny pipeline's unet (test/python/tiny_pipeline.py) takes 1 to 3 s a call
at 8x8 latents, and one call at 64x64 latents (512 px) took 724 s; a full-size SD 1.5 at 512 px
and 20 steps is hours here. diffusers' half of the tiny pipeline takes seconds.

What the Core AI half does, as Apple's Swift runtime does it (apple/coreai-models at 86b363d,
swift/Sources/CoreAIDiffusionPipeline/; facts read there, our own code):
- Pipelines/StableDiffusionPipeline.swift: the prompt and the negative prompt ("" by default) each
  through the text encoder; one unet call per step on a batch of 2 latents (the same latents
  twice) with timestep [t, t] as floats and the embeddings [negative, prompt]; guided =
  uncond + guidance * (cond - uncond); the scheduler's step; after the loop the latents times
  1 / decoder_scale_factor (no shift) into the VAE decoder; its [1, 3, H, W] output in [-1, 1]
  made an image by (x + 1) * 0.5 then to 8 bits (DiffusionUtilities.swift, vImage: clamped,
  rounded), which is what diffusers' postprocess does too. The latents are never scaled by an
  initial sigma (1 for both schedulers). Latent size: image_size / 8, where image_size comes from
  metadata.json's diffusion.image_size and must equal the unet's "sample" height * 8
  (PipelineDescriptor+CoreAI.swift refuses a mismatch; so does this script); images are square.
- Pipelines/PipelineConfiguration.swift: the scheduler is DPM-Solver++ multistep unless told
  (`dpmpp`; diffusion-runner's --scheduler default is dpmpp too); `pndm` is the other one the SD
  pipeline takes. Both are built with betaSchedule .scaledLinear always (metadata.json's
  beta_schedule is read but not used), training_steps, beta_start, beta_end from metadata.json's
  diffusion.scheduler, and the prediction type from diffusion.prediction_type (epsilon when
  absent).
- Schedulers/DPMSolverMultistepScheduler.swift: DPM-Solver++, second order, midpoint; first order
  at the first step and, under 15 steps, at the last two; timesteps "linspace": linspace(0,
  train - 1, steps + 1) in float32, the first dropped, reversed, rounded half away from zero; the
  last step goes to timestep 0's alpha and sigma (not to sigma 0). Written here in Python
  (SwiftDPMSolver), because no configuration of diffusers' DPMSolverMultistepScheduler is exactly
  it. Its maths is that scheduler's with algorithm_type dpmsolver++, solver_order 2, solver_type
  midpoint, lower_order_final True, euler_at_final False, final_sigmas_type "sigma_min",
  timestep_spacing "linspace", steps_offset 0, no Karras/exponential/beta/Lu sigmas, no
  thresholding, lambda_min_clipped -inf: the same x0 ((x - sigma eps) / alpha, or alpha x - sigma
  v), the same first-order (DDIM) and second-order midpoint updates, with alpha_t =
  sqrt(alphas_cumprod[t]) and sigma_t = sqrt(1 - alphas_cumprod[t]) (diffusers reaches the same
  values through sigma = sqrt((1 - a) / a)). Two differences, both made up on the diffusers side
  so that the two images differ by the models only:
  (1) under 15 steps Swift's second-to-last step is first order; diffusers' lower_order_second only
      caps a third-order solver at two, so its second-to-last step is second order. The diffusers
      half uses SwiftRuleDPMSolverMultistepScheduler (swift_rule_dpm_solver below), diffusers'
      class with that one rule added.
  (2) the timesteps: Swift's float32 linspace and rounding against numpy's float64 and
      halves-to-even differ by one at one timestep for many even step counts (6, 12, 14, 18, 24,
      26, 28, 30, ...; not 10, 20, 25, 50). When they differ the diffusers half is given the Swift
      list (timesteps=) and the JSON says so (diffusers_timesteps_given).
  With 15 or more steps and a step count whose lists agree, the Swift scheduler is exactly diffusers'
  DPMSolverMultistepScheduler in the configuration above.
- Schedulers/PNDMScheduler.swift: PLMS only (diffusers' skip_prk_steps True), steps_offset 1,
  "leading" timesteps with the second-to-last repeated, set_alpha_to_one False (the last step to
  alphas_cumprod[0]); diffusers' PNDMScheduler with that config. Difference: the Swift step never
  uses the prediction type (a v_prediction model is stepped as epsilon); diffusers converts v.
  This script follows the Swift code, so pndm with a v_prediction bundle will not match diffusers.
- RNG/NoiseGeneration.swift, NumPyRandomSource.swift: the initial latents are
  `generateNoise(count:seed:)` with its default source, NumPy's legacy MT19937 with the polar
  Gaussian (numpy.random.RandomState(seed).standard_normal(count), each value rounded to float32),
  laid out [1, 4, h, w] in C order; both halves start from these latents (diffusers' latents=).
- Tokenizers/BPETokenizer.swift and PipelineDescriptor+CoreAI.swift: vocab.json and merges.txt at
  the bundle's top level, else in tokenizer/; the text lowercased, trimmed, split on spaces only
  (no CLIP regex, no ftfy), each word BPE-merged by rank with "</w>" on its last character, between
  <|startoftext|> and <|endoftext|>, padded to the text encoder's length (77) with <|endoftext|>,
  unknown tokens as <|endoftext|>'s id, cut to 77 without keeping the end token, fed as int32.
  --tokenizer runtime (the default) does that; --tokenizer clip feeds the Core AI text encoder the
  ids of transformers' CLIPTokenizer made from the same files (with the folder's
  special_tokens_map.json and tokenizer_config.json where it has them), as diffusers tokenizes, to
  tell a tokenizer difference from a model difference. token_ids_match says whether the runtime's
  ids agree with those diffusers feeds its own text encoder (the model folder's tokenizer), for the
  prompt and the negative prompt. They differ where CLIP's pre-tokenization matters (punctuation,
  long prompts) and for SD 2.x, whose tokenizer pads with "!" where the Swift code pads with
  <|endoftext|>. Measured on tiny pipelines: "a photo, of the dog." 45.1 dB with runtime against
  57.6 dB with clip; a tiny SD 2.1 whose tokenizer pads with "!" 30.0 dB against 57.5 dB.

Where this differs from the Swift runtime: the models run on coreai-core's Linux runtime (CPU), not
on an Apple GPU; the inputs are cast to the models' input types (float16) as the Swift code casts
them. Everything else above is the Swift code's arithmetic, in float32 where it uses Float.
"""

import argparse
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import coreai_layout  # noqa: E402  (beside this script)

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
PARTIAL = ".partial"

PSNR_CAP = 100.0  # written for identical images (infinite PSNR)
IMAGE_NAMES = {"coreai": "coreai.png", "diffusers": "diffusers.png"}
SCHEDULERS = ("dpmpp", "pndm")
TOKENIZERS = ("runtime", "clip")
START_TOKEN, END_TOKEN = "<|startoftext|>", "<|endoftext|>"


class UsageError(Exception):
    """Bad arguments, or a bundle or model folder without what the check needs (exit 2)."""


class CheckError(Exception):
    """The check could not be made (exit 1)."""


# ---------------------------------------------------------------------------------------------
# Arguments and the bundle (standard library only)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", required=True, help="the Core AI bundle folder (metadata.json, *.aimodel)")
    parser.add_argument("--assets", help="read the .aimodel folders from here instead of the bundle (float32 twins)")
    parser.add_argument("--model", required=True, help="the diffusers folder the bundle was exported from")
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--negative-prompt", default="", help='default "" (as the Swift runtime)')
    parser.add_argument("--seed", required=True, type=int)
    parser.add_argument("--steps", required=True, type=int)
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--height", type=int, help="must equal the bundle's image_size (the default)")
    parser.add_argument("--width", type=int, help="must equal the bundle's image_size (the default)")
    parser.add_argument("--scheduler", choices=SCHEDULERS, default="dpmpp",
                        help="the Swift runtime's scheduler (default dpmpp, its default for SD 1.x/2.x)")
    parser.add_argument("--tokenizer", choices=TOKENIZERS, default="runtime",
                        help="token ids for the Core AI text encoder: the Swift runtime's BPE (default) "
                             "or transformers' CLIPTokenizer from the bundle's files, as diffusers tokenizes")
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--json", required=True)
    parser.add_argument("--min-psnr", type=float)
    args = parser.parse_args(argv)
    if not 0 <= args.seed <= 0xFFFFFFFF:
        parser.error(f"--seed must be 0..4294967295 (the Swift runtime's UInt32), got {args.seed}")
    if args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    if args.scheduler == "pndm" and args.steps < 2:
        parser.error("--scheduler pndm needs --steps 2 or more "
                     "(the Swift PNDM scheduler repeats its second-to-last step)")
    if not math.isfinite(args.guidance) or args.guidance <= 0:
        parser.error(f"--guidance must be a positive number, got {args.guidance}")
    if args.min_psnr is not None and not math.isfinite(args.min_psnr):
        parser.error(f"--min-psnr must be a finite number, got {args.min_psnr}")
    for name in ("height", "width"):
        value = getattr(args, name)
        if value is not None and (value <= 0 or value % coreai_layout.LATENT_FACTOR):
            parser.error(f"--{name} must be a positive multiple of {coreai_layout.LATENT_FACTOR}, got {value}")
    return args


def tokenizer_files(bundle):
    """(vocab.json, merges.txt) where the Swift runtime looks: the bundle's top level, else tokenizer/."""
    for folder in (bundle, os.path.join(bundle, "tokenizer")):
        vocab, merges = (os.path.join(folder, name) for name in coreai_layout.TOKENIZER_FILES)
        if os.path.isfile(vocab):
            if not os.path.isfile(merges):
                raise UsageError(f"{folder} has vocab.json but no merges.txt")
            return vocab, merges
    raise UsageError(f"the bundle {bundle} has no tokenizer "
                     f"(vocab.json and merges.txt at its top level or in tokenizer/)")


def check_inputs(args):
    """The bundle's metadata, its models' paths and tokenizer, the image size; UsageError when the
    bundle or the model folder lacks what is needed or --height/--width disagree with the bundle."""
    if not os.path.isdir(args.bundle):
        raise UsageError(f"--bundle {args.bundle} is not a folder")
    if args.assets is not None and not os.path.isdir(args.assets):
        raise UsageError(f"--assets {args.assets} is not a folder")
    if not os.path.isfile(os.path.join(args.model, "model_index.json")):
        raise UsageError(f"--model {args.model} is not a diffusers folder (no model_index.json)")
    try:
        metadata = coreai_layout.read_metadata(args.bundle)
    except coreai_layout.LayoutError as error:
        raise UsageError(str(error)) from error
    assets = metadata["assets"]
    paths = {}
    for part in coreai_layout.REQUIRED_PARTS:
        name = assets.get(part) or (assets.get("transformer") if part == "unet" else None)
        if not name:
            raise UsageError(f"the bundle's metadata.json names no {part} asset (the Swift runtime needs "
                             f"{', '.join(coreai_layout.REQUIRED_PARTS)})")
        path = os.path.join(args.assets or args.bundle, name)
        if not os.path.isfile(os.path.join(path, "main.mlirb")):
            raise UsageError(f"the {'--assets folder' if args.assets else 'bundle'} lacks its {part} model: {path} (no main.mlirb)")
        paths[part] = path
    diffusion = metadata["diffusion"]
    if diffusion.get("type", "stable-diffusion") != "stable-diffusion":
        raise UsageError(f"the bundle is of type {diffusion.get('type')!r}: this check runs Stable Diffusion 1.x/2.x "
                         f"bundles (type stable-diffusion)")
    size = diffusion.get("image_size")
    for name in ("height", "width"):
        value = getattr(args, name)
        if value is not None and size is not None and value != size:
            raise UsageError(f"--{name} {value}: the bundle's models were exported for {size}x{size} "
                             f"(metadata.json image_size; the Swift runtime makes that size only)")
    if size is None and args.height is not None and args.width is not None and args.height != args.width:
        raise UsageError(f"--height {args.height} --width {args.width}: "
                         f"Core AI's Swift pipeline makes square images only")
    return metadata, paths, tokenizer_files(args.bundle)


# ---------------------------------------------------------------------------------------------
# The Swift runtime's tokenizer (Tokenizers/BPETokenizer.swift), standard library only


def read_vocabulary(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_merges(path):
    """{(first, second): rank}, the rank being the line's index in the file (comment lines
    counted, as the Swift reader counts them)."""
    merges = {}
    with open(path, "rb") as f:
        data = f.read()
    for index, line in enumerate(data.split(b"\n")[: data.count(b"\n")]):
        if not line or line.startswith(b"#"):
            continue
        pair = line.split(b" ")
        if len(pair) != 2:
            raise CheckError(f"{path} line {index + 1} is not a merge (two tokens): {line[:80]!r}")
        merges[(pair[0].decode("utf-8"), pair[1].decode("utf-8"))] = index
    return merges


def bpe_word(word, merges):
    tokens = list(word)
    if not tokens:
        return []
    tokens[-1] += "</w>"
    while len(tokens) > 1:
        ranked = [(merges[p], p) for p in zip(tokens, tokens[1:]) if p in merges]
        if not ranked:
            break
        first, second = min(ranked)[1]
        merged, i = [], 0
        while i < len(tokens):
            if i < len(tokens) - 1 and tokens[i] == first and tokens[i + 1] == second:
                merged.append(first + second)
                i += 2
            else:
                merged.append(tokens[i])
                i += 1
        tokens = merged
    return tokens


def runtime_token_ids(text, vocabulary, merges, length=coreai_layout.TEXT_LENGTH):
    """The ids the Swift runtime feeds its text encoder for text: [start] + BPE of each
    space-separated lowercased word + [end], padded with <|endoftext|> to length, cut to length."""
    words = [w for w in text.strip().lower().split(" ") if w]
    tokens = [START_TOKEN] + [t for w in words for t in bpe_word(w, merges)] + [END_TOKEN]
    tokens += [END_TOKEN] * (length - len(tokens))
    unknown = vocabulary.get(END_TOKEN, 0)
    return [vocabulary.get(t, unknown) for t in tokens][:length]


# ---------------------------------------------------------------------------------------------
# PSNR of two uint8 images (standard library only)


def mse_uint8(a, b):
    """Mean squared difference of two equal-length byte strings (uint8 pixels)."""
    if len(a) != len(b) or not a:
        raise ValueError(f"images of {len(a)} and {len(b)} values cannot be compared")
    return sum((x - y) * (x - y) for x, y in zip(a, b)) / len(a)


def psnr_from_mse(mse, peak=255.0):
    """10 log10(peak^2 / mse) in dB; PSNR_CAP when mse is 0."""
    if mse < 0 or math.isnan(mse):
        raise ValueError(f"mse must be a non-negative number, got {mse}")
    return PSNR_CAP if mse == 0 else min(PSNR_CAP, 10 * math.log10(peak * peak / mse))


# ---------------------------------------------------------------------------------------------
# The Swift runtime's schedulers and noise, in numpy


def _swift_linspace(np, start, end, count):
    """Schedulers/SchedulerMath.swift's linspace, in float32."""
    start, end = np.float32(start), np.float32(end)
    if count == 1:
        return np.array([start], dtype=np.float32)
    scale = np.float32((end - start) / np.float32(count - 1))
    return np.arange(count, dtype=np.float32) * scale + start


def _alphas_cumprod(np, train_steps, beta_start, beta_end):
    """scaledLinear betas (what the SD pipeline always passes) and their cumulative product, float32."""
    root = _swift_linspace(np, np.float32(beta_start) ** np.float32(0.5), np.float32(beta_end) ** np.float32(0.5),
                           train_steps)
    betas = root * root
    return np.cumprod(np.float32(1) - betas, dtype=np.float32)


def _weighted_sum(np, weights, values):
    """SchedulerMath.swift's weightedSum: float32 weights, float32 accumulation."""
    result = np.zeros_like(values[0], dtype=np.float32)
    for weight, value in zip(weights, values):
        result += np.float32(weight) * value
    return result


class SwiftDPMSolver:
    """Schedulers/DPMSolverMultistepScheduler.swift with .linspace spacing (what the SD pipeline builds)."""

    order = 2

    def __init__(self, np, steps, train_steps, beta_start, beta_end, prediction):
        self.np, self.prediction = np, prediction
        ac = _alphas_cumprod(np, train_steps, beta_start, beta_end)
        points = _swift_linspace(np, 0, train_steps - 1, steps + 1)[1:][::-1]
        self.timesteps = [int(math.floor(float(x) + 0.5)) for x in points]  # Swift round(): half away from 0
        self.alpha = np.sqrt(ac)
        self.sigma = np.sqrt(np.float32(1) - ac)
        self.lam = np.log(self.alpha) - np.log(self.sigma)
        self.outputs, self.lower_stepped = [], 0

    def _x0(self, output, t, sample):
        a, s = self.alpha[t], self.sigma[t]
        if self.prediction == "v_prediction":
            return a * sample - s * output
        return (sample - output * s) / a

    def step(self, output, t, sample):
        ts = self.timesteps
        index = ts.index(t) if t in ts else len(ts) - 1
        prev = 0 if index == len(ts) - 1 else ts[index + 1]
        final = index == len(ts) - 1 and len(ts) < 15
        second = index == len(ts) - 2 and len(ts) < 15
        x0 = self._x0(output, t, sample)
        self.outputs = (self.outputs + [x0])[-self.order:]
        alpha_t, sigma_t, lam_t = float(self.alpha[prev]), float(self.sigma[prev]), float(self.lam[prev])
        if self.lower_stepped < 1 or final or second:
            h = lam_t - float(self.lam[t])
            result = _weighted_sum(self.np, [sigma_t / float(self.sigma[t]), -alpha_t * (math.exp(-h) - 1)],
                                   [sample, x0])
        else:
            s0, s1 = t, ts[index - 1]
            m0, m1 = self.outputs[-1], self.outputs[-2]
            h, h0 = lam_t - float(self.lam[s0]), float(self.lam[s0]) - float(self.lam[s1])
            r0 = h0 / h
            d1 = _weighted_sum(self.np, [1 / r0, -1 / r0], [m0, m1])
            c = -alpha_t * (math.exp(-h) - 1)
            result = _weighted_sum(self.np, [sigma_t / float(self.sigma[s0]), c, 0.5 * c], [sample, m0, d1])
        self.lower_stepped = min(self.lower_stepped + 1, self.order)
        return result


class SwiftPNDM:
    """Schedulers/PNDMScheduler.swift (PLMS, steps offset 1); its step ignores the prediction type."""

    def __init__(self, np, steps, train_steps, beta_start, beta_end, prediction):
        self.np = np
        self.ac = _alphas_cumprod(np, train_steps, beta_start, beta_end)
        self.train_steps, self.steps = train_steps, steps
        ratio = train_steps // steps
        forward = [i * ratio + 1 for i in range(steps)]
        self.timesteps = (forward[:-1] + [forward[-2], forward[-1]])[::-1]  # steps >= 2 (parse_args)
        self.counter, self.ets, self.current = 0, [], None

    def step(self, output, t, sample):
        np, inc = self.np, self.train_steps // self.steps
        prev = t - inc
        if self.counter != 1:
            self.ets = self.ets[-3:] + [output]
        else:
            prev, t = t, t + inc
        ets = self.ets
        if len(ets) == 1 and self.counter == 0:
            model_output, self.current = output, sample
        elif len(ets) == 1 and self.counter == 1:
            model_output = _weighted_sum(np, [0.5, 0.5], [output, ets[-1]])
            sample, self.current = self.current, None
        elif len(ets) == 2:
            model_output = _weighted_sum(np, [1.5, -0.5], [ets[-1], ets[-2]])
        elif len(ets) == 3:
            model_output = _weighted_sum(np, [23 / 12, -16 / 12, 5 / 12], [ets[-1], ets[-2], ets[-3]])
        else:
            model_output = _weighted_sum(np, [55 / 24, -59 / 24, 37 / 24, -9 / 24], ets[-1:-5:-1])
        last = len(self.ac) - 1
        a_t = float(self.ac[min(t, last)])
        a_prev = float(self.ac[min(max(0, prev), last)])
        b_t, b_prev = 1 - a_t, 1 - a_prev
        sample_coeff = math.sqrt(a_prev / a_t)
        denominator = a_t * math.sqrt(b_prev) + math.sqrt(a_t * b_t * a_prev)
        self.counter += 1
        return _weighted_sum(np, [sample_coeff, -(a_prev - a_t) / denominator], [sample, model_output])


def make_scheduler(np, kind, steps, metadata):
    """The Swift SD pipeline's scheduler of that kind, built from the bundle's metadata.json."""
    config = scheduler_config(metadata["diffusion"])
    cls = SwiftDPMSolver if kind == "dpmpp" else SwiftPNDM
    return cls(np, steps, config["training_steps"], config["beta_start"], config["beta_end"],
               config["prediction_type"])


def scheduler_config(diffusion):
    """What the Swift SD pipeline builds its scheduler from (defaults as SchedulerDefaults)."""
    defaults = diffusion.get("scheduler") or {}
    return {"training_steps": int(defaults.get("training_steps", 1000)),
            "beta_start": float(defaults.get("beta_start", 0.00085)),
            "beta_end": float(defaults.get("beta_end", 0.012)),
            "beta_schedule": "scaled_linear",
            "prediction_type": diffusion.get("prediction_type") or "epsilon"}


def import_diffusers():
    """diffusers, imported where torchao 0.18 (which coreai-opt brings) is installed: diffusers 0.36's
    torchao quantizer then fails at import (it logs through `logger` before defining it), and with it
    every pipeline. Nothing here quantizes with torchao, so diffusers is told torchao is absent."""
    import diffusers.utils.import_utils as imports
    imports._torchao_available = False
    import diffusers
    return diffusers


def swift_rule_dpm_solver(diffusers):
    """diffusers' DPMSolverMultistepScheduler with the Swift code's one other rule: under 15 steps
    the second-to-last step is first order too (Swift's lowerOrderSecond forces the first-order
    update; diffusers' lower_order_second only caps the order at 2, which a second-order solver
    already is). It does so by counting no earlier steps for that step (lower_order_nums 0: the
    first-order branch), then restoring the count."""

    class SwiftRuleDPMSolverMultistepScheduler(diffusers.DPMSolverMultistepScheduler):
        def step(self, model_output, timestep, sample, *args, **kwargs):
            count = len(self.timesteps)
            second_to_last = self.step_index is not None and count < 15 and self.step_index == count - 2
            if second_to_last:
                self.lower_order_nums = 0
            try:
                return super().step(model_output, timestep, sample, *args, **kwargs)
            finally:
                if second_to_last:
                    self.lower_order_nums = self.config.solver_order

    return SwiftRuleDPMSolverMultistepScheduler


def diffusers_scheduler(kind, config):
    """diffusers' scheduler configured to the Swift runtime's maths (see the module docstring)."""
    common = dict(num_train_timesteps=config["training_steps"], beta_start=config["beta_start"],
                  beta_end=config["beta_end"], beta_schedule="scaled_linear", trained_betas=None,
                  prediction_type=config["prediction_type"])
    diffusers = import_diffusers()
    if kind == "dpmpp":
        return swift_rule_dpm_solver(diffusers)(
            **common, solver_order=2, algorithm_type="dpmsolver++", solver_type="midpoint", lower_order_final=True,
            euler_at_final=False, use_karras_sigmas=False, use_exponential_sigmas=False, use_beta_sigmas=False,
            use_lu_lambdas=False, final_sigmas_type="sigma_min", lambda_min_clipped=-float("inf"), variance_type=None,
            thresholding=False, timestep_spacing="linspace", steps_offset=0, rescale_betas_zero_snr=False)
    return diffusers.PNDMScheduler(**common, skip_prk_steps=True, set_alpha_to_one=False, steps_offset=1,
                         timestep_spacing="leading")


def initial_latents(np, seed, shape):
    """generateNoise(count:seed:) with the NumPy source: RandomState(seed).standard_normal, as float32."""
    count = int(np.prod(shape))
    return np.random.RandomState(seed).standard_normal(count).astype(np.float32).reshape(shape)


def to_uint8_image(np, pixels):
    """[1, 3, H, W] in [-1, 1] -> [H, W, 3] uint8: (x + 1) * 0.5, clamped, * 255, rounded."""
    x = np.clip((pixels[0].astype(np.float32) + 1) * np.float32(0.5), 0, 1)
    return np.round(x * 255).astype(np.uint8).transpose(1, 2, 0)


# ---------------------------------------------------------------------------------------------
# The two halves


def save_png(image, path):
    """uint8 [H, W, 3] written as PNG through path.partial."""
    from PIL import Image
    partial = path + PARTIAL
    try:
        Image.fromarray(image, "RGB").save(partial, format="PNG")
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise


def log(message):
    print(f"coreai_image: {message}", flush=True)


class Terminated(Exception):
    """SIGTERM (a cancelled job), made an exception so that the models' temporary .aimodelx folders
    (coreai-core writes one per loaded model on Linux, the unet's as large as its weights) and any
    .partial file are removed on the way out. While a Core AI model runs it is raised only when the
    call returns: interrupting coreai-core's runtime mid-call aborts the process at exit."""


_STOP = {"signal": None, "in_runtime": False}


def _terminate(signum, _frame):
    _STOP["signal"] = signum
    if not _STOP["in_runtime"]:
        raise Terminated(f"stopped by signal {signum}")


def _stop_point():
    if _STOP["signal"] is not None:
        raise Terminated(f"stopped by signal {_STOP['signal']}")


async def _run(function, np, inputs):
    """One call of an InferenceFunction: numpy inputs cast to each input's type, float32 outputs."""
    from coreai.runtime import NDArray
    desc = function.desc
    given = {}
    for name, value in inputs.items():
        dtype = {"float16": np.float16, "float32": np.float32, "int32": np.int32}.get(desc.input_descriptor(name).dtype)
        if dtype is None:
            raise CheckError(f"input {name} has type {desc.input_descriptor(name).dtype}, "
                             f"expected float16, float32 or int32")
        given[name] = NDArray(np.ascontiguousarray(value, dtype=dtype))
    _STOP["in_runtime"] = True
    try:
        outputs = await function(given)
    finally:
        _STOP["in_runtime"] = False
    _stop_point()
    return {name: np.asarray(out.numpy(), dtype=np.float32) for name, out in outputs.items()}


class Loaded:
    """An asset loaded with coreai-core's runtime, released on exit (as the Swift lazy loading does)."""

    def __init__(self, path):
        self.path = path

    async def __aenter__(self):
        from coreai.authoring import AIModelAsset
        self._context = AIModelAsset.load(self.path).executable()
        _STOP["in_runtime"] = True
        try:
            model = await self._context.__aenter__()
            try:
                self.function = model.load_function("main")
            except BaseException:
                await self._context.__aexit__(*sys.exc_info())
                raise
        finally:
            _STOP["in_runtime"] = False
        self.desc = self.function.desc
        _stop_point()
        return self

    async def __aexit__(self, *exc):
        self.function = self.desc = None
        return await self._context.__aexit__(*exc)

    def input_shape(self, name):
        if name not in self.desc.input_names:
            raise CheckError(f"{self.path} has no input {name!r} (its inputs: {', '.join(self.desc.input_names)})")
        return list(self.desc.input_descriptor(name).shape)


async def coreai_half(np, args, metadata, paths, token_ids):
    """The Swift pipeline's text-to-image on the bundle's models. Returns (image, latents0, timesteps, seconds)."""
    started = time.monotonic()
    embeddings = []
    async with Loaded(paths["text_encoder"]) as encoder:
        if len(encoder.desc.input_names) != 1:
            raise CheckError(f"the text encoder has {len(encoder.desc.input_names)} inputs, the runtime wants one")
        name = encoder.desc.input_names[0]
        length = encoder.input_shape(name)[1]
        for ids in token_ids:
            ids = (list(ids) + [0] * length)[:length]  # CoreAITextEncoder.swift pads with 0 / cuts to its length
            outputs = await _run(encoder.function, np, {name: np.array([ids], dtype=np.int32)})
            hidden = [v for k, v in outputs.items() if len(encoder.desc.output_descriptor(k).shape) == 3]
            if not hidden:
                raise CheckError("the text encoder has no rank-3 output (the hidden states)")
            embeddings.append(hidden[0])
    batch_embeddings = np.concatenate(embeddings, axis=0)  # [negative, prompt]
    log(f"text encoder: {batch_embeddings.shape} ({time.monotonic() - started:.1f} s)")

    diffusion = metadata["diffusion"]
    scheduler = make_scheduler(np, args.scheduler, args.steps, metadata)
    async with Loaded(paths["unet"]) as unet:
        sample_shape = unet.input_shape("sample")
        size = diffusion.get("image_size")
        if size is not None and sample_shape[2] * coreai_layout.LATENT_FACTOR != size:
            raise CheckError(f"metadata.json says image_size {size} but the unet takes latents of "
                             f"{sample_shape[2]}x{sample_shape[3]} (x8 = {sample_shape[2] * 8}): "
                             f"the Swift runtime refuses it")
        if sample_shape[0] != coreai_layout.UNET_BATCH:
            raise CheckError(f"the unet takes a batch of {sample_shape[0]}, the Swift runtime gives it 2 (guidance)")
        latent_shape = [1] + sample_shape[1:]
        latents0 = initial_latents(np, args.seed, latent_shape)
        latents = latents0
        guidance = np.float32(args.guidance)
        for step, t in enumerate(scheduler.timesteps, start=1):
            out = (await _run(unet.function, np, {
                "sample": np.concatenate([latents, latents], axis=0),
                "timestep": np.full([2], float(t), dtype=np.float32),
                "encoder_hidden_states": batch_embeddings}))
            noise = next(iter(out.values())) if len(out) == 1 else out[unet.desc.output_names[0]]
            uncond, cond = noise[0:1], noise[1:2]
            latents = scheduler.step(uncond + guidance * (cond - uncond), t, latents)
            # A full-size step takes minutes on Linux: one line a step says the check is alive.
            log(f"unet: step {step}/{len(scheduler.timesteps)} ({time.monotonic() - started:.1f} s)")
    log(f"unet: {len(scheduler.timesteps)} steps ({time.monotonic() - started:.1f} s)")

    scale = np.float32(diffusion.get("decoder_scale_factor") or coreai_layout.DEFAULT_SCALING_FACTOR)
    async with Loaded(paths["vae_decoder"]) as decoder:
        name = decoder.desc.input_names[0]
        out = await _run(decoder.function, np, {name: latents * (np.float32(1) / scale)})
        pixels = out[decoder.desc.output_names[0]]
    image = to_uint8_image(np, pixels)
    return image, latents0, scheduler.timesteps, time.monotonic() - started


def diffusers_token_ids(tokenizer, text):
    return tokenizer(text, padding="max_length", max_length=tokenizer.model_max_length, truncation=True).input_ids


def weights_variant(model):
    """"fp16" when the model folder's unet has fp16 weights only (a folder the action made with
    prepare-fp16), else None (the plain weights, as from_pretrained loads by default)."""
    folder = os.path.join(model, "unet")
    names = os.listdir(folder) if os.path.isdir(folder) else []
    weights = [n for n in names if n.endswith((".safetensors", ".bin"))]
    plain = [n for n in weights if ".fp16." not in n and ".fp16-" not in n]
    return "fp16" if weights and not plain else None


def diffusers_half(np, args, metadata, latents0, timesteps):
    """diffusers' StableDiffusionPipeline (float32, CPU) on the same latents and scheduler maths.
    Returns (image, timesteps_given, seconds)."""
    import torch
    StableDiffusionPipeline = import_diffusers().StableDiffusionPipeline
    started = time.monotonic()
    config = scheduler_config(metadata["diffusion"])
    scheduler = diffusers_scheduler(args.scheduler, config)
    # The unet's fp16 variant when the folder has one (a Hub snapshot of a fp16-only repository, or the
    # action's single-file output, which saves variant="fp16" only): upcast to float32 on load.
    pipe = StableDiffusionPipeline.from_pretrained(args.model, torch_dtype=torch.float32, safety_checker=None,
                                                   requires_safety_checker=False, scheduler=scheduler,
                                                   variant=weights_variant(args.model))
    pipe.set_progress_bar_config(disable=True)
    scheduler.set_timesteps(args.steps)
    own = [int(t) for t in scheduler.timesteps]
    give = own != list(timesteps)
    if give and args.scheduler != "dpmpp":
        raise CheckError(f"diffusers' PNDM timesteps {own} differ from the Swift runtime's {list(timesteps)}")
    size = metadata["diffusion"].get("image_size") or latents0.shape[2] * coreai_layout.LATENT_FACTOR
    kwargs = dict(timesteps=list(timesteps)) if give else dict(num_inference_steps=args.steps)
    with torch.no_grad():
        result = pipe(prompt=args.prompt, negative_prompt=args.negative_prompt, guidance_scale=args.guidance,
                      latents=torch.from_numpy(latents0.copy()), height=size, width=size, output_type="pil", **kwargs)
    image = np.asarray(result.images[0].convert("RGB"), dtype=np.uint8)
    del pipe, result
    return image, give, time.monotonic() - started


def peak_rss_bytes():
    try:
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    except (ImportError, OSError):
        return None


def write_json(path, data):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    coreai_layout.write_json_atomically(path, data)


def check(args, metadata, paths, tokenizer_paths):
    import asyncio
    import gc
    import numpy as np
    from transformers import CLIPTokenizer

    os.makedirs(args.out_dir, exist_ok=True)
    vocab_path, merges_path = tokenizer_paths
    vocabulary, merges = read_vocabulary(vocab_path), read_merges(merges_path)
    texts = [args.negative_prompt, args.prompt]
    runtime_ids = [runtime_token_ids(t, vocabulary, merges) for t in texts]
    diffusers_ids = [diffusers_token_ids(CLIPTokenizer.from_pretrained(os.path.join(args.model, "tokenizer")), t)
                     for t in texts]  # what diffusers feeds its text encoder
    match = [a == b for a, b in zip(runtime_ids, diffusers_ids)]
    if args.tokenizer == "runtime":
        ids = runtime_ids
    else:
        folder = os.path.dirname(vocab_path)
        clip = (CLIPTokenizer.from_pretrained(folder) if os.path.isfile(os.path.join(folder, "tokenizer_config.json"))
                else CLIPTokenizer(vocab_path, merges_path, model_max_length=coreai_layout.TEXT_LENGTH))
        ids = [diffusers_token_ids(clip, t) for t in texts]
    if not all(match):
        log(f"the Swift runtime's token ids differ from diffusers' (negative prompt, prompt: {match}); "
            f"the Core AI side uses the {args.tokenizer} tokenizer's")

    image, latents0, timesteps, coreai_seconds = asyncio.run(coreai_half(np, args, metadata, paths, ids))
    save_png(image, os.path.join(args.out_dir, IMAGE_NAMES["coreai"]))
    coreai_rss = peak_rss_bytes()
    log(f"Core AI image {image.shape[1]}x{image.shape[0]} in {coreai_seconds:.1f} s")
    gc.collect()

    reference, given, diffusers_seconds = diffusers_half(np, args, metadata, latents0, timesteps)
    gc.collect()
    if reference.shape != image.shape:
        raise CheckError(f"diffusers made a {reference.shape} image, Core AI {image.shape}")
    save_png(reference, os.path.join(args.out_dir, IMAGE_NAMES["diffusers"]))
    log(f"diffusers image in {diffusers_seconds:.1f} s")

    mse = float(np.mean((image.astype(np.float64) - reference.astype(np.float64)) ** 2))
    psnr = psnr_from_mse(mse)
    passed = args.min_psnr is None or psnr >= args.min_psnr
    config = scheduler_config(metadata["diffusion"])
    report = {
        "psnr": round(psnr, 4), "mse": mse, "prompt": args.prompt, "negative_prompt": args.negative_prompt,
        "seed": args.seed, "steps": args.steps, "guidance": args.guidance,
        "scheduler": "DPM-Solver++ multistep (dpmpp)" if args.scheduler == "dpmpp" else "PNDM (pndm)",
        "diffusers_scheduler": ("DPMSolverMultistepScheduler with the Swift second-to-last rule"
                                if args.scheduler == "dpmpp" else "PNDMScheduler"),
        "scheduler_config": config, "timesteps": list(timesteps), "diffusers_timesteps_given": given,
        "tokenizer": args.tokenizer, "token_ids_match": {"negative_prompt": match[0], "prompt": match[1]},
        "height": int(image.shape[0]), "width": int(image.shape[1]),
        "coreai_seconds": round(coreai_seconds, 3), "diffusers_seconds": round(diffusers_seconds, 3),
        "peak_rss_bytes": {"after_coreai": coreai_rss, "after_diffusers": peak_rss_bytes()},
        "images": dict(IMAGE_NAMES), "min_psnr": args.min_psnr, "passed": passed,
    }
    write_json(args.json, report)
    log(f"PSNR {psnr:.2f} dB ({args.json})")
    if not passed:
        print(f"coreai_image: PSNR {psnr:.2f} dB is below --min-psnr {args.min_psnr} (written; the caller gates)")
    return report


def main(argv=None):
    try:
        args = parse_args(argv)
        metadata, paths, tokenizer_paths = check_inputs(args)
    except UsageError as error:
        print(f"coreai_image: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        check(args, metadata, paths, tokenizer_paths)
    except (CheckError, Terminated, coreai_layout.LayoutError) as error:
        print(f"coreai_image: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as error:  # noqa: BLE001  (any failure is exit 1, with its traceback for the log)
        import traceback
        traceback.print_exc()
        print(f"coreai_image: failed: {error}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(main())

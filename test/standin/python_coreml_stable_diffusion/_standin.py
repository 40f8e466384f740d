"""Shared machinery of the STAND-IN converter (not part of Apple's package).

Everything here imitates what the real tools show from the outside: the knobs
(STANDIN_* environment variables), the fake .mlpackage / .mlmodelc writers, the
tqdm-like progress frames, the PSNR figures, and the hub/diffusers failures.
Standard library only.
"""

import errno
import hashlib
import json
import logging
import math
import os
import random
import shutil
import signal
import sys
import time
import uuid

VERSION = "1.1.0"
# The lock's pair: coremltools 8.3.0 was tested with torch 2.5.0, so it prints no torch warning; the
# lock's scikit-learn is newer than coremltools supports, which it does print (as Apple's run shows).
COREMLTOOLS_VERSION = "8.3.0"
TORCH_VERSION = "2.5.0"
SKLEARN_VERSION = "1.7.2"
SKLEARN_MAX = "1.5.1"
DIFFUSIONKIT_VERSION = "0.4.0"
MIN_PSNR = 35

# Part names that STANDIN_PSNR accepts (others are rejected loudly).
PSNR_KEYS = (
    "text_encoder", "text_encoder_2", "vae_decoder", "vae_encoder", "unet", "refiner",
    "control-unet", "safety_checker", "mmdit", "controlnet", "unet_chunks",
)
UNET_FAMILY = ("unet", "refiner", "control-unet")


# ----------------------------------------------------------------------------- knobs

def _env(name, default=None):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value


def knob_flag(name):
    return _env(name, "0") not in ("0", "false", "False", "no")


def weight_bytes(part):
    raw = _env("STANDIN_WEIGHT_BYTES", "65536")
    try:
        size = int(raw)
    except ValueError:
        raise SystemExit(f"stand-in: STANDIN_WEIGHT_BYTES must be an integer, got {raw!r}")
    if size < 0:
        raise SystemExit(f"stand-in: STANDIN_WEIGHT_BYTES must be >= 0, got {raw!r}")
    return size * 2 if part in UNET_FAMILY else size


def delay():
    raw = _env("STANDIN_DELAY_MS", "0")
    try:
        ms = float(raw)
    except ValueError:
        raise SystemExit(f"stand-in: STANDIN_DELAY_MS must be a number, got {raw!r}")
    if ms > 0:
        time.sleep(ms / 1000.0)


def psnr_overrides():
    raw = _env("STANDIN_PSNR", "")
    result = {}
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in PSNR_KEYS:
            raise SystemExit(
                f"stand-in: bad STANDIN_PSNR entry {item!r} (want key=value, key one of {', '.join(PSNR_KEYS)})")
        try:
            result[key] = float(value.strip())
        except ValueError:
            raise SystemExit(f"stand-in: bad STANDIN_PSNR value in {item!r} (want a float, nan or inf)")
    return result


def hf_token_set():
    return bool(_env("HF_TOKEN") or _env("HUGGING_FACE_HUB_TOKEN"))


HUB_TOKEN_NAMES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


def record_environment(module):
    """STANDIN_ENV_DUMP=<file>: one JSON line per process start, {"module", "pid", "env"}, the
    environment the process got; the Hub token's value is written as "<set>" (tests look for the
    runner's credentials, not for the token)."""
    path = _env("STANDIN_ENV_DUMP")
    if not path:
        return
    env = {k: ("<set>" if k in HUB_TOKEN_NAMES and v else v) for k, v in os.environ.items()}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"module": module, "pid": os.getpid(), "env": env}) + "\n")


def record_invocation(module, **extra):
    record_environment(module)
    # STANDIN_ECHO=<text>: printed as a line of its own at start (a converter line the action
    # echoes, such as one that begins with `::`).
    echo = _env("STANDIN_ECHO")
    if echo:
        print(echo, flush=True)
    path = _env("STANDIN_INVOCATIONS")
    if not path:
        return
    line = json.dumps({
        "module": module,
        "argv": sys.argv[1:],
        "pid": os.getpid(),
        "hf_token_set": hf_token_set(),
        **extra,
    })
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


# ------------------------------------------------------------- import-time warnings

_coremltools_imported = False


def import_coremltools():
    """What `import coremltools` shows: a warning through the `coremltools` logger,
    emitted before logging.basicConfig() ran, so Python's last-resort handler prints
    the bare message (no LEVEL:logger: prefix)."""
    global _coremltools_imported
    if _coremltools_imported:
        return
    _coremltools_imported = True
    logging.getLogger("coremltools").warning(
        f"scikit-learn version {SKLEARN_VERSION} is not supported. Minimum required version: 0.17. "
        f"Maximum required version: {SKLEARN_MAX}. Disabling scikit-learn conversion API.")


# ------------------------------------------------------- fake third-party exceptions

class HFValidationError(ValueError):
    """Mimics huggingface_hub.errors.HFValidationError."""


HFValidationError.__module__ = "huggingface_hub.errors"

NO_FP16_MESSAGE = (
    "Could not find the necessary `safetensors` weights in {'unet/diffusion_pytorch_model.safetensors', "
    "'vae/diffusion_pytorch_model.safetensors', 'text_encoder/model.safetensors'} (variant=fp16)")


def _repo_id_ok(repo_id):
    import re
    pattern = re.compile(r"^(\b[\w\-.]+\b/)?\b[\w\-.]{1,96}\b$")
    return bool(pattern.match(repo_id))


def hub_validate(repo_id):
    """What diffusers 0.30 + huggingface-hub 0.24.6 do first with a non-local id: validate it.
    No token is demanded: diffusers 0.30.2 no longer reads the converter's use_auth_token=True
    (it takes `token`), so a public model loads without one."""
    if repo_id.count("/") > 1:
        raise ValueError(
            f'The provided pretrained_model_name_or_path "{repo_id}" is neither a valid local path '
            "nor a valid repo id. Please check the parameter.")
    if not _repo_id_ok(repo_id):
        raise HFValidationError(
            "Repo id must use alphanumeric chars or '-', '_', '.', '--' and '..' are forbidden, "
            f"'-' and '.' cannot start or end the name, max length is 96: '{repo_id}'.")
    if "--" in repo_id or ".." in repo_id:
        raise HFValidationError(f"Cannot have -- or .. in repo_id: '{repo_id}'.")


def warn_ignored_use_auth_token(class_name):
    """diffusers 0.30.2's DiffusionPipeline.from_pretrained on the converter's use_auth_token=True
    (logged to stderr; ControlNetModel.from_pretrained drops it silently)."""
    sys.stderr.write(f"Keyword arguments {{'use_auth_token': True}} are not expected by {class_name} and will be ignored.\n")
    sys.stderr.flush()


# ------------------------------------------------------------------ progress frames

def _fmt_interval(seconds):
    seconds = int(round(seconds))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours:d}:{minutes:02d}:{seconds:02d}"
    return f"{minutes:02d}:{seconds:02d}"


def _frame(desc, n, total, unit, rate, elapsed):
    frac = (n / total) if total else 1.0
    filled = int(frac * 10)
    bar = "#" * filled + " " * (10 - filled)
    if n == 0:
        timing = f"[00:00<?, ?{unit}/s]"
    else:
        remaining = (total - n) / rate if rate else 0
        timing = f"[{_fmt_interval(elapsed)}<{_fmt_interval(remaining)}, {rate:.2f}{unit}/s]"
    return f"{desc}: {frac * 100:3.0f}%|{bar}| {n}/{total} {timing}"


def progress(desc, total, unit, rate):
    """tqdm-like frames on stderr, each introduced by \\r, no newline at the end:
    whatever is written next (usually a log line) is glued after the last frame."""
    err = sys.stderr
    for n in (0, total // 2, total):
        elapsed = n / rate if rate else 0
        err.write("\r" + _frame(desc, n, total, unit, rate, elapsed))
        err.flush()


def torch_conversion_frames(ops):
    progress("Converting PyTorch Frontend ==> MIL Ops", ops, " ops", 4987.31)
    progress("Running MIL frontend_pytorch pipeline", 5, " passes", 212.87)
    progress("Running MIL default pipeline", 89, " passes", 18.42)
    progress("Running MIL backend_mlprogram pipeline", 12, " passes", 35.49)


def milinternal_conversion_frames():
    progress("Running MIL default pipeline", 89, " passes", 21.07)
    progress("Running MIL backend_mlprogram pipeline", 12, " passes", 41.30)


def palettize_frames(ops):
    progress("Running compression pass palettize_weights", ops, " ops", 117.85)
    progress("Running MIL backend_mlprogram pipeline", 12, " passes", 38.02)


# ----------------------------------------------------------------------------- PSNR

def _det(seed, lo, span_hundredths):
    h = int.from_bytes(hashlib.sha256(seed.encode("utf-8")).digest()[:8], "big")
    return lo + (h % span_hundredths) / 100.0


def psnr_values(key, prefix):
    original = _det(f"orig|{key}|{prefix}", 200.0, 1500)
    final = _det(f"final|{key}|{prefix}", 55.0, 3500)
    overrides = psnr_overrides()
    if key in overrides:
        final = overrides[key]
    return original, final


def report_correctness(logger, key, prefix):
    """Same semantics as the real report_correctness: a NaN passes (nan < 35 is False)."""
    original, final = psnr_values(key, prefix)
    change = final - original
    logger.info(f"{prefix}: PSNR changed by {change:.1f} dB ({original:.1f} -> {final:.1f})")
    if final < MIN_PSNR:
        raise ValueError(f"{final:.1f} dB is too low!")
    logger.info(f"{final:.1f} dB > {MIN_PSNR} dB (minimum allowed) parity check passed")
    return final


def diffusionkit_convert(key, test_name, model_name, out_dir):
    """DiffusionKit 0.4.0's convert_*_to_mlpackage: one unittest (argmaxtools 0.1.23's
    CoreMLTestsMixin) under TextTestRunner, whose parity check always runs and logs
    `torch2coreml PSNR={psnr:.3g}`. assertGreater(psnr, 35) fails for nan too; a failure is
    reported by unittest only, and the package is then not saved. Returns its path, and whether
    it was saved."""
    _, final = psnr_values(key, "diffusionkit")
    log = logging.getLogger("argmaxtools.test_utils")
    log.setLevel(logging.INFO)
    log.info(f"torch2coreml PSNR={final:.3g}")
    path = os.path.join(out_dir, f"{model_name}.mlpackage")
    passed = final > MIN_PSNR
    err = sys.stderr
    if passed:
        log.info(f"Saving Core ML test artifact to {path}")
        err.write(".\n")
    else:
        err.write("F\n" + "=" * 70 + "\n"
                  f"FAIL: test_torch2coreml_correctness_and_speedup ({test_name}.test_torch2coreml_correctness_and_speedup) "
                  "(phase='torch2coreml_correctness')\n" + "-" * 70 + "\n"
                  "Traceback (most recent call last):\n"
                  "  File \"argmaxtools/test_utils.py\", line 126, in test_torch2coreml_correctness_and_speedup\n"
                  "    self.assertGreater(psnr, TEST_PSNR_THR)\n"
                  f"AssertionError: {final!r} not greater than {MIN_PSNR}\n\n")
    err.write("-" * 70 + "\nRan 1 test in 0.001s\n\n" + ("OK\n" if passed else "FAILED (failures=1)\n"))
    err.flush()
    return path, passed


# ------------------------------------------- compute_psnr, and the parity check apart

def compute_psnr(a, b):
    """Apple's compute_psnr (torch2coreml.py L59 at e12202c) with the standard library, over two
    flat sequences of numbers of the same length (or anything with ravel().tolist())."""
    a, b = _flat(a), _flat(b)
    if len(a) != len(b):
        raise ValueError(f"operands could not be broadcast together with shapes ({len(a)},) ({len(b)},)")
    if any(math.isnan(x) for x in b):
        max_b = float("nan")  # numpy's max propagates nan
    else:
        max_b = max(abs(x) for x in b)
    sumdeltasq = sum((x - y) * (x - y) for x, y in zip(a, b))
    sumdeltasq /= len(b)
    sumdeltasq = math.sqrt(sumdeltasq) if sumdeltasq == sumdeltasq and sumdeltasq != float("inf") else sumdeltasq
    eps, eps2 = 1e-5, 1e-10
    ratio = (max_b + eps) / (sumdeltasq + eps2)
    if ratio != ratio:
        return float("nan")
    if ratio == float("inf"):
        return float("inf")
    return 20 * math.log10(ratio) if ratio > 0 else float("-inf")


def _flat(values):
    if hasattr(values, "ravel"):
        return values.ravel().tolist()
    return list(values)


def fake_forward(inputs, size):
    """The stand-in's "model": `size` outputs, each a deterministic function of the inputs (flat
    lists by name, in the package's order), in [-1, 1]. The reference half and the fake Core ML
    prediction both compute it, so a check on other inputs than the reference's shows."""
    sources = [values for _name, values in inputs]
    out = []
    for j in range(size):
        acc = 0.37 * j
        for values in sources:
            acc += values[j % len(values)] if values else 0.0
        out.append(math.sin(acc))
    return out


def scaled_to_psnr(reference, target):
    """reference * k, with k in [0, 1] chosen so that compute_psnr(reference, result) is target (to
    0.01 dB): from about -100 dB to 200 dB. nan gives nan outputs (compute_psnr: nan); inf, which
    compute_psnr cannot give on finite references, gives inf outputs (compute_psnr: nan too)."""
    if target != target:
        return [float("nan")] * len(reference)
    if target in (float("inf"), float("-inf")):
        return [float("inf")] * len(reference)
    peak = max(abs(x) for x in reference)
    rms = math.sqrt(sum(x * x for x in reference) / len(reference))

    def psnr(k):
        return 20 * math.log10((k * peak + 1e-5) / ((1 - k) * rms + 1e-10))
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if psnr(mid) < target:
            lo = mid
        else:
            hi = mid
    return [x * hi for x in reference]  # hi: at or above the target, so 35 passes as 35.0 does


# The converter's prefixes of the checks the action's parity entry moves out of its process.
PARITY_COREML_PREFIX = {
    "text_encoder": "text_encoder baseline PyTorch to reference CoreML",
    "text_encoder_2": "text_encoder baseline PyTorch to reference CoreML",
    "vae_decoder": "vae_decoder baseline PyTorch to baseline CoreML",
    "vae_encoder": "vae_encoder baseline PyTorch to baseline CoreML",
    "unet": "unet baseline PyTorch to reference CoreML",
    "refiner": "unet baseline PyTorch to reference CoreML",
}
PARITY_TORCH_PREFIX = "unet baseline to reference PyTorch"
CLIP_VOCAB_SIZE = 49408


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _input_dtype(info, name):
    """The dtypes of the converter's sample inputs: input_ids float32; the VAEs' float16 (float32
    where it converts them in FLOAT32 precision, SDXL's own VAE); the unet's float16."""
    if info["part"] in ("text_encoder", "text_encoder_2"):
        return "<f4"
    if info["part"] in ("vae_decoder", "vae_encoder"):
        return "<f4" if info.get("compute_precision") == "FLOAT32" else "<f2"
    return "<f2"


def parity_reference(converter, args, package_part, seed):
    """PARITY_REFERENCE for the action's python/parity.py: the stand-in's PyTorch half. It takes
    the input names and shapes from the package the stand-in wrote (the real half builds them from
    the pipeline's configs, as the converter does), draws the inputs as the converter does (token ids
    in [0, 49408) as floats, torch.rand's [0, 1) elsewhere, seeded), and gives fake_forward's output
    as the baseline. The unet family also gets `unet baseline to reference PyTorch`, its reference
    output scaled to that check's stand-in figure (STANDIN_PSNR, else the deterministic default)."""
    info, _weights = read_package(converter._get_out_path(args, package_part))
    rng = random.Random(f"parity|{seed}|{package_part}")
    inputs = []
    for name in info["inputs"]:
        shape = info["input_shapes"][name]
        if name == "input_ids":
            values = [float(rng.randrange(CLIP_VOCAB_SIZE)) for _ in range(_size(shape))]
        else:
            values = [rng.random() for _ in range(_size(shape))]
        if _input_dtype(info, name) == "<f2":
            values = [_to_float16(v) for v in values]
        inputs.append((name, values))
    output_name = info["outputs"][0]
    output_shape = info["output_shapes"][output_name]
    baseline = fake_forward(inputs, _size(output_shape))
    checks = []
    if package_part in UNET_FAMILY:
        _original, final = psnr_values(package_part, PARITY_TORCH_PREFIX)
        checks.append((PARITY_TORCH_PREFIX, ("<f4", output_shape, baseline),
                       ("<f4", output_shape, scaled_to_psnr(baseline, final))))
    return {
        "inputs": {name: (_input_dtype(info, name), info["input_shapes"][name], values) for name, values in inputs},
        "output_name": output_name,
        "output": ("<f4", output_shape, baseline),
        "torch_checks": checks,
    }


def _to_float16(value):
    import struct
    return struct.unpack("<e", struct.pack("<e", value))[0]


COMPUTE_UNITS = ("ALL", "CPU_AND_GPU", "CPU_ONLY", "CPU_AND_NE")


def parity_predict(package, compute_unit, inputs):
    """PARITY_COREML for the action's python/parity.py: the stand-in's Core ML half. Loads the
    package like coremltools (a half-written one fails), refuses inputs whose names or shapes are
    not the package's (as Core ML does), and returns {output: fake_forward's values scaled to the
    part's stand-in figure for its check}, flat lists of floats (Core ML gives float32 arrays).
    STANDIN_INVOCATIONS gets a line with the module `..._standin.parity_predict` and the compute unit."""
    record_invocation(f"{__name__}.parity_predict", compute_unit=compute_unit, package=os.path.basename(package))
    if compute_unit not in COMPUTE_UNITS:
        raise KeyError(compute_unit)
    info, _weights = read_package(package)
    expected = {name: list(info["input_shapes"][name]) for name in info["inputs"]}
    given = {name: list(item.shape) for name, item in inputs.items()}
    if given != expected:
        raise RuntimeError(f"Error computing NN outputs: the inputs {given} are not the model's {expected}")
    part = info["part"]
    ordered = [(name, inputs[name].values()) for name in info["inputs"]]
    output_name = info["outputs"][0]
    baseline = fake_forward(ordered, _size(info["output_shapes"][output_name]))
    _original, final = psnr_values(part, PARITY_COREML_PREFIX.get(part, "parity"))
    return {output_name: scaled_to_psnr(baseline, final)}


# ---------------------------------------------------------------- fake .mlpackage

DATA_DIR = os.path.join("Data", "com.apple.CoreML")


def _det_bytes(seed, size):
    return random.Random(seed).randbytes(size) if size else b""


def _manifest(seed):
    model_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"standin-model|{seed}")).upper()
    weights_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"standin-weights|{seed}")).upper()
    return {
        "fileFormatVersion": "1.0.0",
        "itemInfoEntries": {
            model_id: {
                "author": "com.apple.CoreML",
                "description": "CoreML Model Specification",
                "name": "model.mlmodel",
                "path": "com.apple.CoreML/model.mlmodel",
            },
            weights_id: {
                "author": "com.apple.CoreML",
                "description": "CoreML Model Weights",
                "name": "weights",
                "path": "com.apple.CoreML/weights",
            },
        },
        "rootModelIdentifier": model_id,
    }


def _fake_spec_bytes(info):
    # Not a real protobuf; just a few small, deterministic bytes that look binary.
    text = f"standin mlProgram {info.get('part')} {info.get('model_version')}".encode("utf-8")
    return b"\x08" + bytes([info.get("specification_version", 7)]) + b"\x12" + bytes([len(text) % 256]) + text


def _maybe_kill(part):
    if _env("STANDIN_KILL_AT") == part:
        sys.stderr.flush()
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def write_package(path, info, weights):
    """Write a fake .mlpackage the way a save does: directory first, then files, so a
    kill in between leaves a half-written package behind."""
    part = info["part"]
    if os.path.exists(path):  # MLModel.save replaces an existing package
        shutil.rmtree(path)
    data = os.path.join(path, DATA_DIR)
    os.makedirs(data)
    with open(os.path.join(path, "Manifest.json"), "w", encoding="utf-8") as f:
        json.dump(_manifest(f"{os.path.basename(path)}|{part}"), f, indent=4)
    with open(os.path.join(data, "model.mlmodel"), "wb") as f:
        f.write(_fake_spec_bytes(info))
    _maybe_kill(part)
    os.makedirs(os.path.join(data, "weights"))
    with open(os.path.join(data, "weights", "weight.bin"), "wb") as f:
        if _env("STANDIN_ENOSPC_AT") == part:
            f.write(weights[: len(weights) // 3])
            f.flush()
            raise OSError(errno.ENOSPC, "No space left on device")
        f.write(weights)
    info = dict(info)
    info["weight_bytes"] = len(weights)
    with open(os.path.join(data, "standin.json"), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2, sort_keys=True)


def package_files(path):
    data = os.path.join(path, DATA_DIR)
    return (os.path.join(data, "model.mlmodel"), os.path.join(data, "weights", "weight.bin"),
            os.path.join(data, "standin.json"))


def package_complete(path):
    return all(os.path.isfile(p) for p in package_files(path))


def read_package(path):
    """Load a package like coremltools would; returns (info, weights). A half-written
    package fails with FileNotFoundError naming the first missing file."""
    if not os.path.isdir(path):
        # load_spec() opens a non-directory path as a spec file
        with open(path, "rb"):
            pass
        raise ValueError(f"Unable to parse model spec from {path}")
    for p in package_files(path):
        if not os.path.isfile(p):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), p)
    model, weights_path, info_path = package_files(path)
    with open(info_path, encoding="utf-8") as f:
        info = json.load(f)
    with open(weights_path, "rb") as f:
        weights = f.read()
    return info, weights


def quantize_package(path, nbits):
    info, weights = read_package(path)
    palettize_frames(max(1, len(info.get("inputs", [])) * 97))
    info["nbits"] = nbits
    info["quantized_times"] = int(info.get("quantized_times") or 0) + 1
    new_size = max(1, (len(weights) * nbits) // 16) if weights else 0
    new_weights = _det_bytes(f"quantized|{nbits}|{len(weights)}|{info['part']}", new_size)
    model, weights_path, info_path = package_files(path)
    with open(weights_path, "wb") as f:
        f.write(new_weights)
    info["weight_bytes"] = len(new_weights)
    with open(info_path, "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2, sort_keys=True)


# ------------------------------------------------------------------------ chunking

def bisect_model(model, output_dir, merge_chunks_to_pipeline=False, check_output_correctness=False):
    """Imitation of coremltools.models.utils.bisect_model (coremltools >= 8).
    Its own INFO lines go to the `coremltools` logger and stay hidden."""
    ct_logger = logging.getLogger("coremltools")
    info, weights = read_package(model)
    half = len(weights) // 2
    milinternal_conversion_frames()
    milinternal_conversion_frames()
    delay()
    if check_output_correctness:
        for out_name in info.get("outputs", ["output"]):
            _, final = psnr_values("unet_chunks", out_name)
            # coremltools only warns; NaN is not < 35 and stays silent, as upstream.
            if final < MIN_PSNR:
                ct_logger.warning(f"{final:.1f} dB is low!")
    os.makedirs(output_dir, exist_ok=True)
    name = os.path.splitext(os.path.basename(model))[0] + "_"
    source_part = info.get("part", "model")
    boundary = ["input_271_cast_fp16", "input_253_cast_fp16"]
    if merge_chunks_to_pipeline:
        pinfo = dict(info)
        pinfo.update(part=f"{source_part}_chunked_pipeline", chunk=None, pipeline=True,
                     source_package=os.path.basename(model))
        write_package(os.path.join(output_dir, name + "chunked_pipeline.mlpackage"), pinfo, weights)
        return
    for idx, chunk_weights in ((1, weights[:half]), (2, weights[half:])):
        cinfo = dict(info)
        cinfo.update(part=f"{source_part}_chunk{idx}", chunk=idx, source_package=os.path.basename(model))
        shapes = dict(info.get("input_shapes", {}))
        if idx == 1:
            cinfo["outputs"] = list(boundary)
            cinfo["output_shapes"] = {b: [2, 1280, 8, 8] for b in boundary}
        else:
            keep = [n for n in info.get("inputs", []) if n != "sample"]
            cinfo["inputs"] = boundary + keep
            cinfo["input_shapes"] = dict({b: [2, 1280, 8, 8] for b in boundary},
                                         **{n: shapes[n] for n in keep if n in shapes})
        hist = dict(info.get("op_histogram", {}))
        cinfo["op_histogram"] = {k: max(1, v // 2) for k, v in hist.items()}
        write_package(os.path.join(output_dir, name + f"chunk{idx}.mlpackage"), cinfo, chunk_weights)


# ----------------------------------------------------------------------- compiling

def _formatted(dtype, shape):
    return f"MultiArray ({dtype} {' × '.join(str(d) for d in shape)})"


def _schema(names, shapes, dtype):
    out = []
    for name in names:
        shape = shapes.get(name, [1])
        out.append({
            "hasShapeFlexibility": "0",
            "isOptional": "0",
            "dataType": dtype,
            "formattedType": _formatted(dtype, shape),
            "shortDescription": "",
            "shape": json.dumps(shape),
            "name": name,
            "type": "MultiArray",
        })
    return out


_AVAILABILITY = {
    7: {"macOS": "13.0", "tvOS": "16.0", "visionOS": "1.0", "watchOS": "9.0", "iOS": "16.0", "macCatalyst": "16.0"},
    8: {"macOS": "14.0", "tvOS": "17.0", "visionOS": "1.0", "watchOS": "10.0", "iOS": "17.0", "macCatalyst": "17.0"},
    9: {"macOS": "15.0", "tvOS": "18.0", "visionOS": "2.0", "watchOS": "11.0", "iOS": "18.0", "macCatalyst": "18.0"},
}


def compiled_metadata(info, generated_class_name):
    nbits = info.get("nbits")
    hist = dict(info.get("op_histogram", {}))
    if nbits:
        hist["Ios16.constexprLutToDense"] = max(1, sum(hist.values()) // 7)
    precision = info.get("compute_precision", "FLOAT16")
    spec = info.get("specification_version", 7)
    storage = "Float16" if not nbits else f"Mixed (Float16, Palettized ({nbits} bits))"
    if precision == "FLOAT32":
        storage = "Float32" if not nbits else f"Mixed (Float32, Palettized ({nbits} bits))"
    in_dtype = "Float32" if precision == "FLOAT32" or info.get("part") in ("text_encoder", "text_encoder_2") \
        else "Float16"
    return [{
        "metadataOutputVersion": "3.0",
        "shortDescription": info.get("short_description", ""),
        "outputSchema": _schema(info.get("outputs", []), info.get("output_shapes", {}), "Float32"),
        "version": info.get("version", ""),
        "modelParameters": [],
        "author": info.get("author", ""),
        "specificationVersion": spec,
        "storagePrecision": storage,
        "license": info.get("license", ""),
        "mlProgramOperationTypeHistogram": hist,
        "computePrecision": "Mixed (Float32, Int32)" if precision == "FLOAT32" else "Mixed (Float16, Int32)",
        "isUpdatable": "0",
        "availability": _AVAILABILITY.get(spec, _AVAILABILITY[7]),
        "modelType": {"name": "MLModelType_mlProgram"},
        "userDefinedMetadata": dict(info.get("user_defined_metadata", {})),
        "inputSchema": _schema(info.get("inputs", []), info.get("input_shapes", {}), in_dtype),
        "generatedClassName": generated_class_name,
        "method": "predict",
    }]


def _mil_text(info):
    args = ", ".join(
        f"tensor<fp16, {json.dumps(info.get('input_shapes', {}).get(n, [1]))}> {n}"
        for n in info.get("inputs", []))
    target = {7: "ios16", 8: "ios17", 9: "ios18"}.get(info.get("specification_version", 7), "ios16")
    return (
        "program(1.0)\n"
        '[buildInfo = dict<tensor<string, []>, tensor<string, []>>({{"coremlc-component-MIL", "3304.5.2"}, '
        f'{{"coremlc-version", "3304.6.2"}}, {{"coremltools-version", "{COREMLTOOLS_VERSION}"}}}})]\n'
        "{\n"
        f"    func main<{target}>({args}) {{\n"
        "        // stand-in: no real operations\n"
        "    }\n"
        "}\n")


# xcrun's exit status when it finds no such tool, and coremlcompiler's for a model it cannot read.
XCRUN_NO_TOOL_STATUS = 72
COREMLCOMPILER_FAILED_STATUS = 1


def coremlcompiler_compile(source_path, output_dir):
    """Imitates `xcrun coremlcompiler compile SRC OUTDIR`: reports errors on stderr and never
    raises; returns the exit status the command would have (0, or XCRUN_NO_TOOL_STATUS /
    COREMLCOMPILER_FAILED_STATUS). Bundling runs it through os.system, which ignores the status;
    test/standin/bin/xcrun exits with it."""
    sys.stdout.flush()
    sys.stderr.flush()
    err = sys.stderr
    if knob_flag("STANDIN_NO_COREMLCOMPILER"):
        err.write('xcrun: error: unable to find utility "coremlcompiler", not a developer tool or in PATH\n')
        err.flush()
        return XCRUN_NO_TOOL_STATUS
    try:
        info, weights = read_package(source_path)
    except (OSError, ValueError):
        err.write(f"coremlcompiler: error: Failed to read model package at {os.path.abspath(source_path)}\n")
        err.flush()
        return COREMLCOMPILER_FAILED_STATUS
    name = os.path.splitext(os.path.basename(source_path))[0]
    out = os.path.join(output_dir, name + ".mlmodelc")
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(os.path.join(out, "analytics"))
    os.makedirs(os.path.join(out, "weights"))
    generated = name.replace("-", "_").replace(".", "_")
    with open(os.path.join(out, "metadata.json"), "w", encoding="utf-8") as f:
        json.dump(compiled_metadata(info, generated), f, indent=2)
    with open(os.path.join(out, "model.mil"), "w", encoding="utf-8") as f:
        f.write(_mil_text(info))
    with open(os.path.join(out, "coremldata.bin"), "wb") as f:
        f.write(_det_bytes(f"coremldata|{name}", 512))
    with open(os.path.join(out, "analytics", "coremldata.bin"), "wb") as f:
        f.write(_det_bytes(f"analytics|{name}", 243))
    with open(os.path.join(out, "weights", "weight.bin"), "wb") as f:
        f.write(weights)
    return 0


def write_fake_compiled_t5(path):
    os.makedirs(os.path.join(path, "analytics"))
    os.makedirs(os.path.join(path, "weights"))
    info = {
        "part": "text_encoder_t5", "inputs": ["input_ids"], "input_shapes": {"input_ids": [1, 128]},
        "outputs": ["encoder_hidden_states"], "output_shapes": {"encoder_hidden_states": [1, 128, 4096]},
        "op_histogram": {"Ios16.linear": 168, "Ios16.add": 97, "Ios16.matmul": 48, "Ios16.softmax": 24},
        "specification_version": 7, "user_defined_metadata": {}, "author": "argmaxinc",
        "version": "google/t5-v1_1-xxl", "license": "Apache 2.0", "compute_precision": "FLOAT16",
        "short_description": "T5 text encoder (stand-in)",
    }
    with open(os.path.join(path, "metadata.json"), "w", encoding="utf-8") as f:
        json.dump(compiled_metadata(info, "TextEncoderT5"), f, indent=2)
    with open(os.path.join(path, "model.mil"), "w", encoding="utf-8") as f:
        f.write(_mil_text(info))
    for rel, size in (("coremldata.bin", 512), (os.path.join("analytics", "coremldata.bin"), 243),
                      (os.path.join("weights", "weight.bin"), 4096)):
        with open(os.path.join(path, rel), "wb") as f:
            f.write(_det_bytes(f"t5|{rel}", size))


# ------------------------------------------------------------------- downloading

def _byte_chars():
    """The usual byte-level BPE alphabet in vocabulary order: printable bytes (as
    themselves) first, then the other bytes mapped to code points from 256 upwards."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    others = [b for b in range(256) if b not in keep]
    return [chr(b) for b in keep] + [chr(256 + i) for i in range(len(others))]


N_MERGES = 49408 - 512 - 2


def _merge_pairs():
    chars = _byte_chars()
    for i in range(N_MERGES):
        yield chars[(i // 256) % 256], chars[i % 256]


def synthetic_clip_vocab():
    chars = _byte_chars()
    vocab = {}
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    for a, b in _merge_pairs():
        vocab[a + b] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    assert len(vocab) == 49408
    return json.dumps(vocab, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def synthetic_clip_merges():
    lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in _merge_pairs()]
    return ("\n".join(lines) + "\n").encode("utf-8")


def synthetic_t5_tokenizer_config():
    return json.dumps({
        "additional_special_tokens": [f"<extra_id_{i}>" for i in range(100)],
        "eos_token": "</s>", "extra_ids": 100, "model_max_length": 512,
        "pad_token": "<pad>", "tokenizer_class": "T5Tokenizer", "unk_token": "<unk>",
    }, indent=2).encode("utf-8")


def synthetic_t5_tokenizer():
    vocab = [["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0]] + [[f"\u2581tok{i}", -float(i) / 10] for i in range(997)]
    return json.dumps({
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": 0, "content": "<pad>", "special": True}, {"id": 1, "content": "</s>", "special": True},
                         {"id": 2, "content": "<unk>", "special": True}],
        "normalizer": {"type": "Precompiled"}, "pre_tokenizer": {"type": "Metaspace"},
        "model": {"type": "Unigram", "unk_id": 2, "vocab": vocab},
    }).encode("utf-8")


BAD_VOCAB_PAGE = (
    "<!DOCTYPE html>\n<html class=\"\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n"
    "<title>Hugging Face - The AI community building the future.</title>\n</head>\n<body>\n"
    "<h1>500</h1>\n<p>Internal Error - We're working hard to fix this as soon as possible!</p>\n"
    "</body>\n</html>\n").encode("utf-8")


def download(url, kind=None):
    """Fetch a URL's body without any status check (like requests.get(url).content).
    http(s)/file URLs go through urllib, except huggingface.co, which is answered with
    synthetic content because this stand-in has no network."""
    if kind == "vocab" and knob_flag("STANDIN_BAD_VOCAB"):
        return BAD_VOCAB_PAGE
    if url.startswith("https://huggingface.co/"):
        base = url.rsplit("/", 1)[-1]
        if base == "vocab.json":
            return synthetic_clip_vocab()
        if base == "merges.txt":
            return synthetic_clip_merges()
        if base == "tokenizer_config.json":
            return synthetic_t5_tokenizer_config()
        if base == "tokenizer.json":
            return synthetic_t5_tokenizer()
        return b"Entry not found"
    import urllib.error  # imported lazily: it is slow to import and rarely needed
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            return resp.read()
    except urllib.error.HTTPError as e:
        return e.read()


def fake_hf_snapshot_path(repo_id):
    home = _env("HF_HUB_CACHE") or os.path.join(
        _env("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface"), "hub")
    digest = hashlib.sha1(repo_id.encode("utf-8")).hexdigest()
    return os.path.join(home, "models--" + repo_id.replace("/", "--"), "snapshots", digest)


# ------------------------------------------------- fake diffusers loader (fp16 copies)

# Components of the pipelines the stand-in knows, as model_index.json lists them.
_SD_COMPONENTS = {
    "vae": ["diffusers", "AutoencoderKL"], "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
    "scheduler": ["diffusers", "PNDMScheduler"], "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
    "feature_extractor": ["transformers", "CLIPImageProcessor"],
}
_XL_COMPONENTS = {
    "vae": ["diffusers", "AutoencoderKL"], "text_encoder": ["transformers", "CLIPTextModel"],
    "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"], "tokenizer": ["transformers", "CLIPTokenizer"],
    "tokenizer_2": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
    "scheduler": ["diffusers", "EulerDiscreteScheduler"],
}
_WEIGHTED = ("vae", "text_encoder", "text_encoder_2", "unet", "safety_checker")


class FakeFloat16Pipeline:
    """A pipeline as DiffusionPipeline.from_pretrained(..., torch_dtype=torch.float16) returns it,
    as far as the action's python/prepare_fp16.py uses it: save_pretrained() writes
    model_index.json and per component a config and (for models) a weights file named the way
    diffusers and transformers name them, with the variant."""

    def __init__(self, model_index):
        self.model_index = model_index

    def save_pretrained(self, save_directory, safe_serialization=True, variant=None):
        os.makedirs(save_directory, exist_ok=True)
        with open(os.path.join(save_directory, "model_index.json"), "w", encoding="utf-8") as f:
            json.dump(self.model_index, f, indent=2)
        xl = "XL" in self.model_index.get("_class_name", "")
        ext = "safetensors" if safe_serialization else "bin"
        for name, value in self.model_index.items():
            if name.startswith("_") or not isinstance(value, list) or not value or value[0] is None:
                continue
            folder = os.path.join(save_directory, name)
            os.makedirs(folder, exist_ok=True)
            config = {"_class_name": value[1], "_standin_torch_dtype": "float16"}
            if name == "unet":
                config["sample_size"] = 128 if xl else 64
            with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
                json.dump(config, f, indent=2)
            if name in _WEIGHTED:
                stem = "diffusion_pytorch_model" if value[0] == "diffusers" else "model"
                weights = f"{stem}.{variant}.{ext}" if variant else f"{stem}.{ext}"
                with open(os.path.join(folder, weights), "wb") as f:
                    f.write(_det_bytes(f"fp16|{name}", 1024))


def load_float16_pipeline(model_version, revision=None):
    """STAND-IN for DiffusionPipeline.from_pretrained(model_version, torch_dtype=torch.float16,
    revision=...): no variant, so a checkpoint without fp16 files loads too; no use_auth_token, so
    public Hub ids need no token. Class and components: a local folder's model_index.json; for a
    Hub id, SDXL when the id says `xl`, else SD (the stand-in has no network, so any revision
    gives the same)."""
    if os.path.isdir(model_version):
        path = os.path.join(model_version, "model_index.json")
        if not os.path.isfile(path):
            raise EnvironmentError(f"Error no file named model_index.json found in directory {model_version}.")
        with open(path, encoding="utf-8") as f:
            return FakeFloat16Pipeline(json.load(f))
    hub_validate(model_version)
    xl = "xl" in model_version.lower()
    index = {"_class_name": "StableDiffusionXLPipeline" if xl else "StableDiffusionPipeline", "_diffusers_version": "0.30.2"}
    index.update(_XL_COMPONENTS if xl else _SD_COMPONENTS)
    return FakeFloat16Pipeline(index)

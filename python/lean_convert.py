"""Convert one part of a Stable Diffusion pipeline with Apple's torch2coreml, holding only that part.

Shipped with the coreml-stable-diffusion action (input `lean-conversion`, on by default).
torch2coreml's `main` loads the whole pipeline (every text encoder, the VAE, the unet, the safety
checker) in each process, whatever part it converts; converting SD 1.5's unet that way peaks at
9.25 GiB on Linux (see bench/ and README "Memory at full size"). This entry parses the same
command line with the converter's own parser (`parser_spec()`) and calls the converter's own,
unchanged per-part functions (`convert_text_encoder`, `convert_vae_decoder`, `convert_vae_encoder`,
`convert_unet`) with a pipe-like object that holds only what that function reads:

- the component converted, loaded alone as DiffusionPipeline.from_pretrained would load it
  (float16, variant="fp16", safetensors), and of the other components only their configs (no
  weights: the unet's sample_size for the VAEs, the text encoders' sizes for the unet) and the
  scheduler (built from its config);
- the unet's diffusers copy is let go as soon as the converter's reference unet has copied its
  state dict (not after tracing), unless --check-output-correctness needs it for the baseline;
- gc between phases (load, trace, conversion), and on Linux with glibc `malloc_trim(0)` and
  `mallopt(M_MMAP_THRESHOLD, 128 KiB)`, so that freed tensors go back to the system instead of
  staying in glibc's heap. Those two are glibc-only: on macOS they are not called (its allocator
  returns memory on its own terms), and what they save on Linux says nothing about macOS;
- `torch.jit.trace(..., check_trace=False)`: the check re-traces and runs the model twice more to
  compare; the module returned is the first trace either way;
- coremltools' `FP16ComputePrecision.fp16_overflow` replaced by a chunked equivalent (the same
  comparisons, chunk by chunk) that does not build index arrays eight times the weight's size.

What it writes is what the command line writes (same weight.bin, same spec; tests compare both on
tiny pipelines with the real packages, bench/convert-memory.mjs at full size), and it logs the
converter's own lines for the part (`Converting unet`, `Saved unet into ...`, ...), through the
converter's logger (`INFO:python_coreml_stable_diffusion.torch2coreml:` instead of `INFO:__main__:`).
Parts it does not handle (safety checker, ControlNet, refiner, SD3's mmdit and VAE, quantize and
bundle steps) it refuses: the action runs `python -m ...torch2coreml` for those.

    python lean_convert.py <torch2coreml flags with exactly one of --convert-text-encoder,
                            --convert-vae-decoder, --convert-vae-encoder, --convert-unet>

At exit it prints `lean_convert: peak RSS <bytes> bytes` (getrusage of this process).

The loader is injectable: LEAN_CONVERT_LOADER=module:attribute names an object with
`index(args)` (model_index.json of args.model_version as a dict), `component(args, name, weights)`
(a component loaded alone; weights=False: an object whose `.config` is the component's config)
and `custom_vae(args)` (args.custom_vae_version's VAE); the default loads with diffusers/transformers, imported only then, so
that the entry runs against the test stand-in, which has no torch. Standard library only apart
from the converter and what its environment brings.
"""

import gc
import importlib
import os
import platform
import resource
import sys
import traceback
from types import SimpleNamespace

from helper_common import CONVERTER_MODULE, import_converter, loader_from_spec, require_functions

LOADER_ENV = "LEAN_CONVERT_LOADER"
# The converter's per-part functions this entry calls (apple/ml-stable-diffusion e12202c has them).
NEEDED = ("parser_spec", "convert_text_encoder", "convert_vae_decoder", "convert_vae_encoder", "convert_unet")
PARTS = ("text_encoder", "vae_decoder", "vae_encoder", "unet")
# Flags whose work this entry does not do lean: the converter's command line does it.
REFUSED = (("convert_safety_checker", "--convert-safety-checker"), ("convert_mmdit", "--convert-mmdit"),
           ("convert_controlnet", "--convert-controlnet"), ("refiner_version", "--refiner-version"),
           ("sd3_version", "--sd3-version"), ("quantize_nbits", "--quantize-nbits"),
           ("bundle_resources_for_swift_cli", "--bundle-resources-for-swift-cli"))
M_MMAP_THRESHOLD = -3  # glibc's malloc.h
MMAP_THRESHOLD = 128 * 1024


class LeanError(Exception):
    """A failure with a message meant for the workflow log."""


def log(message):
    # stderr, where the converter's logging goes, so the lines keep their order in the log.
    print(f"lean_convert: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ glibc

def _glibc():
    """glibc's libc through ctypes, or None (macOS, musl, Windows): the allocator knobs are glibc's."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        import ctypes
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


_LIBC = _glibc()


def set_mmap_threshold():
    """Large allocations (tensors) from mmap, returned to the system when freed (glibc only).
    glibc otherwise raises its threshold as big blocks are freed and keeps them in its heap."""
    return bool(_LIBC is not None and _LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def release_memory():
    """gc, and on glibc malloc_trim(0): what the previous phase freed goes back to the system."""
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def peak_rss_bytes():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


# -------------------------------------------------------------------- fp16_overflow

OVERFLOW_CHUNK = 1 << 20  # elements


def fp16_overflow_chunked(op, chunk=OVERFLOW_CHUNK):
    """coremltools 8.3.0's FP16ComputePrecision.fp16_overflow with the same comparisons made chunk by
    chunk: True when an fp32 const input holds a value with 65504 < |x| < 1e38 (infinities and nan
    do not count). The original takes np.where of the whole mask (int64 index arrays, 8 bytes per
    element and dimension: about 1.2 GB for SD 1.5's largest unet weight)."""
    import numpy as np
    for _, inputs in op.inputs.items():
        if not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        for var in inputs:
            if var.op is not None and var.op.op_type == "const" and var.is_tensor_or_scalar_of(dtype="fp32"):
                if values_overflow_fp16(var.op.val.val, chunk):
                    return True
    return False


def values_overflow_fp16(value, chunk=OVERFLOW_CHUNK):
    """The check on one value: np.max(|x|[|x| < 1e38], initial=0.0) > 65504, per chunk of the flat array."""
    import numpy as np
    flat = np.expand_dims(value, 0).reshape(-1)  # as the original: a scalar becomes one element
    for start in range(0, flat.size, chunk):
        abs_value = np.abs(flat[start:start + chunk])
        if np.max(abs_value[abs_value < 1e38], initial=0.0) > 65504:
            return True
    return False


def patch_fp16_overflow(loaded_only=False):
    """Installs the chunked check in coremltools (in this process only). False when coremltools has
    no such pass (the stand-in, another version): nothing is changed then. With loaded_only, only a
    coremltools the converter has already imported is patched: a converter that does not use it
    (the test stand-in) does not pay its import (seconds, torch with it)."""
    if loaded_only and "coremltools" not in sys.modules:
        return False
    try:
        from coremltools.converters.mil.mil.passes.defs.quantization import FP16ComputePrecision
    except ImportError:
        return False
    if not callable(getattr(FP16ComputePrecision, "fp16_overflow", None)):
        return False
    FP16ComputePrecision.fp16_overflow = staticmethod(fp16_overflow_chunked)
    return True


def patch_trace(loaded_only=False):
    """torch.jit.trace with check_trace=False and memory released before it (the converter calls
    torch.jit.trace through the torch module, so the attribute is what it gets). None without torch,
    and with loaded_only None when the converter has not imported torch (nothing of it would trace)."""
    if loaded_only and "torch" not in sys.modules:
        return None
    try:
        import torch
    except ImportError:
        return None
    original = torch.jit.trace

    def trace(*args, **kwargs):
        kwargs["check_trace"] = False
        release_memory()
        return original(*args, **kwargs)

    torch.jit.trace = trace
    return original


def patch_between_phases(converter):
    """Memory released before and after the converter's _convert_to_coreml (trace -> MIL -> save)."""
    original = getattr(converter, "_convert_to_coreml", None)
    if original is None:
        return

    def convert_to_coreml(*args, **kwargs):
        release_memory()
        try:
            return original(*args, **kwargs)
        finally:
            release_memory()

    converter._convert_to_coreml = convert_to_coreml


# ------------------------------------------------------------------------- loading

def _config_namespace(config):
    """A config as the converter reads it: attributes (diffusers' FrozenDict has them too)."""
    if isinstance(config, dict):
        return SimpleNamespace(**config)
    return config


class DiffusersLoader:
    """Components loaded one by one as DiffusionPipeline.from_pretrained(model_version,
    torch_dtype=torch.float16, variant="fp16", use_safetensors=True) loads each of them (diffusers
    0.30.2's load_sub_model: the class named in model_index.json, its subfolder, float16, the fp16
    variant, low_cpu_mem_usage)."""

    def index(self, args):
        from diffusers import DiffusionPipeline
        return dict(DiffusionPipeline.load_config(args.model_version))

    def _class(self, args, name):
        model_version = args.model_version
        entry = self.index(args).get(name)
        if not isinstance(entry, (list, tuple)) or len(entry) != 2 or entry[0] is None:
            raise LeanError(f"{model_version} has no {name} in its model_index.json")
        library, class_name = entry
        if library not in ("diffusers", "transformers"):
            raise LeanError(f"{name} is a {library}.{class_name}: this entry loads diffusers and transformers classes only")
        return getattr(importlib.import_module(library), class_name)

    @staticmethod
    def _where(args, name):
        """A local pipeline's component folder, as the pipeline loads it; a Hub id's subfolder (only
        that component's files are fetched, or read from the cache offline)."""
        if os.path.isdir(args.model_version):
            return os.path.join(args.model_version, name), {}
        return args.model_version, {"subfolder": name}

    def component(self, args, name, weights=True):
        import torch
        cls = self._class(args, name)
        where, sub = self._where(args, name)
        is_model = isinstance(cls, type) and issubclass(cls, torch.nn.Module)
        if not is_model:  # tokenizer, scheduler: small, loaded whole
            return cls.from_pretrained(where, **sub)
        if weights:
            return cls.from_pretrained(where, torch_dtype=torch.float16, variant="fp16", use_safetensors=True,
                                       low_cpu_mem_usage=True, **sub)
        return SimpleNamespace(config=self._config_only(cls, where, sub))

    @staticmethod
    def _config_only(cls, where, sub):
        """The config a loaded model would have (defaults filled in), without its weights."""
        config_class = getattr(cls, "config_class", None)
        if config_class is not None and hasattr(config_class, "from_pretrained"):  # transformers
            return config_class.from_pretrained(where, **sub)
        from accelerate import init_empty_weights  # diffusers: instantiated on the meta device
        with init_empty_weights():
            model = cls.from_config(cls.load_config(where, **sub))
        return model.config

    def custom_vae(self, args):
        import torch
        from diffusers import AutoencoderKL
        return AutoencoderKL.from_pretrained(args.custom_vae_version, torch_dtype=torch.float16)


def resolve_loader(spec):
    """`module:attribute` -> that object; None -> DiffusersLoader()."""
    loader = loader_from_spec(spec, LOADER_ENV, None, LeanError)
    return loader if loader is not None else DiffusersLoader()


class ReleasedAfterCopy:
    """pipe.unet for convert_unet: the diffusers model until the converter has taken its state dict
    (`reference_unet.load_state_dict(pipe.unet.state_dict())`), then only its config. The state
    dict holds the tensors while the reference unet copies them; once that statement ends nothing
    holds them. With release=False (the converter's parity check runs the diffusers unet after
    tracing) it stays a plain pass-through."""

    def __init__(self, model, release=True):
        self.config = model.config
        self._model = model
        self._release = release

    def state_dict(self, *args, **kwargs):
        state = self._model.state_dict(*args, **kwargs)
        if self._release:
            self._model = None
        return state

    def __getattr__(self, name):
        model = self.__dict__.get("_model")
        if model is None:
            raise AttributeError(f"the diffusers unet was let go after its state dict was copied (no {name})")
        return getattr(model, name)

    def __call__(self, *args, **kwargs):
        return self.__getattr__("__call__")(*args, **kwargs)


class LeanPipe:
    """What the converter's per-part functions read of a pipeline: the components set on it, and
    `config` (model_index.json's entries, as pipe.config has them). A component the pipeline does
    not have is no attribute; one that model_index.json sets to null is None."""

    def __init__(self, index):
        self.config = _config_namespace({k: v for k, v in index.items()})


def has_component(index, name):
    entry = index.get(name)
    return isinstance(entry, (list, tuple)) and len(entry) == 2 and entry[0] is not None


def _set_config_only(pipe, loader, index, args, name):
    """pipe.<name> as the converter's hasattr/None checks see it, with only its config."""
    if name not in index:
        return
    setattr(pipe, name, loader.component(args, name, weights=False) if has_component(index, name) else None)


def pipe_for(part, args, loader, index):
    """The pipe-like object for one part (text encoders: see text_encoders())."""
    pipe = LeanPipe(index)
    if part in ("vae_decoder", "vae_encoder"):
        pipe.unet = loader.component(args, "unet", weights=False)
        pipe.vae = loader.custom_vae(args) if args.custom_vae_version else loader.component(args, "vae")
    elif part == "unet":
        for name in ("text_encoder", "text_encoder_2"):
            _set_config_only(pipe, loader, index, args, name)
        pipe.scheduler = loader.component(args, "scheduler")
        pipe.unet = ReleasedAfterCopy(loader.component(args, "unet"), release=not args.check_output_correctness)
    else:
        raise LeanError(f"no pipe for {part}")
    return pipe


# ---------------------------------------------------------------------------- plan

def load_converter():
    return import_converter(LeanError)


def check_converter(converter):
    require_functions(converter, NEEDED, LeanError)


def part_of(args):
    """The one part the parsed command line converts, or LeanError saying why this entry does not."""
    refused = [flag for name, flag in REFUSED if getattr(args, name, None) not in (None, False, [])]
    if refused:
        raise LeanError(f"{', '.join(refused)}: not converted lean; run `python -m {CONVERTER_MODULE}` for this step")
    asked = [part for part in PARTS if getattr(args, f"convert_{part}", False)]
    if len(asked) != 1:
        flags = ", ".join(f"--convert-{p.replace('_', '-')}" for p in PARTS)
        raise LeanError(f"give exactly one of {flags} (got {len(asked)}): this entry converts one part per process")
    return asked[0]


def set_attention(converter, args):
    """What main does before converting: the attention implementation in effect, logged."""
    unet_module = getattr(converter, "unet", None)
    if unet_module is not None and hasattr(unet_module, "AttentionImplementations"):
        unet_module.ATTENTION_IMPLEMENTATION_IN_EFFECT = unet_module.AttentionImplementations[args.attention_implementation]
        in_effect = unet_module.ATTENTION_IMPLEMENTATION_IN_EFFECT
    else:  # the stand-in logs the same text
        in_effect = f"AttentionImplementations.{args.attention_implementation}"
    converter.logger.info(f"Attention implementation in effect: {in_effect}")


def convert(converter, args, part, loader):
    """Converts `part` as main would, with main's `Converting <part>` / `Converted <part>` lines."""
    logger = converter.logger
    version = args.model_version
    index = loader.index(args)
    if part == "text_encoder":
        for name, tokenizer in (("text_encoder", "tokenizer"), ("text_encoder_2", "tokenizer_2")):
            if not has_component(index, name):
                continue
            log(f"loading {name} alone from {version}")
            text_encoder = loader.component(args, name)
            tokens = loader.component(args, tokenizer)
            logger.info(f"Converting {name}")
            converter.convert_text_encoder(text_encoder, tokens, name, args)
            del text_encoder, tokens
            release_memory()
            logger.info(f"Converted {name}")
        return
    log(f"loading {'the custom VAE' if part.startswith('vae') and args.custom_vae_version else part.split('_')[0]} "
        f"alone from {args.custom_vae_version if part.startswith('vae') and args.custom_vae_version else version}")
    pipe = pipe_for(part, args, loader, index)
    release_memory()
    logger.info(f"Converting {part}")
    getattr(converter, f"convert_{part}")(pipe, args)
    del pipe
    release_memory()
    logger.info(f"Converted {part}")


def main(argv=None, converter=None, environ=None):
    environ = os.environ if environ is None else environ
    mmap_threshold = set_mmap_threshold()  # first: before the imports allocate
    code = 1
    try:
        try:
            loader = resolve_loader(environ.get(LOADER_ENV))
            converter = converter if converter is not None else load_converter()
            check_converter(converter)
            # The converter's parser: its flags, choices and defaults; a bad flag exits 2 as it would.
            args = converter.parser_spec().parse_args(argv)
            part = part_of(args)
        except LeanError as error:
            print(f"lean_convert: {error}", file=sys.stderr)
            return code
        os.makedirs(args.o, exist_ok=True)  # as the converter's main does first
        savings = [name for name, on in (("mallopt(M_MMAP_THRESHOLD, 128 KiB) and malloc_trim (glibc)", mmap_threshold),
                                         # Apple's torch2coreml imports coremltools and torch when it is
                                         # imported (above); a converter that does not is not patched.
                                         ("chunked fp16_overflow", patch_fp16_overflow(loaded_only=True)),
                                         ("trace without check", patch_trace(loaded_only=True) is not None)) if on]
        patch_between_phases(converter)
        log(f"converting {part} alone ({', '.join(savings) or 'no memory savings available here'})")
        set_attention(converter, args)
        try:
            convert(converter, args, part, loader)
        except LeanError as error:
            print(f"lean_convert: {error}", file=sys.stderr)
            return code
        except Exception as error:  # the converter's own errors (PSNR, disk, loading): say which part failed
            traceback.print_exc()
            print(f"lean_convert: converting {part} failed: {type(error).__name__}: {error}", file=sys.stderr)
            return code
        code = 0
        return code
    finally:
        print(f"lean_convert: peak RSS {peak_rss_bytes()} bytes", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())

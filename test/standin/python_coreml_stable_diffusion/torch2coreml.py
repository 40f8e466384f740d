"""STAND-IN for python_coreml_stable_diffusion.torch2coreml (apple/ml-stable-diffusion 1.1.0).

Same command line, same order of work, same output names and the same log lines as the
real converter, but nothing is converted: every "model" is a small fake .mlpackage.
Behaviour knobs are STANDIN_* environment variables, listed in ../README.md.
Used only by this repository's tests.
"""

import argparse
import errno
import json
import logging
import os
import re
from collections import OrderedDict
from types import SimpleNamespace

from python_coreml_stable_diffusion import _standin
from python_coreml_stable_diffusion import _standin_hub

_standin.import_coremltools()

from python_coreml_stable_diffusion import chunk_mlprogram  # noqa: E402

logging.basicConfig()
logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

COMPUTE_UNITS = ("ALL", "CPU_AND_GPU", "CPU_ONLY", "CPU_AND_NE")
ATTENTION_IMPLEMENTATIONS = ("ORIGINAL", "SPLIT_EINSUM", "SPLIT_EINSUM_V2")
SD3_CHECKPOINT = "sd3_medium.safetensors"
SDXL_BASE = "stabilityai/stable-diffusion-xl-base-1.0"

LICENSE_SD = "OpenRAIL (https://huggingface.co/spaces/CompVis/stable-diffusion-license)"
LICENSE_XL = "OpenRAIL++-M (https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0/blob/main/LICENSE.md)"
LICENSE_SD3 = "Stability AI Community License (https://huggingface.co/stabilityai/stable-diffusion-3-medium/blob/main/LICENSE.md)"
DESC_SD = ("Stable Diffusion generates images conditioned on text and/or other images as input through the "
           "diffusion process. Please refer to https://arxiv.org/abs/2112.10752 for details.")
DESC_UNET = ("Stable Diffusion generates images conditioned on text or other images as input through the "
             "diffusion process. Please refer to https://arxiv.org/abs/2112.10752 for details.")
DESC_SD3 = ("Stable Diffusion 3 generates images conditioned on text or other images as input through the "
            "diffusion process. Please refer to https://arxiv.org/pdf/2403.03206 for details.")
DESC_CONTROLNET = ("ControlNet is a neural network structure to control diffusion models by adding extra "
                   "conditions. Please refer to https://arxiv.org/abs/2302.05543 for details.")

# "Converting PyTorch Frontend ==> MIL Ops" totals, roughly what the real models have.
OPS = {
    "text_encoder": 956, "text_encoder_2": 1930, "vae_decoder": 385, "vae_encoder": 353,
    "unet": 7876, "refiner": 9854, "control-unet": 7919, "safety_checker": 1139,
    "controlnet": 3468, "mmdit": 4801,
}

# ------------------------------------------------------------------ fake pipeline


class _Pipeline:
    """What the converter needs to know about a diffusers pipeline."""

    def __init__(self, class_name, model_index=None, local_dir=None):
        self.class_name = class_name
        self.is_xl = "XL" in class_name
        refiner = class_name == "StableDiffusionXLImg2ImgPipeline"
        if self.is_xl and refiner:
            unet = dict(sample_size=128, in_channels=4, cross_attention_dim=1280,
                        block_out_channels=[384, 768, 1536, 1536], use_linear_projection=True, layers_per_block=2)
            components = dict(vae=True, text_encoder=None, text_encoder_2=True, unet=True, scheduler=True)
            self.requires_aesthetics_score = True
        elif self.is_xl:
            unet = dict(sample_size=128, in_channels=4, cross_attention_dim=2048,
                        block_out_channels=[320, 640, 1280], use_linear_projection=True, layers_per_block=2)
            components = dict(vae=True, text_encoder=True, text_encoder_2=True, unet=True, scheduler=True)
            self.requires_aesthetics_score = False
        else:
            unet = dict(sample_size=64, in_channels=4, cross_attention_dim=768,
                        block_out_channels=[320, 640, 1280, 1280], use_linear_projection=False, layers_per_block=2)
            components = dict(vae=True, text_encoder=True, unet=True, scheduler=True, safety_checker=True)
            self.requires_aesthetics_score = False
        self.vae_sample_size = 1024 if self.is_xl else 512
        self.latent_channels = 4
        self.text_encoder_2_hidden_size = 1280
        self.text_encoder_hidden_size = 768
        if model_index is not None:
            components = {}
            for key, value in model_index.items():
                if key.startswith("_") or not isinstance(value, list):
                    continue
                components[key] = bool(value and value[0] is not None)
            self.requires_aesthetics_score = bool(model_index.get("requires_aesthetics_score", False))
        if local_dir is not None:
            cfg = _read_json(os.path.join(local_dir, "unet", "config.json"))
            for key in unet:
                if key in cfg:
                    unet[key] = cfg[key]
            if isinstance(unet["sample_size"], (list, tuple)):
                unet["sample_size"] = unet["sample_size"][0]
            vae_cfg = _read_json(os.path.join(local_dir, "vae", "config.json"))
            if "sample_size" in vae_cfg:
                size = vae_cfg["sample_size"]
                self.vae_sample_size = size[0] if isinstance(size, (list, tuple)) else size
            self.latent_channels = vae_cfg.get("latent_channels", self.latent_channels)
            te = _read_json(os.path.join(local_dir, "text_encoder", "config.json"))
            self.text_encoder_hidden_size = te.get("hidden_size", self.text_encoder_hidden_size)
            te2 = _read_json(os.path.join(local_dir, "text_encoder_2", "config.json"))
            self.text_encoder_2_hidden_size = te2.get("hidden_size", self.text_encoder_2_hidden_size)
        self.unet_config = unet
        # component name -> True (loaded), False (None in model_index); absent = no attribute
        self.components = components
        # What the converter's functions read, shaped as diffusers has it: pipe.<component>.config
        # (None for a component model_index.json sets to null; no attribute for one it lacks), the
        # tokenizers' model_max_length, pipe.config.requires_aesthetics_score (img2img pipelines).
        shapes = {
            "unet": dict(unet),
            "vae": dict(latent_channels=self.latent_channels, sample_size=self.vae_sample_size),
            "text_encoder": dict(hidden_size=self.text_encoder_hidden_size, max_position_embeddings=77, vocab_size=49408),
            "text_encoder_2": dict(hidden_size=self.text_encoder_2_hidden_size, max_position_embeddings=77, vocab_size=49408),
        }
        # A model_index.json without a unet or vae entry still gets them (the stand-in is lenient).
        for name, present in dict(dict(unet=True, vae=True), **components).items():
            if not present:
                setattr(self, name, None)
            elif name in shapes:
                setattr(self, name, SimpleNamespace(config=SimpleNamespace(**shapes[name])))
            elif name in ("tokenizer", "tokenizer_2"):
                setattr(self, name, SimpleNamespace(model_max_length=77))
            else:
                setattr(self, name, SimpleNamespace(config=SimpleNamespace()))
        for name in ("tokenizer", "tokenizer_2"):
            text_encoder = name.replace("tokenizer", "text_encoder")
            if components.get(text_encoder) and name not in components:
                setattr(self, name, SimpleNamespace(model_max_length=77))
        self.config = SimpleNamespace(**({"requires_aesthetics_score": self.requires_aesthetics_score} if refiner or
                                         (model_index or {}).get("requires_aesthetics_score") is not None else {}))

    def has(self, name):
        return getattr(self, name, None) is not None


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _load_pipeline(location, args, refiner=False, warn=True):
    """DiffusionPipeline.from_pretrained(location, variant="fp16", use_safetensors=True,
    use_auth_token=True), as far as its outcome is visible. warn=False: no pipeline-level warning
    (a component loaded alone with its class's from_pretrained prints none)."""
    warn_ignored = _standin.warn_ignored_use_auth_token if warn else (lambda class_name: None)
    if os.path.isdir(location):
        index_path = os.path.join(location, "model_index.json")
        if not os.path.isfile(index_path):
            raise EnvironmentError(f"Error no file named model_index.json found in directory {location}.")
        with open(index_path, encoding="utf-8") as f:
            model_index = json.load(f)
        # STANDIN_NO_FP16=hub: only Hub checkpoints lack fp16 files; local folders (fp16 copies) load.
        no_fp16 = _standin.knob_flag("STANDIN_NO_FP16") and _standin._env("STANDIN_NO_FP16") != "hub"
        if no_fp16 or os.path.exists(os.path.join(location, "standin-no-fp16")):
            raise EnvironmentError(_standin.NO_FP16_MESSAGE)
        class_name = model_index.get("_class_name", "StableDiffusionPipeline")
        warn_ignored(class_name)
        return _Pipeline(class_name, model_index=model_index, local_dir=location)

    _standin.hub_validate(location)
    # diffusers checks the variant files only when it asks the Hub: offline, from the cache, a
    # checkpoint without fp16 files loads its plain weights (STANDIN_NO_FP16=hub); =1 always fails.
    no_fp16 = _standin.knob_flag("STANDIN_NO_FP16")
    if no_fp16 and not (_standin._env("STANDIN_NO_FP16") == "hub" and _standin_hub.offline()):
        raise EnvironmentError(_standin.NO_FP16_MESSAGE)
    cached = _standin_hub.snapshot(location)
    if cached is not None:
        model_index = _read_json(os.path.join(cached, "model_index.json"))
        if model_index:
            class_name = model_index.get("_class_name", "StableDiffusionPipeline")
            warn_ignored(class_name)
            return _Pipeline(class_name, model_index=model_index, local_dir=cached)
    if refiner:
        class_name = "StableDiffusionXLImg2ImgPipeline"
    elif args.xl_version:
        class_name = "StableDiffusionXLPipeline"
    else:
        class_name = "StableDiffusionPipeline"
    warn_ignored(class_name)
    return _Pipeline(class_name)


def get_pipeline(args, refiner=False):
    model_version = args.model_version

    logger.info(f"Initializing DiffusionPipeline with {model_version}..")
    if args.custom_vae_version:
        # AutoencoderKL.from_pretrained(custom_vae_version) runs without use_auth_token
        if not os.path.isdir(args.custom_vae_version):
            _standin.hub_validate(args.custom_vae_version)
        pipe = _load_pipeline(model_version, args, refiner=refiner)
    elif args.sd3_version:
        args.xl_version = True
        logger.info(f"SD3 version specified, initializing DiffusionPipeline with {SDXL_BASE} for non-SD3 components..")
        pipe = _load_pipeline(SDXL_BASE, args)
    else:
        pipe = _load_pipeline(model_version, args, refiner=refiner)

    logger.info(f"Done. Pipeline in effect: {pipe.class_name}")
    return pipe


# ------------------------------------------------------------------------ helpers

def _get_out_path(args, submodule_name):
    fname = f"Stable_Diffusion_version_{args.model_version}_{submodule_name}.mlpackage"
    fname = fname.replace("/", "_")
    return os.path.join(args.o, fname)


def _controlnet_out_path(args, controlnet_model_version):
    controlnet_model_name = controlnet_model_version.replace("/", "_")
    return os.path.join(args.o, f"ControlNet_{controlnet_model_name}.mlpackage")


_TARGETS = {"macOS13": 7, "iOS16": 7, "macOS14": 8, "iOS17": 8, "macOS15": 9, "iOS18": 9}


def _get_deployment_target(target_string, warn=True):
    if target_string in _TARGETS:
        return target_string, _TARGETS[target_string]
    if warn:
        logger.warning(f"Unknown deployment target {target_string}. Using macOS13 as fallback.")
    return "macOS13", 7


def _torch_spec(shapes):
    items = ", ".join(f"'{k}': (torch.Size({list(v)}), torch.float32)" for k, v in shapes.items())
    return "{" + items + "}"


def _latent(args, pipe):
    unet = getattr(pipe, "unet", None)
    # After convert_unet deleted pipe.unet, later parts of main (safety checker, mmdit) record the
    # pipeline's own sample size in standin.json.
    size = unet.config.sample_size if unet is not None else pipe.unet_config["sample_size"]
    return (args.latent_h or size, args.latent_w or size)


def _histogram(kind, attention, scale=1):
    if kind == "text_encoder":
        hist = {"Ios16.linear": 72, "Ios16.add": 37, "Ios16.layerNorm": 25, "Ios16.matmul": 24,
                "Ios16.softmax": 12, "Ios16.mul": 36, "Ios16.sigmoid": 12, "Ios16.reshape": 48,
                "Transpose": 36, "Ios16.gather": 1, "Ios16.cast": 3}
    elif kind == "vae":
        hist = {"Ios16.conv": 36, "Ios16.add": 20, "Ios16.silu": 29, "Ios16.batchNorm": 30,
                "Ios16.reduceMean": 60, "Ios16.matmul": 2, "Ios16.softmax": 1, "UpsampleNearestNeighbor": 3}
    elif kind == "safety_checker":
        hist = {"Ios16.linear": 146, "Ios16.add": 74, "Ios16.layerNorm": 50, "Ios16.matmul": 48,
                "Ios16.softmax": 24, "Ios16.conv": 1, "Ios16.greater": 2, "Select": 1}
    elif kind == "mmdit":
        hist = {"Ios16.linear": 288, "Ios16.add": 311, "Ios16.mul": 402, "Ios16.matmul": 96,
                "Ios16.softmax": 48, "Ios16.layerNorm": 97, "Ios16.conv": 1}
    else:  # unet family and controlnet (both use the ANE-optimised attention)
        hist = {"Ios16.conv": 282, "Ios16.add": 218, "Ios16.mul": 118, "Ios16.silu": 47,
                "Ios16.batchNorm": 61, "Ios16.reduceMean": 188, "Ios16.gelu": 16, "Concat": 20,
                "Ios16.realDiv": 38, "Ios16.sigmoid": 38, "Transpose": 32}
        if attention == "SPLIT_EINSUM":
            hist.update({"Ios16.einsum": 1280, "Ios16.softmax": 640, "Split": 96})
        elif attention == "SPLIT_EINSUM_V2":
            hist.update({"Ios16.einsum": 320, "Ios16.softmax": 160, "Split": 48})
        else:
            hist.update({"Ios16.matmul": 64, "Ios16.softmax": 32})
        if kind == "controlnet":
            hist = {k: max(1, v // 2) for k, v in hist.items()}
    return {k: v * scale for k, v in hist.items()}


def _base_meta():
    return {
        "com.github.apple.coremltools.source": f"torch=={_standin.TORCH_VERSION}",
        "com.github.apple.coremltools.source_dialect": "TorchScript",
        "com.github.apple.coremltools.version": _standin.COREMLTOOLS_VERSION,
    }


def _info(args, part, inputs, outputs, *, pipe, hist, version=None, author_version=None,
          compute_unit=None, precision="FLOAT16", license_=None, description=DESC_SD,
          extra_meta=None, batch_size=None, **extra):
    latent_h, latent_w = _latent(args, pipe) if pipe is not None else (args.latent_h, args.latent_w)
    meta = _base_meta()
    meta.update(extra_meta or {})
    info = {
        "part": part,
        "model_version": args.model_version,
        "version": version or args.model_version,
        "author": f"Please refer to the Model Card available at huggingface.co/{author_version or args.model_version}",
        "license": license_ or (LICENSE_XL if args.xl_version else LICENSE_SD),
        "short_description": description,
        "attention_implementation": args.attention_implementation,
        "compute_unit": compute_unit or args.compute_unit,
        "compute_precision": precision,
        "latent_h": latent_h,
        "latent_w": latent_w,
        "xl": bool(args.xl_version),
        "sd3": bool(args.sd3_version),
        "nbits": None,
        "quantized_times": 0,
        "chunk": None,
        "batch_size": batch_size,
        "requested_min_deployment_target": args.min_deployment_target,
        "min_deployment_target": None,
        "specification_version": None,
        "inputs": list(inputs),
        "input_shapes": {k: list(v) for k, v in inputs.items()},
        "outputs": list(outputs),
        "output_shapes": {k: list(v) for k, v in outputs.items()},
        "user_defined_metadata": meta,
        "op_histogram": hist,
        "standin": True,
    }
    info.update(extra)
    return info


def _weights(info, out_path):
    kind = info["part"]
    seed = f"{os.path.basename(out_path)}|{info['attention_implementation']}|{info['latent_h']}x{info['latent_w']}"
    return _standin._det_bytes(seed, _standin.weight_bytes(kind))


def _convert_and_save(args, submodule_name, out_path, info, saved_name, via_torch=True, diffusionkit=None):
    """The part of _convert_to_coreml() + save that shows: log line, target warning,
    progress frames, then the package write and the `Saved ...` line. `diffusionkit`:
    (STANDIN_PSNR key, unittest name, model name) of a part DiffusionKit converts and checks."""
    if via_torch:
        logger.info(f"Converting {submodule_name} to CoreML..")
    target, spec = _get_deployment_target(args.min_deployment_target, warn=via_torch)
    info["min_deployment_target"] = target
    info["specification_version"] = spec
    # Every traced part returns a tuple but the VAEs (seen on the unet, text encoders and ControlNet).
    if via_torch and info["part"] not in ("vae_decoder", "vae_encoder"):
        logging.getLogger("coremltools").warning("Tuple detected at graph output. This will be flattened in the converted model.")
    _standin.torch_conversion_frames(OPS.get(info["part"], 1000))
    _standin.delay()
    if diffusionkit is not None:
        converted, saved = _standin.diffusionkit_convert(*diffusionkit, args.o)
        if not saved:
            # ct.models.MLModel(converted_path) on the package DiffusionKit did not save.
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", converted)
    _standin.write_package(out_path, info, _weights(info, out_path))
    if saved_name is not None:
        logger.info(f"Saved {saved_name} into {out_path}")


# --------------------------------------------------------------------- converters

def _record_call(function):
    """Called by an importer (the action's python/quantize_bundle.py or lean_convert.py), not
    through main: record it."""
    if __name__ != "__main__":
        _standin.record_invocation(f"{__name__}.{function}")


def convert_text_encoder(text_encoder, tokenizer, submodule_name, args):
    _record_call("convert_text_encoder")
    out_path = _get_out_path(args, submodule_name)
    if os.path.exists(out_path):
        logger.info(f"`{submodule_name}` already exists at {out_path}, skipping conversion.")
        return

    seq = tokenizer.model_max_length
    inputs = OrderedDict([("input_ids", (1, seq))])
    logger.info(f"Sample inputs spec: {_torch_spec(inputs)}")
    logger.info(f"JIT tracing {submodule_name}..")
    logger.info("Done.")

    hidden = text_encoder.config.hidden_size
    first = "hidden_embeds" if args.xl_version else "last_hidden_state"
    outputs = OrderedDict([(first, (1, seq, hidden)), ("pooled_outputs", (1, hidden))])
    # The text encoder is converted without the pipeline: its package knows no latent size.
    info = _info(args, submodule_name, inputs, outputs, pipe=None, hist=_histogram("text_encoder", None))
    _convert_and_save(args, submodule_name, out_path, info, saved_name="text_encoder")

    if args.check_output_correctness:
        _standin.report_correctness(logger, submodule_name, "text_encoder baseline PyTorch to reference CoreML")


def _unet_deleted(function):
    return RuntimeError("convert_unet() deletes pipe.unet to save RAM. "
                        f"Please use {function}() before convert_unet()")


def convert_vae_decoder(pipe, args):
    _record_call("convert_vae_decoder")
    out_path = _get_out_path(args, "vae_decoder")
    if os.path.exists(out_path):
        logger.info(f"`vae_decoder` already exists at {out_path}, skipping conversion.")
        return

    if not hasattr(pipe, "unet"):
        raise _unet_deleted("convert_vae_decoder")
    h, w = _latent(args, pipe)
    if args.custom_vae_version is None and args.xl_version:
        precision, compute_unit = "FLOAT32", "CPU_AND_GPU"
    else:
        precision, compute_unit = "FLOAT16", None
    inputs = OrderedDict([("z", (1, pipe.vae.config.latent_channels, h, w))])
    outputs = OrderedDict([("image", (1, 3, h * 8, w * 8))])
    info = _info(args, "vae_decoder", inputs, outputs, pipe=pipe, hist=_histogram("vae", None),
                 precision=precision, compute_unit=compute_unit,
                 custom_vae_version=args.custom_vae_version)
    _convert_and_save(args, "vae_decoder", out_path, info, saved_name="vae_decoder")

    if args.check_output_correctness:
        _standin.report_correctness(logger, "vae_decoder", "vae_decoder baseline PyTorch to baseline CoreML")


def convert_vae_decoder_sd3(args, pipe):
    out_path = _get_out_path(args, "vae_decoder")
    if os.path.exists(out_path):
        logger.info(f"`vae_decoder` already exists at {out_path}, skipping conversion.")
        return
    # DiffusionKit loads the MMDiT and the VAE from the one SD3 checkpoint it downloads.
    _standin_hub.hf_hub_download(args.model_version, SD3_CHECKPOINT)

    h, w = _latent(args, pipe)
    inputs = OrderedDict([("z", (1, 16, h, w))])
    outputs = OrderedDict([("image", (1, 3, h * 8, w * 8))])
    meta = {"com.github.apple.ml-stable-diffusion.version": _standin.VERSION,
            "com.github.argmax.diffusionkit.version": _standin.DIFFUSIONKIT_VERSION}
    info = _info(args, "vae_decoder", inputs, outputs, pipe=pipe, hist=_histogram("vae", None),
                 license_=LICENSE_SD3, description=DESC_SD3, extra_meta=meta)
    # Converted through DiffusionKit: no "Converting ... to CoreML.." line; its own check.
    _convert_and_save(args, "vae_decoder", out_path, info, saved_name="vae_decoder", via_torch=False,
                      diffusionkit=("vae_decoder", "diffusionkit.tests.torch2coreml.test_vae.TestSD3VAEDecoder", "VAEDecoder"))


def convert_vae_encoder(pipe, args):
    _record_call("convert_vae_encoder")
    out_path = _get_out_path(args, "vae_encoder")
    if os.path.exists(out_path):
        logger.info(f"`vae_encoder` already exists at {out_path}, skipping conversion.")
        return

    if not hasattr(pipe, "unet"):
        raise _unet_deleted("convert_vae_encoder")
    h, w = _latent(args, pipe)
    if args.xl_version:
        precision, compute_unit = "FLOAT32", "CPU_AND_GPU"
    else:
        precision, compute_unit = "FLOAT16", None
    inputs = OrderedDict([("x", (1, 3, h * 8, w * 8))])
    outputs = OrderedDict([("latent", (1, 2 * pipe.vae.config.latent_channels, h, w))])
    info = _info(args, "vae_encoder", inputs, outputs, pipe=pipe, hist=_histogram("vae", None),
                 precision=precision, compute_unit=compute_unit)
    _convert_and_save(args, "vae_encoder", out_path, info, saved_name="vae_encoder")

    if args.check_output_correctness:
        _standin.report_correctness(logger, "vae_encoder", "vae_encoder baseline PyTorch to baseline CoreML")


def _residual_shapes(batch_size, h, w, channels, layers=2):
    def down(x):
        return (x + 1) // 2  # 3x3 conv, stride 2, padding 1
    shapes = [(batch_size, channels[0], h, w)]
    for i, ch in enumerate(channels):
        shapes += [(batch_size, ch, h, w)] * layers
        if i < len(channels) - 1:
            h, w = down(h), down(w)
            shapes.append((batch_size, ch, h, w))
    shapes.append((batch_size, channels[-1], h, w))
    return shapes


def convert_unet(pipe, args, model_name=None):
    _record_call("convert_unet")
    if args.unet_support_controlnet:
        unet_name = "control-unet"
    else:
        unet_name = model_name or "unet"

    out_path = _get_out_path(args, unet_name)

    unet_chunks_exist = all(
        os.path.exists(out_path.replace(".mlpackage", f"_chunk{idx + 1}.mlpackage"))
        for idx in range(2))

    if args.chunk_unet and unet_chunks_exist:
        logger.info("`unet` chunks already exist, skipping conversion.")
        del pipe.unet
        return

    elif not os.path.exists(out_path):
        cfg = vars(pipe.unet.config)
        if cfg.get("use_linear_projection"):
            # upstream's UNet2DConditionModel(**pipe.unet.config) warns through its module's logger
            logging.getLogger("python_coreml_stable_diffusion.unet").warning("`use_linear_projection=True` is ignored!")
        batch_size = 1 if args.unet_batch_one else 2
        h, w = _latent(args, pipe)
        # Upstream reads text_encoder's (else text_encoder_2's) max_position_embeddings; a
        # model_index.json without either (the stand-in is lenient) gives 77.
        text_encoder = getattr(pipe, "text_encoder", None) or getattr(pipe, "text_encoder_2", None)
        sequence_length = text_encoder.config.max_position_embeddings if text_encoder is not None else 77
        inputs = OrderedDict([
            ("sample", (batch_size, cfg["in_channels"], h, w)),
            ("timestep", (batch_size,)),
            ("encoder_hidden_states", (batch_size,
                                       args.text_encoder_hidden_size or cfg["cross_attention_dim"],
                                       1,
                                       args.text_token_sequence_length or sequence_length)),
        ])
        if args.xl_version:
            aesthetics = getattr(pipe.config, "requires_aesthetics_score", False)
            n_time_ids = 5 if aesthetics else 6
            inputs["time_ids"] = (2, n_time_ids)
            inputs["text_embeds"] = (batch_size, pipe.text_encoder_2.config.hidden_size)
        if args.unet_support_controlnet:
            for i, shape in enumerate(_residual_shapes(batch_size, h, w, cfg["block_out_channels"], cfg["layers_per_block"])):
                inputs[f"additional_residual_{i}"] = shape

        logger.info(f"Sample UNet inputs spec: {_torch_spec(inputs)}")
        logger.info("JIT tracing..")
        logger.info("Done.")

        if args.check_output_correctness:
            _standin.report_correctness(logger, unet_name, "unet baseline to reference PyTorch")

        version = args.refiner_version if model_name == "refiner" and args.refiner_version else args.model_version
        outputs = OrderedDict([("noise_pred", inputs["sample"])])
        scale = 2 if args.xl_version else 1
        info = _info(args, unet_name, inputs, outputs, pipe=pipe,
                     hist=_histogram("unet", args.attention_implementation, scale),
                     version=version, author_version=args.model_version, description=DESC_UNET,
                     extra_meta={"com.github.apple.ml-stable-diffusion.version": _standin.VERSION},
                     batch_size=batch_size, support_controlnet=bool(args.unet_support_controlnet),
                     refiner_version=args.refiner_version if model_name == "refiner" else None)
        del pipe.unet  # upstream lets the diffusers unet go before converting
        _convert_and_save(args, unet_name, out_path, info, saved_name="unet")

        if args.check_output_correctness:
            _standin.report_correctness(logger, unet_name, "unet baseline PyTorch to reference CoreML")
    else:
        del pipe.unet
        logger.info(f"`unet` already exists at {out_path}, skipping conversion.")

    if args.chunk_unet and not unet_chunks_exist:
        logger.info(f"Chunking {model_name} in two approximately equal MLModels")
        args.mlpackage_path = out_path
        args.remove_original = False
        args.merge_chunks_in_pipeline_model = False
        chunk_mlprogram.main(args)


def convert_mmdit(args, pipe):
    out_path = _get_out_path(args, "mmdit")
    if os.path.exists(out_path):
        logger.info(f"`mmdit` already exists at {out_path}, skipping conversion.")
        return
    # DiffusionKit loads the MMDiT and the VAE from the one SD3 checkpoint it downloads.
    _standin_hub.hf_hub_download(args.model_version, SD3_CHECKPOINT)

    h, w = _latent(args, pipe)
    inputs = OrderedDict([
        ("latent_image_embeddings", (2, 16, h, w)),
        ("token_level_text_embeddings", (2, 4096, 1, 154)),
        ("pooled_text_embeddings", (2, 2048)),
        ("timestep", (2,)),
    ])
    outputs = OrderedDict([("denoiser_output", (2, 16, h, w))])
    meta = {"com.github.apple.ml-stable-diffusion.version": _standin.VERSION,
            "com.github.argmax.diffusionkit.version": _standin.DIFFUSIONKIT_VERSION}
    info = _info(args, "mmdit", inputs, outputs, pipe=pipe, hist=_histogram("mmdit", None),
                 compute_unit="CPU_AND_GPU", precision="FLOAT32", license_=LICENSE_SD3,
                 description=DESC_SD3, extra_meta=meta)
    # Upstream logs the wrong name here; kept. DiffusionKit runs its own check.
    _convert_and_save(args, "mmdit", out_path, info, saved_name="vae_decoder", via_torch=False,
                      diffusionkit=("mmdit", "diffusionkit.tests.torch2coreml.test_mmdit.TestSD3MMDiT",
                                    "MultiModalDiffusionTransformer"))


def convert_safety_checker(pipe, args):
    if "safety_checker" not in pipe.components:
        raise AttributeError(f"'{pipe.class_name}' object has no attribute 'safety_checker'")
    if not pipe.has("safety_checker"):
        logger.warning(
            f"diffusers pipeline for {args.model_version} does not have a `safety_checker` module! "
            "`--convert-safety-checker` will be ignored.")
        return

    out_path = _get_out_path(args, "safety_checker")
    if os.path.exists(out_path):
        logger.info(f"`safety_checker` already exists at {out_path}, skipping conversion.")
        return

    im_h = args.latent_h * 8 if args.latent_h is not None else pipe.vae_sample_size
    im_w = args.latent_w * 8 if args.latent_w is not None else pipe.vae_sample_size
    inputs = OrderedDict([
        ("clip_input", (1, 3, 224, 224)),
        ("images", (1, im_h, im_w, 3)),
        ("adjustment", (1,)),
    ])
    logger.info(f"Sample inputs spec: {_torch_spec(inputs)}")
    logger.info("JIT tracing..")
    logger.info("Done.")

    outputs = OrderedDict([("filtered_images", (1, im_h, im_w, 3)), ("has_nsfw_concepts", (1, 1, 1, 1)),
                           ("concept_scores", (1, 17))])
    info = _info(args, "safety_checker", inputs, outputs, pipe=pipe, hist=_histogram("safety_checker", None),
                 license_=LICENSE_SD)
    # The real one saves without a "Saved ..." line.
    _convert_and_save(args, "safety_checker", out_path, info, saved_name=None)

    if args.check_output_correctness:
        _standin.report_correctness(logger, "safety_checker", "safety_checker baseline PyTorch to reference CoreML")


def _get_controlnet_base_model(controlnet_model_version):
    card = _standin_hub.model_card_data(controlnet_model_version)
    if card is None:
        # upstream calls info.cardData.get(...) on a card that may be None
        raise AttributeError("'NoneType' object has no attribute 'get'")
    return card.get("base_model", None)


def convert_controlnet(pipe, args):
    for i, controlnet_model_version in enumerate(args.convert_controlnet):
        base_model = _get_controlnet_base_model(controlnet_model_version)
        if base_model is None and args.model_version != "runwayml/stable-diffusion-v1-5":
            logger.warning(
                f"The original ControlNet models were trained using Stable Diffusion v1.5. "
                f"It is possible that model {args.model_version} is not compatible with controlnet.")
        if base_model is not None and base_model != args.model_version:
            raise RuntimeError(
                f"ControlNet model {controlnet_model_version} was trained using "
                f"Stable Diffusion model {base_model}.\n However, you specified "
                f"version {args.model_version} in the command line. Please, use "
                f"--model-version {base_model} to convert this model.")

        controlnet_model_name = controlnet_model_version.replace("/", "_")
        out_path = _controlnet_out_path(args, controlnet_model_version)

        if os.path.exists(out_path):
            logger.info(
                f"`controlnet_{controlnet_model_name}` already exists at {out_path}, skipping conversion.")
            continue

        batch_size = 2
        h, w = _latent(args, pipe)
        inputs = OrderedDict([
            ("sample", (batch_size, pipe.unet_config["in_channels"], h, w)),
            ("timestep", (batch_size,)),
            ("encoder_hidden_states", (batch_size, args.text_encoder_hidden_size or pipe.text_encoder_hidden_size, 1,
                                       args.text_token_sequence_length or 77)),
            ("controlnet_cond", (batch_size, 3, h * 8, w * 8)),
        ])
        if i == 0:
            logger.info(f"Sample ControlNet inputs spec: {_torch_spec(inputs)}")

        if not os.path.isdir(controlnet_model_version):
            _standin.hub_validate(controlnet_model_version)

        residuals = _residual_shapes(batch_size, h, w, [320, 640, 1280, 1280])
        outputs = OrderedDict((f"additional_residual_{k}", s) for k, s in enumerate(residuals))

        logger.info("JIT tracing..")
        logger.info("Done.")

        if args.check_output_correctness:
            _standin.report_correctness(logger, "controlnet", f"{controlnet_model_name} baseline to reference PyTorch")

        info = _info(args, "controlnet", inputs, outputs, pipe=pipe,
                     hist=_histogram("controlnet", args.attention_implementation),
                     version=controlnet_model_version, author_version=controlnet_model_version,
                     license_=LICENSE_SD, description=DESC_CONTROLNET,
                     controlnet_model_version=controlnet_model_version)
        _convert_and_save(args, f"controlnet_{controlnet_model_name}", out_path, info, saved_name="controlnet")

        if args.check_output_correctness:
            _standin.report_correctness(logger, "controlnet", "controlnet baseline PyTorch to reference CoreML")


# ------------------------------------------------------------------- quantization

def _quantize_weights(out_path, model_name, nbits):
    if os.path.exists(out_path):
        logger.info(f"Quantizing {model_name}")
        _standin.quantize_package(out_path, nbits)
        logger.info("Done")
    else:
        logger.info(f"Skipped quantizing {model_name} (Not found at {out_path})")


# --------------------------------------------------- the check, as Apple's module defines it

ABSOLUTE_MIN_PSNR = 35


def compute_psnr(a, b):
    """Apple's compute_psnr, with the standard library (flat sequences; see _standin.compute_psnr)."""
    return _standin.compute_psnr(a, b)


def report_correctness(original_outputs, final_outputs, log_prefix):
    """Apple's report_correctness (L80): the same lines, the same 35 dB floor, nan passes."""
    original_psnr = compute_psnr(original_outputs, original_outputs)
    final_psnr = compute_psnr(original_outputs, final_outputs)

    dB_change = final_psnr - original_psnr
    logger.info(
        f"{log_prefix}: PSNR changed by {dB_change:.1f} dB ({original_psnr:.1f} -> {final_psnr:.1f})"
    )

    if final_psnr < ABSOLUTE_MIN_PSNR:
        raise ValueError(f"{final_psnr:.1f} dB is too low!")
    else:
        logger.info(
            f"{final_psnr:.1f} dB > {ABSOLUTE_MIN_PSNR} dB (minimum allowed) parity check passed"
        )
    return final_psnr


def quantize_weights(args):
    _record_call("quantize_weights")
    for model_name in ["text_encoder", "text_encoder_2", "unet", "refiner", "control-unet"]:
        logger.info(f"Quantizing {model_name} to {args.quantize_nbits}-bit precision")
        _quantize_weights(_get_out_path(args, model_name), model_name, args.quantize_nbits)

    if args.convert_controlnet:
        for controlnet_model_version in args.convert_controlnet:
            controlnet_model_name = controlnet_model_version.replace("/", "_")
            logger.info(f"Quantizing {controlnet_model_name} to {args.quantize_nbits}-bit precision")
            _quantize_weights(_controlnet_out_path(args, controlnet_model_version),
                              controlnet_model_name, args.quantize_nbits)


# ----------------------------------------------------------------------- bundling

def _compile_coreml_model(source_model_path, output_dir, final_name):
    import shutil
    target_path = os.path.join(output_dir, f"{final_name}.mlmodelc")
    if os.path.exists(target_path):
        logger.warning(f"Found existing compiled model at {target_path}! Skipping..")
        return target_path

    logger.info(f"Compiling {source_model_path}")
    source_model_name = os.path.basename(os.path.splitext(source_model_path)[0])

    _standin.coremlcompiler_compile(source_model_path, output_dir)
    compiled_output = os.path.join(output_dir, f"{source_model_name}.mlmodelc")
    shutil.move(compiled_output, target_path)

    return target_path


def _download_t5_model(args, t5_save_path):
    t5_url = args.text_encoder_t5_url
    match = re.match(r"https://huggingface.co/(.+)/resolve/main/(.+)", t5_url)
    if not match:
        raise ValueError(f"Invalid Hugging Face URL: {t5_url}")
    repo_id, model_subpath = match.groups()
    download_path = _standin.fake_hf_snapshot_path(repo_id)
    logger.info(f"Downloaded T5 model to {download_path}")
    logger.info(f"Copying T5 model from {download_path} to {t5_save_path}")
    _standin.write_fake_compiled_t5(t5_save_path)


def bundle_resources_for_swift_cli(args):
    _record_call("bundle_resources_for_swift_cli")
    resources_dir = os.path.join(args.o, "Resources")
    if not os.path.exists(resources_dir):
        os.makedirs(resources_dir, exist_ok=True)
        logger.info(f"Created {resources_dir} for Swift CLI assets")

    for source_name, target_name in [("text_encoder", "TextEncoder"),
                                     ("text_encoder_2", "TextEncoder2"),
                                     ("vae_decoder", "VAEDecoder"),
                                     ("vae_encoder", "VAEEncoder"),
                                     ("unet", "Unet"),
                                     ("unet_chunk1", "UnetChunk1"),
                                     ("unet_chunk2", "UnetChunk2"),
                                     ("refiner", "UnetRefiner"),
                                     ("refiner_chunk1", "UnetRefinerChunk1"),
                                     ("refiner_chunk2", "UnetRefinerChunk2"),
                                     ("mmdit", "MultiModalDiffusionTransformer"),
                                     ("control-unet", "ControlledUnet"),
                                     ("control-unet_chunk1", "ControlledUnetChunk1"),
                                     ("control-unet_chunk2", "ControlledUnetChunk2"),
                                     ("safety_checker", "SafetyChecker")]:
        source_path = _get_out_path(args, source_name)
        if os.path.exists(source_path):
            target_path = _compile_coreml_model(source_path, resources_dir, target_name)
            logger.info(f"Compiled {source_path} to {target_path}")
        else:
            logger.warning(f"{source_path} not found, skipping compilation to {target_name}.mlmodelc")

    if args.convert_controlnet:
        for controlnet_model_version in args.convert_controlnet:
            controlnet_model_name = controlnet_model_version.replace("/", "_")
            source_path = _controlnet_out_path(args, controlnet_model_version)
            controlnet_dir = os.path.join(resources_dir, "controlnet")
            target_name = "".join(word.title() for word in re.split("_|-", controlnet_model_name))

            if os.path.exists(source_path):
                os.makedirs(controlnet_dir, exist_ok=True)
                target_path = _compile_coreml_model(source_path, controlnet_dir, target_name)
                logger.info(f"Compiled {source_path} to {target_path}")
            else:
                logger.warning(f"{source_path} not found, skipping compilation to {target_name}.mlmodelc")

    logger.info("Downloading and saving tokenizer vocab.json")
    with open(os.path.join(resources_dir, "vocab.json"), "wb") as f:
        f.write(_standin.download(args.text_encoder_vocabulary_url, kind="vocab"))
    logger.info("Done")

    logger.info("Downloading and saving tokenizer merges.txt")
    with open(os.path.join(resources_dir, "merges.txt"), "wb") as f:
        f.write(_standin.download(args.text_encoder_merges_url, kind="merges"))
    logger.info("Done")

    t5_save_path = os.path.join(resources_dir, "TextEncoderT5.mlmodelc")
    if args.include_t5:
        if not os.path.exists(t5_save_path):
            logger.info("Downloading pre-converted T5 encoder model TextEncoderT5.mlmodelc")
            _download_t5_model(args, t5_save_path)
            logger.info("Done")
        else:
            logger.info(f"Skipping T5 download as {t5_save_path} already exists")

        logger.info("Downloading and saving T5 tokenizer files tokenizer_config.json and tokenizer.json")
        with open(os.path.join(resources_dir, "tokenizer_config.json"), "wb") as f:
            f.write(_standin.download(args.text_encoder_t5_config_url))
        with open(os.path.join(resources_dir, "tokenizer.json"), "wb") as f:
            f.write(_standin.download(args.text_encoder_t5_data_url))
        logger.info("Done")

    return resources_dir


# --------------------------------------------------------------------------- main

def main(args):
    os.makedirs(args.o, exist_ok=True)

    pipe = get_pipeline(args)

    logger.info(f"Attention implementation in effect: AttentionImplementations.{args.attention_implementation}")

    if args.convert_vae_decoder:
        logger.info("Converting vae_decoder")
        if args.sd3_version:
            convert_vae_decoder_sd3(args, pipe)
        else:
            convert_vae_decoder(pipe, args)
        logger.info("Converted vae_decoder")

    if args.convert_vae_encoder:
        logger.info("Converting vae_encoder")
        convert_vae_encoder(pipe, args)
        logger.info("Converted vae_encoder")

    if args.convert_controlnet:
        logger.info("Converting controlnet")
        convert_controlnet(pipe, args)
        logger.info("Converted controlnet")

    if args.convert_unet:
        logger.info("Converting unet")
        convert_unet(pipe, args)
        logger.info("Converted unet")

    if args.convert_text_encoder and pipe.has("text_encoder"):
        logger.info("Converting text_encoder")
        convert_text_encoder(pipe.text_encoder, pipe.tokenizer, "text_encoder", args)
        del pipe.text_encoder
        logger.info("Converted text_encoder")

    if args.convert_text_encoder and pipe.has("text_encoder_2"):
        logger.info("Converting text_encoder_2")
        convert_text_encoder(pipe.text_encoder_2, pipe.tokenizer_2, "text_encoder_2", args)
        del pipe.text_encoder_2
        logger.info("Converted text_encoder_2")

    if args.convert_safety_checker:
        logger.info("Converting safety_checker")
        convert_safety_checker(pipe, args)
        logger.info("Converted safety_checker")

    if args.convert_unet and args.refiner_version is not None:
        logger.info("Converting refiner")
        original_model_version = args.model_version
        args.model_version = args.refiner_version
        pipe = get_pipeline(args, refiner=True)
        args.model_version = original_model_version
        convert_unet(pipe, args, model_name="refiner")
        logger.info("Converted refiner")

    if args.convert_mmdit:
        logger.info("Converting mmdit")
        convert_mmdit(args, pipe)
        logger.info("Converted mmdit")

    if args.quantize_nbits is not None:
        logger.info(f"Quantizing weights to {args.quantize_nbits}-bit precision")
        quantize_weights(args)
        logger.info(f"Quantized weights to {args.quantize_nbits}-bit precision")

    if args.bundle_resources_for_swift_cli:
        logger.info("Bundling resources for the Swift CLI")
        bundle_resources_for_swift_cli(args)
        logger.info("Bundled resources for the Swift CLI")


def parser_spec():
    parser = argparse.ArgumentParser()

    parser.add_argument("--convert-text-encoder", action="store_true")
    parser.add_argument("--convert-vae-decoder", action="store_true")
    parser.add_argument("--convert-vae-encoder", action="store_true")
    parser.add_argument("--convert-unet", action="store_true")
    parser.add_argument("--convert-mmdit", action="store_true")
    parser.add_argument("--convert-safety-checker", action="store_true")
    parser.add_argument("--convert-controlnet", nargs="*", type=str,
                        help="Hub ids of ControlNet models to convert (space separated).")
    parser.add_argument("--model-version", required=True,
                        help="Checkpoint (Hub id or local diffusers folder) to convert.")
    parser.add_argument("--refiner-version", default=None,
                        help="SDXL refiner checkpoint whose unet is converted next to the base unet.")
    parser.add_argument("--custom-vae-version", type=str, default=None,
                        help="VAE checkpoint that replaces the pipeline's own VAE.")
    parser.add_argument("--compute-unit", choices=COMPUTE_UNITS, default="ALL")
    parser.add_argument("--latent-h", type=int, default=None,
                        help="Latent height. Defaults to the unet's sample_size.")
    parser.add_argument("--latent-w", type=int, default=None,
                        help="Latent width. Defaults to the unet's sample_size.")
    parser.add_argument("--text-token-sequence-length", type=int, default=None,
                        help="Token sequence length of the text encoder.")
    parser.add_argument("--text-encoder-hidden-size", type=int, default=None,
                        help="Hidden size of the text encoder.")
    parser.add_argument("--attention-implementation", choices=ATTENTION_IMPLEMENTATIONS,
                        default="SPLIT_EINSUM",
                        help="Attention variant (trades ANE against GPU performance).")
    parser.add_argument("-o", default=os.getcwd(),
                        help="Directory that receives the .mlpackage files.")
    parser.add_argument("--check-output-correctness", action="store_true",
                        help="Report PSNR of the converted models against PyTorch.")
    parser.add_argument("--chunk-unet", action="store_true",
                        help="Also write the unet as two chunks of about equal weight size.")
    parser.add_argument("--quantize-nbits", default=None, choices=(1, 2, 4, 6, 8), type=int,
                        help="Palettize the weights to this many bits.")
    parser.add_argument("--unet-support-controlnet", action="store_true",
                        help="Give the unet the extra ControlNet residual inputs.")
    parser.add_argument("--unet-batch-one", action="store_true",
                        help="Batch size one for the unet (no classifier-free guidance).")
    parser.add_argument("--include-t5", action="store_true")
    parser.add_argument("--bundle-resources-for-swift-cli", action="store_true",
                        help="Compile the models into <o>/Resources and fetch the tokenizer files.")
    parser.add_argument("--text-encoder-vocabulary-url",
                        default="https://huggingface.co/openai/clip-vit-base-patch32/resolve/main/vocab.json",
                        help="URL of the tokenizer vocabulary.")
    parser.add_argument("--text-encoder-merges-url",
                        default="https://huggingface.co/openai/clip-vit-base-patch32/resolve/main/merges.txt",
                        help="URL of the tokenizer merges.")
    parser.add_argument("--text-encoder-t5-url",
                        default="https://huggingface.co/argmaxinc/coreml-stable-diffusion-3-medium/resolve/main/TextEncoderT5.mlmodelc",
                        help="URL of the pre-converted T5 encoder.")
    parser.add_argument("--text-encoder-t5-config-url",
                        default="https://huggingface.co/google-t5/t5-small/resolve/main/tokenizer_config.json",
                        help="URL of the T5 tokenizer config.")
    parser.add_argument("--text-encoder-t5-data-url",
                        default="https://huggingface.co/google-t5/t5-small/resolve/main/tokenizer.json",
                        help="URL of the T5 tokenizer data.")
    parser.add_argument("--min-deployment-target", default="macOS13",
                        help="macOS13, macOS14, macOS15, iOS16, iOS17 or iOS18 (others fall back to macOS13).")
    parser.add_argument("--xl-version", action="store_true",
                        help="Treat the checkpoint as Stable Diffusion XL.")
    parser.add_argument("--sd3-version", action="store_true",
                        help="Treat the checkpoint as Stable Diffusion 3.")

    return parser


if __name__ == "__main__":
    _standin.record_invocation("python_coreml_stable_diffusion.torch2coreml")
    parser = parser_spec()
    args = parser.parse_args()

    main(args)

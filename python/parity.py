"""Apple's torch2coreml parity check (--check-output-correctness), in a process of its own.

Shipped with the coreml-stable-diffusion action. With --check-output-correctness the converter
runs the PyTorch module, then loads and runs the Core ML model it just saved, in the process that
converted it: the two models are in memory together (on top of the pipeline), and on GitHub's macOS
VMs, which have no Neural Engine, loading a model for CPU_AND_NE has been seen to hang. This entry
does the same check after the conversion, in two halves that never hold both models at once:

- `reference`: the converter's sample inputs for the part, built as its convert_<part> builds them
  (shapes, dtypes, Core ML input names), the baseline PyTorch module its check compares (the
  diffusers component loaded alone, as in the converter's pipeline: float16 weights, run in
  float32) run on them, inputs and outputs saved as .npz (beside the action's state, in
  `<-o>/.coreml-action/parity/<package part>/`), and the model let go. The unet's second check,
  `unet baseline to reference PyTorch` (the diffusers unet against the converter's own unet
  module), is PyTorch only and is reported here.
- `check`: the Core ML package loaded with --check-compute-unit, run on the saved inputs, and its
  output compared with the saved one by the converter's own report_correctness (its compute_psnr,
  its 35 dB floor, its log lines: `<prefix>: PSNR changed by ...`, then `... parity check passed`
  or `ValueError: X dB is too low!` and exit 1).

    python parity.py <torch2coreml flags: --model-version, -o, --convert-<part> ...>
                     [--parity-half reference|check|both] [--parity-part P ...]
                     [--check-compute-unit CU] [--parity-dir DIR] [--parity-seed N]

The command line is the converter's, parsed with its own parser (`parser_spec()`), plus the flags
above. The parts checked are those the --convert-<part> switches name (or --parity-part):
text_encoder (and text_encoder_2 when the pipeline has one, as --convert-text-encoder converts
both), vae_decoder, vae_encoder, unet, and refiner (with --refiner-version). Not covered, and so
left to the converter's in-process check: safety_checker, ControlNets, the control-unet
(--unet-support-controlnet), and everything with --sd3-version (DiffusionKit checks SD3's parts
itself). By default (`both`) each part's halves run one after the other in this process; the
halves can also run apart (reference on Linux, check on macOS): the folder is what they share.
--check-compute-unit defaults to --compute-unit, where the converter runs its check.

Both halves are injectable, for the tests and the stand-in converter: PARITY_REFERENCE=module:
function (called with (converter, args, part, seed), returns a Reference) and PARITY_COREML=
module:function (called with (package path, compute unit name, {input name: Array}), returns
{output name: values}). Runs in the converter's environment: standard library only apart from the
converter and, in the default halves, the torch, diffusers, numpy and coremltools it brings. A
Reference may also be given as a dict of its fields, and arrays as numpy arrays, torch tensors or
(dtype, shape, flat values) triples. The
.npz files are written and read with the standard library (numpy reads them as usual).
At exit it prints its peak RSS: `parity: peak RSS <bytes> bytes`.

The check half also runs where the converter is not installed (the finishing job of a split
conversion, whose environment has coremltools and numpy only: no torch, no diffusers, no converter).
When the import of the converter fails and the command line asks for `--parity-half check` alone,
the entry says so and uses the action's own stand-ins for what it takes from the converter
(own_converter() below): the flags the check reads, parsed with the converter's names, choices and
defaults (the others, read by the reference half, are let through unread); the package names as
the converter gives them (`Stable_Diffusion_version_<model-version>_<part>.mlpackage`, every `/`
made `_`), checked against the name the reference half recorded; and the PSNR and its report
written here from the documented formula, `20 * log10((max|b| + 1e-5) / (rms(a - b) + 1e-10))`
(with numpy where it is installed, in the converter's steps on the same float32 arrays; in doubles
otherwise), with the converter's log lines on its logger, its 35 dB floor and its `ValueError: X dB
is too low!` (nan passes, as upstream: the action's gate fails it). Where the converter imports, its
own functions are used, as before.
"""

import argparse
import gc
import importlib
import io
import json
import logging
import math
import os
import shutil
import struct
import sys
import traceback
import zipfile
from array import array
from collections import OrderedDict

from helper_common import CONVERTER_MODULE, import_converter, loader_from_spec, require_functions

# What this entry needs of the converter (apple/ml-stable-diffusion e12202c has them all).
NEEDED = ("parser_spec", "compute_psnr", "report_correctness", "_get_out_path")
REFERENCE_ENV = "PARITY_REFERENCE"
COREML_ENV = "PARITY_COREML"
# The action's state folder in -o (src/convert/state.ts STATE_DIR), and this entry's place in it.
STATE_DIR = ".coreml-action"
PARITY_DIR = "parity"
HALVES = ("reference", "check", "both")
COMPUTE_UNITS = ("ALL", "CPU_AND_GPU", "CPU_ONLY", "CPU_AND_NE")

# The parts this entry checks, by the name --parity-part takes, with the --convert-* switch that
# converts them (refiner: --convert-unet with --refiner-version).
# In the order one converter run converts them (main).
PARTS = ("vae_decoder", "vae_encoder", "unet", "text_encoder", "refiner")
SWITCH = {"text_encoder": "convert_text_encoder", "vae_decoder": "convert_vae_decoder",
          "vae_encoder": "convert_vae_encoder", "unet": "convert_unet", "refiner": "convert_unet"}
# The converter's prefixes (report_correctness's log_prefix), per package part. text_encoder_2
# logs as text_encoder, the refiner as unet (the action's log parser tells them apart by the
# `parity: checking <part>` line printed before each).
COREML_PREFIX = {
    "text_encoder": "text_encoder baseline PyTorch to reference CoreML",
    "text_encoder_2": "text_encoder baseline PyTorch to reference CoreML",
    "vae_decoder": "vae_decoder baseline PyTorch to baseline CoreML",
    "vae_encoder": "vae_encoder baseline PyTorch to baseline CoreML",
    "unet": "unet baseline PyTorch to reference CoreML",
    "refiner": "unet baseline PyTorch to reference CoreML",
}
TORCH_PREFIX = "unet baseline to reference PyTorch"
INPUTS_FILE = "inputs.npz"
OUTPUTS_FILE = "outputs.npz"
RECORD_FILE = "reference.json"


class ParityError(Exception):
    """A failure with a message meant for the workflow log."""


def log(message):
    # stderr, where the converter's logging goes, so the lines keep their order in the log.
    print(f"parity: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- arrays and .npz (stdlib)

# numpy dtype strings this entry reads and writes -> array module typecodes (None: no typecode).
DTYPES = {"<f4": "f", "<f2": None, "<i4": "i", "<f8": "d", "<i8": "q"}


class Array:
    """An n-dimensional array as raw little-endian bytes: what an .npy file holds."""

    def __init__(self, dtype, shape, data):
        if dtype not in DTYPES:
            raise ParityError(f"unsupported dtype {dtype} (want one of {', '.join(DTYPES)})")
        self.dtype, self.shape, self.data = dtype, tuple(int(d) for d in shape), bytes(data)
        if len(self.data) != self.size * int(dtype[2:]):
            raise ParityError(f"{len(self.data)} bytes do not make a {dtype} array of shape {self.shape}")

    @property
    def size(self):
        n = 1
        for d in self.shape:
            n *= d
        return n

    @classmethod
    def of(cls, value):
        """An Array from an Array, a numpy array, a torch tensor (numpy's own bytes, little-endian) or
        a (dtype, shape, flat values) triple (what a stand-in without numpy gives)."""
        if isinstance(value, Array):
            return value
        if isinstance(value, tuple) and len(value) == 3 and isinstance(value[0], str):
            return cls.from_values(*value)
        if hasattr(value, "detach"):  # a torch tensor
            value = value.detach().cpu().numpy()
        dtype = value.dtype.newbyteorder("<") if value.dtype.byteorder == ">" else value.dtype
        value = value.astype(dtype, copy=False)
        return cls(dtype.str.replace("|", "<").replace("=", "<"), value.shape, value.tobytes(order="C"))

    @classmethod
    def from_values(cls, dtype, shape, values):
        """From a flat sequence of numbers (float16 through struct's `e`)."""
        code = DTYPES[dtype]
        if code is None:
            return cls(dtype, shape, struct.pack(f"<{len(values)}e", *values))
        packed = array(code, values)
        if sys.byteorder == "big":
            packed.byteswap()
        return cls(dtype, shape, packed.tobytes())

    def values(self):
        """The elements as a flat list of Python numbers."""
        code = DTYPES[self.dtype]
        if code is None:
            return list(struct.unpack(f"<{self.size}e", self.data))
        unpacked = array(code)
        unpacked.frombytes(self.data)
        if sys.byteorder == "big":
            unpacked.byteswap()
        return unpacked.tolist()

    def numpy(self):
        import numpy as np
        return np.frombuffer(self.data, dtype=np.dtype(self.dtype)).reshape(self.shape).copy()


def npy_bytes(item):
    """One .npy file (format 1.0): magic, header dict padded to 64 bytes, C-order data."""
    header = f"{{'descr': '{item.dtype}', 'fortran_order': False, 'shape': {tuple(item.shape)!r}, }}"
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * (pad % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + item.data


def parse_npy(raw, name):
    if raw[:6] != b"\x93NUMPY":
        raise ParityError(f"{name} is no .npy file")
    major = raw[6]
    if major == 1:
        (length,), start = struct.unpack("<H", raw[8:10]), 10
    else:
        (length,), start = struct.unpack("<I", raw[8:12]), 12
    import ast
    header = ast.literal_eval(raw[start:start + length].decode("latin1"))
    if header.get("fortran_order"):
        raise ParityError(f"{name}: Fortran-ordered arrays are not read here")
    return Array(header["descr"].replace("|", "<"), header["shape"], raw[start + length:])


def save_npz(path, arrays):
    """{name: Array} -> an uncompressed .npz at path, written beside it and renamed into place."""
    partial = path + ".partial"
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED) as z:
        for name, item in arrays.items():
            z.writestr(f"{name}.npy", npy_bytes(Array.of(item)))
    os.replace(partial, path)


def load_npz(path):
    """An .npz (numpy's savez or save_npz) -> {name: Array}, in the file's order."""
    result = OrderedDict()
    with zipfile.ZipFile(path) as z:
        for entry in z.namelist():
            if entry.endswith(".npy"):
                result[entry[:-4]] = parse_npy(z.read(entry), f"{path}:{entry}")
    return result


# ------------------------------------------------------------------------- the plan

class Reference:
    """What the PyTorch half hands to the check: the Core ML inputs (by the package's input names,
    in its dtypes), the baseline output the converter compares (by the package's output name), and
    PyTorch-only checks to report now: (prefix, baseline, reference) triples."""

    def __init__(self, inputs, output_name, output, torch_checks=()):
        self.inputs = OrderedDict((name, Array.of(value)) for name, value in inputs.items())
        self.output_name, self.output = output_name, Array.of(output)
        self.torch_checks = [(prefix, Array.of(a), Array.of(b)) for prefix, a, b in torch_checks]

    @classmethod
    def of(cls, value):
        """A Reference, or the same as a dict (inputs, output_name, output, torch_checks)."""
        return value if isinstance(value, Reference) else cls(**value)


def asked_parts(args):
    """The parts to check: --parity-part, else those the --convert-* switches name."""
    if args.parity_part:
        return list(dict.fromkeys(args.parity_part))
    parts = [p for p in PARTS if p != "refiner" and getattr(args, SWITCH[p], False)]
    if getattr(args, "convert_unet", False) and getattr(args, "refiner_version", None):
        parts.append("refiner")
    return parts


def uncovered(args):
    """Why this entry cannot check what the arguments convert (None: it can)."""
    if getattr(args, "sd3_version", False):
        return "--sd3-version: DiffusionKit checks SD3's parts itself, the text encoders come from the SDXL base"
    if getattr(args, "unet_support_controlnet", False) and getattr(args, "convert_unet", False):
        return "--unet-support-controlnet: the control-unet is left to the converter's own check"
    return None


def plan(args):
    """[(part, half), ...] in the order they run; raises ParityError for what cannot be checked."""
    parts = asked_parts(args)
    if not parts:
        raise ParityError("nothing to check: give --convert-<part> (text-encoder, vae-decoder, vae-encoder, unet) "
                          "or --parity-part")
    for part in parts:
        if part == "refiner" and not getattr(args, "refiner_version", None):
            raise ParityError("--parity-part refiner needs --refiner-version")
    why = uncovered(args)
    if why:
        raise ParityError(f"not covered: {why}")
    halves = ("reference", "check") if args.parity_half == "both" else (args.parity_half,)
    return [(part, half) for part in parts for half in halves]


def parity_dir(args):
    return args.parity_dir or os.path.join(args.o, STATE_DIR, PARITY_DIR)


def package_parts(converter, args, part):
    """The packages a part made, as the converter names them. --convert-text-encoder converts
    text_encoder_2 too when the pipeline has one (SDXL): the encoders whose packages are in -o are
    those the conversion made, and so those the converter would have checked."""
    if part != "text_encoder":
        return [part]
    found = [name for name in ("text_encoder", "text_encoder_2") if os.path.isdir(converter._get_out_path(args, name))]
    return found or ["text_encoder"]  # its check then says that the package is missing


def component_present(index, name):
    entry = index.get(name)
    return isinstance(entry, (list, tuple)) and len(entry) == 2 and entry[0] is not None and entry[1] is not None


def read_model_index(location):
    """The pipeline's model_index.json: a local folder's, else the Hub's (through diffusers' cache)."""
    local = os.path.join(location, "model_index.json")
    if os.path.isfile(local):
        with open(local, encoding="utf-8") as f:
            return json.load(f)
    from diffusers import DiffusionPipeline
    return dict(DiffusionPipeline.load_config(location))


# ------------------------------------------------------------------ the PyTorch half

def _torch():
    import torch
    torch.set_grad_enabled(False)  # as the converter's module does at import
    return torch


def load_component(location, index, name, half=True):
    """One component of a pipeline, alone, as DiffusionPipeline.from_pretrained(torch_dtype=float16,
    variant="fp16", use_safetensors=True) loads it in the converter (models), or plainly (tokenizers,
    schedulers)."""
    library, class_name = index[name]
    component_class = getattr(importlib.import_module(library), class_name)
    if not half:
        return component_class.from_pretrained(location, subfolder=name)
    torch = _torch()
    return component_class.from_pretrained(location, subfolder=name, torch_dtype=torch.float16, variant="fp16",
                                           use_safetensors=True)


def component_config(location, index, name):
    library, class_name = index[name]
    component_class = getattr(importlib.import_module(library), class_name)
    config_class = getattr(component_class, "config_class", None)  # transformers' models
    if config_class is not None:
        return config_class.from_pretrained(location, subfolder=name).to_dict()
    return dict(component_class.load_config(location, subfolder=name))  # diffusers' ConfigMixin


def text_encoder_reference(converter, args, package_part, seed):
    """convert_text_encoder: input_ids drawn as float32 in [0, vocab_size), the baseline is the
    float32 text encoder's last_hidden_state (SDXL: hidden_states[-2]) on them as int32."""
    torch = _torch()
    torch.manual_seed(seed)
    index = read_model_index(args.model_version)
    tokenizer_name = "tokenizer" if package_part == "text_encoder" else "tokenizer_2"
    tokenizer = load_component(args.model_version, index, tokenizer_name, half=False)
    text_encoder = load_component(args.model_version, index, package_part).to(dtype=torch.float32).eval()
    input_ids = torch.randint(text_encoder.config.vocab_size, (1, tokenizer.model_max_length), dtype=torch.float32)
    out = text_encoder(input_ids.to(torch.int32), output_hidden_states=args.xl_version, return_dict=True)
    baseline = out.hidden_states[-2] if args.xl_version else out.last_hidden_state
    name = "hidden_embeds" if args.xl_version else "last_hidden_state"
    return Reference({"input_ids": Array.of(input_ids)}, name, Array.of(baseline.float()))


def _vae(args, index):
    if args.custom_vae_version:
        torch = _torch()
        from diffusers import AutoencoderKL
        return AutoencoderKL.from_pretrained(args.custom_vae_version, torch_dtype=torch.float16)
    return load_component(args.model_version, index, "vae")


def vae_reference(converter, args, package_part, seed):
    """convert_vae_decoder / convert_vae_encoder: torch.rand inputs (float16, float32 for SDXL's own
    VAE), the baseline is the VAE's float32 decoder(post_quant_conv(z)) / quant_conv(encoder(x))."""
    torch = _torch()
    torch.manual_seed(seed)
    index = read_model_index(args.model_version)
    unet_config = component_config(args.model_version, index, "unet")
    latent_h = args.latent_h or unet_config["sample_size"]
    latent_w = args.latent_w or unet_config["sample_size"]
    vae = _vae(args, index)
    if package_part == "vae_decoder":
        float32 = args.custom_vae_version is None and args.xl_version
        z = torch.rand(1, vae.config.latent_channels, latent_h, latent_w, dtype=torch.float32 if float32 else torch.float16)
        post_quant_conv, decoder = vae.post_quant_conv.to(dtype=torch.float32), vae.decoder.to(dtype=torch.float32)
        del vae
        baseline = decoder(post_quant_conv(z.to(torch.float32)))
        return Reference({"z": Array.of(z)}, "image", Array.of(baseline))
    x = torch.rand(1, 3, latent_h * 8, latent_w * 8, dtype=torch.float32 if args.xl_version else torch.float16)
    quant_conv, encoder = vae.quant_conv.to(dtype=torch.float32), vae.encoder.to(dtype=torch.float32)
    del vae
    baseline = quant_conv(encoder(x.to(torch.float32)))
    return Reference({"x": Array.of(x)}, "latent", Array.of(baseline))


def unet_reference(converter, args, package_part, seed):
    """convert_unet: sample, timestep (the scheduler's first of 50) and encoder_hidden_states (plus
    SDXL's time_ids and text_embeds), the Core ML inputs in float16; the baseline is the diffusers
    unet in float32 on them. Also its `unet baseline to reference PyTorch` check: the converter's
    own unet module (attention as --attention-implementation) loaded with the same weights."""
    torch = _torch()
    from copy import deepcopy
    torch.manual_seed(seed)
    location = args.refiner_version if package_part == "refiner" else args.model_version
    index = read_model_index(location)
    unet = load_component(location, index, "unet")
    batch_size = 1 if args.unet_batch_one else 2
    latent_h = args.latent_h or unet.config.sample_size
    latent_w = args.latent_w or unet.config.sample_size
    encoder_name = "text_encoder" if component_present(index, "text_encoder") else "text_encoder_2"
    encoder_config = component_config(location, index, encoder_name)
    hidden_states_shape = (
        batch_size,
        args.text_encoder_hidden_size or unet.config.cross_attention_dim or encoder_config["hidden_size"],
        1,
        args.text_token_sequence_length or encoder_config["max_position_embeddings"],
    )
    scheduler = load_component(location, index, "scheduler", half=False)
    scheduler.set_timesteps(50)  # DEFAULT_NUM_INFERENCE_STEPS
    sample_inputs = OrderedDict([
        ("sample", torch.rand(batch_size, unet.config.in_channels, latent_h, latent_w)),
        ("timestep", torch.tensor([scheduler.timesteps[0].item()] * batch_size).to(torch.float32)),
        ("encoder_hidden_states", torch.rand(*hidden_states_shape)),
    ])
    baseline_inputs = deepcopy(sample_inputs)
    baseline_inputs["encoder_hidden_states"] = baseline_inputs["encoder_hidden_states"].squeeze(2).transpose(1, 2)
    if args.xl_version:
        height, width = latent_h * 8, latent_w * 8
        if index.get("requires_aesthetics_score"):
            add_time_ids = [height, width, 0, 0, 6.0]
            add_neg_time_ids = [height, width, 0, 0, 2.5]
        else:
            add_time_ids = add_neg_time_ids = [height, width, 0, 0, height, width]
        text_embeds_size = component_config(location, index, "text_encoder_2")["hidden_size"]
        additional = OrderedDict([
            ("time_ids", torch.tensor([add_neg_time_ids, add_time_ids]).to(torch.float32)),
            ("text_embeds", torch.rand(batch_size, text_embeds_size)),
        ])
        sample_inputs.update(additional)
        baseline_inputs["added_cond_kwargs"] = additional

    unet = unet.to(torch.float32)
    baseline = item_by_item(torch, batch_size, lambda *a, **k: unet(*a, return_dict=False, **k)[0], (), baseline_inputs)
    torch_checks = []
    unet_module = getattr(converter, "unet", None)
    if unet_module is not None:
        # Back to float16 (exact: the weights were float16) before the float32 reference is made,
        # which loads them as the converter's does from the float16 pipeline: one float32 unet at a time.
        unet = unet.to(torch.float16)
        gc.collect()
        # As main does before converting, then as convert_unet builds its reference.
        unet_module.ATTENTION_IMPLEMENTATION_IN_EFFECT = unet_module.AttentionImplementations[args.attention_implementation]
        unet_class = unet_module.UNet2DConditionModelXL if args.xl_version else unet_module.UNet2DConditionModel
        reference_unet = reference_module(torch, unet_class, unet.config, unet.state_dict())
        del unet
        gc.collect()
        reference_unet = reference_unet.to(torch.float32)  # as the converter's, made float32 and loaded from float16
        gc.collect()
        reference = item_by_item(torch, batch_size, lambda *a, **k: reference_unet(*a, **k)[0], tuple(sample_inputs.values()), {})
        del reference_unet
        torch_checks.append((TORCH_PREFIX, Array.of(baseline), Array.of(reference)))
    else:
        log(f"{package_part}: the converter has no unet module: `{TORCH_PREFIX}` is not checked")
        del unet
    inputs = OrderedDict((k, Array.of(v.numpy().astype("float16"))) for k, v in sample_inputs.items())
    return Reference(inputs, "noise_pred", Array.of(baseline), torch_checks)


def item_by_item(torch, batch_size, call, args, kwargs):
    """call(*args, **kwargs) one batch item at a time, the outputs concatenated: no op of a unet mixes
    the items of a batch (classifier-free guidance's two halves are combined by the scheduler, not
    the unet), so the figures are those of one call on the batch, to float rounding, with half the
    activations (attention weights at 64x64 latents are the peak). Tensors whose first dimension is
    not the batch (SDXL's time_ids with --unet-batch-one) are passed whole."""
    if batch_size == 1:
        return call(*args, **kwargs)

    def item(value, i):
        if isinstance(value, dict):
            return {k: item(v, i) for k, v in value.items()}
        if torch.is_tensor(value) and value.dim() > 0 and value.shape[0] == batch_size:
            return value[i:i + 1]
        return value
    return torch.cat([call(*[item(a, i) for a in args], **{k: item(v, i) for k, v in kwargs.items()})
                      for i in range(batch_size)], dim=0)


def reference_module(torch, unet_class, config, state_dict):
    """unet_class(support_controlnet=False, **config) holding the weights of state_dict, without a
    randomly initialised copy beside them: built on the meta device and given the tensors themselves
    (load_state_dict(assign=True), through the class's own load hooks). Falls back to the
    converter's way (a float32 model, then load_state_dict) where that leaves anything unset."""
    import itertools
    try:
        with torch.device("meta"):
            module = unet_class(support_controlnet=False, **config)
        module.load_state_dict(state_dict, assign=True)
        unset = [name for name, t in itertools.chain(module.named_parameters(), module.named_buffers()) if t.is_meta]
        if unset:
            raise RuntimeError(f"left on the meta device: {', '.join(unset[:5])}")
    except Exception as error:  # noqa: BLE001 -- any failure of the lean way takes the converter's
        log(f"the reference unet is built the converter's way ({type(error).__name__}: {error})")
        module = unet_class(support_controlnet=False, **config)
        module.load_state_dict(state_dict)
    return module.eval()


REFERENCES = {"text_encoder": text_encoder_reference, "text_encoder_2": text_encoder_reference,
              "vae_decoder": vae_reference, "vae_encoder": vae_reference,
              "unet": unet_reference, "refiner": unet_reference}


def torch_reference(converter, args, package_part, seed):
    """The default PyTorch half: the converter's sample inputs and baseline for package_part."""
    return REFERENCES[package_part](converter, args, package_part, seed)


# -------------------------------------------------------------------- the Core ML half

def coreml_predict(package, compute_unit, inputs):
    """The default Core ML half: the package loaded with coremltools on compute_unit, predicted."""
    import coremltools as ct
    model = ct.models.MLModel(package, compute_units=ct.ComputeUnit[compute_unit])
    try:
        return model.predict({name: item.numpy() for name, item in inputs.items()})
    finally:
        del model


def comparable(value):
    """What report_correctness compares: a float32 numpy array where numpy is installed (as the
    converter's outputs are), else a flat list of floats (the stand-in's stdlib compute_psnr)."""
    try:
        import numpy as np
    except ImportError:
        return value.values() if isinstance(value, Array) else list(value)
    # Flat: compute_psnr sums, averages and takes the max over elements, whatever their shape.
    if isinstance(value, Array):
        return value.numpy().astype(np.float32).ravel()
    return np.asarray(value, dtype=np.float32).ravel()


# ---------------------------------------------------------------------------- halves

def reference_half(converter, args, part_dir, package_part, reference_fn, seed):
    package = converter._get_out_path(args, package_part)
    if not os.path.isdir(package):
        raise ParityError(f"{package_part}: no package at {package}: convert it first")
    log(f"{package_part}: computing the PyTorch reference")
    reference = Reference.of(reference_fn(converter, args, package_part, seed))
    shutil.rmtree(part_dir + ".partial", ignore_errors=True)
    os.makedirs(part_dir + ".partial")
    save_npz(os.path.join(part_dir + ".partial", INPUTS_FILE), reference.inputs)
    save_npz(os.path.join(part_dir + ".partial", OUTPUTS_FILE), {reference.output_name: reference.output})
    # The package's file name too: the check half, where the converter may be absent, finds the
    # package by the converter's naming rule and checks it against this name.
    record = {"part": package_part, "package": os.path.basename(package), "prefix": COREML_PREFIX[package_part],
              "output": reference.output_name, "inputs": list(reference.inputs), "model_version": args.model_version,
              "seed": seed}
    with open(os.path.join(part_dir + ".partial", RECORD_FILE), "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)
    shutil.rmtree(part_dir, ignore_errors=True)
    os.rename(part_dir + ".partial", part_dir)
    log(f"{package_part}: reference saved into {part_dir}")
    checks = reference.torch_checks
    del reference
    gc.collect()  # the model goes before anything else is loaded
    for prefix, baseline, other in checks:
        converter.report_correctness(comparable(baseline), comparable(other), prefix)


def check_half(converter, args, part_dir, package_part, predict, compute_unit):
    package = converter._get_out_path(args, package_part)
    if not os.path.isdir(package):
        raise ParityError(f"{package_part}: no package at {package}: convert it first")
    record_path = os.path.join(part_dir, RECORD_FILE)
    if not os.path.isfile(record_path):
        raise ParityError(f"{package_part}: no reference in {part_dir}: run --parity-half reference first")
    with open(record_path, encoding="utf-8") as f:
        record = json.load(f)
    if record.get("part") != package_part or record.get("model_version") != args.model_version:
        raise ParityError(f"{package_part}: the reference in {part_dir} is of {record.get('part')} of "
                          f"{record.get('model_version')}, not of {package_part} of {args.model_version}")
    recorded = record.get("package")  # absent in references saved before it was recorded
    if recorded is not None and recorded != os.path.basename(package):
        raise ParityError(f"{package_part}: the reference in {part_dir} was made for {recorded}, "
                          f"not for {os.path.basename(package)}")
    inputs = load_npz(os.path.join(part_dir, INPUTS_FILE))
    baseline = load_npz(os.path.join(part_dir, OUTPUTS_FILE))[record["output"]]
    log(f"{package_part}: running {os.path.basename(package)} on {compute_unit}")
    outputs = predict(package, compute_unit, inputs)
    if record["output"] not in outputs:
        raise ParityError(f"{package_part}: the package has no output {record['output']} (it has {', '.join(outputs)})")
    coreml_out = comparable(outputs[record["output"]])
    del outputs
    gc.collect()
    converter.report_correctness(comparable(baseline), coreml_out, record["prefix"])


# ------------------------------------------- without the converter: the check half alone

# The converter's floor (ABSOLUTE_MIN_PSNR) and the guards of its PSNR formula (on the peak, and on
# the rms of the difference), as torch2coreml (e12202c) defines them.
MIN_PSNR = 35
PEAK_EPS, RMS_EPS = 1e-5, 1e-10


def package_file(model_version, part):
    """The converter's package name for a part: `Stable_Diffusion_version_<model-version>_<part>.mlpackage`,
    every `/` of the whole name made `_`."""
    return f"Stable_Diffusion_version_{model_version}_{part}.mlpackage".replace("/", "_")


def own_out_path(args, part):
    return os.path.join(args.o, package_file(args.model_version, part))


def _psnr_of_numbers(a, b):
    """The formula over two flat sequences of Python numbers, in doubles (no numpy here)."""
    a, b = list(a), list(b)
    if len(a) != len(b) or not b:
        raise ValueError(f"cannot compare {len(a)} values with {len(b)}")
    peak = math.nan if any(math.isnan(x) for x in b) else max(abs(x) for x in b)  # numpy's max keeps a nan
    mean_square = sum((x - y) * (x - y) for x, y in zip(a, b)) / len(b)
    rms = math.sqrt(mean_square) if math.isfinite(mean_square) else mean_square
    ratio = (peak + PEAK_EPS) / (rms + RMS_EPS)
    if math.isnan(ratio) or math.isinf(ratio):
        return ratio
    return 20 * math.log10(ratio) if ratio > 0 else -math.inf  # numpy's log10(0) is -inf


def own_compute_psnr(a, b):
    """PSNR of b against a, in dB: 20 * log10((max|b| + 1e-5) / (rms(a - b) + 1e-10)). numpy arrays
    (what comparable() gives where numpy is installed) are reduced with numpy, step by step as the
    converter reduces them (the same operations on the same float32 arrays, so numpy's casting
    gives the converter's figures); anything else in doubles."""
    if not (hasattr(a, "dtype") and hasattr(b, "dtype")):
        return _psnr_of_numbers(a, b)
    import numpy as np
    peak = np.abs(b).max()
    difference = a - b
    mean_square = (difference * difference).sum()
    mean_square /= b.size
    rms = np.sqrt(mean_square)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 20 * np.log10((peak + PEAK_EPS) / (rms + RMS_EPS))


def own_report_correctness(original_outputs, final_outputs, log_prefix):
    """The converter's report of one check: the same two lines on its logger, the same floor, the same
    ValueError (nan passes: `nan < 35` is false, as upstream; the action's gate fails it)."""
    logger = logging.getLogger(CONVERTER_MODULE)
    original_psnr = own_compute_psnr(original_outputs, original_outputs)
    final_psnr = own_compute_psnr(original_outputs, final_outputs)
    logger.info(f"{log_prefix}: PSNR changed by {final_psnr - original_psnr:.1f} dB "
                f"({original_psnr:.1f} -> {final_psnr:.1f})")
    if final_psnr < MIN_PSNR:
        raise ValueError(f"{final_psnr:.1f} dB is too low!")
    logger.info(f"{final_psnr:.1f} dB > {MIN_PSNR} dB (minimum allowed) parity check passed")
    return final_psnr


def own_parser_spec():
    """The converter's flags that the check half reads, with the converter's names, choices and
    defaults. The rest of its command line (read by the reference half) is let through unread."""
    parser = argparse.ArgumentParser(allow_abbrev=False)
    for switch in ("--convert-text-encoder", "--convert-vae-decoder", "--convert-vae-encoder", "--convert-unet",
                   "--unet-support-controlnet", "--sd3-version"):
        parser.add_argument(switch, action="store_true")
    parser.add_argument("--model-version", required=True)
    parser.add_argument("--refiner-version", default=None)
    parser.add_argument("--compute-unit", choices=COMPUTE_UNITS, default="ALL")
    parser.add_argument("-o", default=os.getcwd())
    return parser


def own_converter():
    """What this entry takes from the converter, made by the action (see the module docstring). Its
    report logs as the converter's module does at import: basicConfig, its logger at INFO."""
    logging.basicConfig()
    logging.getLogger(CONVERTER_MODULE).setLevel(logging.INFO)
    return argparse.Namespace(__name__="parity.py's own check (no converter)", own=True,
                              parser_spec=own_parser_spec, compute_psnr=own_compute_psnr,
                              report_correctness=own_report_correctness, _get_out_path=own_out_path)


def is_own(converter):
    return getattr(converter, "own", False) is True


def asks_check_only(argv):
    """Whether the command line asks for `--parity-half check` (read before the converter's parser is at hand)."""
    early = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    early.add_argument("--parity-half", default="both")
    known, _rest = early.parse_known_args(sys.argv[1:] if argv is None else argv)
    return known.parity_half == "check"


# ------------------------------------------------------------------------------ main

def load_converter(argv=None):
    def own(error):
        log(f"cannot import {CONVERTER_MODULE} ({type(error).__name__}: {error}): the check half runs with the "
            f"action's own PSNR and report (the converter's formula, lines and {MIN_PSNR} dB floor)")
        return own_converter()
    return import_converter(ParityError, own if asks_check_only(argv) else None)


def check_converter(converter):
    require_functions(converter, NEEDED, ParityError)


def parser_for(converter):
    """The converter's parser, with this entry's own flags."""
    parser = converter.parser_spec()
    own = parser.add_argument_group("parity (the action's python/parity.py)")
    own.add_argument("--parity-half", choices=HALVES, default="both")
    own.add_argument("--parity-part", choices=PARTS, action="append", default=None)
    own.add_argument("--check-compute-unit", choices=COMPUTE_UNITS, default=None,
                     help="where Core ML runs the check; default: --compute-unit")
    own.add_argument("--parity-dir", default=None, help=f"default: <-o>/{STATE_DIR}/{PARITY_DIR}")
    own.add_argument("--parity-seed", type=int, default=0)
    return parser


def peak_rss_bytes():
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def run(converter, args, environ):
    steps = plan(args)
    wanted = {half for _part, half in steps}
    # Only the halves this process runs are loaded: the finishing job has no PyTorch half to load.
    reference_fn = loader_from_spec(environ.get(REFERENCE_ENV), REFERENCE_ENV, torch_reference, ParityError) if "reference" in wanted else None
    predict = loader_from_spec(environ.get(COREML_ENV), COREML_ENV, coreml_predict, ParityError) if "check" in wanted else None
    compute_unit = args.check_compute_unit or args.compute_unit
    root = parity_dir(args)
    parts = list(dict.fromkeys(part for part, _half in steps))
    halves = [half for part, half in steps if part == parts[0]]
    for part in parts:
        # Each package's halves one after the other: its PyTorch model is gone before Core ML loads.
        for package_part in package_parts(converter, args, part):
            part_dir = os.path.join(root, package_part)
            for half in halves:
                log(f"checking {package_part} ({half})")
                if half == "reference":
                    reference_half(converter, args, part_dir, package_part, reference_fn, args.parity_seed)
                else:
                    check_half(converter, args, part_dir, package_part, predict, compute_unit)
    return 0


def main(argv=None, converter=None, environ=None):
    environ = os.environ if environ is None else environ
    try:
        converter = converter if converter is not None else load_converter(argv)
        check_converter(converter)
        if is_own(converter):
            args, unread = parser_for(converter).parse_known_args(argv)  # a bad flag it reads exits 2
            if args.parity_half != "check":
                raise ParityError(f"--parity-half {args.parity_half} needs the converter: only the check half runs without it")
            names = sorted({item.split("=", 1)[0] for item in unread if item.startswith("--")})
            if names:
                log(f"not read by the check half: {' '.join(names)}")
        else:
            args = parser_for(converter).parse_args(argv)  # a bad flag exits 2, as the converter's would
        code = run(converter, args, environ)
    except ParityError as error:
        print(f"parity: {error}", file=sys.stderr, flush=True)
        code = 1
    except Exception as error:  # report_correctness's ValueError, the loaders' and Core ML's errors
        traceback.print_exc()  # its last line is the error, e.g. `ValueError: 20.1 dB is too low!`
        print("parity: failed, see the traceback above", file=sys.stderr, flush=True)
        code = 1
    print(f"parity: peak RSS {peak_rss_bytes()} bytes", file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())

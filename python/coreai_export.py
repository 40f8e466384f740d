"""Export one part of a Stable Diffusion pipeline to Apple's Core AI format (a `.aimodel` folder),
compress it, and check it against PyTorch; then finish the bundle (metadata.json, tokenizer).

    python coreai_export.py export --model DIFFUSERS_FOLDER
        --part text_encoder|text_encoder_2|unet|vae_decoder|vae_encoder --bundle BUNDLE_DIR
        --compression none|int4|palettize4 [--height 512 --width 512] [--batch 2]
        [--precision float16|float32] --parity-json PATH [--parity-seed 0] [--min-psnr DB]
    python coreai_export.py finish --model DIFFUSERS_FOLDER --bundle BUNDLE_DIR
        [--height 512 --width 512] [--parts text_encoder,unet,vae_decoder,vae_encoder]
        [--compression LABEL] [--name NAME] [--model-id HUB_ID]

One process per part (`export`), so a runner holds one part's weights at a time. The part is
loaded alone from a local diffusers folder (fp16 weights when the folder has them, else the plain
ones; a Hub snapshot or the action's single-file output), wrapped with the inputs and outputs the
Core AI Swift runtime calls it with (coreai_layout.py says which and where the facts come from),
exported as Apple's recipe exports it (torch.export, run_decompositions(get_decomp_table()),
TorchConverter(mode=RELEASE).add_pytorch_module, to_coreai(), which in coreai-torch 0.4.3 returns an
already optimized program), compressed with coreai-opt on the exported program:

- none
- int4: quantize_weights INT4, symmetric, per block of 32 (Apple's "4bit" preset);
- palettize4: palettize_weights 4 bits, k-means per tensor (as torch2coreml's --quantize-nbits 4),
  with ONE k-means worker (see PALETTIZE_WORKERS);

both skipping weights under WEIGHT_THRESHOLD elements, as Apple's recipe does. The model is saved
with save_asset into `BUNDLE/<Asset>.aimodel.partial/`, then checked there: loaded with
coreai-core's runtime (AIModelAsset.executable(), which on Linux builds a local .aimodelx) and run
on seeded random inputs, against the float32 PyTorch module (the same weights, upcast; also for the
compressed parts) on the same inputs. PSNR is the project's Core ML figure, parity.py's
own_compute_psnr (torch2coreml's compute_psnr: 20 * log10((max|coreai| + 1e-5) / (rms(torch -
coreai) + 1e-10))). The figures go to --parity-json; only then (and, with --min-psnr, only if the
PSNR is at least that) is the asset renamed to `BUNDLE/<Asset>.aimodel`.

--precision float32 is how the action makes the float32 twin of a part for the checks on Linux
(check-precision): the same module, loaded from the same fp16 weights (upcast, exactly), exported
and compressed the same way, into a folder apart from the bundle. coreai-core's Linux runtime
computes float16 through software conversions, one element at a time (perf: 86% of a float16 text
encoder call in __truncsfhf2/__extendhfsf2), and float32 with its own kernels: the full-size SD 1.5
text encoder took 560 s a call in float16 and 1.4 s in float32, the unet (batch 2) did not end
in 31 minutes in float16 and took 4.3 minutes in float32.

`finish` checks that every expected part's .aimodel is in the bundle, copies tokenizer/ from the
model folder (never downloads), and writes the bundle's metadata.json (coreai_layout.py), each
through a partial file or folder.

Exit status: 2 and one line on a bad argument or a model folder without the part; 1 on any other
failure, with nothing half-written left in the bundle; 0 otherwise.
"""

import argparse
import json
import os
import resource
import shutil
import sys
import time
import traceback

import coreai_layout as layout

PARTS = tuple(layout.ASSET_NAMES)
COMPRESSIONS = ("none", "int4", "palettize4")
PRECISIONS = ("float16", "float32")
# Weights with fewer elements stay as they are (Apple's recipe: weight_num_threshold=32768 for int4);
# a full SD 1.5 unet's conv_in and conv_out (11520) are among them.
WEIGHT_THRESHOLD = 32768
INT4_BLOCK = 32
# coreai-opt's palettize_weights defaults to four k-means worker processes, a multiprocessing pool
# that forks on Linux; the project's earlier Core AI measurements (shared/reference/coreai.md) saw
# it hang there (a fork deadlock: forked workers inherit locks held by the parent's threads) and
# one worker finish. Checked again here on the tiny SD 1.5 unet of test/python/tiny_pipeline.py
# (2026-12-07, coreai-opt 0.4.0, torch 2.13, 2 cores): four workers did NOT hang, twice (once in a
# bare script, once through this file with 4 put here): same figures as one worker (31.0 dB,
# 1.0 MB), in about the same time. So the hang is not shown by a tiny model; it is kept at one
# worker anyway: a hang costs a whole job, and one worker is not measurably slower at this size.
PALETTIZE_WORKERS = 1
PARTIAL = layout.PARTIAL_SUFFIX
PROG = "coreai_export"


class UsageError(Exception):
    """A bad argument or a model folder without the part: exit 2."""


class ExportError(Exception):
    """Any other failure with a message meant for the log: exit 1."""


def log(message):
    print(f"{PROG}: {message}", flush=True)


# ------------------------------------------------------------------ arguments (standard library)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def build_parser():
    parser = _Parser(prog=PROG, description="Core AI export of one Stable Diffusion part, and the bundle's finish.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    export = commands.add_parser("export", help="export, compress and check one part")
    finish = commands.add_parser("finish", help="write the bundle's metadata.json and tokenizer")
    for sub in (export, finish):
        sub.add_argument("--model", required=True, help="local diffusers folder")
        sub.add_argument("--bundle", required=True, help="the Core AI bundle folder")
        sub.add_argument("--height", type=int, default=512)
        sub.add_argument("--width", type=int, default=512)
    export.add_argument("--part", required=True, choices=PARTS)
    export.add_argument("--compression", required=True, choices=COMPRESSIONS)
    export.add_argument("--batch", type=int, default=layout.UNET_BATCH, help="the unet's batch (2: guidance)")
    export.add_argument("--precision", choices=PRECISIONS, default="float16", help="the exported model's precision")
    export.add_argument("--parity-json", required=True)
    export.add_argument("--parity-seed", type=int, default=0)
    export.add_argument("--skip-parity", action="store_true",
                        help="save the part without running it on coreai-core (the record says skipped)")
    export.add_argument("--min-psnr", type=float, default=None,
                        help="fail (exit 1, nothing saved) when the PSNR is below this")
    finish.add_argument("--parts", default=None,
                        help="comma list of the parts the bundle must have (default: all four, five for SDXL)")
    finish.add_argument("--compression", default=None,
                        help="recorded in metadata.json (default: read from the parts)")
    finish.add_argument("--name", default=None, help="the bundle's name (default: its folder's name)")
    finish.add_argument("--model-id", default=None, help="the Hub id the model came from, recorded as its source")
    return parser


def weight_files(folder):
    """(fp16 files, plain files) of model weights in a component folder."""
    names = os.listdir(folder) if os.path.isdir(folder) else []
    weights = [n for n in names if n.endswith((".safetensors", ".bin"))]
    fp16 = [n for n in weights if ".fp16." in n or ".fp16-" in n]
    return fp16, [n for n in weights if n not in fp16]


def component_folder(model, part):
    return os.path.join(model, layout.SOURCE_FOLDERS[part])


def check_component(model, part):
    """UsageError unless the model folder has the part's folder with a config and weights."""
    folder = component_folder(model, part)
    sub = layout.SOURCE_FOLDERS[part]
    if not os.path.isfile(os.path.join(folder, "config.json")):
        raise UsageError(f"the model folder has no {part} ({sub}/config.json is missing)")
    fp16, plain = weight_files(folder)
    if not fp16 and not plain:
        raise UsageError(f"the model folder has no {part} weights ({sub}/ has no .safetensors or .bin file)")


def check_size(args):
    if args.height <= 0 or args.width <= 0 or args.height % layout.LATENT_FACTOR or args.width % layout.LATENT_FACTOR:
        raise UsageError(f"--height and --width must be positive multiples of {layout.LATENT_FACTOR}, "
                         f"got {args.height}x{args.width}")
    if args.height != args.width:
        raise UsageError(f"Core AI's Swift Stable Diffusion pipeline makes square images only, got {args.height}x{args.width}")


def check_arguments(args):
    """Everything checkable before torch is imported; UsageError on the first problem."""
    if not os.path.isdir(args.model):
        raise UsageError(f"--model {args.model} is not a folder")
    check_size(args)
    if args.command == "export":
        if args.batch < 1:
            raise UsageError(f"--batch must be at least 1, got {args.batch}")
        check_component(args.model, args.part)
        if args.part == "text_encoder_2" and layout.model_kind(args.model) != "sdxl":
            raise UsageError("--part text_encoder_2 needs a pipeline with a second text encoder (SDXL)")
        if os.path.exists(args.bundle) and not os.path.isdir(args.bundle):
            raise UsageError(f"--bundle {args.bundle} exists and is not a folder")
        parity_dir = os.path.dirname(os.path.abspath(args.parity_json))
        if not os.path.isdir(parity_dir):
            raise UsageError(f"--parity-json: its folder {parity_dir} does not exist")
    else:
        if not os.path.isdir(args.bundle):
            raise UsageError(f"--bundle {args.bundle} is not a folder")
        if args.parts is None:
            args.parts = ",".join(layout.parts_for(layout.model_kind(args.model)))
        parts = [p for p in args.parts.split(",") if p]
        unknown = [p for p in parts if p not in PARTS]
        if unknown or not parts:
            raise UsageError(f"--parts: unknown part(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(PARTS)}")
        lacking = [p for p in layout.REQUIRED_PARTS if p not in parts]
        if lacking:
            raise UsageError(f"--parts must include {', '.join(lacking)} (the Swift runtime needs them)")
        args.parts = parts


def peak_rss_bytes():
    """This process's peak resident set (Linux reports kilobytes, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def folder_bytes(folder):
    return sum(os.path.getsize(os.path.join(parent, name)) for parent, _d, files in os.walk(folder) for name in files)


def write_json(path, data):
    layout.write_json_atomically(path, data)


# ------------------------------------------------------------------ the part (torch from here on)


def import_torch_stack():
    """torch and diffusers. diffusers 0.36 fails to import beside torchao 0.18 (coreai-opt brings
    it): a NameError on `logger` in its torchao quantizer; diffusers' torchao support is not used
    here, so it is switched off before diffusers is imported."""
    import torch
    try:
        import diffusers.utils.import_utils as diffusers_imports
        diffusers_imports._torchao_available = False
    except (ImportError, AttributeError):
        pass
    import diffusers
    return torch, diffusers


def load_component(model, part, dtype):
    """The part's diffusers or transformers model, alone, from the local folder."""
    torch, diffusers = import_torch_stack()
    folder = component_folder(model, part)
    fp16, _plain = weight_files(folder)
    variant = "fp16" if fp16 else None
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    if part.startswith("text_encoder"):
        import transformers
        name = (config.get("architectures") or ["CLIPTextModel"])[0]
        cls = getattr(transformers, name, None)
        if cls is None:
            raise ExportError(f"{layout.SOURCE_FOLDERS[part]}/config.json names {name}, which transformers lacks")
    else:
        name = config.get("_class_name") or ("UNet2DConditionModel" if part == "unet" else "AutoencoderKL")
        cls = getattr(diffusers, name, None)
        if cls is None:
            raise ExportError(f"{layout.SOURCE_FOLDERS[part]}/config.json names {name}, which diffusers lacks")
    log(f"{part}: loading {name} ({'fp16' if variant else 'plain'} weights) as {str(dtype).replace('torch.', '')}")
    module = cls.from_pretrained(folder, variant=variant, torch_dtype=dtype, low_cpu_mem_usage=True)
    return module.eval(), config


def nearest_upsample_by_repeat(module):
    """Each diffusers Upsample2D below module made to upsample 2x with repeat_interleave instead of
    F.interpolate(mode="nearest"): the same values, and ops the device's GPU backend takes (Apple's
    recipe does the same: MPSGraph rejects nearest interpolation, which then runs on the CPU).
    Returns a function that puts the original forwards back."""
    import types

    from diffusers.models.upsampling import Upsample2D
    patched = []
    for sub in module.modules():
        if isinstance(sub, Upsample2D) and not sub.use_conv_transpose and sub.interpolate:
            sub.forward = types.MethodType(_upsample_by_repeat, sub)
            patched.append(sub)

    def restore():
        for sub in patched:
            del sub.forward
    return restore


def _upsample_by_repeat(self, hidden_states, output_size=None, *args, **kwargs):
    import torch.nn.functional as F
    if self.norm is not None:
        hidden_states = self.norm(hidden_states.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    height, width = hidden_states.shape[-2:]
    if output_size is not None and tuple(output_size) != (2 * height, 2 * width):
        hidden_states = F.interpolate(hidden_states, size=output_size, mode="nearest")
    else:
        hidden_states = hidden_states.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)
    if self.use_conv:
        hidden_states = (self.conv if self.name == "conv" else self.Conv2d_0)(hidden_states)
    return hidden_states


def describe(names, tensors):
    return ", ".join(f"{n} {list(x.shape)} {str(x.dtype).replace('torch.', '')}" for n, x in zip(names, tensors))


def make_wrapper(part, module, torch, sdxl_text=False):
    """A module with the part's Core AI inputs and outputs (coreai_layout.INPUT_NAMES, OUTPUT_NAMES)."""

    class TextEncoder(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids):
            return self.model(input_ids).last_hidden_state

    class TextEncoderSDXL(torch.nn.Module):
        """SDXL's encoders: the penultimate hidden state (what its pipeline uses), and the projected
        pooled output of the second."""

        def __init__(self, model, pooled):
            super().__init__()
            self.model, self.pooled = model, pooled

        def forward(self, input_ids):
            out = self.model(input_ids, output_hidden_states=True)
            if self.pooled:
                return out.hidden_states[-2], out.text_embeds
            return out.hidden_states[-2]

    class Unet(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, sample, timestep, encoder_hidden_states):
            return self.model(sample, timestep, encoder_hidden_states, return_dict=False)[0]

    class UnetSDXL(Unet):
        def forward(self, sample, timestep, encoder_hidden_states, text_embeds, time_ids):
            return self.model(sample, timestep, encoder_hidden_states, return_dict=False,
                              added_cond_kwargs={"text_embeds": text_embeds, "time_ids": time_ids})[0]

    class VAEDecoder(torch.nn.Module):
        """z (latents already divided by the scaling factor) -> image in [-1, 1]; post_quant_conv included."""

        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, z):
            return self.model.decode(z, return_dict=False)[0]

    class VAEEncoder(torch.nn.Module):
        """image in [-1, 1] -> the latent distribution's parameters (mean and log-variance, on channels)."""

        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, image):
            return self.model.encode(image).latent_dist.parameters

    sdxl = is_sdxl_unet(module) if part == "unet" else False
    if part == "unet":
        return UnetSDXL(module) if sdxl else Unet(module)
    if part == "vae_decoder":
        return VAEDecoder(module)
    if part == "vae_encoder":
        return VAEEncoder(module)
    if part == "text_encoder_2" or sdxl_text:
        return TextEncoderSDXL(module, pooled=part == "text_encoder_2")
    return TextEncoder(module)


def is_sdxl_unet(module):
    return getattr(module.config, "addition_embed_type", None) == "text_time"


def io_names(part, module, sdxl_text=False):
    if part == "unet" and is_sdxl_unet(module):
        return layout.SDXL_UNET_INPUT_NAMES, layout.OUTPUT_NAMES["unet"]
    if part == "text_encoder" and sdxl_text:
        return layout.INPUT_NAMES[part], layout.SDXL_TEXT_ENCODER_OUTPUT_NAMES
    return layout.INPUT_NAMES[part], layout.OUTPUT_NAMES[part]


def sample_inputs(part, module, config, args, dtype, torch):
    """Seeded random inputs in the part's input order: int32 token ids, floats in dtype."""
    generator = torch.Generator().manual_seed(args.parity_seed)
    shapes = layout.input_shapes(part, args.height, args.width, args.batch, config)
    if part.startswith("text_encoder"):
        vocab = config.get("vocab_size", 49408)
        (shape, _), = shapes.values()
        return (torch.randint(0, vocab, shape, generator=generator, dtype=torch.int64).to(torch.int32),)
    if part == "unet":
        sample = torch.randn(shapes["sample"][0], generator=generator)
        timestep = torch.randint(1, 1000, (1,), generator=generator).float().expand(args.batch).contiguous()
        hidden = torch.randn(shapes["encoder_hidden_states"][0], generator=generator)
        inputs = [sample, timestep, hidden]
        if is_sdxl_unet(module):
            time_dim = module.config.addition_time_embed_dim
            pooled = module.config.projection_class_embeddings_input_dim - 6 * time_dim
            inputs.append(torch.randn(args.batch, pooled, generator=generator))
            size = float(args.height)
            inputs.append(torch.tensor([[size, size, 0.0, 0.0, size, size]] * args.batch))
        return tuple(x.to(dtype) for x in inputs)
    if part == "vae_decoder":
        return (torch.randn(shapes["z"][0], generator=generator).to(dtype),)
    return ((torch.rand(shapes["image"][0], generator=generator) * 2 - 1).to(dtype),)


def export_program(wrapper, inputs, input_names, output_names):
    """The exported, decomposed, converted Core AI program (to_coreai() optimizes in 0.4.3)."""
    import coreai_torch
    import torch

    def export_fn(module):
        with torch.no_grad():
            exported = torch.export.export(module, args=inputs)
        return exported.run_decompositions(coreai_torch.get_decomp_table())

    converter = coreai_torch.TorchConverter(mode=coreai_torch.TorchConverter.Mode.RELEASE)
    converter.add_pytorch_module(wrapper, export_fn=export_fn, input_names=input_names, output_names=output_names)
    return converter.to_coreai()


def compress(program, compression):
    if compression == "none":
        return program
    from coreai_opt.coreai_utils import CompressionGranularity, DType, palettize_weights, quantize_weights
    from coreai_opt.coreai_utils.common import QScheme
    if compression == "int4":
        return quantize_weights(program, dtype=DType.INT4, qscheme=QScheme.SYMMETRIC,
                                granularity=CompressionGranularity.PER_BLOCK, block_size=INT4_BLOCK,
                                weight_num_threshold=WEIGHT_THRESHOLD, in_place=True)
    if compression == "palettize4":
        return palettize_weights(program, lut_dtype=None, n_bits=4, granularity=CompressionGranularity.PER_TENSOR,
                                 weight_num_threshold=WEIGHT_THRESHOLD, num_kmeans_workers=PALETTIZE_WORKERS,
                                 in_place=True)
    raise UsageError(f"unknown compression {compression}")


def asset_metadata(part, compression, precision):
    from coreai.runtime import AIModelAssetMetadata
    metadata = AIModelAssetMetadata()
    metadata.model_description = f"Stable Diffusion {part} ({layout.asset_file(part)})"
    metadata.set_custom("part", part)
    metadata.set_custom("compression", compression)
    metadata.set_custom("precision", precision)
    return metadata


def run_coreai(asset_dir, names, inputs):
    """{output name: float32 numpy array} of the saved asset run by coreai-core's runtime."""
    import asyncio
    from pathlib import Path

    import numpy as np
    from coreai.authoring.asset import AIModelAsset
    from coreai.runtime import NDArray

    asset = AIModelAsset.load(Path(asset_dir))

    async def run():
        async with asset.executable() as model:
            function = model.load_function(model.function_names[0])
            feed = {name: NDArray(np.ascontiguousarray(x.numpy())) for name, x in zip(names, inputs)}
            outputs = await function(feed)
            return {name: np.asarray(value.numpy(), dtype=np.float32) for name, value in outputs.items()}
    return asyncio.run(run())


def compare(reference, coreai_outputs, output_names):
    """Per output {psnr, max_abs_diff, shape}, PSNR as parity.own_compute_psnr (torch2coreml's)."""
    import numpy as np
    from parity import own_compute_psnr
    figures = {}
    for name, expected in zip(output_names, reference):
        if name not in coreai_outputs:
            raise ExportError(f"the Core AI model has no output {name!r} (it has {', '.join(coreai_outputs)})")
        actual = coreai_outputs[name]
        expected = np.asarray(expected, dtype=np.float32)
        if actual.shape != expected.shape:
            raise ExportError(f"output {name}: Core AI shape {actual.shape}, PyTorch {expected.shape}")
        figures[name] = {"psnr": float(own_compute_psnr(expected, actual)),
                         "max_abs_diff": float(np.abs(expected - actual).max()),
                         "shape": list(actual.shape)}
    return figures


def export_part(args):
    """The export command; returns the parity record."""
    started = time.monotonic()
    torch, _diffusers = import_torch_stack()
    dtype = torch.float16 if args.precision == "float16" else torch.float32
    module, config = load_component(args.model, args.part, dtype)
    loaded = time.monotonic()
    sdxl_text = args.part == "text_encoder" and layout.model_kind(args.model) == "sdxl"
    input_names, output_names = io_names(args.part, module, sdxl_text)
    inputs = sample_inputs(args.part, module, config, args, dtype, torch)
    wrapper = make_wrapper(args.part, module, torch, sdxl_text)
    restore = nearest_upsample_by_repeat(module) if args.part in ("unet", "vae_decoder") else (lambda: None)

    component = layout.asset_file(args.part)
    final = os.path.join(args.bundle, component)
    partial_dir = final + PARTIAL
    os.makedirs(args.bundle, exist_ok=True)
    shutil.rmtree(partial_dir, ignore_errors=True)
    try:
        log(f"{args.part}: exporting (inputs {describe(input_names, inputs)})")
        program = export_program(wrapper, inputs, input_names, output_names)
        exported = time.monotonic()
        if args.compression != "none":
            log(f"{args.part}: compressing ({args.compression})")
        program = compress(program, args.compression)
        compressed = time.monotonic()
        from pathlib import Path
        staged = os.path.join(partial_dir, component)
        os.makedirs(partial_dir)
        program.save_asset(Path(staged), asset_metadata(args.part, args.compression, args.precision))
        del program
        saved = time.monotonic()
        size = folder_bytes(staged)
        log(f"{args.part}: saved {component} ({size / 1e6:.1f} MB) in {saved - loaded:.1f} s")
        restore()

        if args.skip_parity:
            # check-output-correctness: false (coreai-core's runtime on Linux is slow at full size: the
            # action's README gives the figures). The asset is saved unchecked; the record says so.
            record = {"part": args.part, "component": component, "compression": args.compression, "psnr": None,
                      "skipped": True, "export_seconds": round(saved - loaded, 3), "aimodel_bytes": size,
                      "peak_rss_bytes": peak_rss_bytes(), "load_seconds": round(loaded - started, 3),
                      "precision": args.precision}
            write_json(args.parity_json, record)
            log(f"{args.part}: parity check skipped (--skip-parity)")
            shutil.rmtree(final, ignore_errors=True)
            os.rename(staged, final)
            shutil.rmtree(partial_dir, ignore_errors=True)
            return record
        coreai_outputs = run_coreai(staged, input_names, inputs)
        with torch.no_grad():
            reference = wrapper.float()(*[x.float() if x.is_floating_point() else x for x in inputs])
        reference = reference if isinstance(reference, tuple) else (reference,)
        figures = compare([r.numpy() for r in reference], coreai_outputs, output_names)
        checked = time.monotonic()
        first = output_names[0]
        record = {
            "part": args.part, "component": component, "compression": args.compression,
            "psnr": min(f["psnr"] for f in figures.values()),
            "max_abs_diff": max(f["max_abs_diff"] for f in figures.values()),
            "output_shape": figures[first]["shape"],
            "export_seconds": round(saved - loaded, 3), "parity_seconds": round(checked - saved, 3),
            "aimodel_bytes": size, "peak_rss_bytes": peak_rss_bytes(),
            "load_seconds": round(loaded - started, 3), "compress_seconds": round(compressed - exported, 3),
            "precision": args.precision, "seed": args.parity_seed,
            "inputs": {n: list(x.shape) for n, x in zip(input_names, inputs)},
            "outputs": figures,
            "reference": "float32 PyTorch module (same weights, upcast), same inputs",
            "psnr_definition": "parity.own_compute_psnr: 20*log10((max|coreai|+1e-5)/(rms(torch-coreai)+1e-10))",
        }
        write_json(args.parity_json, record)
        log(f"{args.part}: parity PSNR {record['psnr']:.1f} dB, max |diff| {record['max_abs_diff']:.4g} "
            f"(export {record['export_seconds']:.1f} s, parity {record['parity_seconds']:.1f} s, "
            f"peak RSS {record['peak_rss_bytes'] / 2**30:.2f} GiB)")
        if args.min_psnr is not None and not record["psnr"] >= args.min_psnr:
            raise ExportError(f"{args.part}: PSNR {record['psnr']:.1f} dB is below --min-psnr {args.min_psnr}")
        shutil.rmtree(final, ignore_errors=True)
        os.rename(staged, final)
        shutil.rmtree(partial_dir, ignore_errors=True)
        return record
    except BaseException:
        shutil.rmtree(partial_dir, ignore_errors=True)
        raise


# ------------------------------------------------------------------ finish (standard library)


def parts_compression(bundle, parts):
    """The compression each part's asset metadata records (what export wrote), as one label."""
    found = {}
    for part in parts:
        try:
            with open(os.path.join(layout.asset_path(bundle, part), "metadata.json"), encoding="utf-8") as f:
                meta = json.load(f)
        except (OSError, ValueError):
            continue
        custom = meta.get("creatorDefinedMetadata") or meta.get("creator_defined_metadata") or {}
        found[part] = custom.get("compression", "none") if isinstance(custom, dict) else "none"
    labels = sorted(set(found.values()) - {"none"})
    if not labels:
        return "none"
    if len(labels) == 1:
        return labels[0]
    return ",".join(f"{part}={label}" for part, label in found.items() if label != "none")


def finish(args):
    missing = layout.missing_assets(args.bundle, args.parts)
    if missing:
        raise ExportError(f"the bundle lacks {', '.join(missing)}: export those parts first")
    kind = layout.model_kind(args.model)
    try:
        diffusion = layout.diffusion_config(args.model, args.height, args.width, kind)
    except layout.LayoutError as error:
        raise UsageError(str(error)) from error
    compression = args.compression or parts_compression(args.bundle, args.parts)
    source = {"hf_model_id": args.model_id} if args.model_id else {}
    metadata = layout.build_metadata(args.name or os.path.basename(os.path.abspath(args.bundle)), args.parts,
                                     diffusion, compression, source,
                                     date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    try:
        copied = layout.copy_tokenizers(args.model, args.bundle, kind)
    except layout.LayoutError as error:
        raise UsageError(str(error)) from error
    layout.write_metadata(args.bundle, metadata)
    log(f"finished the bundle: {', '.join(metadata['assets'].values())}, {', '.join(f + '/' for f in copied)}, "
        f"{layout.METADATA_FILE} ({diffusion['type']}, {diffusion['prediction_type']}, {diffusion['image_size']} px"
        f"{', compression ' + compression if compression != 'none' else ''})")
    return metadata


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
        check_arguments(args)
        if args.command == "export":
            export_part(args)
        else:
            finish(args)
        return 0
    except UsageError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr, flush=True)
        return 1
    except Exception as error:  # noqa: BLE001 - everything else is exit 1, with the traceback for the log
        traceback.print_exc()
        print(f"{PROG}: error: {error}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""Turn a single-file Stable Diffusion checkpoint (and LoRAs to merge into it) into a diffusers
folder with fp16 safetensors, for Apple's torch2coreml.

Shipped with the coreml-stable-diffusion action (input `model-version` naming a .safetensors or
.ckpt file, input `lora`). The converter loads only diffusers folders with variant="fp16"; this
helper loads the file with diffusers' own from_single_file (the configs and tokenizers from CONFIG,
a Hub id read from the Hub cache or a local diffusers folder), merges each LoRA with its scale
(load_lora_weights + fuse_lora, then the adapters are unloaded: the merged weights stay), and saves
save_pretrained(OUTPUT, variant="fp16", safe_serialization=True).

    python single_file.py --checkpoint FILE --kind sd1|sd2|sdxl --config CONFIG --output FOLDER
                          [--config-revision SHA] [--lora FILE[:SCALE]]... [--allow-pickle]

A .ckpt (or any pickle: .pt, .pth, .bin) is refused unless --allow-pickle (exit 2): unpickling runs
code from the file. Safetensors files are read without unpickling. Before anything heavy is
imported, the safetensors headers are read (standard library) to check that the checkpoint is of
--kind and that each LoRA's cross-attention width is the checkpoint's (a LoRA for another base).

The output is built in OUTPUT.partial-<pid> and renamed into place when complete: a failure leaves
nothing. The last stdout line is `SINGLE_FILE_RESULT {json}` (versions, kind, LoRAs and their
scales, the files written). Errors: exit 1, the message on stderr.

The loader is injectable: SINGLE_FILE_LOADER=module:function names a function called as
load(checkpoint, kind=, config=, revision=, loras=[(file, scale)], log=) that returns an object
with diffusers' save_pretrained(); the default uses diffusers.
Runs in the converter's environment; standard library only apart from the loader.
"""

import argparse
import importlib.metadata
import json
import math
import os
import re
import struct
import sys
import traceback

from helper_common import loader_from_spec, save_fp16_folder

LOADER_ENV = "SINGLE_FILE_LOADER"
RESULT_PREFIX = "SINGLE_FILE_RESULT"
KINDS = ("sd1", "sd2", "sdxl")
SAFETENSORS = ".safetensors"
# Formats read with pickle (torch.load): refused without --allow-pickle.
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
# A safetensors header is JSON of at most 100 MB (the format's own limit).
MAX_HEADER = 100 * 1024 * 1024
EXIT_REFUSED = 2


class SingleFileError(Exception):
    """A failure with a message meant for the workflow log."""


class PickleRefused(SingleFileError):
    """A pickle file without --allow-pickle (exit 2)."""


def parse_lora(spec):
    """`FILE[:SCALE]` -> (FILE, scale); the scale is after the last ':' (a path may hold ':')."""
    path, sep, scale_text = spec.rpartition(":")
    if not sep:
        return spec, 1.0
    try:
        scale = float(scale_text)
    except ValueError:
        raise SingleFileError(f"--lora {spec}: the scale after the last ':' must be a number, got {scale_text!r}") from None
    if not math.isfinite(scale):
        raise SingleFileError(f"--lora {spec}: the scale must be a finite number, got {scale_text!r}")
    if not path:
        raise SingleFileError(f"--lora {spec}: no file before the scale")
    return path, scale


def check_format(path, what, allow_pickle):
    """The file exists and is safetensors, or a pickle format with --allow-pickle."""
    if not os.path.isfile(path):
        raise SingleFileError(f"{what} {path} is not a file")
    lower = path.lower()
    if lower.endswith(PICKLE_SUFFIXES):
        if not allow_pickle:
            raise PickleRefused(
                f"{what} {path} is a pickle file ({os.path.splitext(path)[1]}): loading it can run code hidden in it. "
                f"Use a .safetensors file, or pass --allow-pickle (input allow-pickle: true) if you trust its source.")
        return False
    if not lower.endswith(SAFETENSORS):
        raise SingleFileError(f"{what} {path} is neither {SAFETENSORS} nor one of {', '.join(PICKLE_SUFFIXES)} (with --allow-pickle)")
    return True


def safetensors_header(path):
    """Tensor name -> shape, from the file's header (8-byte little-endian length, then JSON)."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise SingleFileError(f"{path} is not a safetensors file: it is shorter than its header length")
        (length,) = struct.unpack("<Q", head)
        if not 0 < length <= min(MAX_HEADER, os.path.getsize(path) - 8):
            raise SingleFileError(f"{path} is not a safetensors file: its header length ({length}) does not fit the file")
        try:
            header = json.loads(f.read(length))
        except ValueError as error:
            raise SingleFileError(f"{path} is not a safetensors file: its header is not JSON ({error})") from None
    if not isinstance(header, dict):
        raise SingleFileError(f"{path} is not a safetensors file: its header is not a JSON object")
    return {name: tuple(info.get("shape", ())) for name, info in header.items()
            if name != "__metadata__" and isinstance(info, dict)}


def checkpoint_kind(names):
    """sd1 / sd2 / sdxl from the text encoders' places in the single file; None when it is none."""
    if not any(n.startswith("model.diffusion_model.") for n in names):
        return None
    if any(n.startswith("conditioner.embedders.1.model.") for n in names):
        return "sdxl"
    if any(n.startswith("cond_stage_model.model.") for n in names):
        return "sd2"  # OpenCLIP
    if any(n.startswith("cond_stage_model.transformer.") for n in names):
        return "sd1"  # CLIP
    return None


def cross_attention_width(shapes, is_lora):
    """Width of the text the unet attends to: the input side of the first attn2.to_k (checkpoint) or
    of its LoRA down projection (diffusers/peft, old diffusers and kohya names)."""
    for name in sorted(shapes):
        shape = shapes[name]
        if len(shape) < 2:
            continue
        if is_lora:
            lowered = name.replace("_", ".")
            if ("text.encoder" in lowered or "lora.te" in lowered or "attn2" not in lowered or "to.k" not in lowered
                    or not re.search(r"(lora\.A|lora\.down|\.down)\.weight$", lowered)):
                continue
        elif not (name.startswith("model.diffusion_model.") and name.endswith("attn2.to_k.weight")):
            continue
        return shape[1]
    return None


def check_inputs(checkpoint, kind, loras, allow_pickle):
    """Everything that can be told from the files without loading them."""
    if check_format(checkpoint, "--checkpoint", allow_pickle):
        shapes = safetensors_header(checkpoint)
        found = checkpoint_kind(shapes)
        if found is None:
            raise SingleFileError(f"--checkpoint {checkpoint} is not a Stable Diffusion 1.x, 2.x or SDXL checkpoint in "
                                  "single-file form (no model.diffusion_model.* with cond_stage_model.* or conditioner.embedders.*)")
        if found != kind:
            raise SingleFileError(f"--checkpoint {checkpoint} is an {found} checkpoint by its tensor names, not {kind}")
        width = cross_attention_width(shapes, is_lora=False)
    else:
        width = None  # a pickle: its names cannot be read without unpickling it
    for path, _scale in loras:
        if check_format(path, "--lora", allow_pickle):
            lora_shapes = safetensors_header(path)
            if not any("lora" in name.lower() for name in lora_shapes):
                raise SingleFileError(f"--lora {path} holds no LoRA weights (no tensor name has 'lora' in it)")
            lora_width = cross_attention_width(lora_shapes, is_lora=True)
            if width is not None and lora_width is not None and lora_width != width:
                raise SingleFileError(f"--lora {path} is for another base model: its cross-attention takes text of width "
                                      f"{lora_width}, the {kind} checkpoint's takes {width}")


def merge_loras(pipe, kind, loras, log):
    """Fuse each LoRA into the weights with its own scale, one at a time, then drop its adapter."""
    for index, (path, scale) in enumerate(loras):
        name = f"lora{index}"
        log(f"Merging LoRA {path} with scale {scale}..")
        try:
            # a folder and a file name: given a file path alone, diffusers asks the Hub for it
            pipe.load_lora_weights(os.path.dirname(os.path.abspath(path)), weight_name=os.path.basename(path), adapter_name=name)
        except (RuntimeError, ValueError, KeyError) as error:
            # size mismatches (another base) come as RuntimeError, names diffusers cannot place as ValueError
            detail = " ".join(line.strip() for line in str(error).splitlines()[:2]) or type(error).__name__
            raise SingleFileError(f"--lora {path} could not be merged into this {kind} checkpoint (a LoRA for another "
                                  f"base model, or in a layout diffusers does not read?): {detail}") from error
        attached = sorted(c for c, names in pipe.get_list_adapters().items() if name in names)
        if not attached:
            raise SingleFileError(f"--lora {path} has no layer that this checkpoint has (a LoRA for another base model?)")
        pipe.fuse_lora(lora_scale=scale, adapter_names=[name], safe_fusing=True)
        pipe.unload_lora_weights()
        log(f"  merged into {', '.join(attached)}")
    return pipe


def load_with_diffusers(checkpoint, kind, config, revision=None, loras=(), log=print):
    """diffusers' from_single_file in float16, the LoRAs merged."""
    import torch  # imported here: heavy, and absent where a test injects its own loader
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    pipeline_class = StableDiffusionXLPipeline if kind == "sdxl" else StableDiffusionPipeline
    extra = {"revision": revision} if revision else {}
    pipe = pipeline_class.from_single_file(checkpoint, config=config, torch_dtype=torch.float16, **extra)
    return merge_loras(pipe, kind, loras, log)


def resolve_loader(spec):
    """`module:function` -> the function; None -> load_with_diffusers."""
    return loader_from_spec(spec, LOADER_ENV, load_with_diffusers, SingleFileError)


def convert(checkpoint, kind, config, output, load, loras=(), revision=None, log=print):
    """Load checkpoint with `load`, save it into output as an fp16 safetensors diffusers folder.

    Built in output.partial-<pid> and renamed into place when complete; a previous output is
    replaced only then. Returns the fp16 files written (relative to output)."""
    output = os.path.abspath(output)

    def load_it():
        log(f"Loading {checkpoint} as {kind} with the configs of {config}{f'@{revision}' if revision else ''}..")
        return load(checkpoint, kind=kind, config=config, revision=revision, loras=list(loras), log=log)

    return save_fp16_folder(load_it, output, f"{output}.partial-{os.getpid()}", SingleFileError, log)


def installed_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Turn a single-file SD checkpoint (+ LoRAs) into an fp16 diffusers folder.")
    parser.add_argument("--checkpoint", required=True, help="the .safetensors (or, with --allow-pickle, .ckpt) file")
    parser.add_argument("--kind", required=True, choices=KINDS)
    parser.add_argument("--config", required=True, help="Hub id or local diffusers folder with the configs and tokenizers")
    parser.add_argument("--config-revision", default=None, help="Hub commit of --config")
    parser.add_argument("--output", required=True, help="folder that receives the diffusers pipeline")
    parser.add_argument("--lora", action="append", default=[], metavar="FILE[:SCALE]", help="a LoRA to merge (repeatable)")
    parser.add_argument("--allow-pickle", action="store_true", help="accept .ckpt and other pickle files")
    return parser.parse_args(argv)


def main(argv=None, environ=None):
    environ = os.environ if environ is None else environ
    args = parse_args(argv)
    try:
        loras = [parse_lora(spec) for spec in args.lora]
        check_inputs(args.checkpoint, args.kind, loras, args.allow_pickle)
        load = resolve_loader(environ.get(LOADER_ENV))
        written = convert(args.checkpoint, args.kind, args.config, args.output, load, loras=loras, revision=args.config_revision)
    except PickleRefused as error:
        print(f"single_file: {error}", file=sys.stderr)
        return EXIT_REFUSED
    except SingleFileError as error:
        print(f"single_file: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # the loader's own errors (Hub cache, memory, a broken file): say what failed
        traceback.print_exc()
        print(f"single_file: could not turn {args.checkpoint} into a diffusers folder: {type(error).__name__}: {error}",
              file=sys.stderr)
        return 1
    result = {"diffusers": installed_version("diffusers"), "torch": installed_version("torch"), "kind": args.kind,
              "checkpoint": os.path.abspath(args.checkpoint), "config": args.config, "config_revision": args.config_revision,
              "loras": [{"file": path, "scale": scale} for path, scale in loras],
              "output": os.path.abspath(args.output), "files": written}
    print(f"{RESULT_PREFIX} {json.dumps(result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

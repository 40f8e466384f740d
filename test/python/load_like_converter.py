"""Loads models from the huggingface_hub cache with the calls torch2coreml makes at e12202c
(get_pipeline, the ControlNet and custom VAE loads), with real diffusers and transformers, and
prints as JSON what was loaded and which files of the cache were read. The tests run it with
HF_HUB_OFFLINE=1 on the cache the action filled: a file the loader wants and the cache lacks
fails the load; a file the cache holds and no loader read is one the action need not download.

  python load_like_converter.py --model ID [--custom-vae ID] [--controlnet ID ...] [--refiner ID]
"""
import argparse
import json
import os
import sys

import safetensors
import safetensors.torch

opened = set()


def _note(path):
    try:
        opened.add(os.path.abspath(os.fspath(path)))
    except TypeError:
        pass


def _audit(event, args):
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        _note(args[0])


# Weights are read by safetensors' Rust code, which no audit event sees: note them at the two
# entry points diffusers and transformers call (patched before either imports them).
_safe_open, _load_file = safetensors.safe_open, safetensors.torch.load_file


def _recording_safe_open(filename, *args, **kwargs):
    _note(filename)
    return _safe_open(filename, *args, **kwargs)


def _recording_load_file(filename, *args, **kwargs):
    _note(filename)
    return _load_file(filename, *args, **kwargs)


safetensors.safe_open = _recording_safe_open
safetensors.torch.load_file = _recording_load_file
sys.addaudithook(_audit)

import torch  # noqa: E402
from diffusers import AutoencoderKL, ControlNetModel, DiffusionPipeline  # noqa: E402


def get_pipeline(model_version, custom_vae_version):
    # As torch2coreml's get_pipeline: fp16 variant, safetensors only, the token argument it passes.
    extra = {}
    if custom_vae_version:
        extra["vae"] = AutoencoderKL.from_pretrained(custom_vae_version, torch_dtype=torch.float16)
    return DiffusionPipeline.from_pretrained(model_version, torch_dtype=torch.float16, variant="fp16",
                                             use_safetensors=True, use_auth_token=True, **extra)


def cache_files(cache):
    """Every file of every snapshot in the cache, as `repo/rfilename`, with the path read."""
    found = {}
    for repo in sorted(os.listdir(cache)):
        snapshots = os.path.join(cache, repo, "snapshots")
        if not repo.startswith("models--") or not os.path.isdir(snapshots):
            continue
        for sha in os.listdir(snapshots):
            base = os.path.join(snapshots, sha)
            for folder, _, files in os.walk(base):
                for name in files:
                    path = os.path.join(folder, name)
                    found[f"{repo[len('models--'):].replace('--', '/')}/{os.path.relpath(path, base)}"] = path
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--custom-vae")
    parser.add_argument("--controlnet", action="append", default=[])
    parser.add_argument("--refiner")
    args = parser.parse_args()

    loaded = {}
    pipe = get_pipeline(args.model, args.custom_vae)
    loaded["pipeline"] = {"class": type(pipe).__name__, "components": sorted(k for k, v in pipe.components.items() if v is not None),
                          "dtypes": sorted({str(p.dtype) for p in pipe.unet.parameters()})}
    for controlnet in args.controlnet:
        model = ControlNetModel.from_pretrained(controlnet, use_auth_token=True)
        loaded[controlnet] = {"class": type(model).__name__}
    if args.refiner:
        refiner = get_pipeline(args.refiner, args.custom_vae)
        loaded["refiner"] = {"class": type(refiner).__name__, "components": sorted(k for k, v in refiner.components.items() if v is not None)}

    cache = os.environ["HF_HUB_CACHE"]
    files = cache_files(cache)
    read = sorted(name for name, path in files.items() if path in opened or os.path.realpath(path) in opened)
    json.dump({"loaded": loaded, "cached": sorted(files), "read": read}, sys.stdout)


if __name__ == "__main__":
    main()

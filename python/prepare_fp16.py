"""Save an fp16 safetensors copy of a diffusers pipeline, for Apple's torch2coreml.

Shipped with the coreml-stable-diffusion action (input `prepare-fp16`). The converter loads every
pipeline with variant="fp16", use_safetensors=True, so a checkpoint without *.fp16.safetensors
files fails. This helper loads the pipeline in float16 (whatever files it has) and saves it with
variant="fp16" as safetensors; the action then runs the converter where that copy is found under
the original model id.

    python prepare_fp16.py --model-version ID_OR_FOLDER --output FOLDER [--revision COMMIT]

The loader is injectable: PREPARE_FP16_LOADER=module:function names a function taking the model
id (and `revision=` when one is given) and returning an object with diffusers' save_pretrained();
the default loads with diffusers.
Runs in the converter's environment; standard library only apart from the loader.
"""

import argparse
import importlib
import os
import re
import shutil
import sys
import traceback

# x.fp16.safetensors, or a shard of one as diffusers names it (x.fp16-00001-of-00002.safetensors)
FP16_FILE = re.compile(r"\.fp16(-\d+-of-\d+)?\.safetensors$")
LOADER_ENV = "PREPARE_FP16_LOADER"


class PrepareError(Exception):
    """A failure with a message meant for the workflow log."""


def load_with_diffusers(model_version, revision=None):
    """DiffusionPipeline in float16; no variant, so whatever weights the checkpoint has load."""
    import torch  # imported here: heavy, and absent where a test injects its own loader
    from diffusers import DiffusionPipeline

    extra = {"revision": revision} if revision else {}
    return DiffusionPipeline.from_pretrained(model_version, torch_dtype=torch.float16, **extra)


def resolve_loader(spec):
    """`module:function` -> the function; None -> load_with_diffusers."""
    if not spec:
        return load_with_diffusers
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise PrepareError(f"{LOADER_ENV} must be module:function, got {spec!r}")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as error:
        raise PrepareError(f"{LOADER_ENV}={spec} cannot be loaded: {error}") from error


def fp16_files(folder):
    """Relative paths of the *.fp16.safetensors files below folder, sorted."""
    found = []
    for parent, _dirs, files in os.walk(folder):
        for name in files:
            if FP16_FILE.search(name):
                found.append(os.path.relpath(os.path.join(parent, name), folder))
    return sorted(found)


def is_complete(folder):
    """A finished copy: a pipeline index and fp16 safetensors (only a finished copy is renamed there)."""
    return os.path.isfile(os.path.join(folder, "model_index.json")) and bool(fp16_files(folder))


def prepare(model_version, output, load, log=print, revision=None):
    """Load model_version (at revision, when given) with `load`, save it into output with
    variant="fp16" as safetensors.

    The copy is written beside output and renamed into place when complete, so a killed run never
    leaves a folder that looks finished. Returns the fp16 files written (relative to output).
    """
    output = os.path.abspath(output)
    if is_complete(output):
        log(f"An fp16 copy is already in {output}; keeping it.")
        return fp16_files(output)
    partial = output + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(os.path.dirname(output), exist_ok=True)
    try:
        log(f"Loading {model_version}{f'@{revision}' if revision else ''} in float16..")
        # The commit the action resolved, so the copy is of what the converter would have loaded.
        pipeline = load(model_version, revision=revision) if revision else load(model_version)
        log(f"Saving it with variant=\"fp16\" as safetensors into {output}..")
        pipeline.save_pretrained(partial, safe_serialization=True, variant="fp16")
        written = fp16_files(partial)
        if not os.path.isfile(os.path.join(partial, "model_index.json")):
            raise PrepareError(f"the saved pipeline has no model_index.json: {model_version} is not a diffusers pipeline")
        if not written:
            raise PrepareError("saving wrote no *.fp16.safetensors file")
        shutil.rmtree(output, ignore_errors=True)
        os.rename(partial, output)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    log(f"Saved {len(written)} fp16 safetensors files: {', '.join(written)}")
    return written


def main(argv=None, environ=None):
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(description="Save an fp16 safetensors copy of a diffusers pipeline.")
    parser.add_argument("--model-version", required=True, help="Hub id or local folder of the pipeline.")
    parser.add_argument("--output", required=True, help="Folder that receives the copy.")
    parser.add_argument("--revision", default=None, help="Hub commit or branch to load (Hub ids only).")
    args = parser.parse_args(argv)
    try:
        written = prepare(args.model_version, args.output, resolve_loader(environ.get(LOADER_ENV)), revision=args.revision)
    except PrepareError as error:
        print(f"prepare_fp16: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # the loader's own errors (Hub, memory, missing files): say what failed
        traceback.print_exc()
        print(f"prepare_fp16: could not save an fp16 copy of {args.model_version}: {type(error).__name__}: {error}",
              file=sys.stderr)
        return 1
    print(f"prepare_fp16: done, {len(written)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())

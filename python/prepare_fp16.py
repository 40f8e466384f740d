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
import os
import sys
import traceback

from helper_common import fp16_files, loader_from_spec, save_fp16_folder

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
    return loader_from_spec(spec, LOADER_ENV, load_with_diffusers, PrepareError)


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

    def load_it():
        log(f"Loading {model_version}{f'@{revision}' if revision else ''} in float16..")
        # The commit the action resolved, so the copy is of what the converter would have loaded.
        return load(model_version, revision=revision) if revision else load(model_version)

    return save_fp16_folder(load_it, output, output + ".partial", PrepareError, log,
                            no_index=f"the saved pipeline has no model_index.json: {model_version} is not a diffusers pipeline")


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

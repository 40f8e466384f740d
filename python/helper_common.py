"""What the action's Python helpers share: the converter's module imported and checked for the
functions an entry calls (lean_convert.py, parity.py, quantize_bundle.py), the injectable loader
named by an environment variable, and the atomic save of a pipeline as an fp16 safetensors
diffusers folder (save_pretrained(variant="fp16") into a partial folder, checked, renamed). Standard library only; imported from the helpers' folder
(a script's own folder is first on sys.path)."""

import importlib
import os
import re
import shutil
import traceback

CONVERTER_MODULE = "python_coreml_stable_diffusion.torch2coreml"

# x.fp16.safetensors, or a shard of one as diffusers names it (x.fp16-00001-of-00002.safetensors)
FP16_FILE = re.compile(r"\.fp16(-\d+-of-\d+)?\.safetensors$")


def import_converter(error_class, fallback=None):
    """Apple's torch2coreml module. When it cannot be imported: fallback(error)'s converter when a
    fallback is given, else error_class saying so (after the traceback, for the log)."""
    try:
        return importlib.import_module(CONVERTER_MODULE)
    except ImportError as error:
        if fallback is not None:
            return fallback(error)
        traceback.print_exc()
        raise error_class(f"cannot import {CONVERTER_MODULE} (is the converter installed in this Python?): {error}") from error


def require_functions(converter, needed, error_class):
    """error_class naming what the converter lacks of `needed` (the functions an entry calls)."""
    missing = [name for name in needed if not callable(getattr(converter, name, None))]
    if missing:
        raise error_class(f"{converter.__name__} has no {', '.join(missing)}: this entry needs a converter that defines "
                          f"{', '.join(needed)} (apple/ml-stable-diffusion e12202c does)")


def loader_from_spec(spec, variable, default, error_class):
    """`module:function` (the value of the environment variable `variable`) -> that function; empty
    -> default. A bad value raises error_class naming the variable."""
    if not spec:
        return default
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise error_class(f"{variable} must be module:function, got {spec!r}")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as error:
        raise error_class(f"{variable}={spec} cannot be loaded: {error}") from error


def fp16_files(folder):
    """Relative paths of the *.fp16.safetensors files below folder, sorted."""
    found = []
    for parent, _dirs, files in os.walk(folder):
        found += [os.path.relpath(os.path.join(parent, name), folder) for name in files if FP16_FILE.search(name)]
    return sorted(found)


def save_fp16_folder(load, output, partial, error_class, log, no_index="the saved pipeline has no model_index.json"):
    """The pipeline load() returns, saved with variant="fp16" as safetensors into partial, checked
    (a model_index.json, fp16 weights) and renamed to output, which it replaces only then. On any
    failure partial is removed and output left as it was. Returns the fp16 files (relative)."""
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(os.path.dirname(output), exist_ok=True)
    try:
        pipeline = load()
        log(f"Saving it with variant=\"fp16\" as safetensors into {output}..")
        pipeline.save_pretrained(partial, safe_serialization=True, variant="fp16")
        if not os.path.isfile(os.path.join(partial, "model_index.json")):
            raise error_class(no_index)
        written = fp16_files(partial)
        if not written:
            raise error_class("saving wrote no *.fp16.safetensors file")
        shutil.rmtree(output, ignore_errors=True)
        os.rename(partial, output)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    log(f"Saved {len(written)} fp16 safetensors files: {', '.join(written)}")
    return written

"""Run Apple's torch2coreml quantize and bundle steps without loading the diffusers pipeline.

Shipped with the coreml-stable-diffusion action. torch2coreml's `main` loads the whole pipeline
before anything else, also in a process that only palettizes packages already written
(--quantize-nbits) or compiles them into Resources (--bundle-resources-for-swift-cli), and with
--convert-controlnet it first asks the Hub for each ControlNet's card, which fails offline. Neither
step needs the pipeline or a card. This entry parses the same command line with the converter's
own parser (`parser_spec()`) and calls its `quantize_weights(args)`, then its
`bundle_resources_for_swift_cli(args)`, as `main` would, for the steps asked.

    python quantize_bundle.py <torch2coreml flags, with --quantize-nbits N and/or
                               --bundle-resources-for-swift-cli and no --convert-<part>>

--convert-controlnet names the ControlNet packages, as for the converter. Runs in the converter's
environment; standard library only apart from the converter.
"""

import importlib
import os
import sys
import traceback

CONVERTER_MODULE = "python_coreml_stable_diffusion.torch2coreml"
# What the entry needs of the converter (apple/ml-stable-diffusion e12202c has all three).
NEEDED = ("parser_spec", "quantize_weights", "bundle_resources_for_swift_cli")
# Switches whose work needs the pipeline: this entry would silently skip them, so it refuses them.
CONVERTING = ("convert_text_encoder", "convert_vae_decoder", "convert_vae_encoder", "convert_unet",
              "convert_safety_checker", "convert_mmdit")


class StepError(Exception):
    """A failure with a message meant for the workflow log."""


def log(message):
    # stderr, where the converter's logging goes, so the lines keep their order in the log.
    print(f"quantize_bundle: {message}", file=sys.stderr, flush=True)


def load_converter():
    try:
        return importlib.import_module(CONVERTER_MODULE)
    except ImportError as error:
        traceback.print_exc()
        raise StepError(f"cannot import {CONVERTER_MODULE} (is the converter installed in this Python?): {error}") from error


def check_converter(converter):
    missing = [name for name in NEEDED if not callable(getattr(converter, name, None))]
    if missing:
        raise StepError(f"{converter.__name__} has no {', '.join(missing)}: this entry needs a converter that defines "
                        f"{', '.join(NEEDED)} (apple/ml-stable-diffusion e12202c does)")


def plan(args):
    """The converter functions to call, in `main`'s order, for the parsed arguments."""
    asked = [name for name in CONVERTING if getattr(args, name, False)]
    if asked:
        flags = ", ".join("--" + name.replace("_", "-") for name in asked)
        raise StepError(f"{flags} need(s) the pipeline: convert with `python -m {CONVERTER_MODULE}`; this entry only "
                        "quantizes (--quantize-nbits) and bundles (--bundle-resources-for-swift-cli)")
    steps = []
    if getattr(args, "quantize_nbits", None) is not None:
        steps.append("quantize_weights")
    if getattr(args, "bundle_resources_for_swift_cli", False):
        steps.append("bundle_resources_for_swift_cli")
    if not steps:
        raise StepError("nothing to do: give --quantize-nbits N and/or --bundle-resources-for-swift-cli")
    return steps


def main(argv=None, converter=None):
    try:
        converter = converter if converter is not None else load_converter()
        check_converter(converter)
        # The converter's parser: its flags, choices and defaults; a bad flag exits 2 as it would.
        args = converter.parser_spec().parse_args(argv)
        steps = plan(args)
    except StepError as error:
        print(f"quantize_bundle: {error}", file=sys.stderr)
        return 1
    os.makedirs(args.o, exist_ok=True)  # as the converter's main does first
    for name in steps:
        log(f"{name} (no pipeline loaded)")
        try:
            getattr(converter, name)(args)
        except Exception as error:  # the converter's own errors (disk, compile, downloads): say which step failed
            traceback.print_exc()
            print(f"quantize_bundle: {converter.__name__}.{name} failed: {type(error).__name__}: {error}", file=sys.stderr)
            return 1
        log(f"{name} done")
    return 0


if __name__ == "__main__":
    sys.exit(main())

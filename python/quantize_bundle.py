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
environment; standard library only apart from the converter, helper_common.py beside it (and, for the check below, the
coremltools and numpy it brings).

With --check-output-correctness, which quantize_weights ignores, the entry checks what the
converter never does: each package it quantizes is run on the same random inputs before and
after, and the outputs compared with the converter's own compute_psnr. It prints
`quantize_bundle: <part> quantized to float16 Core ML: PSNR <dB> dB` (the lowest over the
outputs), or why the check was not run (Core ML predictions need macOS). The action gates on it.

At exit it prints `quantize_bundle: peak RSS <bytes> bytes`, its own largest resident memory
(getrusage), which the action shows beside the budget's estimate of this process.
"""

import os
import resource
import sys
import traceback

from helper_common import CONVERTER_MODULE, import_converter, require_functions

# What the entry needs of the converter (apple/ml-stable-diffusion e12202c has all three).
NEEDED = ("parser_spec", "quantize_weights", "bundle_resources_for_swift_cli")
# Switches whose work needs the pipeline: this entry would silently skip them, so it refuses them.
CONVERTING = ("convert_text_encoder", "convert_vae_decoder", "convert_vae_encoder", "convert_unet",
              "convert_safety_checker", "convert_mmdit")


# The packages quantize_weights rewrites (e12202c), by the part name the check is reported under.
QUANTIZED = ("text_encoder", "text_encoder_2", "unet", "refiner", "control-unet")


class StepError(Exception):
    """A failure with a message meant for the workflow log."""


def log(message):
    # stderr, where the converter's logging goes, so the lines keep their order in the log.
    print(f"quantize_bundle: {message}", file=sys.stderr, flush=True)


def load_converter():
    return import_converter(StepError)


def check_converter(converter):
    require_functions(converter, NEEDED, StepError)


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


def quantized_targets(converter, args):
    """(part, package) for every package quantize_weights will rewrite, as it names them."""
    targets = [(name, converter._get_out_path(args, name)) for name in QUANTIZED]
    for version in getattr(args, "convert_controlnet", None) or []:
        targets.append(("controlnet", os.path.join(args.o, f"ControlNet_{version.replace('/', '_')}.mlpackage")))
    return [(part, path) for part, path in targets if os.path.exists(path)]


def random_inputs(spec, seed=0):
    """Inputs for every model input of a Core ML spec: floats in [-1, 1), token ids in [0, 256)."""
    import numpy as np
    rng = np.random.RandomState(seed)
    inputs = {}
    for item in spec.description.input:
        array = item.type.multiArrayType
        shape = tuple(int(d) for d in array.shape)
        if array.dataType == array.INT32:
            inputs[item.name] = rng.randint(0, 256, size=shape).astype(np.int32)
        else:
            dtype = np.float16 if array.dataType == array.FLOAT16 else np.float32
            inputs[item.name] = rng.uniform(-1, 1, size=shape).astype(dtype)
    return inputs


def coreml_predict(path, inputs=None):
    """Loads the package on the CPU (deterministic) and predicts; returns (inputs, outputs as flat float32 arrays)."""
    import coremltools as ct
    import numpy as np
    model = ct.models.MLModel(path, compute_units=ct.ComputeUnit.CPU_ONLY)
    inputs = inputs if inputs is not None else random_inputs(model.get_spec())
    outputs = model.predict(inputs)
    return inputs, {name: np.asarray(value, dtype=np.float32).ravel() for name, value in outputs.items()}


class QuantizedCheck:
    """Predictions of each package before quantize_weights, compared with those after."""

    def __init__(self, converter, args, predict=coreml_predict):
        self.converter, self.predict = converter, predict
        self.targets = quantized_targets(converter, args)
        self.before = {}

    def record(self):
        for part, path in self.targets:
            try:
                self.before[path] = self.predict(path)
            except Exception as error:  # no Core ML runtime (Linux), or a package it cannot run
                log(f"{part}: the quantized-vs-float16 check was not run: {type(error).__name__}: {error}")

    def compare(self):
        for part, path in self.targets:
            if path not in self.before:
                continue
            inputs, reference = self.before[path]
            try:
                _, outputs = self.predict(path, inputs)
            except Exception as error:
                log(f"{part}: the quantized-vs-float16 check was not run: {type(error).__name__}: {error}")
                continue
            psnr = min(float(self.converter.compute_psnr(reference[name], outputs[name])) for name in reference)
            log(f"{part} quantized to float16 Core ML: PSNR {psnr:.1f} dB")


def main(argv=None, converter=None, predict=None):
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
    check = None
    if "quantize_weights" in steps and getattr(args, "check_output_correctness", False):
        check = QuantizedCheck(converter, args, predict or coreml_predict)
    for name in steps:
        log(f"{name} (no pipeline loaded)")
        try:
            if name == "quantize_weights" and check:
                check.record()
            getattr(converter, name)(args)
            if name == "quantize_weights" and check:
                check.compare()
        except Exception as error:  # the converter's own errors (disk, compile, downloads): say which step failed
            traceback.print_exc()
            print(f"quantize_bundle: {converter.__name__}.{name} failed: {type(error).__name__}: {error}", file=sys.stderr)
            return 1
        log(f"{name} done")
    return 0


def peak_rss_bytes(usage=None, platform=sys.platform):
    """This process's largest resident memory in bytes: ru_maxrss is KiB on Linux, bytes on macOS."""
    usage = usage if usage is not None else resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_maxrss if platform == "darwin" else usage.ru_maxrss * 1024


def report_peak():
    print(f"quantize_bundle: peak RSS {peak_rss_bytes()} bytes", flush=True)


if __name__ == "__main__":
    status = main()
    report_peak()
    sys.exit(status)

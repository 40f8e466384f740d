"""Writes real Core ML packages with coremltools (the Linux wheel: building, saving, palettizing
and bisecting work; prediction and compiling do not), named and shaped like torch2coreml's
Stable Diffusion parts, and reports what coremltools reads back from each of them.

  python real_mlpackages.py OUT

OUT/sd           SD 1.x-like run, macOS13 (iOS16 ops): text_encoder, vae_decoder, vae_encoder, unet,
                 the unet chunked with coremltools' bisect_model, then --quantize-nbits 6 applied
                 in place as upstream does it (after chunking, so the chunks stay float16)
OUT/sd.converted the same folder before the quantization (copied with mtimes kept)
OUT/sdxl         SDXL-like run, macOS15 (iOS18 ops): text_encoder, text_encoder_2, vae_decoder and a
                 unet with time_ids/text_embeds, palettized to 8 bits, then chunked
OUT/report.json  {run: {package: facts}}, facts as coremltools reads them (see describe()), and
                 "reading": what merely reading a package (load_spec, bisect_model) changes on disk

Weights are random and tiny; the programs only need the parts' names, inputs, outputs and
weights large enough for palettize_weights (it skips weights under 2048 elements).
"""
import json
import math
import os
import shutil
import sys
import time

import numpy as np
import coremltools as ct
import coremltools.optimize.coreml as cto
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.frontend.milproto.load import load as milproto_load
from coremltools.models.utils import bisect_model, load_spec
from coremltools.proto.Model_pb2 import Model

# Upstream's quantize_weights list (torch2coreml.py at e12202c): the chunks are not on it.
QUANTIZED_PARTS = ("text_encoder", "text_encoder_2", "unet", "refiner", "control-unet")
HIDDEN = 64
TOKENS = 8
LATENT = 8

rng = np.random.default_rng(0)


def weight(*shape):
    return (rng.standard_normal(shape) * 0.05).astype(np.float32)


def package_name(model_version, part):
    return f"Stable_Diffusion_version_{model_version}_{part}.mlpackage".replace("/", "_")


def save(program, target, path):
    model = ct.convert(program, convert_to="mlprogram", minimum_deployment_target=target,
                       compute_precision=ct.precision.FLOAT16, skip_model_load=True)
    model.save(path)


def text_encoder(opset, pooled_name):
    @mb.program(input_specs=[mb.TensorSpec((1, TOKENS), dtype=ct.converters.mil.mil.types.int32)], opset_version=opset)
    def program(input_ids):
        embedded = mb.gather(x=weight(128, HIDDEN), indices=input_ids, axis=0)
        hidden = mb.linear(x=embedded, weight=weight(HIDDEN, HIDDEN), bias=weight(HIDDEN))
        hidden = mb.gelu(x=hidden, name="last_hidden_state")
        pooled = mb.reduce_mean(x=hidden, axes=[1], keep_dims=False, name=pooled_name)
        return hidden, pooled
    return program


def vae_decoder(opset):
    @mb.program(input_specs=[mb.TensorSpec((1, 4, LATENT, LATENT))], opset_version=opset)
    def program(z):
        x = mb.conv(x=z, weight=weight(HIDDEN, 4, 3, 3), pad_type="same")
        x = mb.silu(x=x)
        x = mb.conv(x=x, weight=weight(3, HIDDEN, 3, 3), pad_type="same")
        return mb.upsample_nearest_neighbor(x=x, scale_factor_height=8, scale_factor_width=8, name="image")
    return program


def vae_encoder(opset):
    @mb.program(input_specs=[mb.TensorSpec((1, 3, LATENT * 8, LATENT * 8))], opset_version=opset)
    def program(z):
        x = mb.conv(x=z, weight=weight(HIDDEN, 3, 8, 8), strides=[8, 8], pad_type="valid")
        x = mb.silu(x=x)
        return mb.conv(x=x, weight=weight(8, HIDDEN, 1, 1), name="latent")
    return program


def unet(opset, xl):
    specs = [mb.TensorSpec((2, 4, LATENT, LATENT)), mb.TensorSpec((2,)), mb.TensorSpec((2, HIDDEN, 1, TOKENS))]
    if xl:
        specs += [mb.TensorSpec((2, 6)), mb.TensorSpec((2, HIDDEN))]

    def body(sample, timestep, encoder_hidden_states, time_ids=None, text_embeds=None):
        x = mb.conv(x=sample, weight=weight(HIDDEN, 4, 3, 3), pad_type="same")
        t = mb.reshape(x=timestep, shape=[2, 1, 1, 1])
        x = mb.add(x=x, y=mb.mul(x=t, y=0.001))
        context = mb.reduce_mean(x=encoder_hidden_states, axes=[3], keep_dims=True)
        x = mb.add(x=x, y=mb.conv(x=context, weight=weight(HIDDEN, HIDDEN, 1, 1)))
        if xl:
            added = mb.linear(x=mb.concat(values=[text_embeds, time_ids], axis=1), weight=weight(HIDDEN, HIDDEN + 6))
            x = mb.add(x=x, y=mb.reshape(x=added, shape=[2, HIDDEN, 1, 1]))
        for _ in range(3):
            x = mb.silu(x=mb.conv(x=x, weight=weight(HIDDEN, HIDDEN, 3, 3), pad_type="same"))
        return mb.conv(x=x, weight=weight(4, HIDDEN, 3, 3), pad_type="same", name="noise_pred")

    if xl:
        @mb.program(input_specs=specs, opset_version=opset)
        def program(sample, timestep, encoder_hidden_states, time_ids, text_embeds):
            return body(sample, timestep, encoder_hidden_states, time_ids, text_embeds)
    else:
        @mb.program(input_specs=specs, opset_version=opset)
        def program(sample, timestep, encoder_hidden_states):
            return body(sample, timestep, encoder_hidden_states)
    return program


def quantize_in_place(folder, model_version, nbits):
    """Upstream's _quantize_weights: kmeans there (it needs scikit-learn, which the tests' venv
    lacks); uniform here, the same ops and the same in-place save."""
    config = cto.OptimizationConfig(global_config=cto.OpPalettizerConfig(mode="uniform", nbits=nbits),
                                    op_type_configs={"gather": None})
    for part in QUANTIZED_PARTS:
        path = os.path.join(folder, package_name(model_version, part))
        if os.path.exists(path):
            cto.palettize_weights(ct.models.MLModel(path, skip_model_load=True), config=config).save(path)


def chunk(folder, model_version):
    # chunk_mlprogram with coremltools >= 8 calls this; the check needs prediction (macOS only).
    bisect_model(os.path.join(folder, package_name(model_version, "unet")), folder, check_output_correctness=False)


def describe(path):
    """What coremltools reads from a package: its manifest's root model, inputs and outputs
    with shapes, the op types of its main function with their opset, and the bits of every
    palettized weight (from the look-up table's size: 2^nbits entries)."""
    with open(os.path.join(path, "Manifest.json")) as f:
        manifest = json.load(f)
    root = manifest["itemInfoEntries"][manifest["rootModelIdentifier"]]["path"]
    # Not load_spec: opening a package with coremltools rewrites its Manifest.json (see touched()).
    spec = Model()
    with open(os.path.join(path, "Data", root), "rb") as f:
        spec.ParseFromString(f.read())
    shape = lambda feature: list(feature.type.multiArrayType.shape)  # noqa: E731
    function = spec.mlProgram.functions["main"]
    weights_dir = os.path.join(path, "Data", "com.apple.CoreML", "weights")
    program = milproto_load(spec, spec.specificationVersion, file_weights_dir=weights_dir)
    ops, nbits = {}, set()
    for op in program.functions["main"].operations:
        ops[op.op_type] = ops.get(op.op_type, 0) + 1
        if op.op_type == "constexpr_lut_to_dense":
            lut = op.lut.val.shape
            nbits.add(int(math.log2(lut[0] if len(lut) == 1 else lut[-2])))
    return {
        "root_model": root,
        "specification_version": spec.specificationVersion,
        "opset": function.opset,
        "inputs": {i.name: shape(i) for i in spec.description.input},
        "outputs": {o.name: shape(o) for o in spec.description.output},
        "ops": ops,
        "palettized_nbits": sorted(nbits),
    }


def stamps(path):
    """mtime (ns) and bytes of Manifest.json, and the mtimes of the spec and the weights."""
    files = ["Manifest.json", "Data/com.apple.CoreML/model.mlmodel", "Data/com.apple.CoreML/weights/weight.bin"]
    with open(os.path.join(path, "Manifest.json"), "rb") as f:
        manifest = f.read()
    return [os.stat(os.path.join(path, f)).st_mtime_ns for f in files], manifest


def touched(path, read):
    """What merely reading a package with coremltools changes on disk."""
    (before, manifest_before) = stamps(path)
    time.sleep(0.05)
    read()
    (after, manifest_after) = stamps(path)
    return {"manifest_mtime_changed": after[0] != before[0], "manifest_bytes_same": manifest_after == manifest_before,
            "spec_or_weights_mtime_changed": after[1:] != before[1:]}


def main(argv):
    (out,) = argv
    os.makedirs(out, exist_ok=True)

    sd, version = os.path.join(out, "sd"), "tiny/sd-1"
    ios16, macos13 = ct.target.iOS16, ct.target.macOS13
    os.makedirs(sd)
    save(text_encoder(ios16, "pooled_outputs"), macos13, os.path.join(sd, package_name(version, "text_encoder")))
    save(vae_decoder(ios16), macos13, os.path.join(sd, package_name(version, "vae_decoder")))
    save(vae_encoder(ios16), macos13, os.path.join(sd, package_name(version, "vae_encoder")))
    save(unet(ios16, xl=False), macos13, os.path.join(sd, package_name(version, "unet")))
    chunk(sd, version)
    shutil.copytree(sd, sd + ".converted")
    quantize_in_place(sd, version, 6)

    xl, xl_version = os.path.join(out, "sdxl"), "tiny/sdxl"
    ios18, macos15 = ct.target.iOS18, ct.target.macOS15
    os.makedirs(xl)
    save(text_encoder(ios18, "pooled_outputs"), macos15, os.path.join(xl, package_name(xl_version, "text_encoder")))
    save(text_encoder(ios18, "pooled_outputs"), macos15, os.path.join(xl, package_name(xl_version, "text_encoder_2")))
    save(vae_decoder(ios18), macos15, os.path.join(xl, package_name(xl_version, "vae_decoder")))
    save(unet(ios18, xl=True), macos15, os.path.join(xl, package_name(xl_version, "unet")))
    quantize_in_place(xl, xl_version, 8)
    shutil.copytree(xl, xl + ".before-reading")  # mtimes kept: the snapshot's view before the reads below
    reading = {"bisect_model_source": touched(os.path.join(xl, package_name(xl_version, "unet")), lambda: chunk(xl, xl_version)),
               "load_spec": touched(os.path.join(xl, package_name(xl_version, "vae_decoder")),
                                    lambda: load_spec(os.path.join(xl, package_name(xl_version, "vae_decoder"))))}

    report = {"reading": reading}
    for run in ("sd", "sd.converted", "sdxl"):
        folder = os.path.join(out, run)
        report[run] = {name: describe(os.path.join(folder, name)) for name in sorted(os.listdir(folder))}
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(report, f, indent=1, sort_keys=True)
    print(os.path.join(out, "report.json"))


if __name__ == "__main__":
    main(sys.argv[1:])

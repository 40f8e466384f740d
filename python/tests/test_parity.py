"""parity.py with the standard library only: its plan of halves, its .npz files, its arguments and
its hooks, with the stand-in converter (test/standin: Apple's parser_spec, _get_out_path,
compute_psnr and report_correctness, same signatures) and small Core ML / PyTorch hooks of its own.
The real PyTorch half is test_parity_real.py."""

import contextlib
import io
import json
import logging
import os
import shutil
import struct
import sys
import tempfile
import unittest
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "test", "standin"))

import parity  # noqa: E402
from python_coreml_stable_diffusion import torch2coreml as standin  # noqa: E402

MODEL = "owner/tiny"
SEEN = []


def reference_hook(converter, args, package_part, seed):
    """A PyTorch half: 4 float16 inputs, the output their doubles (as float32)."""
    values = [0.5, 1.0, 1.5, 2.0 + seed]
    return {"inputs": {"x": ("<f2", (1, 4), values)}, "output_name": "y", "output": ("<f4", (1, 4), [2 * v for v in values])}


def coreml_hook(package, compute_unit, inputs):
    """A Core ML half: doubles its input, plus an error of os.environ["TEST_PARITY_ERROR"]."""
    SEEN.append((os.path.basename(package), compute_unit, {k: (v.dtype, v.shape) for k, v in inputs.items()}))
    error = float(os.environ.get("TEST_PARITY_ERROR", "0"))
    return {"y": [2 * v + error for v in inputs["x"].values()]}


def unet_reference_hook(converter, args, package_part, seed):
    result = reference_hook(converter, args, package_part, seed)
    result["torch_checks"] = [(parity.TORCH_PREFIX, ("<f4", (4,), [1.0, 2.0, 3.0, 4.0]), ("<f4", (4,), [1.0, 2.0, 3.0, 4.001]))]
    return result


HOOKS = {"PARITY_REFERENCE": f"{__name__}:reference_hook", "PARITY_COREML": f"{__name__}:coreml_hook"}


class Run:
    def __init__(self, code, log):
        self.code, self.log = code, log


def run(argv, environ=None):
    err = io.StringIO()
    saved = [(h, h.setStream(err)) for h in logging.getLogger().handlers if hasattr(h, "setStream")]
    try:
        with contextlib.redirect_stderr(err):
            try:
                code = parity.main(argv, converter=standin, environ=dict(HOOKS, **(environ or {})))
            except SystemExit as exit_:
                code = exit_.code
    finally:
        for handler, stream in saved:
            handler.setStream(stream)
    return Run(code, err.getvalue())


class ArraysAndFiles(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="parity-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_npz_round_trip_keeps_dtypes_shapes_and_values(self):
        arrays = {"a": parity.Array.from_values("<f4", (2, 3), [0.5, -1, 2, 3.25, 4, 5]),
                  "b": parity.Array.from_values("<f2", (4,), [0.5, 1, 1.5, 65504]),
                  "c": parity.Array.from_values("<i4", (1, 1), [-7]),
                  "d": parity.Array.from_values("<f4", (), [3.0])}
        path = os.path.join(self.tmp, "x.npz")
        parity.save_npz(path, arrays)
        loaded = parity.load_npz(path)
        self.assertEqual(list(loaded), ["a", "b", "c", "d"])
        for name, item in arrays.items():
            self.assertEqual((loaded[name].dtype, loaded[name].shape, loaded[name].values()), (item.dtype, item.shape, item.values()))
        self.assertFalse(os.path.exists(path + ".partial"))

    def test_npy_is_numpys_format_1_0(self):
        raw = parity.npy_bytes(parity.Array.from_values("<f4", (2, 3), [0] * 6))
        self.assertEqual(raw[:8], b"\x93NUMPY\x01\x00")
        (length,) = struct.unpack("<H", raw[8:10])
        self.assertEqual((10 + length) % 64, 0)  # numpy aligns the data on 64 bytes
        header = raw[10:10 + length].decode("latin1")
        self.assertEqual(header.rstrip(), "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }")
        self.assertTrue(header.endswith("\n"))
        self.assertEqual(len(raw), 10 + length + 24)
        one_d = parity.npy_bytes(parity.Array.from_values("<f2", (5,), [0] * 5))
        self.assertIn(b"'shape': (5,)", one_d)

    def test_bad_arrays_are_refused(self):
        with self.assertRaisesRegex(parity.ParityError, "do not make"):
            parity.Array("<f4", (2, 2), b"\x00" * 12)
        with self.assertRaisesRegex(parity.ParityError, "unsupported dtype"):
            parity.Array("<c8", (1,), b"\x00" * 8)
        path = os.path.join(self.tmp, "bad.npz")
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("x.npy", b"not numpy")
        with self.assertRaisesRegex(parity.ParityError, "no .npy file"):
            parity.load_npz(path)


class Arguments(unittest.TestCase):
    def args(self, *flags):
        return parity.parser_for(standin).parse_args(["--model-version", MODEL, "-o", "/o", *flags])

    def test_parts_come_from_the_converters_switches_in_its_order(self):
        args = self.args("--convert-text-encoder", "--convert-unet", "--convert-vae-decoder", "--convert-safety-checker")
        self.assertEqual(parity.plan(args), [("vae_decoder", "reference"), ("vae_decoder", "check"), ("unet", "reference"),
                                             ("unet", "check"), ("text_encoder", "reference"), ("text_encoder", "check")])

    def test_one_half_alone(self):
        self.assertEqual(parity.plan(self.args("--convert-unet", "--parity-half", "check")), [("unet", "check")])
        self.assertEqual(parity.plan(self.args("--convert-unet", "--parity-half", "reference")), [("unet", "reference")])

    def test_the_refiner_with_its_version(self):
        args = self.args("--convert-unet", "--refiner-version", "owner/refiner", "--parity-part", "refiner")
        self.assertEqual(parity.plan(args), [("refiner", "reference"), ("refiner", "check")])
        self.assertEqual(parity.asked_parts(self.args("--convert-unet", "--refiner-version", "owner/r")), ["unet", "refiner"])
        with self.assertRaisesRegex(parity.ParityError, "needs --refiner-version"):
            parity.plan(self.args("--parity-part", "refiner"))

    def test_what_is_not_covered_is_refused(self):
        with self.assertRaisesRegex(parity.ParityError, "nothing to check"):
            parity.plan(self.args("--convert-safety-checker"))
        with self.assertRaisesRegex(parity.ParityError, "sd3-version"):
            parity.plan(self.args("--convert-text-encoder", "--sd3-version"))
        with self.assertRaisesRegex(parity.ParityError, "control-unet"):
            parity.plan(self.args("--convert-unet", "--unet-support-controlnet"))

    def test_the_folder_is_in_the_actions_state_dir(self):
        self.assertEqual(parity.parity_dir(self.args("--convert-unet")), os.path.join("/o", ".coreml-action", "parity"))
        self.assertEqual(parity.parity_dir(self.args("--convert-unet", "--parity-dir", "/p")), "/p")

    def test_bad_flags_exit_2_as_the_converters_parser(self):
        self.assertEqual(run(["--model-version", MODEL, "--convert-unet", "--check-compute-unit", "GPU"]).code, 2)
        self.assertEqual(run(["--model-version", MODEL, "--convert-unet", "--parity-half", "half"]).code, 2)
        self.assertEqual(run(["--convert-unet"]).code, 2)  # --model-version is required

    def test_a_converter_without_the_functions_is_refused(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = parity.main(["--model-version", MODEL], converter=type(sys)("python_coreml_stable_diffusion.torch2coreml"), environ={})
        self.assertEqual(code, 1)
        self.assertIn("has no parser_spec, compute_psnr, report_correctness, _get_out_path", err.getvalue())

    def test_a_bad_hook_names_its_variable(self):
        with tempfile.TemporaryDirectory() as out:
            result = run(["--model-version", MODEL, "-o", out, "--convert-unet"], {"PARITY_COREML": "no-colon"})
        self.assertEqual(result.code, 1)
        self.assertIn("PARITY_COREML must be module:function", result.log)


class Halves(unittest.TestCase):
    def setUp(self):
        self.out = tempfile.mkdtemp(prefix="parity-out-")
        SEEN.clear()
        os.environ.pop("TEST_PARITY_ERROR", None)

    def tearDown(self):
        shutil.rmtree(self.out, ignore_errors=True)
        os.environ.pop("TEST_PARITY_ERROR", None)

    def package(self, part):
        path = os.path.join(self.out, f"Stable_Diffusion_version_owner_tiny_{part}.mlpackage")
        os.makedirs(path)
        return path

    def flags(self, *more):
        return ["--model-version", MODEL, "-o", self.out, *more]

    def test_both_halves_pass_with_the_converters_lines(self):
        self.package("vae_decoder")
        result = run(self.flags("--convert-vae-decoder", "--check-compute-unit", "CPU_ONLY"))
        self.assertEqual(result.code, 0, result.log)
        self.assertRegex(result.log, r"vae_decoder baseline PyTorch to baseline CoreML: PSNR changed by -?\d+\.\d dB \(\d+\.\d -> \d+\.\d\)")
        self.assertIn("dB > 35 dB (minimum allowed) parity check passed", result.log)
        self.assertRegex(result.log, r"parity: peak RSS \d+ bytes\n$")
        self.assertEqual(SEEN, [("Stable_Diffusion_version_owner_tiny_vae_decoder.mlpackage", "CPU_ONLY", {"x": ("<f2", (1, 4))})])
        folder = os.path.join(self.out, ".coreml-action", "parity", "vae_decoder")
        self.assertEqual(sorted(os.listdir(folder)), ["inputs.npz", "outputs.npz", "reference.json"])
        with open(os.path.join(folder, "reference.json")) as f:
            self.assertEqual(json.load(f), {"part": "vae_decoder", "prefix": "vae_decoder baseline PyTorch to baseline CoreML",
                                            "output": "y", "inputs": ["x"], "model_version": MODEL, "seed": 0})

    def test_an_error_under_35_db_fails_with_the_converters_value_error(self):
        self.package("vae_encoder")
        os.environ["TEST_PARITY_ERROR"] = "0.1"  # Core ML max 4.1, rms of the error 0.1: 32.3 dB
        result = run(self.flags("--convert-vae-encoder"))
        self.assertEqual(result.code, 1)
        self.assertIn("-> 32.3)", result.log)
        self.assertIn("ValueError: 32.3 dB is too low!", result.log)
        self.assertNotIn("parity check passed", result.log)
        self.assertEqual(SEEN[0][1], "ALL")  # --compute-unit's default, where the converter checks

    def test_halves_run_apart(self):
        self.package("unet")
        first = run(self.flags("--convert-unet", "--parity-half", "reference"), {"PARITY_REFERENCE": f"{__name__}:unet_reference_hook"})
        self.assertEqual(first.code, 0, first.log)
        self.assertEqual(SEEN, [])
        # The PyTorch-only check is reported by the reference half: 4.0 vs 4.001 at the end: 78.1 dB.
        self.assertIn("unet baseline to reference PyTorch: PSNR changed by", first.log)
        self.assertNotIn("unet baseline PyTorch to reference CoreML", first.log)
        second = run(self.flags("--convert-unet", "--parity-half", "check", "--check-compute-unit", "CPU_AND_GPU"))
        self.assertEqual(second.code, 0, second.log)
        self.assertIn("unet baseline PyTorch to reference CoreML: PSNR changed by", second.log)
        self.assertEqual([s[1] for s in SEEN], ["CPU_AND_GPU"])

    def test_the_check_needs_the_package_and_the_reference(self):
        result = run(self.flags("--convert-unet"))
        self.assertEqual(result.code, 1)
        self.assertIn("unet: no package at", result.log)
        self.package("unet")
        result = run(self.flags("--convert-unet", "--parity-half", "check"))
        self.assertEqual(result.code, 1)
        self.assertIn("unet: no reference in", result.log)

    def test_a_reference_of_another_model_is_refused(self):
        self.package("unet")
        self.assertEqual(run(self.flags("--convert-unet", "--parity-half", "reference")).code, 0)
        other = os.path.join(self.out, "Stable_Diffusion_version_owner_other_unet.mlpackage")
        os.makedirs(other)
        result = run(["--model-version", "owner/other", "-o", self.out, "--convert-unet", "--parity-half", "check"])
        self.assertEqual(result.code, 1)
        self.assertIn("is of unet of owner/tiny, not of unet of owner/other", result.log)

    def test_text_encoder_checks_the_encoders_the_conversion_made(self):
        self.package("text_encoder")
        self.assertEqual(run(self.flags("--convert-text-encoder")).code, 0)
        self.assertEqual([s[0] for s in SEEN], ["Stable_Diffusion_version_owner_tiny_text_encoder.mlpackage"])
        SEEN.clear()
        shutil.rmtree(os.path.join(self.out, ".coreml-action"))
        self.package("text_encoder_2")
        result = run(self.flags("--convert-text-encoder"))
        self.assertEqual(result.code, 0, result.log)
        self.assertEqual([s[0][len("Stable_Diffusion_version_owner_tiny_"):] for s in SEEN], ["text_encoder.mlpackage", "text_encoder_2.mlpackage"])
        # The log parser tells text_encoder_2's check (same prefix) by the line before it.
        lines = result.log.splitlines()
        second = [i for i, l in enumerate(lines) if "text_encoder baseline PyTorch to reference CoreML: PSNR" in l][1]
        self.assertIn("parity: checking text_encoder_2 (check)", [l for l in lines[:second] if l.startswith("parity: checking")][-1])

    def test_nan_passes_as_upstream_and_is_printed(self):
        self.package("vae_decoder")
        os.environ["TEST_PARITY_ERROR"] = "nan"
        result = run(self.flags("--convert-vae-decoder"))
        self.assertEqual(result.code, 0, result.log)  # `nan < 35` is false: the action's gate fails it
        self.assertIn("-> nan)", result.log)


if __name__ == "__main__":
    unittest.main()

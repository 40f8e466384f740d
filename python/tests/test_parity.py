"""parity.py with the standard library only: its plan of halves, its .npz files, its arguments and
its hooks, with the stand-in converter (test/standin: Apple's parser_spec, _get_out_path,
compute_psnr and report_correctness, same signatures) and small Core ML / PyTorch hooks of its own.
The real PyTorch half is test_parity_real.py."""

import argparse
import contextlib
import io
import json
import logging
import math
import os
import shutil
import struct
import subprocess
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


# What the check half's process must not import: with these first on its sys.path, importing them fails.
BLOCKED = ("python_coreml_stable_diffusion", "torch", "diffusers")


def run_apart(argv, environ=None, python=None):
    """parity.py as a process of its own, where the converter, torch and diffusers cannot be
    imported (packages first on its PYTHONPATH whose import raises ImportError), with the Core ML
    hook of parity_check_hooks."""
    blockers = tempfile.mkdtemp(prefix="parity-blocked-")
    try:
        for name in BLOCKED:
            os.makedirs(os.path.join(blockers, name))
            with open(os.path.join(blockers, name, "__init__.py"), "w") as f:
                f.write(f"raise ImportError('{name} is blocked by the test')\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PARITY_", "PYTHON", "TEST_PARITY_"))}
        env.update({"PYTHONPATH": os.pathsep.join([blockers, HERE]), "PARITY_COREML": "parity_check_hooks:coreml"})
        env.update(environ or {})
        done = subprocess.run([python or sys.executable, os.path.join(ROOT, "python", "parity.py"), *argv],
                              env=env, capture_output=True, text=True, timeout=120)
        return Run(done.returncode, done.stderr)
    finally:
        shutil.rmtree(blockers, ignore_errors=True)


def report_lines(log):
    """The converter's report lines of a log (and the ValueError's), in order."""
    return [line for line in log.splitlines()
            if "PSNR changed by" in line or "parity check passed" in line or "dB is too low!" in line]


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
            self.assertEqual(json.load(f), {"part": "vae_decoder", "package": "Stable_Diffusion_version_owner_tiny_vae_decoder.mlpackage",
                                            "prefix": "vae_decoder baseline PyTorch to baseline CoreML",
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


class WithoutTheConverter(unittest.TestCase):
    """The check half where the converter cannot be imported (the finishing job of a split
    conversion), against the same saved reference as the converter-backed check."""

    PART_FLAGS = ["--convert-vae-decoder", "--check-compute-unit", "CPU_ONLY"]

    def setUp(self):
        self.out = tempfile.mkdtemp(prefix="parity-own-")
        os.makedirs(os.path.join(self.out, "Stable_Diffusion_version_owner_tiny_vae_decoder.mlpackage"))
        # The reference half, with the (stand-in) converter, as the convert job runs it.
        first = run(self.flags("--parity-half", "reference"), {"PARITY_REFERENCE": "parity_check_hooks:reference"})
        self.assertEqual(first.code, 0, first.log)
        os.environ.pop("TEST_PARITY_ERROR", None)

    def tearDown(self):
        shutil.rmtree(self.out, ignore_errors=True)
        os.environ.pop("TEST_PARITY_ERROR", None)

    def flags(self, *more):
        # Flags the check half does not read ride along, as the action passes the converter's whole line.
        return ["--model-version", MODEL, "-o", self.out, "--attention-implementation", "ORIGINAL", "--latent-h", "64",
                *self.PART_FLAGS, *more]

    def with_converter(self, error):
        os.environ["TEST_PARITY_ERROR"] = error
        try:
            return run(self.flags("--parity-half", "check"), {"PARITY_COREML": "parity_check_hooks:coreml"})
        finally:
            os.environ.pop("TEST_PARITY_ERROR", None)

    def test_the_same_figures_and_lines_as_the_converter(self):
        backed = self.with_converter("0.001")
        apart = run_apart(self.flags("--parity-half", "check"), {"TEST_PARITY_ERROR": "0.001"})
        self.assertEqual(backed.code, 0, backed.log)
        self.assertEqual(apart.code, 0, apart.log)
        self.assertIn("parity: cannot import python_coreml_stable_diffusion.torch2coreml (ImportError: "
                      "python_coreml_stable_diffusion is blocked by the test)", apart.log)
        self.assertIn("parity: not read by the check half: --attention-implementation --latent-h", apart.log)
        lines = report_lines(apart.log)
        self.assertEqual(len(lines), 2, apart.log)
        self.assertEqual(lines, report_lines(backed.log))
        self.assertRegex(lines[0], r"^INFO:python_coreml_stable_diffusion\.torch2coreml:vae_decoder baseline PyTorch to "
                                   r"baseline CoreML: PSNR changed by -\d+\.\d dB \(\d+\.\d -> 6\d\.\d\)$")
        self.assertTrue(lines[1].endswith(" dB > 35 dB (minimum allowed) parity check passed"))
        self.assertRegex(apart.log, r"parity: peak RSS \d+ bytes\n$")

    def test_below_35_db_it_fails_as_the_converter(self):
        backed = self.with_converter("0.1")
        apart = run_apart(self.flags("--parity-half", "check"), {"TEST_PARITY_ERROR": "0.1"})
        self.assertEqual((backed.code, apart.code), (1, 1), apart.log)
        self.assertEqual(report_lines(apart.log), report_lines(backed.log))
        self.assertIn("\nValueError: 27.2 dB is too low!\n", apart.log)
        self.assertNotIn("parity check passed", apart.log)

    def test_nan_passes_as_upstream(self):
        apart = run_apart(self.flags("--parity-half", "check"), {"TEST_PARITY_ERROR": "nan"})
        self.assertEqual(apart.code, 0, apart.log)
        self.assertEqual(report_lines(apart.log), report_lines(self.with_converter("nan").log))
        self.assertIn("-> nan)", apart.log)

    def test_only_the_check_half_runs_without_it(self):
        for half in ("reference", "both"):
            result = run_apart(self.flags("--parity-half", half))
            self.assertEqual(result.code, 1, result.log)
            self.assertIn("parity: cannot import python_coreml_stable_diffusion.torch2coreml (is the converter installed", result.log)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = parity.main(self.flags("--parity-half", "both"), converter=parity.own_converter(), environ={})
        self.assertEqual(code, 1)
        self.assertIn("--parity-half both needs the converter", err.getvalue())

    def test_the_flags_it_reads_are_checked_as_the_converters_parser_checks_them(self):
        self.assertEqual(run_apart(self.flags("--parity-half", "check", "--compute-unit", "GPU")).code, 2)
        self.assertEqual(run_apart(["-o", self.out, "--convert-vae-decoder", "--parity-half", "check"]).code, 2)
        args, _ = parity.parser_for(parity.own_converter()).parse_known_args(["--model-version", MODEL, "--parity-half", "check"])
        self.assertEqual((args.compute_unit, args.o, args.check_compute_unit, args.parity_seed), ("ALL", os.getcwd(), None, 0))

    def test_the_package_is_found_by_the_converters_names_and_checked_against_the_record(self):
        self.assertEqual(parity.package_file("runwayml/stable-diffusion-v1-5", "unet_chunk1"),
                         "Stable_Diffusion_version_runwayml_stable-diffusion-v1-5_unet_chunk1.mlpackage")
        for model, part in (("./m", "unet"), ("a/b/c", "text_encoder_2"), ("x", "control-unet")):
            args = argparse.Namespace(model_version=model, o="/o")
            self.assertEqual(parity.own_out_path(args, part), standin._get_out_path(args, part))
        record_path = os.path.join(self.out, ".coreml-action", "parity", "vae_decoder", "reference.json")
        with open(record_path) as f:
            record = json.load(f)
        record["package"] = "Stable_Diffusion_version_owner_other_vae_decoder.mlpackage"
        with open(record_path, "w") as f:
            json.dump(record, f)
        result = run_apart(self.flags("--parity-half", "check"))
        self.assertEqual(result.code, 1)
        self.assertIn("was made for Stable_Diffusion_version_owner_other_vae_decoder.mlpackage, not for "
                      "Stable_Diffusion_version_owner_tiny_vae_decoder.mlpackage", result.log)
        shutil.rmtree(os.path.join(self.out, "Stable_Diffusion_version_owner_tiny_vae_decoder.mlpackage"))
        result = run_apart(self.flags("--parity-half", "check"))
        self.assertEqual(result.code, 1)
        self.assertIn("vae_decoder: no package at", result.log)

    def test_text_encoder_2_is_checked_when_its_package_is_there(self):
        os.makedirs(os.path.join(self.out, "Stable_Diffusion_version_owner_tiny_text_encoder.mlpackage"))
        os.makedirs(os.path.join(self.out, "Stable_Diffusion_version_owner_tiny_text_encoder_2.mlpackage"))
        flags = ["--model-version", MODEL, "-o", self.out, "--convert-text-encoder"]
        self.assertEqual(run(flags + ["--parity-half", "reference"], {"PARITY_REFERENCE": "parity_check_hooks:reference"}).code, 0)
        result = run_apart(flags + ["--parity-half", "check"])
        self.assertEqual(result.code, 0, result.log)
        checking = [l for l in result.log.splitlines() if l.startswith("parity: checking")]
        self.assertEqual(checking, ["parity: checking text_encoder (check)", "parity: checking text_encoder_2 (check)"])
        self.assertEqual(len(report_lines(result.log)), 4)


class OwnPsnr(unittest.TestCase):
    """The action's PSNR (no numpy here) against the stand-in's, which is Apple's formula in the
    standard library."""

    def test_the_figures_are_the_converters(self):
        base = [((i * 13) % 17) / 8.0 - 1.0 for i in range(50)]
        cases = [(base, base), (base, [v + 0.01 for v in base]), (base, [v * 1.5 for v in base]),
                 ([0.0] * 4, [0.0] * 4), (base, [v + (0.3 if i == 7 else 0) for i, v in enumerate(base)]),
                 (base, [float("nan")] + base[1:]), ([float("inf")] + base[1:], base)]
        for a, b in cases:
            mine, theirs = parity.own_compute_psnr(a, b), standin.compute_psnr(a, b)
            self.assertEqual(f"{mine:.6f}", f"{theirs:.6f}", (a[:3], b[:3]))
        self.assertAlmostEqual(parity.own_compute_psnr([1.0, 2.0], [1.0, 2.1]), 20 * math.log10((2.1 + 1e-5) / (math.sqrt(0.005) + 1e-10)))

    def test_the_report_raises_below_35_and_passes_nan(self):
        with self.assertLogs(parity.CONVERTER_MODULE, "INFO") as logs:
            self.assertAlmostEqual(parity.own_report_correctness([1.0, 2.0], [1.0, 2.0], "p"), parity.own_compute_psnr([1.0, 2.0], [1.0, 2.0]))
            with self.assertRaisesRegex(ValueError, r"^30\.7 dB is too low!$"):
                parity.own_report_correctness([1.0] * 10, [1.03] * 10, "p")
            self.assertTrue(math.isnan(parity.own_report_correctness([1.0, 2.0], [float("nan"), 2.0], "p")))
        self.assertEqual(logs.output, [
            "INFO:python_coreml_stable_diffusion.torch2coreml:p: PSNR changed by 0.0 dB (206.0 -> 206.0)",
            "INFO:python_coreml_stable_diffusion.torch2coreml:206.0 dB > 35 dB (minimum allowed) parity check passed",
            "INFO:python_coreml_stable_diffusion.torch2coreml:p: PSNR changed by -169.3 dB (200.0 -> 30.7)",
            "INFO:python_coreml_stable_diffusion.torch2coreml:p: PSNR changed by nan dB (206.0 -> nan)",
            "INFO:python_coreml_stable_diffusion.torch2coreml:nan dB > 35 dB (minimum allowed) parity check passed"])
        with self.assertRaisesRegex(ValueError, "cannot compare 2 values with 3"):
            parity.own_compute_psnr([1.0, 2.0], [1.0, 2.0, 3.0])


if __name__ == "__main__":
    unittest.main()

"""Tests of python/quantize_bundle.py (run from the repository root:
`python3 -m unittest discover -s python/tests`). A fake converter module here; the last tests run
the entry as a process against the stand-in converter (test/standin), which loads no torch."""

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import types
import unittest
from contextlib import redirect_stderr

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
import quantize_bundle  # noqa: E402

ENTRY = os.path.join(os.path.dirname(HERE), "quantize_bundle.py")
STANDIN = os.path.join(ROOT, "test", "standin")


def fake_converter(calls, omit=(), fail=None):
    """A module with the converter's three functions; its parser has the flags these tests use."""
    module = types.ModuleType("fake_torch2coreml")

    def parser_spec():
        parser = argparse.ArgumentParser()
        for flag in ("--convert-unet", "--convert-text-encoder", "--bundle-resources-for-swift-cli", "--xl-version"):
            parser.add_argument(flag, action="store_true")
        parser.add_argument("--model-version", required=True)
        parser.add_argument("-o", default=os.getcwd())
        parser.add_argument("--convert-controlnet", nargs="*", type=str)
        parser.add_argument("--quantize-nbits", default=None, choices=(1, 2, 4, 6, 8), type=int)
        return parser

    def step(name):
        def run(args):
            calls.append((name, args))
            if fail == name:
                raise OSError(28, "No space left on device")
        return run

    module.parser_spec = parser_spec
    module.quantize_weights = step("quantize_weights")
    module.bundle_resources_for_swift_cli = step("bundle_resources_for_swift_cli")
    for name in omit:
        delattr(module, name)
    return module


class EntryTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="quantize-bundle-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.out = os.path.join(self.tmp, "out")
        self.calls = []

    def run_entry(self, *flags, **fake):
        stderr = io.StringIO()
        with redirect_stderr(stderr):
            code = quantize_bundle.main(["--model-version", "acme/sd", "-o", self.out, *flags],
                                        converter=fake_converter(self.calls, **fake))
        return code, stderr.getvalue()

    def test_quantize_gets_the_parsed_arguments(self):
        code, _ = self.run_entry("--quantize-nbits", "6", "--convert-controlnet", "acme/cn-1.0", "acme/cn2")
        self.assertEqual(code, 0)
        self.assertEqual([name for name, _ in self.calls], ["quantize_weights"])
        args = self.calls[0][1]
        self.assertEqual((args.quantize_nbits, args.o, args.model_version), (6, self.out, "acme/sd"))
        self.assertEqual(args.convert_controlnet, ["acme/cn-1.0", "acme/cn2"])
        self.assertTrue(os.path.isdir(self.out), "-o is made first, as the converter's main does")

    def test_bundle_alone(self):
        code, _ = self.run_entry("--bundle-resources-for-swift-cli", "--xl-version")
        self.assertEqual(code, 0)
        self.assertEqual([name for name, _ in self.calls], ["bundle_resources_for_swift_cli"])
        self.assertTrue(self.calls[0][1].xl_version)

    def test_both_in_the_converters_order(self):
        code, err = self.run_entry("--bundle-resources-for-swift-cli", "--quantize-nbits", "4")
        self.assertEqual(code, 0)
        self.assertEqual([name for name, _ in self.calls], ["quantize_weights", "bundle_resources_for_swift_cli"])
        self.assertIn("quantize_weights (no pipeline loaded)", err)

    def test_refuses_a_conversion_switch(self):
        code, err = self.run_entry("--quantize-nbits", "6", "--convert-unet", "--convert-text-encoder")
        self.assertEqual(code, 1)
        self.assertEqual(self.calls, [])
        self.assertIn("--convert-text-encoder, --convert-unet need(s) the pipeline", err)

    def test_refuses_nothing_to_do(self):
        code, err = self.run_entry("--convert-controlnet", "acme/cn")
        self.assertEqual(code, 1)
        self.assertIn("nothing to do", err)
        self.assertFalse(os.path.exists(self.out))

    def test_names_what_the_converter_lacks(self):
        code, err = self.run_entry("--quantize-nbits", "6", omit=("bundle_resources_for_swift_cli",))
        self.assertEqual(code, 1)
        self.assertEqual(self.calls, [])
        self.assertIn("fake_torch2coreml has no bundle_resources_for_swift_cli", err)

    def test_a_bad_flag_exits_2_as_the_converter_would(self):
        with redirect_stderr(io.StringIO()), self.assertRaises(SystemExit) as raised:
            quantize_bundle.main(["--model-version", "m", "--quantize-nbits", "3"], converter=fake_converter(self.calls))
        self.assertEqual(raised.exception.code, 2)
        self.assertEqual(self.calls, [])

    def test_a_failing_step_is_named_with_its_error_and_stops(self):
        code, err = self.run_entry("--quantize-nbits", "6", "--bundle-resources-for-swift-cli", fail="quantize_weights")
        self.assertEqual(code, 1)
        self.assertEqual([name for name, _ in self.calls], ["quantize_weights"])
        self.assertIn("Traceback", err)
        self.assertIn("fake_torch2coreml.quantize_weights failed: OSError: [Errno 28] No space left on device", err)

    def test_a_missing_converter_is_a_clear_error(self):
        env = {**os.environ, "PYTHONPATH": ""}
        result = subprocess.run([sys.executable, "-S", ENTRY, "--model-version", "m", "--quantize-nbits", "6"],
                                capture_output=True, text=True, env=env, cwd=self.tmp)
        self.assertEqual(result.returncode, 1)
        self.assertIn("cannot import python_coreml_stable_diffusion.torch2coreml", result.stderr)


class StandinTest(unittest.TestCase):
    """The entry as the action runs it, on packages the stand-in converter wrote."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="quantize-bundle-standin-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.env = {**os.environ, "PYTHONPATH": STANDIN, "PYTHONUNBUFFERED": "1"}
        self.shared = ["--model-version", "acme/sd", "-o", os.path.join(self.tmp, "out")]
        self.run_python(["-m", "python_coreml_stable_diffusion.torch2coreml", *self.shared, "--convert-unet"])

    def run_python(self, argv):
        result = subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=self.env, cwd=self.tmp)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stderr

    def test_quantizes_and_bundles_without_loading_the_pipeline(self):
        unet = os.path.join(self.tmp, "out", "Stable_Diffusion_version_acme_sd_unet.mlpackage")
        err = self.run_python([ENTRY, *self.shared, "--quantize-nbits", "6"])
        err += self.run_python([ENTRY, *self.shared, "--bundle-resources-for-swift-cli"])
        self.assertNotIn("Initializing DiffusionPipeline", err)
        self.assertIn(":Quantizing unet\n", err)
        with open(os.path.join(unet, "Data", "com.apple.CoreML", "standin.json"), encoding="utf-8") as f:
            self.assertEqual(json.load(f)["nbits"], 6)
        self.assertTrue(os.path.isdir(os.path.join(self.tmp, "out", "Resources", "Unet.mlmodelc")))


if __name__ == "__main__":
    unittest.main()

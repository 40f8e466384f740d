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
        for flag in ("--convert-unet", "--convert-text-encoder", "--bundle-resources-for-swift-cli", "--xl-version",
                     "--check-output-correctness"):
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

    def test_prints_its_peak_memory_at_exit_in_bytes(self):
        result = subprocess.run([sys.executable, ENTRY, *self.shared, "--bundle-resources-for-swift-cli"],
                                capture_output=True, text=True, env=self.env, cwd=self.tmp)
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = [line for line in result.stdout.splitlines() if line.startswith("quantize_bundle: peak RSS ")]
        self.assertEqual(len(lines), 1, result.stdout)
        figure = int(lines[0].split()[3])
        self.assertEqual(lines[0], f"quantize_bundle: peak RSS {figure} bytes")
        # A Python interpreter holds megabytes, not kilobytes: the KiB of Linux's ru_maxrss were converted.
        self.assertGreater(figure, 4 * 1024 * 1024)
        self.assertLess(figure, 4 * 1024 ** 3)


class PeakTest(unittest.TestCase):
    def test_ru_maxrss_is_kib_on_linux_and_bytes_on_macos(self):
        usage = types.SimpleNamespace(ru_maxrss=1000)
        self.assertEqual(quantize_bundle.peak_rss_bytes(usage, "linux"), 1024000)
        self.assertEqual(quantize_bundle.peak_rss_bytes(usage, "darwin"), 1000)


if __name__ == "__main__":
    unittest.main()


class QuantizedCheckTest(unittest.TestCase):
    """The check quantize_weights never makes: each quantized package against its float16 self."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="quantized-check-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.calls = []
        self.converter = fake_converter(self.calls)
        self.converter._get_out_path = lambda args, name: os.path.join(args.o, f"SD_{name}.mlpackage")
        # The converter's formula: 20 log10(max|b| / rms(a - b)), on flat sequences here.
        self.converter.compute_psnr = lambda a, b: 20 * __import__("math").log10(
            max(abs(x) for x in b) / max((sum((x - y) ** 2 for x, y in zip(a, b)) / len(b)) ** 0.5, 1e-10))
        for name in ("unet", "text_encoder"):
            os.makedirs(os.path.join(self.tmp, f"SD_{name}.mlpackage"))
        self.quantized = set()
        real_quantize = self.converter.quantize_weights

        def quantize(args):
            real_quantize(args)
            self.quantized.update(p for p in os.listdir(args.o))
        self.converter.quantize_weights = quantize

    def predict(self, damage):
        """A fake Core ML: outputs [1, 2, 3, 4] scaled by the inputs; quantized packages are off by `damage`."""
        seen = []

        def run(path, inputs=None):
            inputs = inputs if inputs is not None else {"x": 1.0}
            seen.append((os.path.basename(path), inputs))
            off = damage.get(os.path.basename(path), 0) if os.path.basename(path) in self.quantized else 0
            return inputs, {"out": [v * inputs["x"] + off for v in (1.0, 2.0, 3.0, 4.0)]}
        return run, seen

    def test_reports_each_quantized_package_against_its_float16_outputs_on_the_same_inputs(self):
        predict, seen = self.predict({"SD_unet.mlpackage": 0.4})
        err = io.StringIO()
        with redirect_stderr(err):
            code = quantize_bundle.main(["--model-version", "m", "-o", self.tmp, "--quantize-nbits", "2", "--check-output-correctness"],
                                        converter=self.converter, predict=predict)
        self.assertEqual(code, 0)
        lines = [ln for ln in err.getvalue().splitlines() if "quantized to float16" in ln]
        # The unet: rms error 0.4 against a quantized peak of 4.4, 20 log10(11) = 20.8 dB; the text
        # encoder's outputs are unchanged: the formula's floor, 20 log10(4 / 1e-10) = 212.0 dB.
        self.assertEqual(lines[0], "quantize_bundle: text_encoder quantized to float16 Core ML: PSNR 212.0 dB")
        self.assertEqual(lines[1], "quantize_bundle: unet quantized to float16 Core ML: PSNR 20.8 dB")
        # Two predictions per package, the second on the inputs of the first.
        self.assertEqual([name for name, _ in seen], ["SD_text_encoder.mlpackage", "SD_unet.mlpackage"] * 2)

    def test_says_it_was_not_run_where_core_ml_cannot_predict(self):
        def no_core_ml(path, inputs=None):
            raise Exception("Model prediction is only supported on macOS version 10.13 or later.")
        err = io.StringIO()
        with redirect_stderr(err):
            code = quantize_bundle.main(["--model-version", "m", "-o", self.tmp, "--quantize-nbits", "6", "--check-output-correctness"],
                                        converter=self.converter, predict=no_core_ml)
        self.assertEqual(code, 0)
        self.assertIn("quantize_bundle: unet: the quantized-vs-float16 check was not run: Exception: Model prediction is only supported on macOS", err.getvalue())
        self.assertNotIn("PSNR", err.getvalue())

    def test_runs_no_check_without_check_output_correctness(self):
        predict, seen = self.predict({})
        with redirect_stderr(io.StringIO()):
            quantize_bundle.main(["--model-version", "m", "-o", self.tmp, "--quantize-nbits", "6"], converter=self.converter, predict=predict)
        self.assertEqual(seen, [])

"""parity.py's check half without the converter, with the real numpy (the finishing job's
environment has coremltools and numpy, no converter, no torch): the figures of the action's own
PSNR on float32 arrays (what Core ML and comparable() give) against a float64 computation of the
formula, and a check half run as a process where the converter, torch and diffusers cannot be
imported printing the same report lines as the converter-backed check (the stand-in's functions,
test/standin) on the same saved reference, passing above 35 dB and failing below. Run with
.venv/bin/python -m unittest discover -s python/tests -p 'test_*_real.py'; skipped without numpy."""

import importlib.util
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

HAS_NUMPY = importlib.util.find_spec("numpy") is not None

if HAS_NUMPY:
    from test_parity import MODEL, parity, report_lines, run, run_apart  # noqa: E402


def float64_psnr(a, b):
    import numpy as np
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return 20 * np.log10((np.abs(b).max() + 1e-5) / (np.sqrt(np.mean((a - b) ** 2)) + 1e-10))


@unittest.skipUnless(HAS_NUMPY, "numpy is not installed in this Python")
class OwnPsnrWithNumpy(unittest.TestCase):
    def test_float32_arrays_give_the_formulas_figures(self):
        import numpy as np
        rng = np.random.default_rng(7)
        for shape, noise in (((2, 4, 64, 64), 1e-3), ((1, 3, 512, 512), 3e-2), ((1, 77, 768), 0.0), ((1, 4, 8, 8), 0.5)):
            a = rng.standard_normal(shape).astype(np.float32)
            b = (a + noise * rng.standard_normal(shape)).astype(np.float32)
            mine = parity.own_compute_psnr(a.ravel(), b.ravel())
            self.assertAlmostEqual(float(mine), float(float64_psnr(a, b)), delta=1e-3)
        nan = np.array([np.nan, 1.0], dtype=np.float32)
        self.assertTrue(np.isnan(parity.own_compute_psnr(nan, nan)))
        self.assertEqual(float(parity.own_compute_psnr(np.full(3, np.inf, np.float32), np.ones(3, np.float32))), -np.inf)


@unittest.skipUnless(HAS_NUMPY, "numpy is not installed in this Python")
class CheckHalfWithoutTheConverter(unittest.TestCase):
    FLAGS = ["--convert-unet", "--attention-implementation", "SPLIT_EINSUM", "--check-compute-unit", "CPU_ONLY"]

    def setUp(self):
        self.out = tempfile.mkdtemp(prefix="parity-real-")
        os.makedirs(os.path.join(self.out, "Stable_Diffusion_version_owner_tiny_unet.mlpackage"))
        flags = ["--model-version", MODEL, "-o", self.out, *self.FLAGS, "--parity-half", "reference"]
        self.assertEqual(run(flags, {"PARITY_REFERENCE": "parity_check_hooks:reference"}).code, 0)
        self.check = ["--model-version", MODEL, "-o", self.out, *self.FLAGS, "--parity-half", "check"]

    def tearDown(self):
        shutil.rmtree(self.out, ignore_errors=True)
        for name in ("TEST_PARITY_ERROR", "TEST_PARITY_NUMPY"):
            os.environ.pop(name, None)

    def both(self, error):
        os.environ.update(TEST_PARITY_ERROR=error, TEST_PARITY_NUMPY="1")
        backed = run(self.check, {"PARITY_COREML": "parity_check_hooks:coreml"})
        apart = run_apart(self.check, {"TEST_PARITY_ERROR": error, "TEST_PARITY_NUMPY": "1"})
        self.assertIn("the check half runs with the action's own PSNR and report", apart.log)
        return backed, apart

    def test_it_passes_with_the_converters_lines(self):
        backed, apart = self.both("0.002")
        self.assertEqual((backed.code, apart.code), (0, 0), apart.log)
        self.assertEqual(len(report_lines(apart.log)), 2, apart.log)
        self.assertEqual(report_lines(apart.log), report_lines(backed.log))
        self.assertIn("INFO:python_coreml_stable_diffusion.torch2coreml:unet baseline PyTorch to reference CoreML: PSNR changed by", apart.log)

    def test_it_fails_below_35_db_as_the_converter(self):
        backed, apart = self.both("0.05")
        self.assertEqual((backed.code, apart.code), (1, 1), apart.log)
        self.assertEqual(report_lines(apart.log), report_lines(backed.log))
        self.assertIn("\nValueError: 33.0 dB is too low!\n", apart.log)


if __name__ == "__main__":
    unittest.main()

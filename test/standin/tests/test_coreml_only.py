"""The stand-in's Core ML half without the stand-in converter (test/standin/coreml_only): the
action's python/parity.py check half run as the finishing job runs it, in a Python where
python_coreml_stable_diffusion cannot be imported, on the reference its reference half saved with
the stand-in converter; the same report lines as the converter-backed check, and the stand-in's
figures (STANDIN_PSNR) deciding pass or fail."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from test_standin import SD, STANDIN_DIR, clean_env, run

ROOT = os.path.dirname(os.path.dirname(STANDIN_DIR))
PARITY = os.path.join(ROOT, "python", "parity.py")
COREML_ONLY = os.path.join(STANDIN_DIR, "coreml_only")


def report_lines(text):
    return [line for line in text.splitlines() if "PSNR changed by" in line or "parity check passed" in line or "dB is too low!" in line]


class CoremlOnlyTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="standin-coreml-only-")
        self.out = os.path.join(self.tmp, "out")
        proc = run(["--model-version", SD, "--convert-vae-decoder", "--convert-unet", "-o", self.out])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.flags = ["--model-version", SD, "-o", self.out, "--convert-vae-decoder", "--convert-unet", "--check-compute-unit", "CPU_ONLY"]
        reference = self.parity("reference", PYTHONPATH=STANDIN_DIR, PARITY_REFERENCE="python_coreml_stable_diffusion._standin:parity_reference")
        self.assertEqual(reference.returncode, 0, reference.stderr)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def parity(self, half, site=True, **env):
        """parity.py in a process; site=False: without site-packages (python -S), where a stand-in
        wheel installed into this Python would make the converter importable."""
        environ = clean_env(token=False, **env)
        python = [sys.executable] if site else [sys.executable, "-S"]
        return subprocess.run([*python, PARITY, *self.flags, "--parity-half", half], env=environ, capture_output=True, text=True, timeout=120)

    def both(self, **knobs):
        backed = self.parity("check", PYTHONPATH=STANDIN_DIR, PARITY_COREML="python_coreml_stable_diffusion._standin:parity_predict", **knobs)
        apart = self.parity("check", site=False, PYTHONPATH=COREML_ONLY, PARITY_COREML="standin_coreml:parity_predict", **knobs)
        self.assertIn("parity: cannot import python_coreml_stable_diffusion.torch2coreml (ModuleNotFoundError", apart.stderr)
        self.assertNotIn("cannot import", backed.stderr)
        return backed, apart

    def test_the_check_half_without_the_converter_prints_the_converters_lines(self):
        log = os.path.join(self.tmp, "calls.jsonl")
        backed, apart = self.both(STANDIN_INVOCATIONS=log)
        self.assertEqual((backed.returncode, apart.returncode), (0, 0), apart.stderr)
        self.assertEqual(len(report_lines(apart.stderr)), 4, apart.stderr)
        self.assertEqual(report_lines(apart.stderr), report_lines(backed.stderr))
        with open(log) as f:
            modules = [line.split('"module": "', 1)[1].split('"', 1)[0] for line in f]
        self.assertEqual(modules, ["python_coreml_stable_diffusion._standin.parity_predict"] * 4)

    def test_a_figure_under_35_db_fails_it(self):
        backed, apart = self.both(STANDIN_PSNR="unet=31.5")
        self.assertEqual((backed.returncode, apart.returncode), (1, 1), apart.stderr)
        self.assertEqual(report_lines(apart.stderr), report_lines(backed.stderr))
        self.assertIn("\nValueError: 31.5 dB is too low!\n", apart.stderr)


if __name__ == "__main__":
    unittest.main()

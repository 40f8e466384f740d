"""Tests of the STAND-IN xcrun (test/standin/bin/xcrun: `xcrun coremlcompiler compile <model> <dir>`),
run as a real process: what it writes is what the stand-in converter's bundling writes for the
same package, and it fails as the real tools do (an exit status, unlike the converter's os.system)."""

import filecmp
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from test_standin import SD, STANDIN_DIR, clean_env, run

XCRUN = os.path.join(STANDIN_DIR, "bin", "xcrun")
UNET = "Stable_Diffusion_version_runwayml_stable-diffusion-v1-5_unet.mlpackage"


def xcrun(*args, **knobs):
    return subprocess.run([XCRUN, *args], env=clean_env(token=False, **knobs), capture_output=True, text=True, timeout=60)


def tree(root):
    """Every file below root, relative, sorted."""
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _dirs, files in os.walk(root) for f in files)


class XcrunTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="standin-xcrun-")
        self.out = os.path.join(self.tmp, "out")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def convert(self, *flags):
        proc = run(["--model-version", SD, "--convert-unet", "--chunk-unet", *flags, "-o", self.out], token=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_it_writes_what_the_converters_bundling_writes(self):
        self.convert("--bundle-resources-for-swift-cli", "--quantize-nbits", "6")
        target = os.path.join(self.tmp, "compiled")
        os.makedirs(target)
        for name, bundled in ((UNET, "Unet"), (UNET.replace("_unet.", "_unet_chunk1."), "UnetChunk1")):
            proc = xcrun("coremlcompiler", "compile", os.path.join(self.out, name), target)
            self.assertEqual((proc.returncode, proc.stdout, proc.stderr), (0, "", ""))
            made = os.path.join(target, name[: -len(".mlpackage")] + ".mlmodelc")
            expected = os.path.join(self.out, "Resources", bundled + ".mlmodelc")
            self.assertEqual(tree(made), ["analytics/coremldata.bin", "coremldata.bin", "metadata.json", "model.mil", "weights/weight.bin"])
            self.assertEqual(tree(made), tree(expected))
            same, different, errors = filecmp.cmpfiles(made, expected, tree(made), shallow=False)
            self.assertEqual((different, errors), ([], []), name)
        with open(os.path.join(target, UNET[: -len(".mlpackage")] + ".mlmodelc", "metadata.json")) as f:
            meta = json.load(f)[0]
        self.assertIn("Ios16.constexprLutToDense", meta["mlProgramOperationTypeHistogram"])  # the package's own facts

    def test_a_missing_or_half_written_package_fails_with_status_1(self):
        self.convert()
        target = os.path.join(self.tmp, "compiled")
        os.makedirs(target)
        os.remove(os.path.join(self.out, UNET, "Data", "com.apple.CoreML", "weights", "weight.bin"))
        for source in (os.path.join(self.out, UNET), os.path.join(self.out, "nothing.mlpackage")):
            proc = xcrun("coremlcompiler", "compile", source, target)
            self.assertEqual(proc.returncode, 1)
            self.assertEqual(proc.stderr, f"coremlcompiler: error: Failed to read model package at {source}\n")
        self.assertEqual(os.listdir(target), [])

    def test_without_xcode_it_is_xcruns_error_and_status_72(self):
        self.convert()
        target = os.path.join(self.tmp, "compiled")
        proc = xcrun("coremlcompiler", "compile", os.path.join(self.out, UNET), target, STANDIN_NO_COREMLCOMPILER="1")
        self.assertEqual(proc.returncode, 72)
        self.assertEqual(proc.stderr, 'xcrun: error: unable to find utility "coremlcompiler", not a developer tool or in PATH\n')
        self.assertFalse(os.path.exists(target))

    def test_it_records_its_calls_and_refuses_other_commands(self):
        self.convert()
        log = os.path.join(self.tmp, "calls.jsonl")
        target = os.path.join(self.tmp, "compiled")
        os.makedirs(target)
        self.assertEqual(xcrun("coremlcompiler", "compile", os.path.join(self.out, UNET), target, STANDIN_INVOCATIONS=log).returncode, 0)
        with open(log) as f:
            calls = [json.loads(line) for line in f]
        self.assertEqual([(c["module"], c["argv"]) for c in calls],
                         [("xcrun.coremlcompiler", ["coremlcompiler", "compile", os.path.join(self.out, UNET), target])])
        for argv in (["--find", "coremlcompiler"], ["coremlcompiler", "compile", "x"], ["metal", "compile", "a", "b"]):
            proc = xcrun(*argv)
            self.assertEqual(proc.returncode, 2, argv)
            self.assertIn("stand-in xcrun: unsupported command", proc.stderr)


if __name__ == "__main__":
    unittest.main()

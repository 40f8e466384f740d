"""Tests of python/prepare_fp16.py (run from the repository root:
`python3 -m unittest discover -s python/tests`). No diffusers needed: the loader is injected,
either a tiny fake here or the stand-in converter's float16 loader (test/standin)."""

import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
import prepare_fp16  # noqa: E402

HELPER = os.path.join(os.path.dirname(HERE), "prepare_fp16.py")
STANDIN = os.path.join(ROOT, "test", "standin")
STANDIN_LOADER = "python_coreml_stable_diffusion._standin:load_float16_pipeline"


class FakePipeline:
    """What save_pretrained(variant="fp16") of a diffusers pipeline leaves, in miniature."""

    def __init__(self, weights=("unet/diffusion_pytorch_model", "text_encoder/model"), index=True):
        self.weights = weights
        self.index = index
        self.saved = []

    def save_pretrained(self, directory, safe_serialization=True, variant=None):
        self.saved.append((directory, safe_serialization, variant))
        os.makedirs(directory, exist_ok=True)
        if self.index:
            with open(os.path.join(directory, "model_index.json"), "w") as f:
                json.dump({"_class_name": "StableDiffusionPipeline"}, f)
        for stem in self.weights:
            path = os.path.join(directory, f"{stem}.{variant}.safetensors" if variant else f"{stem}.safetensors")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(b"\0" * 8)


def quiet(*_args):
    pass


class PrepareTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="prepare-fp16-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.out = os.path.join(self.tmp, "stage", "owner", "model")

    def test_saves_fp16_safetensors_under_the_output(self):
        pipe = FakePipeline()
        loaded = []
        written = prepare_fp16.prepare("owner/model", self.out, lambda m: loaded.append(m) or pipe, log=quiet)
        self.assertEqual(loaded, ["owner/model"])
        self.assertEqual(written, ["text_encoder/model.fp16.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors"])
        self.assertEqual(pipe.saved[0][1:], (True, "fp16"))
        self.assertTrue(os.path.isfile(os.path.join(self.out, "model_index.json")))
        self.assertFalse(os.path.exists(self.out + ".partial"))

    def test_a_revision_reaches_the_loader(self):
        calls = []
        prepare_fp16.prepare("owner/model", self.out, lambda m, revision=None: calls.append((m, revision)) or FakePipeline(),
                             log=quiet, revision="0123abc")
        self.assertEqual(calls, [("owner/model", "0123abc")])

    def test_no_fp16_file_saved_is_an_error_and_leaves_nothing(self):
        with self.assertRaisesRegex(prepare_fp16.PrepareError, r"no \*\.fp16\.safetensors"):
            prepare_fp16.prepare("owner/model", self.out, lambda m: FakePipeline(weights=()), log=quiet)
        self.assertFalse(os.path.exists(self.out))
        self.assertFalse(os.path.exists(self.out + ".partial"))

    def test_not_a_pipeline_is_an_error(self):
        with self.assertRaisesRegex(prepare_fp16.PrepareError, "model_index.json"):
            prepare_fp16.prepare("owner/model", self.out, lambda m: FakePipeline(index=False), log=quiet)
        self.assertFalse(os.path.exists(self.out))

    def test_a_failing_loader_leaves_no_half_copy(self):
        def explode(_model):
            os.makedirs(self.out + ".partial")  # as if a save had started
            raise MemoryError("out of memory")

        with self.assertRaises(MemoryError):
            prepare_fp16.prepare("owner/model", self.out, explode, log=quiet)
        self.assertFalse(os.path.exists(self.out + ".partial"))
        self.assertFalse(os.path.exists(self.out))

    def test_a_finished_copy_is_kept(self):
        prepare_fp16.prepare("owner/model", self.out, lambda m: FakePipeline(), log=quiet)
        again = prepare_fp16.prepare("owner/model", self.out, lambda m: self.fail("loaded again"), log=quiet)
        self.assertEqual(len(again), 2)

    def test_a_stale_unfinished_folder_is_replaced(self):
        os.makedirs(self.out)
        with open(os.path.join(self.out, "model_index.json"), "w") as f:
            f.write("{}")  # an index but no weights: not finished
        written = prepare_fp16.prepare("owner/model", self.out, lambda m: FakePipeline(), log=quiet)
        self.assertEqual(len(written), 2)

    def test_fp16_files_include_shards(self):
        pipe = FakePipeline(weights=("unet/diffusion_pytorch_model", "text_encoder_2/model"))
        pipe.save_pretrained(self.tmp, variant="fp16")
        open(os.path.join(self.tmp, "unet", "diffusion_pytorch_model.fp16-00001-of-00002.safetensors"), "w").close()
        open(os.path.join(self.tmp, "unet", "diffusion_pytorch_model.safetensors"), "w").close()
        self.assertEqual(prepare_fp16.fp16_files(self.tmp), [
            "text_encoder_2/model.fp16.safetensors",
            "unet/diffusion_pytorch_model.fp16-00001-of-00002.safetensors",
            "unet/diffusion_pytorch_model.fp16.safetensors",
        ])


class LoaderTest(unittest.TestCase):
    def test_default_is_diffusers(self):
        self.assertIs(prepare_fp16.resolve_loader(None), prepare_fp16.load_with_diffusers)
        self.assertIs(prepare_fp16.resolve_loader(""), prepare_fp16.load_with_diffusers)

    def test_module_function(self):
        self.assertIs(prepare_fp16.resolve_loader("os.path:join"), os.path.join)

    def test_bad_specs_name_the_variable(self):
        for spec in ("nocolon", "os.path:", ":join", "no.such.module:f", "os.path:nosuchfunction"):
            with self.assertRaisesRegex(prepare_fp16.PrepareError, "PREPARE_FP16_LOADER"):
                prepare_fp16.resolve_loader(spec)


class MainTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="prepare-fp16-main-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def call(self, argv, environ):
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = prepare_fp16.main(argv, environ)
        return code, out.getvalue(), err.getvalue()

    def test_loader_errors_exit_1_naming_the_model(self):
        code, _out, err = self.call(["--model-version", "owner/model", "--output", os.path.join(self.tmp, "o")],
                                    {"PREPARE_FP16_LOADER": "json:loads"})
        self.assertEqual(code, 1)
        self.assertIn("could not save an fp16 copy of owner/model", err)

    def test_bad_loader_spec_exits_1(self):
        code, _out, err = self.call(["--model-version", "m", "--output", self.tmp], {"PREPARE_FP16_LOADER": "x"})
        self.assertEqual(code, 1)
        self.assertIn("prepare_fp16: PREPARE_FP16_LOADER must be module:function", err)

    @unittest.skipIf(importlib.util.find_spec("diffusers") is not None, "diffusers is installed here")
    def test_without_diffusers_the_default_loader_says_what_is_missing(self):
        code, _out, err = self.call(["--model-version", "owner/model", "--output", os.path.join(self.tmp, "o")], {})
        self.assertEqual(code, 1)
        self.assertRegex(err, r"ModuleNotFoundError: No module named '(torch|diffusers)'")


class StandinLoaderTest(unittest.TestCase):
    """The helper as the action runs it, with the stand-in converter's loader in place of diffusers."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="prepare-fp16-standin-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def run_helper(self, model, output, *extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("STANDIN_", "HF_"))}
        env.update(PYTHONPATH=STANDIN, PREPARE_FP16_LOADER=STANDIN_LOADER, PYTHONDONTWRITEBYTECODE="1")
        return subprocess.run([sys.executable, HELPER, "--model-version", model, "--output", output, *extra],
                              env=env, capture_output=True, text=True, timeout=60)

    def test_hub_id_copy_loads_in_the_converter_under_the_same_name(self):
        staging = os.path.join(self.tmp, "stage")
        proc = self.run_helper("runwayml/stable-diffusion-v1-5", os.path.join(staging, "runwayml", "stable-diffusion-v1-5"),
                               "--revision", "a" * 40)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("prepare_fp16: done", proc.stdout)
        env = {k: v for k, v in os.environ.items() if not k.startswith("STANDIN_")}
        env.update(PYTHONPATH=STANDIN, HF_TOKEN="hf_x", STANDIN_NO_FP16="hub", PYTHONDONTWRITEBYTECODE="1")
        out = os.path.join(self.tmp, "out")
        convert = subprocess.run([sys.executable, "-m", "python_coreml_stable_diffusion.torch2coreml", "--model-version",
                                  "runwayml/stable-diffusion-v1-5", "--convert-unet", "-o", out],
                                 cwd=staging, env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(convert.returncode, 0, convert.stderr[-2000:])
        self.assertEqual(os.listdir(out), ["Stable_Diffusion_version_runwayml_stable-diffusion-v1-5_unet.mlpackage"])

    def test_bad_hub_id_fails_with_the_loaders_error(self):
        proc = self.run_helper("a/b/c", os.path.join(self.tmp, "o"))
        self.assertEqual(proc.returncode, 1)
        self.assertIn("could not save an fp16 copy of a/b/c: ValueError", proc.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "o")))


if __name__ == "__main__":
    unittest.main()

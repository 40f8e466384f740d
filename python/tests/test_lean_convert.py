"""Tests of python/lean_convert.py against the stand-in converter (test/standin), standard library only
(run from the repository root: `python3 -m unittest discover -s python/tests`). The stand-in's
per-part functions have the real signatures and write, from what they read of the pipe, what the
stand-in's command line writes: so the lean entry's pipe-like object is checked by comparing its
packages with the command line's, byte for byte. The real packages: test_lean_convert_real.py and
test/fixtures/real-converter/lean-*.txt."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
import lean_convert  # noqa: E402

ENTRY = os.path.join(os.path.dirname(HERE), "lean_convert.py")
STANDIN = os.path.join(ROOT, "test", "standin")
LOADER = "python_coreml_stable_diffusion._standin_lean:LOADER"
SD = "runwayml/stable-diffusion-v1-5"
SDXL = "stabilityai/stable-diffusion-xl-base-1.0"
CONVERTER_LINE = re.compile(r"((?:INFO|WARNING):(?:__main__|python_coreml_stable_diffusion\.torch2coreml):.*)$")
PIPELINE_LINES = ("Initializing DiffusionPipeline", "Done. Pipeline in effect")


def env(**extra):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("STANDIN_", "LEAN_CONVERT", "HF_"))}
    e.update(PYTHONPATH=STANDIN, LEAN_CONVERT_LOADER=LOADER, STANDIN_SYNTHESIZE_MODELS="1", PYTHONUNBUFFERED="1")
    e.update(extra)
    return e


def run(argv, cwd, module=False, **extra):
    runner = ["-m", "python_coreml_stable_diffusion.torch2coreml"] if module else [ENTRY]
    return subprocess.run([sys.executable, *runner, *argv], cwd=cwd, env=env(**extra), capture_output=True, text=True, timeout=120)


def converter_lines(stderr):
    lines = []
    for raw in re.split(r"[\r\n]", stderr):
        m = CONVERTER_LINE.search(raw)
        if m and not m.group(1).split(":", 2)[2].startswith(PIPELINE_LINES):
            lines.append(re.sub(r"^(\w+):[\w.]+:", r"\1:<converter>:", m.group(1)))
    return lines


def tree(folder):
    """Every file below folder with its bytes."""
    files = {}
    for parent, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(parent, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, folder)] = f.read()
    return files


class BothWaysTest(unittest.TestCase):
    """The lean entry and the stand-in's command line on the same argv: same files, same converter lines."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lean-convert-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def both(self, flags, **extra):
        """Each way in its own working directory (tmp/cli, tmp/lean, where m is tmp/m), -o out."""
        procs = []
        for way in ("cli", "lean"):
            cwd = os.path.join(self.tmp, way)
            if not os.path.isdir(cwd):
                os.makedirs(cwd)
                os.symlink(os.path.join(self.tmp, "m"), os.path.join(cwd, "m"))
            procs.append(run([*flags, "-o", "out"], cwd, module=way == "cli", **extra))
            self.assertEqual(procs[-1].returncode, 0, procs[-1].stderr[-2000:])
        return procs

    def out(self, way):
        return os.path.join(self.tmp, way, "out")

    def assertSame(self, flags, **extra):
        cli, lean = self.both(flags, **extra)
        written = tree(self.out("lean"))
        self.assertTrue(written)
        self.assertEqual(written, tree(self.out("cli")))
        self.assertEqual(converter_lines(lean.stderr), converter_lines(cli.stderr))
        return cli, lean

    def test_every_part_of_sd_as_the_command_line_writes_it(self):
        for part in ("unet", "text-encoder", "vae-decoder", "vae-encoder"):
            with self.subTest(part=part):
                self.assertSame(["--model-version", SD, f"--convert-{part}"])

    def test_sdxl_text_encoders_one_after_the_other_and_its_unet(self):
        _, lean = self.assertSame(["--model-version", SDXL, "--xl-version", "--convert-text-encoder"])
        self.assertEqual(sorted(os.listdir(self.out("lean"))), [
            "Stable_Diffusion_version_stabilityai_stable-diffusion-xl-base-1.0_text_encoder.mlpackage",
            "Stable_Diffusion_version_stabilityai_stable-diffusion-xl-base-1.0_text_encoder_2.mlpackage"])
        self.assertLess(lean.stderr.index("Converted text_encoder\n"), lean.stderr.index("Converting text_encoder_2"))
        self.assertSame(["--model-version", SDXL, "--xl-version", "--convert-unet", "--latent-h", "96", "--latent-w", "64"])

    def test_a_local_folder_reads_the_configs_of_the_other_components(self):
        # The unet reads the text encoders' sizes and the VAE the unet's sample size, from their configs.
        model = os.path.join(self.tmp, "m")
        for name, config in (("unet", {"sample_size": 48, "cross_attention_dim": 1024, "in_channels": 4}),
                             ("text_encoder", {"hidden_size": 1024}), ("vae", {"latent_channels": 4})):
            os.makedirs(os.path.join(model, name))
            with open(os.path.join(model, name, "config.json"), "w") as f:
                json.dump(config, f)
        with open(os.path.join(model, "model_index.json"), "w") as f:
            json.dump({"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
                       "vae": ["diffusers", "AutoencoderKL"], "text_encoder": ["transformers", "CLIPTextModel"],
                       "tokenizer": ["transformers", "CLIPTokenizer"], "scheduler": ["diffusers", "PNDMScheduler"],
                       "safety_checker": [None, None]}, f)
        for part in ("unet", "vae-decoder", "text-encoder"):
            with self.subTest(part=part):
                self.assertSame(["--model-version", "m", f"--convert-{part}"])
        with open(os.path.join(self.out("lean"), "Stable_Diffusion_version_m_unet.mlpackage", "Data", "com.apple.CoreML", "standin.json")) as f:
            info = json.load(f)
        self.assertEqual(info["input_shapes"]["sample"], [2, 4, 48, 48])
        self.assertEqual(info["input_shapes"]["encoder_hidden_states"], [2, 1024, 1, 77])

    def test_the_control_unet_and_the_parity_check(self):
        self.assertSame(["--model-version", SD, "--convert-unet", "--unet-support-controlnet", "--check-output-correctness"])

    def test_an_existing_package_is_skipped_with_the_converter_line(self):
        flags = ["--model-version", SD, "--convert-vae-decoder"]
        self.both(flags)
        cli, lean = self.both(flags)
        self.assertIn("`vae_decoder` already exists at out/", lean.stderr)
        self.assertEqual(converter_lines(lean.stderr), converter_lines(cli.stderr))

    def test_prints_its_peak_rss_in_bytes_last(self):
        _, lean = self.both(["--model-version", SD, "--convert-vae-decoder"])
        last = lean.stderr.rstrip("\n").split("\n")[-1]
        m = re.fullmatch(r"lean_convert: peak RSS (\d+) bytes", last)
        self.assertIsNotNone(m, last)
        self.assertGreater(int(m.group(1)), 1 << 20)

    def test_records_the_converter_functions_it_called(self):
        calls = os.path.join(self.tmp, "calls.jsonl")
        lean = run(["--model-version", SDXL, "--xl-version", "--convert-text-encoder", "-o", "out"], self.tmp, STANDIN_INVOCATIONS=calls)
        self.assertEqual(lean.returncode, 0, lean.stderr)
        with open(calls) as f:
            modules = [json.loads(line)["module"] for line in f]
        self.assertEqual(modules, ["python_coreml_stable_diffusion.torch2coreml.convert_text_encoder"] * 2)
        self.assertNotIn("Keyword arguments {'use_auth_token': True}", lean.stderr)

    def test_patches_only_what_the_converter_imported(self):
        # A coremltools and a torch that would be importable (they record their import): the stand-in
        # converter imports neither, so the entry imports neither and claims no patch of theirs.
        fakes = os.path.join(self.tmp, "fakes")
        marks = os.path.join(self.tmp, "imported")
        for name in ("coremltools", "torch"):
            os.makedirs(os.path.join(fakes, name))
            with open(os.path.join(fakes, name, "__init__.py"), "w") as f:
                f.write(f"open({os.path.join(marks, name)!r}, 'w').close()\n")
        os.makedirs(marks)
        lean = run(["--model-version", SD, "--convert-vae-decoder", "-o", "out"], self.tmp, PYTHONPATH=f"{STANDIN}{os.pathsep}{fakes}")
        self.assertEqual(lean.returncode, 0, lean.stderr)
        self.assertEqual(os.listdir(marks), [])
        line = next(line for line in lean.stderr.splitlines() if line.startswith("lean_convert: converting vae_decoder alone"))
        self.assertNotIn("fp16_overflow", line)
        self.assertNotIn("trace without check", line)


class FailureTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lean-convert-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def test_refuses_what_it_does_not_convert_lean_before_loading_anything(self):
        cases = {
            "--convert-safety-checker": ["--convert-safety-checker"],
            "--convert-controlnet": ["--convert-unet", "--convert-controlnet", "lllyasviel/sd-controlnet-mlsd"],
            "--refiner-version": ["--convert-unet", "--refiner-version", "stabilityai/stable-diffusion-xl-refiner-1.0"],
            "--sd3-version": ["--convert-vae-decoder", "--sd3-version"],
            "--quantize-nbits": ["--convert-unet", "--quantize-nbits", "6"],
            "exactly one": ["--convert-unet", "--convert-text-encoder"],
        }
        for needle, flags in cases.items():
            with self.subTest(needle):
                proc = run(["--model-version", SD, *flags, "-o", "out"], self.tmp)
                self.assertEqual(proc.returncode, 1)
                self.assertIn(needle, proc.stderr)
                self.assertNotIn("Converting", proc.stderr)
                self.assertFalse(os.path.exists(os.path.join(self.tmp, "out")))
                self.assertRegex(proc.stderr, r"lean_convert: peak RSS \d+ bytes\n$")

    def test_a_bad_flag_exits_2_as_the_converter_parser_does(self):
        proc = run(["--model-version", SD, "--convert-unet", "--no-such-flag"], self.tmp)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("unrecognized arguments: --no-such-flag", proc.stderr)

    def test_a_bad_loader_names_the_variable(self):
        proc = run(["--model-version", SD, "--convert-unet"], self.tmp, LEAN_CONVERT_LOADER="nowhere")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("LEAN_CONVERT_LOADER must be module:function, got 'nowhere'", proc.stderr)

    def test_the_converters_own_errors_fail_the_process_with_its_traceback(self):
        proc = run(["--model-version", SD, "--convert-unet", "--check-output-correctness", "-o", "out"], self.tmp,
                   STANDIN_PSNR="unet=20")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("ValueError: 20.0 dB is too low!", proc.stderr)
        self.assertIn("lean_convert: converting unet failed: ValueError: 20.0 dB is too low!", proc.stderr)

    def test_a_checkpoint_without_fp16_files_fails_as_the_pipeline_load_does(self):
        proc = run(["--model-version", SD, "--convert-unet", "-o", "out"], self.tmp, STANDIN_NO_FP16="1")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("Could not find the necessary `safetensors` weights", proc.stderr)


class PiecesTest(unittest.TestCase):
    def parse(self, *flags):
        sys.path.insert(0, STANDIN)
        try:
            from python_coreml_stable_diffusion import torch2coreml
        finally:
            sys.path.remove(STANDIN)
        return torch2coreml.parser_spec().parse_args(["--model-version", SD, *flags])

    def test_part_of(self):
        self.assertEqual(lean_convert.part_of(self.parse("--convert-unet", "--unet-support-controlnet")), "unet")
        self.assertEqual(lean_convert.part_of(self.parse("--convert-text-encoder", "--xl-version")), "text_encoder")
        with self.assertRaisesRegex(lean_convert.LeanError, "exactly one"):
            lean_convert.part_of(self.parse())

    def test_the_unet_is_let_go_once_its_state_dict_is_taken(self):
        class Model:
            config = SimpleNamespace(sample_size=64)

            def state_dict(self):
                return {"w": [1, 2]}

            def to(self, dtype):
                return self

        held = lean_convert.ReleasedAfterCopy(Model())
        self.assertEqual(held.state_dict(), {"w": [1, 2]})
        self.assertEqual(held.config.sample_size, 64)
        with self.assertRaisesRegex(AttributeError, "let go"):
            held.to("float32")
        kept = lean_convert.ReleasedAfterCopy(Model(), release=False)  # --check-output-correctness
        kept.state_dict()
        self.assertIsInstance(kept.to("float32"), Model)

    def test_the_pipe_has_only_what_the_part_reads(self):
        class Loader:
            def __init__(self):
                self.loaded = []

            def component(self, args, name, weights=True):
                self.loaded.append((name, weights))
                return SimpleNamespace(config=SimpleNamespace(name=name), state_dict=dict)

            def custom_vae(self, args):
                self.loaded.append(("custom vae", True))
                return SimpleNamespace(config=None)

        index = {"_class_name": "StableDiffusionXLPipeline", "unet": ["diffusers", "U"], "vae": ["diffusers", "A"],
                 "text_encoder": [None, None], "text_encoder_2": ["transformers", "T"], "scheduler": ["diffusers", "S"],
                 "force_zeros_for_empty_prompt": True}
        loader = Loader()
        pipe = lean_convert.pipe_for("unet", self.parse("--convert-unet"), loader, index)
        self.assertEqual(loader.loaded, [("text_encoder_2", False), ("scheduler", True), ("unet", True)])
        self.assertIsNone(pipe.text_encoder)
        self.assertFalse(hasattr(pipe, "vae"))
        self.assertTrue(pipe.config.force_zeros_for_empty_prompt)
        self.assertFalse(hasattr(pipe.config, "requires_aesthetics_score"))
        loader = Loader()
        pipe = lean_convert.pipe_for("vae_decoder", self.parse("--convert-vae-decoder", "--custom-vae-version", "a/vae"), loader, index)
        self.assertEqual(loader.loaded, [("unet", False), ("custom vae", True)])
        self.assertFalse(hasattr(pipe, "text_encoder_2"))

    def test_the_allocator_knobs_are_glibcs_only(self):
        # On glibc Linux they are set; elsewhere (macOS) nothing is called and nothing claimed.
        import platform
        glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
        self.assertEqual(lean_convert._LIBC is not None, glibc)
        self.assertEqual(lean_convert.set_mmap_threshold(), glibc)
        lean_convert.release_memory()

    def test_peak_rss_in_bytes(self):
        import resource
        kib_or_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.assertEqual(lean_convert.peak_rss_bytes(), kib_or_bytes if sys.platform == "darwin" else kib_or_bytes * 1024)


if __name__ == "__main__":
    unittest.main()

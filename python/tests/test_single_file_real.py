"""single_file.py against the real loaders: tiny SD 1.x, 2.x and SDXL single files and LoRAs written with
real diffusers and peft (test/python/tiny_single_file.py, tiny_lora.py), the helper run on them with
its default diffusers loader, and the output loaded back the way Apple's converter loads it. Needs
torch, diffusers, peft and safetensors (the tests' venv: `node scripts/python-env.mjs`, then
`.venv/bin/python -m unittest discover -s python/tests -p 'test_*_real.py'`); skipped where absent."""

import contextlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
HELPER = os.path.join(ROOT, "python", "single_file.py")
MAKERS = os.path.join(ROOT, "test", "python")
MISSING = [m for m in ("torch", "diffusers", "safetensors", "transformers", "peft") if importlib.util.find_spec(m) is None]
COMPONENTS = {"sd1": ("unet", "vae", "text_encoder"), "sd2": ("unet", "vae", "text_encoder"), "sdxl": ("unet", "vae", "text_encoder", "text_encoder_2")}
# A Hub commit for the hand-made cache of the SDXL config repo.
CONFIG_SHA = "5f1c0e9d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e"
CONFIG_REPO = "tiny/sdxl-config"
# diffusers 0.30.2's allow_patterns for the config snapshot (see /tmp/brief/single-file-config-files.md)
CONFIG_SUFFIXES = (".json", ".txt")
FP16_ULPS = 4  # merged in float16: a few roundings of the largest weight


def maker(name, argv):
    """Run a test maker's main() in this process; its last stdout line is JSON."""
    sys.path.insert(0, MAKERS)
    module = __import__(name)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        module.main(argv)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def in_process(argv):
    """single_file.main(argv) here, with its default (diffusers) loader, as a finished process."""
    sys.path.insert(0, os.path.dirname(HELPER))
    import single_file

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = single_file.main(argv, {})
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def hub_cache_with_configs(cache, repo, sha, pipeline):
    """An HF cache holding only the config files of `pipeline` as repo@sha (no weights), as the action
    prefetches them."""
    root = os.path.join(cache, "models--" + repo.replace("/", "--"))
    snapshot = os.path.join(root, "snapshots", sha)
    for parent, _dirs, files in os.walk(pipeline):
        for name in files:
            if name.endswith(CONFIG_SUFFIXES):
                rel = os.path.relpath(os.path.join(parent, name), pipeline)
                os.makedirs(os.path.dirname(os.path.join(snapshot, rel)), exist_ok=True)
                shutil.copy(os.path.join(pipeline, rel), os.path.join(snapshot, rel))
    os.makedirs(os.path.join(root, "refs"), exist_ok=True)
    with open(os.path.join(root, "refs", "main"), "w") as f:
        f.write(sha)


@unittest.skipIf(MISSING, f"needs the real packages ({', '.join(MISSING)} missing)")
class RealSingleFileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import torch
        from safetensors.torch import load_file

        cls.tmp = tempfile.mkdtemp(prefix="single-file-real-")
        t = lambda *p: os.path.join(cls.tmp, *p)  # noqa: E731
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "SINGLE_FILE_"))}
        # The Hub must never be asked: configs come from a folder or the hand-made cache.
        env.update(HF_HUB_OFFLINE="1", HF_HUB_CACHE=t("hub"), PYTHONDONTWRITEBYTECODE="1")
        cls.env = env
        os.environ["HF_HUB_OFFLINE"] = "1"
        cls.made = {kind: maker("tiny_single_file", [t(f"{kind}-model.safetensors"), "--kind", kind]) for kind in COMPONENTS}
        sd1, sdxl = cls.made["sd1"]["pipeline"], cls.made["sdxl"]["pipeline"]
        cls.loras = {"sd1-peft": maker("tiny_lora", [t("sd1-peft.safetensors"), "--base", sd1, "--seed", "1"]),
                     "sd1-kohya": maker("tiny_lora", [t("sd1-kohya.safetensors"), "--base", sd1, "--seed", "2", "--format", "kohya"]),
                     "sdxl-peft": maker("tiny_lora", [t("sdxl-peft.safetensors"), "--base", sdxl, "--seed", "3"])}
        hub_cache_with_configs(t("hub"), CONFIG_REPO, CONFIG_SHA, sdxl)
        # The same SD 1.x weights as a pickle, as old .ckpt files hold them.
        torch.save({"state_dict": load_file(cls.made["sd1"]["checkpoint"]), "global_step": 1}, t("sd1-model.ckpt"))

        cls.sd1_scales = {"sd1-peft": 0.7, "sd1-kohya": -1.5}
        runs = {
            "sd1": ["--checkpoint", cls.made["sd1"]["checkpoint"], "--kind", "sd1", "--config", sd1, "--output", t("out", "sd1"),
                    *[a for name, s in cls.sd1_scales.items() for a in ("--lora", f"{cls.loras[name]['lora']}:{s}")]],
            "sdxl": ["--checkpoint", cls.made["sdxl"]["checkpoint"], "--kind", "sdxl", "--config", CONFIG_REPO,
                     "--config-revision", CONFIG_SHA, "--output", t("out", "sdxl"), "--lora", cls.loras["sdxl-peft"]["lora"] + ":1.25"],
            "sd2": ["--checkpoint", cls.made["sd2"]["checkpoint"], "--kind", "sd2", "--config", cls.made["sd2"]["pipeline"],
                    "--output", t("out", "sd2")],
            # the same SD 2.x file with an epsilon config (SD 2.x base is epsilon, 2.1 v-prediction)
            "sd2-epsilon": ["--checkpoint", cls.made["sd2"]["checkpoint"], "--kind", "sd2", "--config", sd1,
                            "--output", t("out", "sd2-epsilon")],
            "ckpt": ["--checkpoint", t("sd1-model.ckpt"), "--kind", "sd1", "--config", sd1, "--output", t("out", "ckpt"), "--allow-pickle"],
            "ckpt-refused": ["--checkpoint", t("sd1-model.ckpt"), "--kind", "sd1", "--config", sd1, "--output", t("out", "refused")],
            "other-base": ["--checkpoint", cls.made["sd1"]["checkpoint"], "--kind", "sd1", "--config", sd1, "--output", t("out", "other"),
                           "--lora", cls.loras["sdxl-peft"]["lora"] + ":1"],
        }
        # The SDXL run and the two refusals as the action runs the helper: processes (the refusals
        # exit before torch is imported). The SD 1.x runs in this process, where torch is loaded already.
        procs = {name: subprocess.Popen([sys.executable, HELPER, *runs.pop(name)], env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
                 for name in ("sdxl", "ckpt-refused", "other-base")}
        cls.runs = {name: in_process(argv) for name, argv in runs.items()}
        for name, proc in procs.items():
            stdout, stderr = proc.communicate(timeout=300)
            cls.runs[name] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def succeeded(self, name):
        run = self.runs[name]
        self.assertEqual(run.returncode, 0, run.stderr[-3000:])
        last = run.stdout.strip().splitlines()[-1]
        self.assertTrue(last.startswith("SINGLE_FILE_RESULT "), last)
        return json.loads(last[len("SINGLE_FILE_RESULT "):])

    def load_pair(self, output, kind):
        """The helper's output as the converter loads it, and the source pipeline the file was made from."""
        from diffusers import DiffusionPipeline

        out = DiffusionPipeline.from_pretrained(output, variant="fp16", use_safetensors=True)
        source = DiffusionPipeline.from_pretrained(self.made[kind]["pipeline"])
        return out, source

    def check_weights(self, output, kind, changes):
        """Every weight is the source's in float16, but those the LoRAs change: W + sum(scale * change),
        to a few float16 roundings. `changes`: [(expected file, scale)]."""
        import torch
        from safetensors.torch import load_file

        out, source = self.load_pair(output, kind)
        expected = {}
        for path, scale in changes:
            for key, change in load_file(path).items():
                expected[key] = expected.get(key, 0) + scale * change
        checked = 0
        for component in COMPONENTS[kind]:
            got, want = getattr(out, component).state_dict(), getattr(source, component).state_dict()
            self.assertEqual(sorted(got), sorted(want), component)
            for key, base in want.items():
                merged = got[key]
                self.assertEqual(merged.dtype, torch.float32, key)  # fp16 files upcast, as the converter loads them
                change = expected.pop(f"{component}.{key}", None)
                if change is None:
                    self.assertTrue(torch.equal(merged, base.to(torch.float16).to(torch.float32)), f"{component}.{key}")
                    continue
                error = (merged - base - change).abs().max().item()
                tolerance = FP16_ULPS * 2 ** -10 * merged.abs().max().item()
                self.assertLess(error, tolerance, f"{component}.{key}: merged - base is not scale * B @ A * alpha / r")
                # and the change is far above what rounding could explain, so the check can fail
                self.assertGreater(change.abs().max().item(), 20 * tolerance, f"{component}.{key}")
                checked += 1
        self.assertEqual(expected, {}, "weights the LoRA changes but the output lacks")
        return checked

    def test_sd1_with_two_loras_each_at_its_own_scale(self):
        result = self.succeeded("sd1")
        self.assertEqual(result["kind"], "sd1")
        self.assertEqual(result["diffusers"], "0.30.2")
        self.assertEqual([(os.path.basename(l["file"]), l["scale"]) for l in result["loras"]],
                         [("sd1-peft.safetensors", 0.7), ("sd1-kohya.safetensors", -1.5)])
        self.assertEqual(self.loras["sd1-kohya"]["alpha"] / self.loras["sd1-kohya"]["rank"], 0.5)  # alpha/r is exercised
        checked = self.check_weights(result["output"], "sd1",
                                     [(self.loras[name]["expected"], scale) for name, scale in self.sd1_scales.items()])
        self.assertEqual(checked, self.loras["sd1-peft"]["changed_weights"])

    def test_sdxl_with_configs_from_the_hub_cache_at_a_commit(self):
        result = self.succeeded("sdxl")
        self.assertEqual(result["config_revision"], CONFIG_SHA)
        checked = self.check_weights(result["output"], "sdxl", [(self.loras["sdxl-peft"]["expected"], 1.25)])
        self.assertEqual(checked, self.loras["sdxl-peft"]["changed_weights"])
        # the merge reached both text encoders and the unet
        import safetensors

        with safetensors.safe_open(self.loras["sdxl-peft"]["expected"], "pt") as f:
            self.assertEqual({k.split(".")[0] for k in f.keys()}, {"unet", "text_encoder", "text_encoder_2"})

    def test_the_output_is_a_folder_of_fp16_safetensors_only(self):
        result = self.succeeded("sd1")
        weights = sorted(os.path.relpath(os.path.join(p, f), result["output"]) for p, _d, fs in os.walk(result["output"])
                         for f in fs if f.endswith((".safetensors", ".bin", ".ckpt")))
        self.assertEqual(weights, result["files"])
        self.assertEqual(weights, ["text_encoder/model.fp16.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors",
                                   "vae/diffusion_pytorch_model.fp16.safetensors"])
        with open(os.path.join(result["output"], "model_index.json")) as f:
            self.assertEqual(json.load(f)["_class_name"], "StableDiffusionPipeline")

    def test_sd2_weights_and_the_prediction_type_comes_from_the_config_alone(self):
        result = self.succeeded("sd2")
        self.assertEqual(self.check_weights(result["output"], "sd2", []), 0)
        predictions = {}
        for name in ("sd2", "sd2-epsilon"):
            with open(os.path.join(self.succeeded(name)["output"], "scheduler", "scheduler_config.json")) as f:
                predictions[name] = json.load(f)["prediction_type"]
        self.assertEqual(predictions, {"sd2": "v_prediction", "sd2-epsilon": "epsilon"})

    def test_a_ckpt_with_allow_pickle_gives_the_same_weights(self):
        result = self.succeeded("ckpt")
        self.assertEqual(self.check_weights(result["output"], "sd1", []), 0)

    def test_a_ckpt_without_allow_pickle_is_refused_and_nothing_written(self):
        run = self.runs["ckpt-refused"]
        self.assertEqual(run.returncode, 2, run.stderr[-2000:])
        self.assertIn("is a pickle file (.ckpt)", run.stderr)
        self.assertFalse([n for n in os.listdir(os.path.join(self.tmp, "out")) if n.startswith("refused")])

    def test_a_lora_for_another_base_is_refused_from_its_header(self):
        run = self.runs["other-base"]
        self.assertEqual(run.returncode, 1, run.stdout[-2000:])
        self.assertIn("is for another base model: its cross-attention takes text of width 80, the sd1 checkpoint's takes 32", run.stderr)
        self.assertFalse([n for n in os.listdir(os.path.join(self.tmp, "out")) if n.startswith("other")])

    def test_diffusers_own_refusal_of_a_lora_for_another_base_is_reported(self):
        """Past the header check (a LoRA whose width cannot be read), diffusers' size mismatch is the error."""
        sys.path.insert(0, os.path.dirname(HELPER))
        import single_file

        with contextlib.redirect_stderr(io.StringIO()):
            with self.assertRaisesRegex(single_file.SingleFileError,
                                        r"could not be merged into this sd1 checkpoint \(a LoRA for another base model.*size mismatch"):
                single_file.load_with_diffusers(self.made["sd1"]["checkpoint"], "sd1", self.made["sd1"]["pipeline"],
                                                loras=[(self.loras["sdxl-peft"]["lora"], 1.0)], log=lambda *_: None)

    def test_a_lora_with_no_layer_of_this_checkpoint_is_an_error(self):
        """SDXL's second text encoder alone, on SD 1.x: diffusers skips names it has no place for."""
        from safetensors.torch import load_file, save_file

        sys.path.insert(0, os.path.dirname(HELPER))
        import single_file

        only_second = os.path.join(self.tmp, "te2-only.safetensors")
        save_file({k: v for k, v in load_file(self.loras["sdxl-peft"]["lora"]).items() if k.startswith("text_encoder_2.")}, only_second)
        with contextlib.redirect_stderr(io.StringIO()):
            with self.assertRaisesRegex(single_file.SingleFileError, r"te2-only\.safetensors has no layer that this checkpoint has"):
                single_file.load_with_diffusers(self.made["sd1"]["checkpoint"], "sd1", self.made["sd1"]["pipeline"],
                                                loras=[(only_second, 1.0)], log=lambda *_: None)


if __name__ == "__main__":
    unittest.main()

"""prepare_fp16.py against the real loaders: a tiny fp32-only pipeline written by real diffusers
(test/python/tiny_pipeline.py), the helper run on it with its default diffusers loader, and the
copy loaded back the way Apple's converter loads it. Needs torch, diffusers and safetensors (the
tests' venv: `node scripts/python-env.mjs`, then `.venv/bin/python -m unittest discover -s
python/tests -p 'test_*_real.py'`); skipped where they are absent."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
HELPER = os.path.join(ROOT, "python", "prepare_fp16.py")
TINY = os.path.join(ROOT, "test", "python", "tiny_pipeline.py")
MISSING = [m for m in ("torch", "diffusers", "safetensors", "transformers") if importlib.util.find_spec(m) is None]


def weight_files(folder):
    """Relative paths of every *.safetensors below folder."""
    found = []
    for parent, _dirs, files in os.walk(folder):
        found += [os.path.relpath(os.path.join(parent, f), folder) for f in files if f.endswith(".safetensors")]
    return sorted(found)


def fp16_name(plain):
    """diffusers' variant name: unet/diffusion_pytorch_model.safetensors -> ....fp16.safetensors."""
    return plain[: -len(".safetensors")] + ".fp16.safetensors"


@unittest.skipIf(MISSING, f"needs the real packages ({', '.join(MISSING)} missing)")
class RealDiffusersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="prepare-fp16-real-")
        cls.source = os.path.join(cls.tmp, "owner", "tiny-sd")
        cls.output = os.path.join(cls.tmp, "stage", "owner", "tiny-sd")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "PREPARE_FP16_"))}
        # Local folders only: the Hub must never be asked.
        env.update(HF_HUB_OFFLINE="1", PYTHONDONTWRITEBYTECODE="1")
        cls.env = env
        subprocess.run([sys.executable, TINY, cls.source, "--kind", "sd", "--variants", "fp32"], env=env,
                       check=True, capture_output=True, text=True)
        cls.source_files = weight_files(cls.source)
        with open(os.path.join(cls.source, "model_index.json"), "rb") as f:
            cls.source_index = f.read()
        cls.run_result = subprocess.run([sys.executable, HELPER, "--model-version", cls.source, "--output", cls.output],
                                        env=env, capture_output=True, text=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_the_source_is_fp32_only(self):
        # Otherwise the test would prove nothing about an fp32-only checkpoint.
        self.assertTrue(self.source_files)
        self.assertFalse([f for f in self.source_files if ".fp16." in f])

    def test_the_helper_succeeds(self):
        self.assertEqual(self.run_result.returncode, 0, self.run_result.stderr[-3000:])
        self.assertIn(f"prepare_fp16: done, {len(self.source_files)} files", self.run_result.stdout)
        self.assertFalse(os.path.exists(self.output + ".partial"))

    def test_every_weight_file_has_its_fp16_variant_and_nothing_else(self):
        self.assertEqual(weight_files(self.output), sorted(fp16_name(f) for f in self.source_files))

    def test_tensors_are_the_fp32_ones_cast_to_fp16(self):
        import torch
        from safetensors.torch import load_file

        for plain in self.source_files:
            with self.subTest(file=plain):
                fp32 = load_file(os.path.join(self.source, plain))
                fp16 = load_file(os.path.join(self.output, fp16_name(plain)))
                self.assertEqual(sorted(fp16), sorted(fp32))
                for key, tensor in fp32.items():
                    self.assertEqual(fp16[key].dtype, torch.float16 if tensor.is_floating_point() else tensor.dtype, key)
                    self.assertTrue(torch.equal(fp16[key], tensor.to(fp16[key].dtype)), key)

    def test_model_index_is_unchanged_but_for_the_recorded_model_id(self):
        # save_pretrained records _name_or_path (the id it was loaded as); from_pretrained overwrites it.
        with open(os.path.join(self.output, "model_index.json"), "rb") as f:
            after = json.loads(f.read())
        self.assertEqual(after.pop("_name_or_path", None), self.source)
        self.assertEqual(after, json.loads(self.source_index))

    def test_component_configs_are_unchanged_but_for_the_dtype_and_origin(self):
        # transformers records where a config was loaded from and in which dtype; nothing else may move.
        configs = [os.path.relpath(os.path.join(parent, name), self.source)
                   for parent, _dirs, files in os.walk(self.source)
                   for name in files if name in ("config.json", "scheduler_config.json")]
        self.assertEqual(len(configs), 4)  # unet, vae, text_encoder, scheduler
        ignored = {"_name_or_path", "torch_dtype"}
        for rel in configs:
            with self.subTest(file=rel):
                with open(os.path.join(self.source, rel)) as f:
                    before = json.load(f)
                with open(os.path.join(self.output, rel)) as f:
                    after = json.load(f)
                self.assertEqual({k: v for k, v in after.items() if k not in ignored},
                                 {k: v for k, v in before.items() if k not in ignored})

    def test_the_tokenizer_is_unchanged(self):
        # special_tokens_map.json is re-serialised (tokens as objects); the vocabulary and merges are not.
        for name in ("vocab.json", "merges.txt"):
            with open(os.path.join(self.source, "tokenizer", name), "rb") as a, \
                    open(os.path.join(self.output, "tokenizer", name), "rb") as b:
                self.assertEqual(b.read(), a.read(), name)
        from transformers import CLIPTokenizer

        prompt = "a photo of the cat"
        self.assertEqual(CLIPTokenizer.from_pretrained(os.path.join(self.output, "tokenizer"))(prompt).input_ids,
                         CLIPTokenizer.from_pretrained(os.path.join(self.source, "tokenizer"))(prompt).input_ids)

    def test_diffusers_loads_the_fp16_variant_in_float16(self):
        import torch
        from diffusers import DiffusionPipeline

        pipe = DiffusionPipeline.from_pretrained(self.output, variant="fp16", torch_dtype=torch.float16,
                                                 use_safetensors=True)
        self.assertEqual(type(pipe).__name__, json.loads(self.source_index)["_class_name"])
        for name in ("unet", "vae", "text_encoder"):
            with self.subTest(component=name):
                dtypes = {p.dtype for p in getattr(pipe, name).parameters()}
                self.assertEqual(dtypes, {torch.float16})

    def test_the_converter_load_finds_the_variant(self):
        """Apple's torch2coreml: from_pretrained(..., variant="fp16", use_safetensors=True), no dtype."""
        import torch
        from diffusers import DiffusionPipeline

        pipe = DiffusionPipeline.from_pretrained(self.output, variant="fp16", use_safetensors=True)
        # fp16 files upcast to the default dtype: the values are the fp16 ones, not the fp32 originals.
        self.assertEqual(pipe.unet.dtype, torch.float32)
        from safetensors.torch import load_file

        saved = load_file(os.path.join(self.output, "unet", "diffusion_pytorch_model.fp16.safetensors"))
        key, tensor = next(iter(saved.items()))
        self.assertTrue(torch.equal(pipe.unet.state_dict()[key], tensor.to(torch.float32)), key)


if __name__ == "__main__":
    unittest.main()

"""lean_convert.py's own pieces against the real packages, without Apple's converter (which is never
in CI): loading one component alone from tiny pipelines written by real diffusers
(test/python/tiny_pipeline.py) gives what DiffusionPipeline.from_pretrained(..., torch_dtype=float16,
variant="fp16", use_safetensors=True) gives, the config-only components and the scheduler hold the
values the converter reads, the diffusers unet is let go once its state dict was copied, and the
chunked fp16_overflow answers as coremltools 8.3.0's own on random arrays. Needs torch, diffusers,
transformers and coremltools (the tests' venv: `.venv/bin/python -m unittest discover -s python/tests
-p 'test_*_real.py'`); skipped where they are absent. Both ways through the real converter:
test/fixtures/real-converter/lean-*.txt."""

import gc
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import weakref
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
import lean_convert  # noqa: E402

TINY = os.path.join(ROOT, "test", "python", "tiny_pipeline.py")
MISSING = [m for m in ("torch", "diffusers", "transformers", "coremltools", "numpy") if importlib.util.find_spec(m) is None]


def config_dict(config):
    """A diffusers FrozenDict or a transformers config as a dict, without `_name_or_path` (where it
    was loaded from: a config-only component was loaded from nowhere)."""
    d = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    d.pop("_name_or_path", None)
    return d


def args(model, **extra):
    return SimpleNamespace(model_version=model, custom_vae_version=None, check_output_correctness=False, **extra)


@unittest.skipIf(MISSING, f"needs the real packages ({', '.join(MISSING)} missing)")
class LoadAloneTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="lean-convert-real-")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
        env.update(HF_HUB_OFFLINE="1", PYTHONDONTWRITEBYTECODE="1")
        subprocess.run([sys.executable, TINY, cls.tmp, "--kind", "sd,sdxl", "--variants", "fp16"], env=env, check=True,
                       capture_output=True, text=True)
        os.environ["HF_HUB_OFFLINE"] = "1"
        import torch
        from diffusers import DiffusionPipeline
        cls.pipes = {kind: DiffusionPipeline.from_pretrained(os.path.join(cls.tmp, kind), torch_dtype=torch.float16, variant="fp16",
                                                             use_safetensors=True) for kind in ("sd", "sdxl")}
        cls.loader = lean_convert.DiffusersLoader()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def model(self, kind):
        return os.path.join(self.tmp, kind)

    def test_each_component_alone_is_the_pipelines_bit_for_bit(self):
        import torch
        for kind, names in (("sd", ("unet", "vae", "text_encoder")), ("sdxl", ("unet", "vae", "text_encoder", "text_encoder_2"))):
            for name in names:
                with self.subTest(kind=kind, name=name):
                    alone = self.loader.component(args(self.model(kind)), name)
                    whole = getattr(self.pipes[kind], name)
                    self.assertIs(type(alone), type(whole))
                    a, w = alone.state_dict(), whole.state_dict()
                    self.assertEqual(list(a), list(w))
                    for key in w:
                        self.assertEqual(a[key].dtype, torch.float16, key)
                        self.assertTrue(torch.equal(a[key], w[key]), key)
                    self.assertEqual(alone.config._name_or_path, whole.config._name_or_path)
                    self.assertEqual(config_dict(alone.config), config_dict(whole.config))

    def test_config_only_components_carry_the_values_the_converter_reads_and_no_weights(self):
        for kind in ("sd", "sdxl"):
            unet = self.loader.component(args(self.model(kind)), "unet", weights=False)
            self.assertNotIn("state_dict", dir(unet))
            self.assertEqual(config_dict(unet.config), config_dict(self.pipes[kind].unet.config))
            for name in ("text_encoder", "text_encoder_2") if kind == "sdxl" else ("text_encoder",):
                config = self.loader.component(args(self.model(kind)), name, weights=False).config
                whole = getattr(self.pipes[kind], name).config
                self.assertEqual(config_dict(config), config_dict(whole))
                self.assertEqual((config.max_position_embeddings, config.hidden_size), (whole.max_position_embeddings, whole.hidden_size))

    def test_the_tokenizer_and_the_scheduler_as_the_pipeline_has_them(self):
        for kind in ("sd", "sdxl"):
            tokenizer = self.loader.component(args(self.model(kind)), "tokenizer")
            self.assertEqual(tokenizer.model_max_length, self.pipes[kind].tokenizer.model_max_length)
            scheduler = self.loader.component(args(self.model(kind)), "scheduler")
            whole = self.pipes[kind].scheduler
            self.assertIs(type(scheduler), type(whole))
            scheduler.set_timesteps(50)
            whole.set_timesteps(50)
            self.assertEqual(scheduler.timesteps[0].item(), whole.timesteps[0].item())

    def test_the_index_is_model_index_json(self):
        index = self.loader.index(args(self.model("sdxl")))
        self.assertEqual(index["_class_name"], "StableDiffusionXLPipeline")
        self.assertEqual(index["text_encoder_2"], ["transformers", "CLIPTextModelWithProjection"])
        pipe = lean_convert.LeanPipe(index)
        # convert_unet reads pipe.config.requires_aesthetics_score when the pipeline has it (img2img only).
        self.assertEqual(hasattr(pipe.config, "requires_aesthetics_score"), hasattr(self.pipes["sdxl"].config, "requires_aesthetics_score"))

    def test_the_diffusers_unet_is_gone_once_its_state_dict_is_copied(self):
        import torch
        model = self.loader.component(args(self.model("sd")), "unet")
        gone = weakref.ref(model)
        reference = type(model).from_config(model.config).to(torch.float32)
        held = lean_convert.ReleasedAfterCopy(model)
        del model
        reference.load_state_dict(held.state_dict())  # as convert_unet does
        gc.collect()
        self.assertIsNone(gone())
        self.assertEqual(held.config.sample_size, self.pipes["sd"].unet.config.sample_size)
        for key, value in self.pipes["sd"].unet.state_dict().items():
            self.assertTrue(torch.equal(reference.state_dict()[key], value.to(torch.float32)), key)


class Var:
    """What fp16_overflow reads of an op input: a const producing an fp32 value."""

    def __init__(self, value, const=True, fp32=True):
        self.op = SimpleNamespace(op_type="const" if const else "add", val=SimpleNamespace(val=value))
        self._fp32 = fp32

    def is_tensor_or_scalar_of(self, dtype):
        return self._fp32 and dtype == "fp32"


@unittest.skipIf(MISSING, f"needs the real packages ({', '.join(MISSING)} missing)")
class Fp16OverflowTest(unittest.TestCase):
    def setUp(self):
        from coremltools.converters.mil.mil.passes.defs.quantization import FP16ComputePrecision
        self.original = FP16ComputePrecision.__dict__["fp16_overflow"].__func__  # before any patch

    def arrays(self):
        import numpy as np
        rng = np.random.default_rng(0)
        specials = np.array([np.nan, np.inf, -np.inf, 65504, -65504, 65504.01, 65505, -65505, 65519, 65520, 1e38, -1e38,
                             np.float32(1e38), 9.9999e37, 3.4e38, 0.0, -0.0, 1e-8], dtype=np.float32)
        for i in range(1000):
            shape = tuple(rng.integers(1, 9, size=rng.integers(0, 5)))
            scale = float(10 ** rng.uniform(-3, 6))
            value = (rng.standard_normal(shape) * scale).astype(np.float32)
            if value.size and i % 3 == 0:  # a few special values anywhere, incl. across chunk boundaries
                flat = value.reshape(-1)
                for _ in range(rng.integers(1, 4)):
                    flat[rng.integers(0, flat.size)] = specials[rng.integers(0, specials.size)]
            yield value
        for special in specials:
            yield np.float32(special)  # scalars
            yield np.full((3, 5), special, dtype=np.float32)
        yield np.float32(1.5)

    def test_answers_as_coremltools_on_random_arrays_nan_inf_and_values_near_65504(self):
        count = {True: 0, False: 0}
        for value in self.arrays():
            op = SimpleNamespace(inputs={"x": Var(value), "y": [Var(value, const=False)]})
            expected = self.original(op)
            for chunk in (1, 7, 64, lean_convert.OVERFLOW_CHUNK):
                self.assertEqual(lean_convert.fp16_overflow_chunked(op, chunk), expected, (value, chunk))
            count[expected] += 1
        self.assertGreater(count[True], 100)  # both answers are exercised
        self.assertGreater(count[False], 100)

    def test_only_fp32_consts_count(self):
        import numpy as np
        big = np.array([70000.0], dtype=np.float32)
        for var in (Var(big, const=False), Var(big, fp32=False)):
            op = SimpleNamespace(inputs={"x": var})
            self.assertFalse(lean_convert.fp16_overflow_chunked(op))
            self.assertEqual(lean_convert.fp16_overflow_chunked(op), self.original(op))
        self.assertTrue(lean_convert.fp16_overflow_chunked(SimpleNamespace(inputs={"x": [Var(np.float32(1)), Var(big)]})))

    def test_the_patch_is_what_is_valid_op_calls(self):
        from coremltools.converters.mil.mil.passes.defs.quantization import FP16ComputePrecision
        saved = FP16ComputePrecision.__dict__["fp16_overflow"]
        try:
            # loaded_only, as main calls it: coremltools is imported (here by the test, in a run by the converter).
            self.assertTrue(lean_convert.patch_fp16_overflow(loaded_only=True))
            self.assertIs(FP16ComputePrecision.fp16_overflow, lean_convert.fp16_overflow_chunked)
        finally:
            FP16ComputePrecision.fp16_overflow = saved

    def test_the_trace_patch_with_torch_imported(self):
        import torch
        original = torch.jit.trace
        try:
            self.assertIs(lean_convert.patch_trace(loaded_only=True), original)
            self.assertIsNot(torch.jit.trace, original)
        finally:
            torch.jit.trace = original


if __name__ == "__main__":
    unittest.main()

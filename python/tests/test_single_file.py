"""Tests of python/single_file.py that need no diffusers (run from the repository root:
`python3 -m unittest discover -s python/tests`): the loader is injected (a fake here) and the
checkpoints are safetensors files written by hand (header only, zero data)."""

import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
import single_file  # noqa: E402
from test_prepare_fp16 import FakePipeline  # noqa: E402  what save_pretrained(variant="fp16") leaves

HELPER = os.path.join(os.path.dirname(HERE), "single_file.py")

UNET = "model.diffusion_model."
SD1_NAMES = {UNET + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": [320, 768],
             UNET + "input_blocks.0.0.weight": [320, 4, 3, 3],
             "first_stage_model.encoder.conv_in.weight": [128, 3, 3, 3],
             "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight": [77, 768]}
SD2_NAMES = {UNET + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": [320, 1024],
             "cond_stage_model.model.token_embedding.weight": [49408, 1024]}
SDXL_NAMES = {UNET + "input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": [640, 2048],
              UNET + "label_emb.0.0.weight": [1280, 2816],
              "conditioner.embedders.0.transformer.text_model.embeddings.position_embedding.weight": [77, 768],
              "conditioner.embedders.1.model.positional_embedding": [77, 1280]}


def write_safetensors(path, shapes, metadata=None):
    """A valid safetensors file with these tensor names and shapes (float16, zeros)."""
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = 2
        for dim in shape:
            size *= dim
        header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"\0" * offset)
    return path


def lora_names(width, style="peft"):
    """A LoRA's cross-attention key projection in the three layouts diffusers reads."""
    block = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k"
    if style == "peft":
        return {f"unet.{block}.lora_A.weight": [4, width], f"unet.{block}.lora_B.weight": [320, 4],
                "text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight": [4, 768]}
    if style == "kohya":
        name = "lora_unet_" + block.replace(".", "_")
        return {f"{name}.lora_down.weight": [4, width], f"{name}.lora_up.weight": [320, 4], f"{name}.alpha": [],
                "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": [4, 768]}
    return {f"unet.{block.replace('.to_k', '.processor')}.to_k_lora.down.weight": [4, width],
            f"unet.{block.replace('.to_k', '.processor')}.to_k_lora.up.weight": [320, 4]}


def fake_loader(checkpoint, kind, config, revision=None, loras=(), log=print):
    """The loader the subprocess tests inject (SINGLE_FILE_LOADER=test_single_file:fake_loader)."""
    if os.environ.get("FAKE_LOADER_FAILS"):
        raise MemoryError("out of memory")
    print("FAKE_LOADER " + json.dumps({"checkpoint": checkpoint, "kind": kind, "config": config,
                                        "revision": revision, "loras": loras}))
    return FakePipeline()


def quiet(*_args):
    pass


class Files(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="single-file-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def file(self, name, shapes=None, content=None):
        path = os.path.join(self.tmp, name)
        if content is not None:
            with open(path, "wb") as f:
                f.write(content)
            return path
        return write_safetensors(path, shapes)


class ParseLoraTest(unittest.TestCase):
    def test_scale_after_the_last_colon(self):
        self.assertEqual(single_file.parse_lora("a.safetensors:0.5"), ("a.safetensors", 0.5))
        self.assertEqual(single_file.parse_lora("/x:y/a.safetensors:-1.25"), ("/x:y/a.safetensors", -1.25))
        self.assertEqual(single_file.parse_lora("a.safetensors:2"), ("a.safetensors", 2.0))

    def test_no_scale_is_one(self):
        self.assertEqual(single_file.parse_lora("/loras/a.safetensors"), ("/loras/a.safetensors", 1.0))

    def test_bad_scales_name_the_argument(self):
        for spec, pattern in (("a.safetensors:strong", "the scale after the last .:. must be a number, got .strong."),
                              ("a.safetensors:", "the scale after the last .:. must be a number, got .."),
                              ("a.safetensors:nan", "the scale must be a finite number"), ("a.safetensors:inf", "the scale must be a finite number"),
                              (":0.5", "no file before the scale")):
            with self.subTest(spec=spec):
                with self.assertRaisesRegex(single_file.SingleFileError, "^--lora " + spec.replace(".", r"\.") + ": " + pattern):
                    single_file.parse_lora(spec)


class FormatTest(Files):
    def test_pickle_formats_are_refused_without_allow_pickle(self):
        for suffix in (".ckpt", ".CKPT", ".pt", ".pth", ".bin"):
            with self.subTest(suffix=suffix):
                path = self.file("model" + suffix, content=b"PK")
                with self.assertRaisesRegex(single_file.PickleRefused, r"is a pickle file .*can run code.*--allow-pickle"):
                    single_file.check_format(path, "--checkpoint", allow_pickle=False)
                self.assertFalse(single_file.check_format(path, "--checkpoint", allow_pickle=True))

    def test_safetensors_is_read_without_pickle(self):
        self.assertTrue(single_file.check_format(self.file("m.safetensors", SD1_NAMES), "--checkpoint", False))

    def test_other_files_and_missing_files(self):
        with self.assertRaisesRegex(single_file.SingleFileError, r"--checkpoint .*model\.onnx is neither \.safetensors"):
            single_file.check_format(self.file("model.onnx", content=b"x"), "--checkpoint", True)
        with self.assertRaisesRegex(single_file.SingleFileError, r"--lora .*nothing\.safetensors is not a file"):
            single_file.check_format(os.path.join(self.tmp, "nothing.safetensors"), "--lora", False)

    def test_header_shapes(self):
        shapes = single_file.safetensors_header(self.file("m.safetensors", {"a.weight": [2, 3], "b": []}))
        self.assertEqual(shapes, {"a.weight": (2, 3), "b": ()})

    def test_metadata_is_not_a_tensor(self):
        path = write_safetensors(os.path.join(self.tmp, "m.safetensors"), {"a": [1]}, metadata={"format": "pt"})
        self.assertEqual(single_file.safetensors_header(path), {"a": (1,)})

    def test_broken_headers_say_it_is_not_safetensors(self):
        cases = {"short": b"abc", "too long": struct.pack("<Q", 1 << 40) + b"{}",
                 "not json": struct.pack("<Q", 3) + b"abc", "a list": struct.pack("<Q", 2) + b"[]"}
        for label, content in cases.items():
            with self.subTest(label):
                with self.assertRaisesRegex(single_file.SingleFileError, "is not a safetensors file"):
                    single_file.safetensors_header(self.file("x.safetensors", content=content))


class KindTest(unittest.TestCase):
    def test_kinds_from_the_text_encoders(self):
        self.assertEqual(single_file.checkpoint_kind(SD1_NAMES), "sd1")
        self.assertEqual(single_file.checkpoint_kind(SD2_NAMES), "sd2")
        self.assertEqual(single_file.checkpoint_kind(SDXL_NAMES), "sdxl")

    def test_not_a_single_file_checkpoint(self):
        self.assertIsNone(single_file.checkpoint_kind({"unet.conv_in.weight": (1,)}))  # diffusers names
        self.assertIsNone(single_file.checkpoint_kind({UNET + "out.0.weight": (1,)}))  # no text encoder
        self.assertIsNone(single_file.checkpoint_kind(lora_names(768)))

    def test_cross_attention_widths(self):
        self.assertEqual(single_file.cross_attention_width({k: tuple(v) for k, v in SD1_NAMES.items()}, is_lora=False), 768)
        self.assertEqual(single_file.cross_attention_width({k: tuple(v) for k, v in SDXL_NAMES.items()}, is_lora=False), 2048)
        for style in ("peft", "kohya", "old diffusers"):
            with self.subTest(style=style):
                shapes = {k: tuple(v) for k, v in lora_names(2048, style).items()}
                self.assertEqual(single_file.cross_attention_width(shapes, is_lora=True), 2048)

    def test_a_lora_without_cross_attention_has_no_width(self):
        self.assertIsNone(single_file.cross_attention_width({"unet.x.attn1.to_q.lora_A.weight": (4, 320)}, is_lora=True))


class CheckInputsTest(Files):
    def test_a_matching_checkpoint_and_lora_pass(self):
        single_file.check_inputs(self.file("m.safetensors", SD1_NAMES), "sd1",
                                 [(self.file("l.safetensors", lora_names(768)), 0.8)], allow_pickle=False)

    def test_the_kind_must_match_the_tensor_names(self):
        with self.assertRaisesRegex(single_file.SingleFileError, r"m\.safetensors is an sdxl checkpoint by its tensor names, not sd1"):
            single_file.check_inputs(self.file("m.safetensors", SDXL_NAMES), "sd1", [], False)

    def test_a_file_that_is_no_checkpoint(self):
        with self.assertRaisesRegex(single_file.SingleFileError, "is not a Stable Diffusion 1.x, 2.x or SDXL checkpoint"):
            single_file.check_inputs(self.file("m.safetensors", lora_names(768)), "sd1", [], False)

    def test_a_lora_for_another_base_names_both_widths(self):
        for style in ("peft", "kohya"):
            with self.subTest(style=style):
                with self.assertRaisesRegex(single_file.SingleFileError,
                                            r"--lora .*xl\.safetensors is for another base model: .*width 2048, the sd1 checkpoint's takes 768"):
                    single_file.check_inputs(self.file("m.safetensors", SD1_NAMES), "sd1",
                                             [(self.file("xl.safetensors", lora_names(2048, style)), 1.0)], False)

    def test_a_file_without_lora_weights(self):
        with self.assertRaisesRegex(single_file.SingleFileError, "holds no LoRA weights"):
            single_file.check_inputs(self.file("m.safetensors", SD1_NAMES), "sd1",
                                     [(self.file("other.safetensors", SD1_NAMES), 1.0)], False)

    def test_a_pickle_lora_is_refused_too(self):
        with self.assertRaises(single_file.PickleRefused):
            single_file.check_inputs(self.file("m.safetensors", SD1_NAMES), "sd1",
                                     [(self.file("l.bin", content=b"x"), 1.0)], False)

    def test_a_ckpt_with_allow_pickle_is_not_opened_here(self):
        # its names cannot be read without unpickling: left to the loader (diffusers: weights_only)
        single_file.check_inputs(self.file("m.ckpt", content=b"not even a pickle"), "sd2",
                                 [(self.file("l.safetensors", lora_names(1024)), 1.0)], True)


class ConvertTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="single-file-convert-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.out = os.path.join(self.tmp, "stage", "model")

    def leftovers(self):
        return [n for n in os.listdir(os.path.dirname(self.out)) if ".partial" in n]

    def test_saves_fp16_safetensors_and_passes_everything_to_the_loader(self):
        calls, pipe = [], FakePipeline()

        def load(checkpoint, **kwargs):
            calls.append((checkpoint, {k: v for k, v in kwargs.items() if k != "log"}))
            return pipe

        written = single_file.convert("/m.safetensors", "sdxl", "owner/config", self.out, load,
                                      loras=[("/a.safetensors", 0.5)], revision="c" * 40, log=quiet)
        self.assertEqual(calls, [("/m.safetensors", {"kind": "sdxl", "config": "owner/config", "revision": "c" * 40,
                                                     "loras": [("/a.safetensors", 0.5)]})])
        self.assertEqual(pipe.saved[0][1:], (True, "fp16"))
        self.assertEqual(written, ["text_encoder/model.fp16.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors"])
        self.assertTrue(os.path.isfile(os.path.join(self.out, "model_index.json")))
        self.assertEqual(self.leftovers(), [])

    def test_a_failing_loader_leaves_nothing_and_keeps_a_previous_output(self):
        os.makedirs(self.out)
        with open(os.path.join(self.out, "model_index.json"), "w") as f:
            f.write("{}")

        def explode(_checkpoint, **_kwargs):
            os.makedirs(f"{self.out}.partial-{os.getpid()}", exist_ok=True)  # as if a save had started
            raise MemoryError("out of memory")

        with self.assertRaises(MemoryError):
            single_file.convert("/m.safetensors", "sd1", "c", self.out, explode, log=quiet)
        self.assertEqual(self.leftovers(), [])
        self.assertEqual(os.listdir(self.out), ["model_index.json"])

    def test_a_save_without_weights_or_index_is_an_error(self):
        for pipe, pattern in ((FakePipeline(weights=()), r"no \*\.fp16\.safetensors"), (FakePipeline(index=False), "model_index.json")):
            with self.subTest(pattern=pattern):
                with self.assertRaisesRegex(single_file.SingleFileError, pattern):
                    single_file.convert("/m.safetensors", "sd1", "c", self.out, lambda _c, **_k: pipe, log=quiet)
                self.assertFalse(os.path.exists(self.out))
                self.assertEqual(self.leftovers(), [])

    def test_a_previous_output_is_replaced_when_the_new_one_is_complete(self):
        os.makedirs(self.out)
        open(os.path.join(self.out, "stale.txt"), "w").close()
        single_file.convert("/m.safetensors", "sd1", "c", self.out, lambda _c, **_k: FakePipeline(), log=quiet)
        self.assertNotIn("stale.txt", os.listdir(self.out))


class LoaderTest(unittest.TestCase):
    """The resolution itself is helper_common's (tested through prepare_fp16's tests); here: which
    default and which variable."""

    def test_default_is_diffusers_and_errors_name_single_file_loader(self):
        self.assertIs(single_file.resolve_loader(""), single_file.load_with_diffusers)
        self.assertIs(single_file.resolve_loader("os.path:join"), os.path.join)
        with self.assertRaisesRegex(single_file.SingleFileError, "^SINGLE_FILE_LOADER must be module:function"):
            single_file.resolve_loader("nocolon")


class MainTest(Files):
    """The helper as the action runs it: a process, arguments, exit code, the result line."""

    def run_helper(self, *args, **env):
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("SINGLE_FILE_", "FAKE_"))}
        environ.update(PYTHONPATH=HERE, PYTHONDONTWRITEBYTECODE="1", SINGLE_FILE_LOADER="test_single_file:fake_loader", **env)
        return subprocess.run([sys.executable, HELPER, *args], env=environ, capture_output=True, text=True, timeout=60)

    def test_result_line_and_what_the_loader_got(self):
        checkpoint = self.file("my-model.safetensors", SD1_NAMES)
        lora_a, lora_b = self.file("a.safetensors", lora_names(768)), self.file("b.safetensors", lora_names(768, "kohya"))
        out = os.path.join(self.tmp, "out", "my-model")
        proc = self.run_helper("--checkpoint", checkpoint, "--kind", "sd1", "--config", "owner/config", "--output", out,
                               "--config-revision", "a" * 40, "--lora", lora_a + ":0.75", "--lora", lora_b)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = proc.stdout.strip().splitlines()
        loader = json.loads(next(line for line in lines if line.startswith("FAKE_LOADER "))[len("FAKE_LOADER "):])
        self.assertEqual(loader, {"checkpoint": checkpoint, "kind": "sd1", "config": "owner/config", "revision": "a" * 40,
                                  "loras": [[lora_a, 0.75], [lora_b, 1.0]]})
        self.assertTrue(lines[-1].startswith("SINGLE_FILE_RESULT {"), lines[-1])
        result = json.loads(lines[-1][len("SINGLE_FILE_RESULT "):])
        self.assertEqual(result["kind"], "sd1")
        self.assertEqual(result["loras"], [{"file": lora_a, "scale": 0.75}, {"file": lora_b, "scale": 1.0}])
        self.assertEqual(result["output"], out)
        self.assertEqual(result["config_revision"], "a" * 40)
        self.assertEqual(result["files"], ["text_encoder/model.fp16.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors"])
        self.assertIn("diffusers", result)
        self.assertIn("torch", result)
        self.assertTrue(os.path.isfile(os.path.join(out, "model_index.json")))

    def test_a_ckpt_without_allow_pickle_exits_2_before_loading(self):
        checkpoint = self.file("old.ckpt", content=b"\x80\x02")
        out = os.path.join(self.tmp, "out")
        proc = self.run_helper("--checkpoint", checkpoint, "--kind", "sd1", "--config", "c", "--output", out)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("is a pickle file (.ckpt)", proc.stderr)
        self.assertIn("--allow-pickle", proc.stderr)
        self.assertNotIn("FAKE_LOADER", proc.stdout)
        self.assertNotIn("SINGLE_FILE_RESULT", proc.stdout)
        self.assertFalse(os.path.exists(out))

    def test_a_ckpt_with_allow_pickle_reaches_the_loader(self):
        checkpoint = self.file("old.ckpt", content=b"\x80\x02")
        proc = self.run_helper("--checkpoint", checkpoint, "--kind", "sd1", "--config", "c",
                               "--output", os.path.join(self.tmp, "out"), "--allow-pickle")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("FAKE_LOADER", proc.stdout)

    def test_a_failing_loader_exits_1_naming_the_checkpoint_and_leaves_nothing(self):
        checkpoint = self.file("m.safetensors", SD1_NAMES)
        out = os.path.join(self.tmp, "out", "m")
        proc = self.run_helper("--checkpoint", checkpoint, "--kind", "sd1", "--config", "c", "--output", out, FAKE_LOADER_FAILS="1")
        self.assertEqual(proc.returncode, 1)
        self.assertIn(f"single_file: could not turn {checkpoint} into a diffusers folder: MemoryError: out of memory", proc.stderr)
        self.assertEqual(os.listdir(os.path.join(self.tmp, "out")), [])
        self.assertNotIn("SINGLE_FILE_RESULT", proc.stdout)

    def test_bad_inputs_exit_1_before_loading(self):
        checkpoint = self.file("m.safetensors", SD1_NAMES)
        xl_lora = self.file("xl.safetensors", lora_names(2048))
        out = os.path.join(self.tmp, "out")
        cases = {"bad scale": (["--lora", xl_lora + ":x"], "the scale after the last ':' must be a number"),
                 "another base": (["--lora", xl_lora], "is for another base model"),
                 "wrong kind": (["--kind", "sdxl"], "is an sd1 checkpoint by its tensor names, not sdxl")}
        for label, (extra, message) in cases.items():
            with self.subTest(label):
                kind = [] if "--kind" in extra else ["--kind", "sd1"]
                proc = self.run_helper("--checkpoint", checkpoint, *kind, "--config", "c", "--output", out, *extra)
                self.assertEqual(proc.returncode, 1, proc.stdout)
                self.assertIn(message, proc.stderr)
                self.assertNotIn("FAKE_LOADER", proc.stdout)
                self.assertFalse(os.path.exists(out))

    def test_arguments_are_required_and_kinds_checked(self):
        for args in ([], ["--checkpoint", "m.safetensors", "--kind", "sd1", "--output", "o"],
                     ["--checkpoint", "m.safetensors", "--kind", "sd3", "--config", "c", "--output", "o"]):
            with self.subTest(args=args):
                err = io.StringIO()
                with redirect_stderr(err), redirect_stdout(io.StringIO()), self.assertRaises(SystemExit) as exit_:
                    single_file.main(args, {})
                self.assertEqual(exit_.exception.code, 2)
                self.assertRegex(err.getvalue(), r"required|invalid choice")


if __name__ == "__main__":
    unittest.main()

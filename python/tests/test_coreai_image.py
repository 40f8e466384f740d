"""Tests of python/coreai_image.py that need the standard library only (run from the repository
root: `python3 -m unittest discover -s python/tests`): its argument and bundle checks (exit 2
before anything heavy is imported), the Swift runtime's tokenizer as the script writes it, and the
PSNR maths. The images themselves: test_coreai_image_real.py."""

import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from contextlib import redirect_stderr

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import coreai_image  # noqa: E402

ENTRY = os.path.join(os.path.dirname(HERE), "coreai_image.py")


def make_bundle(folder, parts=("text_encoder", "unet", "vae_decoder"), image_size=64, tokenizer=True, assets=None):
    """A bundle's files with empty models: enough for the checks made before any model is loaded."""
    os.makedirs(folder, exist_ok=True)
    names = {"text_encoder": "TextEncoder.aimodel", "unet": "Unet.aimodel", "vae_decoder": "VAEDecoder.aimodel"}
    for part in parts:
        os.makedirs(os.path.join(folder, names[part]), exist_ok=True)
        with open(os.path.join(folder, names[part], "main.mlirb"), "wb") as f:
            f.write(b"\0")
    metadata = {"metadata_version": "0.2", "kind": "diffusion", "name": "b",
                "assets": assets if assets is not None else dict(names),
                "diffusion": {"type": "stable-diffusion", "prediction_type": "epsilon", "image_size": image_size,
                              "scheduler": {"training_steps": 1000, "beta_start": 0.00085, "beta_end": 0.012}}}
    with open(os.path.join(folder, "metadata.json"), "w") as f:
        json.dump(metadata, f)
    if tokenizer:
        os.makedirs(os.path.join(folder, "tokenizer"), exist_ok=True)
        with open(os.path.join(folder, "tokenizer", "vocab.json"), "w") as f:
            json.dump({"<|startoftext|>": 0, "<|endoftext|>": 1}, f)
        with open(os.path.join(folder, "tokenizer", "merges.txt"), "w") as f:
            f.write("#version: 0.2\n")


class ArgumentsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="coreai-image-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.bundle = os.path.join(self.tmp, "bundle")
        self.model = os.path.join(self.tmp, "model")
        os.makedirs(self.model)
        with open(os.path.join(self.model, "model_index.json"), "w") as f:
            f.write("{}")
        make_bundle(self.bundle)

    def argv(self, *extra, **changes):
        values = {"--bundle": self.bundle, "--model": self.model, "--prompt": "a cat", "--seed": "1", "--steps": "4",
                  "--out-dir": os.path.join(self.tmp, "out"), "--json": os.path.join(self.tmp, "out", "r.json")}
        values.update({k.replace("_", "-"): v for k, v in changes.items()})
        argv = []
        for key, value in values.items():
            if value is not None:
                argv += [key, value]
        return argv + list(extra)

    def status(self, argv):
        """main()'s exit status and its stderr; SystemExit from argparse counted as its code."""
        err = io.StringIO()
        with redirect_stderr(err):
            try:
                status = coreai_image.main(argv)
            except SystemExit as exit_:
                status = exit_.code
        return status, err.getvalue()

    def assert_usage(self, argv, *words):
        status, err = self.status(argv)
        self.assertEqual(status, 2, err)
        for word in words:
            self.assertIn(word, err)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "out")), "nothing is written on a usage error")

    def test_missing_required_arguments(self):
        self.assert_usage(self.argv(**{"--prompt": None}), "--prompt")
        self.assert_usage(self.argv(**{"--json": None}), "--json")

    def test_bad_numbers(self):
        self.assert_usage(self.argv(**{"--seed": "-1"}), "--seed")
        self.assert_usage(self.argv(**{"--seed": str(2 ** 32)}), "--seed")
        self.assert_usage(self.argv(**{"--steps": "0"}), "--steps")
        self.assert_usage(self.argv("--guidance", "0"), "--guidance")
        self.assert_usage(self.argv("--guidance", "nan"), "--guidance")
        self.assert_usage(self.argv("--min-psnr", "inf"), "--min-psnr")
        self.assert_usage(self.argv("--height", "60"), "--height", "multiple of 8")
        self.assert_usage(self.argv("--scheduler", "euler"), "--scheduler")
        self.assert_usage(self.argv("--scheduler", "pndm", **{"--steps": "1"}), "pndm")

    def test_size_must_be_the_bundles(self):
        self.assert_usage(self.argv("--height", "64", "--width", "128"), "--width 128", "64x64")

    def test_bundle_and_model_folders(self):
        self.assert_usage(self.argv(**{"--bundle": os.path.join(self.tmp, "nothing")}), "not a folder")
        self.assert_usage(self.argv(**{"--model": self.tmp}), "model_index.json")
        os.remove(os.path.join(self.bundle, "metadata.json"))
        self.assert_usage(self.argv(), "metadata.json")

    def test_bundle_missing_the_unet(self):
        shutil.rmtree(os.path.join(self.bundle, "Unet.aimodel"))
        self.assert_usage(self.argv(), "unet", "Unet.aimodel")

    def test_metadata_naming_no_decoder(self):
        make_bundle(self.bundle, assets={"text_encoder": "TextEncoder.aimodel", "unet": "Unet.aimodel"})
        self.assert_usage(self.argv(), "vae_decoder")

    def test_assets_folder_read_for_the_models(self):
        self.assert_usage(self.argv("--assets", os.path.join(self.tmp, "nothing")), "--assets", "not a folder")
        twins = os.path.join(self.tmp, "twins")
        os.makedirs(twins)
        # The bundle has its three models; the --assets folder has none: the check names the --assets folder.
        self.assert_usage(self.argv("--assets", twins), "--assets folder lacks its text_encoder model", twins)
        make_bundle(twins)
        os.remove(os.path.join(twins, "metadata.json"))
        shutil.rmtree(os.path.join(twins, "tokenizer"))
        shutil.rmtree(os.path.join(self.bundle, "Unet.aimodel"))
        args = coreai_image.parse_args(self.argv("--assets", twins))
        _metadata, paths, tokenizer = coreai_image.check_inputs(args)
        self.assertEqual(paths["unet"], os.path.join(twins, "Unet.aimodel"))
        self.assertTrue(tokenizer[0].startswith(self.bundle), "metadata and tokenizer from the bundle")

    def test_bundle_without_tokenizer(self):
        shutil.rmtree(os.path.join(self.bundle, "tokenizer"))
        self.assert_usage(self.argv(), "tokenizer")

    def test_other_pipeline_types_refused(self):
        with open(os.path.join(self.bundle, "metadata.json")) as f:
            metadata = json.load(f)
        metadata["diffusion"]["type"] = "flux2"
        with open(os.path.join(self.bundle, "metadata.json"), "w") as f:
            json.dump(metadata, f)
        self.assert_usage(self.argv(), "flux2")

    def test_as_a_process_exit_2_without_heavy_imports(self):
        shutil.rmtree(os.path.join(self.bundle, "Unet.aimodel"))
        done = subprocess.run([sys.executable, ENTRY] + self.argv(), capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertIn("lacks its unet model", done.stderr)


class TokenizerTest(unittest.TestCase):
    """The Swift runtime's BPETokenizer, as runtime_token_ids writes it."""

    def setUp(self):
        self.vocab = {"<|startoftext|>": 49406, "<|endoftext|>": 49407, "a</w>": 320, "c": 66, "a": 64, "t</w>": 86,
                      "ca": 700, "cat</w>": 2368, "dog</w>": 1929, "!": 0}
        # rank = line index, the header line counted
        self.merges = {("c", "a"): 1, ("ca", "t</w>"): 2}

    def test_words_merged_padded_with_end_token(self):
        ids = coreai_image.runtime_token_ids("  A Cat\n", self.vocab, self.merges, length=8)
        self.assertEqual(ids, [49406, 320, 2368, 49407, 49407, 49407, 49407, 49407])

    def test_unknown_tokens_are_the_end_token(self):
        ids = coreai_image.runtime_token_ids("zz", self.vocab, self.merges, length=5)
        self.assertEqual(ids, [49406, 49407, 49407, 49407, 49407])

    def test_empty_prompt(self):
        self.assertEqual(coreai_image.runtime_token_ids("", self.vocab, self.merges, length=3), [49406, 49407, 49407])

    def test_cut_to_length_drops_the_end_token(self):
        ids = coreai_image.runtime_token_ids("a a a a", self.vocab, self.merges, length=4)
        self.assertEqual(ids, [49406, 320, 320, 320])

    def test_lowest_rank_merged_first(self):
        self.assertEqual(coreai_image.bpe_word("cat", {("a", "t</w>"): 1, ("c", "a"): 2}), ["c", "at</w>"])
        self.assertEqual(coreai_image.bpe_word("cat", {("a", "t</w>"): 2, ("c", "a"): 1}), ["ca", "t</w>"])

    def test_read_merges_ranks_are_line_indexes(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "merges.txt")
            with open(path, "w") as f:
                f.write("#version: 0.2\nc a\nca t</w>\n\nlast line\n")
            self.assertEqual(coreai_image.read_merges(path),
                             {("c", "a"): 1, ("ca", "t</w>"): 2, ("last", "line"): 4})
            with open(path, "w") as f:
                f.write("#version: 0.2\none two three\n")
            with self.assertRaises(coreai_image.CheckError):
                coreai_image.read_merges(path)


class WeightsVariantTest(unittest.TestCase):
    def test_fp16_only_folders_load_the_fp16_variant(self):
        with tempfile.TemporaryDirectory() as model:
            unet = os.path.join(model, "unet")
            os.makedirs(unet)
            self.assertIsNone(coreai_image.weights_variant(model))
            open(os.path.join(unet, "diffusion_pytorch_model.fp16.safetensors"), "w").close()
            self.assertEqual(coreai_image.weights_variant(model), "fp16")
            open(os.path.join(unet, "diffusion_pytorch_model.safetensors"), "w").close()
            self.assertIsNone(coreai_image.weights_variant(model))


class PsnrTest(unittest.TestCase):
    def test_mse_of_bytes(self):
        self.assertEqual(coreai_image.mse_uint8(bytes([0, 10, 255]), bytes([0, 13, 251])), (9 + 16) / 3)
        with self.assertRaises(ValueError):
            coreai_image.mse_uint8(b"\0\0", b"\0")

    def test_psnr_values(self):
        self.assertEqual(coreai_image.psnr_from_mse(0), coreai_image.PSNR_CAP)
        self.assertAlmostEqual(coreai_image.psnr_from_mse(1), 20 * math.log10(255), places=9)  # 48.13 dB
        self.assertAlmostEqual(coreai_image.psnr_from_mse(255 ** 2), 0.0, places=9)
        # one pixel value in 100 off by one level
        self.assertAlmostEqual(coreai_image.psnr_from_mse(coreai_image.mse_uint8(bytes(100), bytes([1] + [0] * 99))),
                               10 * math.log10(255 ** 2 * 100), places=9)
        with self.assertRaises(ValueError):
            coreai_image.psnr_from_mse(-1)


if __name__ == "__main__":
    unittest.main()

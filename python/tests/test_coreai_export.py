"""coreai_export.py and coreai_layout.py without torch: argument errors (exit 2 before anything
heavy is imported), the bundle's metadata.json and tokenizer, finish's checks. Standard library only."""

import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import coreai_export  # noqa: E402
import coreai_layout as layout  # noqa: E402


def write(path, text="x"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_json(path, data):
    write(path, json.dumps(data))


def fake_model(root, parts=("text_encoder", "unet", "vae"), sdxl=False, prediction="epsilon", tokenizer=True):
    """A diffusers-shaped folder: configs and (empty) weight files, no real weights."""
    model = os.path.join(root, "model")
    index = {"_class_name": "StableDiffusionXLPipeline" if sdxl else "StableDiffusionPipeline"}
    for part in parts:
        write_json(os.path.join(model, part, "config.json"), {"_class_name": "X"})
        write(os.path.join(model, part, "diffusion_pytorch_model.fp16.safetensors"))
        index[part] = ["diffusers", "X"]
    if sdxl:
        index["text_encoder_2"] = ["transformers", "CLIPTextModelWithProjection"]
    write_json(os.path.join(model, "model_index.json"), index)
    write_json(os.path.join(model, "scheduler", "scheduler_config.json"),
               {"prediction_type": prediction, "num_train_timesteps": 1000, "beta_start": 0.00085,
                "beta_end": 0.012, "beta_schedule": "scaled_linear"})
    write_json(os.path.join(model, "vae", "config.json"), {"scaling_factor": 0.18215})
    if tokenizer:
        for folder in ("tokenizer", "tokenizer_2") if sdxl else ("tokenizer",):
            write_json(os.path.join(model, folder, "vocab.json"), {"a": 0})
            write(os.path.join(model, folder, "merges.txt"), "#version: 0.2\n")
            write_json(os.path.join(model, folder, "tokenizer_config.json"), {})
    return model


def fake_asset(bundle, part, compression="none"):
    folder = layout.asset_path(bundle, part)
    write(os.path.join(folder, "main.mlirb"))
    write_json(os.path.join(folder, "metadata.json"),
               {"creatorDefinedMetadata": {"compression": compression, "part": part}})


def run(argv):
    """(exit status, stderr) of coreai_export.main(argv)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = coreai_export.main(argv)
    return status, err.getvalue()


class Scratch(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="coreai-export-test-")
        self.addCleanup(shutil.rmtree, self.root, ignore_errors=True)
        self.model = fake_model(self.root)
        self.bundle = os.path.join(self.root, "bundle")
        self.parity = os.path.join(self.root, "parity.json")

    def export_args(self, **overrides):
        args = {"--model": self.model, "--part": "unet", "--bundle": self.bundle, "--compression": "none",
                "--parity-json": self.parity}
        args.update(overrides)
        argv = ["export"]
        for key, value in args.items():
            if value is not None:
                argv += [key, str(value)]
        return argv


class ExportArguments(Scratch):
    def assert_usage(self, argv, *words):
        status, err = run(argv)
        self.assertEqual(status, 2, err)
        lines = [line for line in err.splitlines() if line.strip()]
        self.assertEqual(len(lines), 1, err)
        for word in words:
            self.assertIn(word, lines[0])
        self.assertFalse(os.path.exists(self.bundle), "nothing is written on a bad argument")

    def test_missing_part_argument(self):
        self.assert_usage(self.export_args(**{"--part": None}), "--part")

    def test_unknown_part_and_compression(self):
        self.assert_usage(self.export_args(**{"--part": "safety_checker"}), "--part")
        self.assert_usage(self.export_args(**{"--compression": "int8"}), "--compression")

    def test_model_not_a_folder(self):
        self.assert_usage(self.export_args(**{"--model": os.path.join(self.root, "nope")}), "not a folder")

    def test_model_lacking_the_part(self):
        shutil.rmtree(os.path.join(self.model, "unet"))
        self.assert_usage(self.export_args(), "no unet", "unet/config.json")

    def test_part_without_weights(self):
        os.remove(os.path.join(self.model, "vae", "diffusion_pytorch_model.fp16.safetensors"))
        self.assert_usage(self.export_args(**{"--part": "vae_decoder"}), "vae_decoder weights")

    def test_vae_parts_come_from_the_vae_folder(self):
        shutil.rmtree(os.path.join(self.model, "vae"))
        self.assert_usage(self.export_args(**{"--part": "vae_encoder"}), "vae/config.json")

    def test_sizes(self):
        self.assert_usage(self.export_args(**{"--height": 500, "--width": 500}), "multiples of 8")
        self.assert_usage(self.export_args(**{"--height": 0, "--width": 0}), "multiples of 8")
        self.assert_usage(self.export_args(**{"--height": 512, "--width": 768}), "square")
        self.assert_usage(self.export_args(**{"--height": "big"}), "--height")

    def test_batch(self):
        self.assert_usage(self.export_args(**{"--batch": 0}), "--batch")

    def test_second_text_encoder_needs_sdxl(self):
        write_json(os.path.join(self.model, "text_encoder_2", "config.json"), {})
        write(os.path.join(self.model, "text_encoder_2", "model.safetensors"))
        self.assert_usage(self.export_args(**{"--part": "text_encoder_2"}), "SDXL")

    def test_parity_json_folder_must_exist(self):
        self.assert_usage(self.export_args(**{"--parity-json": os.path.join(self.root, "no", "p.json")}),
                          "--parity-json")

    def test_bundle_that_is_a_file(self):
        write(self.bundle)
        status, err = run(self.export_args())
        self.assertEqual(status, 2, err)
        self.assertIn("not a folder", err)

    def test_no_command(self):
        self.assertEqual(run([])[0], 2)


class Weights(unittest.TestCase):
    def test_fp16_and_plain_files(self):
        with tempfile.TemporaryDirectory() as folder:
            for name in ("model.fp16.safetensors", "model.safetensors", "model.fp16-00001-of-00002.safetensors",
                         "pytorch_model.bin", "config.json"):
                write(os.path.join(folder, name))
            fp16, plain = coreai_export.weight_files(folder)
            self.assertEqual(sorted(fp16), ["model.fp16-00001-of-00002.safetensors", "model.fp16.safetensors"])
            self.assertEqual(sorted(plain), ["model.safetensors", "pytorch_model.bin"])


class Layout(Scratch):
    def test_names(self):
        self.assertEqual(layout.asset_file("unet"), "Unet.aimodel")
        self.assertEqual(layout.asset_file("vae_decoder"), "VAEDecoder.aimodel")
        self.assertEqual(layout.asset_file("text_encoder_2"), "TextEncoder2.aimodel")
        with self.assertRaises(layout.LayoutError):
            layout.asset_file("safety_checker")
        self.assertEqual(layout.SOURCE_FOLDERS["vae_encoder"], "vae")

    def test_input_shapes(self):
        shapes = layout.input_shapes("unet", 512, 512, config={"cross_attention_dim": 1024})
        self.assertEqual(shapes["sample"][0], (2, 4, 64, 64))
        self.assertEqual(shapes["timestep"][0], (2,))
        self.assertEqual(shapes["encoder_hidden_states"][0], (2, 77, 1024))
        self.assertEqual(layout.input_shapes("text_encoder")["input_ids"], ((1, 77), "int32"))
        self.assertEqual(layout.input_shapes("vae_decoder", 768, 768)["z"][0], (1, 4, 96, 96))
        self.assertEqual(layout.input_shapes("vae_encoder", 512, 512)["image"][0], (1, 3, 512, 512))
        self.assertEqual(list(layout.input_shapes("unet")), list(layout.INPUT_NAMES["unet"]))
        with self.assertRaises(layout.LayoutError):
            layout.input_shapes("unet", 500, 500)

    def test_diffusion_config(self):
        model = fake_model(os.path.join(self.root, "v"), prediction="v_prediction")
        config = layout.diffusion_config(model, 768, 768)
        self.assertEqual(config["type"], "stable-diffusion")
        self.assertEqual(config["prediction_type"], "v_prediction")
        self.assertEqual(config["image_size"], 768)
        self.assertEqual(config["decoder_scale_factor"], 0.18215)
        self.assertEqual(config["scheduler"]["beta_schedule"], "scaled_linear")
        with self.assertRaises(layout.LayoutError):
            layout.diffusion_config(model, 512, 768)
        bad = fake_model(os.path.join(self.root, "s"), prediction="sample")
        with self.assertRaisesRegex(layout.LayoutError, "sample"):
            layout.diffusion_config(bad, 512, 512)

    def test_model_kind(self):
        self.assertEqual(layout.model_kind(self.model), "sd")
        self.assertEqual(layout.model_kind(fake_model(os.path.join(self.root, "xl"), sdxl=True)), "sdxl")
        self.assertEqual(layout.diffusion_config(fake_model(os.path.join(self.root, "xl2"), sdxl=True), 1024, 1024)["type"],
                         "stable-diffusion-xl")

    def test_metadata_written_atomically_and_read_back(self):
        os.makedirs(self.bundle)
        metadata = layout.build_metadata("b", layout.SD_PARTS, layout.diffusion_config(self.model, 512, 512), "int4")
        layout.write_metadata(self.bundle, metadata)
        self.assertEqual(os.listdir(self.bundle), ["metadata.json"])
        read = layout.read_metadata(self.bundle)
        self.assertEqual(read["kind"], "diffusion")
        self.assertEqual(read["metadata_version"], "0.2")
        self.assertEqual(read["assets"], {"text_encoder": "TextEncoder.aimodel", "unet": "Unet.aimodel",
                                          "vae_decoder": "VAEDecoder.aimodel", "vae_encoder": "VAEEncoder.aimodel"})
        self.assertEqual(read["compression"], "int4")
        self.assertIsNone(layout.build_metadata("b", layout.SD_PARTS, {}, "none")["compression"])

    def test_read_metadata_rejects(self):
        os.makedirs(self.bundle)
        with self.assertRaisesRegex(layout.LayoutError, "no metadata.json"):
            layout.read_metadata(self.bundle)
        write_json(os.path.join(self.bundle, "metadata.json"), {"kind": "llm", "assets": {}, "diffusion": {}})
        with self.assertRaisesRegex(layout.LayoutError, "not a diffusion"):
            layout.read_metadata(self.bundle)

    def test_failed_write_leaves_nothing(self):
        os.makedirs(self.bundle)
        with self.assertRaises(TypeError):
            layout.write_metadata(self.bundle, {"bad": object()})
        self.assertEqual(os.listdir(self.bundle), [])

    def test_missing_assets(self):
        os.makedirs(self.bundle)
        fake_asset(self.bundle, "unet")
        os.makedirs(layout.asset_path(self.bundle, "text_encoder"))  # a folder without main.mlirb
        self.assertEqual(layout.missing_assets(self.bundle, layout.SD_PARTS),
                         ["TextEncoder.aimodel", "VAEDecoder.aimodel", "VAEEncoder.aimodel"])

    def test_copy_tokenizers(self):
        os.makedirs(self.bundle)
        self.assertEqual(layout.copy_tokenizers(self.model, self.bundle), ["tokenizer"])
        self.assertEqual(sorted(os.listdir(os.path.join(self.bundle, "tokenizer"))),
                         ["merges.txt", "tokenizer_config.json", "vocab.json"])
        os.remove(os.path.join(self.model, "tokenizer", "merges.txt"))
        with self.assertRaisesRegex(layout.LayoutError, "merges.txt"):
            layout.copy_tokenizers(self.model, self.bundle)
        self.assertTrue(os.path.isfile(os.path.join(self.bundle, "tokenizer", "merges.txt")), "the old copy is kept")


class Finish(Scratch):
    def finish_args(self, *extra):
        return ["finish", "--model", self.model, "--bundle", self.bundle, *extra]

    def test_finish_writes_metadata_and_tokenizer(self):
        for part in layout.SD_PARTS:
            fake_asset(self.bundle, part, "int4" if part in ("unet", "text_encoder") else "none")
        status, err = run(self.finish_args("--model-id", "org/model"))
        self.assertEqual(status, 0, err)
        metadata = layout.read_metadata(self.bundle)
        self.assertEqual(metadata["name"], "bundle")
        self.assertEqual(metadata["compression"], "int4")
        self.assertEqual(metadata["source"]["hf_model_id"], "org/model")
        self.assertEqual(metadata["diffusion"]["image_size"], 512)
        for part, asset in metadata["assets"].items():
            self.assertTrue(os.path.isdir(os.path.join(self.bundle, asset)), part)
        self.assertTrue(os.path.isfile(os.path.join(self.bundle, "tokenizer", "vocab.json")))
        self.assertFalse([n for n in os.listdir(self.bundle) if n.endswith(".partial")])

    def test_mixed_compression_label(self):
        fake_asset(self.bundle, "unet", "palettize4")
        fake_asset(self.bundle, "text_encoder", "int4")
        fake_asset(self.bundle, "vae_decoder")
        self.assertEqual(coreai_export.parts_compression(self.bundle, ["text_encoder", "unet", "vae_decoder"]),
                         "text_encoder=int4,unet=palettize4")

    def test_finish_without_a_part_fails_and_writes_nothing(self):
        for part in ("text_encoder", "unet", "vae_decoder"):
            fake_asset(self.bundle, part)
        status, err = run(self.finish_args())
        self.assertEqual(status, 1)
        self.assertIn("VAEEncoder.aimodel", err)
        self.assertFalse(os.path.exists(os.path.join(self.bundle, "metadata.json")))
        self.assertFalse(os.path.exists(os.path.join(self.bundle, "tokenizer")))
        status, err = run(self.finish_args("--parts", "text_encoder,unet,vae_decoder"))
        self.assertEqual(status, 0, err)
        self.assertNotIn("vae_encoder", layout.read_metadata(self.bundle)["assets"])

    def test_finish_arguments(self):
        os.makedirs(self.bundle)
        self.assertEqual(run(self.finish_args("--parts", "text_encoder,vae_decoder"))[0], 2)
        self.assertEqual(run(self.finish_args("--parts", "unet,text_encoder,vae_decoder,refiner"))[0], 2)
        self.assertEqual(run(self.finish_args("--height", "512", "--width", "768"))[0], 2)
        self.assertEqual(run(["finish", "--model", self.model, "--bundle", os.path.join(self.root, "none")])[0], 2)

    def test_finish_without_tokenizer(self):
        self.model = fake_model(os.path.join(self.root, "nt"), tokenizer=False)
        for part in layout.SD_PARTS:
            fake_asset(self.bundle, part)
        status, err = run(self.finish_args())
        self.assertEqual(status, 2)
        self.assertIn("tokenizer/", err)
        self.assertFalse(os.path.exists(os.path.join(self.bundle, "metadata.json")))


if __name__ == "__main__":
    unittest.main()

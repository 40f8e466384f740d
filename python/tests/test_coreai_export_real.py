"""coreai_export.py against the real packages (torch, diffusers, coreai-torch, coreai-core,
coreai-opt): tiny random SD 1.5 and SD 2.1 pipelines (test/python/tiny_pipeline.py) exported part by
part, each in its own process as the action runs them, two at a time, then checked.

Thresholds, from the figures measured on these tiny pipelines (64x64 images, fp16 export against
the float32 PyTorch module, parity.own_compute_psnr):
- compression none: 62-68 dB on every part (text encoder 61.9, unet 65.2, VAE decoder 67.6, VAE
  encoder 67.9 for SD 1.5); fp16 rounding alone. NONE_MIN_PSNR = 50 leaves 10 dB for other seeds
  and machines and is still far above what a wrong graph gives (a wrong input order or a missing
  post_quant_conv lands near 0-20 dB).
- int4 / palettize4 on the unet: random weights are 4-bit compression's worst case (no structure
  for the grid or the clusters); int4 gave 28.7 dB. COMPRESSED_MIN_PSNR = 20, and the compressed
  PSNR must be below the uncompressed one (the weights were compressed) and the asset smaller.

    /tmp/coreai-venv/bin/python -m unittest discover -s python/tests -p "test_coreai*_real.py"
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(PYTHON_DIR)
SCRIPT = os.path.join(PYTHON_DIR, "coreai_export.py")
TINY = os.path.join(REPO, "test", "python", "tiny_pipeline.py")
sys.path.insert(0, PYTHON_DIR)

import coreai_layout as layout  # noqa: E402

NONE_MIN_PSNR = 50.0
COMPRESSED_MIN_PSNR = 20.0
SIZE = "64"

# Found, not imported: the exports run in their own processes, and importing torch here would
# cost every one of them the memory and the seconds.
_NEEDED = ("torch", "diffusers", "transformers", "coreai_torch", "coreai_opt", "coreai")
MISSING = ", ".join(name for name in _NEEDED if importlib.util.find_spec(name) is None) or None

# (kind, part, compression): what the class exports, two processes at a time.
JOBS = [("sd", part, "none") for part in layout.SD_PARTS] + [
    ("sd21", "unet", "none"), ("sd21", "text_encoder", "none"),
    ("sd", "unet", "int4"), ("sd", "unet", "palettize4"),
]


def bundle_for(root, kind, compression):
    return os.path.join(root, f"bundle-{kind}" + ("" if compression == "none" else f"-{compression}"))


def export(root, kind, part, compression):
    parity = os.path.join(root, f"parity-{kind}-{part}-{compression}.json")
    argv = [sys.executable, "-W", "ignore", SCRIPT, "export", "--model", os.path.join(root, kind), "--part", part,
            "--bundle", bundle_for(root, kind, compression), "--compression", compression,
            "--height", SIZE, "--width", SIZE, "--parity-json", parity]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    record = None
    if done.returncode == 0:
        with open(parity, encoding="utf-8") as f:
            record = json.load(f)
    return done, record


@unittest.skipIf(MISSING, f"not installed here: {MISSING}")
class TinyPipelines(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="coreai-export-real-")
        made = subprocess.run([sys.executable, "-W", "ignore", TINY, cls.root, "--kind", "sd,sd21", "--variants", "fp16"],
                              capture_output=True, text=True, timeout=300)
        if made.returncode != 0:
            shutil.rmtree(cls.root, ignore_errors=True)
            raise RuntimeError(f"tiny_pipeline.py failed:\n{made.stderr[-3000:]}")
        # SD 2.1 768 is v-prediction: its scheduler says so, and the bundle must carry it.
        scheduler = os.path.join(cls.root, "sd21", "scheduler", "scheduler_config.json")
        with open(scheduler, encoding="utf-8") as f:
            config = json.load(f)
        config["prediction_type"] = "v_prediction"
        with open(scheduler, "w", encoding="utf-8") as f:
            json.dump(config, f)
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {job: pool.submit(export, cls.root, *job) for job in JOBS}
        cls.results = {job: future.result() for job, future in futures.items()}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    def record(self, kind, part, compression="none"):
        done, record = self.results[(kind, part, compression)]
        self.assertEqual(done.returncode, 0, f"{kind} {part} {compression}:\n{done.stderr[-4000:]}")
        return record

    def test_every_part_matches_pytorch(self):
        for kind, part, compression in JOBS:
            if compression != "none":
                continue
            with self.subTest(kind=kind, part=part):
                record = self.record(kind, part)
                self.assertEqual(record["component"], layout.asset_file(part))
                self.assertGreater(record["psnr"], NONE_MIN_PSNR, record)
                self.assertGreater(record["aimodel_bytes"], 0)
                self.assertGreater(record["peak_rss_bytes"], 100 * 2**20)
                self.assertTrue(os.path.isfile(os.path.join(bundle_for(self.root, kind, "none"),
                                                            layout.asset_file(part), "main.mlirb")))

    def test_output_shapes(self):
        self.assertEqual(self.record("sd", "text_encoder")["output_shape"], [1, 77, 32])
        self.assertEqual(self.record("sd", "unet")["output_shape"], [2, 4, 8, 8])
        # The tiny VAE has two blocks, so it scales by 2 where SD's scales by 8: its decoder makes
        # 16x16 from the unet's 8x8 latent, and its encoder a 32x32 latent (mean and log-variance)
        # from the 64x64 image.
        self.assertEqual(self.record("sd", "vae_decoder")["output_shape"], [1, 3, 16, 16])
        self.assertEqual(self.record("sd", "vae_encoder")["output_shape"], [1, 8, 32, 32])
        self.assertEqual(self.record("sd", "unet")["inputs"]["encoder_hidden_states"], [2, 77, 32])
        self.assertEqual(self.record("sd", "text_encoder")["inputs"], {"input_ids": [1, 77]})

    def test_compressed_unet(self):
        plain = self.record("sd", "unet")
        for compression in ("int4", "palettize4"):
            with self.subTest(compression=compression):
                record = self.record("sd", "unet", compression)
                self.assertEqual(record["compression"], compression)
                self.assertGreater(record["psnr"], COMPRESSED_MIN_PSNR, record)
                self.assertLess(record["psnr"], plain["psnr"], "the weights were compressed")
                self.assertLess(record["aimodel_bytes"], plain["aimodel_bytes"])

    def test_nothing_partial_left(self):
        for kind, _part, compression in JOBS:
            bundle = bundle_for(self.root, kind, compression)
            self.assertFalse([n for n in os.listdir(bundle) if n.endswith(layout.PARTIAL_SUFFIX)], bundle)

    def test_finish_sd(self):
        bundle = bundle_for(self.root, "sd", "none")
        done = subprocess.run([sys.executable, SCRIPT, "finish", "--model", os.path.join(self.root, "sd"),
                               "--bundle", bundle, "--height", SIZE, "--width", SIZE],
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(done.returncode, 0, done.stderr)
        metadata = layout.read_metadata(bundle)
        self.assertEqual(metadata["diffusion"]["type"], "stable-diffusion")
        self.assertEqual(metadata["diffusion"]["prediction_type"], "epsilon")
        self.assertEqual(metadata["diffusion"]["image_size"], 64)
        self.assertIsNone(metadata["compression"])
        for part, asset in metadata["assets"].items():
            self.assertEqual(asset, layout.asset_file(part))
            self.assertTrue(os.path.isfile(os.path.join(bundle, asset, "main.mlirb")), asset)
        for name in layout.TOKENIZER_FILES:
            self.assertTrue(os.path.isfile(os.path.join(bundle, "tokenizer", name)), name)

    def test_finish_sd21_needs_every_part(self):
        bundle = bundle_for(self.root, "sd21", "none")
        argv = [sys.executable, SCRIPT, "finish", "--model", os.path.join(self.root, "sd21"), "--bundle", bundle,
                "--height", SIZE, "--width", SIZE]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertIn("VAEDecoder.aimodel", done.stderr)
        self.assertFalse(os.path.exists(os.path.join(bundle, "metadata.json")))
        # The VAE is SD 1.5's in these tiny pipelines: its parts copied in stand for an export.
        for part in ("vae_decoder", "vae_encoder"):
            shutil.copytree(os.path.join(bundle_for(self.root, "sd", "none"), layout.asset_file(part)),
                            os.path.join(bundle, layout.asset_file(part)), dirs_exist_ok=True)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(layout.read_metadata(bundle)["diffusion"]["prediction_type"], "v_prediction")

    def test_missing_part_is_exit_2(self):
        model = os.path.join(self.root, "no-vae")
        os.makedirs(model, exist_ok=True)
        for folder in ("unet", "text_encoder", "scheduler", "tokenizer"):
            shutil.copytree(os.path.join(self.root, "sd", folder), os.path.join(model, folder), dirs_exist_ok=True)
        bundle = os.path.join(self.root, "bundle-no-vae")
        done = subprocess.run([sys.executable, SCRIPT, "export", "--model", model, "--part", "vae_decoder",
                               "--bundle", bundle, "--compression", "none", "--parity-json",
                               os.path.join(self.root, "p.json")], capture_output=True, text=True, timeout=120)
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertEqual(len(done.stderr.strip().splitlines()), 1, done.stderr)
        self.assertIn("vae/config.json", done.stderr)
        self.assertFalse(os.path.exists(bundle))


if __name__ == "__main__":
    unittest.main()

"""parity.py's PyTorch half for real: tiny SD and SDXL pipelines written by real diffusers
(test/python/tiny_pipeline.py), the reference computed with the real torch, diffusers and
transformers, and the check run with a fake Core ML module that computes each part's PyTorch module
itself on the saved inputs and adds an error of a chosen size: 45 dB passes the converter's 35 dB
floor, 25 dB fails it, with the converter's lines. Apple's converter is not in the tests' venv: its
parser, _get_out_path, compute_psnr and report_correctness are the stand-in's (test/standin, the
same functions), and its unet module (for `unet baseline to reference PyTorch`) is a diffusers
subclass taking the converter's argument layout. Run with .venv/bin/python -m unittest discover -s
python/tests -p 'test_*_real.py'; skipped where the packages are absent."""

import contextlib
import importlib
import importlib.util
import io
import os
import shutil
import subprocess
import sys
import tempfile
import types
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "test", "standin"))
TINY = os.path.join(ROOT, "test", "python", "tiny_pipeline.py")
MISSING = [m for m in ("torch", "diffusers", "safetensors", "transformers", "numpy") if importlib.util.find_spec(m) is None]

# What the fake Core ML module reads: the tiny pipeline, and the error it adds (dB below the peak).
FAKE = {"model": None, "psnr": 45.0, "calls": []}


def _package_part(package):
    name = os.path.basename(package)[: -len(".mlpackage")]
    for part in ("text_encoder_2", "text_encoder", "vae_decoder", "vae_encoder", "unet"):
        if name.endswith("_" + part):
            return part
    raise AssertionError(f"no part in {name}")


def fake_coreml(package, compute_unit, inputs):
    """PARITY_COREML for these tests: each part's diffusers module, loaded on its own and run in
    float32 on the saved inputs (as Core ML would run the converted one), plus a constant error
    sized for FAKE["psnr"] dB."""
    import numpy as np
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection
    torch.set_grad_enabled(False)
    FAKE["calls"].append((os.path.basename(package), compute_unit, sorted(inputs)))
    part, model = _package_part(package), FAKE["model"]
    xl = os.path.isdir(os.path.join(model, "text_encoder_2"))
    arrays = {name: torch.from_numpy(item.numpy()) for name, item in inputs.items()}
    load = dict(variant="fp16", torch_dtype=torch.float16)
    if part.startswith("text_encoder"):
        cls = CLIPTextModelWithProjection if part == "text_encoder_2" else CLIPTextModel
        encoder = cls.from_pretrained(model, subfolder=part, **load).float()
        out = encoder(arrays["input_ids"].to(torch.int32), output_hidden_states=True)
        name, value = ("hidden_embeds", out.hidden_states[-2]) if xl else ("last_hidden_state", out.last_hidden_state)
    elif part.startswith("vae"):
        vae = AutoencoderKL.from_pretrained(model, subfolder="vae", **load).float()
        if part == "vae_decoder":
            name, value = "image", vae.decoder(vae.post_quant_conv(arrays["z"].float()))
        else:
            name, value = "latent", vae.quant_conv(vae.encoder(arrays["x"].float()))
    else:
        unet = UNet2DConditionModel.from_pretrained(model, subfolder="unet", **load).float()
        extra = {}
        if "time_ids" in arrays:
            extra["added_cond_kwargs"] = {"time_ids": arrays["time_ids"].float(), "text_embeds": arrays["text_embeds"].float()}
        hidden = arrays["encoder_hidden_states"].float().squeeze(2).transpose(1, 2)
        name, value = "noise_pred", unet(arrays["sample"].float(), arrays["timestep"].float(), hidden, return_dict=False, **extra)[0]
    value = value.numpy().astype(np.float32)
    error = np.abs(value).max() * 10 ** (-FAKE["psnr"] / 20)
    return {name: value + np.float32(error)}


class ReferenceUnet:
    """Stands in for Apple's unet module: UNet2DConditionModel(support_controlnet=..., **config)
    whose forward takes the converter's layout (encoder_hidden_states as B, C, 1, S; SDXL's
    time_ids and text_embeds as arguments) and returns a tuple."""

    AttentionImplementations = {"ORIGINAL": "ORIGINAL", "SPLIT_EINSUM": "SPLIT_EINSUM", "SPLIT_EINSUM_V2": "SPLIT_EINSUM_V2"}
    ATTENTION_IMPLEMENTATION_IN_EFFECT = None

    def __init__(self):
        from diffusers import UNet2DConditionModel as Diffusers

        class Reference(Diffusers):
            def __init__(self, support_controlnet=False, **config):
                super().__init__(**{k: v for k, v in config.items() if not k.startswith("_")})

            def forward(self, sample, timestep, encoder_hidden_states, time_ids=None, text_embeds=None):
                extra = {}
                if time_ids is not None:
                    extra["added_cond_kwargs"] = {"time_ids": time_ids, "text_embeds": text_embeds}
                hidden = encoder_hidden_states.squeeze(2).transpose(1, 2)
                return (super().forward(sample, timestep, hidden, return_dict=False, **extra)[0],)

        self.UNet2DConditionModel = self.UNet2DConditionModelXL = Reference


def converter():
    """The stand-in's module (Apple's functions, same signatures) with a reference unet module."""
    module = importlib.import_module("python_coreml_stable_diffusion.torch2coreml")
    fake = types.SimpleNamespace(**{name: getattr(module, name) for name in ("parser_spec", "compute_psnr", "report_correctness", "_get_out_path")})
    fake.__name__ = module.__name__
    fake.unet = ReferenceUnet()
    return fake


@unittest.skipIf(MISSING, f"needs the real packages ({', '.join(MISSING)} missing)")
class RealReferenceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import parity
        cls.parity = parity
        cls.tmp = tempfile.mkdtemp(prefix="parity-real-")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
        env.update(HF_HUB_OFFLINE="1")
        subprocess.run([sys.executable, TINY, os.path.join(cls.tmp, "models"), "--kind", "sd,sdxl", "--variants", "fp16"],
                       env=env, check=True, capture_output=True, text=True)
        os.environ["HF_HUB_OFFLINE"] = "1"

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_parity(self, kind, flags, psnr, packages):
        """parity.main in this process (the fake Core ML module is this file's), on empty package
        folders named as the converter names them; returns (exit code, stderr)."""
        model = os.path.join(self.tmp, "models", kind)
        out = tempfile.mkdtemp(dir=self.tmp)
        conv = converter()
        args = conv.parser_spec().parse_args(["--model-version", model, "-o", out])
        for part in packages:
            os.makedirs(conv._get_out_path(args, part))
        FAKE.update(model=model, psnr=psnr, calls=[])
        err = io.StringIO()
        environ = {"PARITY_COREML": f"{__name__}:fake_coreml"}
        with contextlib.redirect_stderr(err):
            handler_streams = self._point_logging_at(err)
            try:
                code = self.parity.main(["--model-version", model, "-o", out, "--check-compute-unit", "CPU_ONLY", *flags],
                                        converter=conv, environ=environ)
            finally:
                self._restore_logging(handler_streams)
        self.out = out
        return code, err.getvalue()

    @staticmethod
    def _point_logging_at(stream):
        import logging
        saved = []
        for handler in logging.getLogger().handlers:
            if hasattr(handler, "setStream"):
                saved.append((handler, handler.setStream(stream)))
        return saved

    @staticmethod
    def _restore_logging(saved):
        for handler, stream in saved:
            handler.setStream(stream)

    def test_sd_parts_pass_at_45_db_with_the_converters_lines(self):
        code, log = self.run_parity("sd", ["--convert-text-encoder", "--convert-vae-decoder", "--convert-vae-encoder", "--convert-unet"],
                                    45.0, ["text_encoder", "vae_decoder", "vae_encoder", "unet"])
        self.assertEqual(code, 0, log)
        for prefix in ("text_encoder baseline PyTorch to reference CoreML", "vae_decoder baseline PyTorch to baseline CoreML",
                       "vae_encoder baseline PyTorch to baseline CoreML", "unet baseline PyTorch to reference CoreML"):
            line = next((l for l in log.splitlines() if f"{prefix}: PSNR changed by" in l), None)
            self.assertIsNotNone(line, f"{prefix} missing in\n{log}")
            final = float(line.rsplit("-> ", 1)[1].rstrip(")"))
            self.assertAlmostEqual(final, 45.0, delta=1.0, msg=line)
        self.assertEqual(log.count("dB > 35 dB (minimum allowed) parity check passed"), 5, log)
        # The unet's PyTorch-only check: the diffusers unet against the reference module, same weights.
        torch_line = next(l for l in log.splitlines() if "unet baseline to reference PyTorch: PSNR changed by" in l)
        self.assertGreater(float(torch_line.rsplit("-> ", 1)[1].rstrip(")")), 100, torch_line)
        self.assertIn("parity: peak RSS ", log)
        self.assertEqual([c[1] for c in FAKE["calls"]], ["CPU_ONLY"] * 4)

    def test_the_saved_reference_has_the_converters_inputs(self):
        import numpy as np
        code, log = self.run_parity("sd", ["--convert-vae-decoder", "--convert-unet", "--convert-text-encoder"], 45.0,
                                    ["text_encoder", "vae_decoder", "unet"])
        self.assertEqual(code, 0, log)
        root = os.path.join(self.out, ".coreml-action", "parity")
        te = np.load(os.path.join(root, "text_encoder", "inputs.npz"))
        self.assertEqual((te["input_ids"].dtype, te["input_ids"].shape), (np.float32, (1, 77)))
        self.assertTrue(np.all(te["input_ids"] == np.floor(te["input_ids"])) and te["input_ids"].max() < 128)
        z = np.load(os.path.join(root, "vae_decoder", "inputs.npz"))["z"]
        self.assertEqual((z.dtype, z.shape), (np.float16, (1, 4, 8, 8)))
        unet = np.load(os.path.join(root, "unet", "inputs.npz"))
        self.assertEqual({k: (unet[k].dtype, unet[k].shape) for k in unet.files},
                         {"sample": (np.float16, (2, 4, 8, 8)), "timestep": (np.float16, (2,)),
                          "encoder_hidden_states": (np.float16, (2, 32, 1, 77))})
        image = np.load(os.path.join(root, "vae_decoder", "outputs.npz"))["image"]
        self.assertEqual((image.dtype, image.shape), (np.float32, (1, 3, 16, 16)))  # the tiny VAE upsamples twice
        # Order in the log: each part's reference, then its check.
        order = [l.split("parity: checking ")[1] for l in log.splitlines() if l.startswith("parity: checking ")]
        self.assertEqual(order, ["vae_decoder (reference)", "vae_decoder (check)", "unet (reference)", "unet (check)",
                                 "text_encoder (reference)", "text_encoder (check)"])

    def test_25_db_fails_with_the_converters_value_error(self):
        code, log = self.run_parity("sd", ["--convert-vae-decoder"], 25.0, ["vae_decoder"])
        self.assertEqual(code, 1, log)
        self.assertRegex(log, r"vae_decoder baseline PyTorch to baseline CoreML: PSNR changed by \S+ dB \(\S+ -> 2[45]\.\d\)")
        self.assertRegex(log, r"ValueError: 2[45]\.\d dB is too low!")
        self.assertNotIn("parity check passed", log)

    def test_sdxl_checks_both_text_encoders_and_the_xl_unet(self):
        code, log = self.run_parity("sdxl", ["--convert-text-encoder", "--convert-unet", "--xl-version"], 45.0,
                                    ["text_encoder", "text_encoder_2", "unet"])
        self.assertEqual(code, 0, log)
        self.assertEqual(log.count("text_encoder baseline PyTorch to reference CoreML: PSNR changed by"), 2, log)
        self.assertIn("parity: checking text_encoder_2 (check)", log)
        unet_inputs = [c[2] for c in FAKE["calls"] if c[0].endswith("_unet.mlpackage")][0]
        self.assertEqual(unet_inputs, ["encoder_hidden_states", "sample", "text_embeds", "time_ids", "timestep"])

    def test_halves_apart_share_the_folder(self):
        code, log = self.run_parity("sd", ["--convert-vae-encoder", "--parity-half", "reference"], 45.0, ["vae_encoder"])
        self.assertEqual(code, 0, log)
        self.assertEqual(FAKE["calls"], [])
        self.assertNotIn("PSNR changed", log)
        model = os.path.join(self.tmp, "models", "sd")
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            saved = self._point_logging_at(err)
            try:
                code = self.parity.main(["--model-version", model, "-o", self.out, "--convert-vae-encoder", "--parity-half", "check"],
                                        converter=converter(), environ={"PARITY_COREML": f"{__name__}:fake_coreml"})
            finally:
                self._restore_logging(saved)
        self.assertEqual(code, 0, err.getvalue())
        self.assertIn("vae_encoder baseline PyTorch to baseline CoreML: PSNR changed by", err.getvalue())
        # Without --check-compute-unit the check runs where the converter's would: --compute-unit (ALL).
        self.assertEqual(FAKE["calls"][0][1], "ALL")


if __name__ == "__main__":
    unittest.main()

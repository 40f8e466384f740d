"""Tests of the STAND-IN converter (run from test/standin:
`python3 -m unittest discover -s tests -v`). Every case runs the modules as real
subprocesses in temporary directories."""

import base64
import hashlib
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import unittest
import zipfile

STANDIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "hf_standin_secret_do_not_log"
SD = "runwayml/stable-diffusion-v1-5"
XL = "stabilityai/stable-diffusion-xl-base-1.0"
REFINER = "stabilityai/stable-diffusion-xl-refiner-1.0"
MLSD = "lllyasviel/sd-controlnet-mlsd"
CANNY = "lllyasviel/control_v11p_sd15_canny"

IGNORED_TOKEN_LINE = "Keyword arguments {'use_auth_token': True} are not expected by StableDiffusionPipeline and will be ignored."
NO_FP16_LINE = (
    "OSError: Could not find the necessary `safetensors` weights in {'unet/diffusion_pytorch_model.safetensors', "
    "'vae/diffusion_pytorch_model.safetensors', 'text_encoder/model.safetensors'} (variant=fp16)")


def clean_env(token=True, **extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("STANDIN_") and k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "PYTHONPATH")
           and not k.lower().endswith("_proxy")}
    env["PYTHONPATH"] = STANDIN_DIR
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
    if token:
        env["HF_TOKEN"] = TOKEN
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(args, module="torch2coreml", cwd=None, token=True, python=None, env=None, **knobs):
    cmd = [python or sys.executable, "-m", f"python_coreml_stable_diffusion.{module}", *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env or clean_env(token, **knobs), capture_output=True, timeout=120)
    # decode by hand: text=True would turn the progress bars' \r into \n
    proc.stdout = proc.stdout.decode("utf-8", "replace")
    proc.stderr = proc.stderr.decode("utf-8", "replace")
    return proc


def lines(text):
    """Split like a log reader must: on \\r as well as \\n."""
    return [ln for ln in re.split(r"[\r\n]", text) if ln]


def last_line(text):
    return lines(text)[-1]


def pkg_info(path):
    with open(os.path.join(path, "Data", "com.apple.CoreML", "standin.json"), encoding="utf-8") as f:
        return json.load(f)


def weight_size(path):
    return os.path.getsize(os.path.join(path, "Data", "com.apple.CoreML", "weights", "weight.bin"))


def compiled_meta(path):
    with open(os.path.join(path, "metadata.json"), encoding="utf-8") as f:
        return json.load(f)[0]


class TempDirCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="standin-test-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def out(self, name="out"):
        return os.path.join(self.tmp, name)

    def sd_path(self, part, version=SD, out=None):
        fname = f"Stable_Diffusion_version_{version}_{part}.mlpackage".replace("/", "_")
        return os.path.join(out or self.out(), fname)

    def assertOk(self, proc):
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])


class CommandLineTest(TempDirCase):
    def test_unknown_flag_is_rejected_by_argparse(self):
        proc = run(["--model-version", SD, "--convert-everything"])
        self.assertEqual(proc.returncode, 2)
        self.assertIn("error: unrecognized arguments: --convert-everything", proc.stderr)

    def test_bad_enum_values_are_rejected(self):
        for flag, value in (("--compute-unit", "GPU"), ("--attention-implementation", "FLASH"),
                            ("--quantize-nbits", "3"), ("--quantize-nbits", "four")):
            proc = run(["--model-version", SD, flag, value])
            self.assertEqual(proc.returncode, 2, (flag, value))
            self.assertIn(f"argument {flag}: invalid", proc.stderr)

    def test_model_version_is_required(self):
        proc = run(["--convert-unet"])
        self.assertEqual(proc.returncode, 2)
        self.assertIn("the following arguments are required: --model-version", proc.stderr)

    def test_import_warning_and_log_format(self):
        proc = run(["--model-version", SD, "-o", self.out()], cwd=self.tmp)
        self.assertOk(proc)
        ls = lines(proc.stderr)
        # coremltools 8.3.0 (tested with torch 2.5.0) warns about the lock's scikit-learn only, as in Apple's run
        self.assertEqual(ls[0], "scikit-learn version 1.7.2 is not supported. Minimum required version: 0.17. "
                         "Maximum required version: 1.5.1. Disabling scikit-learn conversion API.")
        self.assertEqual(ls[1], f"INFO:__main__:Initializing DiffusionPipeline with {SD}..")
        self.assertEqual(ls[2], IGNORED_TOKEN_LINE)
        self.assertEqual(ls[3], "INFO:__main__:Done. Pipeline in effect: StableDiffusionPipeline")
        self.assertEqual(ls[4], "INFO:__main__:Attention implementation in effect: AttentionImplementations.SPLIT_EINSUM")

    def test_unknown_deployment_target_falls_back(self):
        proc = run(["--model-version", SD, "--convert-vae-decoder", "--min-deployment-target", "macOS99",
                    "-o", self.out()])
        self.assertOk(proc)
        self.assertIn("WARNING:__main__:Unknown deployment target macOS99. Using macOS13 as fallback.", proc.stderr)
        info = pkg_info(self.sd_path("vae_decoder"))
        self.assertEqual((info["min_deployment_target"], info["specification_version"]), ("macOS13", 7))
        proc = run(["--model-version", SD, "--convert-vae-encoder", "--min-deployment-target", "iOS18",
                    "-o", self.out()])
        self.assertOk(proc)
        self.assertNotIn("Unknown deployment target", proc.stderr)
        self.assertEqual(pkg_info(self.sd_path("vae_encoder"))["specification_version"], 9)


class PipelineLoadTest(TempDirCase):
    def test_no_token_is_needed_for_a_public_model(self):
        # diffusers 0.30.2 ignores the converter's use_auth_token=True, saying so, and loads.
        proc = run(["--model-version", SD, "--convert-unet", "-o", self.out()], token=False)
        self.assertOk(proc)
        self.assertIn(IGNORED_TOKEN_LINE, proc.stderr.splitlines())
        self.assertTrue(os.path.exists(self.sd_path("unet")))

    def test_legacy_token_variable_is_accepted(self):
        env = clean_env(token=False, HUGGING_FACE_HUB_TOKEN=TOKEN)
        self.assertOk(run(["--model-version", SD, "-o", self.out()], env=env))

    def test_missing_fp16_weights(self):
        proc = run(["--model-version", SD, "--convert-unet", "-o", self.out()], STANDIN_NO_FP16=1)
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(last_line(proc.stderr), NO_FP16_LINE)
        model = os.path.join(self.tmp, "m")
        os.makedirs(model)
        with open(os.path.join(model, "model_index.json"), "w") as f:
            json.dump({"_class_name": "StableDiffusionPipeline"}, f)
        open(os.path.join(model, "standin-no-fp16"), "w").close()
        proc = run(["--model-version", "./m", "-o", self.out()], cwd=self.tmp)
        self.assertEqual(last_line(proc.stderr), NO_FP16_LINE)

    def test_local_folder_needs_model_index_but_no_token(self):
        os.makedirs(os.path.join(self.tmp, "m"))
        proc = run(["--model-version", "./m", "-o", self.out()], cwd=self.tmp, token=False)
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(last_line(proc.stderr), "OSError: Error no file named model_index.json found in directory ./m.")
        with open(os.path.join(self.tmp, "m", "model_index.json"), "w") as f:
            json.dump({"_class_name": "StableDiffusionXLPipeline", "text_encoder": ["t", "C"],
                       "text_encoder_2": ["t", "C"]}, f)
        proc = run(["--model-version", "./m", "--convert-text-encoder", "-o", "out"], cwd=self.tmp, token=False)
        self.assertOk(proc)
        self.assertIn("INFO:__main__:Done. Pipeline in effect: StableDiffusionXLPipeline", proc.stderr)
        self.assertTrue(os.path.isdir(os.path.join(self.out(), "Stable_Diffusion_version_._m_text_encoder_2.mlpackage")))

    def test_no_fp16_on_the_hub_only(self):
        proc = run(["--model-version", SD, "--convert-unet", "-o", self.out()], STANDIN_NO_FP16="hub")
        self.assertEqual(last_line(proc.stderr), NO_FP16_LINE)
        # A folder of the id's relative path in the working directory loads instead of the Hub id.
        staged = os.path.join(self.tmp, *SD.split("/"))
        os.makedirs(staged)
        with open(os.path.join(staged, "model_index.json"), "w") as f:
            json.dump({"_class_name": "StableDiffusionPipeline"}, f)
        self.assertOk(run(["--model-version", SD, "--convert-unet", "-o", self.out()], cwd=self.tmp, STANDIN_NO_FP16="hub"))
        self.assertTrue(os.path.isdir(self.sd_path("unet")))

    def test_float16_loader_saves_a_copy_the_converter_loads(self):
        code = ("import sys; from python_coreml_stable_diffusion import _standin; "
                "_standin.load_float16_pipeline(sys.argv[1]).save_pretrained(sys.argv[2], safe_serialization=True, variant='fp16')")
        copy = os.path.join(self.tmp, *XL.split("/"))
        proc = subprocess.run([sys.executable, "-c", code, XL, copy], env=clean_env(token=False), capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(os.path.join(copy, "model_index.json"), encoding="utf-8") as f:
            self.assertEqual(json.load(f)["_class_name"], "StableDiffusionXLPipeline")
        for weights in ("unet/diffusion_pytorch_model.fp16.safetensors", "text_encoder_2/model.fp16.safetensors"):
            self.assertTrue(os.path.isfile(os.path.join(copy, weights)), weights)
        proc = run(["--model-version", XL, "--xl-version", "--convert-text-encoder", "-o", self.out()], cwd=self.tmp,
                   STANDIN_NO_FP16="hub")
        self.assertOk(proc)
        self.assertTrue(os.path.isdir(self.sd_path("text_encoder_2", version=XL)))


class OutputTest(TempDirCase):
    def test_names_for_hub_id_and_local_path(self):
        proc = run(["--model-version", SD, "--convert-vae-decoder", "--convert-unet", "--convert-controlnet", MLSD,
                    "-o", self.out()])
        self.assertOk(proc)
        names = sorted(os.listdir(self.out()))
        self.assertEqual(names, [
            "ControlNet_lllyasviel_sd-controlnet-mlsd.mlpackage",
            "Stable_Diffusion_version_runwayml_stable-diffusion-v1-5_unet.mlpackage",
            "Stable_Diffusion_version_runwayml_stable-diffusion-v1-5_vae_decoder.mlpackage",
        ])
        self.assertIn(f"INFO:__main__:Saved controlnet into {self.out()}/ControlNet_lllyasviel_sd-controlnet-mlsd.mlpackage",
                      proc.stderr)

        os.makedirs(os.path.join(self.tmp, "m"))
        with open(os.path.join(self.tmp, "m", "model_index.json"), "w") as f:
            json.dump({"_class_name": "StableDiffusionPipeline"}, f)
        proc = run(["--model-version", "./m", "--convert-unet", "--unet-support-controlnet", "-o", "local"],
                   cwd=self.tmp)
        self.assertOk(proc)
        self.assertEqual(os.listdir(os.path.join(self.tmp, "local")),
                         ["Stable_Diffusion_version_._m_control-unet.mlpackage"])
        self.assertIn("INFO:__main__:Saved unet into local/Stable_Diffusion_version_._m_control-unet.mlpackage",
                      proc.stderr)
        info = pkg_info(os.path.join(self.tmp, "local", "Stable_Diffusion_version_._m_control-unet.mlpackage"))
        self.assertIn("additional_residual_0", info["inputs"])
        self.assertIn("additional_residual_12", info["inputs"])

    def test_default_output_dir_is_cwd(self):
        self.assertOk(run(["--model-version", SD, "--convert-vae-encoder"], cwd=self.tmp))
        self.assertTrue(os.path.isdir(self.sd_path("vae_encoder", out=self.tmp)))

    def test_package_layout(self):
        self.assertOk(run(["--model-version", SD, "--convert-unet", "--convert-vae-decoder", "-o", self.out()],
                          STANDIN_WEIGHT_BYTES=1000))
        unet = self.sd_path("unet")
        with open(os.path.join(unet, "Manifest.json")) as f:
            manifest = json.load(f)
        self.assertEqual(manifest["fileFormatVersion"], "1.0.0")
        self.assertEqual(len(manifest["itemInfoEntries"]), 2)
        self.assertIn(manifest["rootModelIdentifier"], manifest["itemInfoEntries"])
        self.assertTrue(os.path.isfile(os.path.join(unet, "Data", "com.apple.CoreML", "model.mlmodel")))
        self.assertEqual(weight_size(unet), 2000)
        self.assertEqual(weight_size(self.sd_path("vae_decoder")), 1000)
        info = pkg_info(unet)
        self.assertEqual((info["part"], info["model_version"], info["attention_implementation"],
                          info["compute_unit"], info["latent_h"], info["latent_w"], info["xl"], info["nbits"]),
                         ("unet", SD, "SPLIT_EINSUM", "ALL", 64, 64, False, None))
        self.assertEqual(info["inputs"], ["sample", "timestep", "encoder_hidden_states"])
        self.assertEqual(info["user_defined_metadata"]["com.github.apple.ml-stable-diffusion.version"], "1.1.0")

    def test_skip_if_exists(self):
        args = ["--model-version", SD, "--convert-vae-decoder", "--convert-unet", "--chunk-unet", "-o", self.out()]
        self.assertOk(run(args))
        vae = self.sd_path("vae_decoder")
        weights = os.path.join(vae, "Data", "com.apple.CoreML", "weights", "weight.bin")
        before = os.stat(weights).st_mtime_ns
        proc = run(args + ["--attention-implementation", "ORIGINAL"])
        self.assertOk(proc)
        self.assertIn(f"INFO:__main__:`vae_decoder` already exists at {vae}, skipping conversion.", proc.stderr)
        self.assertIn("INFO:__main__:`unet` chunks already exist, skipping conversion.", proc.stderr)
        self.assertNotIn("Saved", proc.stderr)
        self.assertNotIn("Converting PyTorch Frontend", proc.stderr)
        self.assertEqual(os.stat(weights).st_mtime_ns, before)
        self.assertEqual(pkg_info(self.sd_path("unet"))["attention_implementation"], "SPLIT_EINSUM")

    def test_text_encoder_2_only_for_xl(self):
        proc = run(["--model-version", SD, "--convert-text-encoder", "-o", self.out("sd")])
        self.assertOk(proc)
        self.assertNotIn("text_encoder_2", proc.stderr)
        self.assertEqual(os.listdir(self.out("sd")), [os.path.basename(self.sd_path("text_encoder"))])

        out = self.out("xl")
        proc = run(["--model-version", XL, "--xl-version", "--convert-text-encoder", "-o", out])
        self.assertOk(proc)
        self.assertIn("INFO:__main__:Done. Pipeline in effect: StableDiffusionXLPipeline", proc.stderr)
        te2 = self.sd_path("text_encoder_2", XL, out)
        self.assertIn(f"INFO:__main__:Saved text_encoder into {te2}", proc.stderr)
        self.assertEqual(proc.stderr.count("Saved text_encoder into"), 2)
        order = [ln for ln in lines(proc.stderr) if "Converting text_encoder" in ln or "Converted text_encoder" in ln]
        self.assertEqual([re.sub(r"^.*INFO:__main__:", "", ln) for ln in order], [
            "Converting text_encoder", "Converting text_encoder to CoreML..", "Converted text_encoder",
            "Converting text_encoder_2", "Converting text_encoder_2 to CoreML..", "Converted text_encoder_2"])
        self.assertEqual(pkg_info(te2)["outputs"], ["hidden_embeds", "pooled_outputs"])

    def test_progress_frames_are_glued(self):
        proc = run(["--model-version", SD, "--convert-vae-decoder", "-o", self.out()])
        self.assertOk(proc)
        self.assertIn("\rConverting PyTorch Frontend ==> MIL Ops:   0%|          | 0/385 [00:00<?, ? ops/s]\r",
                      proc.stderr)
        self.assertRegex(proc.stderr, r"\rRunning MIL backend_mlprogram pipeline: 100%\|##########\| 12/12 "
                                      r"\[[0-9:]+<00:00, [0-9.]+ passes/s\]INFO:__main__:Saved vae_decoder into ")


PSNR_RE = re.compile(r"INFO:__main__:(.+): PSNR changed by (-?[\d.]+|nan|inf) dB \(([\d.]+) -> ([\d.]+|nan|inf)\)")


class PsnrTest(TempDirCase):
    def checks(self, stderr):
        found = []
        ls = lines(stderr)
        for i, ln in enumerate(ls):
            m = PSNR_RE.search(ln)
            if m:
                found.append((m.group(1), float(m.group(3)), m.group(4)))
                self.assertTrue(ls[i + 1].endswith(f"{m.group(4)} dB > 35 dB (minimum allowed) parity check passed"))
        return found

    def test_prefixes_for_every_part(self):
        proc = run(["--model-version", SD, "--convert-vae-decoder", "--convert-vae-encoder", "--convert-unet",
                    "--convert-text-encoder", "--convert-safety-checker", "--convert-controlnet", MLSD,
                    "--check-output-correctness", "-o", self.out()])
        self.assertOk(proc)
        found = self.checks(proc.stderr)
        self.assertEqual([f[0] for f in found], [
            "vae_decoder baseline PyTorch to baseline CoreML",
            "vae_encoder baseline PyTorch to baseline CoreML",
            "lllyasviel_sd-controlnet-mlsd baseline to reference PyTorch",
            "controlnet baseline PyTorch to reference CoreML",
            "unet baseline to reference PyTorch",
            "unet baseline PyTorch to reference CoreML",
            "text_encoder baseline PyTorch to reference CoreML",
            "safety_checker baseline PyTorch to reference CoreML",
        ])
        for _, original, final in found:
            self.assertTrue(200 <= original < 215, original)
            self.assertTrue(55 <= float(final) < 90, final)
        self.assertNotIn("Saved safety_checker", proc.stderr)

        out = self.out("xl")
        proc = run(["--model-version", XL, "--xl-version", "--convert-unet", "--convert-text-encoder",
                    "--refiner-version", REFINER, "--check-output-correctness", "-o", out])
        self.assertOk(proc)
        self.assertEqual([f[0] for f in self.checks(proc.stderr)], [
            "unet baseline to reference PyTorch", "unet baseline PyTorch to reference CoreML",
            "text_encoder baseline PyTorch to reference CoreML", "text_encoder baseline PyTorch to reference CoreML",
            "unet baseline to reference PyTorch", "unet baseline PyTorch to reference CoreML"])
        self.assertIn(f"INFO:__main__:Saved unet into {self.sd_path('refiner', XL, out)}", proc.stderr)
        self.assertIn("Done. Pipeline in effect: StableDiffusionXLImg2ImgPipeline", proc.stderr)
        self.assertEqual(set(pkg_info(self.sd_path("unet", XL, out))["inputs"]) >= {"time_ids", "text_embeds"}, True)

    def test_mmdit_logs_diffusionkit_check_and_vae_decoder(self):
        out = self.out()
        proc = run(["--model-version", "stabilityai/stable-diffusion-3-medium", "--sd3-version", "--convert-mmdit",
                    "--convert-vae-decoder", "-o", out], STANDIN_PSNR="mmdit=51.27")
        self.assertOk(proc)
        mmdit = self.sd_path("mmdit", "stabilityai/stable-diffusion-3-medium")
        self.assertIn(f"INFO:__main__:Saved vae_decoder into {mmdit}", proc.stderr)
        # DiffusionKit's check runs without --check-output-correctness; upstream's own do not.
        dk = [ln for ln in lines(proc.stderr) if "torch2coreml PSNR=" in ln]
        self.assertEqual(len(dk), 2, dk)
        self.assertTrue(dk[1].endswith("INFO:argmaxtools.test_utils:torch2coreml PSNR=51.3"), dk[1])
        self.assertNotIn("PSNR changed by", proc.stderr)

    def test_mmdit_failed_diffusionkit_check_saves_nothing(self):
        out = self.out()
        proc = run(["--model-version", "stabilityai/stable-diffusion-3-medium", "--sd3-version", "--convert-mmdit",
                    "-o", out], STANDIN_PSNR="mmdit=20.5")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("AssertionError: 20.5 not greater than 35", proc.stderr)
        self.assertIn("FAILED (failures=1)", proc.stderr)
        missing = os.path.join(out, "MultiModalDiffusionTransformer.mlpackage")
        self.assertEqual(last_line(proc.stderr), f"FileNotFoundError: [Errno 2] No such file or directory: '{missing}'")
        self.assertFalse(os.path.exists(self.sd_path("mmdit", "stabilityai/stable-diffusion-3-medium")))

    def test_too_low_raises(self):
        proc = run(["--model-version", SD, "--convert-unet", "--check-output-correctness", "-o", self.out()],
                   STANDIN_PSNR="unet=20")
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(last_line(proc.stderr), "ValueError: 20.0 dB is too low!")
        self.assertIn("unet baseline to reference PyTorch: PSNR changed by", proc.stderr)
        self.assertFalse(os.path.exists(self.sd_path("unet")))  # first check fails before conversion

        proc = run(["--model-version", XL, "--xl-version", "--convert-text-encoder", "--check-output-correctness",
                    "-o", self.out("xl")], STANDIN_PSNR="text_encoder_2=34.96")
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(last_line(proc.stderr), "ValueError: 35.0 dB is too low!")
        self.assertEqual(proc.stderr.count("parity check passed"), 1)
        self.assertTrue(os.path.isdir(self.sd_path("text_encoder_2", XL, self.out("xl"))))

    def test_nan_and_inf_pass_like_upstream(self):
        proc = run(["--model-version", SD, "--convert-unet", "--convert-vae-decoder", "--check-output-correctness",
                    "-o", self.out()], STANDIN_PSNR="unet=nan, vae_decoder=inf")
        self.assertOk(proc)
        self.assertEqual(proc.stderr.count("nan dB > 35 dB (minimum allowed) parity check passed"), 2)
        self.assertIn("unet baseline PyTorch to reference CoreML: PSNR changed by nan dB (", proc.stderr)
        self.assertIn("inf dB > 35 dB (minimum allowed) parity check passed", proc.stderr)

    def test_bad_knob_is_loud(self):
        proc = run(["--model-version", SD, "--convert-unet", "--check-output-correctness", "-o", self.out()],
                   STANDIN_PSNR="unett=20")
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("bad STANDIN_PSNR entry", proc.stderr)


class FailureKnobTest(TempDirCase):
    def test_kill_leaves_half_written_package(self):
        args = ["--model-version", SD, "--convert-vae-decoder", "--convert-unet", "-o", self.out()]
        proc = run(args, STANDIN_KILL_AT="unet")
        self.assertEqual(proc.returncode, -signal.SIGKILL)
        unet = self.sd_path("unet")
        self.assertTrue(os.path.isfile(os.path.join(unet, "Manifest.json")))
        self.assertFalse(os.path.exists(os.path.join(unet, "Data", "com.apple.CoreML", "weights", "weight.bin")))
        self.assertTrue(os.path.isfile(os.path.join(self.sd_path("vae_decoder"), "Data", "com.apple.CoreML",
                                                    "standin.json")))
        proc = run(args)
        self.assertOk(proc)
        self.assertIn(f"INFO:__main__:`unet` already exists at {unet}, skipping conversion.", proc.stderr)

    def test_enospc(self):
        proc = run(["--model-version", SD, "--convert-vae-decoder", "-o", self.out()], STANDIN_ENOSPC_AT="vae_decoder")
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(last_line(proc.stderr), "OSError: [Errno 28] No space left on device")
        self.assertTrue(os.path.isdir(self.sd_path("vae_decoder")))

    def test_missing_coremlcompiler(self):
        proc = run(["--model-version", SD, "--convert-vae-decoder", "--bundle-resources-for-swift-cli",
                    "-o", self.out()], STANDIN_NO_COREMLCOMPILER=1)
        self.assertEqual(proc.returncode, 1)
        self.assertIn('xcrun: error: unable to find utility "coremlcompiler", not a developer tool or in PATH',
                      proc.stderr)
        self.assertRegex(last_line(proc.stderr), r"^FileNotFoundError: \[Errno 2\] No such file or directory: "
                                                 r".*Resources/Stable_Diffusion_version_runwayml_stable-diffusion-v1-5_vae_decoder\.mlmodelc'$")


class QuantizeAndChunkTest(TempDirCase):
    def test_quantize_sets_nbits_and_leaves_chunks_alone(self):
        args = ["--model-version", SD, "--convert-unet", "--chunk-unet", "--convert-text-encoder",
                "--quantize-nbits", "4", "-o", self.out()]
        proc = run(args)
        self.assertOk(proc)
        unet = self.sd_path("unet")
        for expected in ("Chunking None in two approximately equal MLModels",
                         "INFO:python_coreml_stable_diffusion.chunk_mlprogram:Start chunking model",
                         "INFO:__main__:Quantizing weights to 4-bit precision",
                         "INFO:__main__:Quantizing unet to 4-bit precision",
                         "INFO:__main__:Quantizing unet\n",
                         f"INFO:__main__:Skipped quantizing refiner (Not found at {self.sd_path('refiner')})",
                         "INFO:__main__:Quantized weights to 4-bit precision"):
            self.assertIn(expected, proc.stderr)
        info = pkg_info(unet)
        self.assertEqual((info["nbits"], info["quantized_times"]), (4, 1))
        self.assertEqual(weight_size(unet), 2 * 65536 * 4 // 16)
        self.assertEqual(pkg_info(self.sd_path("text_encoder"))["nbits"], 4)
        for idx in (1, 2):
            chunk = self.sd_path(f"unet_chunk{idx}")
            self.assertEqual(pkg_info(chunk)["nbits"], None)
            self.assertEqual(pkg_info(chunk)["chunk"], idx)
            self.assertEqual(weight_size(chunk), 65536)

        proc = run(args)
        self.assertOk(proc)
        self.assertIn("`unet` chunks already exist, skipping conversion.", proc.stderr)
        self.assertEqual(pkg_info(unet)["quantized_times"], 2)

        # standalone chunking of the quantized package carries nbits over
        proc = run(["--mlpackage-path", unet, "-o", self.out("chunks")], module="chunk_mlprogram")
        self.assertOk(proc)
        self.assertIn(f"INFO:__main__:Start chunking model {unet} into two pieces.", proc.stderr)
        self.assertIn("INFO:__main__:Model chunking is done.", proc.stderr)
        for idx in (1, 2):
            self.assertEqual(pkg_info(self.sd_path(f"unet_chunk{idx}", out=self.out("chunks")))["nbits"], 4)

    def test_chunk_mlprogram_cli(self):
        self.assertOk(run(["--model-version", SD, "--convert-unet", "-o", self.out()]))
        unet = self.sd_path("unet")
        proc = run(["--mlpackage-path", unet], module="chunk_mlprogram")
        self.assertEqual(proc.returncode, 2)
        proc = run(["--mlpackage-path", unet, "-o", self.out("c"), "--check-output-correctness"],
                   module="chunk_mlprogram", STANDIN_PSNR="unet_chunks=12.34")
        self.assertOk(proc)
        self.assertIn("WARNING:coremltools:12.3 dB is low!", proc.stderr)
        self.assertNotIn("PSNR changed", proc.stderr)
        proc = run(["--mlpackage-path", unet, "-o", self.out("d"), "--check-output-correctness"],
                   module="chunk_mlprogram", STANDIN_PSNR="unet_chunks=nan")
        self.assertOk(proc)
        self.assertNotIn("dB is low", proc.stderr)
        proc = run(["--mlpackage-path", unet, "-o", self.out("e"), "--remove-original"], module="chunk_mlprogram")
        self.assertOk(proc)
        self.assertIn("INFO:__main__:Removing original (non-chunked) model at {args.mlpackage_path}", proc.stderr)
        self.assertFalse(os.path.exists(unet))
        proc = run(["--mlpackage-path", unet, "-o", self.out("f")], module="chunk_mlprogram")
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(last_line(proc.stderr), f"FileNotFoundError: [Errno 2] No such file or directory: '{unet}'")


class _NotFoundHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"<html><body>404 Not Found: {self.path}</body></html>".encode()
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class BundleTest(TempDirCase):
    def test_bundle_names_and_metadata(self):
        out = self.out()
        args = ["--model-version", SD, "--convert-unet", "--unet-support-controlnet", "--chunk-unet",
                "--convert-text-encoder", "--convert-vae-encoder", "--convert-controlnet", MLSD, CANNY,
                "--quantize-nbits", "6", "--bundle-resources-for-swift-cli", "-o", out]
        proc = run(args)
        self.assertOk(proc)
        res = os.path.join(out, "Resources")
        self.assertIn(f"INFO:__main__:Created {res} for Swift CLI assets", proc.stderr)
        self.assertEqual(sorted(os.listdir(res)), [
            "ControlledUnet.mlmodelc", "ControlledUnetChunk1.mlmodelc", "ControlledUnetChunk2.mlmodelc",
            "TextEncoder.mlmodelc", "VAEEncoder.mlmodelc", "controlnet", "merges.txt", "vocab.json"])
        self.assertEqual(sorted(os.listdir(os.path.join(res, "controlnet"))),
                         ["LllyasvielControlV11PSd15Canny.mlmodelc", "LllyasvielSdControlnetMlsd.mlmodelc"])
        src = self.sd_path("control-unet")
        self.assertIn(f"INFO:__main__:Compiling {src}", proc.stderr)
        self.assertIn(f"INFO:__main__:Compiled {src} to {res}/ControlledUnet.mlmodelc", proc.stderr)
        self.assertIn(f"WARNING:__main__:{self.sd_path('unet')} not found, skipping compilation to Unet.mlmodelc",
                      proc.stderr)
        compiled = os.path.join(res, "ControlledUnet.mlmodelc")
        for rel in ("model.mil", "coremldata.bin", "analytics/coremldata.bin", "weights/weight.bin"):
            self.assertTrue(os.path.isfile(os.path.join(compiled, rel)), rel)
        meta = compiled_meta(compiled)
        self.assertEqual(meta["modelType"], {"name": "MLModelType_mlProgram"})
        self.assertEqual(meta["computePrecision"], "Mixed (Float16, Int32)")
        self.assertEqual(meta["method"], "predict")
        self.assertGreater(meta["mlProgramOperationTypeHistogram"]["Ios16.einsum"], 0)
        self.assertIn("Ios16.constexprLutToDense", meta["mlProgramOperationTypeHistogram"])
        self.assertIn("additional_residual_0", [i["name"] for i in meta["inputSchema"]])
        self.assertEqual(meta["userDefinedMetadata"]["com.github.apple.ml-stable-diffusion.version"], "1.1.0")
        chunk_meta = compiled_meta(os.path.join(res, "ControlledUnetChunk1.mlmodelc"))
        self.assertNotIn("Ios16.constexprLutToDense", chunk_meta["mlProgramOperationTypeHistogram"])
        self.assertNotIn("Ios16.einsum", compiled_meta(os.path.join(res, "TextEncoder.mlmodelc"))
                         ["mlProgramOperationTypeHistogram"])
        vae = compiled_meta(os.path.join(res, "VAEEncoder.mlmodelc"))
        self.assertEqual(vae["inputSchema"][0]["shape"], "[1, 3, 512, 512]")
        with open(os.path.join(res, "vocab.json"), encoding="utf-8") as f:
            vocab = json.load(f)
        self.assertEqual(len(vocab), 49408)
        with open(os.path.join(res, "merges.txt"), encoding="utf-8") as f:
            self.assertEqual(f.readline(), "#version: 0.2\n")

        proc = run(args)
        self.assertOk(proc)
        self.assertIn(f"WARNING:__main__:Found existing compiled model at {compiled}! Skipping..", proc.stderr)
        self.assertIn(f"INFO:__main__:Compiled {src} to {compiled}", proc.stderr)
        self.assertNotIn("Created", proc.stderr)

    def test_original_attention_has_no_einsum_and_xl_latents(self):
        out = self.out()
        proc = run(["--model-version", XL, "--xl-version", "--convert-unet", "--convert-vae-encoder",
                    "--attention-implementation", "ORIGINAL", "--bundle-resources-for-swift-cli", "-o", out],
                   STANDIN_BAD_VOCAB=1)
        self.assertOk(proc)
        res = os.path.join(out, "Resources")
        meta = compiled_meta(os.path.join(res, "Unet.mlmodelc"))
        self.assertNotIn("Ios16.einsum", meta["mlProgramOperationTypeHistogram"])
        self.assertIn("time_ids", [i["name"] for i in meta["inputSchema"]])
        self.assertEqual(compiled_meta(os.path.join(res, "VAEEncoder.mlmodelc"))["inputSchema"][0]["shape"],
                         "[1, 3, 1024, 1024]")
        self.assertEqual(pkg_info(self.sd_path("vae_encoder", XL, out))["compute_unit"], "CPU_AND_GPU")
        with open(os.path.join(res, "vocab.json"), encoding="utf-8") as f:
            self.assertTrue(f.read().startswith("<!DOCTYPE html>"))

    def test_vocab_from_http_404_keeps_error_body(self):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFoundHandler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        base = f"http://127.0.0.1:{server.server_address[1]}"
        proc = run(["--model-version", SD, "--bundle-resources-for-swift-cli", "-o", self.out(),
                    "--text-encoder-vocabulary-url", f"{base}/missing/vocab.json",
                    "--text-encoder-merges-url", f"{base}/missing/merges.txt"])
        self.assertOk(proc)
        res = os.path.join(self.out(), "Resources")
        with open(os.path.join(res, "vocab.json"), encoding="utf-8") as f:
            self.assertEqual(f.read(), "<html><body>404 Not Found: /missing/vocab.json</body></html>")
        with open(os.path.join(res, "merges.txt"), encoding="utf-8") as f:
            self.assertEqual(f.read(), "<html><body>404 Not Found: /missing/merges.txt</body></html>")
        self.assertIn("INFO:__main__:Downloading and saving tokenizer vocab.json", proc.stderr)
        self.assertTrue(last_line(proc.stderr).endswith("INFO:__main__:Bundled resources for the Swift CLI"))

    def test_include_t5(self):
        proc = run(["--model-version", SD, "--bundle-resources-for-swift-cli", "--include-t5", "-o", self.out()])
        self.assertOk(proc)
        res = os.path.join(self.out(), "Resources")
        for name in ("TextEncoderT5.mlmodelc", "tokenizer.json", "tokenizer_config.json"):
            self.assertTrue(os.path.exists(os.path.join(res, name)), name)
        proc = run(["--model-version", SD, "--bundle-resources-for-swift-cli", "--include-t5", "-o", self.out()])
        self.assertIn(f"Skipping T5 download as {res}/TextEncoderT5.mlmodelc already exists", proc.stderr)


class _CardHandler(http.server.BaseHTTPRequestHandler):
    """/api/models/<id>: no cardData for ids ending in `nocard`, else base_model from the name."""
    def do_GET(self):
        repo_id = self.path.split("/api/models/", 1)[-1]
        info = {"id": repo_id, "sha": "0" * 40, "siblings": []}
        if not repo_id.endswith("nocard"):
            info["cardData"] = {"base_model": SD if repo_id.endswith("sd15") else "someone/other-base"}
        body = json.dumps(info).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class ControlNetCardTest(TempDirCase):
    """convert_controlnet asks the Hub for every ControlNet's model card (huggingface_hub.model_info),
    before it looks for an existing package: test/fixtures/real-converter/sd-controlnet-offline.*."""

    def local_model(self):
        os.makedirs(os.path.join(self.tmp, "m"), exist_ok=True)
        with open(os.path.join(self.tmp, "m", "model_index.json"), "w") as f:
            json.dump({"_class_name": "StableDiffusionPipeline"}, f)
        return "./m"

    def hub(self):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CardHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return f"http://127.0.0.1:{server.server_address[1]}"

    def test_offline_fails_even_when_the_controlnet_is_converted(self):
        model = self.local_model()
        os.makedirs(os.path.join(self.tmp, "o", "ControlNet_lllyasviel_sd-controlnet-mlsd.mlpackage"))
        proc = run(["--model-version", model, "--convert-controlnet", MLSD, "-o", "o"], cwd=self.tmp, HF_HUB_OFFLINE="1")
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(last_line(proc.stderr),
                         f"huggingface_hub.errors.OfflineModeIsEnabled: Cannot reach https://huggingface.co/api/models/{MLSD}: "
                         "offline mode is enabled. To disable it, please unset the `HF_HUB_OFFLINE` environment variable.")
        self.assertNotIn("skipping conversion", proc.stderr)

    def test_model_card_base_model(self):
        endpoint = self.hub()
        ok = run(["--model-version", SD, "--convert-controlnet", "a/sd15", "-o", "o"], cwd=self.tmp, HF_ENDPOINT=endpoint,
                 STANDIN_SYNTHESIZE_MODELS="1")
        self.assertOk(ok)
        self.assertNotIn("trained using Stable Diffusion v1.5", ok.stderr)
        other = run(["--model-version", SD, "--convert-controlnet", "a/other", "-o", "o"], cwd=self.tmp,
                    HF_ENDPOINT=endpoint, STANDIN_SYNTHESIZE_MODELS="1")
        self.assertEqual(other.returncode, 1)
        self.assertIn("RuntimeError: ControlNet model a/other was trained using Stable Diffusion model someone/other-base.",
                      other.stderr)
        nocard = run(["--model-version", self.local_model(), "--convert-controlnet", "a/nocard", "-o", "o"], cwd=self.tmp,
                     HF_ENDPOINT=endpoint)
        self.assertEqual(last_line(nocard.stderr), "AttributeError: 'NoneType' object has no attribute 'get'")
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "o", "ControlNet_a_nocard.mlpackage")))


class InvocationLogTest(TempDirCase):
    def test_each_process_appends_one_line(self):
        log = os.path.join(self.tmp, "calls.jsonl")
        self.assertOk(run(["--model-version", SD, "--convert-unet", "--chunk-unet", "-o", self.out()],
                          STANDIN_INVOCATIONS=log))
        self.assertOk(run(["--mlpackage-path", self.sd_path("unet"), "-o", self.out("c")], module="chunk_mlprogram",
                          token=False, STANDIN_INVOCATIONS=log))
        run(["--bogus"], STANDIN_INVOCATIONS=log)
        with open(log, encoding="utf-8") as f:
            text = f.read()
        self.assertNotIn(TOKEN, text)
        entries = [json.loads(ln) for ln in text.splitlines()]
        self.assertEqual([e["module"] for e in entries], [
            "python_coreml_stable_diffusion.torch2coreml", "python_coreml_stable_diffusion.chunk_mlprogram",
            "python_coreml_stable_diffusion.torch2coreml"])
        self.assertEqual(entries[0]["argv"], ["--model-version", SD, "--convert-unet", "--chunk-unet", "-o", self.out()])
        self.assertEqual([e["hf_token_set"] for e in entries], [True, False, True])
        self.assertTrue(all(isinstance(e["pid"], int) for e in entries))

    def test_an_importer_calling_quantize_or_bundle_appends_one_line_per_call(self):
        # As the action's python/quantize_bundle.py does: parser_spec(), then the two functions.
        log = os.path.join(self.tmp, "calls.jsonl")
        flags = ["--model-version", SD, "-o", self.out(), "--quantize-nbits", "6"]
        self.assertOk(run(flags, STANDIN_INVOCATIONS=log))  # through main: one line, as before
        script = ("import sys\n"
                  "from python_coreml_stable_diffusion import torch2coreml as t\n"
                  "args = t.parser_spec().parse_args(sys.argv[1:])\n"
                  "t.quantize_weights(args)\n"
                  "t.bundle_resources_for_swift_cli(args)\n")
        proc = subprocess.run([sys.executable, "-c", script, *flags], env=clean_env(STANDIN_INVOCATIONS=log),
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertNotIn("Initializing DiffusionPipeline", proc.stderr)
        with open(log, encoding="utf-8") as f:
            entries = [json.loads(ln) for ln in f.read().splitlines()]
        self.assertEqual([e["module"] for e in entries], [
            "python_coreml_stable_diffusion.torch2coreml",
            "python_coreml_stable_diffusion.torch2coreml.quantize_weights",
            "python_coreml_stable_diffusion.torch2coreml.bundle_resources_for_swift_cli"])
        self.assertEqual(entries[1]["argv"], flags)


PARITY_ENTRY = os.path.join(os.path.dirname(os.path.dirname(STANDIN_DIR)), "python", "parity.py")
# The converter's lines, from its __main__ or its module's logger (the entry imports the module).
PARITY_PSNR_RE = re.compile(r"INFO:[\w.]+:(.+): PSNR changed by (-?[\d.]+|nan|inf) dB \(([\d.]+) -> ([\d.]+|nan|inf)\)")
PARITY_HOOKS = {"PARITY_REFERENCE": "python_coreml_stable_diffusion._standin:parity_reference",
                "PARITY_COREML": "python_coreml_stable_diffusion._standin:parity_predict"}


class ParityHooksTest(TempDirCase):
    """The stand-in's halves for the action's python/parity.py (its PARITY_REFERENCE and PARITY_COREML
    hooks) and Apple's compute_psnr/report_correctness, which the entry imports from the module."""

    def convert(self, *flags, **knobs):
        self.assertOk(run(["--model-version", SD, *flags, "-o", self.out()], **knobs))

    def parity(self, *flags, **knobs):
        env = clean_env(**PARITY_HOOKS, **knobs)
        proc = subprocess.run([sys.executable, PARITY_ENTRY, "--model-version", SD, "-o", self.out(), *flags],
                              env=env, capture_output=True, text=True, timeout=120)
        return proc

    def test_compute_psnr_is_apples_formula(self):
        sys.path.insert(0, STANDIN_DIR)
        try:
            from python_coreml_stable_diffusion import _standin
        finally:
            sys.path.remove(STANDIN_DIR)
        a, b = [1.0, -2.0, 0.5, 4.0], [1.0, -2.0, 0.5, 4.2]
        # 20 log10((max|b| + 1e-5) / (sqrt(mean((a-b)^2)) + 1e-10))
        self.assertAlmostEqual(_standin.compute_psnr(a, b), 20 * __import__("math").log10((4.2 + 1e-5) / (0.1 + 1e-10)), places=9)
        self.assertTrue(_standin.compute_psnr(a, [float("nan")] * 4) != _standin.compute_psnr(a, [float("nan")] * 4))
        for target in (20.0, 34.95, 35.0, 61.3):
            self.assertAlmostEqual(_standin.compute_psnr(a, _standin.scaled_to_psnr(a, target)), target, places=2)
            self.assertGreaterEqual(_standin.compute_psnr(a, _standin.scaled_to_psnr(a, target)), target)

    def test_the_check_prints_the_in_process_figures(self):
        # Same figures as the converter's own check prints for these parts (deterministic per part and prefix).
        in_process = run(["--model-version", SD, "--convert-vae-decoder", "--convert-unet", "--check-output-correctness",
                          "-o", self.out("in-process")])
        self.assertOk(in_process)
        expected = [(m.group(1), m.group(4)) for m in map(PARITY_PSNR_RE.search, lines(in_process.stderr)) if m]
        self.convert("--convert-vae-decoder", "--convert-unet")
        proc = self.parity("--convert-vae-decoder", "--convert-unet", "--check-compute-unit", "CPU_ONLY")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        got = [(m.group(1), m.group(4)) for m in map(PARITY_PSNR_RE.search, lines(proc.stderr)) if m]
        self.assertEqual(len(got), 3)
        self.assertEqual(got, expected)
        self.assertEqual(proc.stderr.count("dB > 35 dB (minimum allowed) parity check passed"), 3)
        self.assertRegex(proc.stderr, r"parity: peak RSS \d+ bytes")

    def test_standin_psnr_drives_the_check_and_below_35_fails(self):
        self.convert("--convert-text-encoder", "--convert-vae-encoder")
        proc = self.parity("--convert-text-encoder", "--convert-vae-encoder", STANDIN_PSNR="vae_encoder=20.4")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("vae_encoder baseline PyTorch to baseline CoreML: PSNR changed by", proc.stderr)
        self.assertIn("-> 20.4)", proc.stderr)
        self.assertIn("ValueError: 20.4 dB is too low!", proc.stderr)
        self.assertNotIn("text_encoder baseline", proc.stderr)  # vae_encoder comes first and stops the run
        nan = self.parity("--convert-text-encoder", STANDIN_PSNR="text_encoder=nan")
        self.assertEqual(nan.returncode, 0, nan.stderr)  # nan passes upstream's floor
        self.assertIn("-> nan)", nan.stderr)

    def test_the_fake_core_ml_records_its_compute_unit_and_checks_the_inputs(self):
        self.convert("--convert-unet")
        log = os.path.join(self.tmp, "calls.jsonl")
        proc = self.parity("--convert-unet", "--check-compute-unit", "CPU_AND_GPU", STANDIN_INVOCATIONS=log)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(log, encoding="utf-8") as f:
            calls = [json.loads(line) for line in f]
        self.assertEqual([(c["module"], c["compute_unit"]) for c in calls],
                         [("python_coreml_stable_diffusion._standin.parity_predict", "CPU_AND_GPU")])
        # A reference whose inputs are not the package's fails as Core ML does.
        folder = os.path.join(self.out(), ".coreml-action", "parity", "unet")
        with zipfile.ZipFile(os.path.join(folder, "inputs.npz")) as z:
            entries = {n: z.read(n) for n in z.namelist() if n != "sample.npy"}
        with zipfile.ZipFile(os.path.join(folder, "inputs.npz"), "w") as z:
            for name, data in entries.items():
                z.writestr(name, data)
        proc = self.parity("--convert-unet", "--parity-half", "check")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("RuntimeError: Error computing NN outputs", proc.stderr)


class PerPartFunctionTest(TempDirCase):
    """The per-part functions with upstream's signatures, called by an importer (the action's
    python/lean_convert.py) with a pipe-like object: they write from what they read of it."""

    SCRIPT = """
import json, sys
from types import SimpleNamespace as NS
from python_coreml_stable_diffusion import torch2coreml as t
args = t.parser_spec().parse_args(sys.argv[1:])
cfg = lambda **kw: NS(config=NS(**kw))
pipe = NS(unet=cfg(sample_size=48, in_channels=4, cross_attention_dim=1024, block_out_channels=[320, 640, 1280, 1280],
                   use_linear_projection=True, layers_per_block=2),
          vae=cfg(latent_channels=4), text_encoder=cfg(max_position_embeddings=64, hidden_size=1024), config=NS())
t.convert_vae_decoder(pipe, args)
t.convert_unet(pipe, args)
print(json.dumps(hasattr(pipe, "unet")))
t.convert_text_encoder(cfg(hidden_size=1024), NS(model_max_length=64), "text_encoder", args)
try:
    t.convert_vae_encoder(pipe, args)
except RuntimeError as error:
    print(json.dumps(str(error)))
"""

    def facts(self, part):
        with open(os.path.join(self.sd_path(part), "Data", "com.apple.CoreML", "standin.json"), encoding="utf-8") as f:
            return json.load(f)

    def test_they_write_from_the_pipe_they_are_given_and_log_as_upstream(self):
        log = os.path.join(self.tmp, "calls.jsonl")
        flags = ["--model-version", SD, "-o", self.out(), "--convert-unet"]
        proc = subprocess.run([sys.executable, "-c", self.SCRIPT, *flags], env=clean_env(STANDIN_INVOCATIONS=log),
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.splitlines(), [
            "false", '"convert_unet() deletes pipe.unet to save RAM. Please use convert_vae_encoder() before convert_unet()"'])
        self.assertEqual(self.facts("vae_decoder")["input_shapes"]["z"], [1, 4, 48, 48])
        unet = self.facts("unet")["input_shapes"]
        self.assertEqual(unet["sample"], [2, 4, 48, 48])
        self.assertEqual(unet["encoder_hidden_states"], [2, 1024, 1, 64])
        text = self.facts("text_encoder")
        self.assertEqual(text["output_shapes"]["last_hidden_state"], [1, 64, 1024])
        self.assertIsNone(text["latent_h"])
        self.assertIn("WARNING:python_coreml_stable_diffusion.unet:`use_linear_projection=True` is ignored!", proc.stderr)
        self.assertIn(f"INFO:python_coreml_stable_diffusion.torch2coreml:Saved unet into {self.sd_path('unet')}", proc.stderr)
        with open(log, encoding="utf-8") as f:
            modules = [json.loads(ln)["module"].rsplit(".", 1)[1] for ln in f.read().splitlines()]
        self.assertEqual(modules, ["convert_vae_decoder", "convert_unet", "convert_text_encoder", "convert_vae_encoder"])


class WheelTest(TempDirCase):
    def test_build_install_and_run(self):
        dist = os.path.join(self.tmp, "dist")
        proc = subprocess.run([sys.executable, os.path.join(STANDIN_DIR, "build_wheel.py"), dist],
                              capture_output=True, text=True, env=clean_env(), timeout=60)
        self.assertOk(proc)
        wheel = proc.stdout.strip().splitlines()[-1]
        self.assertEqual(os.path.basename(wheel), "python_coreml_stable_diffusion-1.1.0+standin-py3-none-any.whl")
        self.assertTrue(os.path.isfile(wheel))
        with zipfile.ZipFile(wheel) as zf:
            di = "python_coreml_stable_diffusion-1.1.0+standin.dist-info"
            wheel_meta = zf.read(f"{di}/WHEEL").decode()
            self.assertIn("Root-Is-Purelib: true", wheel_meta)
            self.assertIn("Tag: py3-none-any", wheel_meta)
            self.assertIn("stand-in", zf.read(f"{di}/METADATA").decode().lower())
            for row in zf.read(f"{di}/RECORD").decode().splitlines():
                name, digest, size = row.split(",")
                if name.endswith("RECORD"):
                    continue
                data = zf.read(name)
                self.assertEqual(int(size), len(data))
                expect = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                self.assertEqual(digest, "sha256=" + expect)
            self.assertFalse([n for n in zf.namelist() if "__pycache__" in n or n.startswith("tests/")])

        venv = os.path.join(self.tmp, "V")
        env = clean_env()
        del env["PYTHONPATH"]
        py = os.path.join(venv, "bin", "python")
        if os.environ.get("STANDIN_TEST_VENV_PIP") == "1":
            # exactly `python3 -m venv V && V/bin/pip install ...` (ensurepip costs ~6 s)
            subprocess.run([sys.executable, "-m", "venv", venv], check=True, env=env, timeout=120)
            pip = [os.path.join(venv, "bin", "pip")]
        else:
            # same pip, pointed at a pip-less fresh venv: much faster
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, env=env, timeout=120)
            pip = [sys.executable, "-m", "pip", "--python", py]
        proc = subprocess.run(pip + ["install", "--no-index", "--no-deps", wheel], capture_output=True, text=True,
                              env=env, timeout=120)
        self.assertOk(proc)
        freeze = subprocess.run(pip + ["freeze"], capture_output=True, text=True, env=env, timeout=60).stdout
        self.assertRegex(freeze.lower(), r"python[-_]coreml[-_]stable[-_]diffusion")
        proc = run(["--model-version", SD, "--convert-vae-decoder", "-o", "o"], cwd=self.tmp, python=py, env=env)
        self.assertOk(proc)
        self.assertTrue(os.path.isdir(os.path.join(self.tmp, "o", os.path.basename(self.sd_path("vae_decoder")))))
        where = subprocess.run([py, "-c", "import python_coreml_stable_diffusion as p; print(p.__file__)"],
                               capture_output=True, text=True, env=env, cwd=self.tmp).stdout
        self.assertIn(os.path.join(venv, "lib"), where)


if __name__ == "__main__":
    unittest.main()

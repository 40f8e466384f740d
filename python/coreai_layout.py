"""The Core AI bundle's layout: what a Stable Diffusion bundle for Apple's Core AI holds, under
which names, and its metadata.json. Standard library only; shared by coreai_export.py (which writes
bundles) and coreai_image.py (which runs them), so the names live here once.

A bundle is one folder:

    BUNDLE/metadata.json          {"metadata_version": "0.2", "kind": "diffusion", "assets": {...},
                                   "diffusion": {...}, ...}  (write_metadata below)
    BUNDLE/TextEncoder.aimodel/   one folder per part (main.mlirb, main.hash, metadata.json inside,
    BUNDLE/Unet.aimodel/          as coreai's save_asset writes them)
    BUNDLE/VAEDecoder.aimodel/
    BUNDLE/VAEEncoder.aimodel/    (optional for text-to-image: image-to-image only)
    BUNDLE/tokenizer/vocab.json, merges.txt (and the rest of the model's tokenizer folder)

Facts, read in apple/coreai-models at commit 86b363d (for names and shapes only):
- swift/Sources/CoreAIDiffusionPipeline/Pipelines/PipelineDescriptor.swift: metadata.json is read
  first (`loadFromMetadata`): it needs a "diffusion" object (decoded with snake_case keys into
  type, version, prediction_type, image_size, scheduler {training_steps, beta_start, beta_end,
  beta_schedule}, encoder_scale_factor, decoder_scale_factor, decoder_shift_factor, ...) and an
  "assets" object of strings, looked up as text_encoder, text_encoder_2, unet (or transformer),
  vae_decoder, vae_encoder. Pipeline types: "stable-diffusion", "stable-diffusion-xl",
  "stable-diffusion-3", "flux2". Unknown keys are ignored by its decoder.
- swift/Sources/CoreAIDiffusionPipeline/Schedulers/PNDMScheduler.swift: prediction types
  "epsilon", "v_prediction", "flow", "flow_matching" (SD 2.x 768 is v_prediction; the runtime's
  PNDM and DPM-Solver schedulers take it from the descriptor).
- swift/Sources/CoreAIDiffusionPipeline/Pipelines/PipelineDescriptor+CoreAI.swift: unet and
  vae_decoder are required, text_encoder too, vae_encoder optional; image_size is checked against
  the unet's "sample" input (shape[2] * 8); defaults when absent: type stable-diffusion, epsilon,
  decoder scale 0.18215; the tokenizer is vocab.json + merges.txt at the bundle's top level or in
  tokenizer/; the text encoder's sequence length is read from its input (77 otherwise).
- swift/Sources/CoreAIDiffusionPipeline/Pipelines/StableDiffusionPipeline.swift: square images
  only (image_size); classifier-free guidance as one unet call on a batch of 2 (uncond, cond);
  latents divided by decoder_scale_factor before the VAE decoder.
- swift/Sources/CoreAIDiffusionPipeline/Components/CoreAITextEncoder.swift: one input, int32, shape
  [1, 77]; the rank-3 output is the hidden state. CoreAIDenoiser.swift: inputs "sample",
  "timestep" (shape [batch], float), "encoder_hidden_states". CoreAILatentCodec.swift: the decoder
  gets z = latents / scale (+ shift) and returns [1, 3, H, W] in [-1, 1] (so post_quant_conv is in
  the model, the scaling is not); the encoder gets an image in [-1, 1] and its output times
  encoder_scale_factor is the latent (its first 4 channels: the mean).
- python/src/coreai_models/diffusion/components.py and pipeline.py: the asset names (TextEncoder,
  Unet, VAEDecoder, VAEEncoder; TextEncoder2 for a second CLIP), the input and output names below,
  the metadata.json fields and version "0.2".
"""

import json
import os
import shutil

METADATA_FILE = "metadata.json"
METADATA_VERSION = "0.2"
KIND = "diffusion"
ASSET_SUFFIX = ".aimodel"
PARTIAL_SUFFIX = ".partial"
TOKENIZER_DIRS = ("tokenizer", "tokenizer_2")
TOKENIZER_FILES = ("vocab.json", "merges.txt")  # what the Swift BPETokenizer reads

# Part (the key in metadata.json's "assets", and the diffusers subfolder it comes from) -> asset.
ASSET_NAMES = {
    "text_encoder": "TextEncoder",
    "text_encoder_2": "TextEncoder2",
    "unet": "Unet",
    "vae_decoder": "VAEDecoder",
    "vae_encoder": "VAEEncoder",
}
SD_PARTS = ("text_encoder", "unet", "vae_decoder", "vae_encoder")
SDXL_PARTS = ("text_encoder", "text_encoder_2", "unet", "vae_decoder", "vae_encoder")
REQUIRED_PARTS = ("text_encoder", "unet", "vae_decoder")  # what the Swift runtime refuses to load without
SOURCE_FOLDERS = {"text_encoder": "text_encoder", "text_encoder_2": "text_encoder_2", "unet": "unet",
                  "vae_decoder": "vae", "vae_encoder": "vae"}

# Input and output names of each part's model, in order.
INPUT_NAMES = {
    "text_encoder": ("input_ids",),
    "text_encoder_2": ("input_ids",),
    "unet": ("sample", "timestep", "encoder_hidden_states"),
    "vae_decoder": ("z",),
    "vae_encoder": ("image",),
}
SDXL_UNET_INPUT_NAMES = ("sample", "timestep", "encoder_hidden_states", "text_embeds", "time_ids")
SDXL_TEXT_ENCODER_OUTPUT_NAMES = ("hidden_embeds",)  # SDXL's first encoder: the penultimate hidden state
OUTPUT_NAMES = {
    "text_encoder": ("last_hidden_state",),
    # SDXL's second encoder: the penultimate hidden state (what SDXL's pipeline conditions on) and the
    # projected pooled output; named as Apple's recipe names a pooled CLIP's outputs (SD3).
    "text_encoder_2": ("hidden_embeds", "pooled_outputs"),
    "unet": ("noise_pred",),
    "vae_decoder": ("image",),
    "vae_encoder": ("latent_params",),
}

TEXT_LENGTH = 77
UNET_BATCH = 2  # classifier-free guidance: uncond and cond in one call
LATENT_FACTOR = 8

PIPELINE_TYPES = {"sd": "stable-diffusion", "sdxl": "stable-diffusion-xl"}
PREDICTION_TYPES = ("epsilon", "v_prediction")
DEFAULT_SCALING_FACTOR = 0.18215


class LayoutError(Exception):
    """A bundle or model folder that does not have what the layout needs."""


def asset_file(part):
    """`Unet.aimodel` for "unet"."""
    if part not in ASSET_NAMES:
        raise LayoutError(f"unknown part {part!r}: expected one of {', '.join(ASSET_NAMES)}")
    return ASSET_NAMES[part] + ASSET_SUFFIX


def asset_path(bundle, part):
    return os.path.join(bundle, asset_file(part))


def parts_for(kind):
    """The parts a bundle of kind "sd" or "sdxl" is exported with."""
    return SDXL_PARTS if kind == "sdxl" else SD_PARTS


def input_shapes(part, height=512, width=512, batch=UNET_BATCH, config=None):
    """{input name: (shape, dtype name)} of a part's model at an image size. config: the part's
    diffusers config dict (cross_attention_dim, in_channels, latent_channels; SD 1.5 values when
    absent)."""
    config = config or {}
    if height % LATENT_FACTOR or width % LATENT_FACTOR:
        raise LayoutError(f"height and width must be multiples of {LATENT_FACTOR}, got {height}x{width}")
    h, w = height // LATENT_FACTOR, width // LATENT_FACTOR
    latent = config.get("latent_channels", 4)
    if part in ("text_encoder", "text_encoder_2"):
        return {"input_ids": ((1, TEXT_LENGTH), "int32")}
    if part == "unet":
        cross = config.get("cross_attention_dim", 768)
        cross = cross[0] if isinstance(cross, (list, tuple)) else cross
        return {"sample": ((batch, config.get("in_channels", 4), h, w), "float"),
                "timestep": ((batch,), "float"),
                "encoder_hidden_states": ((batch, TEXT_LENGTH, cross), "float")}
    if part == "vae_decoder":
        return {"z": ((1, latent, h, w), "float")}
    if part == "vae_encoder":
        return {"image": ((1, config.get("in_channels", 3), height, width), "float")}
    raise LayoutError(f"no input shapes for part {part!r}")


def _read_json(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise LayoutError(f"cannot read {what} ({path}): {error}") from error


def model_kind(model):
    """"sdxl" when the diffusers folder has a second text encoder (its model_index.json names one;
    without an index, a text_encoder_2/ folder), else "sd"."""
    index = _read_json(os.path.join(model, "model_index.json"), "model_index.json")
    if index is None:
        return "sdxl" if os.path.isdir(os.path.join(model, "text_encoder_2")) else "sd"
    second = index.get("text_encoder_2")
    return "sdxl" if isinstance(second, list) and any(second) else "sd"


def diffusion_config(model, height, width, kind=None):
    """metadata.json's "diffusion" object, from a local diffusers folder's config files (scheduler,
    vae) and the image size the parts were exported at (square: the Swift runtime reads one
    image_size)."""
    if height != width:
        raise LayoutError(f"Core AI's Swift pipeline makes square images only (image_size), got {height}x{width}")
    kind = kind or model_kind(model)
    scheduler = _read_json(os.path.join(model, "scheduler", "scheduler_config.json"), "the scheduler config") or {}
    vae = _read_json(os.path.join(model, "vae", "config.json"), "the vae config") or {}
    prediction = scheduler.get("prediction_type") or "epsilon"
    if prediction not in PREDICTION_TYPES:
        raise LayoutError(f"prediction_type {prediction!r} in the scheduler config: Core AI's Stable Diffusion "
                          f"pipeline knows {', '.join(PREDICTION_TYPES)}")
    scaling = vae.get("scaling_factor") or DEFAULT_SCALING_FACTOR
    shift = vae.get("shift_factor") or 0.0
    return {
        "type": PIPELINE_TYPES[kind],
        "prediction_type": prediction,
        "encoder_scale_factor": scaling,
        "decoder_scale_factor": scaling,
        "decoder_shift_factor": shift,
        "image_size": height,
        "default_guidance_scale": 7.5,
        "default_steps": 50,
        "scheduler": {
            "training_steps": scheduler.get("num_train_timesteps", 1000),
            "beta_start": scheduler.get("beta_start", 0.00085),
            "beta_end": scheduler.get("beta_end", 0.012),
            "beta_schedule": scheduler.get("beta_schedule", "scaled_linear"),
        },
    }


def build_metadata(name, parts, diffusion, compression="none", source=None, date=None):
    """The bundle's metadata.json as a dict. parts: the parts present (their assets are named by
    asset_file); compression: "none" is written as null, as Apple's recipe does."""
    metadata = {
        "metadata_version": METADATA_VERSION,
        "kind": KIND,
        "name": name,
        "assets": {part: asset_file(part) for part in parts},
        "diffusion": diffusion,
        "source": {"model_definition": "torch", **(source or {})},
        "compression": None if compression in (None, "none") else compression,
        "compilation": {"targets": []},
    }
    if date:
        metadata["compilation"]["date"] = date
    return metadata


def write_json_atomically(path, data):
    partial = path + PARTIAL_SUFFIX
    try:
        with open(partial, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise


def write_metadata(bundle, metadata):
    """metadata.json written into bundle (partial file, then rename). Returns its path."""
    path = os.path.join(bundle, METADATA_FILE)
    write_json_atomically(path, metadata)
    return path


def read_metadata(bundle):
    """The bundle's metadata.json, checked for what the Swift runtime needs."""
    metadata = _read_json(os.path.join(bundle, METADATA_FILE), "the bundle's metadata.json")
    if metadata is None:
        raise LayoutError(f"{bundle} has no {METADATA_FILE}")
    if metadata.get("kind") != KIND or not isinstance(metadata.get("diffusion"), dict) \
            or not isinstance(metadata.get("assets"), dict):
        raise LayoutError(f"{bundle}/{METADATA_FILE} is not a diffusion bundle's (kind, diffusion, assets)")
    return metadata


def missing_assets(bundle, parts):
    """The asset folders of parts that bundle lacks (a .aimodel folder with a main.mlirb)."""
    return [asset_file(p) for p in parts if not os.path.isfile(os.path.join(asset_path(bundle, p), "main.mlirb"))]


def copy_tokenizers(model, bundle, kind="sd"):
    """The model folder's tokenizer/ (and tokenizer_2/ for SDXL) copied into bundle, each through a
    partial folder. Raises LayoutError when a folder lacks vocab.json or merges.txt. Returns the
    folders copied."""
    copied = []
    for folder in TOKENIZER_DIRS[: 2 if kind == "sdxl" else 1]:
        source = os.path.join(model, folder)
        lacking = [f for f in TOKENIZER_FILES if not os.path.isfile(os.path.join(source, f))]
        if lacking:
            raise LayoutError(f"the model folder's {folder}/ has no {', '.join(lacking)}")
        target = os.path.join(bundle, folder)
        partial = target + PARTIAL_SUFFIX
        shutil.rmtree(partial, ignore_errors=True)
        try:
            shutil.copytree(source, partial)
            shutil.rmtree(target, ignore_errors=True)
            os.rename(partial, target)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        copied.append(folder)
    return copied

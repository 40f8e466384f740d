"""Writes a full-size Stable Diffusion pipeline with random weights, from the published configs of
runwayml/stable-diffusion-v1-5 (sd15), stabilityai/stable-diffusion-2-1-base (sd21) or
stabilityai/stable-diffusion-xl-base-1.0 (sdxl): the same architectures and parameter counts,
nothing downloaded. Laid out as diffusers saves it, fp16 variant safetensors only (what Apple's
torch2coreml loads), for bench/convert-memory.mjs (not in CI: several GB, minutes to build).

  python bench/full_size_pipeline.py OUT --kind sd15|sd21|sdxl

Runs with any Python that has torch, diffusers and transformers (the converter's venv, or .venv).
The tokenizer is a CLIP BPE tokenizer over a handful of words (the real format, not the real
vocabulary, which would need a download): the converter reads only its model_max_length (77).
No safety checker (the action does not convert it by default).
"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "python"))

import torch  # noqa: E402
from diffusers import (AutoencoderKL, EulerDiscreteScheduler, PNDMScheduler,  # noqa: E402
                       StableDiffusionPipeline, StableDiffusionXLPipeline, UNet2DConditionModel)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection  # noqa: E402

from tiny_pipeline import tokenizer  # noqa: E402

SCHEDULER = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
                 steps_offset=1, set_alpha_to_one=False)


def clip_text(hidden, layers, heads, intermediate, act, projection, with_projection=False):
    config = CLIPTextConfig(vocab_size=49408, hidden_size=hidden, intermediate_size=intermediate,
                            num_hidden_layers=layers, num_attention_heads=heads, max_position_embeddings=77,
                            hidden_act=act, projection_dim=projection, bos_token_id=0, eos_token_id=2, pad_token_id=1)
    return (CLIPTextModelWithProjection if with_projection else CLIPTextModel)(config)


def vae(sample_size, scaling_factor=0.18215):
    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(128, 256, 512, 512),
                         layers_per_block=2, norm_num_groups=32, sample_size=sample_size, act_fn="silu",
                         down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                         scaling_factor=scaling_factor)


def sd_unet(cross, heads, linear):
    return UNet2DConditionModel(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
                                block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=cross,
                                attention_head_dim=heads, use_linear_projection=linear, norm_num_groups=32,
                                down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                                up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)


def build(kind, scratch):
    torch.manual_seed(0)
    if kind == "sd15":
        return StableDiffusionPipeline(
            vae=vae(512), text_encoder=clip_text(768, 12, 12, 3072, "quick_gelu", 768), tokenizer=tokenizer(scratch),
            unet=sd_unet(768, 8, False), scheduler=PNDMScheduler(skip_prk_steps=True, **SCHEDULER),
            safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    if kind == "sd21":
        return StableDiffusionPipeline(
            vae=vae(512), text_encoder=clip_text(1024, 23, 16, 4096, "gelu", 512), tokenizer=tokenizer(scratch),
            unet=sd_unet(1024, (5, 10, 20, 20), True), scheduler=PNDMScheduler(skip_prk_steps=True, **SCHEDULER),
            safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    if kind == "sdxl":
        unet = UNet2DConditionModel(
            sample_size=128, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280),
            transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), cross_attention_dim=2048,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"), use_linear_projection=True,
            addition_embed_type="text_time", addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816,
            norm_num_groups=32)
        return StableDiffusionXLPipeline(
            vae=vae(1024, 0.13025), text_encoder=clip_text(768, 12, 12, 3072, "quick_gelu", 768),
            text_encoder_2=clip_text(1280, 32, 20, 5120, "gelu", 1280, with_projection=True),
            tokenizer=tokenizer(scratch), tokenizer_2=tokenizer(scratch + "2"), unet=unet,
            scheduler=EulerDiscreteScheduler(**{k: v for k, v in SCHEDULER.items() if k != "set_alpha_to_one"}))
    raise SystemExit(f"unknown kind {kind}")


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--kind", required=True, choices=("sd15", "sd21", "sdxl"))
    args = parser.parse_args(argv)
    with torch.no_grad():
        pipe = build(args.kind, os.path.join(tempfile.mkdtemp(prefix="full-tokenizer-"), "t"))
        for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
            model = getattr(pipe, name, None)
            if model is not None:
                print(f"{name}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters", flush=True)
        pipe.to(torch.float16).save_pretrained(args.out, safe_serialization=True, variant="fp16")
    print(args.out)


if __name__ == "__main__":
    sys.exit(main())

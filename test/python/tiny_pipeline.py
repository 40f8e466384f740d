"""Writes tiny Stable Diffusion pipelines with real diffusers (random weights, a few hundred KB),
laid out as stabilityai's repositories are: model_index.json, one folder per component, plain and
fp16 safetensors variants. Used by the tests that prove the action's Hub cache and prepare-fp16
against the real loaders.

  python tiny_pipeline.py OUT --kind sd|sd21|sdxl|refiner|controlnet [--variants fp32,fp16]
  python tiny_pipeline.py OUT --kind sd,sdxl,...   one process for several: OUT/<kind> each
"""
import argparse
import json
import os
import sys
import tempfile

import torch

try:  # diffusers 0.36 with torchao 0.18 (coreai-opt's) fails to import (a NameError on `logger` in its
    # torchao quantizer); diffusers' torchao support is not used here, so it is switched off first.
    import diffusers.utils.import_utils as _diffusers_imports
    _diffusers_imports._torchao_available = False
except (ImportError, AttributeError):
    pass
from diffusers import (AutoencoderKL, ControlNetModel, EulerDiscreteScheduler, PNDMScheduler,
                       StableDiffusionPipeline, StableDiffusionXLImg2ImgPipeline,
                       StableDiffusionXLPipeline, UNet2DConditionModel)
from transformers import (CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection,
                          CLIPTokenizer)

VOCAB_WORDS = ["a", "photo", "of", "cat", "dog", "the"]


def tokenizer(folder):
    """A CLIP BPE tokenizer over a handful of words (the real format, not the real vocabulary)."""
    os.makedirs(folder, exist_ok=True)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in "abcdefghijklmnopqrstuvwxyz":
        vocab[ch] = len(vocab)
        vocab[ch + "</w>"] = len(vocab)
    for word in VOCAB_WORDS:
        vocab.setdefault(word + "</w>", len(vocab))
    with open(os.path.join(folder, "vocab.json"), "w") as f:
        json.dump(vocab, f)
    with open(os.path.join(folder, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n")
    # 77 as in every SD tokenizer: torch2coreml sizes its sample text input by model_max_length.
    return CLIPTokenizer(os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt"), model_max_length=77)


def text_config(projection=0, hidden=32, act="quick_gelu"):
    return CLIPTextConfig(vocab_size=128, hidden_size=hidden, intermediate_size=37, num_hidden_layers=2, hidden_act=act,
                          num_attention_heads=4, max_position_embeddings=77, projection_dim=projection or hidden,
                          bos_token_id=0, eos_token_id=1, pad_token_id=1)


def vae():
    return AutoencoderKL(block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=8, latent_channels=4,
                         down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                         sample_size=32)


def unet(xl=False, cross=32, addition=None, linear=False):
    kwargs = dict(use_linear_projection=True) if linear else {}
    if xl:
        kwargs = dict(addition_embed_type="text_time", addition_time_embed_dim=8,
                      projection_class_embeddings_input_dim=addition, transformer_layers_per_block=(1, 1),
                      use_linear_projection=True)
    # Multiples of 32 with 32 groups: torch2coreml's own unet (unet.py) hard-codes 32 resnet groups.
    return UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=1, norm_num_groups=32, sample_size=8,
                                in_channels=4, out_channels=4, cross_attention_dim=cross, attention_head_dim=(2, 4),
                                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), **kwargs)


def build(kind, scratch):
    torch.manual_seed(0)
    if kind == "sd":
        return StableDiffusionPipeline(vae=vae(), text_encoder=CLIPTextModel(text_config()), tokenizer=tokenizer(scratch),
                                       unet=unet(), scheduler=PNDMScheduler(skip_prk_steps=True),
                                       safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    if kind == "sd21":
        # Shaped as SD 2.x: OpenCLIP's gelu text encoder, linear projections in the unet's transformers.
        return StableDiffusionPipeline(vae=vae(), text_encoder=CLIPTextModel(text_config(act="gelu")),
                                       tokenizer=tokenizer(scratch), unet=unet(linear=True),
                                       scheduler=PNDMScheduler(skip_prk_steps=True), safety_checker=None,
                                       feature_extractor=None, requires_safety_checker=False)
    if kind == "sdxl":
        # text_embeds (projection 32) + 6 time ids * 8 = 80
        return StableDiffusionXLPipeline(vae=vae(), text_encoder=CLIPTextModel(text_config()),
                                         text_encoder_2=CLIPTextModelWithProjection(text_config(projection=32)),
                                         tokenizer=tokenizer(scratch), tokenizer_2=tokenizer(scratch + "2"),
                                         unet=unet(xl=True, cross=64, addition=32 + 6 * 8), scheduler=EulerDiscreteScheduler())
    if kind == "refiner":
        return StableDiffusionXLImg2ImgPipeline(vae=vae(), text_encoder=None, tokenizer=None,
                                                text_encoder_2=CLIPTextModelWithProjection(text_config(projection=32)),
                                                tokenizer_2=tokenizer(scratch), unet=unet(xl=True, cross=32, addition=32 + 5 * 8),
                                                scheduler=EulerDiscreteScheduler(), requires_aesthetics_score=True)
    if kind == "controlnet":
        return ControlNetModel(block_out_channels=(32, 64), layers_per_block=1, norm_num_groups=32, in_channels=4,
                               cross_attention_dim=32, attention_head_dim=(2, 4),
                               down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                               conditioning_embedding_out_channels=(8, 8, 16, 16))  # 3 stride-2 convs: the hint is 8x the latent, as in SD
    raise SystemExit(f"unknown kind {kind}")


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--kind", default="sd")
    parser.add_argument("--variants", default="fp32,fp16", help="comma list of fp32 (plain files) and fp16")
    args = parser.parse_args(argv)
    kinds = args.kind.split(",")
    for kind in kinds:
        out = args.out if len(kinds) == 1 else os.path.join(args.out, kind)
        model = build(kind, os.path.join(tempfile.mkdtemp(prefix="tiny-tokenizer-"), "t"))
        for variant in args.variants.split(","):
            if variant == "fp32":
                model.save_pretrained(out, safe_serialization=True)
            elif variant == "fp16":
                model.to(torch.float16).save_pretrained(out, safe_serialization=True, variant="fp16")
                model.to(torch.float32)
            else:
                raise SystemExit(f"unknown variant {variant}")
        print(out)


if __name__ == "__main__":
    sys.exit(main())

"""Writes a tiny Stable Diffusion checkpoint in single-file form (the original LDM / SGM layout that
model sites share: model.diffusion_model.*, first_stage_model.*, cond_stage_model.transformer.* (CLIP)
for SD 1.x, cond_stage_model.model.* (OpenCLIP) for SD 2.x, conditioner.embedders.* for SDXL), from a tiny diffusers pipeline with random weights, and checks it
by loading it back with diffusers' own from_single_file(config=the pipeline folder): every weight
must come back equal, so the file is what diffusers reads as that kind.

  python tiny_single_file.py OUT.safetensors --kind sd1|sd2|sdxl [--from PIPELINE_DIR] [--pipeline DIR]

Without --from, a tiny pipeline is built (tiny_pipeline.py's parts) and saved into --pipeline (default
OUT's stem + "-diffusers" beside OUT): that folder is the `config` the file loads with. The last stdout
line is JSON: {"checkpoint": ..., "pipeline": ..., "kind": ..., "tensors": N}.

The key mapping is ours, written from the two layouts; it is the inverse of what from_single_file
does, which the load-back check proves.
"""
import argparse
import json
import os
import sys
import tempfile

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_pipeline  # noqa: E402

RESNET_PARTS = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
                "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
VAE_RESNET_PARTS = {"conv_shortcut": "nin_shortcut"}
VAE_ATTENTION_PARTS = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
# Where each text encoder sits in the single file.
TEXT_PREFIXES = {
    "sd1": {"text_encoder": "cond_stage_model.transformer."},
    "sd2": {"text_encoder": "cond_stage_model.model."},
    "sdxl": {"text_encoder": "conditioner.embedders.0.transformer.", "text_encoder_2": "conditioner.embedders.1.model."},
}


def build_sdxl(scratch):
    """tiny_pipeline's SDXL parts, but with the second text encoder wider than the first: diffusers
    tells SDXL's two encoders apart in a single file by their width (768 vs 1280 in the real one)."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    first, second, projection = 32, 48, 32
    return StableDiffusionXLPipeline(
        vae=tiny_pipeline.vae(), text_encoder=CLIPTextModel(tiny_pipeline.text_config(hidden=first)),
        text_encoder_2=CLIPTextModelWithProjection(tiny_pipeline.text_config(projection=projection, hidden=second)),
        tokenizer=tiny_pipeline.tokenizer(scratch), tokenizer_2=tiny_pipeline.tokenizer(scratch + "2"),
        # text_embeds (the projection) + 6 time ids * 8
        unet=tiny_pipeline.unet(xl=True, cross=first + second, addition=projection + 6 * 8),
        scheduler=EulerDiscreteScheduler())


def build_sd2(scratch):
    """tiny_pipeline's SD parts with SD 2.1's v-prediction scheduler: in single-file form an SD 2.x
    differs by its OpenCLIP text encoder, and the prediction type comes from the config alone."""
    from diffusers import StableDiffusionPipeline

    pipe = tiny_pipeline.build("sd", scratch)
    scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config, prediction_type="v_prediction")
    return StableDiffusionPipeline(**{**pipe.components, "scheduler": scheduler})


def rename(key, blocks, parts_of):
    """key's longest block prefix replaced by its single-file name, then the part inside the block."""
    for diffusers_block, ldm_block in blocks:
        if key.startswith(diffusers_block + "."):
            rest = key[len(diffusers_block) + 1:]
            for diffusers_part, ldm_part in parts_of(diffusers_block).items():
                if rest.startswith(diffusers_part + "."):
                    rest = ldm_part + rest[len(diffusers_part):]
                    break
            return f"{ldm_block}.{rest}"
    return None


def unet_blocks(config):
    """(diffusers module, LDM module) pairs of a UNet2DConditionModel, longest first."""
    count = len(config["block_out_channels"])
    per_block = config["layers_per_block"]
    pairs = [("time_embedding.linear_1", "time_embed.0"), ("time_embedding.linear_2", "time_embed.2"),
             ("add_embedding.linear_1", "label_emb.0.0"), ("add_embedding.linear_2", "label_emb.0.2"),
             ("conv_in", "input_blocks.0.0"), ("conv_norm_out", "out.0"), ("conv_out", "out.2"),
             ("mid_block.resnets.0", "middle_block.0"), ("mid_block.attentions.0", "middle_block.1"),
             ("mid_block.resnets.1", "middle_block.2")]
    index = 1
    for block in range(count):
        for layer in range(per_block):
            pairs += [(f"down_blocks.{block}.resnets.{layer}", f"input_blocks.{index}.0"),
                      (f"down_blocks.{block}.attentions.{layer}", f"input_blocks.{index}.1")]
            index += 1
        if block < count - 1:
            pairs.append((f"down_blocks.{block}.downsamplers.0.conv", f"input_blocks.{index}.0.op"))
            index += 1
    index = 0
    for block, kind in enumerate(config["up_block_types"]):
        for layer in range(per_block + 1):
            pairs += [(f"up_blocks.{block}.resnets.{layer}", f"output_blocks.{index}.0"),
                      (f"up_blocks.{block}.attentions.{layer}", f"output_blocks.{index}.1")]
            if block < count - 1 and layer == per_block:
                # the upsampler follows the attention when the block has one
                pairs.append((f"up_blocks.{block}.upsamplers.0.conv",
                              f"output_blocks.{index}.{2 if 'CrossAttn' in kind else 1}.conv"))
            index += 1
    return sorted(pairs, key=lambda p: -len(p[0]))


def vae_blocks(config):
    count = len(config["block_out_channels"])
    pairs = [("encoder.conv_norm_out", "encoder.norm_out"), ("decoder.conv_norm_out", "decoder.norm_out")]
    for side in ("encoder", "decoder"):
        pairs += [(f"{side}.mid_block.resnets.0", f"{side}.mid.block_1"), (f"{side}.mid_block.resnets.1", f"{side}.mid.block_2"),
                  (f"{side}.mid_block.attentions.0", f"{side}.mid.attn_1")]
    for block in range(count):
        up = count - 1 - block  # the LDM decoder numbers its levels from the bottom
        for layer in range(config["layers_per_block"] + 1):
            pairs += [(f"encoder.down_blocks.{block}.resnets.{layer}", f"encoder.down.{block}.block.{layer}"),
                      (f"decoder.up_blocks.{block}.resnets.{layer}", f"decoder.up.{up}.block.{layer}")]
        pairs += [(f"encoder.down_blocks.{block}.downsamplers.0.conv", f"encoder.down.{block}.downsample.conv"),
                  (f"decoder.up_blocks.{block}.upsamplers.0.conv", f"decoder.up.{up}.upsample.conv")]
    return sorted(pairs, key=lambda p: -len(p[0]))


def unet_tensors(unet):
    blocks = unet_blocks(unet.config)
    out = {}
    for key, tensor in unet.state_dict().items():
        name = rename(key, blocks, lambda block: RESNET_PARTS if ".resnets." in block or block.startswith("mid_block.resnets") else {})
        out["model.diffusion_model." + (name or key)] = tensor
    return out


def vae_tensors(vae):
    blocks = vae_blocks(vae.config)
    out = {}
    for key, tensor in vae.state_dict().items():
        in_attention = ".mid_block.attentions." in key
        name = rename(key, blocks, lambda block: VAE_ATTENTION_PARTS if in_attention else VAE_RESNET_PARTS)
        if in_attention and key.endswith(".weight") and tensor.ndim == 2:
            tensor = tensor[:, :, None, None]  # the LDM VAE's attention projections are 1x1 convolutions
        out["first_stage_model." + (name or key)] = tensor
    return out


def open_clip_tensors(encoder, prefix):
    """A CLIP text model in OpenCLIP's layout (SD 2.x's text encoder, SDXL's second)."""
    state = encoder.state_dict()
    hidden = encoder.config.hidden_size
    # SD 2.x's CLIPTextModel has no projection, but its files hold OpenCLIP's (diffusers reads the
    # attention width from it): an identity stands in.
    projection = state["text_projection.weight"] if "text_projection.weight" in state else torch.eye(hidden)
    out = {prefix + "token_embedding.weight": state["text_model.embeddings.token_embedding.weight"],
           prefix + "positional_embedding": state["text_model.embeddings.position_embedding.weight"],
           prefix + "ln_final.weight": state["text_model.final_layer_norm.weight"],
           prefix + "ln_final.bias": state["text_model.final_layer_norm.bias"],
           prefix + "text_projection": projection.T.contiguous()}
    parts = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj",
             "self_attn.out_proj": "attn.out_proj"}
    for layer in range(encoder.config.num_hidden_layers):
        source, target = f"text_model.encoder.layers.{layer}.", f"{prefix}transformer.resblocks.{layer}."
        for name, ldm in parts.items():
            for leaf in ("weight", "bias"):
                out[f"{target}{ldm}.{leaf}"] = state[f"{source}{name}.{leaf}"]
        for leaf in ("weight", "bias"):  # q, k and v in one projection
            out[f"{target}attn.in_proj_{leaf}"] = torch.cat([state[f"{source}self_attn.{p}_proj.{leaf}"] for p in "qkv"])
    return out


def single_file_tensors(pipe, kind):
    tensors = {**unet_tensors(pipe.unet), **vae_tensors(pipe.vae)}
    for component, prefix in TEXT_PREFIXES[kind].items():
        encoder = getattr(pipe, component)
        if prefix.endswith(".model."):
            tensors.update(open_clip_tensors(encoder, prefix))
        else:
            tensors.update({prefix + key: t for key, t in encoder.state_dict().items() if not key.endswith("position_ids")})
    return {k: v.contiguous() for k, v in tensors.items()}


def check_loads_back(checkpoint, pipeline_dir, pipe, kind):
    """from_single_file(config=pipeline_dir) must give every weight of pipe back."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    cls = StableDiffusionXLPipeline if kind == "sdxl" else StableDiffusionPipeline
    loaded = cls.from_single_file(checkpoint, config=pipeline_dir, local_files_only=True)
    for component in ("unet", "vae", *TEXT_PREFIXES[kind]):
        want, got = getattr(pipe, component).state_dict(), getattr(loaded, component).state_dict()
        missing = sorted(set(want) - set(got))
        if missing:
            raise SystemExit(f"{component}: from_single_file did not give back {missing[:5]}")
        different = [k for k in want if not torch.equal(want[k], got[k])]
        if different:
            raise SystemExit(f"{component}: from_single_file gave other values for {different[:5]}")


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write a tiny single-file SD checkpoint.")
    parser.add_argument("out", help="the .safetensors file to write")
    parser.add_argument("--kind", choices=sorted(TEXT_PREFIXES), required=True)
    parser.add_argument("--from", dest="source", help="an existing tiny diffusers pipeline folder")
    parser.add_argument("--pipeline", help="where the built pipeline goes (without --from)")
    args = parser.parse_args(argv)
    from diffusers import DiffusionPipeline

    out = os.path.abspath(args.out)
    if args.source:
        pipeline_dir = os.path.abspath(args.source)
        pipe = DiffusionPipeline.from_pretrained(pipeline_dir)
    else:
        pipeline_dir = os.path.abspath(args.pipeline or os.path.splitext(out)[0] + "-diffusers")
        scratch = os.path.join(tempfile.mkdtemp(prefix="tiny-tokenizer-"), "t")
        pipe = {"sdxl": build_sdxl, "sd2": build_sd2}.get(args.kind, lambda s: tiny_pipeline.build("sd", s))(scratch)
        pipe.save_pretrained(pipeline_dir, safe_serialization=True)
    if args.kind == "sdxl" and pipe.text_encoder.config.hidden_size == pipe.text_encoder_2.config.hidden_size:
        raise SystemExit("SDXL's two text encoders must differ in width: diffusers tells them apart by it")
    tensors = single_file_tensors(pipe, args.kind)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    save_file(tensors, out)
    check_loads_back(out, pipeline_dir, pipe, args.kind)
    print(json.dumps({"checkpoint": out, "pipeline": pipeline_dir, "kind": args.kind, "tensors": len(tensors)}))


if __name__ == "__main__":
    sys.exit(main())

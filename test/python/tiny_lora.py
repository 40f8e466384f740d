"""Writes a tiny LoRA for a tiny diffusers pipeline (test/python/tiny_pipeline.py or the pipeline
tiny_single_file.py saves), made with peft (random A and B, so the merge has a visible effect), and
the effect it should have once merged, for the numeric check of the merge.

  python tiny_lora.py OUT.safetensors --base PIPELINE_DIR [--rank 4] [--alpha A] [--seed 0]
                      [--format diffusers|kohya]

--format diffusers (default): the file diffusers' save_lora_weights writes (peft names:
unet.<module>.lora_A.weight / lora_B.weight, text_encoder.*, text_encoder_2.*). That format stores no
alpha, so diffusers loads it with alpha = rank: --alpha must be the rank (its default).
--format kohya: the layout most shared LoRAs have (lora_unet_<module_with_underscores>.lora_down.weight,
.lora_up.weight, .alpha; lora_te_ for SD's text encoder, lora_te1_/lora_te2_ for SDXL's), alpha stored,
so alpha/rank scales the effect (default alpha: rank / 2).

Beside OUT, OUT's stem + ".expected.safetensors" holds, for every weight the LoRA changes, the change
at scale 1: alpha / rank * B @ A, keyed by the weight's name in the pipeline (`unet.<module>.weight`,
`text_encoder.<module>.weight`), computed by peft from the adapter itself. Merged at scale s, a weight W
becomes W + s * expected. The last stdout line is JSON describing what was written.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

import torch
from safetensors.torch import save_file

TARGETS = {"unet": ["to_q", "to_k", "to_v", "to_out.0"],
           "text_encoder": ["q_proj", "k_proj", "v_proj", "out_proj"],
           "text_encoder_2": ["q_proj", "k_proj", "v_proj", "out_proj"]}
KOHYA_PREFIXES = {"sd": {"unet": "lora_unet_", "text_encoder": "lora_te_"},
                  "sdxl": {"unet": "lora_unet_", "text_encoder": "lora_te1_", "text_encoder_2": "lora_te2_"}}


def expected_path(out):
    return (out[: -len(".safetensors")] if out.endswith(".safetensors") else out) + ".expected.safetensors"


def add_random_adapter(model, targets, rank, alpha):
    """A LoRA adapter on `targets`, with random A and B (peft starts B at zero: no effect)."""
    from peft import LoraConfig

    model.add_adapter(LoraConfig(r=rank, lora_alpha=alpha, target_modules=targets, init_lora_weights="gaussian"))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_A" in name or "lora_B" in name:
                parameter.normal_(0.0, 0.2)


def expected_changes(component, model):
    """`component.<module>.weight` -> alpha / rank * B @ A for every module with the adapter."""
    from peft.tuners.lora import LoraLayer

    return {f"{component}.{name}.weight": module.get_delta_weight("default").detach().clone().contiguous()
            for name, module in model.named_modules() if isinstance(module, LoraLayer)}


def kohya_tensors(prefix, peft_state, alpha):
    """peft's `<module>.lora_A.weight` / `lora_B.weight` as kohya's lora_down / lora_up + alpha."""
    out = {}
    for key, tensor in peft_state.items():
        module, _, part = key.rpartition(".lora_")
        name = prefix + module.replace(".", "_")
        out[f"{name}.lora_down.weight" if part == "A.weight" else f"{name}.lora_up.weight"] = tensor.contiguous()
        out[f"{name}.alpha"] = torch.tensor(float(alpha))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write a tiny LoRA for a tiny pipeline.")
    parser.add_argument("out")
    parser.add_argument("--base", required=True, help="the tiny diffusers pipeline folder the LoRA is for")
    parser.add_argument("--rank", type=int, default=4)
    parser.add_argument("--alpha", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=("diffusers", "kohya"), default="diffusers")
    args = parser.parse_args(argv)
    from diffusers import DiffusionPipeline
    from peft.utils import get_peft_model_state_dict

    alpha = args.alpha if args.alpha is not None else (args.rank if args.format == "diffusers" else args.rank / 2)
    if args.format == "diffusers" and alpha != args.rank:
        raise SystemExit("--format diffusers stores no alpha (diffusers loads it as alpha = rank): leave --alpha out")
    pipe = DiffusionPipeline.from_pretrained(args.base)
    kind = "sdxl" if getattr(pipe, "text_encoder_2", None) is not None else "sd"
    torch.manual_seed(args.seed)
    layers, expected = {}, {}
    for component in KOHYA_PREFIXES[kind]:
        model = getattr(pipe, component)
        add_random_adapter(model, TARGETS[component], args.rank, alpha)
        layers[component] = get_peft_model_state_dict(model)
        expected.update(expected_changes(component, model))

    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    if args.format == "kohya":
        tensors = {}
        for component, state in layers.items():
            tensors.update(kohya_tensors(KOHYA_PREFIXES[kind][component], state, alpha))
        save_file(tensors, out)
    else:
        scratch = tempfile.mkdtemp(prefix="tiny-lora-")
        try:
            type(pipe).save_lora_weights(scratch, weight_name="lora.safetensors", safe_serialization=True,
                                         **{f"{component}_lora_layers": state for component, state in layers.items()})
            shutil.move(os.path.join(scratch, "lora.safetensors"), out)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    save_file(expected, expected_path(out))
    print(json.dumps({"lora": out, "expected": expected_path(out), "base": os.path.abspath(args.base), "kind": kind,
                      "format": args.format, "rank": args.rank, "alpha": alpha, "changed_weights": len(expected)}))


if __name__ == "__main__":
    sys.exit(main())

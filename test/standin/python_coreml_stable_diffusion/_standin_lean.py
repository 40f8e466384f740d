"""STAND-IN loader for the action's python/lean_convert.py (not part of Apple's package).

lean_convert.py loads each component alone with diffusers and transformers; the stand-in has neither,
so the tests set LEAN_CONVERT_LOADER=python_coreml_stable_diffusion._standin_lean:LOADER. It loads
what the stand-in's DiffusionPipeline would (same failures: no fp16 files, bad ids, offline without a
cache, the Hub through HF_ENDPOINT), without the pipeline-level `use_auth_token` warning (a component
loaded with its own class's from_pretrained prints none), and hands out the components shaped as
diffusers has them (`.config` with the values the converter's functions read). Standard library only.
"""

from types import SimpleNamespace

from python_coreml_stable_diffusion import _standin, torch2coreml


class Loader:
    def __init__(self):
        self._pipes = {}

    def _pipe(self, args):
        key = (args.model_version, bool(args.xl_version))
        if key not in self._pipes:
            self._pipes[key] = torch2coreml._load_pipeline(args.model_version, args, warn=False)
        return self._pipes[key]

    def index(self, args):
        """model_index.json as DiffusionPipeline.load_config returns it."""
        pipe = self._pipe(args)
        index = {"_class_name": pipe.class_name}
        for name, present in pipe.components.items():
            index[name] = ["diffusers", name] if present else [None, None]
        if pipe.requires_aesthetics_score:
            index["requires_aesthetics_score"] = True
        return index

    def component(self, args, name, weights=True):
        value = getattr(self._pipe(args), name, None)
        if value is None and name == "scheduler":
            # The stand-in is lenient with a model_index.json that lists no scheduler (its Hub's
            # made-up models): its convert_unet reads none.
            return SimpleNamespace(config=SimpleNamespace())
        if value is None:
            raise OSError(f"Error no file named {name} found for {args.model_version} (stand-in).")
        return value

    def custom_vae(self, args):
        """AutoencoderKL.from_pretrained(custom_vae_version, torch_dtype=torch.float16)."""
        import os
        version = args.custom_vae_version
        if not os.path.isdir(version):
            _standin.hub_validate(version)
        return SimpleNamespace(config=SimpleNamespace(latent_channels=4, sample_size=1024 if args.xl_version else 512))


LOADER = Loader()

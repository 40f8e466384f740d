"""Prints what identifies each .mlpackage of one or more folders, for comparing two ways of writing
them (the converter's command line and the action's python/lean_convert.py): per package the size
and sha256 of weights/weight.bin and the sha256 of the spec serialized deterministically
(model.mlmodel's own bytes differ between two runs of the same converter: protobuf writes map entries
in another order in each process). Needs coremltools (the converter's venv or .venv).

  python compare_packages.py FOLDER [FOLDER...]   -> JSON: {folder: {package: {...}}}
"""
import hashlib
import json
import os
import sys


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe(package):
    from coremltools.models.utils import load_spec
    data = os.path.join(package, "Data", "com.apple.CoreML")
    weights = os.path.join(data, "weights", "weight.bin")
    spec = load_spec(package)
    return {
        "weight_bin_bytes": os.path.getsize(weights) if os.path.exists(weights) else None,
        "weight_bin_sha256": sha256_file(weights) if os.path.exists(weights) else None,
        "spec_sha256": hashlib.sha256(spec.SerializeToString(deterministic=True)).hexdigest(),
        "model_mlmodel_sha256": sha256_file(os.path.join(data, "model.mlmodel")),
        "package_bytes": sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(package) for f in fs),
    }


def main(argv=None):
    folders = sys.argv[1:] if argv is None else argv
    result = {}
    for folder in folders:
        result[folder] = {name: describe(os.path.join(folder, name))
                          for name in sorted(os.listdir(folder)) if name.endswith(".mlpackage")}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    sys.exit(main())

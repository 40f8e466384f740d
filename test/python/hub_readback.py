"""Reads a repository back from a Hub endpoint with the real huggingface_hub and prints the sha256
of every file it downloaded, as JSON {path: sha256}, plus the commit it resolved.

Usage: hub_readback.py ENDPOINT REPO_ID CACHE_DIR [REVISION]  (token from HF_TOKEN, if any)
"""
import hashlib
import json
import os
import sys

from huggingface_hub import HfApi, snapshot_download


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main() -> None:
    endpoint, repo_id, cache_dir = sys.argv[1:4]
    revision = sys.argv[4] if len(sys.argv) > 4 else None
    folder = snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, endpoint=endpoint)
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            full = os.path.join(root, name)
            files[os.path.relpath(full, folder).replace(os.sep, "/")] = sha256_of(full)
    sha = HfApi(endpoint=endpoint).model_info(repo_id, revision=revision).sha
    print(json.dumps({"sha": sha, "folder": folder, "files": files}))


if __name__ == "__main__":
    main()

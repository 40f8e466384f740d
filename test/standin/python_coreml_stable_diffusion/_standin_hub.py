"""STAND-IN for what diffusers + huggingface_hub do with the Hub when loading a pipeline by id.

Only what the action's caching can observe: with HF_HUB_OFFLINE=1 the pipeline must come from
the huggingface_hub cache (refs/main -> snapshots/<sha>); with HF_ENDPOINT set (a local stand-in
Hub in tests) the files are downloaded into that cache layout, skipping those already there.
Without HF_ENDPOINT nothing is fetched (there is no network here). With STANDIN_SYNTHESIZE_MODELS=1
(tests that have no Hub at all) a model that is neither downloadable nor cached is synthesized
instead of failing.
"""
import hashlib
import json
import os
import re
import sys
import urllib.request

WEIGHT = re.compile(r"\.(safetensors|bin|ckpt|pt|pth|msgpack|onnx|h5)$")


def hub_cache():
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
    return os.path.join(home, "hub")


def repo_dir(repo_id):
    return os.path.join(hub_cache(), "models--" + repo_id.replace("/", "--"))


def offline():
    return os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")


def _wanted(name):
    # diffusers with variant="fp16", use_safetensors=True
    if name == "model_index.json":
        return True
    if "/" not in name:
        return False
    if WEIGHT.search(name):
        return name.endswith(".fp16.safetensors")
    return True


def _get(url, token):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read()


def snapshot(repo_id, revision="main"):
    """The local snapshot folder of repo_id, downloading into the cache unless offline.
    Returns None when there is no Hub to ask (no HF_ENDPOINT) and nothing cached."""
    repo = repo_dir(repo_id)
    ref = os.path.join(repo, "refs", revision)
    endpoint = os.environ.get("HF_ENDPOINT")
    if not offline() and endpoint:
        try:
            return _download(repo, ref, repo_id, revision, endpoint)
        except OSError as error:  # urllib's URLError is an OSError
            # huggingface_hub falls back to the cached files of the revision when the Hub is unreachable
            print(f"Hub unreachable ({error}); trying the cache", file=sys.stderr)
    if offline() or endpoint:
        try:
            with open(ref, encoding="utf-8") as f:
                sha = f.read().strip()
        except OSError:
            sha = ""
        folder = os.path.join(repo, "snapshots", sha)
        if not sha or not os.path.isfile(os.path.join(folder, "model_index.json")):
            if os.environ.get("STANDIN_SYNTHESIZE_MODELS") == "1" and not offline():
                return None
            raise EnvironmentError(
                f"Cannot load model {repo_id}: model is not cached locally and an error occurred while trying "
                "to fetch metadata from the Hub. Please check out the root cause in the stacktrace above.")
        return folder
    return None


def _download(repo, ref, repo_id, revision, endpoint):
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN") or ""
    info = json.loads(_get(f"{endpoint.rstrip('/')}/api/models/{repo_id}/revision/{revision}", token))
    sha = info["sha"]
    folder = os.path.join(repo, "snapshots", sha)
    for sibling in info.get("siblings", []):
        name = sibling["rfilename"]
        target = os.path.join(folder, name)
        if not _wanted(name) or os.path.exists(target):
            continue
        _store(repo, target, _get(f"{endpoint.rstrip('/')}/{repo_id}/resolve/{sha}/{name}", token))
    _write_ref(ref, sha)
    return folder


def _store(repo, target, data):
    """A downloaded file into the cache: its blob (whole or not at all), and the snapshot's link to it."""
    blob = os.path.join(repo, "blobs", hashlib.sha256(data).hexdigest())
    os.makedirs(os.path.dirname(blob), exist_ok=True)
    if not os.path.exists(blob):
        with open(blob + ".incomplete", "wb") as f:
            f.write(data)
        os.replace(blob + ".incomplete", blob)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    os.symlink(os.path.relpath(blob, os.path.dirname(target)), target)


def _write_ref(ref, sha):
    os.makedirs(os.path.dirname(ref), exist_ok=True)
    with open(ref, "w", encoding="utf-8") as f:
        f.write(sha)


def hf_hub_download(repo_id, filename, revision="main"):
    """huggingface_hub.hf_hub_download as DiffusionKit 0.4.0 calls it for the SD3 checkpoint: one
    file into the cache; offline, the cached file of refs/<revision> or LocalEntryNotFoundError.
    Without HF_ENDPOINT (no Hub here) None: the stand-in synthesizes the model."""
    repo = repo_dir(repo_id)
    ref = os.path.join(repo, "refs", revision)
    endpoint = os.environ.get("HF_ENDPOINT")
    if not offline() and endpoint:
        token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN") or ""
        sha = json.loads(_get(f"{endpoint.rstrip('/')}/api/models/{repo_id}/revision/{revision}", token))["sha"]
        target = os.path.join(repo, "snapshots", sha, filename)
        if not os.path.exists(target):
            _store(repo, target, _get(f"{endpoint.rstrip('/')}/{repo_id}/resolve/{sha}/{filename}", token))
        _write_ref(ref, sha)
        return target
    if not offline():
        return None
    try:
        with open(ref, encoding="utf-8") as f:
            target = os.path.join(repo, "snapshots", f.read().strip(), filename)
    except OSError:
        target = ""
    if not target or not os.path.isfile(target):
        raise LocalEntryNotFoundError(
            "Cannot find the requested files in the disk cache and outgoing traffic has been disabled. To enable "
            "hf.co look-ups and downloads online, set 'local_files_only' to False.")
    return target


class LocalEntryNotFoundError(EnvironmentError):
    """Mimics huggingface_hub.errors.LocalEntryNotFoundError."""


LocalEntryNotFoundError.__module__ = "huggingface_hub.errors"


class OfflineModeIsEnabled(ConnectionError):
    """Mimics huggingface_hub.errors.OfflineModeIsEnabled."""


OfflineModeIsEnabled.__module__ = "huggingface_hub.errors"


def model_card_data(repo_id):
    """`huggingface_hub.model_info(repo_id).cardData`, which torch2coreml asks for every ControlNet
    (even one already converted): offline it raises, as huggingface_hub 0.24.6 does for any request;
    a repository whose README has no metadata gives None. Without HF_ENDPOINT (no Hub here) an
    empty card."""
    endpoint = (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
    url = f"{endpoint}/api/models/{repo_id}"
    if offline():
        raise OfflineModeIsEnabled(
            f"Cannot reach {url}: offline mode is enabled. To disable it, please unset the `HF_HUB_OFFLINE` "
            "environment variable.")
    if not os.environ.get("HF_ENDPOINT"):
        return {}
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN") or ""
    return json.loads(_get(url, token)).get("cardData")

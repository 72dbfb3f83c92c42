"""Pull published CLIP ONNX exports from the Hugging Face Hub into model folders (docs/models.md).

huggingface_hub moves the bytes (progress bars, resumed partial files, `HF_ENDPOINT`, `HF_HUB_OFFLINE`);
this module picks the files of the published layout (Immich's: `visual/model.onnx`, `textual/model.onnx`,
`textual/tokenizer.json`, open_clip's `config.json` and `visual/preprocess_cfg.json`), checks each
against the Hub's checksums, rearranges them into the model folder format (docs/model-format.md) with
the weights' identity in config.json, loads both towers, and only then puts the folder in place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from framesearch.embedders.base import DEFAULT_THRESHOLD
from framesearch.embedders.export import ROBOFLOW_VERSIONS, aliases_for, open_clip_model_name
from framesearch.errors import InvalidInput, MissingDependency, ModelError, NotFound, UpstreamUnavailable

PUBLISHER = "immich-app"  # default owner: Immich publishes open_clip exports, one repository per model
DEFAULT_HUB = "https://huggingface.co"
SOURCE_FILE = "source.json"  # what a pulled folder records of where it came from
DOWNLOADS = ".downloads"  # partial downloads, kept between tries so a pull resumes
# model folder file <- file of the published layout
ARRANGED = {"visual.onnx": "visual/model.onnx", "textual.onnx": "textual/model.onnx", "tokenizer.json": "textual/tokenizer.json"}
READ = ("config.json", "visual/preprocess_cfg.json")  # read to write framesearch's config.json, not kept
NEEDED = (*READ, *ARRANGED.values())


@dataclass(frozen=True)
class Published:
    """A published export: its Hub repository, the folder it becomes, and the identity of its weights."""

    repo_id: str
    folder: str
    name: str
    aliases: tuple[str, ...]


def published(spec: str) -> Published:
    """What `model pull SPEC` means: `ViT-B-16__openai`, `immich-app/ViT-B-16__openai`, `ViT-B-16/openai` or `clip/ViT-B-16`."""
    spec = spec.strip().strip("/")
    owner, _, repo = spec.rpartition("/")
    versions = {v: arch for arch, v in ROBOFLOW_VERSIONS.items()}
    if owner == "clip" and repo in versions:  # Roboflow's name for OpenAI's weights
        owner, repo = "", f"{versions[repo]}__openai"
    elif owner and "__" not in repo and "/" not in owner:  # an identity, ARCH/TAG
        owner, repo = "", f"{owner}__{repo}"
    if not repo or "/" in owner or any(c in repo for c in " \\") or repo.startswith("."):
        raise InvalidInput(f"{spec!r} names no published model: give e.g. ViT-B-16__openai or OWNER/REPO")
    owner = owner or PUBLISHER
    arch, sep, tag = repo.partition("__")  # Immich names its repositories ARCH__TAG, after open_clip's names
    name = open_clip_model_name(arch, tag) if owner == PUBLISHER and sep and arch and tag else f"{owner}/{repo}"
    return Published(f"{owner}/{repo}", repo, name, aliases_for(name))


def hub_endpoint() -> str:
    """The Hub to talk to: `HF_ENDPOINT` (read now, not when huggingface_hub was imported), else huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_HUB).rstrip("/")


def offline() -> bool:
    """`HF_HUB_OFFLINE` (read now), as huggingface_hub reads it."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _hf() -> Any:
    try:
        import huggingface_hub
    except ImportError as exc:
        raise MissingDependency("pulling models needs huggingface_hub: pip install huggingface_hub") from exc
    return huggingface_hub


def _network_error(what: str, exc: BaseException) -> UpstreamUnavailable:
    text = str(exc).splitlines()[0] if str(exc) else ""
    reason = f"{type(exc).__name__}: {text[:160]}{'…' if len(text) > 160 else ''}".rstrip(": ")
    return UpstreamUnavailable(
        f"cannot reach the Hugging Face Hub at {hub_endpoint()} ({what}: {reason}): "
        "pulling a model needs the network, or a Hub mirror named by HF_ENDPOINT"
    )


def _hub_call(what: str, repo_id: str, call: Any) -> Any:
    """Run a huggingface_hub call, turning its errors into domain errors."""
    hf = _hf()
    errors = hf.errors
    try:
        return call()
    except errors.RevisionNotFoundError:
        raise NotFound(f"{repo_id} has no such revision on {hub_endpoint()}") from None
    except errors.RepositoryNotFoundError:
        raise NotFound(f"no model repository {repo_id} on {hub_endpoint()} (or it is private)") from None
    except errors.HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        if status >= 500 or status == 429:
            raise _network_error(what, exc) from None
        raise ModelError(f"the Hub refused {what} of {repo_id}: HTTP {status}") from None
    except (OSError, errors.OfflineModeIsEnabled) as exc:
        raise _network_error(what, exc) from None
    except Exception as exc:  # httpx/httpx2 transport errors differ between huggingface_hub versions
        if type(exc).__module__.split(".")[0] in {"httpx", "httpx2", "httpcore", "requests", "urllib3"}:
            raise _network_error(what, exc) from None
        raise


def _file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    if algorithm == "sha1":  # a git blob id: sha1 of "blob <size>\0" + content
        digest.update(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, lambda: digest).hexdigest()


def verify_checksums(folder: Path, expected: dict[str, tuple[str, str]]) -> None:
    """Each downloaded file against the Hub's checksum (sha256 for LFS files, the git blob id otherwise);
    a file that does not match is deleted, so the next pull fetches it again."""
    for rel, (algorithm, want) in expected.items():
        path = folder / rel
        got = _file_digest(path, algorithm)
        if got != want:
            path.unlink(missing_ok=True)
            raise ModelError(f"{rel} does not match the Hub's checksum ({algorithm} {got[:12]}… != {want[:12]}…): pull again")


def _checksums(tree: list[Any]) -> dict[str, tuple[str, str]]:
    sums = {}
    for entry in tree:
        lfs = getattr(entry, "lfs", None)
        if getattr(entry, "path", None) in NEEDED:
            sums[entry.path] = ("sha256", lfs.sha256) if lfs is not None else ("sha1", entry.blob_id)
    return sums


def model_config(download: Path, pub: Published) -> dict[str, Any]:
    """framesearch's config.json from open_clip's config.json and the preprocess config of the published export."""
    try:
        model = json.loads((download / "config.json").read_text())
        pre = json.loads((download / "visual/preprocess_cfg.json").read_text())
        text_cfg = model.get("text_cfg", {})
        size = pre["size"] if isinstance(pre["size"], int) else pre["size"][0]
        config = {
            "name": pub.name,
            "aliases": list(pub.aliases),
            "embed_dim": int(model["embed_dim"]),
            "image_size": int(size),
            "image_mean": [float(x) for x in pre["mean"]],
            "image_std": [float(x) for x in pre["std"]],
            "context_length": int(text_cfg.get("context_length", 77)),
            "pad_token_id": 0,
            "default_threshold": DEFAULT_THRESHOLD,
        }
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise ModelError(f"{pub.repo_id}: unreadable open_clip config ({type(exc).__name__}: {exc})") from None
    if text_cfg.get("hf_tokenizer_name") or text_cfg.get("hf_model_name"):
        raise ModelError(f"{pub.repo_id} has a Hugging Face text tower ({text_cfg.get('hf_model_name')}), not CLIP's BPE one")
    if pre.get("resize_mode", "shortest") != "shortest" or pre.get("interpolation", "bicubic") != "bicubic":
        how = f"{pre.get('resize_mode')}/{pre.get('interpolation')}"
        raise ModelError(f"{pub.repo_id} expects {how} resizing; framesearch resizes shortest/bicubic")
    return config


def check_towers(folder: Path) -> int:
    """Load both towers as framesearch does: each must embed, and their vectors must have the config's size."""
    import numpy as np

    from framesearch.embedders.onnx_clip import OnnxClip

    clip = OnnxClip(folder, threads=1)
    text = clip.embed_texts(["a photo of a cat", "red and blue squares"])
    image = clip.embed_images([np.full((40, 48, 3), 200, dtype=np.uint8), np.zeros((50, 30, 3), dtype=np.uint8)])
    for tower, vectors in (("text", text), ("image", image)):
        if vectors.shape != (2, clip.dim) or not np.all(np.isfinite(vectors)):
            raise ModelError(f"the {tower} tower gives vectors of shape {vectors.shape}; the config says {clip.dim} dims")
    return clip.dim


def read_source(folder: Path) -> dict[str, Any] | None:
    """A pulled folder's record of its origin, or None."""
    try:
        data = json.loads((folder / SOURCE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class PullResult:
    folder: Path
    name: str
    aliases: tuple[str, ...]
    repo_id: str
    commit: str
    embed_dim: int
    downloaded: bool  # False when the same commit was already here


def _resolve_commit(hf: Any, pub: Published, revision: str | None) -> tuple[str, dict[str, tuple[str, str]]]:
    api = hf.HfApi(endpoint=hub_endpoint())
    info = _hub_call("looking up", pub.repo_id, lambda: api.model_info(pub.repo_id, revision=revision))
    tree = _hub_call("listing", pub.repo_id, lambda: list(api.list_repo_tree(pub.repo_id, revision=info.sha, recursive=True)))
    sums = _checksums(tree)
    missing = [f for f in NEEDED if f not in sums]
    if missing:
        raise ModelError(f"{pub.repo_id} is not a CLIP export in the published layout: it lacks {', '.join(missing)}")
    return info.sha, sums


def _arrange(download: Path, folder: Path, pub: Published, commit: str) -> int:
    """Move the downloaded files into the model folder format in `folder`, write its configs, check its towers."""
    config = model_config(download, pub)
    for name, rel in ARRANGED.items():
        os.replace(download / rel, folder / name)
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    dim = check_towers(folder)
    source = {
        "repo_id": pub.repo_id,
        "commit": commit,
        "endpoint": hub_endpoint(),
        "files": {name: rel for name, rel in ARRANGED.items()},
        "pulled_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (folder / SOURCE_FILE).write_text(json.dumps(source, indent=2) + "\n")
    return dim


def pull_model(spec: str, models_dir: Path, revision: str | None = None) -> PullResult:
    """Download, check and arrange a published export under `models_dir`; a pull that fails leaves the old folder.

    huggingface_hub draws its progress bars on stderr (`HF_HUB_DISABLE_PROGRESS_BARS=1` hides them)."""
    pub = published(spec)
    target = Path(models_dir) / pub.folder
    if offline():
        raise UpstreamUnavailable(
            f"cannot pull {pub.repo_id}: HF_HUB_OFFLINE is set, and pulling a model needs the network "
            "(or a Hub mirror named by HF_ENDPOINT)"
        )
    hf = _hf()
    commit, sums = _resolve_commit(hf, pub, revision)
    known = read_source(target)
    if known and known.get("commit") == commit and (target / "config.json").is_file():
        config = json.loads((target / "config.json").read_text())
        aliases = tuple(config.get("aliases", ()))
        return PullResult(target, config["name"], aliases, pub.repo_id, commit, config["embed_dim"], False)
    download = Path(models_dir) / DOWNLOADS / pub.folder
    try:
        download.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot write to the models folder {models_dir}: {exc.strerror or exc}") from None
    _hub_call(
        "downloading",
        pub.repo_id,
        lambda: hf.snapshot_download(
            pub.repo_id, revision=commit, local_dir=download, allow_patterns=list(NEEDED), endpoint=hub_endpoint()
        ),
    )
    verify_checksums(download, sums)
    tmp = Path(tempfile.mkdtemp(prefix=f".{pub.folder}.", suffix=".partial", dir=models_dir))
    try:
        dim = _arrange(download, tmp, pub, commit)
        old = target.with_name(f".{pub.folder}.old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(download, ignore_errors=True)
    try:
        download.parent.rmdir()  # the downloads folder, once no other pull has partial files there
    except OSError:
        pass
    return PullResult(target, pub.name, pub.aliases, pub.repo_id, commit, dim, True)

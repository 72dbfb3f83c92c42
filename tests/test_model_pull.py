"""`model pull` and `model list` end to end: the real huggingface_hub client against a local stand-in of the Hub
serving a small model in Immich's published layout (HF_ENDPOINT points at it), then `--model NAME` everywhere."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from framesearch.cli import app
from framesearch.embedders.hub import published
from framesearch.embedders.onnx_clip import OnnxClip
from framesearch.embedders.resolve import bundled_models_dir, text_embedder
from framesearch.settings import Settings
from framesearch.store.schema import CollectionInfo
from tests.conftest import empty_collection
from tests.helpers.hub_standin import HubStandIn, immich_layout
from tests.helpers.tiny_clip import solid_frame

runner = CliRunner()
TINY = bundled_models_dir() / "tiny-shapes-clip"
REPO = "immich-app/tiny-shapes__test"


@pytest.fixture(scope="session")
def published_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled tiny CLIP laid out as Immich publishes its exports (int32 ids, batch fixed at 1)."""
    return immich_layout(TINY, tmp_path_factory.mktemp("hub") / "tiny-shapes__test")


@pytest.fixture
def hub(published_tiny: Path, monkeypatch: pytest.MonkeyPatch):
    standin = HubStandIn().start()
    standin.add_repo(REPO, published_tiny)
    monkeypatch.setenv("HF_ENDPOINT", standin.url)
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield standin
    standin.stop()


def cli(*args: str):
    return runner.invoke(app, list(args))


def downloads(hub: HubStandIn) -> list[str]:
    """Paths whose bytes were fetched (file GETs, not API calls)."""
    return [path for method, path, _ in hub.requests if method == "GET" and not path.startswith("/api/")]


def test_published_names_map_to_repositories_and_identities():
    b16 = published("ViT-B-16__openai")
    assert (b16.repo_id, b16.folder, b16.name, b16.aliases) == (
        "immich-app/ViT-B-16__openai",
        "ViT-B-16__openai",
        "ViT-B-16/openai",
        ("clip/ViT-B-16",),
    )
    assert published("ViT-B-16/openai") == b16 == published("immich-app/ViT-B-16__openai") == published("clip/ViT-B-16")
    assert published("clip/ViT-L-14-336px").repo_id == "immich-app/ViT-L-14-336__openai"
    laion = published("ViT-B-32__laion2b_s34b_b79k")
    assert laion.name == "ViT-B-32/laion2b_s34b_b79k" and laion.aliases == ()
    other = published("someone/my__clip")
    assert other.repo_id == "someone/my__clip" and other.name == "someone/my__clip"


@pytest.mark.slow
def test_pull_then_list_info_ingest_and_search_with_the_pulled_name(hub, own_models_dir, tmp_path, sample_video):
    pulled = cli("model", "pull", "tiny-shapes__test")
    assert pulled.exit_code == 0, pulled.output
    assert "pulled tiny-shapes/test" in pulled.stdout and "--model tiny-shapes__test" in pulled.stdout
    folder = own_models_dir / "tiny-shapes__test"
    arranged = ["config.json", "source.json", "textual.onnx", "tokenizer.json", "visual.onnx"]
    assert sorted(p.name for p in folder.iterdir()) == arranged
    assert not (own_models_dir / ".downloads").exists()
    source = json.loads((folder / "source.json").read_text())
    assert source["repo_id"] == REPO and source["commit"] == hub.repos[REPO]["sha"]
    assert not any("armnn" in p or "README" in p for p in downloads(hub)), "only the needed files are fetched"

    # The same weights as the bundled model: the rearranged towers (int32 ids, batch 1) give the same vectors.
    ours, bundled = OnnxClip(folder), OnnxClip(TINY)
    texts, images = ["a red circle", "a white square on black"], [solid_frame(c) for c in ("red", "green", "blue")]
    np.testing.assert_allclose(ours.embed_texts(texts), bundled.embed_texts(texts), atol=1e-5)
    np.testing.assert_allclose(ours.embed_images(images), bundled.embed_images(images), atol=1e-5)

    listed = {m["spec"]: m for m in json.loads(cli("model", "list", "--json").stdout)}
    assert listed["tiny-shapes-clip"]["kind"] == "bundled"
    assert listed["tiny-shapes__test"]["kind"] == "pulled" and listed["tiny-shapes__test"]["name"] == "tiny-shapes/test"
    assert listed["tiny-shapes__test"]["source"].startswith(f"{REPO}@")
    assert listed["roboflow"]["kind"] == "remote" and listed["roboflow"]["name"] == "clip/ViT-B-16"
    assert cli("model", "info", "tiny-shapes__test").exit_code == 0

    store = str(tmp_path / "store")
    ingested = cli("--store", store, "ingest", "local", str(sample_video), "--fps", "2", "--model", "tiny-shapes__test")
    assert ingested.exit_code == 0, ingested.output
    found = cli("--store", store, "search", "a red circle", "--json")  # the collection records the pulled model
    assert found.exit_code == 0, found.output
    top = json.loads(found.stdout)["results"][0]
    assert 4.0 <= top["start"] and top["end"] <= 7.5, top  # the red circle is on screen from 4 s to 7 s
    by_identity = cli("--store", store, "--model", "tiny-shapes/test", "search", "a red circle", "--json")
    assert by_identity.exit_code == 0, by_identity.output

    again = cli("model", "pull", "tiny-shapes__test")
    assert again.exit_code == 0 and "already here" in again.stdout
    assert len(downloads(hub)) == 5, "a second pull of the same commit downloads nothing"


@pytest.mark.slow
def test_a_dropped_connection_is_resumed_and_a_bad_checksum_refused(hub, own_models_dir, published_tiny, tmp_path):
    hub.cut_after = 50_000  # the first large download breaks off mid-file
    first = cli("model", "pull", "tiny-shapes__test")
    assert first.exit_code == 0, first.output
    assert len([p for p in downloads(hub) if p.startswith("/cdn/")]) == 3, "the broken file was fetched again"

    hub.add_repo("immich-app/other__test", published_tiny)
    hub.corrupt = {"visual/model.onnx"}
    bad = cli("model", "pull", "other__test")
    assert bad.exit_code == 1
    assert "visual/model.onnx does not match the Hub's checksum" in bad.stderr
    assert not (own_models_dir / "other__test").exists()
    hub.corrupt = set()
    hub.requests.clear()
    good = cli("model", "pull", "other__test")
    assert good.exit_code == 0, good.output
    visual = hashlib.sha256((published_tiny / "visual" / "model.onnx").read_bytes()).hexdigest()
    assert downloads(hub) == [f"/cdn/{visual}"], "only the file that failed its checksum is downloaded again"


def test_offline_or_unreachable_pulls_fail_in_one_line_naming_the_network(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = cli("model", "pull", "ViT-B-16__openai")
    assert offline.exit_code == 1
    line = offline.stderr.strip().splitlines()[-1]
    assert line.startswith("error:") and "network" in line and "HF_ENDPOINT" in line and "HF_HUB_OFFLINE" in line
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    unreachable = cli("model", "pull", "ViT-B-16__openai")
    assert unreachable.exit_code == 1
    line = unreachable.stderr.strip().splitlines()[-1]
    assert "http://127.0.0.1:9" in line and "network" in line and "HF_ENDPOINT" in line


def test_unknown_repositories_revisions_and_layouts_are_refused(hub, published_tiny, tmp_path):
    missing = cli("model", "pull", "no-such__model")
    assert missing.exit_code == 1 and "no model repository immich-app/no-such__model" in missing.stderr
    revision = cli("model", "pull", "tiny-shapes__test", "--revision", "v9")
    assert revision.exit_code == 1 and "no such revision" in revision.stderr
    odd = tmp_path / "odd"
    shutil.copytree(published_tiny, odd)
    (odd / "textual" / "model.onnx").unlink()
    hub.add_repo("immich-app/odd__layout", odd)
    wrong = cli("model", "pull", "odd__layout")
    assert wrong.exit_code == 1 and "lacks textual/model.onnx" in wrong.stderr


def test_unknown_model_names_and_an_empty_store_name_the_next_step(tmp_path):
    store = str(empty_collection(tmp_path / "s"))
    unknown = cli("--store", store, "--model", "ViT-B-16__openai", "search", "a dog")
    assert unknown.exit_code == 1
    assert "model list" in unknown.stderr and "model pull" in unknown.stderr
    empty = cli("--store", store, "search", "a dog")
    assert empty.exit_code == 1
    assert "the library is empty" in empty.stderr and "`framesearch ingest local ~/Videos --recursive`" in empty.stderr


def test_a_pulled_model_with_roboflows_alias_answers_for_roboflow_made_vectors(own_models_dir, monkeypatch):
    folder = own_models_dir / "as-roboflow"
    shutil.copytree(TINY, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "aliases": ["clip/ViT-B-16"]}))
    monkeypatch.delenv("ROBOFLOW_API_KEY", raising=False)
    embedder = text_embedder(Settings(), CollectionInfo("clip/ViT-B-16", 64))
    assert isinstance(embedder, OnnxClip) and embedder.folder == folder  # local, no key, no network

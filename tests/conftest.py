"""Shared fixtures: a tiny CLIP model folder, results files, and every store backend."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.one_name import block_second_names, modules_loaded_twice
from tests.helpers.tiny_clip import build_tiny_clip, solid_frame

block_second_names()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any file of the project was imported under two module names."""
    twice = modules_loaded_twice()
    if twice:
        print(f"\nerror: modules loaded under two names: {twice}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# Real footage by other people, beside a development checkout (../shared/media); users' clones do not have it.
# FRAMESEARCH_TEST_MEDIA names another folder: point it at an empty one to run the suite as a fresh clone does.
MEDIA = Path(os.environ.get("FRAMESEARCH_TEST_MEDIA") or Path(__file__).resolve().parents[1].parent / "shared" / "media")
needs_media = pytest.mark.skipif(
    not (MEDIA / "videos").is_dir(),
    reason=f"needs real footage: the project's shared test media at {MEDIA} (a development checkout only)",
)


@pytest.fixture(autouse=True)
def own_models_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Tests never see the models a developer pulled into the user's cache: pulled models live in a temp folder."""
    folder = tmp_path_factory.mktemp("pulled-models")
    monkeypatch.setenv("FRAMESEARCH_MODELS_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True)
def own_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Tests never touch the user's library: the platform's data folder (where the default store lives) is a temp
    folder, for this process and the subprocesses it starts. Returns the default store's folder."""
    folder = tmp_path_factory.mktemp("user-data")
    monkeypatch.setenv("XDG_DATA_HOME", str(folder))  # what platformdirs reads on Linux
    monkeypatch.delenv("FRAMESEARCH_STORE", raising=False)
    from framesearch.settings import default_store

    store = default_store()
    assert store.is_relative_to(folder), f"the default store {store} would not be a temp folder on this platform"
    return store


def empty_collection(store: Path, collection: str = "frames") -> Path:
    """Create an empty collection as `serve` does on a new store (reads never create one); returns the store."""
    from framesearch.settings import Settings
    from framesearch.store.open import open_store

    open_store(Settings(store=store, collection=collection)).close()
    return store


@pytest.fixture(scope="session")
def sample_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 10 s H.264 video of coloured shapes, rendered here (no shared media needed): `bikes.mp4`."""
    from tests.helpers.synthetic_video import write_shapes_video

    path = tmp_path_factory.mktemp("media") / "bikes.mp4"
    scenes = [("square", "white", "black", 4.0), ("circle", "red", "white", 3.0), ("triangle", "green", "black", 3.0)]
    return write_shapes_video(path, scenes, fps=10)


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("models") / "tiny-colour-clip")


@pytest.fixture(scope="session")
def tiny_clip(tiny_clip_dir: Path):
    from framesearch.embedders.onnx_clip import OnnxClip

    return OnnxClip(tiny_clip_dir)


def results_json(frames: list[int], times: list[float], vectors: list[list[float] | None], spelling: str = "") -> dict:
    """A results document in Roboflow's format (`spelling='s'` for the plural keys)."""
    return {
        f"frame_offset{spelling}": frames,
        f"time_offset{spelling}": times,
        "clip": [None if v is None else {"time": 0.01, "embeddings": [list(v)]} for v in vectors],
    }


@pytest.fixture
def colour_results(tmp_path: Path, tiny_clip) -> Callable[..., Path]:
    """Write a results file whose frames are embedded solid colours, one colour per time run.

    `runs` is a list of (colour, seconds); frames are sampled at `fps` from a `video_fps` video.
    """

    def make(name: str, runs: list[tuple[str, float]], fps: float = 2.0, video_fps: float = 24.0) -> Path:
        colours: list[str] = []
        for colour, seconds in runs:
            colours += [colour] * round(seconds * fps)
        vectors = tiny_clip.embed_images([solid_frame(c) for c in colours])
        step = video_fps / fps
        frames = [round(i * step) for i in range(len(colours))]
        times = [round(f / video_fps, 4) for f in frames]
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(results_json(frames, times, vectors.tolist())))
        return path

    return make


def _docker_available() -> str | None:
    """None when a Docker engine answers, else why not."""
    if shutil.which("docker") is None:
        return "no docker client"
    try:
        import docker

        docker.from_env().ping()
    except Exception as exc:  # any failure to reach the engine means: skip
        return f"no Docker engine ({type(exc).__name__})"
    return None


@pytest.fixture(scope="session")
def qdrant_server_url() -> Iterator[str]:
    reason = _docker_available()
    if reason:
        pytest.skip(f"Qdrant server contract tests need Docker: {reason}")
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    from framesearch.store.cluster import QDRANT_IMAGE

    with DockerContainer(QDRANT_IMAGE).with_exposed_ports(6333) as container:
        wait_for_logs(container, "Qdrant HTTP listening", timeout=60)
        yield f"http://{container.get_container_host_ip()}:{container.get_exposed_port(6333)}"


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray instance of 2 CPUs for the test session (`ray.init(num_cpus=2)`); the product uses it as it finds it."""
    import logging

    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(params=["edge", "client-local", "client-server", "hosted"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], object]]:
    """Opens a store of the parametrised backend (`hosted`: an Edge store in a store process, as `serve` runs
    it); call again to reopen the same data."""
    from framesearch.settings import Settings
    from framesearch.store.client import ClientStore
    from framesearch.store.edge import EdgeStore
    from framesearch.store.hosted import HostedStore

    opened: list = []
    collection = f"t{abs(hash(request.node.name)) % 10**8}"
    if request.param == "client-server":
        url = request.getfixturevalue("qdrant_server_url")

    def factory():
        for st in opened:
            st.close()
        opened.clear()
        if request.param == "edge":
            st = EdgeStore(tmp_path / "edge", collection)
        elif request.param == "client-local":
            st = ClientStore(path=str(tmp_path / "local"), collection=collection)
        elif request.param == "hosted":
            st = HostedStore(Settings(store=tmp_path / "hosted", collection=collection))
        else:
            st = ClientStore(url=url, collection=collection)
        opened.append(st)
        return st

    yield factory
    for st in opened:
        st.close()


def unit(vector: list[float]) -> np.ndarray:
    v = np.asarray(vector, dtype=np.float32)
    return v / np.linalg.norm(v)


ROBOFLOW_TEST_KEY = "rf-test-SECRET-9b2e7c41"


@pytest.fixture
def roboflow_standin(monkeypatch: pytest.MonkeyPatch, tiny_clip) -> Iterator[object]:
    """A running stand-in for Roboflow's Video Inference API; the product reaches it through API_URL."""
    from tests.roboflow_standin import RoboflowStandIn, plan_results

    standin = RoboflowStandIn(ROBOFLOW_TEST_KEY, plan_results(tiny_clip)).start()
    monkeypatch.setenv("API_URL", standin.api_url)
    for name in ("ROBOFLOW_API_KEY", "FRAMESEARCH_ROBOFLOW_API_KEY", "FRAMESEARCH_ROBOFLOW_API_URL"):
        monkeypatch.delenv(name, raising=False)
    yield standin
    standin.stop()


@pytest.fixture
def inference_standin() -> Iterator[object]:
    """A running stand-in for a Roboflow Inference server's CLIP endpoints (its `url`, its recorded `calls`)."""
    from tests.helpers.inference_standin import InferenceStandIn

    standin = InferenceStandIn(ROBOFLOW_TEST_KEY).start()
    yield standin
    standin.stop()


@pytest.fixture(scope="session")
def roboflow_text_model(tmp_path_factory: pytest.TempPathFactory, tiny_clip_dir: Path) -> Path:
    """The tiny CLIP, declared the same weights as Roboflow's `clip/ViT-B-16`, to query Roboflow vectors."""
    folder = tmp_path_factory.mktemp("models") / "tiny-as-roboflow"
    shutil.copytree(tiny_clip_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config["aliases"] = ["clip/ViT-B-16"]
    (folder / "config.json").write_text(json.dumps(config))
    return folder

"""Embedders: CLIP model folders on ONNX Runtime, Roboflow's embed_text (against a local stand-in), resolution."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from framesearch.embedders.base import ROBOFLOW_CLIP_MODEL
from framesearch.embedders.onnx_clip import OnnxClip
from framesearch.embedders.resolve import bundled_models_dir, image_embedder, resolve_model, text_embedder
from framesearch.embedders.roboflow import RoboflowClip, RoboflowClipText
from framesearch.errors import LibraryEmpty, ModelError, ModelMismatch, UpstreamError, UpstreamUnavailable
from framesearch.settings import Settings
from framesearch.store.schema import CollectionInfo
from tests.conftest import ROBOFLOW_TEST_KEY as KEY
from tests.helpers.inference_standin import TEST_CLIP_VERSION
from tests.helpers.tiny_clip import solid_frame

TINY = bundled_models_dir() / "tiny-shapes-clip"


def test_text_and_image_vectors_are_normalised_and_matched(tiny_clip):
    images = tiny_clip.embed_images([solid_frame(c) for c in ("red", "green", "blue")])
    texts = tiny_clip.embed_texts(["RED", "a green one", "blue"])
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)
    assert list((texts @ images.T).argmax(axis=1)) == [0, 1, 2]


def test_preprocess_crops_the_centre_of_wide_frames(tiny_clip):
    frame = np.zeros((20, 60, 3), dtype=np.uint8)
    frame[:, 20:40] = (255, 0, 0)  # red centre, black sides
    batch = tiny_clip.preprocess([frame])
    assert batch.shape == (1, 3, 16, 16)
    red = tiny_clip.embed_texts(["red"])[0]
    assert float(tiny_clip.embed_pixels(batch)[0] @ red) > 0.95


def test_incomplete_model_folder_is_refused(tmp_path, tiny_clip_dir):
    folder = tmp_path / "model"
    shutil.copytree(tiny_clip_dir, folder)
    (folder / "textual.onnx").unlink()
    with pytest.raises(ModelError, match="textual.onnx"):
        OnnxClip(folder)
    shutil.copy(tiny_clip_dir / "textual.onnx", folder / "textual.onnx")
    (folder / "config.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(ModelError, match="config"):
        OnnxClip(folder)


def test_model_specs_resolve_or_fail_clearly(tiny_clip_dir):
    assert resolve_model(str(tiny_clip_dir)) == tiny_clip_dir
    assert resolve_model("roboflow") == "roboflow"
    with pytest.raises(ModelError, match="no-such-model"):
        resolve_model("no-such-model")


def test_query_model_defaults_to_the_collections_recorded_folder(tiny_clip_dir):
    info = CollectionInfo("tests/tiny-colour-clip", 8, str(tiny_clip_dir))
    assert text_embedder(Settings(), info).name == "tests/tiny-colour-clip"
    with pytest.raises(LibraryEmpty, match="the library is empty .* add videos with `framesearch ingest local"):
        text_embedder(Settings(), None)
    with pytest.raises(ModelMismatch, match="other/model"):
        text_embedder(Settings(model=str(tiny_clip_dir)), CollectionInfo("other/model", 8))


def test_roboflow_embed_text_speaks_the_documented_api(inference_standin):
    embedder = RoboflowClipText(KEY, inference_standin.url, TEST_CLIP_VERSION)
    vectors = embedder.embed_texts(["a red circle", "a blue star"])
    assert vectors.shape == (2, 64) and embedder.dim == 64 and embedder.name == f"clip/{TEST_CLIP_VERSION}"
    np.testing.assert_allclose(vectors, OnnxClip(TINY).embed_texts(["a red circle", "a blue star"]), atol=1e-5)
    call = inference_standin.calls[0]
    assert call["path"] == "/clip/embed_text" and call["query"]["api_key"] == [KEY]
    assert call["body"] == {"text": ["a red circle", "a blue star"], "clip_version_id": TEST_CLIP_VERSION}
    assert RoboflowClip(KEY, inference_standin.url).name == ROBOFLOW_CLIP_MODEL  # the default mixes with Video Inference


def test_roboflow_embed_image_sends_batches_concurrently_and_keeps_order(inference_standin):
    embedder = RoboflowClip(KEY, inference_standin.url, TEST_CLIP_VERSION)
    colours = ["red", "green", "blue", "yellow", "white", "black"] * 3
    inference_standin.concurrent = 2
    vectors = embedder.embed_images([solid_frame(c, size=(96, 80)) for c in colours])
    assert vectors.shape == (18, 64)
    assert inference_standin.images_per_call() and max(inference_standin.images_per_call()) > 1
    assert sum(inference_standin.images_per_call()) == 18 and len(inference_standin.images_per_call()) == 3
    assert inference_standin.saw_concurrent, "requests are in flight at once"
    local = OnnxClip(TINY).embed_images([solid_frame(c, size=(96, 80)) for c in colours])
    assert np.min(np.sum(vectors * local, axis=1)) > 0.99  # the same model's vectors, in order (JPEG costs a little)
    image = inference_standin.calls[0]["body"]["image"][0]
    assert image["type"] == "base64" and inference_standin.calls[0]["body"]["clip_version_id"] == TEST_CLIP_VERSION


def test_roboflow_retries_transient_failures_then_reports_them(inference_standin):
    embedder = RoboflowClip(KEY, inference_standin.url, TEST_CLIP_VERSION)
    embedder.retry_delay = 0.01
    inference_standin.failures = 2
    assert embedder.embed_texts(["red"]).shape == (1, 64)
    assert [c["status"] for c in inference_standin.calls] == [503, 503, 200]
    inference_standin.failures = 10
    with pytest.raises(UpstreamUnavailable, match="503"):
        embedder.embed_texts(["red"])
    assert len(inference_standin.calls) == 3 + 1 + embedder.retries


def test_roboflow_errors_never_show_the_key(inference_standin):
    wrong = RoboflowClipText("wrong-key-456", inference_standin.url)
    with pytest.raises(UpstreamError) as info:
        wrong.embed_texts(["x"])
    assert "401" in str(info.value) and "wrong-key-456" not in str(info.value)
    down = RoboflowClipText(KEY, "http://127.0.0.1:9")
    down.retry_delay = 0.01
    with pytest.raises(UpstreamError) as info:
        down.embed_texts(["x"])
    assert KEY not in str(info.value)
    with pytest.raises(ModelError, match="ROBOFLOW_API_KEY"):
        RoboflowClipText(None, inference_standin.url)


def test_roboflow_model_is_chosen_for_roboflow_made_vectors(inference_standin, monkeypatch):
    monkeypatch.setenv("ROBOFLOW_API_KEY", KEY)
    settings = Settings(roboflow_inference_url=inference_standin.url)
    recorded = CollectionInfo(f"clip/{TEST_CLIP_VERSION}", 64)
    embedder = text_embedder(settings, recorded)
    assert isinstance(embedder, RoboflowClipText) and embedder.clip_version == TEST_CLIP_VERSION
    assert embedder.embed_texts(["x"]).shape == (1, 64)
    assert isinstance(image_embedder(settings, recorded), RoboflowClip)  # frames go there too now


def test_a_frame_already_at_the_model_size_is_preprocessed_as_pillow_resizes_and_crops_it(tiny_clip):
    """The ingest's frames come scaled to the model's size: the crop-only path gives the pixels Pillow's gives."""
    from PIL import Image

    size = tiny_clip.config.image_size
    rng = np.random.default_rng(3)
    wide, tall, odd = ((size, size * 16 // 9), (size * 2, size), (size, size + 1))
    frames = [rng.integers(0, 256, (*shape, 3), dtype=np.uint8) for shape in (wide, tall, odd)]
    frames.append(rng.integers(0, 256, (size * 3, size * 5, 3), dtype=np.uint8))  # a larger image: resized

    def by_pillow(frame: np.ndarray) -> np.ndarray:
        img = Image.fromarray(frame)
        scale = size / min(img.size)
        img = img.resize((max(size, round(img.width * scale)), max(size, round(img.height * scale))), Image.Resampling.BICUBIC)
        left, top = (img.width - size) // 2, (img.height - size) // 2
        pixels = np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.float32) / 255.0
        mean, std = (np.asarray(v, dtype=np.float32) for v in (tiny_clip.config.image_mean, tiny_clip.config.image_std))
        return ((pixels - mean) / std).transpose(2, 0, 1)

    assert np.array_equal(tiny_clip.preprocess(frames), np.stack([by_pillow(f) for f in frames]))

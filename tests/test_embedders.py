"""Embedders: CLIP model folders on ONNX Runtime, Roboflow's embed_text (against a local stand-in), resolution."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from framesearch.embedders.onnx_clip import OnnxClip
from framesearch.embedders.resolve import resolve_model, text_embedder
from framesearch.embedders.roboflow import RoboflowClipText
from framesearch.errors import ModelError, ModelMismatch, UpstreamError
from framesearch.settings import Settings
from framesearch.store.schema import CollectionInfo
from tests.conftest import ROBOFLOW_TEST_KEY as KEY
from tests.helpers.tiny_clip import solid_frame


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
    with pytest.raises(ModelError, match="store is empty"):
        text_embedder(Settings(), None)
    with pytest.raises(ModelMismatch, match="other/model"):
        text_embedder(Settings(model=str(tiny_clip_dir)), CollectionInfo("other/model", 8))


def test_roboflow_embed_text_speaks_the_documented_api(inference_standin):
    embedder = RoboflowClipText(KEY, inference_standin.url, "ViT-B-16")
    vectors = embedder.embed_texts(["title credits", "an advert"])
    assert vectors.shape == (2, 512) and embedder.dim == 512 and embedder.name == "clip/ViT-B-16"
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    call = inference_standin.calls[0]
    assert call["path"] == "/clip/embed_text"
    assert call["body"] == {"text": ["title credits", "an advert"], "clip_version_id": "ViT-B-16"}


def test_roboflow_errors_never_show_the_key(inference_standin):
    wrong = RoboflowClipText("wrong-key-456", inference_standin.url)
    with pytest.raises(UpstreamError) as info:
        wrong.embed_texts(["x"])
    assert "401" in str(info.value) and "wrong-key-456" not in str(info.value)
    down = RoboflowClipText(KEY, "http://127.0.0.1:9")
    with pytest.raises(UpstreamError) as info:
        down.embed_texts(["x"])
    assert KEY not in str(info.value)
    with pytest.raises(ModelError, match="ROBOFLOW_API_KEY"):
        RoboflowClipText(None, inference_standin.url)


def test_roboflow_model_is_chosen_for_roboflow_made_vectors(inference_standin, monkeypatch):
    monkeypatch.setenv("ROBOFLOW_API_KEY", KEY)
    settings = Settings(roboflow_inference_url=inference_standin.url)
    embedder = text_embedder(settings, CollectionInfo("clip/ViT-B-16", 512))
    assert isinstance(embedder, RoboflowClipText)
    assert embedder.embed_texts(["x"]).shape == (1, 512)

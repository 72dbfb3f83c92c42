"""The committed tiny CLIP model folder: format contract and real retrieval behaviour."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from training.evaluate_tiny_clip import OnnxClip, green_triangle_check, heldout_scenes
from training.shapes import render_scene

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "embedders" / "models" / "tiny-shapes-clip"
CONFIG_KEYS = {"name", "aliases", "embed_dim", "image_size", "image_mean", "image_std", "context_length", "pad_token_id"}
TEST_SEED = 20_240_611  # not used by training (1234, 1235) nor by evaluate_tiny_clip


@pytest.fixture(scope="module")
def model() -> OnnxClip:
    return OnnxClip(MODEL)


def test_folder_layout_and_config() -> None:
    for name in ("config.json", "visual.onnx", "textual.onnx", "tokenizer.json"):
        assert (MODEL / name).is_file(), name
    config = json.loads((MODEL / "config.json").read_text())
    assert CONFIG_KEYS <= set(config)
    assert config["name"] == "framesearch/tiny-shapes-clip"
    assert isinstance(config["aliases"], list)
    assert len(config["image_mean"]) == len(config["image_std"]) == 3
    assert config["pad_token_id"] == 0


@pytest.mark.parametrize("batch", [1, 3])
def test_tower_shapes(model: OnnxClip, batch: int) -> None:
    cfg = model.config
    s, d, length = cfg.image_size, cfg.embed_dim, cfg.context_length
    visual, textual = model._session("visual"), model._session("textual")
    vin, tin = visual.get_inputs()[0], textual.get_inputs()[0]
    assert vin.type == "tensor(float)" and tin.type == "tensor(int64)"
    pixels = np.zeros((batch, 3, s, s), np.float32)
    ids = np.zeros((batch, length), np.int64)
    ids[:, 0] = 5
    assert visual.run(None, {vin.name: pixels})[0].shape == (batch, d)
    assert textual.run(None, {tin.name: ids})[0].shape == (batch, d)


def test_tokenizer_lowercases_and_pads(model: OnnxClip) -> None:
    ids, _ = model._tokenize(["A RED Circle", "a red circle"])
    a, b = ids.tolist()
    assert a == b
    assert len(a) == model.config.context_length
    assert a[3:] == [model.config.pad_token_id] * (len(a) - 3)
    assert model._tokenizer.token_to_id("[UNK]") not in a


def test_queries_rank_matching_scenes_first(model: OnnxClip) -> None:
    rng = np.random.default_rng(TEST_SEED)
    targets = [("red", "circle", "gray"), ("blue", "square", "yellow"), ("green", "triangle", "white")]
    images = [
        render_scene(
            shape,
            color,
            bg,
            float(rng.uniform(0.35, 0.6)),
            (float(rng.uniform(0.4, 0.6)), 0.5),
            image_size=(320, 240),
            rotation=float(rng.uniform(-20, 20)),
        )
        for color, shape, bg in targets
    ]
    texts = [f"a {color} {shape}" for color, shape, _ in targets]
    sims = model.embed_texts(texts) @ model.embed_images(images).T
    assert list(sims.argmax(axis=1)) == [0, 1, 2]  # text -> image
    assert list(sims.argmax(axis=0)) == [0, 1, 2]  # image -> text


def test_heldout_accuracy_well_above_chance(model: OnnxClip) -> None:
    images, labels = heldout_scenes(96, seed=TEST_SEED)
    queries = [
        (c, s) for c in ("red", "green", "blue", "yellow", "white", "black") for s in ("circle", "square", "triangle", "star")
    ]
    sims = model.embed_images(images) @ model.embed_texts([f"a {c} {s}" for c, s in queries]).T
    acc = np.mean([queries[i] == t for i, t in zip(sims.argmax(axis=1), labels, strict=True)])
    assert acc >= 0.75, f"top-1 shape+colour accuracy {acc:.0%} (chance 4%)"


def test_green_triangle_beats_other_shapes_and_colours(model: OnnxClip) -> None:
    assert green_triangle_check(model, seed=TEST_SEED)


def test_onnx_models_are_self_contained() -> None:
    for name in ("visual.onnx", "textual.onnx"):
        sess = ort.InferenceSession(str(MODEL / name), providers=["CPUExecutionProvider"])
        assert len(sess.get_outputs()) >= 1

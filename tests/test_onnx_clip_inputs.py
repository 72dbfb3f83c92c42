"""Published ONNX CLIP exports (Immich's among them) take int32 ids and may fix the batch at 1: both must work."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from framesearch.embedders.onnx_clip import OnnxClip
from tests.helpers.tiny_clip import solid_frame

COLOURS = ["red", "green", "blue"]


def _retype(path: Path, int32_ids: bool) -> None:
    """Fix the first input's batch size at 1 (and make token ids int32), as some published exports do."""
    import onnx

    model = onnx.load(str(path))
    first = model.graph.input[0].type.tensor_type
    first.shape.dim[0].dim_value = 1
    if int32_ids:
        first.elem_type = onnx.TensorProto.INT32
    model.graph.output[0].type.tensor_type.shape.dim[0].dim_value = 1
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def batch_one_int32_clip(tiny_clip_dir: Path, tmp_path_factory) -> OnnxClip:
    folder = tmp_path_factory.mktemp("published") / "clip"
    shutil.copytree(tiny_clip_dir, folder)
    _retype(folder / "textual.onnx", int32_ids=True)
    _retype(folder / "visual.onnx", int32_ids=False)
    return OnnxClip(folder)


def test_int32_ids_and_a_fixed_batch_of_one_give_the_same_text_vectors(batch_one_int32_clip, tiny_clip):
    inputs = batch_one_int32_clip._session("textual").get_inputs()
    assert (inputs[0].type, inputs[0].shape[0]) == ("tensor(int32)", 1)
    np.testing.assert_allclose(batch_one_int32_clip.embed_texts(COLOURS), tiny_clip.embed_texts(COLOURS), atol=1e-6)


def test_a_fixed_batch_of_one_gives_the_same_image_vectors(batch_one_int32_clip, tiny_clip):
    frames = [solid_frame(c) for c in COLOURS]
    np.testing.assert_allclose(batch_one_int32_clip.embed_images(frames), tiny_clip.embed_images(frames), atol=1e-6)

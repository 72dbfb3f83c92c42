"""A hand-built tiny CLIP for tests: it embeds an image by its mean colour and a caption by its colour words.

It is a real model folder (ONNX towers, tokenizer.json, config.json) loaded through the product's own
code path, with weights chosen by hand instead of learned: "red" lands next to mostly-red frames.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

COLOURS = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
}
DIM = 8
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)


def _rotation(seed: int = 7) -> np.ndarray:
    """A 3 x DIM matrix with orthonormal rows: it maps colour space into DIM dims, keeping cosines."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(DIM, DIM)))
    return q[:3].astype(np.float32)


def _colour_vector(rgb: tuple[int, int, int]) -> np.ndarray:
    return (np.asarray(rgb, dtype=np.float32) / 255.0 - 0.5) / 0.5


def _save(graph, path: Path) -> None:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _visual(path: Path, rotation: np.ndarray) -> None:
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("GlobalAveragePool", ["pixel_values"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("MatMul", ["flat", "rotation"], ["image_embeds"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_visual",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["n", DIM])],
        [numpy_helper.from_array(rotation, "rotation")],
    )
    _save(graph, path)


def _textual(path: Path, table: np.ndarray, rotation: np.ndarray) -> None:
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["embedded"]),
        helper.make_node("ReduceSum", ["embedded", "axes"], ["summed"], keepdims=0),
        helper.make_node("MatMul", ["summed", "rotation"], ["text_embeds"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_textual",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["n", "l"])],
        [helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["n", DIM])],
        [
            numpy_helper.from_array(table, "table"),
            numpy_helper.from_array(np.asarray([1], dtype=np.int64), "axes"),
            numpy_helper.from_array(rotation, "rotation"),
        ],
    )
    _save(graph, path)


def build_tiny_clip(
    folder: Path, name: str = "tests/tiny-colour-clip", image_size: int = 16, aliases: tuple[str, ...] = ()
) -> Path:
    """Write the model folder and return it."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"[PAD]": 0, "[UNK]": 1, **{c: i + 2 for i, c in enumerate(COLOURS)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(folder / "tokenizer.json"))
    table = np.zeros((len(vocab), 3), dtype=np.float32)
    for colour, index in vocab.items():
        if colour in COLOURS:
            table[index] = _colour_vector(COLOURS[colour])
    rotation = _rotation()
    _visual(folder / "visual.onnx", rotation)
    _textual(folder / "textual.onnx", table, rotation)
    config = {
        "name": name,
        "aliases": list(aliases),
        "embed_dim": DIM,
        "image_size": image_size,
        "image_mean": list(MEAN),
        "image_std": list(STD),
        "context_length": 8,
        "pad_token_id": 0,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder


def solid_frame(colour: str, size: tuple[int, int] = (32, 24)) -> np.ndarray:
    """An H x W x 3 uint8 frame of one colour."""
    frame = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    frame[:] = COLOURS[colour]
    return frame

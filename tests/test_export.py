"""`framesearch model export` on tiny RANDOM CLIPs built here: the ONNX folder must give PyTorch's vectors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("torch", reason="model export needs torch: pip install 'framesearch[export]'")
pytest.importorskip("transformers", reason="model export needs transformers: pip install 'framesearch[export]'")
pytest.importorskip("onnx", reason="model export needs onnx: pip install 'framesearch[export]'")
pytestmark = pytest.mark.slow

import torch  # noqa: E402

from framesearch.cli import app  # noqa: E402
from framesearch.embedders.export import check_images  # noqa: E402
from framesearch.embedders.onnx_clip import OnnxClip  # noqa: E402
from tests.helpers.tiny_hf_clip import CONTEXT, DIM, IMAGE, build_tiny_hf_clip, fake_open_clip  # noqa: E402

runner = CliRunner()
TEXTS = ["a red cat", "blue"]  # different lengths: a padded batch


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def features(output) -> np.ndarray:
    return getattr(output, "pooler_output", output).detach().numpy()


@pytest.fixture(scope="module", params=[True, False], ids=["legacy-eos", "eos-id"])
def hf_source(request, tmp_path_factory) -> Path:
    return build_tiny_hf_clip(tmp_path_factory.mktemp("hf") / "tiny-clip", legacy_eos=request.param)


@pytest.fixture(scope="module")
def exported(hf_source: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out") / "vit-b-16"
    result = runner.invoke(app, ["model", "export", str(hf_source), "-o", str(out), "--name", "ViT-B-16/openai"])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "clip/ViT-B-16" in result.output
    return out


def test_hf_export_writes_the_folder_layout_and_config(exported: Path):
    assert sorted(p.name for p in exported.iterdir()) == ["config.json", "textual.onnx", "tokenizer.json", "visual.onnx"]
    assert not list(exported.parent.glob(".*partial"))
    config = json.loads((exported / "config.json").read_text())
    assert config["name"] == "ViT-B-16/openai" and config["aliases"] == ["clip/ViT-B-16"]
    assert (config["embed_dim"], config["image_size"], config["context_length"]) == (DIM, IMAGE, CONTEXT)
    assert config["pad_token_id"] == 0 and config["default_threshold"] == 0.2
    assert config["image_mean"] == pytest.approx([0.48145466, 0.4578275, 0.40821073])
    tokenizer = json.loads((exported / "tokenizer.json").read_text())
    assert tokenizer["padding"] is None and tokenizer["truncation"] is None


def test_hf_text_vectors_match_pytorch_on_a_padded_batch(exported: Path, hf_source: Path):
    from transformers import CLIPModel, CLIPTokenizerFast

    clip = OnnxClip(exported)
    model = CLIPModel.from_pretrained(str(hf_source)).eval()
    ids, mask = clip._tokenize(TEXTS)
    assert ids[1, 3:].tolist() == [0] * (CONTEXT - 3)  # "blue" is sot, blue, eot, then zero padding
    session = clip._session("textual")
    raw = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    with torch.no_grad():
        ours = features(model.get_text_features(torch.from_numpy(ids), torch.from_numpy(mask)))
        batch = CLIPTokenizerFast.from_pretrained(str(hf_source))(TEXTS, padding=True, return_tensors="pt")
        native = features(model.get_text_features(batch["input_ids"], batch["attention_mask"]))
    np.testing.assert_allclose(raw, ours, atol=1e-5)
    np.testing.assert_allclose(clip.embed_texts(TEXTS), unit(native), atol=1e-5)
    assert float(unit(native)[0] @ unit(native)[1]) < 0.999  # the two texts really differ


def test_hf_image_vectors_match_pytorch(exported: Path, hf_source: Path):
    from transformers import CLIPModel

    clip = OnnxClip(exported)
    model = CLIPModel.from_pretrained(str(hf_source)).eval()
    pixels = clip.preprocess(check_images())
    with torch.no_grad():
        reference = features(model.get_image_features(torch.from_numpy(pixels)))
    np.testing.assert_allclose(clip.embed_images(check_images()), unit(reference), atol=1e-5)


def test_model_info_prints_the_config_and_checks_the_towers(exported: Path):
    result = runner.invoke(app, ["model", "info", str(exported), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["name"] == "ViT-B-16/openai" and info["embed_dim"] == DIM
    table = runner.invoke(app, ["model", "info", str(exported)])
    assert table.exit_code == 0 and f"give {DIM}-dim vectors" in table.output


def test_default_name_of_a_local_folder_is_its_name_without_roboflow_alias(hf_source: Path, tmp_path: Path):
    out = tmp_path / "plain"
    result = runner.invoke(app, ["model", "export", str(hf_source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert (config["name"], config["aliases"]) == ("tiny-clip", [])


def test_a_failed_export_leaves_nothing_behind(hf_source: Path, tmp_path: Path, monkeypatch):
    import framesearch.embedders.export as export
    from framesearch.errors import ModelError

    def disagree(*_args, **_kwargs):
        raise ModelError("exported text tower disagrees with PyTorch")

    monkeypatch.setattr(export, "verify_folder", disagree)
    result = runner.invoke(app, ["model", "export", str(hf_source), "-o", str(tmp_path / "m")])
    assert result.exit_code == 1 and "disagrees" in result.output
    assert list(tmp_path.iterdir()) == []


def test_an_existing_output_folder_is_refused(hf_source: Path, tmp_path: Path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "keep.txt").write_text("mine")
    result = runner.invoke(app, ["model", "export", str(hf_source), "-o", str(tmp_path / "m")])
    assert result.exit_code == 1 and "already exists" in result.output
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["keep.txt"]


def test_open_clip_export_through_a_stand_in_module(hf_source: Path, tmp_path: Path, monkeypatch):
    import framesearch.embedders.export as export

    fake = fake_open_clip(hf_source / "tokenizer.json")
    monkeypatch.setitem(sys.modules, "open_clip", fake)
    monkeypatch.setattr(export, "CLIP_BPE_TOKENIZER", str(hf_source))
    out = tmp_path / "oc"
    result = runner.invoke(app, ["model", "export", "ViT-B-16", "--pretrained", "openai", "-o", str(out)])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert (config["name"], config["aliases"]) == ("ViT-B-16/openai", ["clip/ViT-B-16"])
    assert config["image_mean"] == pytest.approx([0.5, 0.4, 0.3]) and config["context_length"] == CONTEXT
    clip, model = OnnxClip(out), fake.created[0]
    with torch.no_grad():
        text = model.encode_text(fake.get_tokenizer("ViT-B-16")(TEXTS)).numpy()
        image = model.encode_image(torch.from_numpy(clip.preprocess(check_images()))).numpy()
    np.testing.assert_allclose(clip.embed_texts(TEXTS), unit(text), atol=1e-5)
    np.testing.assert_allclose(clip.embed_images(check_images()), unit(image), atol=1e-5)
    assert [i.name for i in clip._session("textual").get_inputs()] == ["input_ids"]

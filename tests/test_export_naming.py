"""Model identities and CLI errors of `framesearch model export` that need neither torch nor transformers."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from framesearch.cli import app
from framesearch.embedders.export import aliases_for, hf_model_name, open_clip_model_name

runner = CliRunner()


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("openai/clip-vit-base-patch16", "ViT-B-16/openai"),
        ("openai/clip-vit-base-patch32/", "ViT-B-32/openai"),
        ("openai/clip-vit-large-patch14", "ViT-L-14/openai"),
        ("openai/clip-vit-large-patch14-336", "ViT-L-14-336/openai"),
        ("laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"),
    ],
)
def test_hf_names(source: str, name: str):
    assert hf_model_name(source) == name


def test_openai_weights_get_roboflow_aliases_others_none():
    assert aliases_for(hf_model_name("openai/clip-vit-base-patch16")) == ("clip/ViT-B-16",)
    assert aliases_for(open_clip_model_name("ViT-B-16", "openai")) == ("clip/ViT-B-16",)
    assert aliases_for(open_clip_model_name("ViT-B-16-quickgelu", "openai")) == ("clip/ViT-B-16",)
    assert aliases_for("ViT-L-14-336/openai") == ("clip/ViT-L-14-336px",)
    assert open_clip_model_name("ViT-B-32", "laion2b_s34b_b79k") == "ViT-B-32/laion2b_s34b_b79k"
    assert aliases_for("ViT-B-32/laion2b_s34b_b79k") == ()
    assert aliases_for("laion/CLIP-ViT-B-32-laion2B-s34B-b79K") == ()


def test_a_local_folder_is_named_after_itself(tmp_path):
    (tmp_path / "my-clip").mkdir()
    assert hf_model_name(str(tmp_path / "my-clip")) == "my-clip"


def test_missing_transformers_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    result = runner.invoke(app, ["model", "export", "openai/clip-vit-base-patch16", "-o", str(tmp_path / "m")])
    assert result.exit_code == 1 and "pip install 'framesearch[export]'" in result.output
    assert not (tmp_path / "m").exists()


def test_missing_open_clip_says_what_to_install(tmp_path, monkeypatch):
    pytest.importorskip("torch", reason="the open_clip message comes after the torch check")
    monkeypatch.setitem(sys.modules, "open_clip", None)
    result = runner.invoke(app, ["model", "export", "ViT-B-16", "--pretrained", "openai", "-o", str(tmp_path / "m")])
    assert result.exit_code == 1 and "open_clip_torch" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ViT-B-16", "--format", "open_clip"], "needs --pretrained"),
        (["openai/clip-vit-base-patch16", "--format", "hf", "--pretrained", "openai"], "--pretrained is for"),
        (["x", "--format", "onnx"], "unknown format"),
    ],
)
def test_bad_option_combinations(tmp_path, args, message):
    result = runner.invoke(app, ["model", "export", *args, "-o", str(tmp_path / "m")])
    assert result.exit_code == 1 and message in result.output


def test_model_info_of_a_non_model(tmp_path):
    result = runner.invoke(app, ["model", "info", str(tmp_path)])
    assert result.exit_code == 1 and "lacks config.json" in result.output

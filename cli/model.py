"""CLI commands for CLIP model folders: `model pull` and `model list` (published ONNX exports from the Hugging Face
Hub), `model export` (Hugging Face or open_clip to ONNX) and `model info`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from framesearch.cli.main import JsonOpt, err, fail_cleanly, model_app, out, print_json, settings_for
from framesearch.errors import ModelError


@model_app.command("export")
@fail_cleanly
def export_cmd(
    source: Annotated[str, typer.Argument(help="Hugging Face hub id or folder; or an open_clip architecture.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The model folder to create (must not exist).")],
    fmt: Annotated[
        Optional[str], typer.Option("--format", help="hf or open_clip (default: open_clip with --pretrained, else hf).")
    ] = None,
    pretrained: Annotated[
        Optional[str], typer.Option("--pretrained", help="open_clip weights tag (e.g. openai) or checkpoint file.")
    ] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Model identity (default: derived from SOURCE).")] = None,
) -> None:
    """Convert a real CLIP to an ONNX model folder, checked against PyTorch (needs the export extra and, the first
    time, a network to download the weights; see docs/models.md)."""
    from framesearch.embedders.export import describe_folder, export_model

    weights = f"{source} + {pretrained}" if pretrained else source
    err.print(f"exporting {weights} to {output} ...", highlight=False, markup=False, soft_wrap=True)
    folder = export_model(source, output, fmt, pretrained, name)
    info = describe_folder(folder)
    aliases = f" (aliases: {', '.join(info['aliases'])})" if info["aliases"] else ""
    summary = f"wrote {folder}: {info['name']}{aliases}, {info['embed_dim']}-dim, checked against PyTorch"
    out.print(summary, highlight=False, markup=False, soft_wrap=True)


@model_app.command("info")
@fail_cleanly
def info_cmd(
    ctx: typer.Context,
    folder: Annotated[str, typer.Argument(help="Model folder (or a bundled or pulled model's name).")],
    as_json: JsonOpt = False,
) -> None:
    """Print a model folder's config and check that both towers load and give vectors of its size."""
    from framesearch.embedders.export import describe_folder
    from framesearch.embedders.resolve import ROBOFLOW, resolve_model

    target = resolve_model(folder, settings_for(ctx).models_path())
    if target == ROBOFLOW:
        raise ModelError("'roboflow' is a hosted model, not a model folder")
    info = describe_folder(Path(target))
    if as_json:
        print_json(info)
        return
    from rich.table import Table

    table = Table("key", "value", show_header=False)
    for key, value in info.items():
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
        table.add_row(key, shown or "-")
    out.print(table)
    out.print(f"ok: text and image towers load and give {info['embed_dim']}-dim vectors")


@model_app.command("pull")
@fail_cleanly
def pull_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A published export: ViT-B-16__openai, ViT-B-32__openai, or OWNER/REPO.")],
    revision: Annotated[Optional[str], typer.Option("--revision", help="Branch, tag or commit (default main).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Download a published CLIP ONNX export from the Hugging Face Hub into the models folder, check it and make it
    a model folder that `--model NAME` finds (HF_ENDPOINT names a mirror; see docs/models.md)."""
    from framesearch.embedders.hub import published, pull_model

    settings = settings_for(ctx)
    pub = published(name)
    err.print(f"pulling {pub.repo_id} into {settings.models_path()} ...", highlight=False, markup=False, soft_wrap=True)
    result = pull_model(name, settings.models_path(), revision)
    if as_json:
        print_json({**vars(result), "folder": str(result.folder)})
        return
    aliases = f" (aliases: {', '.join(result.aliases)})" if result.aliases else ""
    verb = "pulled" if result.downloaded else "already here:"
    out.print(
        f"{verb} {result.name}{aliases}, {result.embed_dim}-dim, from {result.repo_id}@{result.commit[:12]} into {result.folder}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    out.print(f"use it with --model {result.folder.name}", highlight=False, markup=False)


@model_app.command("list")
@fail_cleanly
def list_cmd(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The models `--model` can name: bundled ones, those pulled into the models folder, and Roboflow's CLIP."""
    from framesearch.embedders.resolve import list_models

    settings = settings_for(ctx)
    models = list_models(settings)
    if as_json:
        print_json(models)
        return
    from rich.table import Table

    table = Table("--model", "identity", "dim", "kind", "source")
    for m in models:
        aliases = f" (= {', '.join(m.aliases)})" if m.aliases else ""
        table.add_row(m.spec, m.name + aliases, str(m.embed_dim or "?"), m.kind, m.source or m.folder or "")
    out.print(table)
    out.print(f"models folder: {settings.models_path()} (FRAMESEARCH_MODELS_DIR)", highlight=False, markup=False, soft_wrap=True)

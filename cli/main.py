"""The Typer app, its global options and the CLI's one translation of domain errors (a line on stderr, exit 1).

Commands live in sibling modules (`ingest`, `search`, `library`, `model`), each registered on the apps
defined here; this module imports none of them, so there is no import cycle. Startup is kept light: command
modules import only typer at their top; rich, pydantic, the settings and every engine are imported by the
commands that use them (tests/test_startup.py checks what `--help` and `search` load).
"""

from __future__ import annotations

import errno
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, TypeVar

import typer

from framesearch.cli import render
from framesearch.errors import (
    ApiKeyMissing,
    DiskFull,
    FrameSearchError,
    InsecureBinding,
    InvalidInput,
    JobTimeout,
    LibraryEmpty,
    ModelError,
    ModelMismatch,
    ModelNotFound,
    NoModelChosen,
    PortInUse,
    StoreDamaged,
    StoreLocked,
    StoreReadOnly,
    TargetNotEmpty,
    Unauthorized,
    WrongModel,
)

if TYPE_CHECKING:
    from pydantic import BaseModel

    from framesearch.settings import Settings

app = typer.Typer(help="Search for moments in video: CLIP frame vectors in Qdrant.", no_args_is_help=True)
ingest_app = typer.Typer(help="Index videos (or Roboflow results for them) into the store.", no_args_is_help=True)
videos_app = typer.Typer(help="The indexed video library.", no_args_is_help=True)
model_app = typer.Typer(
    help="CLIP model folders: pull published ones, list them, export real CLIPs to ONNX, inspect a folder.",
    no_args_is_help=True,
)
store_app = typer.Typer(help="The store itself: check and repair, copy, describe.", no_args_is_help=True)
library_app = typer.Typer(help="Keep the library in line with your video folders.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
app.add_typer(videos_app, name="videos")
app.add_typer(model_app, name="model")
collections_app = typer.Typer(help="The collections of the store: list them, drop one.", no_args_is_help=True)
app.add_typer(store_app, name="store")
app.add_typer(collections_app, name="collections")
app.add_typer(library_app, name="library")


out, err = render.out, render.err  # the consoles every command prints through (cli/render.py)

StoreOpt = Annotated[
    Optional[Path],
    typer.Option("--store", help="The library's folder (Qdrant Edge); default the user's data folder (env FRAMESEARCH_STORE)."),
]
UrlOpt = Annotated[Optional[str], typer.Option("--qdrant-url", help="Qdrant server URL (env FRAMESEARCH_QDRANT_URL).")]
CollectionOpt = Annotated[Optional[str], typer.Option("--collection", help="Collection name (default frames).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ServiceOpt = Annotated[
    Optional[str],
    typer.Option("--url", help="A running framesearch service to use (env FRAMESEARCH_URL; default: the store's, if served)."),
]

# What a CLI user can do about an error, in this edge's words (the core's messages name no flags).
HINTS: dict[type[FrameSearchError], str | Callable[[Any], str]] = {
    Unauthorized: "set FRAMESEARCH_API_KEY to the service's key",
    StoreLocked: lambda exc: "" if "framesearch serve" in str(exc) else "pass --qdrant-url to use a Qdrant server instead",
    NoModelChosen: "try the bundled demo model with --model tiny-shapes-clip, or get a real CLIP with "
    "`framesearch model pull ViT-B-16__openai` and pass --model ViT-B-16__openai",
    ModelNotFound: "`framesearch model list` shows the models here; `framesearch model pull NAME` fetches one",
    ApiKeyMissing: "",  # the message says which variable to set
    ModelError: "choose the model with --model",
    WrongModel: "name the model that made the vectors with --model",
    ModelMismatch: "--model NAME, --collection NAME or --store PATH",
    LibraryEmpty: lambda exc: f"with {' '.join(exc.store_options)} for this library" if exc.store_options else "",
    InsecureBinding: "or pass --allow-anonymous to serve without a key anyway",
    PortInUse: "choose another with --port",
    JobTimeout: lambda exc: f"resume with `framesearch ingest roboflow --job-id {exc.job_id}`",
    TargetNotEmpty: "pass --merge to add this library to it",
    StoreDamaged: "run `framesearch store check` to see what is wrong, with --repair to fix what can be fixed",
    DiskFull: lambda exc: "the reserve is set by FRAMESEARCH_MIN_FREE_MB" if "kept free" in str(exc) else "",
}

M = TypeVar("M", bound="BaseModel")


def fail_cleanly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn domain errors into one 'error: ...' line on stderr and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FrameSearchError as exc:
            report(exc)
            raise typer.Exit(1) from None
        except OSError as exc:  # a full or read-only disk outside the store (an output file, a cache)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                report(DiskFull(f"the disk is full: {exc}"))
            elif exc.errno == errno.EROFS:
                report(StoreReadOnly(f"cannot write on a read-only filesystem: {exc}"))
            else:
                raise
            raise typer.Exit(1) from None

    return wrapper


def report(exc: FrameSearchError, prefix: str = "") -> None:
    """Print a domain error as one line, with this edge's hint for its kind."""
    hint = next((h for kind, h in HINTS.items() if isinstance(exc, kind)), None)
    hint = hint(exc) if callable(hint) else hint
    text = _bounded(f"{prefix}{exc}") + (f" ({hint})" if hint and not _said(hint, str(exc)) else "")
    from rich.markup import escape

    err.print(f"[red]error:[/red] {escape(text)}", highlight=False, markup=True, soft_wrap=True)


MAX_MESSAGE = 2000  # characters of an error line: a message quoting a hostile value never floods the terminal


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else f"{text[: MAX_MESSAGE - 40]}… ({len(text) - MAX_MESSAGE + 40} more characters)"


def _said(hint: str, message: str) -> bool:
    """Whether a message already says what its hint would (the hint's options or commands are all in it)."""
    import re

    names = re.findall(r"--[a-z][a-z-]*|`[^`]+`", hint)
    return bool(names) and all(name.strip("`") in message for name in names)


def version() -> str:
    """The installed framesearch's version (the source tree's, when run from a checkout that is not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("framesearch")
    except PackageNotFoundError:
        import tomllib

        pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
        return str(tomllib.loads(pyproject.read_text())["project"]["version"]) if pyproject.is_file() else "unknown"


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"framesearch {version()}\n")
        raise typer.Exit()


@app.callback()
@fail_cleanly
def main(
    ctx: typer.Context,
    store: StoreOpt = None,
    qdrant_url: UrlOpt = None,
    model: Annotated[
        Optional[str], typer.Option("--model", help="Query model: folder, bundled or pulled name, or 'roboflow'.")
    ] = None,
    collection: CollectionOpt = None,
    show_version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", is_eager=True, callback=_print_version)
    ] = False,
    url: ServiceOpt = None,
) -> None:
    """Global options apply to every command (and may also be given after the command)."""
    ctx.obj = {"store": store, "qdrant_url": qdrant_url, "model": model, "collection": collection, "url": url}
    one_blas_thread()
    if not ctx.resilient_parsing:
        from framesearch.cli.supervise import supervise

        supervise(ctx.invoked_subcommand)  # a full disk's SIGBUS stops a child, not this command (cli/supervise.py)


BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")


def one_blas_thread() -> None:
    """Start numpy's OpenBLAS with one thread unless the user chose a number (a variable OpenBLAS reads).

    A command is one short process whose numpy work is matrix-vector products over at most a few thousand
    vectors; OpenBLAS starts a busy-waiting thread per core when numpy loads, which cost more CPU than the
    search itself (45 ms on 2 cores; more with more cores). `serve` too: its requests are the same small products,
    and the requests are its parallelism (one thread gave it 2.3-2.5x the searches per second: docs/performance.md).
    The variable reaches the store process, uvicorn's workers and the parser process, which inherit it."""
    if "numpy" not in sys.modules and not any(name in os.environ for name in BLAS_THREAD_VARS):
        os.environ["OPENBLAS_NUM_THREADS"] = "1"


def settings_for(ctx: typer.Context, **overrides: Any) -> Settings:
    """Settings from env, overridden by global options, overridden by the command's own options."""
    from framesearch.settings import Settings

    chosen = {k: v for k, v in (ctx.find_root().obj or {}).items() if v is not None}
    chosen.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = Settings(**chosen)
    except ValueError as exc:
        raise InvalidInput(f"bad setting: {exc}") from None
    if not settings.qdrant_url:
        from framesearch.cli.supervise import note_store

        note_store(settings.store, settings.min_free_mb)
    return settings


def request(schema: type[M], /, **options: Any) -> M:
    """The core's request model from the options given (None means: not given, use the model's default)."""
    from framesearch.validation import build

    return build(schema, **{k: v for k, v in options.items() if v is not None})


def print_json(data: Any) -> None:
    """Write a response model (or a list of them) as JSON on stdout."""
    from pydantic_core import to_json

    sys.stdout.write(to_json(data, indent=2).decode() + "\n")

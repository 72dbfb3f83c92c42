"""Field types every request model shares, and the one translation of pydantic's errors into InvalidInput.

Bounds live here once (fps, limit, threshold, times, video ids); the CLI, the HTTP API and the jobs all
validate through request models built from these types.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, Field, ValidationError

from framesearch.errors import InvalidInput

MAX_FPS = 60.0
DEFAULT_FPS = 3.0
MAX_LIMIT = 1000
MAX_QUERY_CHARS = 1000
MAX_VECTOR_DIM = 8192
MAX_VIDEO_ID = 256
MAX_SECONDS = 10**7  # about 115 days of video: far beyond any real file, far below float trouble


def _printable_text(value: str) -> str:
    """Refuse lone surrogates and control characters (tokenizers and filesystems choke on them)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def _video_id(value: str) -> str:
    _printable_text(value)
    if not value.strip():
        raise ValueError("must be a non-empty name")
    if not value.isprintable():
        raise ValueError("must hold printable characters only")
    return value


Fps = Annotated[float, Field(gt=0, le=MAX_FPS, allow_inf_nan=False, description="Frames sampled per second of video.")]
Seconds = Annotated[float, Field(ge=0, le=MAX_SECONDS, allow_inf_nan=False, description="A time in the video, in seconds.")]
Threshold = Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False, description="Cosine score floor (-1 to 1).")]
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description="Most results to return.")]
VideoId = Annotated[
    str, Field(min_length=1, max_length=MAX_VIDEO_ID, description="A video's id in the library."), AfterValidator(_video_id)
]
QueryText = Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS), AfterValidator(_printable_text)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]

M = TypeVar("M", bound=BaseModel)


MAX_DESCRIBED = 8  # errors named in one message; field names are cut at MAX_NAME_CHARS (a client may send any key)
MAX_NAME_CHARS = 40


def _name(part: Any) -> str:
    text = str(part).encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= MAX_NAME_CHARS else text[: MAX_NAME_CHARS - 1] + "…"


def describe(exc: ValidationError | list[dict[str, Any]]) -> str:
    """One line naming each bad field and what is wrong, without echoing the value (it may be huge or NaN)."""
    errors = exc.errors(include_input=False, include_url=False) if isinstance(exc, ValidationError) else exc
    parts = []
    for error in errors[:MAX_DESCRIBED]:
        where = ".".join(_name(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "form"))
        message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    if len(errors) > MAX_DESCRIBED:
        parts.append(f"and {len(errors) - MAX_DESCRIBED} more")
    return "; ".join(parts) or "invalid input"


def build(schema: type[M], /, **data: Any) -> M:
    """Validate `data` into the request model `schema`; pydantic's errors become one InvalidInput naming the fields."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(describe(exc)) from None


_VIDEO_ID_ADAPTER: Any = None


def check_video_id(value: Any) -> str:
    """A valid video id, or InvalidInput saying what is wrong with it."""
    from pydantic import TypeAdapter

    if isinstance(value, str) and not value.strip():
        raise InvalidInput("video id must be a non-empty name: an empty or blank id names no video")

    global _VIDEO_ID_ADAPTER
    if _VIDEO_ID_ADAPTER is None:
        _VIDEO_ID_ADAPTER = TypeAdapter(VideoId)
    try:
        return _VIDEO_ID_ADAPTER.validate_python(value)
    except ValidationError as exc:
        raise InvalidInput(f"video id {describe(exc)}") from None


def alerts_dir(store: Path, collection: str) -> Path:
    """Where a library's standing searches live (search/alerts.py): beside its store, one folder per collection."""
    return Path(store) / f"alerts.{collection}"

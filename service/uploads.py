"""Request bodies of job submissions: multipart streamed straight to disk under a size limit, or small forms.

The video part of a multipart body is written chunk by chunk as it arrives (never held in memory or
spooled elsewhere first); the upload is refused with PayloadTooLarge as soon as it passes the limit.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import parse_qsl

from framesearch.errors import InvalidInput, PayloadTooLarge

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks  # declared for type checkers only

FILE_FIELD = "file"
MAX_FIELD_BYTES = 64 * 1024


@dataclass(frozen=True)
class SavedUpload:
    path: Path
    filename: str
    size: int


def safe_suffix(filename: str) -> str:
    """The file name's extension if it is plain (`.mp4`), else nothing."""
    suffix = Path(filename).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""


class _PartSink:
    """python-multipart callbacks shared by the sinks: each part's headers are gathered, then handed on."""

    def __init__(self) -> None:
        self._header = b""
        self._value = b""
        self._headers: dict[bytes, bytes] = {}

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: setattr(self, "_header", self._header + data[start:end]),
            "on_header_value": lambda data, start, end: setattr(self, "_value", self._value + data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._begin()

    def _header_end(self) -> None:
        self._headers[self._header.lower()] = self._value
        self._header, self._value = b"", b""

    def _disposition(self) -> dict[bytes, bytes]:
        from python_multipart.multipart import parse_options_header

        return parse_options_header(self._headers.get(b"content-disposition", b""))[1]

    def _begin(self) -> None: ...

    def _headers_finished(self) -> None: ...

    def _data(self, data: bytes, start: int, end: int) -> None: ...

    def _end(self) -> None: ...


class _MultipartSink(_PartSink):
    """Callbacks for python-multipart: fields into a dict, the `file` part into a file on disk."""

    def __init__(self, folder: Path, limit: int) -> None:
        super().__init__()
        self.folder, self.limit = folder, limit
        self.fields: dict[str, str] = {}
        self.upload: SavedUpload | None = None
        self._name = ""
        self._filename: str | None = None
        self._buffer = bytearray()
        self._file: BinaryIO | None = None
        self._size = 0

    def _begin(self) -> None:
        self._buffer, self._filename, self._name = bytearray(), None, ""

    def _headers_finished(self) -> None:
        options = self._disposition()
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if filename is not None and self._name == FILE_FIELD:
            if self.upload is not None or self._file is not None:
                raise InvalidInput("one video per job: the form holds two 'file' parts")
            self._filename = Path(filename.decode("utf-8", "replace")).name or "upload"
            self._file = open(self.folder / f"upload{safe_suffix(self._filename)}", "wb")

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self._size += end - start
            if self._size > self.limit:
                raise PayloadTooLarge(f"upload exceeds the limit of {self.limit // (1024 * 1024)} MB")
            self._file.write(data[start:end])
            return
        self._buffer += data[start:end]
        if len(self._buffer) > MAX_FIELD_BYTES:
            raise InvalidInput(f"form field {self._name!r} is too long")

    def _end(self) -> None:
        if self._file is not None:
            self._file.close()
            self.upload = SavedUpload(Path(self._file.name), self._filename or "upload", self._size)
            self._file = None
        elif self._name:
            self.fields[self._name] = self._buffer.decode("utf-8", "replace")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


async def _read_small(stream: AsyncIterator[bytes]) -> bytes:
    body = bytearray()
    async for chunk in stream:
        body += chunk
        if len(body) > MAX_FIELD_BYTES:
            raise PayloadTooLarge("a JSON or form body without a file must be small; upload videos as multipart 'file'")
    return bytes(body)


async def receive_job_body(
    stream: AsyncIterator[bytes], content_type: str, folder: Path, limit: int
) -> tuple[dict[str, str], SavedUpload | None]:
    """Fields and the saved `file` part of a job submission (multipart, JSON or url-encoded)."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "multipart/form-data":
        from python_multipart.exceptions import MultipartParseError
        from python_multipart.multipart import MultipartParser, parse_options_header

        boundary = parse_options_header(content_type)[1].get(b"boundary")
        if not boundary:
            raise InvalidInput("multipart body without a boundary")
        sink = _MultipartSink(folder, limit)
        parser = MultipartParser(boundary, sink.callbacks())
        try:
            async for chunk in stream:
                parser.write(chunk)
            parser.finalize()
        except MultipartParseError as exc:
            raise InvalidInput(f"malformed multipart body: {exc}") from None
        finally:
            sink.close()
        return sink.fields, sink.upload
    body = await _read_small(stream)
    if kind == "application/json":
        try:
            data = json.loads(body or b"{}")
        except (ValueError, RecursionError) as exc:
            raise InvalidInput(f"job request is not valid JSON: {str(exc)[:200]}") from None
        if not isinstance(data, dict):
            raise InvalidInput("job request must be a JSON object")
        return {k: str(v) for k, v in data.items() if v is not None}, None
    if kind == "application/x-www-form-urlencoded":
        return dict(parse_qsl(body.decode("utf-8", "replace"))), None
    if body:
        raise InvalidInput(f"unsupported content type {kind!r}: send multipart/form-data, JSON or a url-encoded form")
    return {}, None


MB = 1024 * 1024
FORM_SLACK = MB  # room for multipart headers and small fields beside a file at the size limit


def upload_limit(max_mb: int) -> int:
    """The byte limit of an upload body (the `max_upload_mb` setting plus room for form headers)."""
    return max_mb * MB + FORM_SLACK


def refuse_declared_size(headers: Any, max_mb: int) -> None:
    """Refuse at once a body whose declared length is over the limit (nothing is read)."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > upload_limit(max_mb):
        raise PayloadTooLarge(f"upload exceeds the limit of {max_mb} MB")


async def save_body(request: Any, max_mb: int, folder: Path, field: str = FILE_FIELD) -> Path:
    """A request body (or its multipart `field` part) streamed into a file in `folder`, refused past the size
    limit; only chunk writes happen on the event loop, whatever the body's size."""
    refuse_declared_size(request.headers, max_mb)
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() == "multipart/form-data":
        fields, upload = await receive_job_body(request.stream(), content_type, folder, max_mb * MB)
        if upload is not None:
            return upload.path
        if field not in fields:
            raise InvalidInput(f"multipart upload needs a {field!r} field")
        target = folder / "body"
        target.write_text(fields[field])
        return target
    target, size = folder / "body", 0
    with target.open("wb") as handle:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_mb * MB:
                raise PayloadTooLarge(f"upload exceeds the limit of {max_mb} MB")
            handle.write(chunk)
    return target

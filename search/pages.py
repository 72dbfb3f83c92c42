"""Cursor pagination: a page's `next_cursor` names where the next page of the same search starts.

A cursor is opaque text (URL-safe base64 of a small JSON object): the offset of the next result and a
fingerprint of the search it belongs to (everything in the request but `limit`, `cursor`, `format` and `frames`), so a
cursor given to another search is refused rather than silently misread. Pages are slices of one ranked answer:
the answer does not depend on `limit` (search/retrieval.py), so page 2 at limit N is results N to 2N of the
answer at limit 2N, with no cap on how deep pages go. If the library changes between pages, later pages
follow the new ranking.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from framesearch.errors import InvalidInput

Results = TypeVar("Results", bound=list)
MAX_CURSOR_CHARS = 200
MAX_OFFSET = 10**7
NOT_PART_OF_THE_SEARCH = {"limit", "cursor", "format", "frames"}


def fingerprint(request: BaseModel) -> str:
    """A short hash of what the search is (its query and filters), the same for every page of it."""
    fields = request.model_dump(mode="json", exclude=NOT_PART_OF_THE_SEARCH | {"vector"}, by_alias=False)
    vector = getattr(request, "vector", None)
    if vector is not None:  # its bytes, not its JSON: 512 numbers as text cost more than the search's answer
        import numpy as np  # a vector query has loaded it already

        fields["vector"] = hashlib.sha256(np.asarray(vector, dtype=np.float64).tobytes()).hexdigest()
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode(offset: int, request: BaseModel) -> str:
    raw = json.dumps({"o": offset, "f": fingerprint(request)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def offset_of(request: BaseModel) -> int:
    """Where the page the request asks for starts: 0 without a cursor, else the cursor's offset (checked)."""
    cursor: Any = getattr(request, "cursor", None)
    if cursor is None:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        offset, owner = data["o"], data["f"]
        if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_OFFSET:
            raise ValueError
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise InvalidInput("`cursor` is not a cursor this service gave (pass a response's `next_cursor` as it is)") from None
    if owner != fingerprint(request):
        raise InvalidInput("`cursor` belongs to another search: keep the query and filters of the page that gave it")
    return offset


def page(results: Results, offset: int, limit: int, request: BaseModel) -> tuple[Results, str | None]:
    """The page of `results` (ranked, at least offset + limit + 1 long when more exist) and the next page's cursor."""
    end = offset + limit
    return cast(Results, results[offset:end]), encode(end, request) if len(results) > end else None

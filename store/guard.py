"""One translation of engine failures into domain errors: a full disk, a read-only store, damaged files.

Qdrant Edge reports I/O failures as plain `Exception`s with the OS error in the text, and a damaged
file can make it panic (`pyo3_runtime.PanicException`, a BaseException); qdrant-client raises its own
types. Each becomes a FrameSearchError naming the store, so no edge ever shows a traceback.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from framesearch.errors import DiskFull, FrameSearchError, StoreDamaged, StoreError, StoreReadOnly

T = TypeVar("T")

NO_SPACE = ("no space left on device", "os error 28", "disk quota exceeded", "os error 122", "not enough space available")
READ_ONLY = ("read-only file system", "os error 30")
BAD_REQUEST = ("wrong input", "bad request", "validation error", "not found")
CHECK_HINT = "a store check finds and repairs what it can"


def is_panic(exc: BaseException) -> bool:
    """A Rust panic surfaced by PyO3 (not an Exception subclass)."""
    return type(exc).__name__ == "PanicException"


def translate(exc: BaseException, where: str, action: str, local: bool = True) -> FrameSearchError:
    """The domain error for an engine failure while doing `action` on the store described by `where`;
    `local`: the store's files are here (else a failure is the server's or the network's, not damage)."""
    if isinstance(exc, FrameSearchError):
        return exc
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    lowered = str(exc).lower()
    code = exc.errno if isinstance(exc, OSError) else None
    if code in (errno.ENOSPC, errno.EDQUOT) or any(s in lowered for s in NO_SPACE):
        return DiskFull(f"{where}: the disk is full while {action} ({text}); nothing more was written")
    if code == errno.EROFS or any(s in lowered for s in READ_ONLY):
        return StoreReadOnly(f"{where} is on a read-only filesystem: cannot finish {action}")
    if is_panic(exc) or (local and not any(s in lowered for s in BAD_REQUEST)):
        return StoreDamaged(f"{where} failed while {action}: {text}. The store may be damaged; {CHECK_HINT}")
    return StoreError(f"{where} failed while {action}: {text}")


@contextmanager
def engine_errors(where: str, action: str, local: bool = True) -> Iterator[None]:
    """Translate any engine failure inside the block (panics included) into a domain error."""
    try:
        yield
    except FrameSearchError:
        raise
    except Exception as exc:
        raise translate(exc, where, action, local) from exc
    except BaseException as exc:
        if is_panic(exc):
            raise translate(exc, where, action, local) from None
        raise


def guarded(where: str, action: str, call: Callable[[], T], local: bool = True) -> T:
    """`call()` with engine failures translated."""
    with engine_errors(where, action, local):
        return call()


__all__ = ["CHECK_HINT", "StoreError", "engine_errors", "guarded", "is_panic", "translate"]

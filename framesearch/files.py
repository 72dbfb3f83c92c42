"""Files written whole or not at all: one way, for every layer.

A file is written under a temporary name beside its target (`<name>.<random>.part`: the folders' cleanups
remove `*.part` left by a crash) and renamed over it, so a reader or a crash sees the old file or the new one,
never half of one. `durable` also flushes the bytes and the rename to the disk before returning.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PART = ".part"


@contextmanager
def atomic_path(target: Path, *, durable: bool = False) -> Iterator[Path]:
    """A temporary path beside `target` to write; renamed over `target` when the block succeeds, removed if not."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f"{target.name}.", suffix=PART)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(target.parent)


def write_atomic(target: Path, data: bytes | str, *, durable: bool = False) -> None:
    """Write `data` (text as UTF-8) to `target` whole or not at all."""
    with atomic_path(target, durable=durable) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename into it) to the disk, where the system allows."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

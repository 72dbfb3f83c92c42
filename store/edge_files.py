"""The Edge store's folder as files: its layout, finishing a half-made creation, and copies of read-only stores.

A collection folder holds `frames/` and `videos/` (two Edge shards), `collection.json` (the model; written
last, so its presence means the store was fully created) and `lock`. Shards are built in a `.creating-*`
folder and renamed into place; whatever a crash leaves without `collection.json` holds no data and is removed.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from framesearch.errors import StoreDamaged, StoreReadOnly
from framesearch.files import write_atomic
from framesearch.store.space import MB, free_bytes

SHARDS = ("frames", "videos")
INFO_FILE = "collection.json"
CREATING = ".creating-"
COPY_CHUNK = 1 << 20
READ_ONLY_ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM)


def leftovers(root: Path) -> list[Path]:
    """What a crashed creation can leave in a collection folder without `collection.json`."""
    return [root / kind for kind in SHARDS if (root / kind).exists()] + sorted(root.glob(f"{CREATING}*"))


def write_json_atomic(path: Path, data: dict) -> None:
    """Write, fsync, rename: the file is whole or absent, whatever happens."""
    write_atomic(path, json.dumps(data), durable=True)


def is_shard(path: Path) -> bool:
    """Whether a folder looks like an Edge shard (and not, say, another collection's folder)."""
    return (path / "edge_config.json").exists() or (path / "segments").is_dir() or (path / "wal").is_dir()


def remove_leftovers(root: Path, points_in: Callable[[Path], int | None], creating: bool = False) -> list[str]:
    """Remove what a crashed creation left in a folder without `collection.json`: `.creating-*` folders, and
    shards renamed into place that hold no points. Anything else is left alone, or (`creating`) refused."""
    removed = []
    for path in leftovers(root):
        if path.name.startswith(CREATING):
            shutil.rmtree(path)
            removed.append(path.name)
            continue
        if not is_shard(path):
            if creating:
                raise StoreDamaged(f"cannot create a store in {root}: {path} is in the way and is not a store shard")
            continue
        held = points_in(path)
        if held != 0:
            state = "cannot be read" if held is None else f"holds {held} points"
            raise StoreDamaged(
                f"{root} has no {INFO_FILE} (the file naming the store's model) but its {path.name} shard {state}. "
                "Restore the file from a backup, or move the folder away to start afresh"
            )
        shutil.rmtree(path)
        removed.append(path.name)
    return removed


def is_read_only_error(exc: OSError) -> bool:
    return exc.errno in READ_ONLY_ERRNOS


def sparse_copy(src: Path, dst: Path) -> None:
    """Copy a file keeping its holes (Edge preallocates sparse 32 MB files: a plain copy fills them with zeros)."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        size = os.fstat(fin.fileno()).st_size
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fin.fileno(), pos, os.SEEK_DATA)
                end = os.lseek(fin.fileno(), start, os.SEEK_HOLE)
            except OSError as exc:  # no more data (ENXIO), or no hole support: copy the rest whole
                if exc.errno == errno.ENXIO:
                    break
                start, end = pos, size
            fin.seek(start)
            fout.seek(start)
            while start < end:
                chunk = fin.read(min(COPY_CHUNK, end - start))
                if not chunk:
                    break
                fout.write(chunk)
                start += len(chunk)
            pos = end
        fout.truncate(size)
    shutil.copystat(src, dst)


def allocated_bytes(root: Path) -> int:
    """Disk space the files under `root` take (holes excluded)."""
    return sum(p.stat().st_blocks * 512 for p in root.rglob("*") if p.is_file())


def readable_copy(root: Path, where: str) -> Path:
    """A private writable copy of a read-only collection folder (Qdrant Edge cannot open files read-only)."""
    need = allocated_bytes(root)
    tmp_root = Path(tempfile.gettempdir())
    free = free_bytes(tmp_root)
    if free is not None and free < need + 64 * MB:
        raise StoreReadOnly(
            f"{where} is read-only, and reading it needs a private copy of {need // MB} MB in {tmp_root}, "
            f"which has {free // MB} MB free"
        )
    copy = Path(tempfile.mkdtemp(prefix="framesearch-readonly-"))
    try:
        for src in root.rglob("*"):
            dst = copy / src.relative_to(root)
            if src.is_dir():
                dst.mkdir(parents=True, exist_ok=True)
            elif src.is_file() and src.name != "lock":
                dst.parent.mkdir(parents=True, exist_ok=True)
                sparse_copy(src, dst)
    except BaseException:
        shutil.rmtree(copy, ignore_errors=True)
        raise
    return copy

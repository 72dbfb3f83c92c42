"""Free disk space, checked before the store writes, because a full disk must fail cleanly.

Qdrant Edge keeps its write-ahead log and segments in sparse, memory-mapped files: when the disk fills
up under them the process dies of SIGBUS, with no error to catch. So every write is preceded by an
estimate of what it needs, refused (DiskFull, nothing written) unless that much plus a reserve is free.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from framesearch.errors import DiskFull

MB = 1024 * 1024
DEFAULT_RESERVE_MB = 256  # free space a store keeps (the min_free_mb setting)
VECTOR_COPIES = 3  # a vector is written to the WAL and to a segment, and copied again when segments are optimised
POINT_OVERHEAD = 2048  # payload, WAL entry, id tracker and payload-index entries of one point
FLOOR = MB  # whatever the reserve, a write needs a few pages of its own


def estimate_bytes(frames: int, dim: int) -> int:
    """Disk space that writing `frames` points of `dim` float32 dimensions may take, at worst."""
    return max(0, int(frames)) * (VECTOR_COPIES * 4 * max(1, int(dim)) + POINT_OVERHEAD)


def free_bytes(folder: Path) -> int | None:
    """Free bytes on the filesystem holding `folder` (or its nearest existing parent); None if unknown."""
    folder = Path(folder).absolute()
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def ensure_space(folder: Path, need: int, reserve_mb: int, what: str) -> None:
    """Refuse (DiskFull) a write of about `need` bytes that would leave less than `reserve_mb` free."""
    free = free_bytes(folder)
    if free is None or free - need >= max(reserve_mb * MB, FLOOR):
        return
    raise DiskFull(
        f"not enough free disk space for {what}: it needs about {_mb(need)} MB and {reserve_mb} MB are kept free, "
        f"but {folder} has {_mb(free)} MB free. Free some space (or lower the reserve) and try again"
    )


def _mb(n: int) -> str:
    return f"{n / MB:.1f}" if n < 10 * MB else f"{n // MB}"

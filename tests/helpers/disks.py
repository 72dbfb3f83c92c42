"""Small real filesystems for disk-full and read-only tests: an ext4 image, loop-mounted (root only).

Where the machine cannot (not root, no mkfs.ext4, no loop devices) the test is skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

MB = 1024 * 1024


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=60)


@contextmanager
def small_filesystem(folder: Path, size_mb: int) -> Iterator[Path]:
    """An empty ext4 filesystem of `size_mb` MB (no blocks reserved for root) mounted under `folder`."""
    if os.geteuid() != 0:
        pytest.skip("a small real filesystem needs root to loop-mount it")
    mkfs = shutil.which("mkfs.ext4")
    if mkfs is None:
        pytest.skip("a small real filesystem needs mkfs.ext4 (e2fsprogs)")
    image, mount = folder / "disk.img", folder / "mnt"
    mount.mkdir(parents=True)
    with open(image, "wb") as handle:
        handle.truncate(size_mb * MB)
    made = _run(mkfs, "-q", "-F", "-m", "0", str(image))
    if made.returncode != 0:
        pytest.skip(f"mkfs.ext4 failed: {made.stderr.strip()[:200]}")
    mounted = _run("mount", "-o", "loop", str(image), str(mount))
    if mounted.returncode != 0:
        pytest.skip(f"cannot loop-mount a filesystem image here: {mounted.stderr.strip()[:200]}")
    try:
        yield mount
    finally:
        _run("umount", "-l", str(mount))


def remount_read_only(mount: Path) -> None:
    done = _run("mount", "-o", "remount,ro", str(mount))
    assert done.returncode == 0, done.stderr


def fill(mount: Path, leave_mb: float) -> Path:
    """Take the filesystem's free space down to about `leave_mb` MB (0: none at all) with a filler file."""
    filler = mount / "filler"
    filler.unlink(missing_ok=True)
    size = max(0, shutil.disk_usage(mount).free - int(leave_mb * MB) - MB)  # the file's own metadata takes some
    with open(filler, "wb", buffering=0) as handle:
        try:
            if size:
                os.posix_fallocate(handle.fileno(), 0, size)
            handle.seek(size)
            while shutil.disk_usage(mount).free > leave_mb * MB:
                handle.write(b"\0" * 65536)
                os.fsync(handle.fileno())
        except OSError:  # ENOSPC: full
            pass
    return filler


def free_mb(mount: Path) -> float:
    return shutil.disk_usage(mount).free / MB

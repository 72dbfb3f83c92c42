"""The CLI's guard against a disk filled up by another process: the command runs in a forked child, this process
waits for it, and a child killed by SIGBUS becomes `error: disk full …` with exit status 1.

Qdrant Edge writes through memory-mapped files: when the disk fills up under them (between the free-space
check before a batch and its write, because something else wrote), the kernel kills the process with SIGBUS,
which no Python code can catch. The service keeps its store in a child process for that reason
(store/hosted.py); a command gets the same protection here. Nothing else changes: the child inherits the
terminal, so output, stdin, exit codes and Ctrl-C (which reaches the whole foreground group) are as before; any
other signal the child dies of kills this process the same way; SIGTERM and SIGHUP are passed on; the child dies
with this process (PR_SET_PDEATHSIG). Commands only supervise when their output goes to real files (not under a
test runner capturing it in memory) and on systems with fork.

The child names each store folder it opens (`note_store`) over a pipe, so the message can say whether that
disk is indeed (nearly) full.
"""

from __future__ import annotations

import os
import signal
import sys

UNSUPERVISED = {"serve", "model"}  # the service has its store process; model commands open no store
FORWARDED = (signal.SIGTERM, signal.SIGHUP)
FULL_SLACK_MB = 16  # "full": less than the store's reserve plus this is free
PR_SET_PDEATHSIG = 1
_report_fd: int | None = None


def supervise(command: str | None) -> None:
    """Run the rest of this command in a child process; in this process wait for it and exit as it did."""
    if command in UNSUPERVISED or os.environ.get("FRAMESEARCH_SUPERVISED") or not hasattr(os, "fork") or not _real_output():
        return
    read_end, write_end = os.pipe()
    parent = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        global _report_fd
        _report_fd = write_end
        os.environ["FRAMESEARCH_SUPERVISED"] = "1"  # processes this command starts are not supervised again
        _die_with(parent)
        return
    os.close(write_end)
    status = _wait(pid)
    stores = _read_all(read_end)
    os._exit(_exit_as(status, stores))


def note_store(folder: object, reserve_mb: int) -> None:
    """Tell the supervising process which store folder this command uses (for the disk-full message)."""
    if _report_fd is None:
        return
    try:
        os.write(_report_fd, f"{os.path.abspath(str(folder))}\t{int(reserve_mb)}\n".encode())
    except OSError:
        pass


def _real_output() -> bool:
    try:
        sys.stdout.fileno()
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


def _die_with(parent: int) -> None:
    """Make the kernel SIGKILL this child when the supervising process dies (killed, as a whole command would be)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(1)


def _wait(pid: int) -> int:
    """Wait for the child, passing on SIGTERM and SIGHUP, ignoring Ctrl-C (the child has it too)."""

    def forward(signum: int, frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for signum in FORWARDED:
        signal.signal(signum, forward)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return status
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue


def _read_all(fd: int) -> list[tuple[str, int]]:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    stores = []
    for line in b"".join(chunks).decode(errors="replace").splitlines():
        folder, _, reserve = line.partition("\t")
        stores.append((folder, int(reserve) if reserve.isdigit() else 0))
    return stores


def _exit_as(status: int, stores: list[tuple[str, int]]) -> int:
    """The exit status of this process: the child's; a SIGBUS death reported as an error (1); any other signal
    re-raised here, so that whoever waits sees what they would have seen without the supervisor."""
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    signum = os.WTERMSIG(status) if os.WIFSIGNALED(status) else signal.SIGKILL
    if signum == signal.SIGBUS:
        _report_sigbus(stores)
        return 1
    if signum not in (signal.SIGKILL, signal.SIGSTOP):  # those two have no handler to reset
        signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    return 128 + signum


def _report_sigbus(stores: list[tuple[str, int]]) -> None:
    from framesearch.cli.main import report
    from framesearch.errors import DiskFull, StoreError

    free = [(folder, _free_mb(folder), reserve) for folder, reserve in stores]
    full = [(folder, mb) for folder, mb, reserve in free if mb is not None and mb < reserve + FULL_SLACK_MB]
    after = "the store keeps its last committed state (an unfinished write is rolled back when it is next opened)"
    if full:
        folder, free = full[-1]
        report(
            DiskFull(
                f"disk full: the disk of {folder} filled up while this command was writing to it ({free:.0f} MB free "
                f"now), so its storage engine was stopped (SIGBUS); {after}. Free some space and run it again"
            )
        )
    else:
        report(
            StoreError(
                "the command was stopped by SIGBUS: a memory-mapped file could not be written, which happens when a "
                f"disk fills up; {after}. Check the free space and run it again"
            )
        )
    sys.stderr.flush()


def _free_mb(folder: str) -> float | None:
    from pathlib import Path

    from framesearch.store.space import MB, free_bytes

    free = free_bytes(Path(folder))
    return None if free is None else free / MB

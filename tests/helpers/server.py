"""One way to run `framesearch serve` in a subprocess, and one bounded wait: every test that needs either uses these."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self, TypeVar

import httpx

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


class LoopbackServers:
    """Base of the stand-ins for remote APIs: their HTTP servers (`_servers`, on loopback ports) each served by a
    daemon thread between `start()` and `stop()`."""

    _servers: list[ThreadingHTTPServer]

    def start(self) -> Self:
        for server in self._servers:
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], T], timeout: float = 10.0, what: str = "the condition", interval: float = 0.02) -> T:
    """Call `check` until it returns something truthy; fail the test naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s (last: {last!r})")
        time.sleep(interval)


class Service:
    """A `framesearch serve` process on a free port; `kill()` and `start()` again keep the port and environment."""

    def __init__(self, env: dict[str, str], log: Path, args: tuple[str, ...] = (), host: str = "127.0.0.1") -> None:
        self.env = {**os.environ, **env}
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), self.env.get("PYTHONPATH", "")) if p)
        self.log, self.args, self.host = log, args, host
        self.port = free_port(host)
        self.base = f"http://{host}:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> Service:
        cmd = [sys.executable, "-m", "framesearch", "serve", "--host", self.host, "--port", str(self.port), *self.args]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)

        def healthy() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"framesearch serve exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                return httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, timeout, f"framesearch serve answering on {self.base}", interval=0.05)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run, as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def running_service(env: dict[str, str], log: Path, args: tuple[str, ...] = (), timeout: float = 60.0) -> Iterator[Service]:
    """A started Service, stopped on exit whatever happened."""
    service = Service(env, log, args)
    try:
        yield service.start(timeout)
    finally:
        service.stop()

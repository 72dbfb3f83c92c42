"""Standing searches at work in a process that writes the library: the check on every commit, and the webhook queue.

`alerting(store, settings, embedder)` hangs an AlertChecker (search/alert_check.py) on the store's commits and runs a
`Delivery` thread: it posts each outbox entry (search/alerts.py) to its alert's webhook as JSON, signed with
HMAC-SHA256 of the body under the alert's secret (`X-Framesearch-Signature: sha256=<hex>`, the event id in
`X-Framesearch-Event`), and retries a failure with backoff (RETRY_S doubling up to MAX_RETRY_S, MAX_ATTEMPTS tries,
then the entry moves to `outbox/failed/`). The outbox is on disk: a crash loses nothing, and whichever process
writes or serves the library next delivers what is left. Each entry is claimed with a file lock, so two processes
never post it twice. Webhooks go through the URL jobs' SSRF rules (service/fetch.py: public addresses only, unless
the host is in `url_allow_hosts`). Posting happens here, never in the ingest: a dead or slow webhook costs the
ingest nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from framesearch.errors import FrameSearchError
from framesearch.files import write_atomic
from framesearch.search.alert_check import AlertChecker
from framesearch.search.alerts import EVENT_HEADER, SIGNATURE_HEADER, AlertBook
from framesearch.service.fetch import _backend, check_url
from framesearch.settings import Settings
from framesearch.store.base import VectorStore

log = logging.getLogger(__name__)
TIMEOUT_S = 10.0  # one post's connect and read time
RETRY_S = 2.0
MAX_RETRY_S = 300.0
MAX_ATTEMPTS = 12
IDLE_S = 1.0  # how often the queue looks at the outbox when nothing woke it
DRAIN_S = 15.0  # how long a command that ingested waits for its first tries before leaving them to the next process


def signature(secret: str, body: bytes) -> str:
    """The signature header's value for `body`: what a receiver recomputes with the secret it was shown."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(url: str, body: bytes, headers: dict[str, str], allow_hosts: tuple[str, ...], timeout: float = TIMEOUT_S) -> int:
    """POST `body` to `url` through the SSRF-checked connection backend; returns the HTTP status (no redirects)."""
    import httpcore

    check_url(url, allow_hosts)
    timeouts = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
    fields = {"User-Agent": "framesearch", "Content-Type": "application/json", **headers}
    sent = [(name.encode(), value.encode()) for name, value in fields.items()]
    with httpcore.ConnectionPool(network_backend=_backend(allow_hosts), retries=0) as pool:
        try:
            answer = pool.request("POST", url, headers=sent, content=body, extensions={"timeout": timeouts})
        except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
            raise ConnectionError(f"{type(exc).__name__}: {exc}") from None
    return answer.status


class Delivery:
    """The webhook queue of one library's outbox, in a daemon thread (see the module's docstring)."""

    def __init__(self, book: AlertBook, allow_hosts: tuple[str, ...] | list[str] = (), timeout: float = TIMEOUT_S) -> None:
        self.book = book
        self.allow_hosts = tuple(allow_hosts)
        self.timeout = timeout
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.delivered = 0

    def start(self) -> Delivery:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._loop, name="framesearch-webhooks", daemon=True)
                self._thread.start()
        return self

    def wake(self) -> None:
        """New entries are in the outbox: deliver them now (starting the queue if it is not running)."""
        self.start()
        self._wake.set()

    def stop(self, drain: float = 0.0) -> None:
        """Stop; with `drain`, first wait up to that many seconds for the entries not yet tried to be tried once."""
        deadline = time.monotonic() + drain
        while drain and self._due() and time.monotonic() < deadline and self._thread is not None and self._thread.is_alive():
            self._wake.set()
            time.sleep(0.05)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 1)

    def _due(self) -> bool:
        """Whether an entry awaits its first try (one that failed waits for its retry in a later process)."""
        return any(not _read(p).get("attempts", 0) for p in self.book.pending())

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
            except Exception:  # never let the queue die: the entries stay in the outbox
                log.exception("webhook delivery failed unexpectedly")
            self._wake.wait(IDLE_S)
            self._wake.clear()

    def deliver_due(self) -> int:
        """Post every entry whose time has come (each claimed by a file lock); returns how many were delivered."""
        from filelock import FileLock, Timeout

        done = 0
        for path in self.book.pending():
            if self._stop.is_set():
                break
            lock = FileLock(str(path) + ".lock", timeout=0)
            try:
                with lock:
                    if path.is_file():
                        done += self._attempt(path)
            except Timeout:
                continue  # another process is posting it
            finally:
                if not path.exists():
                    Path(str(path) + ".lock").unlink(missing_ok=True)
        self.delivered += done
        return done

    def _attempt(self, path: Path) -> int:
        entry = _read(path)
        if not entry or entry.get("next_at", 0.0) > time.time():
            return 0
        try:
            alert = self.book.get(str(entry.get("alert_id")))
        except FrameSearchError:
            path.unlink(missing_ok=True)  # the alert was deleted
            return 0
        if not alert.webhook or not alert.secret:
            path.unlink(missing_ok=True)
            return 0
        body = json.dumps(entry["event"], separators=(",", ":")).encode()
        headers = {SIGNATURE_HEADER: signature(alert.secret, body), EVENT_HEADER: str(entry["event"].get("id", ""))}
        try:
            status = post(alert.webhook, body, headers, self.allow_hosts, self.timeout)
            problem = None if 200 <= status < 300 else f"HTTP {status}"
        except (FrameSearchError, ConnectionError, OSError) as exc:
            problem = str(exc)
        if problem is None:
            path.unlink(missing_ok=True)
            return 1
        self._retry_later(path, entry, problem)
        return 0

    def _retry_later(self, path: Path, entry: dict[str, Any], problem: str) -> None:
        attempts = int(entry.get("attempts", 0)) + 1
        entry.update(
            attempts=attempts, last_error=problem[:500], next_at=time.time() + min(RETRY_S * 2 ** (attempts - 1), MAX_RETRY_S)
        )
        if attempts >= MAX_ATTEMPTS:
            log.warning("webhook of standing search %s: giving up after %d tries: %s", entry.get("alert_id"), attempts, problem)
            write_atomic(path.parent / "failed" / path.name, json.dumps(entry))
            path.unlink(missing_ok=True)
            return
        log.info(
            "webhook of standing search %s failed (%s): try %d in %.0f s",
            entry.get("alert_id"),
            problem,
            attempts + 1,
            entry["next_at"] - time.time(),
        )
        write_atomic(path, json.dumps(entry))


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@contextmanager
def alerting(
    store: VectorStore, settings: Settings, embedder: Callable[[], object], *, drain: float = 0.0
) -> Iterator[AlertChecker]:
    """Check every run `store` commits against the library's standing searches and deliver what they find, for
    the block's lifetime; at its end wait up to `drain` seconds for the deliveries due (the rest stay queued)."""
    book = AlertBook.of(settings)
    delivery = Delivery(book, settings.url_allow_hosts)
    if book.pending():
        delivery.start()
    checker = AlertChecker(store, book, settings, embedder, told=lambda events: delivery.wake())
    remove = store.on_commit(checker)
    try:
        yield checker
    finally:
        remove()
        delivery.stop(drain=drain)

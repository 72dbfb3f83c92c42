"""Downloading a video from a URL a client named, without letting the client reach this machine's network (SSRF).

Only http and https; every connection, first hop and redirects alike, goes to an address checked at connect
time (public unicast only: no loopback, private, link-local, shared, multicast or reserved addresses), unless
its host is in `url_allow_hosts`; at most MAX_REDIRECTS redirects and `limit` bytes. The check lives in an
httpcore network backend (httpcore's documented extension point) because the connecting code is the only place
that sees the address actually dialled: a check of the name beforehand could be undone by DNS rebinding.
No proxy is used: a proxy would resolve the name itself, out of reach of the check.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from framesearch.errors import Forbidden, InvalidInput, PayloadTooLarge

MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
TIMEOUT_S = 60.0
ALLOW_HINT = "name its host in FRAMESEARCH_URL_ALLOW_HOSTS to allow it"


def _plain(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def is_public(address: str) -> bool:
    """Whether an IP address is a public unicast one (what a URL job may reach by default)."""
    ip = _plain(address)
    return ip.is_global and not ip.is_multicast


def host_allowed(host: str, allow_hosts: Iterable[str]) -> bool:
    return host.strip("[]").lower().rstrip(".") in {h.strip("[]").lower().rstrip(".") for h in allow_hosts}


def check_url(url: str, allow_hosts: Iterable[str]) -> None:
    """Refuse at once what needs no DNS: other schemes, no host, and hosts that are non-public addresses."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("a video URL must be an http or https URL with a host")
    host = parts.hostname
    if host_allowed(host, allow_hosts):
        return
    if host == "localhost" or host.endswith(".localhost"):
        raise Forbidden(f"refusing to fetch from {host}: it is this machine ({ALLOW_HINT})")
    try:
        public = is_public(host)
    except ValueError:
        return  # a name: checked when it is resolved, at connect time
    if not public:
        raise Forbidden(f"refusing to fetch from {host}: not a public address ({ALLOW_HINT})")


def _public_address(host: str, port: int) -> str:
    """The address to dial for `host`: refused when any address it resolves to is not public."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise InvalidInput(f"cannot resolve {host}: {exc}") from None
    addresses = [a for *_, (a, *_) in infos if isinstance(a, str)]  # IPv4/IPv6 socket addresses (the host is a name)
    blocked = [a for a in addresses if not is_public(a)]
    if blocked or not addresses:
        raise Forbidden(
            f"refusing to fetch from {host}: it resolves to {blocked[0] if blocked else 'nothing'}, "
            f"not a public address ({ALLOW_HINT})"
        )
    return addresses[0]


def _backend(allow_hosts: Iterable[str]) -> Any:
    import httpcore

    allowed = tuple(allow_hosts)

    class PublicOnly(httpcore.NetworkBackend):
        """Dials only checked addresses (see the module docstring)."""

        def __init__(self) -> None:
            self.inner = httpcore.SyncBackend()

        def connect_tcp(
            self, host: str, port: int, timeout: float | None = None, local_address: str | None = None, socket_options: Any = None
        ) -> Any:
            address = host if host_allowed(host, allowed) else _public_address(host, port)
            return self.inner.connect_tcp(address, port, timeout, local_address, socket_options)

        def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
            raise Forbidden("URL jobs do not use unix sockets")

        def sleep(self, seconds: float) -> None:
            self.inner.sleep(seconds)

    return PublicOnly()


def download(
    url: str, target: Path, *, limit: int, allow_hosts: Iterable[str], interrupt: Callable[[], None] = lambda: None
) -> Path:
    """Fetch `url` into `target` (at most `limit` bytes), following at most MAX_REDIRECTS checked redirects.
    `interrupt` is called between chunks (it raises to stop); nothing is left at `target` after a failure."""
    try:
        return _download(url, target, limit, tuple(allow_hosts), interrupt)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def _download(url: str, target: Path, limit: int, allow_hosts: tuple[str, ...], interrupt: Callable[[], None]) -> Path:
    import httpcore

    timeouts = {"connect": TIMEOUT_S, "read": TIMEOUT_S, "write": TIMEOUT_S, "pool": TIMEOUT_S}
    with httpcore.ConnectionPool(network_backend=_backend(allow_hosts), retries=0) as pool:
        for _hop in range(MAX_REDIRECTS + 1):
            check_url(url, allow_hosts)
            try:
                with pool.stream("GET", url, headers={"User-Agent": "framesearch"}, extensions={"timeout": timeouts}) as resp:
                    location = dict((k.lower(), v) for k, v in resp.headers).get(b"location")
                    if resp.status in REDIRECTS and location:
                        url = urljoin(url, location.decode("latin-1"))
                        continue
                    if resp.status >= 400:
                        raise InvalidInput(f"cannot download {url}: HTTP {resp.status}")
                    _save(resp.iter_stream(), target, limit, url, interrupt)
                    return target
            except httpcore.TimeoutException:
                raise InvalidInput(f"cannot download {url}: timed out") from None
            except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
                raise InvalidInput(f"cannot download {url}: {type(exc).__name__}: {exc}") from None
    raise InvalidInput(f"cannot download {url}: more than {MAX_REDIRECTS} redirects")


def _save(chunks: Iterable[bytes], target: Path, limit: int, url: str, interrupt: Callable[[], None]) -> None:
    size = 0
    with target.open("wb") as handle:
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"{url} is larger than {limit // (1024 * 1024)} MB")
            interrupt()
            handle.write(chunk)

"""Where the service listens: the bind rules and the socket, checked before anything slow is loaded (no web
framework, no model, no store here), so a taken port or a public address without a key fails at once, clearly."""

from __future__ import annotations

import errno
import ipaddress
import socket

from framesearch.errors import InsecureBinding, InvalidInput, PortInUse
from framesearch.settings import Settings


def claim_port(host: str, port: int) -> socket.socket:
    """A socket bound to `host:port` (not yet listening; uvicorn listens on it), or a clear error."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidInput(f"cannot listen on {host!r}: not a known host name or address ({exc.args[-1]})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a restart need not wait
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(f"port {port} is in use") from None
        if exc.errno == errno.EACCES:
            raise PortInUse(f"port {port} needs privileges to listen on") from None
        raise InvalidInput(f"cannot listen on {host} port {port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def is_loopback(host: str) -> bool:
    """Whether every address `host` names is a loopback address (a name that does not resolve is not)."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(name, None)
    except (OSError, UnicodeError):
        return False
    addresses = [a for *_, (a, *_) in infos if isinstance(a, str)]
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def check_binding(settings: Settings, allow_anonymous: bool = False) -> str | None:
    """Refuse to listen beyond loopback without a key; the warning to print when that was explicitly allowed."""
    if any(settings.api_keys()) or is_loopback(settings.host):
        return None
    if not allow_anonymous:
        raise InsecureBinding(
            f"refusing to listen on {settings.host} without an API key: anyone who reaches it could change or delete "
            "the library. Set FRAMESEARCH_API_KEY (and optionally FRAMESEARCH_READ_API_KEY), or listen on a "
            "loopback address such as 127.0.0.1"
        )
    return (
        f"WARNING: serving on {settings.host} WITHOUT an API key: anyone who can reach port {settings.port} can "
        "search, upload, replace and delete videos and start paid jobs. Set FRAMESEARCH_API_KEY."
    )

"""The service's listening socket, bound before anything slow is loaded: a taken port fails at once, clearly."""

from __future__ import annotations

import errno
import socket

from framesearch.errors import InvalidInput, PortInUse


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

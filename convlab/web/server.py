"""Serving the explorer with waitress, a production WSGI server in pure Python, until Ctrl-C.

:func:`serve` binds first, then prints the real URL (``--port 0`` picks a free
port, and the URL shows which), then serves until SIGINT (Ctrl-C) or SIGTERM and
returns 0 after closing the socket. A port in use or a host that is not this
machine's is a :class:`ServeError` (a ``ValueError``: ``convlab serve`` exits 2
with its one line).

waitress buffers each request body before the app sees it; its limits here keep
every upload in memory (``inbuf_overflow`` above the body limit: no temporary
file) and stop bodies far over Flask's own limit before they are read.
"""

from __future__ import annotations

import errno
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

from convlab.util.i18n import _
from convlab.web.app import MAX_CONTENT_LENGTH

__all__ = ["ServeError", "serve", "create_server", "server_url"]

#: waitress' own cap on a request body: twice Flask's (Flask answers 413 JSON in between).
WAITRESS_MAX_BODY = 2 * MAX_CONTENT_LENGTH


class ServeError(ValueError):
    """The server cannot start: the port is taken or not allowed, or the host is not this machine's."""


def _bind_error(exc: OSError, host: str, port: int) -> ServeError:
    if isinstance(exc, socket.gaierror):
        return ServeError(f"--host {host!r} is not a name or address this machine can listen on ({exc.strerror})")
    if exc.errno == errno.EADDRINUSE:
        return ServeError(
            f"--port {port}: {host}:{port} is already in use (another convlab serve?); choose another --port, "
            "or --port 0 for any free port"
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return ServeError(f"--port {port}: permission denied (ports below 1024 need root); choose e.g. --port 8000")
    if exc.errno == errno.EADDRNOTAVAIL:
        return ServeError(f"--host {host!r} is not an address of this machine; use 127.0.0.1 (the default)")
    return ServeError(f"cannot listen on --host {host} --port {port}: {exc.strerror or exc}")


def _bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (the first address ``host`` resolves to), not yet listening.

    Bound here rather than by waitress so that a failure leaves nothing open: waitress starts its
    worker threads and opens its wake-up pipe before it binds, and does not close them when binding fails.
    """
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _canonname, address = info[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as waitress does: restart at once
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def create_server(app: Callable, host: str = "127.0.0.1", port: int = 8000, *, threads: int = 4) -> Any:
    """A bound (not yet serving) waitress server for ``app``.

    Raises:
        ServeError: the address cannot be bound (message names --port or --host).
    """
    import waitress.server

    try:
        sock = _bind(host, port)
    except OSError as exc:
        raise _bind_error(exc, host, port) from None
    try:
        return waitress.server.create_server(
            app,
            sockets=[sock],
            threads=threads,
            ident="convlab",
            max_request_body_size=WAITRESS_MAX_BODY,
            inbuf_overflow=WAITRESS_MAX_BODY + 1,  # bodies stay in memory, never in a temporary file
            outbuf_overflow=64 * 1024 * 1024,  # so do responses (every layer's values: about 1 MB)
            connection_limit=64,
            channel_timeout=60,
        )
    except BaseException:
        sock.close()
        raise


def server_url(server: Any) -> str:
    """``http://HOST:PORT/`` of a bound waitress server, with the port actually bound (for ``--port 0``)."""
    if hasattr(server, "effective_port"):
        host, port = server.effective_host, server.effective_port
    else:  # several sockets (a name such as "localhost" with IPv4 and IPv6): the first
        host, port = server.effective_listen[0][:2]
    if ":" in str(host):
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def serve(
    app: Callable,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    threads: int = 4,
    out: TextIO | None = None,
    on_start: Callable[[str], None] | None = None,
    on_stop: Callable[[], None] | None = None,
) -> int:
    """Serve ``app`` on ``host:port`` until Ctrl-C (SIGINT) or SIGTERM; return 0.

    Args:
        app: a WSGI app (:func:`convlab.web.app.create_app`).
        host: the address to bind (default 127.0.0.1: this machine only).
        port: 0–65535; 0 lets the OS pick a free port (the printed URL shows it).
        threads: waitress' worker threads.
        out: where the URL line goes (default ``sys.stdout``; flushed at once so a parent process reads it).
        on_start: called with the URL once the socket is bound (e.g. to start training).
        on_stop: called once serving ends (e.g. to stop training).

    Returns:
        0 after a clean shutdown.

    Raises:
        ServeError: the address cannot be bound.
    """
    out = sys.stdout if out is None else out
    server = create_server(app, host, port, threads=threads)
    url = server_url(server)
    previous = None
    if threading.current_thread() is threading.main_thread():

        def _terminate(signum, frame):  # SIGTERM: the same clean exit as Ctrl-C
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        print(_("convlab explorer: {url} (Ctrl-C to stop)").format(url=url), file=out, flush=True)
        if on_start is not None:
            on_start(url)
        server.run()  # returns after Ctrl-C: waitress catches the KeyboardInterrupt and stops its threads
    except KeyboardInterrupt:
        pass  # Ctrl-C before the loop started
    finally:
        if on_stop is not None:
            on_stop()
        server.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print(_("convlab explorer: stopped"), file=out, flush=True)
    return 0

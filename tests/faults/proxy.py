"""A TCP proxy the fault tests put between the app and Redis or PostgreSQL.

The shared Redis and PostgreSQL servers are never stopped or flushed: an app
built for a fault test talks to them through a :class:`TcpProxy` on a port
of its own, and the test cuts that path instead.

- :meth:`TcpProxy.cut`: every open connection is reset at once (both sides),
  as when a server process dies or a network link drops.
- :meth:`TcpProxy.refuse`: ``cut`` and, until :meth:`resume`, every new
  connection is accepted and reset at once (connection refused, as the client
  sees it, without giving up the port).
- :meth:`TcpProxy.stall`: ``cut`` and, until :meth:`resume`, hold every new
  connection open without forwarding a byte (a server that hangs: the client
  waits for its own timeout).
- :meth:`TcpProxy.resume`: forward again.
- :meth:`TcpProxy.cut_after`: forward the next client chunk holding a
  pattern (e.g. ``b"COMMIT"``), then reset that connection before any
  answer comes back: the server did the work, the client never hears of it.

One thread accepts; each connection has two pump threads. 127.0.0.1 only.
"""
from __future__ import annotations

import socket
import struct
import threading
from types import TracebackType

_CHUNK = 65536


def _reset(sock: socket.socket) -> None:
    """Close ``sock`` with an RST (linger 0), so the peer notices at once."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class _Pair:
    """One client connection and its upstream connection."""

    def __init__(self, proxy: TcpProxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy, self.client, self.upstream = proxy, client, upstream
        self.closed = False
        self._lock = threading.Lock()

    def start(self) -> None:
        for source, target, outbound in ((self.client, self.upstream, True),
                                         (self.upstream, self.client, False)):
            threading.Thread(target=self._pump, args=(source, target, outbound),
                             daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, outbound: bool) -> None:
        try:
            while True:
                data = source.recv(_CHUNK)
                if not data:
                    break
                target.sendall(data)
                if outbound and self.proxy._matches_cut_pattern(data):
                    self.close()
                    return
        except OSError:
            pass
        self.close()

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
        _reset(self.client)
        _reset(self.upstream)
        self.proxy._forget(self)


class TcpProxy:
    """Forward 127.0.0.1:``port`` to ``upstream``; cut, refuse and resume on demand."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: set[_Pair] = set()
        self._refusing = False
        self._stalling = False
        self._held: list[socket.socket] = []
        self._cut_pattern: bytes | None = None
        self._running = True
        #: Connections accepted and forwarded, and connections refused, since the start.
        self.forwarded = 0
        self.refused = 0
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    # --- control -------------------------------------------------------------------------------

    def cut(self) -> None:
        """Reset every open connection (new ones are still forwarded)."""
        with self._lock:
            pairs = list(self._pairs)
        for pair in pairs:
            pair.close()

    def refuse(self) -> None:
        """Reset every open connection and every new one until :meth:`resume`."""
        with self._lock:
            self._refusing = True
        self.cut()

    def stall(self) -> None:
        """Reset every open connection; hold new ones open, silent, until :meth:`resume`."""
        with self._lock:
            self._stalling = True
        self.cut()

    def resume(self) -> None:
        """Forward new connections again (the held ones are reset)."""
        with self._lock:
            self._refusing = self._stalling = False
            self._cut_pattern = None
            held, self._held = self._held, []
        for sock in held:
            _reset(sock)

    def cut_after(self, pattern: bytes) -> None:
        """Reset the connection right after forwarding the next client chunk holding ``pattern``."""
        with self._lock:
            self._cut_pattern = pattern

    @property
    def open_connections(self) -> int:
        """How many connections are being forwarded now."""
        with self._lock:
            return len(self._pairs)

    def close(self) -> None:
        """Stop listening and reset every connection."""
        self._running = False
        self.refuse()
        try:
            self._listener.close()
        except OSError:
            pass
        self._thread.join(timeout=5)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    # --- inside ----------------------------------------------------------------------------------

    def _matches_cut_pattern(self, data: bytes) -> bool:
        with self._lock:
            if self._cut_pattern is not None and self._cut_pattern in data:
                self._cut_pattern = None
                return True
        return False

    def _forget(self, pair: _Pair) -> None:
        with self._lock:
            self._pairs.discard(pair)

    def _accept_loop(self) -> None:
        self._listener.settimeout(0.2)
        while self._running:
            try:
                client, _address = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            client.settimeout(None)
            with self._lock:
                refusing, stalling = self._refusing, self._stalling
                if stalling and not refusing:
                    self._held.append(client)
            if stalling and not refusing:
                continue
            if refusing:
                self.refused += 1
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            pair = _Pair(self, client, upstream)
            with self._lock:
                self._pairs.add(pair)
                self.forwarded += 1
            pair.start()

"""A TCP proxy on 127.0.0.1 in front of a real server, which a test can take away and give back.

Used to make a real database unreachable without touching the server: point the
product at the proxy's port, then

- ``stop()``: stop listening and close every connection — new connections are
  refused, open ones are reset (the database is gone);
- ``start()``: listen again on the same port and forward (the database is back);
- ``cut()``: reset every open connection but keep listening (a network blip, a
  failover: the pool's connections are dead, new ones work).

Every thread is a daemon and ``stop()`` joins nothing that could block: a test
that fails half-way leaves nothing running. Usable as a context manager.
"""

from __future__ import annotations

import socket
import struct
import threading
from types import TracebackType

ACCEPT_POLL_SECONDS = 0.1
CHUNK = 65536


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, *, port: int = 0, host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.host = host
        self.port = port  # 0: chosen at the first start, then kept
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self.connections = 0  # accepted so far, for tests that want to see traffic went through

    # -- control --------------------------------------------------------------------

    def start(self) -> TcpProxy:
        """Listen (again) and forward every connection to the target."""
        if self._listener is not None:
            return self
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(128)
        listener.settimeout(ACCEPT_POLL_SECONDS)
        self.port = listener.getsockname()[1]
        self._stopping = threading.Event()
        self._listener = listener
        threading.Thread(
            target=self._accept, args=(listener, self._stopping), name=f"tcp-proxy-{self.port}", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        """Refuse new connections and reset the open ones."""
        self._stopping.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        self.cut()

    def cut(self) -> None:
        """Reset every open connection (both sides); keep listening if started."""
        with self._lock:
            sockets, self._open = self._open, set()
        for sock in sockets:
            _reset(sock)

    @property
    def running(self) -> bool:
        return self._listener is not None

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- forwarding -----------------------------------------------------------------

    def _accept(self, listener: socket.socket, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                client, _addr = listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by stop()
                return
            if stopping.is_set():
                _reset(client)
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
                self.connections += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(CHUNK):
                sink.sendall(data)
        except OSError:
            pass
        with self._lock:
            self._open.discard(source)
            self._open.discard(sink)
        for sock in (source, sink):
            _reset(sock)


def _reset(sock: socket.socket) -> None:
    """Close with a reset (SO_LINGER 0), as a vanished peer or a dropped route looks to a client."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class Blackhole:
    """A TCP server on 127.0.0.1 that accepts every connection and never says a word.

    A client's connect succeeds, then its first read waits for ever (up to the client's own
    timeout): what a hung server or a half-open firewall looks like.
    """

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.settimeout(ACCEPT_POLL_SECONDS)
        self.port: int = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._held: list[socket.socket] = []
        self.accepted = 0
        threading.Thread(target=self._accept, name=f"blackhole-{self.port}", daemon=True).start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._held.append(conn)  # kept open, never read from or written to
            self.accepted += 1

    def close(self) -> None:
        self._stopping.set()
        self._listener.close()
        for conn in self._held:
            _reset(conn)

    def __enter__(self) -> Blackhole:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

"""Run an http.server handler on 127.0.0.1 in a thread, for the in-process fakes."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional, Type


class ThreadedServer:
    """start() binds an ephemeral loopback port; stop() shuts down and closes."""

    def __init__(self) -> None:
        self._server: Optional[ThreadingHTTPServer] = None

    def start(self, handler: Type[BaseHTTPRequestHandler]) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

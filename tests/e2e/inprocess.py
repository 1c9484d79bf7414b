"""The testing application served on a free port from a thread, for browser tests that need
only the static clients and a few API answers (no subprocess, no seeded database)."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """``app`` on ``http://127.0.0.1:<free port>``, stopped on the way out; the base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)

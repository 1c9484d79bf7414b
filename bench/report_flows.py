"""The load generator flows of :mod:`bench.reports` (run in the load generator's process).

Nothing of the application is imported here: each client repeats one request
that carries a bearer token of its own.

- :func:`filing_flow`: ``POST /api/v1/reports`` as the citizens of
  ``data["tokens"]`` (client ``i`` files as citizen ``i mod n``).
- :func:`queue_flow`: ``GET data["path"]`` as the officer of ``data["token"]``.
"""
from __future__ import annotations

import json
from typing import Any

from bench.loadgen import RequestBuilder

FILE_PATH = "/api/v1/reports"


class Repeat:
    """The same request again and again; each answer is one operation."""

    def __init__(self, request: bytes) -> None:
        self.request = request

    def next_request(self) -> bytes:
        """The request."""
        return self.request

    def answered(self, status: int, body: bytes) -> bool:
        """Every answer completes an operation (a non-2xx one is counted as such)."""
        return True

    def abort(self) -> None:
        """Nothing to reset."""


def filing_flow(index: int, connections: int, data: Any, build: RequestBuilder) -> Repeat:
    """Client ``index`` files ``data["body"]`` with the ``index``-th citizen's token."""
    token = data["tokens"][index % len(data["tokens"])]
    return Repeat(build("POST", FILE_PATH, json.dumps(data["body"]).encode(),
                        {"Authorization": f"Bearer {token}"}))


def queue_flow(index: int, connections: int, data: Any, build: RequestBuilder) -> Repeat:
    """Every client reads the same queue page as the same officer."""
    return Repeat(build("GET", data["path"], None, {"Authorization": f"Bearer {data['token']}"}))

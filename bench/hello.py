"""A Flask hello-world: the ceiling a WSGI server reaches with no application work.

Served as ``bench.hello:app`` by :mod:`bench.servers`.
"""
from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/hello")
def hello() -> dict[str, str]:
    """A tiny JSON body."""
    return {"hello": "world"}

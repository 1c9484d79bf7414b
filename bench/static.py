"""Static answers: ``GET /api/v1/admin-units/provinces`` against the Flask hello-world.

The province list is the same for every caller until the next deploy: at
best it costs what the hello-world costs (a route and a small body). The
service (``wsgi:app``, production configuration, a scratch PostgreSQL
database and a private Redis) and the hello-world are served at once under
:data:`bench.servers.SERVICE_SERVER` and loaded one after the other, 16
keep-alive clients, in :data:`bench.common.ROUNDS` rounds whose order turns
(:func:`bench.common.alternate`). The ratio is taken per round. Goal:
``provinces`` in :data:`bench.table.ROWS`; its floor is 1.0 (nothing to do
beyond what the hello-world does).
"""
from __future__ import annotations

import os
from typing import Any

from bench.accounts import CONNECTIONS, WARMUP_S, hello_load, windows
from bench.common import (ROUNDS, alternate, app_environment, private_redis, ratios,
                          scratch_database, table_entry)
from bench.loadgen import ALLOWED_HOST, run_load
from bench.servers import SERVICE_SERVER, WORKERS, serving, summarise
from bench.table import GOALS

PATH = "/api/v1/admin-units/provinces"


def run(*, quick: bool = False) -> dict[str, Any]:
    """Province lists per second as a ratio to the hello-world, round by round."""
    duration = windows(quick)
    with scratch_database("static") as db_url, private_redis() as redis_url:
        env = {**os.environ, **app_environment(db_url, redis_url=redis_url)}
        with serving("hello", env) as hello_port, serving("vnid", env) as port:
            out = alternate(ROUNDS, {
                "baseline": lambda: hello_load(hello_port, duration),
                "load": lambda: run_load(f"http://{ALLOWED_HOST}:{port}{PATH}",
                                         connections=CONNECTIONS, duration=duration,
                                         warmup=WARMUP_S)})
    valid = all(load["non_2xx"] == 0 and load["errors"] == 0 for load in out["load"])
    entry = table_entry(ratios(out["load"], out["baseline"], "rps"), GOALS["provinces"],
                        valid=valid, floor=1.0)
    return {"rows": [{"endpoint": f"GET {PATH}", **summarise(out["load"])},
                     {"endpoint": "GET /hello, Flask hello-world (baseline)",
                      **summarise(out["baseline"])}],
            "table": {"provinces": entry},
            "settings": {"server": f"{SERVICE_SERVER}, {WORKERS} workers",
                         "connections": CONNECTIONS, "rounds": ROUNDS, "duration_s": duration,
                         "warmup_s": WARMUP_S}}

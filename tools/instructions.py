"""Instructions per request of a hot endpoint, counted by valgrind: an A/B test this machine's
noise does not blur.

Usage (valgrind, a database and a Redis db of your own; the schema is dropped and migrated)::

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/vnid_hN REDIS_URL=redis://127.0.0.1:6379/N \\
        .venv/bin/python -m tools.instructions verify [refresh ...] [--requests 100] \
        [--without HOOK ...]

``statement pooled held session`` count what one statement costs bare, alone on a pooled
connection (``alone=True``), on a held connection without a session transaction, and through
the ORM session's autocommit mode (:data:`ENDPOINTS`);
``--without _observe`` (a hook's function name) counts an endpoint with that request hook of
the app taken out.

Timed runs of the same code on this machine differ by 5-15 % from one to the next (another
tenant's load, the CPU's clock), more than most single changes to a hot path save. The
number of instructions a request executes does not move with them: this tool serves the
requests in-process through the Flask test client, as :mod:`tools.profile_hot_paths` and
:mod:`tools.profile_account_paths` do, under ``valgrind --tool=callgrind``, counting only
while the requests run (``--instr-atstart=no``, switched on and off by ``callgrind_control``
around the loop, after a warm-up; the switch itself adds about 500,000 instructions, 0.1 % of
100 verifications). Two runs of the same code agree within about 0.5 %;
compare two commits by running this in each (e.g. a ``git worktree`` of the older one).

What it counts is the service's own process: Python, SQLAlchemy, psycopg's client side,
the test client's few instructions. Not PostgreSQL's nor Redis's (other processes), not
the time spent waiting on them, and not what a real server (granian, the sockets) adds;
``python -m tools.cpu_split`` shows those. Under valgrind a request takes 50-100 times
as long: 100 requests of an online verification take about 20 s.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

#: Endpoint -> the profiling module that serves it in-process; ``statement``, ``pooled``,
#: ``held`` and ``session`` are no endpoint but what a request pays around ONE statement
#: (``SELECT 1``): on a connection in hand; alone (``Statement.first(..., alone=True)``: a
#: connection checked out of the pool in autocommit and given back, the session left out);
#: on the connection :func:`identity.autocommit.autocommit_statements` holds, the session's
#: transaction never begun (as the verification and the matches run); and in the ORM
#: session's own transaction (the session made, begun, committed and closed).
ENDPOINTS = {"hello": "hot", "verify": "hot", "match": "hot", "issue": "hot",
             "provinces": "hot", "refresh": "account", "passcode": "account",
             "report": "account", "pay": "account", "statement": "session",
             "pooled": "session", "held": "session", "session": "session"}
_COLLECTED = re.compile(r"Collected\s*:\s*([\d,]+)")


def _without(app: Any, hooks: list[str]) -> None:
    """Take the app's request hooks of these names (a function's name, as
    ``_observe`` or ``set_security_headers``) out, to count what each costs."""
    for table in (app.before_request_funcs, app.after_request_funcs,
                  app.teardown_request_funcs):
        for key, functions in table.items():
            table[key] = [f for f in functions if f.__name__ not in hooks]


def _calls(kind: str, requests: int, without: list[str]) -> dict[str, Callable[[], Any]]:
    """The prepared service's requests of the ``kind`` module, by endpoint (the app's
    hooks named in ``without`` taken out)."""
    from tools import profile_account_paths, profile_hot_paths
    if kind == "session":
        return _one_statement_ways()
    if kind == "hot":
        app, _counter = profile_hot_paths.profiled_app({"RP_LIMIT_PER_PARTY":
                                                        "1000000 per minute"})
        app.config["RP_LIMIT_PER_PARTY"] = "1000000 per minute"
        _without(app, without)
        return profile_hot_paths._requests(app, profile_hot_paths._prepare(app))
    app, _counter = profile_hot_paths.profiled_app(profile_account_paths.LIMITS)
    _without(app, without)
    facts = profile_account_paths._prepare(app, orders=requests + 40)
    return profile_account_paths._requests(app, facts)


def _one_statement_ways() -> dict[str, Callable[[], Any]]:
    """``SELECT 1`` on ``DATABASE_URL`` three ways (see :data:`ENDPOINTS`)."""
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from identity.autocommit import autocommit_statements
    from identity.database import Statement
    url = os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url)
    one = Statement(sa.text("SELECT 1").columns(sa.column("one")))
    in_hand = engine.connect()

    def pooled() -> Any:  # what `alone=True` does (identity.autocommit.statement_alone)
        with Session(engine) as db_session:
            return one.first(db_session, alone=True)

    def held() -> Any:
        with Session(engine) as db_session, autocommit_statements(db_session):
            return one.first(db_session)

    def session() -> Any:
        with Session(engine) as db_session:
            found = one.first(db_session)
            db_session.commit()
        return found
    return {"statement": lambda: one.rows_on(in_hand), "pooled": pooled, "held": held,
            "session": session}


def _serve(endpoint: str, requests: int, without: list[str]) -> None:
    """Inside valgrind: warm up, then count ``requests`` requests of ``endpoint`` only."""
    call = _calls(ENDPOINTS[endpoint], requests, without)[endpoint]
    for _ in range(30):
        call()
    pid = str(os.getpid())
    subprocess.run(["callgrind_control", "--instr=on", pid], check=True, capture_output=True)
    for _ in range(requests):
        call()
    subprocess.run(["callgrind_control", "--instr=off", pid], check=True, capture_output=True)


def count(endpoint: str, requests: int, without: tuple[str, ...] = ()) -> int:
    """Instructions per request of ``endpoint`` (``requests`` of them, under callgrind), the
    app's hooks named in ``without`` taken out."""
    with tempfile.TemporaryDirectory(prefix="vnid-instructions-") as tmp:
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no",
             f"--callgrind-out-file={tmp}/callgrind.out.%p",
             sys.executable, "-m", "tools.instructions", "--serve", endpoint,
             "--requests", str(requests), *(f"--without={hook}" for hook in without)],
            capture_output=True, text=True, check=False)
    found = _COLLECTED.findall(done.stderr)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"valgrind serving {endpoint} failed ({done.returncode}):\n"
                           + done.stderr[-3000:])
    return int(found[-1].replace(",", "")) // requests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("endpoints", nargs="+", choices=sorted(ENDPOINTS), metavar="ENDPOINT",
                        help=f"one or more of: {', '.join(ENDPOINTS)}")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--without", action="append", default=[], metavar="HOOK",
                        help="take the app's request hook of this function name out "
                             "(e.g. _observe): what it costs is the difference")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL", "").startswith("postgresql"):
        parser.error("DATABASE_URL must name a PostgreSQL database of your own")
    if args.serve:
        _serve(args.endpoints[0], args.requests, args.without)
        return 0
    for endpoint in args.endpoints:
        found = count(endpoint, args.requests, tuple(args.without))
        print(f"{endpoint:10s} {found:>12,} instructions per request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The streaming replica of the suite's PostgreSQL server (``.ci/replica start``; CI sets
``VNID_TEST_REPLICA_URL``, the replica server's URL without a database)."""
from __future__ import annotations

import time

import sqlalchemy as sa


def engine(url: str, **options: object) -> sa.Engine:
    """An engine on ``url`` (any PostgreSQL scheme) through psycopg 3."""
    return sa.create_engine(sa.engine.make_url(url).set(drivername="postgresql+psycopg"),
                            **options)


def wait_replayed(primary: sa.Engine, replica: sa.Engine, timeout: float = 30.0) -> None:
    """Until ``replica`` has replayed everything ``primary`` has written so far (a database
    just created on the primary may not be there yet: it is waited for too)."""
    with primary.connect() as connection:
        position = connection.execute(sa.text("SELECT pg_current_wal_lsn()")).scalar_one()
    deadline = time.monotonic() + timeout
    while True:
        try:
            with replica.connect() as connection:
                behind = connection.execute(sa.text(
                    "SELECT pg_wal_lsn_diff(CAST(:p AS pg_lsn), pg_last_wal_replay_lsn())"),
                    {"p": str(position)}).scalar_one()
            if behind is not None and behind <= 0:
                return
        except sa.exc.OperationalError:
            pass
        assert time.monotonic() < deadline, "the replica did not catch up"
        time.sleep(0.05)

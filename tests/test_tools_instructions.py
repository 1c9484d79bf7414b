"""tools/instructions.py counts the instructions of the requests it serves, not of its setup."""
from __future__ import annotations

import os

import pytest

from tests.conftest import scratch_database
from tools.instructions import count

pytestmark = pytest.mark.skipif(
    not (os.environ.get("DATABASE_URL") or "").startswith("postgres"),
    reason="the tool serves on PostgreSQL only (it drops and migrates the schema)")


def test_a_requests_count_does_not_include_the_setup(tmp_path, monkeypatch):
    with scratch_database(tmp_path, postgres=True) as url:
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.delenv("REDIS_URL", raising=False)  # the in-process stand-in, not flushed
        few, more = count("hello", 3), count("hello", 12)
    # Starting Python and migrating cost billions: counted, they would swamp a request's.
    # Switching the count on and off costs about 500,000 instructions, shared by the requests.
    assert 200_000 < few < 20_000_000
    assert abs(more - few) / few < 0.15


def test_the_ways_around_one_statement_and_a_hook_taken_out_count_apart(tmp_path, monkeypatch):
    with scratch_database(tmp_path, postgres=True) as url:
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.delenv("REDIS_URL", raising=False)
        bare, session = count("statement", 20), count("session", 20)
        held = count("held", 20)
        hello, without = count("hello", 10), count("hello", 10, ("_observe",))
    # The ORM session around one statement costs several times the statement (about 7x here);
    # a held connection without a session transaction, well under the session's way.
    assert 20_000 < bare < held < session * 0.8
    assert bare < session / 3
    # The request's metrics and log line are a tenth or more of the hello route.
    assert without < hello * 0.95

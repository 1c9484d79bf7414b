"""The walkthroughs run exactly as printed, twice, on what ``make run`` seeds.

The server is started as a new user starts it, ``make run PORT=<free port>``
(migrate, ``flask demo seed``, ``flask run``), on a SQLite file and an
instance folder of its own. Then every ``sh`` block of README.md and of
``docs/walkthroughs/`` (in the order of :data:`WALKTHROUGHS`) runs from the
repository's root, each document in one ``bash -euo pipefail`` as a reader
pastes its blocks into one terminal, with ``VNID_URL`` naming the server and
no other help; each ``text`` block after a command block must show in its
output. Then everything runs a second time: a walkthrough must work again,
and after any other, on the data the first pass left.

The fast tests below check that no document holds a ``sh`` block that is not
run, and the walkthroughs' own rules (no bare ``python``/``flask``, no
hard-coded port or date).
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from tests.docs.blocks import (COMMAND_INFO, ROOT, WALKTHROUGHS, command_blocks, documents,
                               read_commands)
from tests.docs.runner import Run, run_blocks
from tests.e2e.live import LiveServer

#: Variables of the test's own environment that a reader's second terminal does not have.
_NOT_THE_READERS = ("DATABASE_URL", "REDIS_URL", "FLASK_APP", "MAKEFLAGS", "MFLAGS",
                    "MAKELEVEL", "MAKEOVERRIDES")

# Once per `make test`: the walkthroughs run on their own `make run` server, whose database
# is always a SQLite file (what `make run` serves), never DATABASE_URL/REDIS_URL. The pass on
# PostgreSQL and Redis would repeat the same three minutes against the same SQLite server,
# so this test runs in the SQLite pass only; the services the walkthroughs call are tested on
# both backends by the rest of the suite.
only_in_the_sqlite_pass = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL") or os.environ.get("REDIS_URL")),
    reason="the walkthroughs run in the SQLite pass of make test (their server is make run's, "
           "on SQLite, whatever DATABASE_URL says)")


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``make run PORT=<free>`` on a database and instance folder of its own."""
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.fail("the walkthroughs run .venv/bin/python and .venv/bin/flask: make install")
    server = LiveServer(tmp_path_factory.mktemp("make-run"))
    for name in _NOT_THE_READERS[2:]:
        server.env.pop(name, None)
    server.make_run()
    try:
        yield server
    finally:
        server.stop()


def reader_environment(server: LiveServer) -> dict[str, str]:
    """A second terminal's environment: the reader's own, plus ``VNID_URL``.

    The database and instance folder are the server's (a reader's commands and
    ``make run`` share ``instance/`` by default); nothing else of the test's.
    """
    env = {name: value for name, value in os.environ.items()
           if name not in _NOT_THE_READERS and not name.startswith("VNID_")}
    scratch = server.tmp / "reader-tmp"  # where the walkthroughs' mktemp -d go, not /tmp
    scratch.mkdir(exist_ok=True)
    env.update(DATABASE_URL=server.env["DATABASE_URL"],
               VNID_INSTANCE_DIR=server.env["VNID_INSTANCE_DIR"], VNID_URL=server.url,
               TMPDIR=str(scratch), NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    return env


@pytest.mark.slow
@only_in_the_sqlite_pass
def test_the_walkthroughs_run_as_printed_twice(make_run: LiveServer) -> None:
    port = make_run.url.rsplit(":", 1)[1]
    assert f"VNID is starting on http://127.0.0.1:{port}" in make_run.log()
    env = reader_environment(make_run)
    runs: list[Run] = []
    for round_ in (1, 2):
        for path in WALKTHROUGHS:
            run = run_blocks(path, read_commands(path), env)
            runs.append(run)
            print(f"round {round_}: {path}: {run.seconds:.1f} s, exit {run.returncode}")
    problems = [problem for run in runs for problem in run.problems()]
    assert not problems, "\n\n".join(problems) + "\n\nserver log:\n" + make_run.log()[-3000:]


# --- every sh block is run, and the walkthroughs keep their rules --------------------------

def test_every_document_with_sh_blocks_is_a_walkthrough() -> None:
    orphans = [f"{path} ({len(blocks)} blocks)" for path in documents()
               if path not in WALKTHROUGHS
               and (blocks := read_commands(path))]
    assert not orphans, (
        f"these documents hold ```{COMMAND_INFO} blocks that no test runs: {orphans}. "
        "Commands meant to be run go in a walkthrough (tests/docs/blocks.py WALKTHROUGHS); "
        "commands only shown take ```console")


def test_every_walkthrough_exists_and_has_commands() -> None:
    listed = {path for path in WALKTHROUGHS if path.startswith("docs/walkthroughs/")}
    on_disk = {str(path.relative_to(ROOT))
               for path in (ROOT / "docs" / "walkthroughs").glob("*.md")}
    assert on_disk == listed
    for path in WALKTHROUGHS:
        assert read_commands(path), f"{path} has no ```{COMMAND_INFO} block"


_BARE = re.compile(r"(?:^|[\s;|&(`])(python3?|flask|pip)(?=\s|$)")
_DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")
_PORT = re.compile(r"(?:127\.0\.0\.1|localhost):5000")


@pytest.mark.parametrize("path", WALKTHROUGHS)
def test_the_walkthroughs_use_the_repository_environment_and_no_fixed_port_or_date(
        path: str) -> None:
    for block in read_commands(path):
        for offset, line in enumerate(block.text.splitlines(), start=1):
            where = f"{path}:{block.line + offset}"
            if not line.lstrip().startswith("#"):
                assert not _BARE.search(line), f"{where}: use .venv/bin/…: {line}"
            assert not _DATE.search(line), f"{where}: compute dates (date -d …): {line}"
            if _PORT.search(line):
                assert 'VNID_URL="${VNID_URL:-http://127.0.0.1:5000}"' in line, (
                    f"{where}: the server's URL is $VNID_URL: {line}")
        assert "~/.vnid-client" not in block.text, f"{block.where}: a state directory of its own"


def test_blocks_and_expected_output_are_read_as_documented() -> None:
    text = "\n".join([
        "```text", "a diagram", "```", "Prose.", "```sh", "echo one", "```", "", "```text",
        "one", "```", "```console", "$ make run", "```", "- item", "  ```sh", "  echo two",
        "  ```", "Prose.", "```text", "only shown", "```", ""])
    blocks = command_blocks(text, "x.md")
    assert [(b.line, b.text, b.expected) for b in blocks] == [
        (5, "echo one\n", ["one\n"]), (16, "echo two\n", [])]

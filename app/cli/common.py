"""Helpers shared by the operator commands, and their one error handler."""
from __future__ import annotations

import contextlib
import getpass
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NoReturn

import click
import sqlalchemy as sa
from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, Progress, ProgressColumn, SpinnerColumn,
                           Task, TaskProgressColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.table import Table
from rich.text import Text
from sqlalchemy.orm import Session, sessionmaker

from app.extensions import db
from identity.audit.service import Actor
from identity.errors import DomainError

console = Console(stderr=True)
#: How an operator brings the database's tables to the code's version.
MIGRATE_HINT = "run .venv/bin/flask db upgrade (or make migrate)"
#: PostgreSQL's SQLSTATE for a table that does not exist (undefined_table).
_UNDEFINED_TABLE = "42P01"
_SQLITE_NO_TABLE = re.compile(r"no such table: (\S+)")


def fail(code: str, message: str) -> NoReturn:
    """Print one line, ``code: message``, on standard error and exit with status 1."""
    console.print(f"[bold red]{code}[/]: {message}", soft_wrap=True)
    raise SystemExit(1)


def missing_table(exc: sa.exc.DBAPIError) -> str | None:
    """The table a database error says does not exist (SQLite, PostgreSQL), else None."""
    error = exc.orig
    if isinstance(error, sqlite3.OperationalError):
        found = _SQLITE_NO_TABLE.match(str(error))
        return found.group(1) if found else None
    if getattr(error, "sqlstate", None) == _UNDEFINED_TABLE:
        table = getattr(getattr(error, "diag", None), "message_primary", None) or ""
        return table.split('"')[1] if table.count('"') >= 2 else "?"
    return None


@contextlib.contextmanager
def operator_errors() -> Iterator[None]:
    """Turn the operator's errors into one line and status 1, never a traceback.

    A :class:`DomainError` prints its code and message; a database whose tables
    are missing (never migrated, or migrated elsewhere) says so and how to
    migrate it. Anything else is a bug and keeps its traceback.
    """
    try:
        yield
    except DomainError as exc:
        fail(exc.code, exc.message)
    except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
        table = missing_table(exc)
        if table is None:
            raise
        fail("database.not_migrated", f"the database is not migrated (it has no table "
                                      f"{table}): {MIGRATE_HINT}")


class OperatorCommand(click.Command):
    """A command that fails in one clear line (:func:`operator_errors`), however it is called."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command under :func:`operator_errors`."""
        with operator_errors():
            return super().invoke(ctx)


class OperatorGroup(click.Group):
    """A command group whose commands (and sub-groups) are :class:`OperatorCommand`s."""

    command_class = OperatorCommand
    group_class = type  # sub-groups of the same class

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; the group's own callback fails in one line too."""
        with operator_errors():
            return super().invoke(ctx)


def operator_actor() -> Actor:
    """The operator running a command on the server, as the audit log names them."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return Actor(type="operator", id=f"cli:{user}"[:64], source="cli")


def session_factory() -> sessionmaker[Session]:
    """Sessions on the application's engine, usable from worker threads."""
    return sessionmaker(bind=db.engine, expire_on_commit=False)


class RowsPerSecondColumn(ProgressColumn):
    """Rows done and rows per second, from the task's ``rows`` field."""

    def render(self, task: Task) -> Text:
        rows = task.fields.get("rows", 0)
        elapsed = task.elapsed or 0
        rate = rows / elapsed if elapsed > 0 else 0
        return Text(f"{rows:,} rows {rate:,.0f}/s", style="progress.data.speed")


def byte_progress() -> Progress:
    """A progress bar over the bytes of a file, with rows and rows per second."""
    return Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                    TaskProgressColumn(), DownloadColumn(), RowsPerSecondColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console)


def print_run(title: str, counts: Iterable[tuple[str, str | int]], *, seconds: float,
              rows_read: int, rejection_codes: Mapping[str, int],
              report_path: str | None) -> None:
    """The summary table of a file run (import, load): counts, time and rate, rejections."""
    table = Table(title=title, show_header=False)
    for label, value in counts:
        table.add_row(label, f"{value:,}" if isinstance(value, int) else value)
    table.add_row("time", f"{seconds:,.1f} s ({rows_read / max(seconds, 1e-9):,.0f} rows/s)")
    for code, count in sorted(rejection_codes.items()):
        table.add_row(f"  {code}", f"{count:,}")
    if report_path:
        table.add_row("rejected rows", report_path)
    console.print(table)

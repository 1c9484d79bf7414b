"""Helpers shared by the operator commands."""
from __future__ import annotations

import getpass
from collections.abc import Iterable, Mapping
import os

from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, Progress, ProgressColumn, SpinnerColumn,
                           Task, TaskProgressColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.table import Table
from rich.text import Text
from sqlalchemy.orm import Session, sessionmaker

from app.extensions import db
from identity.audit.service import Actor

console = Console(stderr=True)


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

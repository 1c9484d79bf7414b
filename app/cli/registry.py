"""``flask registry``: import and generate the population registry."""
from __future__ import annotations

import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from rich.progress import Progress

from app.cli.common import (OperatorGroup, byte_progress, console, operator_actor,
                            print_run, session_factory)
from app.extensions import get_protector
from identity.registry.generator import generate_citizens
from identity.registry.importer import import_citizens

group = OperatorGroup("registry", help="The national population registry.")


@group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write rejected rows (default: FILE.rejected.csv).")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=None,
              help="Rows per transaction (default: IMPORT_BATCH_SIZE).")
@with_appcontext
def import_command(file: Path, report: Path | None, batch_size: int | None) -> None:
    """Import citizens from a registry CSV file (upsert by personal id)."""
    total = file.stat().st_size
    started = time.perf_counter()
    with byte_progress() as progress:
        task = progress.add_task(f"Importing {file.name}", total=total, rows=0)
        summary = import_citizens(
            session_factory=session_factory(), path=file, protector=get_protector(),
            actor=operator_actor(), report_path=report,
            batch_size=batch_size or current_app.config["IMPORT_BATCH_SIZE"],
            progress=lambda done, rows: progress.update(task, completed=done, rows=rows))
    seconds = time.perf_counter() - started
    print_run(f"Import run {summary.run_id}: {summary.status}",
              (("rows read", summary.rows_read), ("imported", summary.rows_imported),
               ("rejected", summary.rows_rejected), ("batches", summary.batches)),
              seconds=seconds, rows_read=summary.rows_read,
              rejection_codes=summary.rejection_codes, report_path=summary.report_path)


@group.command("generate")
@click.option("--count", type=click.IntRange(1, 50_000_000), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--seed", type=int, default=2022, show_default=True)
def generate_command(count: int, out: Path, seed: int) -> None:
    """Write COUNT synthetic citizens (valid ids, households, phones) as registry CSV."""
    with Progress(console=console) as progress:
        task = progress.add_task(f"Generating {out.name}", total=count)
        generate_citizens(count=count, out=out, seed=seed,
                          progress=lambda n: progress.update(task, completed=n))
    console.print(f"Wrote {count:,} citizens to {out}")

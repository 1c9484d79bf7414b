"""Run the benches (``make bench``): print a table per bench, write bench/results/latest.json.

    python -m bench.run                 # everything, full sizes (a few minutes)
    python -m bench.run --quick         # smaller sizes and shorter windows
    python -m bench.run --only lookup   # one bench (repeat --only for more)

Benches run one after the other, never side by side, so none disturbs
another's figures. A bench that fails is reported and the others still run;
the exit status is then 1. The run ends with the summary table of
:mod:`bench.table` (every row of issue 18 beside its goal and its floor) and
states its real duration; both are recorded in ``bench/results/latest.json``
too (``"bench": "summary"`` and ``"bench": "run"``).
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.util
import sys
import time
import traceback
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.common import RESULTS_PATH, record_result, reset_results
from bench.table import render, summary

#: Bench name -> module exposing ``run(quick: bool) -> dict`` (or ``module:function``
#: naming another function of the same shape), in the order they run.
BENCHES = {
    "floor": "bench.floor",
    "servers": "bench.servers",
    "static": "bench.static",
    "lookup": "bench.lookup",
    "import_copy": "bench.import_copy",
    "audit": "bench.audit_concurrency",
    "login": "bench.accounts:run_login",
    "refresh": "bench.accounts:run_refresh",
    "stats": "bench.stats",
    "credentials_offline": "bench.credentials:run_offline",
    "credentials_verify": "bench.credentials:run_verify",
    "credentials_issue": "bench.credentials:run_issue",
    "reports": "bench.reports",
    "load": "bench.load",
    "rp_match": "bench.relying_parties:run_match",
    "coordination": "bench.coordination",
    "payments": "bench.payments",
}


def available() -> dict[str, str]:
    """The benches whose module exists (``import_copy`` is optional)."""
    return {name: target for name, target in BENCHES.items()
            if importlib.util.find_spec(target.partition(":")[0]) is not None}


def _format(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    if isinstance(value, dict) and {"min", "median", "max"} <= set(value):
        return (f"{_format(value['median'])} ({_format(value['min'])}–"
                f"{_format(value['max'])})")
    return str(value)


def _flatten(key: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and not {"min", "median", "max"} <= set(value):
        for sub_key, sub_value in value.items():
            yield from _flatten(f"{key}.{sub_key}", sub_value)
    else:
        yield key, value


def tables(name: str, result: dict[str, Any]) -> list[Table]:
    """A table for each list of rows in ``result``, and one for its other figures."""
    out: list[Table] = []
    figures: list[tuple[str, Any]] = []
    for key, value in result.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            columns = list(dict.fromkeys(k for row in value for k in row))
            table = Table(title=f"{name}: {key}")
            for column in columns:
                table.add_column(column, justify="left" if column in ("server", "app", "endpoint")
                                 else "right")
            for row in value:
                table.add_row(*(_format(row.get(column, "")) for column in columns))
            out.append(table)
        elif isinstance(value, dict) and {"min", "median", "max"} <= set(value):
            figures.append((key, value))  # a spread over rounds: one cell
        else:
            figures += _flatten(key, value)
    if figures:
        table = Table(title=f"{name}: figures")
        table.add_column("figure")
        table.add_column("value", justify="right")
        for key, value in figures:
            table.add_row(key, _format(value))
        out.append(table)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benches; returns the exit status."""
    benches = available()
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, shorter windows")
    parser.add_argument("--only", action="append", choices=sorted(benches), metavar="NAME",
                        help=f"run only this bench (one of: {', '.join(benches)})")
    args = parser.parse_args(argv)
    console = Console()
    if not console.is_terminal:  # a log file or a pipe: wide enough for every column
        console = Console(width=160)
    reset_results()
    started_at = dt.datetime.now(dt.timezone.utc)
    run_started = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    failed = []
    for name, target in benches.items():
        if args.only and name not in args.only:
            continue
        console.rule(f"[bold]{name}[/bold]{' (quick)' if args.quick else ''}")
        started = time.perf_counter()
        module, _, function = target.partition(":")
        try:
            result = getattr(importlib.import_module(module), function or "run")(quick=args.quick)
        except Exception as exc:  # one broken bench must not hide the others' figures
            console.print(f"[red]{name} failed:[/red]\n{traceback.format_exc()}")
            results[name] = {"quick": args.quick, "error": f"{type(exc).__name__}: {exc}"}
            record_result(name, results[name])
            failed.append(name)
            continue
        elapsed = round(time.perf_counter() - started, 1)
        for table in tables(name, result):
            console.print(table)
        console.print(f"{name}: {elapsed} s")
        results[name] = {"quick": args.quick, "elapsed_s": elapsed, **result}
        record_result(name, results[name])
    rows = summary(results)
    console.rule("[bold]summary[/bold]")
    console.print(render(rows, "issue 18: every ratio, median of its rounds, beside its goal "
                               "and its floor" + (" (quick)" if args.quick else "")))
    record_result("summary", {"quick": args.quick, "rows": rows})
    ended_at = dt.datetime.now(dt.timezone.utc)
    seconds = round(time.perf_counter() - run_started, 1)
    record_result("run", {"quick": args.quick, "only": args.only or "all",
                          "started_at": started_at.isoformat(), "ended_at": ended_at.isoformat(),
                          "seconds": seconds, "failed": failed})
    console.print(f"Started {started_at:%Y-%m-%d %H:%M:%S} UTC, ended {ended_at:%H:%M:%S} UTC: "
                  f"{seconds} s ({seconds / 60:.1f} min)")
    console.print(f"Results written to {RESULTS_PATH}")
    if failed:
        console.print(f"[red]Failed: {', '.join(failed)}[/red]")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

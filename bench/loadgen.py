"""An HTTP/1.1 keep-alive load generator on raw asyncio streams, with no dependencies.

``connections`` clients send one request at a time each, for ``warmup``
seconds (not counted) and then ``duration`` seconds (measured). A client
reconnects when the server closes the connection (gunicorn's sync workers do
after every response), so servers without keep-alive are measured too, at
their real cost. Only 127.0.0.1 may be targeted.

Use :func:`run_load` from other benches: it runs the generator in a process of
its own (``python -m bench.loadgen``), so it does not share a GIL with the
caller. On the command line it prints one JSON object::

    python -m bench.loadgen http://127.0.0.1:8000/healthz --connections 16 --duration 5
"""
from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bench.common import ROOT, percentile

ALLOWED_HOST = "127.0.0.1"
#: Bounds that hold whatever the server does.
MAX_REQUESTS_PER_CLIENT = 10_000_000
MAX_CHUNKS = 10_000
MAX_HEADER_BYTES = 64 * 1024
RECONNECT_PAUSE = 0.05


@dataclass
class _Stats:
    """What the clients saw during the measured window."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    connects: int = 0


def _build_request(method: str, host: str, port: int, target: str, body: bytes | None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive",
             "Accept: application/json", "User-Agent: vnid-bench"]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def _read_body(reader: asyncio.StreamReader, lower: bytes, closes: bool) -> None:
    """Consume the body announced by the lower-cased ``head`` (length, chunks or close)."""
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.index(b"\r\n", at + 2)
        length = int(lower[at + 17:end])
        if length:
            await reader.readexactly(length)
        return
    if b"\r\ntransfer-encoding: chunked" in lower:
        for _ in range(MAX_CHUNKS):
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                return
        raise ValueError("too many chunks")
    if closes:
        await reader.read()
    elif lower[9:12] not in (b"204", b"304"):
        raise ValueError("response without a length on a keep-alive connection")


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; returns its status and whether the server closes the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    lower = head.lower()
    closes = b"\r\nconnection: close" in lower or lower.startswith(b"http/1.0")
    await _read_body(reader, lower, closes)
    return int(head[9:12]), closes


async def _client(host: str, port: int, request: bytes, stats: _Stats,
                  measure_from: float, until: float) -> None:
    """One client: connect, send requests back to back, reconnect when closed."""
    sent = 0
    while time.perf_counter() < until and sent < MAX_REQUESTS_PER_CLIENT:
        try:
            reader, writer = await asyncio.open_connection(host, port, limit=MAX_HEADER_BYTES)
        except OSError:
            if time.perf_counter() >= measure_from:
                stats.errors += 1
            await asyncio.sleep(RECONNECT_PAUSE)
            continue
        if time.perf_counter() >= measure_from:
            stats.connects += 1
        try:
            closes = False
            while not closes and sent < MAX_REQUESTS_PER_CLIENT:
                start = time.perf_counter()
                if start >= until:
                    break
                writer.write(request)
                status, closes = await _read_response(reader)
                sent += 1
                if start >= measure_from:
                    stats.latencies.append(time.perf_counter() - start)
                    stats.statuses[status] = stats.statuses.get(status, 0) + 1
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            if time.perf_counter() >= measure_from:
                stats.errors += 1
            await asyncio.sleep(RECONNECT_PAUSE)
        finally:
            writer.close()


async def _measure(url: str, *, connections: int, duration: float, warmup: float,
                   method: str, body: bytes | None) -> dict[str, Any]:
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname != ALLOWED_HOST:
        raise ValueError(f"the load generator only targets http://{ALLOWED_HOST}")
    port = parts.port or 80
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    request = _build_request(method, ALLOWED_HOST, port, target, body)
    stats = _Stats()
    measure_from = time.perf_counter() + warmup
    until = measure_from + duration
    tasks = [asyncio.create_task(_client(ALLOWED_HOST, port, request, stats, measure_from, until))
             for _ in range(connections)]
    # A request in flight when the window closes may hang: give it a grace period, no more.
    _done, pending = await asyncio.wait(tasks, timeout=warmup + duration + 10)
    for task in pending:
        task.cancel()
    stats.errors += len(pending)
    await asyncio.gather(*pending, return_exceptions=True)
    completed = len(stats.latencies)
    latencies_ms = [s * 1000 for s in stats.latencies]
    return {
        "url": url, "method": method, "connections": connections, "duration_s": duration,
        "requests": completed,
        "rps": round(completed / duration, 1),
        "p50_ms": round(percentile(latencies_ms, 50), 3),
        "p99_ms": round(percentile(latencies_ms, 99), 3),
        "non_2xx": sum(n for status, n in stats.statuses.items() if not 200 <= status < 300),
        "errors": stats.errors,
        "connects": stats.connects,
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
    }


def measure(url: str, *, connections: int = 16, duration: float = 5.0, warmup: float = 1.0,
            method: str = "GET", body: bytes | None = None) -> dict[str, Any]:
    """Load ``url`` in this process; returns rps, p50/p99 in ms, non-2xx and error counts."""
    return asyncio.run(_measure(url, connections=connections, duration=duration, warmup=warmup,
                                method=method, body=body))


def run_load(url: str, *, connections: int = 16, duration: float = 5.0, warmup: float = 1.0,
             method: str = "GET", json_body: Any = None) -> dict[str, Any]:
    """Like :func:`measure`, but in a separate Python process (its own GIL)."""
    command = [sys.executable, "-m", "bench.loadgen", url, "--connections", str(connections),
               "--duration", str(duration), "--warmup", str(warmup), "--method", method]
    if json_body is not None:
        command += ["--json", json.dumps(json_body)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False,
                          timeout=warmup + duration + 60)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> None:
    """Command line: measure one URL and print the result as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--method", default="GET", choices=("GET", "POST"))
    parser.add_argument("--json", dest="json_body", help="JSON request body")
    args = parser.parse_args(argv)
    body = args.json_body.encode() if args.json_body is not None else None
    print(json.dumps(measure(args.url, connections=args.connections, duration=args.duration,
                             warmup=args.warmup, method=args.method, body=body)))


if __name__ == "__main__":
    main()

"""An HTTP/1.1 keep-alive load generator on raw asyncio streams, with no dependencies.

``connections`` clients send one request at a time each, for ``warmup``
seconds (not counted) and then ``duration`` seconds (measured). A client
reconnects when the server closes the connection (gunicorn's sync workers do
after every response), so servers without keep-alive are measured too, at
their real cost. Only 127.0.0.1 may be targeted.

A client may also follow a *flow* (:class:`Flow`): a state of its own that
builds each request from the answers before it, e.g. a login made of a
challenge and a signed answer, or a chain of refresh tokens. A flow counts
operations (a login, a refresh) that may span several requests; latencies
are per operation. Without a flow every request is one operation.

Use :func:`run_load` from other benches: it runs the generator in a process of
its own (``python -m bench.loadgen``), so it does not share a GIL with the
caller. On the command line it prints one JSON object::

    python -m bench.loadgen http://127.0.0.1:8000/healthz --connections 16 --duration 5
    python -m bench.loadgen http://127.0.0.1:8000/ --flow bench.auth_flows:refresh_flow \
        --flow-data tokens.json
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import importlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
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

    latencies: list[float] = field(default_factory=list)  # one per completed operation
    statuses: dict[int, int] = field(default_factory=dict)  # one per response
    errors: int = 0
    connects: int = 0


#: ``build(method, target, body, headers)``: the bytes of one request to the target server.
RequestBuilder = Callable[[str, str, bytes | None, Mapping[str, str] | None], bytes]


class Flow(Protocol):
    """What one simulated client sends, request after request, with a state of its own."""

    def next_request(self) -> bytes:
        """The next request to send (made with the :data:`RequestBuilder` given)."""

    def answered(self, status: int, body: bytes) -> bool:
        """Take the answer to the last request; True when it completes an operation."""

    def abort(self) -> None:
        """The connection failed during an operation: the next request starts a new one."""


#: ``factory(index, connections, data, build)``: the flow of client ``index`` of ``connections``.
FlowFactory = Callable[[int, int, Any, RequestBuilder], Flow]


class Fixed:
    """The same request again and again, each answer an operation."""

    def __init__(self, request: bytes) -> None:
        self.request = request

    def next_request(self) -> bytes:
        return self.request

    def answered(self, status: int, body: bytes) -> bool:
        return True

    def abort(self) -> None:
        pass


def _build_request(host: str, port: int, method: str, target: str, body: bytes | None,
                   headers: Mapping[str, str] | None = None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive",
             "Accept: application/json", "User-Agent: vnid-bench"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def _read_body(reader: asyncio.StreamReader, lower: bytes, closes: bool) -> bytes:
    """Read the body announced by the lower-cased ``head`` (length, chunks or close)."""
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.index(b"\r\n", at + 2)
        length = int(lower[at + 17:end])
        return await reader.readexactly(length) if length else b""
    if b"\r\ntransfer-encoding: chunked" in lower:
        chunks = []
        for _ in range(MAX_CHUNKS):
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunks.append((await reader.readexactly(size + 2))[:size])
            if size == 0:
                return b"".join(chunks)
        raise ValueError("too many chunks")
    if closes:
        return await reader.read()
    if lower[9:12] not in (b"204", b"304"):
        raise ValueError("response without a length on a keep-alive connection")
    return b""


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Read one response: its status, its body, and whether the server closes the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    lower = head.lower()
    closes = b"\r\nconnection: close" in lower or lower.startswith(b"http/1.0")
    body = await _read_body(reader, lower, closes)
    return int(head[9:12]), body, closes


async def _client(host: str, port: int, flow: Flow, stats: _Stats,
                  measure_from: float, until: float) -> None:
    """One client: connect, send requests back to back, reconnect when closed.

    An operation counts when it started inside the measured window; one that
    is under way when the window closes is finished first.
    """
    sent = 0
    began: float | None = None  # when the operation under way started
    while (began is not None or time.perf_counter() < until) and sent < MAX_REQUESTS_PER_CLIENT:
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
                if began is None:
                    began = time.perf_counter()
                    if began >= until:
                        began = None
                        break
                writer.write(flow.next_request())
                status, body, closes = await _read_response(reader)
                sent += 1
                done = flow.answered(status, body)
                if began >= measure_from:
                    stats.statuses[status] = stats.statuses.get(status, 0) + 1
                    if done:
                        stats.latencies.append(time.perf_counter() - began)
                if done:
                    began = None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
                KeyError):
            if time.perf_counter() >= measure_from:
                stats.errors += 1
            flow.abort()
            began = None
            await asyncio.sleep(RECONNECT_PAUSE)
        finally:
            writer.close()


def load_flow(spec: str) -> FlowFactory:
    """The flow factory named ``module:function``."""
    module, _, name = spec.partition(":")
    factory: FlowFactory = getattr(importlib.import_module(module), name)
    return factory


async def _measure(url: str, *, connections: int, duration: float, warmup: float,
                   method: str, body: bytes | None, flow: FlowFactory | None = None,
                   flow_data: Any = None) -> dict[str, Any]:
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname != ALLOWED_HOST:
        raise ValueError(f"the load generator only targets http://{ALLOWED_HOST}")
    port = parts.port or 80
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    build = functools.partial(_build_request, ALLOWED_HOST, port)
    if flow is None:
        request = build(method, target, body)
        flows: list[Flow] = [Fixed(request) for _ in range(connections)]
    else:  # the flow builds its own requests: only the host and port of the URL count
        flows = [flow(index, connections, flow_data, build) for index in range(connections)]
    stats = _Stats()
    measure_from = time.perf_counter() + warmup
    until = measure_from + duration
    tasks = [asyncio.create_task(_client(ALLOWED_HOST, port, client_flow, stats, measure_from,
                                         until))
             for client_flow in flows]
    # A request in flight when the window closes may hang: give it a grace period, no more.
    _done, pending = await asyncio.wait(tasks, timeout=warmup + duration + 10)
    for task in pending:
        task.cancel()
    stats.errors += len(pending)
    await asyncio.gather(*pending, return_exceptions=True)
    completed = len(stats.latencies)
    answered = sum(stats.statuses.values())
    latencies_ms = [s * 1000 for s in stats.latencies]
    return {
        "url": url, "method": method, "connections": connections, "duration_s": duration,
        "requests": answered,
        "rps": round(answered / duration, 1),
        "operations": completed,
        "ops_per_s": round(completed / duration, 1),
        "p50_ms": round(percentile(latencies_ms, 50), 3),
        "p99_ms": round(percentile(latencies_ms, 99), 3),
        "non_2xx": sum(n for status, n in stats.statuses.items() if not 200 <= status < 300),
        "errors": stats.errors,
        "connects": stats.connects,
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
    }


def measure(url: str, *, connections: int = 16, duration: float = 5.0, warmup: float = 1.0,
            method: str = "GET", body: bytes | None = None, flow: FlowFactory | None = None,
            flow_data: Any = None) -> dict[str, Any]:
    """Load ``url`` in this process; returns rps, p50/p99 in ms, non-2xx and error counts.

    With ``flow``, each client follows ``flow(index, connections, flow_data, build)``
    instead of sending ``method`` to ``url`` (whose host and port still count).
    """
    return asyncio.run(_measure(url, connections=connections, duration=duration, warmup=warmup,
                                method=method, body=body, flow=flow, flow_data=flow_data))


def run_load(url: str, *, connections: int = 16, duration: float = 5.0, warmup: float = 1.0,
             method: str = "GET", json_body: Any = None, flow: str | None = None,
             flow_data: Any = None) -> dict[str, Any]:
    """Like :func:`measure`, but in a separate Python process (its own GIL).

    ``flow`` names the factory as ``module:function``; ``flow_data`` (JSON)
    reaches it through a temporary file, not the command line.
    """
    command = [sys.executable, "-m", "bench.loadgen", url, "--connections", str(connections),
               "--duration", str(duration), "--warmup", str(warmup), "--method", method]
    if json_body is not None:
        command += ["--json", json.dumps(json_body)]
    with tempfile.TemporaryDirectory(prefix="vnid-loadgen-") as tmp:
        if flow is not None:
            data_path = Path(tmp) / "flow.json"
            data_path.write_text(json.dumps(flow_data))
            command += ["--flow", flow, "--flow-data", str(data_path)]
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
    parser.add_argument("--flow", help="module:function making each client's flow")
    parser.add_argument("--flow-data", type=Path, help="JSON file given to the flow factory")
    args = parser.parse_args(argv)
    body = args.json_body.encode() if args.json_body is not None else None
    flow = load_flow(args.flow) if args.flow else None
    flow_data = json.loads(args.flow_data.read_text()) if args.flow_data else None
    print(json.dumps(measure(args.url, connections=args.connections, duration=args.duration,
                             warmup=args.warmup, method=args.method, body=body, flow=flow,
                             flow_data=flow_data)))


if __name__ == "__main__":
    main()

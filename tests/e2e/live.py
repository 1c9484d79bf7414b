"""The real service in a subprocess, on a free port and a fresh SQLite database, for e2e tests."""
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyotp
import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "examples" / "mobile_client.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def healthy(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url + "/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError as error:
        error.close()
        return False
    except (urllib.error.URLError, OSError):
        return False


class LiveServer:
    """``flask`` commands and a ``flask run`` server sharing one instance folder and database."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
        self.env.update(VNID_CONFIG="development", VNID_INSTANCE_DIR=str(tmp / "instance"),
                        DATABASE_URL=f"sqlite:///{tmp / 'e2e.sqlite3'}", FLASK_APP="wsgi",
                        PYTHONIOENCODING="utf-8")
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log_path = tmp / "server.log"
        self._process: subprocess.Popen[bytes] | None = None

    def flask(self, *args: str, stdin: str | None = None) -> str:
        """Run ``flask ARGS`` and return its output; fail the test if it fails."""
        done = subprocess.run([sys.executable, "-m", "flask", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=300, input=stdin)
        assert done.returncode == 0, f"flask {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def start(self) -> None:
        """``flask run`` on the prepared database."""
        port = self.url.rsplit(":", 1)[1]
        self._spawn([sys.executable, "-m", "flask", "run", "--port", port, "--no-reload"],
                    seconds=30)

    def make_run(self) -> None:
        """``make run PORT=...``, as a new user starts it: migrate, seed, serve.

        The make target of the virtual environment is taken as made (``-o``):
        the test runs inside it, and must not reinstall it.
        """
        port = self.url.rsplit(":", 1)[1]
        self._spawn(["make", "-o", ".venv/.installed", "run", f"PORT={port}", "HOST=127.0.0.1"],
                    seconds=180)

    def _spawn(self, command: list[str], *, seconds: float) -> None:
        """Start ``command`` in a process group of its own; wait until the server is healthy."""
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + seconds
        while not healthy(self.url):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("the server did not become healthy:\n" + self.log())
            time.sleep(0.2)

    def stop(self) -> None:
        """End the server and whatever it started (make's children), by its process group."""
        if self._process is None:
            return
        stop_group(self._process)
        self._process = None


def emptied_redis() -> tuple[Any, Any]:
    """The suite's Redis (``REDIS_URL``: one server or a cluster) and RQ's (``JOB_REDIS_URL``
    beside a cluster, RQ running on one server; else the same), both emptied: the suite's own
    database numbers only (a cluster: its nodes)."""
    import redis

    from app.redis_cluster import redis_for
    url = os.environ["REDIS_URL"]
    shared, jobs = redis_for(url), redis.Redis.from_url(os.environ.get("JOB_REDIS_URL") or url)
    for client in (shared, jobs):
        client.flushdb()
    return shared, jobs


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """End ``process`` and its process group: SIGTERM, then SIGKILL after 10 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=10)
            break
        except subprocess.TimeoutExpired:
            continue
    process.wait()


@contextmanager
def running_server(tmp: Path, *, seed_count: int = 20) -> Iterator[LiveServer]:
    """A migrated, seeded, running server, stopped on the way out."""
    server = LiveServer(tmp)
    server.flask("db", "upgrade")
    server.flask("demo", "seed", "--count", str(seed_count))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def fresh_demo_citizen(server: LiveServer, *extra: str) -> dict[str, str]:
    """A demo citizen nobody has used yet (``flask demo citizen --fresh``): the variables it
    prints (``PERSONAL_ID``, ``FULL_NAME``, ``PHONE``, ``COMMUNE``, ``ADDRESS``...), unquoted."""
    printed = server.flask("demo", "citizen", "--fresh", *extra)
    return {name: shlex.split(value)[0] if value else "" for name, value in
            (line.split("=", 1) for line in printed.splitlines() if "=" in line)}


def run_client(url: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the reference mobile client against ``url`` with its state in ``home``."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("VNID_SERVER", "VNID_CLIENT_HOME")}
    env.update(no_proxy="127.0.0.1,localhost", NO_PROXY="127.0.0.1,localhost",
               PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, str(CLIENT), "--server", url, "--home", str(home),
                           *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          encoding="utf-8", stdin=subprocess.DEVNULL, timeout=60)


def api(url: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    """One JSON call to the live server (no proxy); the decoded answer."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url + path, method=method, headers=headers,
                                     data=None if body is None else json.dumps(body).encode())
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as answer:
        return json.loads(answer.read())


def level2_citizen(server: LiveServer, home: Path, citizen: dict[str, str], *, password: str,
                   passcode: str, officer: str = "demo.officer"
                   ) -> tuple[Callable[..., str], dict[str, Any], str]:
    """A citizen registered with the reference mobile client (its state in ``home``), raised
    to level 2 by an officer of Hanoi who checks the chip card, and logged in again.

    Returns the client (``client(*args)``: its output, the test failed if it failed), the
    account as registration answered, and the officer's token.
    """
    def client(*args: str) -> str:
        done = run_client(server.url, home, *args)
        assert done.returncode == 0, f"{args[0]}: {done.stderr}\n{server.log()[-3000:]}"
        return done.stdout

    account: dict[str, Any] = json.loads(client(
        "register", "--personal-id", citizen["personal_id"], "--full-name",
        citizen["full_name"], "--date-of-birth", citizen["date_of_birth"], "--phone",
        citizen["phone"], "--password", password, "--passcode", passcode))
    client("login", "--personal-id", citizen["personal_id"], "--password", password)
    token = officer_token(server, officer, password, province="01")
    api(server.url, "POST", f"/api/v1/police/accounts/{account['account_id']}/level2",
        {"card_number": citizen["personal_id"], "check": "face"}, token)
    client("login", "--personal-id", citizen["personal_id"], "--password", password)
    return client, account, token


def officer_token(server: LiveServer, username: str, password: str, *, province: str,
                  commune: str | None = None) -> str:
    """Create an officer with ``flask officers create`` and log in with its TOTP; the token."""
    unit = ["--province", province] + (["--commune", commune] if commune else [])
    created = server.flask("officers", "create", "--username", username, "--full-name",
                           "Trần Thị Bình", *unit, "--password-stdin", stdin=password + "\n")
    found = re.search(r"secret=([A-Z2-7]+)", created)
    assert found, created
    answer = api(server.url, "POST", "/api/v1/auth/officer-login", {
        "username": username, "password": password, "totp": pyotp.TOTP(found.group(1)).now()})
    return str(answer["access_token"])


def kill_the_busy_worker(queue: Any, workers: list[subprocess.Popen[bytes]],
                         log: Any) -> subprocess.Popen[bytes]:
    """SIGKILL the one worker process of ``queue`` (an RQ queue) that runs a job now; the
    process. ``log()`` is shown when there is not exactly one."""
    import rq

    busy = [worker for worker in rq.Worker.all(queue=queue) if worker.get_current_job_id()]
    assert len(busy) == 1, log()
    killed = next(process for process in workers if process.pid == busy[0].pid)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(10)
    return killed

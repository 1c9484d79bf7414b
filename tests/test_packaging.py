"""The built wheel holds the whole service, and the service runs from it outside the repository.

The wheel is built offline from a copy of the source tree (so that no stale
``build/`` folder of the checkout leaks into it) and installed with
``--no-deps`` into a fresh virtual environment that sees the project's
dependencies through a ``.pth`` file naming this environment's
site-packages (``--system-site-packages`` would see the interpreter's, not
this venv's). A ``.pth`` line only adds a folder to ``sys.path``: the
``.pth`` files inside it, among them the editable install's finder, are not
run, so nothing can come from the checkout. From a folder outside the
repository, the installed app then migrates a new SQLite database with the
migrations the wheel carries, imports every module from the wheel, and is
served by granian until ``/healthz`` answers 200. Always on SQLite and the
in-process Redis, whatever DATABASE_URL says: this tests the package, not
the backends.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "identity", "utilities")
#: Where setup.cfg's data_files put the migrations, inside the wheel and under the prefix.
MIGRATIONS = "share/vnid/migrations"


def _source_files() -> list[str]:
    """The files of the tree as git sees it: tracked or new, not ignored, not deleted."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
    return sorted(name for name in listed if name and (ROOT / name).is_file())


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 60) -> str:
    """Run a command; its output, or a failure that shows it."""
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _healthz(port: int, server: subprocess.Popen[bytes], seconds: float = 30) -> int:
    """The status of ``/healthz`` once the server answers."""
    deadline = time.monotonic() + seconds
    while True:
        assert server.poll() is None, "the server stopped"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built offline without build isolation from a copy of the source tree."""
    source = tmp_path_factory.mktemp("source")
    for name in _source_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "--quiet", ".", "-w", out, cwd=source)
    (built,) = out.glob("vnid-*.whl")
    return built


def test_the_wheel_holds_every_module_and_the_files_read_at_run_time(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    data = f"{wheel.name.split('-py3')[0]}.data/data/{MIGRATIONS}/"
    expected = {"config.py", "wsgi.py"}
    for name in _source_files():
        if name.split("/")[0] in PACKAGES:
            expected.add(name)  # modules, templates, static files, data files
        elif name.startswith("migrations/"):
            expected.add(data + name.removeprefix("migrations/"))
    assert any(name.startswith("identity/registry/") for name in expected)
    assert any(name.startswith("utilities/reports/") for name in expected)
    assert any(name.startswith(data + "versions/") for name in expected)
    assert sorted(expected - names) == []


def test_the_installed_wheel_migrates_and_serves_outside_the_repository(wheel, tmp_path):
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    # pip runs from this environment; --no-compile leaves no bytecode before the app runs.
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
         "--no-compile", "--quiet", wheel, cwd=tmp_path)
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))",
                     cwd=tmp_path).strip())
    # Only now (pip would have taken this venv's editable vnid for installed already).
    (site / "project-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "DATABASE_URL", "REDIS_URL", "FLASK_APP")}
    env.update(VNID_CONFIG="testing", DATABASE_URL=f"sqlite:///{work / 'vnid.sqlite3'}",
               PYTHONDONTWRITEBYTECODE="1")

    _run(python, "-m", "flask", "--app", "wsgi", "db", "upgrade", cwd=work, env=env)
    modules = [name.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
               for name in _source_files()
               if name.split("/")[0] in PACKAGES and name.endswith(".py")]
    origins = json.loads(_run(python, "-c", (
        "import importlib, json, sys, wsgi\n"
        "names = sys.argv[1:] + ['config', 'wsgi']\n"
        "print(json.dumps({n: importlib.import_module(n).__file__ for n in names}))"),
        *modules, cwd=work, env=env))
    assert len(origins) == len(modules) + 2
    assert {name: path for name, path in origins.items()
            if not path.startswith(f"{site}/")} == {}
    assert _migrations_of(python, work, env) == str(venv / MIGRATIONS)

    port = _free_port()
    del env["PYTHONDONTWRITEBYTECODE"]  # the server's imports leave their bytecode as proof
    server = subprocess.Popen(
        [str(python), "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1", "wsgi:app"],
        cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _healthz(port, server) == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert list((site / "app" / "__pycache__").glob("health.*.pyc"))


def _migrations_of(python: Path, work: Path, env: dict[str, str]) -> str:
    """Where the installed app looks for its migrations."""
    return _run(python, "-c", "import wsgi; print(wsgi.app.extensions['migrate'].directory)",
                cwd=work, env=env).strip()

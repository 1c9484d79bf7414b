"""The vendored front-end libraries are exactly what the manifest and npm's lock file say.

``tools/vendor_js.py`` copies them from the npm registry (with the lock
file's integrity hashes); this test needs neither the network nor Node.js.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

CLIENTS = Path(__file__).resolve().parents[2] / "app" / "clients"
VENDOR = CLIENTS / "vendor"


def test_every_vendored_file_matches_the_manifest() -> None:
    manifest = json.loads((VENDOR / "MANIFEST.json").read_text())
    on_disk = {path.relative_to(VENDOR).as_posix() for path in VENDOR.rglob("*")
               if path.is_file() and path.name != "MANIFEST.json"}
    assert on_disk == set(manifest)
    for name, entry in manifest.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == entry["sha256"], name


def test_each_package_is_the_locked_version_and_carries_its_licence() -> None:
    manifest = json.loads((VENDOR / "MANIFEST.json").read_text())
    lock = json.loads((CLIENTS / "package-lock.json").read_text())["packages"]
    wanted = json.loads((CLIENTS / "package.json").read_text())["dependencies"]
    packages = {entry["package"] for entry in manifest.values()}
    assert packages == set(wanted)
    for package in packages:
        assert lock[f"node_modules/{package}"]["version"] == wanted[package]
        assert f"{package}/LICENSE" in manifest
        versions = {e["version"] for e in manifest.values() if e["package"] == package}
        assert versions == {wanted[package]}

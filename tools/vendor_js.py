#!/usr/bin/env python3
"""Refresh the vendored front-end libraries of ``app/clients/vendor/`` from the npm registry.

The browser clients have no build step: they load ES modules as they are
published. Which packages, at which versions, is ``app/clients/package.json``
with its ``package-lock.json`` (npm's integrity hashes). This script, run by
hand when a version changes (it needs Node.js and npm, which serving and
testing the service do not), installs exactly the lock file into a
temporary folder (``npm ci --ignore-scripts``: no package script runs), copies
the files each client loads (and each package's licence) into
``app/clients/vendor/<package>/`` and writes ``vendor/MANIFEST.json``: for
every file its package, version, licence and SHA-256.
``tests/clients/test_vendor.py`` checks the folder against that manifest and
the lock file on every ``make test``, with no network and no Node.js.

    python tools/vendor_js.py          # refresh vendor/ and the manifest
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CLIENTS = Path(__file__).resolve().parents[1] / "app" / "clients"
VENDOR = CLIENTS / "vendor"
#: package -> the files of it that the clients load (paths inside the package), licence first.
FILES: dict[str, list[str]] = {
    "@digitalbazaar/base45": ["LICENSE", "lib/index.js"],
    "cborg": ["LICENSE", "cborg.js", "lib/0uint.js", "lib/1negint.js", "lib/2bytes.js",
              "lib/3string.js", "lib/4array.js", "lib/5map.js", "lib/6tag.js", "lib/7float.js",
              "lib/bl.js", "lib/byte-utils.js", "lib/common.js", "lib/decode.js",
              "lib/encode.js", "lib/is.js", "lib/jump.js", "lib/tagged.js", "lib/token.js"],
    "jsqr": ["LICENSE", "dist/jsQR.js"],
    "uqr": ["LICENSE", "dist/index.mjs"],
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    lock = json.loads((CLIENTS / "package-lock.json").read_text())
    with tempfile.TemporaryDirectory(prefix="vnid-vendor-") as tmp:
        for name in ("package.json", "package-lock.json"):
            shutil.copy(CLIENTS / name, tmp)
        subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                       cwd=tmp, check=True)
        if VENDOR.exists():
            shutil.rmtree(VENDOR)
        manifest: dict[str, dict[str, str]] = {}
        for package, files in FILES.items():
            locked = lock["packages"][f"node_modules/{package}"]
            for name in files:
                source = Path(tmp) / "node_modules" / package / name
                target = VENDOR / package / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source, target)
                manifest[f"{package}/{name}"] = {
                    "package": package, "version": locked["version"],
                    "license": locked.get("license", ""), "sha256": sha256(target)}
    (VENDOR / "MANIFEST.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(f"vendored {len(manifest)} files of {len(FILES)} packages into {VENDOR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The browser clients, served as static files by the service itself.

``app/clients/`` holds three installable web apps with no build step (ES
modules loaded as published; ``tools/vendor_js.py`` explains the vendored
libraries):

- ``/app/``: the citizen's app (a progressive web app, its service worker at
  ``/app/sw.js`` with the scope ``/app/``);
- ``/police/``: the police console;
- ``/verify/``: the verifier page for banks and hotels (no login, offline);
- ``/clients/shared/`` and ``/clients/vendor/``: the modules they share.

They talk to the service only through the public API, like any other
client: nothing here renders a page from the database. A folder's bare path
(``/app/``) is its ``index.html``; a path with no file behind it is a 404 in
the uniform error body. Every answer carries :data:`CLIENT_POLICY` (the
Content-Security-Policy of the clients: scripts, styles, workers and the
manifest from this origin only, no inline script or style, images also from
``data:`` and ``blob:`` URLs for the QR codes and photos drawn in the page).
Every file has an ``ETag``; HTML and the service worker are revalidated on
every load (``no-cache``) so a deploy reaches every phone; the modules they
load are public for five minutes.
"""
from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path

from flask import Blueprint, Flask, Response, abort, request

ROOT = Path(__file__).resolve().parent / "clients"
#: URL prefix -> folder under app/clients/.
FOLDERS = {"app": "citizen", "police": "police", "verify": "verify",
           "clients/shared": "shared", "clients/vendor": "vendor"}
CLIENT_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; "
                 "img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; "
                 "worker-src 'self'; manifest-src 'self'; media-src 'self' blob: mediastream:; "
                 "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
#: Files never served from a client folder (provenance, not part of the app).
HIDDEN_SUFFIXES = (".md", ".json.lock")
REVALIDATE = "no-cache"
PUBLIC_CACHE = "public, max-age=300"
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("application/manifest+json", ".webmanifest")

blueprint = Blueprint("clients", __name__)


def _serve(folder: str, filename: str) -> Response:
    base = ROOT / folder
    path = (base / filename).resolve()
    if base.resolve() not in path.parents or not path.is_file() or \
            path.name.endswith(HIDDEN_SUFFIXES):
        abort(404)
    body = path.read_bytes()  # small files, read whole: no file handle outlives the answer
    response = Response(body, mimetype=mimetypes.guess_type(path.name)[0]
                        or "application/octet-stream")
    response.set_etag(hashlib.sha256(body).hexdigest()[:32])
    response.headers["Cache-Control"] = PUBLIC_CACHE
    response.make_conditional(request)
    if path.suffix == ".html" or path.name == "sw.js":
        response.headers["Cache-Control"] = REVALIDATE
    if path.name == "sw.js":
        response.headers["Service-Worker-Allowed"] = f"/{_prefix_of(folder)}/"
    return response


def _prefix_of(folder: str) -> str:
    return next(prefix for prefix, name in FOLDERS.items() if name == folder)


def _add_routes() -> None:
    for prefix, folder in FOLDERS.items():
        endpoint = folder

        def index(folder: str = folder) -> Response:
            return _serve(folder, "index.html")

        def file(filename: str, folder: str = folder) -> Response:
            return _serve(folder, filename)

        if not prefix.startswith("clients/"):
            blueprint.add_url_rule(f"/{prefix}/", f"{endpoint}_index", index)
        blueprint.add_url_rule(f"/{prefix}/<path:filename>", f"{endpoint}_file", file)


_add_routes()


def register_clients(app: Flask) -> None:
    """Serve the browser clients (see the module's docstring)."""
    app.register_blueprint(blueprint)
